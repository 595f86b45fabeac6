//! Messages to the bot: `/start` (your chat id and how to register it), `/pending` (your
//! open callbacks, oldest first), and a short answer to anything else.

use teloxide::types::Message;

use super::{BotUser, TelegramBot, html_escape};
use crate::display::humane_age;
use crate::domain::callback::Callback;
use crate::store::{ListQuery, StatusFilter};

/// Most callbacks listed by `/pending`.
const PENDING_SHOWN: usize = 20;

impl TelegramBot {
    pub(super) async fn on_message(&self, message: Message) {
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
        let listed = self
            .app
            .store
            .list_callbacks(ListQuery {
                status: StatusFilter::Pending,
                limit: 10_000,
                after: None,
                ..ListQuery::default()
            })
            .await;
        let Ok(page) = listed else {
            return "Ringback could not read the pending list just now.".into();
        };
        let mine: Vec<&Callback> = page
            .callbacks
            .iter()
            .filter(|c| match &user.agent {
                Some(agent) => c
                    .assigned_agent
                    .as_ref()
                    .is_some_and(|a| a.name.eq_ignore_ascii_case(&agent.name)),
                None => true,
            })
            .collect();
        if mine.is_empty() {
            return "Nothing pending for you. 🎉".into();
        }
        let now = self.app.now();
        let composer = &self.notifier.composer;
        let mut lines = vec![format!("<b>{} pending</b>, oldest first:", mine.len())];
        for cb in mine.iter().take(PENDING_SHOWN) {
            lines.push(format!(
                "• <a href=\"{}\">{}</a> — missed {}×, waiting {}{}",
                composer.link_for(cb, &user.name, now),
                // Masked under `[privacy] mask_numbers`, as in every other message.
                html_escape(&composer.customer(&cb.customer_number)),
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
