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

    /// Whether a template of that name is loaded.
    pub fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map(|s| s.trim().to_string())
            .map_err(|e| invalid(name, "", &e))
    }
}

/// A file in the templates directory that Ringback does not use, and the template it was
/// probably meant to override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayFile {
    /// Relative to the directory, `/`-separated (`dashboard/pendng.html`).
    pub name: String,
    pub meant: Option<&'static str>,
}

impl std::fmt::Display for StrayFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is not a template Ringback uses, so it changes nothing",
            self.name
        )?;
        match self.meant {
            Some(meant) => write!(f, " (did you mean {meant}?)"),
            None => Ok(()),
        }
    }
}

/// Files under `dir` (and one level of subdirectories) that are none of `known`: an
/// override with a misspelt name would otherwise be ignored without a word. Notes
/// (`*.md`) and hidden files are not templates and are left alone.
pub fn stray_files(dir: &Path, known: &[&'static str]) -> Vec<StrayFile> {
    let mut found = Vec::new();
    let mut visit = |prefix: &str, path: &Path| {
        let Ok(entries) = std::fs::read_dir(path) else {
            return Vec::new();
        };
        let mut subdirs = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.starts_with('.') || file_name.ends_with(".md") {
                continue;
            }
            let name = format!("{prefix}{file_name}");
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                subdirs.push((format!("{name}/"), entry.path()));
            } else if !known.contains(&name.as_str()) {
                found.push(StrayFile {
                    meant: closest(&name, known),
                    name,
                });
            }
        }
        subdirs
    };
    for (prefix, path) in visit("", dir) {
        visit(&prefix, &path);
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The known name within a few typing mistakes of `name`, if one is.
fn closest(name: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn invalid(name: &str, origin: &str, e: &minijinja::Error) -> TemplateError {
    let line = e.line().map(|l| format!(" line {l}")).unwrap_or_default();
    TemplateError::Invalid {
        name: name.to_string(),
        origin: origin.to_string(),
        detail: format!("{}{line}", e.detail().unwrap_or(&e.kind().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_override_is_named_with_the_template_it_was_meant_for() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dashboard")).unwrap();
        for name in [
            "reminder.subjet.txt",
            "reminder.txt",
            "README.md",
            ".reminder.txt.swp",
            "dashboard/pendng.html",
            "notes.pdf",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let known = [
            "reminder.subject.txt",
            "reminder.txt",
            "dashboard/pending.html",
        ];
        let stray: Vec<String> = stray_files(dir.path(), &known)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            stray,
            [
                "dashboard/pendng.html is not a template Ringback uses, so it changes nothing (did you mean dashboard/pending.html?)",
                "notes.pdf is not a template Ringback uses, so it changes nothing",
                "reminder.subjet.txt is not a template Ringback uses, so it changes nothing (did you mean reminder.subject.txt?)",
            ]
        );
    }

    #[test]
    fn a_missing_directory_has_no_stray_files() {
        assert!(stray_files(Path::new("/nonexistent/ringback-templates"), &["a.txt"]).is_empty());
    }
}
