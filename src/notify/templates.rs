//! Message templates (SPEC §6): reminders and escalations per channel, each test-rendered
//! with a sample message at startup.

use std::path::Path;

use serde::Serialize;

pub use crate::templating::TemplateError;
use crate::templating::TemplateSet;

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
    (
        "status.telegram.html",
        include_str!("../../templates/status.telegram.html"),
    ),
    (
        "closure.telegram.html",
        include_str!("../../templates/closure.telegram.html"),
    ),
    (
        "reminder.subject.hi.txt",
        include_str!("../../templates/reminder.subject.hi.txt"),
    ),
    (
        "reminder.hi.txt",
        include_str!("../../templates/reminder.hi.txt"),
    ),
    (
        "reminder.hi.html",
        include_str!("../../templates/reminder.hi.html"),
    ),
    (
        "reminder.telegram.hi.html",
        include_str!("../../templates/reminder.telegram.hi.html"),
    ),
    (
        "escalation.subject.hi.txt",
        include_str!("../../templates/escalation.subject.hi.txt"),
    ),
    (
        "escalation.hi.txt",
        include_str!("../../templates/escalation.hi.txt"),
    ),
    (
        "escalation.hi.html",
        include_str!("../../templates/escalation.hi.html"),
    ),
    (
        "escalation.telegram.hi.html",
        include_str!("../../templates/escalation.telegram.hi.html"),
    ),
    (
        "digest.subject.txt",
        include_str!("../../templates/digest.subject.txt"),
    ),
    ("digest.txt", include_str!("../../templates/digest.txt")),
    ("digest.html", include_str!("../../templates/digest.html")),
    (
        "digest.telegram.html",
        include_str!("../../templates/digest.telegram.html"),
    ),
    (
        "digest.subject.hi.txt",
        include_str!("../../templates/digest.subject.hi.txt"),
    ),
    (
        "digest.hi.txt",
        include_str!("../../templates/digest.hi.txt"),
    ),
    (
        "digest.hi.html",
        include_str!("../../templates/digest.hi.html"),
    ),
    (
        "digest.telegram.hi.html",
        include_str!("../../templates/digest.telegram.hi.html"),
    ),
];

/// The name of template `name` in `language`: the language code goes before the last
/// extension (`reminder.txt` → `reminder.hi.txt`, `reminder.subject.txt` →
/// `reminder.subject.hi.txt`). English (`None`, `"en"`) is the plain name; a language
/// without that template falls back to it.
pub fn localized(name: &str, language: Option<&str>) -> String {
    match (language, name.rsplit_once('.')) {
        (Some(lang), Some((stem, ext))) if lang != "en" => format!("{stem}.{lang}.{ext}"),
        _ => name.to_string(),
    }
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
    /// The callback's page for this recipient: a signed view that needs no login.
    pub link: String,
    /// The callback's dashboard page (for supervisors with a dashboard login).
    pub dashboard_link: String,
    pub callback_id: String,
    /// What happened (after a button press), or how it ended once resolved; empty otherwise.
    pub outcome: String,
    /// When the next reminder goes out (local time), if one is scheduled.
    pub next_reminder: Option<String>,
    /// Signed one-tap action links (emails only).
    pub links: Option<ActionLinks>,
    /// Whether `customer` is masked (`[privacy] mask_numbers`): no `tel:` link then.
    pub masked: bool,
}

/// The URLs of an email's action links (`call` only when click-to-call is configured).
#[derive(Debug, Clone, Serialize)]
pub struct ActionLinks {
    pub call: Option<String>,
    pub snooze: String,
    /// Only for agents other than the assigned one.
    pub take: Option<String>,
    pub done: String,
    /// Recording what happened when the agent tried (no answer, busy, …).
    pub outcomes: Vec<LabelledLink>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelledLink {
    /// What it records, as the API names it (`no_answer`, `busy`, …): templates in other
    /// languages label the link by it.
    pub code: String,
    pub label: String,
    pub url: String,
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
            link: "https://ringback.example/v/view-token".into(),
            dashboard_link: "https://ringback.example/callbacks/01J0000000000000000000000".into(),
            callback_id: "01J0000000000000000000000".into(),
            outcome: "called back by Priya at 28 May 2026, 11:40".into(),
            next_reminder: Some("28 May 2026, 11:10".into()),
            links: Some(ActionLinks {
                call: Some("https://ringback.example/a/call-token".into()),
                snooze: "https://ringback.example/a/snooze-token".into(),
                take: Some("https://ringback.example/a/take-token".into()),
                done: "https://ringback.example/a/done-token".into(),
                outcomes: vec![LabelledLink {
                    code: "no_answer".into(),
                    label: "📵 No answer".into(),
                    url: "https://ringback.example/a/no-answer-token".into(),
                }],
            }),
            masked: false,
        }
    }
}

/// The variables of the digest templates (`digest.*`).
#[derive(Debug, Clone, Serialize)]
pub struct DigestContext {
    pub recipient: String,
    /// The digest's moment, local: its time (`09:30`).
    pub time: String,
    pub yesterday: DayContext,
    pub today: DayContext,
    /// Whether a service level is configured (`within` and `breaches` mean something).
    pub sla: bool,
    pub breaches: Vec<BreachLine>,
    pub pending: u32,
    pub oldest: Vec<WaitingLine>,
    /// The dashboard's pending list.
    pub dashboard: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayContext {
    /// `28 May 2026`.
    pub date: String,
    pub missed: u32,
    pub called_back: u32,
    /// `3 of 4 (75%)`, or `—` without a service level.
    pub within: String,
    pub breaches: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreachLine {
    pub agent: String,
    pub yesterday: u32,
    pub today: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitingLine {
    pub customer: String,
    pub agent: Option<String>,
    pub waiting: String,
    pub since: String,
    pub missed_calls: u32,
    pub breached: bool,
    /// The callback's page for this recipient (a signed view).
    pub link: String,
}

impl DigestContext {
    pub fn sample() -> Self {
        let day = |date: &str| DayContext {
            date: date.into(),
            missed: 4,
            called_back: 3,
            within: "2 of 3 (67%)".into(),
            breaches: 1,
        };
        Self {
            recipient: "Asha".into(),
            time: "09:30".into(),
            yesterday: day("28 May 2026"),
            today: day("29 May 2026"),
            sla: true,
            breaches: vec![BreachLine {
                agent: "Priya".into(),
                yesterday: 1,
                today: 0,
            }],
            pending: 2,
            oldest: vec![WaitingLine {
                customer: "+919876543210".into(),
                agent: Some("Priya".into()),
                waiting: "15 h 40 min".into(),
                since: "28 May 2026, 18:50".into(),
                missed_calls: 2,
                breached: true,
                link: "https://ringback.example/v/view-token".into(),
            }],
            dashboard: "https://ringback.example/".into(),
        }
    }
}

/// The message templates, each checked by rendering it with [`MessageContext::sample`].
pub struct Templates(TemplateSet);

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Templates {
    pub fn load(dir: &Path) -> Result<Self, Vec<TemplateError>> {
        TemplateSet::load(dir, BUILTIN, |env, name| {
            let template = env.get_template(name)?;
            if name.starts_with("digest.") {
                template.render(DigestContext::sample()).map(|_| ())
            } else {
                template.render(MessageContext::sample()).map(|_| ())
            }
        })
        .map(Self)
    }

    /// Which templates came from the override directory.
    pub fn overridden(&self) -> &[&'static str] {
        &self.0.overridden
    }

    pub fn render(&self, name: &str, ctx: &MessageContext) -> Result<String, TemplateError> {
        self.0.render(name, ctx)
    }

    /// Renders `name` in `language` (falling back to English where that language has no
    /// such template).
    pub fn render_in<S: Serialize>(
        &self,
        name: &str,
        language: Option<&str>,
        ctx: &S,
    ) -> Result<String, TemplateError> {
        let wanted = localized(name, language);
        if wanted != name && self.0.has(&wanted) {
            self.0.render(&wanted, ctx)
        } else {
            self.0.render(name, ctx)
        }
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
        assert!(t.overridden().is_empty());
    }

    #[test]
    fn the_hindi_reminder_labels_its_outcome_links_in_hindi() {
        let dir = tempfile::tempdir().unwrap();
        let t = Templates::load(dir.path()).unwrap();
        for name in ["reminder.hi.txt", "reminder.hi.html"] {
            let text = t.render(name, &MessageContext::sample()).unwrap();
            assert!(text.contains("कोशिश की पर बात नहीं हुई?"), "{name}: {text}");
            assert!(text.contains("📵 जवाब नहीं मिला"), "{name}: {text}");
            assert!(!text.contains("No answer"), "{name}: {text}");
        }
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
        assert_eq!(t.overridden(), ["reminder.subject.txt"]);
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
