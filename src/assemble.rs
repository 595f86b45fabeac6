//! Builds the running parts from validated [`Settings`]: the payload interpreter, the
//! roster of people to notify, the notifier with its templates and transports, and
//! Smartflo's click-to-call client.

use anyhow::Context;

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::agent::{AgentDirectory, DirectoryEntry};
use crate::domain::reminder::{Contact, Roster};
use crate::links::LinkSigner;
use crate::notify::templates::Templates;
use crate::notify::{Composer, Notifier, email::EmailSender, telegram::TelegramSender};
use crate::smartflo::Interpreter;
use crate::smartflo::click_to_call::ClickToCall;

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

/// Everyone who can be notified: agents and supervisors, with their channels.
pub fn roster_for(settings: &Settings) -> Roster {
    let agents = settings.agents.iter().map(|a| Contact {
        name: a.name.clone(),
        email: a.email.as_ref().map(ToString::to_string),
        telegram_chat_id: a.telegram_chat_id,
        channels: a.channels.clone(),
    });
    let supervisors = settings.supervisors.iter().map(|s| Contact {
        name: s.name.clone(),
        email: s.email.as_ref().map(ToString::to_string),
        telegram_chat_id: s.telegram_chat_id,
        channels: s.channels.clone(),
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
            mask_numbers: settings.extras.privacy.mask_numbers,
            languages: settings
                .agents
                .iter()
                .map(|a| (&a.name, &a.language))
                .chain(settings.supervisors.iter().map(|s| (&s.name, &s.language)))
                .filter_map(|(name, lang)| lang.clone().map(|l| (name.clone(), l)))
                .collect(),
            chats: settings
                .agents
                .iter()
                .map(|a| (&a.name, a.telegram_chat_id))
                .chain(
                    settings
                        .supervisors
                        .iter()
                        .map(|s| (&s.name, s.telegram_chat_id)),
                )
                .filter_map(|(name, chat)| chat.map(|c| (c, name.clone())))
                .collect(),
        },
    })
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

/// Several problems as one error, a line each.
pub fn one_error(problems: Vec<impl ToString>) -> anyhow::Error {
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
