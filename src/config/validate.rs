//! Validation of the raw file into [`Settings`]: every key parsed once, every problem
//! reported with its key (all of them, not just the first).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use url::Url;

use super::raw::RawConfig;
use super::rules::validate_rules;
use super::*;
use crate::domain::phone::CountryCode;
use crate::domain::rules::{RulesText, StepText};

mod channels;
mod people;

use channels::{check_email, check_smartflo, check_telegram};
use people::{check_agent, check_supervisor};

const MIN_TOKEN_LEN: usize = 16;

#[derive(Default)]
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigIssue {
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// Records the error of a parse and returns its value, if any.
    fn check<T, E: std::fmt::Display>(&mut self, key: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.add(key, e.to_string())).ok()
    }
}

pub(super) fn validate(raw: RawConfig, source: &Path) -> Result<Settings, ConfigError> {
    let mut issues = Issues::default();
    let base = source
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));

    let listen = check_listen(&mut issues, &raw.server.listen);
    let public_url = issues.check("server.public_url", parse_http_url(&raw.server.public_url));
    let trusted_proxies: Vec<std::net::IpAddr> = raw
        .server
        .trusted_proxies
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            issues.check(
                &format!("server.trusted_proxies[{i}]"),
                p.trim()
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| format!("{p:?} is not an IP address")),
            )
        })
        .collect();
    let retention = issues.check("storage.retention", parse_retention(&raw.storage.retention));
    let backend = check_backend(&mut issues, &raw);
    let storage = if raw.storage.path.trim().is_empty() {
        issues.add("storage.path", "must not be empty");
        None
    } else {
        Some(base.join(raw.storage.path.trim()))
    };

    let country = issues.check(
        "webhook.default_country_code",
        CountryCode::parse(&raw.webhook.default_country_code),
    );
    check_tokens(&mut issues, "webhook.tokens", &raw.webhook.tokens);
    check_tokens(&mut issues, "api.tokens", &raw.api.tokens);

    let timezone = issues.check(
        "reminders.timezone",
        raw.reminders
            .timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| format!("unknown IANA time zone {:?}", raw.reminders.timezone)),
    );
    let email = check_email(&mut issues, &raw);
    let telegram = check_telegram(&mut issues, &raw);
    let smartflo = check_smartflo(&mut issues, &raw);

    let mut names = HashSet::new();
    let agents: Vec<Agent> = raw
        .agents
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            check_agent(&mut issues, &format!("agents[{i}]"), a, country, &mut names)
        })
        .collect();
    let supervisors: Vec<Supervisor> = raw
        .supervisors
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            check_supervisor(&mut issues, &format!("supervisors[{i}]"), s, &mut names)
        })
        .collect();
    let rules_text = RulesText {
        first_after: raw.reminders.first_after.trim().to_string(),
        repeat_every: raw.reminders.repeat_every.trim().to_string(),
        business_hours: raw.reminders.business_hours.trim().to_string(),
        escalation: raw
            .escalation
            .iter()
            .map(|step| StepText {
                after: step.after.trim().to_string(),
                notify: step.notify.iter().map(|n| n.trim().to_string()).collect(),
            })
            .collect(),
    };
    let extras = super::extras::check(&raw, &base, timezone, &names, &mut issues.0);
    let rules = match validate_rules(
        &rules_text,
        timezone,
        &names,
        raw.webhook.min_talk_seconds,
        &extras.rules,
    ) {
        Ok(rules) => Some(rules),
        Err(found) => {
            issues.0.extend(found);
            None
        }
    };
    let dashboard = check_dashboard(&mut issues, &raw);

    let templates_dir = base.join(raw.templates.dir.trim());
    if templates_dir.exists() && !templates_dir.is_dir() {
        issues.add(
            "templates.dir",
            format!("{} is not a directory", templates_dir.display()),
        );
    }

    if !issues.0.is_empty() {
        return Err(ConfigError::Invalid(issues.0));
    }
    // Every Option below is Some: a None always came with an issue.
    let missing = "validated above";
    let rules = rules.expect(missing);
    let people_warnings = people::people_warnings(&agents, &supervisors);
    Ok(Settings {
        source: source.to_path_buf(),
        server: ServerSettings {
            listen: listen.expect(missing),
            public_url: public_url.expect(missing),
            auth_failures_per_minute: raw.server.auth_failures_per_minute,
            trusted_proxies,
        },
        storage: StorageSettings {
            backend: backend.expect(missing),
            path: storage.expect(missing),
            retention: retention.expect(missing),
            raw_retention: extras.raw_retention,
        },
        webhook: WebhookSettings {
            tokens: raw.webhook.tokens,
            default_country_code: country.expect(missing),
            min_talk_seconds: raw.webhook.min_talk_seconds,
        },
        api: ApiSettings {
            tokens: raw.api.tokens,
        },
        reminders: ReminderSettings {
            timezone: timezone.expect(missing),
        },
        email,
        telegram,
        smartflo,
        agents,
        supervisors,
        rules: rules.rules,
        rules_text,
        ignored_env: Vec::new(),
        warnings: rules
            .warnings
            .into_iter()
            .chain(extras.warnings.iter().cloned())
            .chain(people_warnings)
            .collect(),
        dashboard,
        templates: TemplateSettings { dir: templates_dir },
        extras,
    })
}

/// `[storage].backend` with what it needs: PostgreSQL a `url` (a secret, usually from
/// `RINGBACK_STORAGE__URL`) and a pool size.
fn check_backend(issues: &mut Issues, raw: &RawConfig) -> Option<StorageBackend> {
    let storage = &raw.storage;
    match storage.backend.trim().to_ascii_lowercase().as_str() {
        "sled" | "" => Some(StorageBackend::Sled),
        "postgres" | "postgresql" => {
            let url = storage.url.expose().trim();
            let mut ok = true;
            if url.is_empty() {
                issues.add(
                    "storage.url",
                    "backend = \"postgres\" needs a url (set RINGBACK_STORAGE__URL=postgres://user@host:5432/ringback)",
                );
                ok = false;
            } else if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                // The value is a secret (it may hold a password): not repeated.
                issues.add(
                    "storage.url",
                    "must start with postgres:// or postgresql://",
                );
                ok = false;
            } else if let Err(why) = super::parse_postgres_url(url) {
                issues.add("storage.url", format!("not a usable PostgreSQL URL: {why}"));
                ok = false;
            }
            if !(1..=512).contains(&storage.pool_size) {
                issues.add(
                    "storage.pool_size",
                    format!("{} is not from 1 to 512", storage.pool_size),
                );
                ok = false;
            }
            ok.then(|| StorageBackend::Postgres {
                url: Secret::new(url),
                pool_size: storage.pool_size,
            })
        }
        other => {
            issues.add(
                "storage.backend",
                format!("unknown backend {other:?} (expected \"sled\" or \"postgres\")"),
            );
            None
        }
    }
}

/// The longest retention short of `"forever"`: ten years.
const MAX_RETENTION: std::time::Duration = std::time::Duration::from_secs(3650 * 86_400);

/// `"90d"`-style durations of at least a day, or `"forever"` (never purge).
pub(super) fn parse_retention(raw: &str) -> Result<Option<std::time::Duration>, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    let d = super::rules::parse_duration(raw, MAX_RETENTION)?;
    if d < std::time::Duration::from_secs(86_400) {
        return Err(format!(
            "{raw:?} is shorter than a day; keep at least \"1d\" (or \"forever\")"
        ));
    }
    Ok(Some(d))
}

fn check_listen(issues: &mut Issues, listen: &str) -> Option<String> {
    let listen = listen.trim();
    let valid = listen
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Some(listen.to_string())
    } else {
        issues.add(
            "server.listen",
            format!("{listen:?} is not host:port (e.g. \"127.0.0.1:8080\")"),
        );
        None
    }
}

fn parse_http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{raw:?} must be an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} must not have a query or fragment"));
    }
    Ok(url)
}

fn check_tokens(issues: &mut Issues, key: &str, tokens: &[Secret]) {
    for (i, t) in tokens.iter().enumerate() {
        let t = t.expose();
        if t.chars().count() < MIN_TOKEN_LEN {
            issues.add(
                format!("{key}[{i}]"),
                format!("too short: use at least {MIN_TOKEN_LEN} characters"),
            );
        } else if t
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        {
            issues.add(
                format!("{key}[{i}]"),
                "must not contain spaces, control characters or '/'",
            );
        }
    }
}

fn check_dashboard(issues: &mut Issues, raw: &RawConfig) -> DashboardSettings {
    let mut users = Vec::new();
    let mut seen = HashSet::new();
    for (i, u) in raw.dashboard.users.iter().enumerate() {
        let key = format!("dashboard.users[{i}]");
        let name = u.name.trim();
        if name.is_empty() {
            issues.add(format!("{key}.name"), "is required");
            continue;
        }
        if !seen.insert(name.to_lowercase()) {
            issues.add(format!("{key}.name"), format!("{name:?} is used twice"));
            continue;
        }
        match argon2::PasswordHash::new(u.password_hash.trim()) {
            Ok(hash) if hash.algorithm.as_str() == "argon2id" => users.push(DashboardUser {
                name: name.to_string(),
                password_hash: Secret::new(u.password_hash.trim()),
            }),
            _ => issues.add(
                format!("{key}.password_hash"),
                "not an argon2id hash; create one with `ringback hash-password`",
            ),
        }
    }
    DashboardSettings { users }
}
