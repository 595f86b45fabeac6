//! The shape of `config.toml` (SPEC §3), as read before validation. Defaults here are the
//! documented defaults; environment variables `RINGBACK_<SECTION>__<KEY>` override the file.

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::secret::Secret;
use super::text::{opt_text_or_number, text_or_number};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub server: RawServer,
    pub storage: RawStorage,
    pub webhook: RawWebhook,
    pub api: RawApi,
    pub reminders: RawReminders,
    pub email: RawEmail,
    pub telegram: RawTelegram,
    pub smartflo: RawSmartflo,
    pub agents: Vec<RawAgent>,
    pub supervisors: Vec<RawSupervisor>,
    pub escalation: Vec<RawEscalation>,
    pub dashboard: RawDashboard,
    pub templates: RawTemplates,
    pub sla: RawSla,
    pub digests: Vec<RawDigest>,
    pub privacy: RawPrivacy,
}

/// `[sla]` (SPEC §11).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawSla {
    /// Empty: no service level.
    pub callback_within: String,
    pub departments: std::collections::BTreeMap<String, String>,
}

/// One `[[digests]]` entry (SPEC §11).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDigest {
    #[serde(default)]
    pub cron: String,
    #[serde(default)]
    pub notify: Vec<String>,
}

/// `[privacy]` (SPEC §11).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawPrivacy {
    pub mask_numbers: bool,
    /// The spec's spelling of `[storage] raw_retention`; either may be used.
    pub raw_retention: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    pub public_url: String,
    pub auth_failures_per_minute: u32,
    pub trusted_proxies: Vec<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            auth_failures_per_minute: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStorage {
    pub backend: String,
    pub path: String,
    /// PostgreSQL only (a secret: `RINGBACK_STORAGE__URL`).
    pub url: Secret,
    pub pool_size: u32,
    pub retention: String,
    /// Empty: raw events are kept as long as `retention` keeps them.
    pub raw_retention: String,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            backend: "sled".into(),
            path: "data".into(),
            url: Secret::default(),
            pool_size: 16,
            retention: "90d".into(),
            raw_retention: String::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWebhook {
    #[serde(deserialize_with = "secret_list")]
    pub tokens: Vec<Secret>,
    #[serde(deserialize_with = "text_or_number")]
    pub default_country_code: String,
    pub min_talk_seconds: u32,
}

impl Default for RawWebhook {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            default_country_code: "91".into(),
            min_talk_seconds: 0,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawApi {
    #[serde(deserialize_with = "secret_list")]
    pub tokens: Vec<Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawReminders {
    pub timezone: String,
    pub business_hours: String,
    pub first_after: String,
    pub repeat_every: String,
    /// Local dates (`"2026-01-26"`) on which nothing goes out and the SLA clock pauses.
    pub holidays: Vec<String>,
    /// An iCalendar file of all-day events, relative to the configuration file; empty: none.
    pub holidays_file: String,
    /// Failed call-back attempts after which the first escalation step fires; 0: never.
    pub escalate_after_attempts: u32,
}

impl Default for RawReminders {
    fn default() -> Self {
        Self {
            timezone: "Asia/Kolkata".into(),
            business_hours: "* * 9-18 * * Mon-Sat".into(),
            first_after: "2m".into(),
            repeat_every: "15m".into(),
            holidays: Vec::new(),
            holidays_file: String::new(),
            escalate_after_attempts: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEmail {
    pub smtp_url: Secret,
    pub from: String,
    pub link_secret: Secret,
}

impl Default for RawEmail {
    fn default() -> Self {
        Self {
            smtp_url: Secret::default(),
            from: "Ringback <ringback@example.com>".into(),
            link_secret: Secret::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTelegram {
    pub bot_token: Secret,
    pub api_url: String,
}

impl Default for RawTelegram {
    fn default() -> Self {
        Self {
            bot_token: Secret::default(),
            api_url: "https://api.telegram.org".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSmartflo {
    pub api_url: String,
    pub api_token: Secret,
    #[serde(deserialize_with = "text_or_number")]
    pub caller_id: String,
}

impl Default for RawSmartflo {
    fn default() -> Self {
        Self {
            api_url: "https://api-smartflo.tatateleservices.com".into(),
            api_token: Secret::default(),
            caller_id: String::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "opt_text_or_number")]
    pub number: Option<String>,
    #[serde(default, deserialize_with = "opt_text_or_number")]
    pub smartflo_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "opt_text_or_number")]
    pub telegram_chat_id: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSupervisor {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "opt_text_or_number")]
    pub telegram_chat_id: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEscalation {
    #[serde(default)]
    pub after: String,
    #[serde(default)]
    pub notify: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawDashboard {
    pub users: Vec<RawDashboardUser>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDashboardUser {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub password_hash: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTemplates {
    pub dir: String,
}

impl Default for RawTemplates {
    fn default() -> Self {
        Self {
            dir: "templates".into(),
        }
    }
}

/// A list of secrets, or one string of comma-separated secrets (handy in the environment).
fn secret_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Secret>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<Secret>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of strings, or one comma-separated string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![Secret::new(v.to_string())])
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![Secret::new(v.to_string())])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<Secret>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(ListVisitor)
}
