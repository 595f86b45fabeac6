//! Delivering reminders: email (lettre), Telegram (teloxide) and the log, with texts from
//! templates. The scheduler decides what to send; this module only sends it and says how
//! it went.

pub mod email;
pub mod message;
pub mod telegram;
pub mod templates;

use std::time::Duration;

use crate::domain::callback::Callback;
use crate::domain::reminder::Delivery;
pub use message::{Composer, Message};
use templates::Templates;

/// What a transport reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    Sent,
    /// Worth retrying (connection refused, 4xx, 429); `retry_after` when the server said.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will fail again (address rejected, chat not found).
    Permanent(String),
}

pub struct Notifier {
    pub email: Option<email::EmailSender>,
    pub telegram: Option<telegram::TelegramSender>,
    pub templates: Templates,
    pub composer: Composer,
}

impl Notifier {
    pub async fn send(
        &self,
        cb: &Callback,
        delivery: &Delivery,
        now: chrono::DateTime<chrono::Utc>,
    ) -> SendResult {
        let message = match self.composer.compose(&self.templates, cb, delivery, now) {
            Ok(m) => m,
            Err(e) => return SendResult::Permanent(e.to_string()),
        };
        let recipient = &delivery.recipient;
        match message {
            Message::Email {
                subject,
                text,
                html,
            } => match &self.email {
                Some(sender) => {
                    sender
                        .send(&recipient.name, &recipient.address, subject, text, html)
                        .await
                }
                None => SendResult::Permanent("email is not configured".into()),
            },
            Message::Telegram { html } => match &self.telegram {
                Some(sender) => sender.send(&recipient.address, html).await,
                None => SendResult::Permanent("Telegram is not configured".into()),
            },
            Message::Log { line } => {
                tracing::warn!(
                    target: "ringback::reminder",
                    "REMINDER via log (no email or Telegram reaches {}): {line}",
                    recipient.name
                );
                SendResult::Sent
            }
        }
    }
}
