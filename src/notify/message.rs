//! What a reminder says: the template context for one delivery of one callback.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use super::templates::{MessageContext, TemplateError, Templates};
use crate::domain::callback::Callback;
use crate::domain::reminder::{Channel, Delivery};

/// A reminder rendered for one channel (only what that channel sends is rendered).
#[derive(Debug, Clone)]
pub enum Message {
    Email {
        subject: String,
        text: String,
        html: String,
    },
    Telegram {
        html: String,
    },
    Log {
        line: String,
    },
}

/// Renders callbacks into messages: local times, links under `public_url`.
#[derive(Debug, Clone)]
pub struct Composer {
    pub zone: Tz,
    pub public_url: Url,
}

impl Composer {
    pub fn link(&self, cb: &Callback) -> String {
        format!(
            "{}/callbacks/{}",
            self.public_url.as_str().trim_end_matches('/'),
            cb.id
        )
    }

    fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.zone)
            .format("%-d %b %Y, %H:%M")
            .to_string()
    }

    pub fn context(&self, cb: &Callback, delivery: &Delivery) -> MessageContext {
        MessageContext {
            customer: cb.customer_number.to_string(),
            customer_national: cb.customer_number.national(),
            missed_calls: cb.missed_calls,
            first_missed_at: self.local(cb.first_missed_at),
            last_missed_at: self.local(cb.last_missed_at),
            agent: cb.assigned_agent.as_ref().map(|a| a.name.clone()),
            recipient: delivery.recipient.name.clone(),
            department: cb.department.clone(),
            attempts: cb.attempts,
            round: delivery.round,
            link: self.link(cb),
            callback_id: cb.id.to_string(),
        }
    }

    pub fn compose(
        &self,
        templates: &Templates,
        cb: &Callback,
        delivery: &Delivery,
    ) -> Result<Message, TemplateError> {
        let ctx = self.context(cb, delivery);
        Ok(match delivery.recipient.channel {
            Channel::Email => Message::Email {
                subject: templates.render("reminder.subject.txt", &ctx)?,
                text: templates.render("reminder.txt", &ctx)?,
                html: templates.render("reminder.html", &ctx)?,
            },
            Channel::Telegram => Message::Telegram {
                html: templates.render("reminder.telegram.html", &ctx)?,
            },
            Channel::Log => Message::Log {
                line: templates.render("reminder.log.txt", &ctx)?,
            },
        })
    }
}
