//! Message templates (SPEC §6): built into the binary, overridable by files in
//! `[templates].dir`, all compiled and test-rendered at startup so a broken template stops
//! the service (or fails `check-config`) instead of failing a reminder later.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Every template, with its built-in text.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "reminder.subject.txt",
        include_str!("../../templates/reminder.subject.txt"),
    ),
    ("reminder.txt", include_str!("../../templates/reminder.txt")),
    (
        "reminder.html",
        include_str!("../../templates/reminder.html"),
    ),
    (
        "reminder.telegram.html",
        include_str!("../../templates/reminder.telegram.html"),
    ),
    (
        "reminder.log.txt",
        include_str!("../../templates/reminder.log.txt"),
    ),
    (
        "escalation.subject.txt",
        include_str!("../../templates/escalation.subject.txt"),
    ),
    (
        "escalation.txt",
        include_str!("../../templates/escalation.txt"),
    ),
    (
        "escalation.html",
        include_str!("../../templates/escalation.html"),
    ),
    (
        "escalation.telegram.html",
        include_str!("../../templates/escalation.telegram.html"),
    ),
    (
        "escalation.log.txt",
        include_str!("../../templates/escalation.log.txt"),
    ),
];

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

/// The variables every template may use (documented in `templates/README.md`).
#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    pub customer: String,
    pub customer_national: String,
    pub missed_calls: u32,
    pub first_missed_at: String,
    pub last_missed_at: String,
    pub agent: Option<String>,
    pub recipient: String,
    pub department: Option<String>,
    pub attempts: u32,
    pub round: u32,
    /// Escalation level of this message (0 for reminders).
    pub level: u32,
    /// How long the customer has waited, since the first missed call ("1 h 05 min").
    pub age: String,
    pub link: String,
    pub callback_id: String,
}

impl MessageContext {
    /// A context with every optional value present, for validating templates.
    pub fn sample() -> Self {
        Self {
            customer: "+919876543210".into(),
            customer_national: "9876543210".into(),
            missed_calls: 2,
            first_missed_at: "28 May 2026, 10:40".into(),
            last_missed_at: "28 May 2026, 10:55".into(),
            agent: Some("Priya".into()),
            recipient: "Priya".into(),
            department: Some("Sales".into()),
            attempts: 1,
            round: 3,
            level: 1,
            age: "35 min".into(),
            link: "https://ringback.example/callbacks/01J0000000000000000000000".into(),
            callback_id: "01J0000000000000000000000".into(),
        }
    }
}

pub struct Templates {
    env: Environment<'static>,
    /// Which templates came from the override directory (for the startup log).
    pub overridden: Vec<&'static str>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("overridden", &self.overridden)
            .finish()
    }
}

impl Templates {
    /// Loads the built-in templates, replaced by same-named files in `dir` if present,
    /// and checks that each compiles and renders.
    pub fn load(dir: &Path) -> Result<Self, Vec<TemplateError>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(false);
        let mut errors = Vec::new();
        let mut overridden = Vec::new();
        for (name, builtin) in BUILTIN {
            let path = dir.join(name);
            let (source, origin) = match std::fs::read_to_string(&path) {
                Ok(text) if text != *builtin => {
                    overridden.push(*name);
                    (text, format!(" ({})", path.display()))
                }
                Ok(_) => (builtin.to_string(), String::new()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (builtin.to_string(), String::new())
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
            if let Err(e) = env.add_template_owned(*name, source) {
                errors.push(invalid(name, &origin, &e));
                continue;
            }
            if let Err(e) = env
                .get_template(name)
                .and_then(|t| t.render(MessageContext::sample()))
            {
                errors.push(invalid(name, &origin, &e));
            }
        }
        if errors.is_empty() {
            Ok(Self { env, overridden })
        } else {
            Err(errors)
        }
    }

    pub fn render(&self, name: &str, ctx: &MessageContext) -> Result<String, TemplateError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_templates_render() {
        let dir = tempfile::tempdir().unwrap();
        let t = Templates::load(dir.path()).expect("built-ins are valid");
        let text = t.render("reminder.txt", &MessageContext::sample()).unwrap();
        assert!(text.contains("+919876543210"));
        assert!(text.contains("28 May 2026, 10:40"));
        assert!(t.overridden.is_empty());
    }

    #[test]
    fn a_file_in_the_directory_overrides_the_builtin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("reminder.subject.txt"),
            "Ring {{ customer }} now",
        )
        .unwrap();
        let t = Templates::load(dir.path()).unwrap();
        assert_eq!(t.overridden, ["reminder.subject.txt"]);
        assert_eq!(
            t.render("reminder.subject.txt", &MessageContext::sample())
                .unwrap(),
            "Ring +919876543210 now"
        );
    }

    #[test]
    fn broken_templates_are_reported_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("reminder.txt"), "{% if %}").unwrap();
        std::fs::write(dir.path().join("reminder.html"), "{{ no_such_variable }}").unwrap();
        let errors = Templates::load(dir.path()).unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 2, "{text:?}");
        assert!(text[0].starts_with("template reminder.txt"), "{text:?}");
        assert!(
            text[1].starts_with("template reminder.html") && text[1].contains("undefined"),
            "{text:?}"
        );
    }

    #[test]
    fn html_templates_escape_what_callers_influence() {
        let dir = tempfile::tempdir().unwrap();
        let t = Templates::load(dir.path()).unwrap();
        let mut ctx = MessageContext::sample();
        ctx.agent = Some("<script>x</script>".into());
        let html = t.render("reminder.telegram.html", &ctx).unwrap();
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
