//! `[email]`, `[telegram]` and `[smartflo]`: how Ringback reaches people and Smartflo.

use std::str::FromStr;

use lettre::message::Mailbox;
use url::Url;

use super::{Issues, parse_http_url};
use crate::config::raw::RawConfig;
use crate::config::*;

pub(super) fn check_email(issues: &mut Issues, raw: &RawConfig) -> Option<EmailSettings> {
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

pub(super) fn check_telegram(issues: &mut Issues, raw: &RawConfig) -> Option<TelegramSettings> {
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

pub(super) fn check_smartflo(issues: &mut Issues, raw: &RawConfig) -> Option<SmartfloSettings> {
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
