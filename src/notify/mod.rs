//! Delivering messages: email (lettre), Telegram (teloxide) and the log, with texts from
//! templates. The scheduler decides what to send; this module only sends it and says how
//! it went.

pub mod email;
pub mod message;
pub mod telegram;
pub mod templates;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::callback::{Callback, CallbackId};
use crate::domain::reminder::Delivery;
pub use message::{Composer, Message};
use telegram::Button;
use templates::Templates;

/// What a transport reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// Delivered; `message` is the Telegram message id when there is one.
    Sent { message: Option<i32> },
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
    /// Whether "Call back now" can be offered (Smartflo click-to-call is configured).
    pub click_to_call: bool,
}

/// What a button asks for; its data is `<action>:<callback id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    CallBack,
    Snooze,
    Take,
    CalledBack,
}

impl ButtonAction {
    const ALL: [ButtonAction; 4] = [Self::CallBack, Self::Snooze, Self::Take, Self::CalledBack];

    fn code(self) -> &'static str {
        match self {
            Self::CallBack => "call",
            Self::Snooze => "snooze",
            Self::Take => "take",
            Self::CalledBack => "done",
        }
    }

    /// The label; SPEC §6.1 fixes how each starts after the emoji.
    fn label(self) -> &'static str {
        match self {
            Self::CallBack => "📞 Call back now",
            Self::Snooze => "😴 Snooze 30 min",
            Self::Take => "🙋 I'll take it",
            Self::CalledBack => "✅ Called back",
        }
    }

    pub fn data(self, id: CallbackId) -> String {
        format!("{}:{id}", self.code())
    }

    /// Reads a button's data back.
    pub fn parse(data: &str) -> Option<(Self, CallbackId)> {
        let (code, id) = data.split_once(':')?;
        let action = Self::ALL.into_iter().find(|a| a.code() == code)?;
        Some((action, id.parse().ok()?))
    }
}

impl Notifier {
    /// The buttons under a Telegram message about a pending callback.
    pub fn buttons(&self, id: CallbackId) -> Vec<Vec<Button>> {
        let button = |a: ButtonAction| (a.label().to_string(), a.data(id));
        let mut rows = Vec::new();
        if self.click_to_call {
            rows.push(vec![button(ButtonAction::CallBack)]);
        }
        rows.push(vec![
            button(ButtonAction::Snooze),
            button(ButtonAction::Take),
        ]);
        rows.push(vec![button(ButtonAction::CalledBack)]);
        rows
    }

    pub async fn send(&self, cb: &Callback, delivery: &Delivery, now: DateTime<Utc>) -> SendResult {
        let message = match self.composer.compose(&self.templates, cb, delivery, now) {
            Ok(m) => m,
            Err(e) => return SendResult::Permanent(e.to_string()),
        };
        let recipient = &delivery.recipient;
        let telegram = || {
            self.telegram
                .as_ref()
                .ok_or(SendResult::Permanent("Telegram is not configured".into()))
        };
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
            Message::Telegram { html } => match telegram() {
                Ok(sender) => {
                    sender
                        .send(&recipient.address, html, &self.buttons(cb.id))
                        .await
                }
                Err(e) => e,
            },
            Message::TelegramEdit { message, html } => {
                match (telegram(), recipient.address.parse::<i64>()) {
                    (Ok(sender), Ok(chat)) => sender.edit(chat, message, html, &[]).await,
                    (Err(e), _) => e,
                    (_, Err(_)) => SendResult::Permanent(format!(
                        "{:?} is not a Telegram chat id",
                        recipient.address
                    )),
                }
            }
            Message::Log { line } => {
                tracing::warn!(
                    target: "ringback::reminder",
                    "REMINDER via log (no email or Telegram reaches {}): {line}",
                    recipient.name
                );
                SendResult::Sent { message: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_data_round_trips_and_fits_telegrams_64_bytes() {
        let id: CallbackId = "01M8MKQFH12E6PMJQ6D48WEJRS".parse().unwrap();
        for action in ButtonAction::ALL {
            let data = action.data(id);
            assert!(data.len() <= 64, "{data}");
            assert_eq!(ButtonAction::parse(&data), Some((action, id)));
        }
        assert_eq!(ButtonAction::parse("nope:01M8MKQFH12E6PMJQ6D48WEJRS"), None);
        assert_eq!(ButtonAction::parse("take:not-an-id"), None);
    }
}
