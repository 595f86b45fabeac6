//! Builds the running parts from validated [`Settings`]: rules, the payload interpreter,
//! the roster of people to notify, the notifier with its templates and transports.

use anyhow::Context;

use std::collections::HashSet;
use std::sync::Arc;

use crate::bot::BotUser;
use crate::config::rules::validate_rules;
use crate::config::{self, ConfigIssue, Settings};
use crate::domain::agent::AgentRef;
use crate::domain::agent::{AgentDirectory, DirectoryEntry};
use crate::domain::reminder::{Channel, Contact, Roster};
use crate::domain::rules::{EscalationStep, Rules, RulesText};
use crate::links::LinkSigner;
use crate::notify::templates::Templates;
use crate::notify::{Composer, Notifier, email::EmailSender, telegram::TelegramSender};
use crate::smartflo::Interpreter;
use crate::smartflo::click_to_call::ClickToCall;
use crate::web::dashboard::Dashboard;

/// The rules the configuration file sets.
pub fn rules_for(settings: &Settings) -> anyhow::Result<Rules> {
    rules_from_text(settings, &settings.rules_text).map_err(one_error)
}

/// The lower-cased names of everyone an escalation step may notify.
fn people(settings: &Settings) -> HashSet<String> {
    settings
        .agents
        .iter()
        .map(|a| a.name.to_lowercase())
        .chain(settings.supervisors.iter().map(|s| s.name.to_lowercase()))
        .collect()
}

/// Rules from their written form, validated exactly as `check-config` validates the file
/// (the dashboard's rules page goes through here).
pub fn rules_from_text(settings: &Settings, text: &RulesText) -> Result<Rules, Vec<ConfigIssue>> {
    let valid = validate_rules(text, Some(settings.reminders.timezone), &people(settings))?;
    let duration = |d: std::time::Duration, key: &str| {
        chrono::Duration::from_std(d).map_err(|_| ConfigIssue {
            key: key.to_string(),
            reason: "is out of range".into(),
        })
    };
    Ok(Rules {
        min_talk_seconds: settings.webhook.min_talk_seconds,
        first_after: duration(valid.first_after, "reminders.first_after").map_err(|e| vec![e])?,
        repeat_every: duration(valid.repeat_every, "reminders.repeat_every")
            .map_err(|e| vec![e])?,
        business_hours: valid.business_hours,
        escalation: valid
            .escalation
            .iter()
            .enumerate()
            .map(|(i, step)| {
                Ok(EscalationStep {
                    after: duration(step.after, &format!("escalation[{i}].after"))?,
                    notify: step.notify.clone(),
                })
            })
            .collect::<Result<_, ConfigIssue>>()
            .map_err(|e| vec![e])?,
    })
}

pub fn interpreter_for(settings: &Settings) -> Interpreter {
    let country = settings.webhook.default_country_code;
    Interpreter {
        zone: settings.reminders.timezone,
        country,
        agents: AgentDirectory::new(
            settings
                .agents
                .iter()
                .map(|a| DirectoryEntry {
                    name: a.name.clone(),
                    number: a.number.clone(),
                    smartflo_id: a.smartflo_id.clone(),
                })
                .collect(),
            country,
        ),
    }
}

fn channels(list: &[config::Channel]) -> Vec<Channel> {
    list.iter()
        .map(|c| match c {
            config::Channel::Email => Channel::Email,
            config::Channel::Telegram => Channel::Telegram,
        })
        .collect()
}

/// Everyone who can be notified: agents and supervisors, with their channels.
pub fn roster_for(settings: &Settings) -> Roster {
    let agents = settings.agents.iter().map(|a| Contact {
        name: a.name.clone(),
        email: a.email.as_ref().map(ToString::to_string),
        telegram_chat_id: a.telegram_chat_id,
        channels: channels(&a.channels),
    });
    let supervisors = settings.supervisors.iter().map(|s| Contact {
        name: s.name.clone(),
        email: s.email.as_ref().map(ToString::to_string),
        telegram_chat_id: s.telegram_chat_id,
        channels: channels(&s.channels),
    });
    Roster {
        contacts: agents.chain(supervisors).collect(),
        email_enabled: settings.email.is_some(),
        telegram_enabled: settings.telegram.is_some(),
    }
}

/// Loads the templates (failing on any broken one) and builds the configured transports.
pub fn notifier_for(
    settings: &Settings,
    links: Option<Arc<LinkSigner>>,
) -> anyhow::Result<Notifier> {
    let templates = Templates::load(&settings.templates.dir).map_err(one_error)?;
    let email = settings
        .email
        .as_ref()
        .map(EmailSender::new)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let telegram = settings
        .telegram
        .as_ref()
        .map(TelegramSender::new)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("setting up Telegram")?;
    Ok(Notifier {
        email,
        telegram,
        templates,
        composer: Composer {
            zone: settings.reminders.timezone,
            public_url: settings.server.public_url.clone(),
            links,
            click_to_call: settings.smartflo.is_some(),
            agents: settings.agents.iter().map(|a| a.name.clone()).collect(),
        },
    })
}

/// The dashboard's pages (failing on any broken template) and its users.
pub fn dashboard_for(settings: &Settings) -> anyhow::Result<Dashboard> {
    Dashboard::load(&settings.templates.dir, settings.dashboard.users.clone()).map_err(one_error)
}

/// Files in `[templates].dir` that override nothing (a misspelt name, most likely).
pub fn template_warnings(settings: &Settings) -> Vec<String> {
    let known: Vec<&'static str> = crate::notify::templates::BUILTIN
        .iter()
        .chain(crate::web::dashboard::BUILTIN)
        .map(|(name, _)| *name)
        // Shipped beside the page templates, built in, not an override.
        .chain(["dashboard/ringback.css"])
        .collect();
    crate::templating::stray_files(&settings.templates.dir, &known)
        .iter()
        .map(|stray| format!("{}: {stray}", settings.templates.dir.display()))
        .collect()
}

/// Warnings about the rules `text`, valid but probably not meant for production (timings
/// under a minute); empty when they are fine or invalid.
pub fn rules_warnings(settings: &Settings, text: &RulesText) -> Vec<ConfigIssue> {
    validate_rules(text, Some(settings.reminders.timezone), &people(settings))
        .map(|v| v.warnings)
        .unwrap_or_default()
}

/// Several problems as one error, a line each.
fn one_error(problems: Vec<impl ToString>) -> anyhow::Error {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    anyhow::anyhow!("{}", lines.join("\n"))
}

/// Smartflo's click-to-call client, when `[smartflo].api_token` is set.
pub fn click_to_call_for(settings: &Settings) -> anyhow::Result<Option<ClickToCall>> {
    settings
        .smartflo
        .as_ref()
        .map(ClickToCall::new)
        .transpose()
        .map_err(anyhow::Error::msg)
}

/// The people the Telegram bot answers: agents and supervisors with a chat id.
pub fn bot_users_for(settings: &Settings) -> Vec<BotUser> {
    let agents = settings.agents.iter().filter_map(|a| {
        Some(BotUser {
            telegram_id: a.telegram_chat_id?,
            name: a.name.clone(),
            agent: Some(AgentRef {
                name: a.name.clone(),
                number: a.number.clone(),
            }),
        })
    });
    let supervisors = settings.supervisors.iter().filter_map(|s| {
        Some(BotUser {
            telegram_id: s.telegram_chat_id?,
            name: s.name.clone(),
            agent: None,
        })
    });
    agents.chain(supervisors).collect()
}
