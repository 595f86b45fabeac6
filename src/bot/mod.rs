//! The Telegram bot (SPEC §6.1): the second inbound door beside `web/`. It long-polls the
//! Bot API through teloxide for button presses (`buttons.rs`) and commands (`commands.rs`).
//!
//! - Buttons under reminders — call back now, snooze 30 min, I'll take it, called back —
//!   act through the application as the person who pressed them, but only when that person
//!   (`from.id`) is a configured agent or supervisor. Every press is answered, and the
//!   message is edited to show what happened.
//! - `/pending` lists the sender's open callbacks, oldest first; `/start` tells anyone their
//!   chat id and how to register it. Chats that are not configured are logged and listed for
//!   admins on the dashboard.
//! - The offset of the next update is stored after each batch, so a restart neither replays
//!   presses (a second click-to-call) nor loses them. Update ids are 64-bit ([`updates`]).

mod buttons;
mod commands;
mod updates;

use std::sync::Arc;
use std::time::Duration;

use teloxide::requests::JsonRequest;
use teloxide::types::{AllowedUpdate, Update, UpdateKind, User};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::Settings;
use crate::domain::agent::AgentRef;
use crate::notify::Notifier;
use crate::smartflo::event::{MAX_TEXT, clip};
use crate::store::{Lead, UnknownChat};

/// How long each getUpdates call waits for news (Telegram's long poll).
const LONG_POLL_SECS: u32 = 25;
/// The role only one replica holds at a time.
const POLLER_ROLE: &str = "telegram-poller";
/// How often a standing-by replica tries to take the poller's role.
pub const LEAD_RETRY: Duration = Duration::from_secs(10);

/// A configured person the bot recognises by Telegram id.
#[derive(Debug, Clone)]
pub struct BotUser {
    pub telegram_id: i64,
    pub name: String,
    /// The agent they are, if they are one (supervisors are not).
    pub agent: Option<AgentRef>,
}

/// The people the bot answers: agents and supervisors with a chat id.
pub fn users_for(settings: &Settings) -> Vec<BotUser> {
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

pub struct TelegramBot {
    pub notifier: Arc<Notifier>,
    pub app: Arc<App>,
    pub users: Vec<BotUser>,
}

impl TelegramBot {
    fn user(&self, id: i64) -> Option<&BotUser> {
        self.users.iter().find(|u| u.telegram_id == id)
    }

    /// Polls until `stop` is cancelled — while this process holds the poller's role: with
    /// several replicas on one database exactly one polls (Telegram answers a second poller
    /// 409 Conflict), and another takes over within [`LEAD_RETRY`] of its holder stopping.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        if self.notifier.telegram.is_none() {
            return;
        }
        let mut waiting_logged = false;
        loop {
            match self.app.store.try_lead(POLLER_ROLE).await {
                Ok(Some(lead)) => {
                    tracing::info!("polling Telegram for button presses and commands");
                    waiting_logged = false;
                    if self.poll_while_leading(lead, &stop).await {
                        return;
                    }
                    tracing::warn!("no longer the Telegram poller; another replica may take over");
                }
                Ok(None) if !waiting_logged => {
                    tracing::info!("another replica polls Telegram; standing by");
                    waiting_logged = true;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e.describe(), "could not take the Telegram poller's role; retrying")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(LEAD_RETRY) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Polls while `lead` holds; true when stopped, false when the lead was lost.
    async fn poll_while_leading(&self, mut lead: Box<dyn Lead>, stop: &CancellationToken) -> bool {
        let Some(telegram) = &self.notifier.telegram else {
            return true;
        };
        // Another replica may have moved the offset on while it polled.
        let mut offset = self.app.store.telegram_offset().await.unwrap_or(0);
        loop {
            if !lead.still_held().await {
                return false;
            }
            let request = JsonRequest::new(
                telegram.bot().clone(),
                updates::GetUpdates {
                    offset,
                    timeout: LONG_POLL_SECS,
                    allowed_updates: vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery],
                },
            );
            let updates = tokio::select! {
                r = request => r.map(updates::read),
                _ = stop.cancelled() => return true,
            };
            let updates = match updates {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(error = %crate::notify::telegram::redact(&e.to_string()), "Telegram getUpdates failed; retrying in 5 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                        _ = stop.cancelled() => return true,
                    }
                }
            };
            if updates.is_empty() {
                continue;
            }
            for polled in updates {
                offset = offset.max(polled.id.saturating_add(1));
                if let Some(update) = polled.update {
                    self.handle(update).await;
                }
            }
            if let Err(e) = self.app.store.save_telegram_offset(offset).await {
                tracing::error!(error = %e, "storing the Telegram update offset failed");
            }
        }
    }

    async fn handle(&self, update: Update) {
        match update.kind {
            UpdateKind::CallbackQuery(query) => self.on_button(query).await,
            UpdateKind::Message(message) => self.on_message(message).await,
            _ => {}
        }
    }

    async fn note_unknown(&self, from: Option<&User>, chat: i64, text: &str) {
        let now = self.app.now();
        tracing::warn!(chat, name = %from.map(User::full_name).unwrap_or_default(), "message from a Telegram chat that is not configured");
        let record = UnknownChat {
            chat_id: chat,
            // Bounded like every other stored text from outside (smartflo::event::MAX_TEXT).
            name: clip(&from.map(User::full_name).unwrap_or_default(), MAX_TEXT),
            username: from.and_then(|u| u.username.as_deref().map(|n| clip(n, MAX_TEXT))),
            last_text: text.chars().take(200).collect(),
            first_seen: now,
            last_seen: now,
            messages: 1,
        };
        if let Err(e) = self.app.store.note_unknown_chat(record).await {
            tracing::error!(error = %e, "recording an unknown Telegram chat failed");
        }
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
