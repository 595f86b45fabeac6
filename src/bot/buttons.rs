//! Presses of the buttons under reminders: act as the person who pressed, answer the press,
//! and edit the message to show the callback as it is now.

use chrono::Duration as Age;
use teloxide::types::CallbackQuery;

use super::{BotUser, TelegramBot};
use crate::app::{ActOutcome, CallOutcome};
use crate::display::local_time;
use crate::domain::actions::{Action, ActionError, CALL_LATER_MINUTES, Outcome, QuickAction};
use crate::domain::callback::CallbackId;

const SNOOZE_MINUTES: i64 = 30;

impl TelegramBot {
    pub(super) async fn on_button(&self, query: CallbackQuery) {
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
        let now = self.app.now();
        let act = |action: Action| async move { self.app.act(id, action, &user.name).await };
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
            QuickAction::Outcome(outcome) => {
                let at =
                    (outcome == Outcome::CallLater).then(|| now + Age::minutes(CALL_LATER_MINUTES));
                act(Action::Outcome { outcome, at }).await.map(|o| {
                    let (answer, line) =
                        crate::notify::outcome_words(outcome, at, &user.name, |t| {
                            local_time(t, self.notifier.composer.zone)
                        });
                    (o, answer, line)
                })
            }
            QuickAction::CalledBack => act(Action::Resolve {
                reason: "called back (Telegram)".into(),
            })
            .await
            .map(|o| (o, "Marked as called back.".to_string(), String::new())),
            QuickAction::CallBack => {
                let agent = user.agent.as_ref().map(|a| a.name.as_str());
                return match self.app.call_back(id, agent, &user.name).await {
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
            Ok((ActOutcome::Unchanged(_), ..)) => {
                let answer = match action {
                    QuickAction::Take => "It is yours already.",
                    _ => "Recorded already; it counts once.",
                };
                (answer.into(), String::new())
            }
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
        let Ok(Some(cb)) = self
            .app
            .store
            .callback(id)
            .await
            .map(|c| c.map(|c| c.value))
        else {
            return;
        };
        let recipient = self.user(chat).map_or("", |u| u.name.as_str());
        let html = match self.notifier.composer.status(
            &self.notifier.templates,
            &cb,
            outcome,
            recipient,
            self.app.now(),
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
}
