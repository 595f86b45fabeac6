//! What a reminder says: the template context for one delivery of one callback.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use super::templates::{MessageContext, TemplateError, Templates};
use crate::display::{humane_age, local_time};
use crate::domain::callback::Callback;
use crate::domain::reminder::{Channel, Delivery, Purpose};

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
        local_time(t, self.zone)
    }

    pub fn context(
        &self,
        cb: &Callback,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> MessageContext {
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
            level: match delivery.purpose {
                Purpose::Escalation => delivery.round,
                Purpose::Reminder => 0,
            },
            age: humane_age(now - cb.first_received_at),
            link: self.link(cb),
            callback_id: cb.id.to_string(),
        }
    }

    pub fn compose(
        &self,
        templates: &Templates,
        cb: &Callback,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<Message, TemplateError> {
        let ctx = self.context(cb, delivery, now);
        let kind = match delivery.purpose {
            Purpose::Reminder => "reminder",
            Purpose::Escalation => "escalation",
        };
        let render = |part: &str| templates.render(&format!("{kind}.{part}"), &ctx);
        Ok(match delivery.recipient.channel {
            Channel::Email => Message::Email {
                subject: render("subject.txt")?,
                text: render("txt")?,
                html: render("html")?,
            },
            Channel::Telegram => Message::Telegram {
                html: render("telegram.html")?,
            },
            Channel::Log => Message::Log {
                line: render("log.txt")?,
            },
        })
    }
}
