//! Configuration: `config.toml` layered with `RINGBACK_<SECTION>__<KEY>` environment
//! variables (figment), validated once into [`Settings`] (SPEC §2, §3).
//!
//! Everything a later feature reads is parsed and checked here, so `ringback check-config`
//! rejects a bad file before anything runs, naming the key and the reason.

mod database_url;
pub mod extras;
pub mod holidays;
mod raw;
pub mod rules;
mod secret;
mod text;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use lettre::Address;
use lettre::message::Mailbox;
use url::Url;

use crate::domain::phone::{CountryCode, PhoneNumber};
pub use crate::domain::reminder::Channel;
pub use database_url::parse_postgres_url;
pub use secret::Secret;

/// The prefix of environment overrides: `RINGBACK_EMAIL__SMTP_URL` sets `email.smtp_url`.
pub const ENV_PREFIX: &str = "RINGBACK_";

#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from (relative paths are relative to its directory).
    pub source: PathBuf,
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub webhook: WebhookSettings,
    pub api: ApiSettings,
    pub reminders: ReminderSettings,
    pub email: Option<EmailSettings>,
    pub telegram: Option<TelegramSettings>,
    pub smartflo: Option<SmartfloSettings>,
    pub agents: Vec<Agent>,
    pub supervisors: Vec<Supervisor>,
    /// The reminder timing and escalation steps the file sets, validated.
    pub rules: crate::domain::rules::Rules,
    /// The same rules as the file wrote them (the dashboard compares stored edits to it).
    pub rules_text: crate::domain::rules::RulesText,
    /// `RINGBACK_` variables that are not `RINGBACK_<SECTION>__<KEY>` (ignored; warned about).
    pub ignored_env: Vec<String>,
    /// Valid settings that are probably not what production wants (warned about by
    /// `check-config` and at `serve` start).
    pub warnings: Vec<ConfigIssue>,
    pub dashboard: DashboardSettings,
    pub templates: TemplateSettings,
    /// SPEC §11: service level, holidays, attempts, digests, privacy.
    pub extras: extras::Extras,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: String,
    /// Without a trailing slash.
    pub public_url: Url,
    /// Failed authentications a source may make per minute before it is answered `429`
    /// (`0`: no limit).
    pub auth_failures_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the real client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// Which store, and how to reach it (SPEC §10).
    pub backend: StorageBackend,
    /// The embedded store's data directory (and, with every backend, where `backup` and
    /// tools look first).
    pub path: PathBuf,
    /// How long resolved callbacks and raw events are kept; `None`: for ever.
    pub retention: Option<std::time::Duration>,
    /// How long raw events are kept, when shorter than `retention` (`[storage]
    /// raw_retention`); `None`: as long as `retention`.
    pub raw_retention: Option<std::time::Duration>,
}

/// `[storage].backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// sled, embedded, in `[storage].path` (one process).
    Sled,
    /// PostgreSQL at `url`, with a pool of at most `pool_size` connections for requests and
    /// three of its own (webhook batches, leadership) (any number of replicas).
    Postgres { url: Secret, pool_size: u32 },
}

impl StorageSettings {
    /// An embedded store in `path`, kept for ever (tools and tests).
    pub fn sled(path: impl Into<PathBuf>) -> Self {
        Self {
            backend: StorageBackend::Sled,
            path: path.into(),
            retention: None,
            raw_retention: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Empty: a generated token is used (SPEC §2).
    pub tokens: Vec<Secret>,
    pub default_country_code: CountryCode,
    pub min_talk_seconds: u32,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub tokens: Vec<Secret>,
}

#[derive(Debug, Clone)]
pub struct ReminderSettings {
    pub timezone: Tz,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub smtp_url: Secret,
    pub from: Mailbox,
    /// Signs the action links in emails; `None`: a key generated in the data directory.
    pub link_secret: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct TelegramSettings {
    pub bot_token: Secret,
    pub api_url: Url,
}

#[derive(Debug, Clone)]
pub struct SmartfloSettings {
    pub api_url: Url,
    pub api_token: Secret,
    pub caller_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    pub number: Option<PhoneNumber>,
    pub smartflo_id: Option<String>,
    pub email: Option<Address>,
    pub telegram_chat_id: Option<i64>,
    /// The channels this agent is reached on (defaults to every channel with an address).
    pub channels: Vec<Channel>,
    /// The language of their messages (`"hi"`); `None`: English.
    pub language: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Supervisor {
    pub name: String,
    pub email: Option<Address>,
    pub telegram_chat_id: Option<i64>,
    pub channels: Vec<Channel>,
    pub language: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DashboardSettings {
    pub users: Vec<DashboardUser>,
}

#[derive(Debug, Clone)]
pub struct DashboardUser {
    pub name: String,
    pub password_hash: Secret,
}

#[derive(Debug, Clone)]
pub struct TemplateSettings {
    pub dir: PathBuf,
}

/// One problem in the configuration: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} not found")]
    NotFound(PathBuf),
    #[error("{0}")]
    Parse(String),
    #[error("{} problem(s) in the configuration:\n{}", .0.len(), .0.iter().map(|i| format!("  - {}", i.to_string().replace('\n', "\n    "))).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigIssue>),
}

impl Settings {
    /// Loads `path`, applies environment overrides and validates everything.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::NotFound(path.to_path_buf()));
        }
        // Only RINGBACK_<SECTION>__<KEY> is a key; other RINGBACK_ variables (a typo with
        // one underscore, a tool's own setting) are reported, not read.
        type Vars = Vec<(String, String)>;
        let (overrides, ignored): (Vars, Vars) = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .partition(|(k, _)| k[ENV_PREFIX.len()..].contains("__"));
        let raw: raw::RawConfig = figment_for(path, overrides)
            .extract()
            .map_err(|e| ConfigError::Parse(describe_figment_error(e)))?;
        let mut settings = validate::validate(raw, path)?;
        settings.ignored_env = ignored.into_iter().map(|(k, _)| k).collect();
        Ok(settings)
    }
}

fn figment_for(path: &Path, overrides: Vec<(String, String)>) -> Figment {
    // The variables are passed in (not read by figment's `Env`) so tests stay hermetic;
    // each one is parsed the way `Env` would parse it and merged over the file.
    let mut figment = Figment::new().merge(Toml::file_exact(path));
    for (name, value) in overrides {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let key = rest.to_ascii_lowercase().replace("__", ".");
        if key.is_empty() || key.split('.').any(str::is_empty) {
            continue;
        }
        let value: figment::value::Value = value.parse().expect("figment parses any string");
        figment = figment.merge(EnvVar { name, key, value });
    }
    figment
}

/// One `RINGBACK_…` variable as a figment source, named as the variable: an error in it (a
/// key that does not exist, a value of the wrong type) says which variable, not the file.
struct EnvVar {
    name: String,
    key: String,
    value: figment::value::Value,
}

impl figment::Provider for EnvVar {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::default(&self.key, &self.value).data()
    }
}

/// figment's errors name the key and the source; they never include values of our secret
/// fields, which are strings and so cannot fail to parse.
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::from("(top level)")
            } else {
                e.path.join(".")
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(src) => format!(" (from {src})"),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            format!("{key}: {}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
