//! `[[agents]]` and `[[supervisors]]`: names unique across both, and the contacts each can
//! be reached at.

use std::collections::HashSet;
use std::str::FromStr;

use lettre::Address;

use super::Issues;
use crate::config::raw::{RawAgent, RawSupervisor};
use crate::config::*;
use crate::domain::phone::{CountryCode, PhoneNumber};

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

pub(super) fn check_agent(
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

pub(super) fn check_supervisor(
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

/// What about the people is valid but probably a slip: a Smartflo agent id that is not
/// Smartflo's shape (13 digits starting `05`), an email domain without a dot.
pub(super) fn people_warnings(agents: &[Agent], supervisors: &[Supervisor]) -> Vec<ConfigIssue> {
    let domain_without_dot = |key: String, email: &Option<Address>| {
        let address = email.as_ref().filter(|a| !a.domain().contains('.'))?;
        Some(ConfigIssue {
            key,
            reason: format!(
                "{address} has no dot in its domain: mail to it will not arrive unless the mail server knows that name"
            ),
        })
    };
    let unlike_smartflo = |key: String, id: &Option<String>| {
        let id = id
            .as_ref()
            .filter(|id| !(id.len() == 13 && id.starts_with("05")))?;
        Some(ConfigIssue {
            key,
            reason: format!(
                "{id:?} is not shaped like a Smartflo agent id (13 digits starting 05, e.g. 0507297260061): click-to-call and matching webhooks by id will not find this agent"
            ),
        })
    };
    let agents = agents.iter().enumerate().flat_map(|(i, a)| {
        [
            domain_without_dot(format!("agents[{i}].email"), &a.email),
            unlike_smartflo(format!("agents[{i}].smartflo_id"), &a.smartflo_id),
        ]
    });
    let supervisors = supervisors
        .iter()
        .enumerate()
        .map(|(i, s)| domain_without_dot(format!("supervisors[{i}].email"), &s.email));
    agents.chain(supervisors).flatten().collect()
}
