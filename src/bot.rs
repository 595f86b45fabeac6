//! The Telegram bot (SPEC §6.1, issue 5): long-polls the Bot API through teloxide for
//! button presses and commands.
//!
//! - Buttons under reminders — call back now, snooze 30 min, I'll take it, called back —
//!   act through [`Operations`] as the person who pressed them, but only when that person
//!   (`from.id`) is a configured agent or supervisor. Every press is answered, and the
//!   message is edited to show what happened.
//! - `/pending` lists the sender's open callbacks, oldest first; `/start` tells anyone their
//!   chat id and how to register it. Chats that are not configured are logged and listed for
//!   admins on the dashboard.
//! - The offset of the next update is stored after each batch, so a restart neither replays
//!   presses (a second click-to-call) nor loses them.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Age;
use teloxide::payloads::GetUpdatesSetters;
use teloxide::prelude::Requester;
use teloxide::types::{AllowedUpdate, CallbackQuery, Message, Update, UpdateKind, User};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::display::{humane_age, local_time};
use crate::domain::actions::{Action, ActionError, QuickAction};
use crate::domain::agent::AgentRef;
use crate::domain::callback::{Callback, CallbackId};
use crate::notify::Notifier;
use crate::operations::{CallOutcome, Operations};
use crate::store::{ActOutcome, ListQuery, StatusFilter, Store, UnknownChat};

/// How long each getUpdates call waits for news (Telegram's long poll).
const LONG_POLL_SECS: u32 = 25;
const SNOOZE_MINUTES: i64 = 30;
/// Most callbacks listed by `/pending`.
const PENDING_SHOWN: usize = 20;

/// A configured person the bot recognises by Telegram id.
#[derive(Debug, Clone)]
pub struct BotUser {
    pub telegram_id: i64,
    pub name: String,
    /// The agent they are, if they are one (supervisors are not).
    pub agent: Option<AgentRef>,
}

pub struct TelegramBot {
    pub notifier: Arc<Notifier>,
    pub ops: Arc<Operations>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub users: Vec<BotUser>,
}

impl TelegramBot {
    fn user(&self, id: i64) -> Option<&BotUser> {
        self.users.iter().find(|u| u.telegram_id == id)
    }

    /// Polls until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(telegram) = &self.notifier.telegram else {
            return;
        };
        let mut offset = self.store.telegram_offset().unwrap_or(0);
        loop {
            let request = telegram
                .bot()
                .get_updates()
                .offset(i32::try_from(offset).unwrap_or(i32::MAX))
                .timeout(LONG_POLL_SECS)
                .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
            let updates = tokio::select! {
                r = request => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            let updates = match updates {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(error = %crate::notify::telegram::redact(&e.to_string()), "Telegram getUpdates failed; retrying in 5 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            };
            if updates.is_empty() {
                continue;
            }
            for update in updates {
                offset = offset.max(i64::from(update.id.0) + 1);
                self.handle(update).await;
            }
            if let Err(e) = self.store.save_telegram_offset(offset).await {
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
        let now = self.clock.now();
        tracing::warn!(chat, name = %from.map(User::full_name).unwrap_or_default(), "message from a Telegram chat that is not configured");
        let record = UnknownChat {
            chat_id: chat,
            name: from.map(User::full_name).unwrap_or_default(),
            username: from.and_then(|u| u.username.clone()),
            last_text: text.chars().take(200).collect(),
            first_seen: now,
            last_seen: now,
            messages: 1,
        };
        if let Err(e) = self.store.note_unknown_chat(record).await {
            tracing::error!(error = %e, "recording an unknown Telegram chat failed");
        }
    }

    async fn on_button(&self, query: CallbackQuery) {
        let Some(telegram) = &self.notifier.telegram else {
            return;
        };
        let from = i64::try_from(query.from.id.0).unwrap_or_default();
        let Some(user) = self.user(from).cloned() else {
            telegram
                .answer(
                    &query.id.0,
                    "You are not registered with Ringback, so nothing was done.",
                    true,
                )
                .await;
            self.note_unknown(
                Some(&query.from),
                from,
                query.data.as_deref().unwrap_or("(button)"),
            )
            .await;
            return;
        };
        let Some((action, id)) = query.data.as_deref().and_then(QuickAction::parse) else {
            telegram
                .answer(&query.id.0, "This button is no longer understood.", false)
                .await;
            return;
        };
        let (answer, outcome) = self.perform(action, id, &user).await;
        telegram.answer(&query.id.0, &answer, false).await;
        if let Some(message) = &query.message {
            self.show_outcome(id, message.chat().id.0, message.id().0, &outcome)
                .await;
        }
    }

    /// Does what a button asks; returns the answer for the presser and the line to show
    /// on the message.
    async fn perform(
        &self,
        action: QuickAction,
        id: CallbackId,
        user: &BotUser,
    ) -> (String, String) {
        let now = self.clock.now();
        let act = |action: Action| async move { self.ops.act(id, action, &user.name).await };
        let result = match action {
            QuickAction::Snooze => {
                let until = now + Age::minutes(SNOOZE_MINUTES);
                act(Action::Snooze { until }).await.map(|o| {
                    let until = local_time(until, self.notifier.composer.zone);
                    (
                        o,
                        format!("Snoozed until {until}."),
                        format!("😴 Snoozed until {until} by {}", user.name),
                    )
                })
            }
            QuickAction::Take => match &user.agent {
                None => return ("Only agents can take a callback.".into(), String::new()),
                Some(agent) => act(Action::Assign {
                    agent: agent.clone(),
                })
                .await
                .map(|o| {
                    (
                        o,
                        "It is yours.".to_string(),
                        format!("🙋 {} will call back", user.name),
                    )
                }),
            },
            QuickAction::CalledBack => act(Action::Resolve {
                reason: "called back (Telegram)".into(),
            })
            .await
            .map(|o| (o, "Marked as called back.".to_string(), String::new())),
            QuickAction::CallBack => {
                let agent = user.agent.as_ref().map(|a| a.name.as_str());
                return match self.ops.call_back(id, agent, &user.name).await {
                    Ok(CallOutcome::Placed { agent, .. }) => (
                        format!("Smartflo is ringing {agent}; answer to be connected."),
                        format!(
                            "📞 Calling: Smartflo is ringing {agent} (asked by {})",
                            user.name
                        ),
                    ),
                    Ok(CallOutcome::Failed { reason, .. }) => (
                        format!("The call could not be placed: {reason}"),
                        format!("⚠️ The call could not be placed: {reason}"),
                    ),
                    Ok(CallOutcome::Refused(why)) => (format!("Not placed: {why}."), String::new()),
                    Err(e) => {
                        tracing::error!(error = %e, "click-to-call from Telegram failed on storage");
                        (
                            "Ringback could not record that; try again.".into(),
                            String::new(),
                        )
                    }
                };
            }
        };
        match result {
            Ok((ActOutcome::Done(_), answer, line)) => (answer, line),
            Ok((ActOutcome::NotFound, ..)) => {
                ("That callback no longer exists.".into(), String::new())
            }
            Ok((ActOutcome::Refused(ActionError::AlreadyResolved), ..)) => {
                ("Already resolved.".into(), String::new())
            }
            Ok((ActOutcome::Refused(e), ..)) => (format!("Not done: {e}."), String::new()),
            Err(e) => {
                tracing::error!(error = %e, "a Telegram action failed on storage");
                (
                    "Ringback could not record that; try again.".into(),
                    String::new(),
                )
            }
        }
    }

    /// Edits the pressed message: the callback as it is now, and what just happened.
    async fn show_outcome(&self, id: CallbackId, chat: i64, message: i32, outcome: &str) {
        let Some(telegram) = &self.notifier.telegram else {
            return;
        };
        let store = Arc::clone(&self.store);
        let Ok(Ok(Some(cb))) = tokio::task::spawn_blocking(move || store.callback(id)).await else {
            return;
        };
        let recipient = self.user(chat).map_or("", |u| u.name.as_str());
        let html = match self.notifier.composer.status(
            &self.notifier.templates,
            &cb,
            outcome,
            recipient,
            self.clock.now(),
        ) {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, "rendering a Telegram status failed");
                return;
            }
        };
        let buttons = if cb.is_pending() {
            self.notifier.buttons(&cb, recipient)
        } else {
            Vec::new()
        };
        telegram.edit(chat, message, html, &buttons).await;
    }

    async fn on_message(&self, message: Message) {
        let Some(telegram) = &self.notifier.telegram else {
            return;
        };
        let chat = message.chat.id.0;
        let text = message.text().unwrap_or_default().trim().to_string();
        let command = text.split_whitespace().next().unwrap_or_default();
        let command = command.split('@').next().unwrap_or_default();
        let sender = message
            .from
            .as_ref()
            .and_then(|u| i64::try_from(u.id.0).ok())
            .unwrap_or(chat);
        let user = self.user(sender).or_else(|| self.user(chat)).cloned();
        match (command, &user) {
            ("/start", Some(u)) => {
                telegram
                    .reply(chat, format!("Hello {}. Your chat id is <code>{chat}</code>; Ringback knows you. Send /pending to see your open callbacks.", html_escape(&u.name)))
                    .await;
            }
            ("/start", None) => {
                telegram
                    .reply(chat, format!("Your chat id is <code>{chat}</code>. Ask your Ringback admin to add <code>telegram_chat_id = {chat}</code> to your [[agents]] or [[supervisors]] entry; then reminders come here."))
                    .await;
                self.note_unknown(message.from.as_ref(), chat, &text).await;
            }
            ("/pending", Some(u)) => {
                let reply = self.pending_for(u).await;
                telegram.reply(chat, reply).await;
            }
            (_, None) => {
                telegram
                    .reply(chat, format!("You are not registered with Ringback. Your chat id is <code>{chat}</code>; send /start for how to register."))
                    .await;
                self.note_unknown(message.from.as_ref(), chat, &text).await;
            }
            (_, Some(_)) => {
                telegram
                    .reply(
                        chat,
                        "Commands: /pending (your open callbacks), /start.".into(),
                    )
                    .await;
            }
        }
    }

    /// `/pending`: an agent's own open callbacks, or every one for a supervisor.
    async fn pending_for(&self, user: &BotUser) -> String {
        let store = Arc::clone(&self.store);
        let listed = tokio::task::spawn_blocking(move || {
            store.list_callbacks(&ListQuery {
                status: StatusFilter::Pending,
                limit: 10_000,
                after: None,
            })
        })
        .await;
        let Ok(Ok(page)) = listed else {
            return "Ringback could not read the pending list just now.".into();
        };
        let mine: Vec<&Callback> = page
            .callbacks
            .iter()
            .filter(|c| match &user.agent {
                Some(agent) => c
                    .assigned_agent
                    .as_ref()
                    .is_some_and(|a| a.name == agent.name),
                None => true,
            })
            .collect();
        if mine.is_empty() {
            return "Nothing pending for you. 🎉".into();
        }
        let now = self.clock.now();
        let composer = &self.notifier.composer;
        let mut lines = vec![format!("<b>{} pending</b>, oldest first:", mine.len())];
        for cb in mine.iter().take(PENDING_SHOWN) {
            lines.push(format!(
                "• <a href=\"{}\">{}</a> — missed {}×, waiting {}{}",
                composer.link_for(cb, &user.name, now),
                cb.customer_number,
                cb.missed_calls,
                humane_age(now - cb.first_received_at),
                cb.assigned_agent
                    .as_ref()
                    .filter(|_| user.agent.is_none())
                    .map(|a| format!(", {}", html_escape(&a.name)))
                    .unwrap_or_default(),
            ));
        }
        if mine.len() > PENDING_SHOWN {
            lines.push(format!("… and {} more.", mine.len() - PENDING_SHOWN));
        }
        lines.join("\n")
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
