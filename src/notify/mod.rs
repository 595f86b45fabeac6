//! Delivering messages: email (lettre), Telegram (teloxide) and the log, with texts from
//! templates. The scheduler decides what to send; this module only sends it and says how
//! it went.

pub mod digest;
pub mod email;
pub mod message;
pub mod telegram;
pub mod templates;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::actions::{Outcome, QuickAction};
use crate::domain::callback::Callback;
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
}

/// A button's label; SPEC §6.1 fixes how each starts after the emoji.
pub fn button_label(action: QuickAction) -> &'static str {
    match action {
        QuickAction::CallBack => "📞 Call back now",
        QuickAction::Snooze => "😴 Snooze 30 min",
        QuickAction::Take => "🙋 I'll take it",
        QuickAction::CalledBack => "✅ Called back",
        QuickAction::Outcome(o) => outcome_label(o),
    }
}

/// An outcome's button label (Telegram, the signed view's buttons, email links).
pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::NoAnswer => "📵 No answer",
        Outcome::Busy => "⛔ Busy",
        Outcome::SwitchedOff => "📴 Switched off",
        Outcome::WrongNumber => "❌ Wrong number",
        Outcome::CallLater => "⏰ Call later (1 h)",
    }
}

/// What the presser is told, and the line shown on the message, for a recorded outcome.
pub fn outcome_words(
    outcome: Outcome,
    at: Option<chrono::DateTime<chrono::Utc>>,
    who: &str,
    local: impl Fn(chrono::DateTime<chrono::Utc>) -> String,
) -> (String, String) {
    match (outcome, at) {
        (Outcome::WrongNumber, _) => (
            "Recorded: wrong number. The callback is closed.".into(),
            format!("❌ Wrong number, recorded by {who}"),
        ),
        (Outcome::CallLater, Some(at)) => (
            format!("Recorded. Reminders resume at {}.", local(at)),
            format!(
                "⏰ Customer asked to be called at {}, recorded by {who}",
                local(at)
            ),
        ),
        (o, _) => (
            format!("Recorded: {}.", o.words()),
            format!("{} — recorded by {who}", outcome_label(o)),
        ),
    }
}

impl Notifier {
    /// The buttons under a Telegram message to `recipient` about a pending callback ("I'll
    /// take it" only for other agents than the assigned one).
    pub fn buttons(&self, cb: &Callback, recipient: &str) -> Vec<Vec<Button>> {
        let button = |a: QuickAction| (button_label(a).to_string(), a.data(cb.id));
        let mut rows = Vec::new();
        if self.composer.click_to_call {
            rows.push(vec![button(QuickAction::CallBack)]);
        }
        let mut middle = vec![button(QuickAction::Snooze)];
        if self.composer.may_take(cb, recipient) {
            middle.push(button(QuickAction::Take));
        }
        rows.push(middle);
        // What happened when they tried: two rows of outcomes (SPEC §11).
        let outcome = |o: Outcome| button(QuickAction::Outcome(o));
        rows.push(vec![
            outcome(Outcome::NoAnswer),
            outcome(Outcome::Busy),
            outcome(Outcome::SwitchedOff),
        ]);
        rows.push(vec![
            outcome(Outcome::WrongNumber),
            outcome(Outcome::CallLater),
        ]);
        rows.push(vec![button(QuickAction::CalledBack)]);
        rows
    }

    pub async fn send(&self, cb: &Callback, delivery: &Delivery, now: DateTime<Utc>) -> SendResult {
        let message = match self.composer.compose(&self.templates, cb, delivery, now) {
            Ok(m) => m,
            Err(e) => return SendResult::Permanent(e.to_string()),
        };
        let buttons = self.buttons(cb, &delivery.recipient.name);
        self.transmit(message, delivery, &buttons, "REMINDER").await
    }

    /// Sends a shift digest (no buttons: it is about many callbacks).
    pub async fn send_digest(&self, delivery: &Delivery, now: DateTime<Utc>) -> SendResult {
        let message = match self.composer.compose_digest(&self.templates, delivery, now) {
            Ok(m) => m,
            Err(e) => return SendResult::Permanent(e.to_string()),
        };
        self.transmit(message, delivery, &[], "DIGEST").await
    }

    /// Hands a rendered message to its transport.
    async fn transmit(
        &self,
        message: Message,
        delivery: &Delivery,
        buttons: &[Vec<Button>],
        what: &str,
    ) -> SendResult {
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
                Ok(sender) => sender.send(&recipient.address, html, buttons).await,
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
                    "{what} via log (no email or Telegram reaches {}): {line}",
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
        use crate::domain::callback::CallbackId;
        let id: CallbackId = "01M8MKQFH12E6PMJQ6D48WEJRS".parse().unwrap();
        for action in QuickAction::ALL {
            let data = action.data(id);
            assert!(data.len() <= 64, "{data}");
            assert_eq!(QuickAction::parse(&data), Some((action, id)));
        }
        assert_eq!(QuickAction::parse("nope:01M8MKQFH12E6PMJQ6D48WEJRS"), None);
        assert_eq!(QuickAction::parse("take:not-an-id"), None);
    }
}
