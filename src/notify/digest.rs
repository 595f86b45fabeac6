//! A shift digest rendered for one recipient (SPEC §11): the report kept with the delivery,
//! in the recipient's language, numbers masked under `[privacy] mask_numbers`, each of the
//! oldest waiting customers linked to a signed view of its callback.

use chrono::{DateTime, Utc};

use super::message::{Composer, Message};
use super::templates::{BreachLine, DayContext, DigestContext, TemplateError, Templates};
use crate::display::humane_age;
use crate::domain::digest::{DayFigures, DigestReport};
use crate::domain::reminder::{Channel, Delivery};

/// `3 of 4 (75%)`; `—` without a service level, `0 of 0` on a day with no call-back.
fn within(day: &DayFigures) -> String {
    match day.within_sla {
        None => "—".into(),
        Some(_) if day.called_back == 0 => "0 of 0".into(),
        Some(n) => format!(
            "{n} of {} ({}%)",
            day.called_back,
            (u64::from(n) * 100 + u64::from(day.called_back) / 2) / u64::from(day.called_back)
        ),
    }
}

impl Composer {
    /// The template variables of `report` for `recipient`.
    pub fn digest_context(
        &self,
        report: &DigestReport,
        recipient: &str,
        now: DateTime<Utc>,
    ) -> DigestContext {
        let day = |d: &DayFigures| DayContext {
            date: d.date.format("%-d %b %Y").to_string(),
            missed: d.missed,
            called_back: d.called_back,
            within: within(d),
            breaches: d.breaches,
        };
        DigestContext {
            recipient: recipient.to_string(),
            time: report
                .at
                .with_timezone(&self.zone)
                .format("%H:%M")
                .to_string(),
            yesterday: day(&report.yesterday),
            today: day(&report.today),
            sla: report.yesterday.within_sla.is_some(),
            breaches: report
                .breaches_by_agent
                .iter()
                .map(|b| BreachLine {
                    agent: b.agent.clone().unwrap_or_else(|| "nobody assigned".into()),
                    yesterday: b.yesterday,
                    today: b.today,
                })
                .collect(),
            pending: report.pending,
            oldest: report
                .oldest
                .iter()
                .map(|w| super::templates::WaitingLine {
                    customer: self.customer(&w.customer),
                    agent: w.agent.clone(),
                    waiting: humane_age(report.at - w.first_received_at),
                    since: crate::display::local_time(w.first_received_at, self.zone),
                    missed_calls: w.missed_calls,
                    breached: w.breached,
                    link: self.view_link(w.id, recipient, now),
                })
                .collect(),
            dashboard: format!("{}/", self.public_url.as_str().trim_end_matches('/')),
        }
    }

    /// A digest delivery as its channel sends it.
    pub fn compose_digest(
        &self,
        templates: &Templates,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<Message, TemplateError> {
        let Some(report) = delivery.digest.as_deref() else {
            return Ok(Message::Log {
                line: "a digest delivery without its report (nothing to send)".into(),
            });
        };
        let name = &delivery.recipient.name;
        let language = self.language_of(name);
        let ctx = self.digest_context(report, name, now);
        let render = |part: &str| templates.render_in(&format!("digest.{part}"), language, &ctx);
        Ok(match delivery.recipient.channel {
            Channel::Email => Message::Email {
                subject: render("subject.txt")?,
                text: render("txt")?,
                html: render("html")?,
            },
            Channel::Telegram => Message::Telegram {
                html: render("telegram.html")?,
            },
            // The log is read by more people: numbers masked whatever the setting.
            Channel::Log => {
                let mut ctx = ctx;
                for (line, waiting) in ctx.oldest.iter_mut().zip(&report.oldest) {
                    line.customer = waiting.customer.masked();
                }
                Message::Log {
                    line: templates
                        .render_in("digest.subject.txt", None, &ctx)?
                        .replace('\n', " "),
                }
            }
        })
    }
}
