//! Validation of the raw file into [`Settings`]: every key parsed once, every problem
//! reported with its key (all of them, not just the first).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lettre::Address;
use lettre::message::Mailbox;
use url::Url;

use super::raw::{RawAgent, RawConfig, RawSupervisor};
use super::rules::validate_rules;
use super::*;
use crate::domain::phone::{CountryCode, PhoneNumber};
use crate::domain::rules::{RulesText, StepText};

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

fn check_email(issues: &mut Issues, raw: &RawConfig) -> Option<EmailSettings> {
    let from = issues.check(
        "email.from",
        Mailbox::from_str(raw.email.from.trim()).map_err(|e| {
            format!(
                "{:?} is not a mailbox like \"Ringback <ringback@example.com>\" ({e})",
                raw.email.from
            )
        }),
    );
    let url = raw.email.smtp_url.expose().trim();
    if url.is_empty() {
        return None;
    }
    // The URL may hold a password: the messages below never repeat it.
    let valid = Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host().is_some());
    if valid.is_none() {
        issues.add(
            "email.smtp_url",
            "not a valid SMTP URL: use smtp://host:port (plain or STARTTLS) or smtps://user:pass@host:465",
        );
        return None;
    }
    let link_secret = raw.email.link_secret.expose().trim();
    if !link_secret.is_empty() && link_secret.len() < 32 {
        issues.add(
            "email.link_secret",
            "too short: use at least 32 characters (or leave it empty to have one generated)",
        );
        return None;
    }
    Some(EmailSettings {
        smtp_url: Secret::new(url),
        from: from?,
        link_secret: (!link_secret.is_empty()).then(|| Secret::new(link_secret)),
    })
}

fn check_telegram(issues: &mut Issues, raw: &RawConfig) -> Option<TelegramSettings> {
    let api_url = issues.check("telegram.api_url", parse_http_url(&raw.telegram.api_url));
    let token = raw.telegram.bot_token.expose().trim();
    if token.is_empty() {
        return None;
    }
    let well_formed = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && secret.len() >= 20
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !well_formed {
        issues.add(
            "telegram.bot_token",
            "not a Bot API token (expected <digits>:<35 letters, digits, _ or ->)",
        );
        return None;
    }
    Some(TelegramSettings {
        bot_token: Secret::new(token),
        api_url: api_url?,
    })
}

fn check_smartflo(issues: &mut Issues, raw: &RawConfig) -> Option<SmartfloSettings> {
    let api_url = issues.check("smartflo.api_url", parse_http_url(&raw.smartflo.api_url));
    let caller_id = raw.smartflo.caller_id.trim();
    if !caller_id.is_empty()
        && !caller_id
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        issues.add(
            "smartflo.caller_id",
            "must be a phone number (digits, optional leading +)",
        );
    }
    if raw.smartflo.api_token.expose().trim().is_empty() {
        return None;
    }
    Some(SmartfloSettings {
        api_url: api_url?,
        api_token: Secret::new(raw.smartflo.api_token.expose().trim()),
        caller_id: (!caller_id.is_empty()).then(|| caller_id.to_string()),
    })
}

fn check_name(
    issues: &mut Issues,
    key: &str,
    name: &str,
    names: &mut HashSet<String>,
) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        issues.add(format!("{key}.name"), "is required");
        return None;
    }
    if !names.insert(name.to_lowercase()) {
        issues.add(
            format!("{key}.name"),
            format!("{name:?} is used twice (names are unique across agents and supervisors)"),
        );
        return None;
    }
    Some(name.to_string())
}

/// Contact details shared by agents and supervisors.
struct Contact {
    email: Option<Address>,
    telegram_chat_id: Option<i64>,
    channels: Vec<Channel>,
}

fn check_contact(
    issues: &mut Issues,
    key: &str,
    email: &Option<String>,
    chat: &Option<String>,
    channels: &Option<Vec<String>>,
) -> Option<Contact> {
    let mut ok = true;
    let email = match email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => match Address::from_str(e) {
            Ok(a) => Some(a),
            Err(err) => {
                issues.add(
                    format!("{key}.email"),
                    format!("{e:?} is not an email address ({err})"),
                );
                ok = false;
                None
            }
        },
    };
    let chat = match chat.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match c.parse::<i64>() {
            Ok(id) if id != 0 => Some(id),
            _ => {
                issues.add(
                    format!("{key}.telegram_chat_id"),
                    format!("{c:?} is not a Telegram chat id (an integer)"),
                );
                ok = false;
                None
            }
        },
    };
    let channels = match channels {
        None => {
            let mut all = Vec::new();
            if email.is_some() {
                all.push(Channel::Email);
            }
            if chat.is_some() {
                all.push(Channel::Telegram);
            }
            all
        }
        Some(list) => {
            let mut out = Vec::new();
            for (i, c) in list.iter().enumerate() {
                let channel = match c.trim().to_ascii_lowercase().as_str() {
                    "email" => Channel::Email,
                    "telegram" => Channel::Telegram,
                    other => {
                        issues.add(
                            format!("{key}.channels[{i}]"),
                            format!(
                                "unknown channel {other:?} (expected \"email\" or \"telegram\")"
                            ),
                        );
                        ok = false;
                        continue;
                    }
                };
                let has_address = match channel {
                    Channel::Email => email.is_some(),
                    Channel::Telegram => chat.is_some(),
                    Channel::Log => true, // never parsed from the file
                };
                if !has_address {
                    issues.add(
                        format!("{key}.channels[{i}]"),
                        format!(
                            "{channel} is listed but no {} is set",
                            if channel == Channel::Email {
                                "email"
                            } else {
                                "telegram_chat_id"
                            }
                        ),
                    );
                    ok = false;
                }
                if !out.contains(&channel) {
                    out.push(channel);
                }
            }
            out
        }
    };
    ok.then_some(Contact {
        email,
        telegram_chat_id: chat,
        channels,
    })
}

fn check_agent(
    issues: &mut Issues,
    key: &str,
    raw: &RawAgent,
    country: Option<CountryCode>,
    names: &mut HashSet<String>,
) -> Option<Agent> {
    let name = check_name(issues, key, &raw.name, names);
    let number = match (
        raw.number
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty()),
        country,
    ) {
        (Some(n), Some(cc)) => match PhoneNumber::parse(n, cc) {
            Ok(p) => Some(Some(p)),
            Err(e) => {
                issues.add(format!("{key}.number"), format!("{n:?}: {e}"));
                None
            }
        },
        (Some(_), None) => None,
        (None, _) => Some(None),
    };
    let smartflo_id = raw
        .smartflo_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(id) = smartflo_id
        && !id.bytes().all(|b| b.is_ascii_digit())
    {
        issues.add(
            format!("{key}.smartflo_id"),
            format!("{id:?} is not a Smartflo agent id (digits, e.g. 0507297260061)"),
        );
    }
    if matches!(number, Some(None)) && smartflo_id.is_none() {
        issues.add(
            format!("{key}.number"),
            "an agent needs a number or a smartflo_id, so webhooks can be matched to them",
        );
    }
    let contact = check_contact(
        issues,
        key,
        &raw.email,
        &raw.telegram_chat_id,
        &raw.channels,
    );
    let language = issues.check(
        &format!("{key}.language"),
        super::extras::check_language(&raw.language),
    );
    Some(Agent {
        name: name?,
        number: number?,
        smartflo_id: smartflo_id.map(str::to_string),
        email: contact.as_ref()?.email.clone(),
        telegram_chat_id: contact.as_ref()?.telegram_chat_id,
        channels: contact?.channels,
        language: language?,
    })
}

fn check_supervisor(
    issues: &mut Issues,
    key: &str,
    raw: &RawSupervisor,
    names: &mut HashSet<String>,
) -> Option<Supervisor> {
    let name = check_name(issues, key, &raw.name, names);
    let language = issues.check(
        &format!("{key}.language"),
        super::extras::check_language(&raw.language),
    );
    let contact = check_contact(
        issues,
        key,
        &raw.email,
        &raw.telegram_chat_id,
        &raw.channels,
    )?;
    Some(Supervisor {
        name: name?,
        email: contact.email,
        telegram_chat_id: contact.telegram_chat_id,
        channels: contact.channels,
        language: language?,
    })
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
