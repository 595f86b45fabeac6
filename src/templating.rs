//! Templates an operator can edit without rebuilding (SPEC §6, §8): each set has built-in
//! texts compiled into the binary, replaced by same-named files under `[templates].dir` when
//! present. A set is loaded whole at startup (and by `check-config`), so a broken template
//! stops the service with its name and line instead of failing later.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name}: cannot read {path}: {source}")]
    Read {
        name: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("template {name}{origin}: {detail}")]
    Invalid {
        name: String,
        origin: String,
        detail: String,
    },
}

pub struct TemplateSet {
    env: Environment<'static>,
    /// Which templates came from the override directory (for the startup log).
    pub overridden: Vec<&'static str>,
}

impl std::fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateSet")
            .field("overridden", &self.overridden)
            .finish()
    }
}

impl TemplateSet {
    /// Loads `builtin`, each replaced by `dir/<name>` if that file exists, compiles them
    /// all (undefined variables are errors) and runs `check` on each.
    pub fn load(
        dir: &Path,
        builtin: &[(&'static str, &'static str)],
        check: impl Fn(&Environment<'static>, &str) -> Result<(), minijinja::Error>,
    ) -> Result<Self, Vec<TemplateError>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(false);
        let mut errors = Vec::new();
        let mut overridden = Vec::new();
        let mut origins = Vec::new();
        for (name, text) in builtin {
            let path = dir.join(name);
            let (source, origin) = match std::fs::read_to_string(&path) {
                Ok(file) if file != *text => {
                    overridden.push(*name);
                    (file, format!(" ({})", path.display()))
                }
                Ok(_) => (text.to_string(), String::new()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (text.to_string(), String::new())
                }
                Err(source) => {
                    errors.push(TemplateError::Read {
                        name,
                        path: path.display().to_string(),
                        source,
                    });
                    continue;
                }
            };
            match env.add_template_owned(*name, source) {
                Ok(()) => origins.push((*name, origin)),
                Err(e) => errors.push(invalid(name, &origin, &e)),
            }
        }
        // Checked once all are in, since templates may extend or include each other.
        for (name, origin) in &origins {
            if let Err(e) = check(&env, name) {
                errors.push(invalid(name, origin, &e));
            }
        }
        if errors.is_empty() {
            Ok(Self { env, overridden })
        } else {
            Err(errors)
        }
    }

    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map(|s| s.trim().to_string())
            .map_err(|e| invalid(name, "", &e))
    }
}

fn invalid(name: &str, origin: &str, e: &minijinja::Error) -> TemplateError {
    let line = e.line().map(|l| format!(" line {l}")).unwrap_or_default();
    TemplateError::Invalid {
        name: name.to_string(),
        origin: origin.to_string(),
        detail: format!("{}{line}", e.detail().unwrap_or(&e.kind().to_string())),
    }
}
