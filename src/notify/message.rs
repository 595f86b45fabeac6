//! What a message says: the template context for a callback, rendered per channel.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use std::sync::Arc;

use super::templates::{ActionLinks, LabelledLink, MessageContext, TemplateError, Templates};
use crate::display::{humane_age, local_time};
use crate::domain::actions::{Outcome, QuickAction};
use crate::domain::callback::{Callback, ResolutionKind};
use crate::domain::reminder::{Channel, Delivery, Purpose};
use crate::links::{ActionLink, LinkSigner, ViewLink, link_lifetime, view_lifetime};

/// A message rendered for one channel (only what that channel sends is rendered).
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
    /// A new text for a Telegram message sent earlier.
    TelegramEdit {
        message: i32,
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
    /// Signs the one-tap links in emails.
    pub links: Option<Arc<LinkSigner>>,
    /// Whether "call back now" can be offered (click-to-call is configured).
    pub click_to_call: bool,
    /// The configured agents' names: only they can take a callback.
    pub agents: Vec<String>,
    /// `[privacy] mask_numbers`: customers as `+91 ••••• •2345` in every message.
    pub mask_numbers: bool,
    /// People with a `language` other than English: name, language code.
    pub languages: Vec<(String, String)>,
    /// People's Telegram chats: chat id, name. A closure names only the chat it edits.
    pub chats: Vec<(i64, String)>,
}

impl Composer {
    fn base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// The callback's dashboard page (needs a dashboard login).
    pub fn link(&self, cb: &Callback) -> String {
        format!("{}/callbacks/{}", self.base(), cb.id)
    }

    /// The callback as `who` may open it without a login: a signed view of it, valid for
    /// [`view_lifetime`] from `now` (agents have no dashboard login). Without a signing key
    /// (only `check-config` builds a composer without one) the dashboard page.
    pub fn link_for(&self, cb: &Callback, who: &str, now: DateTime<Utc>) -> String {
        match &self.links {
            Some(signer) => format!(
                "{}/v/{}",
                self.base(),
                signer.sign_view(&ViewLink {
                    callback: cb.id,
                    who: who.to_string(),
                    expires: now + view_lifetime(),
                })
            ),
            None => self.link(cb),
        }
    }

    /// Whether `who` is offered "I'll take it": an agent, and not the one it is assigned to.
    pub fn may_take(&self, cb: &Callback, who: &str) -> bool {
        let assigned = cb
            .assigned_agent
            .as_ref()
            .is_some_and(|a| a.name.eq_ignore_ascii_case(who));
        !assigned && self.agents.iter().any(|a| a.eq_ignore_ascii_case(who))
    }

    /// Who a message is for: the recipient's name, or for a closure (which knows only the
    /// Telegram chat whose message it edits) the name of that chat's person.
    pub fn recipient_name<'a>(
        &'a self,
        recipient: &'a crate::domain::reminder::Recipient,
    ) -> &'a str {
        if !recipient.name.is_empty() || recipient.channel != Channel::Telegram {
            return &recipient.name;
        }
        let chat = recipient.address.parse::<i64>().ok();
        self.chats
            .iter()
            .find(|(id, _)| Some(*id) == chat)
            .map_or("", |(_, name)| name.as_str())
    }

    /// The language `who`'s messages are written in (`None`: English).
    pub fn language_of(&self, who: &str) -> Option<&str> {
        self.languages
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(who))
            .map(|(_, lang)| lang.as_str())
    }

    /// A customer's number as messages show it: masked under `[privacy] mask_numbers`.
    pub fn customer(&self, number: &crate::domain::phone::PhoneNumber) -> String {
        if self.mask_numbers {
            number.masked()
        } else {
            number.to_string()
        }
    }

    /// A signed view of callback `id` for `who`, valid from `now`.
    pub fn view_link(
        &self,
        id: crate::domain::callback::CallbackId,
        who: &str,
        now: DateTime<Utc>,
    ) -> String {
        match &self.links {
            Some(signer) => format!(
                "{}/v/{}",
                self.base(),
                signer.sign_view(&ViewLink {
                    callback: id,
                    who: who.to_string(),
                    expires: now + view_lifetime(),
                })
            ),
            None => format!("{}/callbacks/{id}", self.base()),
        }
    }

    fn local(&self, t: DateTime<Utc>) -> String {
        local_time(t, self.zone)
    }

    /// How a resolved callback ended, in a sentence ("called back by Priya at …").
    pub fn resolution_text(&self, cb: &Callback) -> String {
        let Some(r) = &cb.resolution else {
            return "resolved".into();
        };
        let by = r
            .agent
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        let when = self.local(r.at);
        match r.kind {
            ResolutionKind::AnsweredOutbound => format!("called back{by} at {when}"),
            ResolutionKind::AnsweredInbound => {
                format!("the customer called again and got through{by} at {when}")
            }
            ResolutionKind::Manual => {
                let reason = r
                    .reason
                    .as_deref()
                    .map(|x| format!(": {}", crate::display::resolution_reason(x)))
                    .unwrap_or_default();
                format!("resolved{by} at {when}{reason}")
            }
        }
    }

    /// The template variables for `cb`, as `recipient` sees it at `now`.
    pub fn context(
        &self,
        cb: &Callback,
        recipient: &str,
        round: u32,
        level: u32,
        now: DateTime<Utc>,
    ) -> MessageContext {
        MessageContext {
            customer: self.customer(&cb.customer_number),
            customer_national: if self.mask_numbers {
                cb.customer_number.masked()
            } else {
                cb.customer_number.national()
            },
            missed_calls: cb.missed_calls,
            first_missed_at: self.local(cb.first_missed_at),
            last_missed_at: self.local(cb.last_missed_at),
            agent: cb.assigned_agent.as_ref().map(|a| a.name.clone()),
            recipient: recipient.to_string(),
            department: cb.department.clone(),
            attempts: cb.attempts,
            round,
            level,
            age: humane_age(now - cb.first_received_at),
            link: self.link_for(cb, recipient, now),
            dashboard_link: self.link(cb),
            callback_id: cb.id.to_string(),
            outcome: if cb.is_pending() {
                String::new()
            } else {
                self.resolution_text(cb)
            },
            next_reminder: cb.next_reminder_at.map(|t| self.local(t)),
            links: None,
            masked: self.mask_numbers,
        }
    }

    /// Signed one-tap links for `who` about `cb`, valid from `now` for three days.
    pub fn action_links(
        &self,
        cb: &Callback,
        who: &str,
        now: DateTime<Utc>,
    ) -> Option<ActionLinks> {
        let signer = self.links.as_ref()?;
        let base = self.base();
        let url = |action: QuickAction| {
            let token = signer.sign(&ActionLink {
                action,
                callback: cb.id,
                who: who.to_string(),
                expires: now + link_lifetime(),
            });
            format!("{base}/a/{token}")
        };
        Some(ActionLinks {
            call: self.click_to_call.then(|| url(QuickAction::CallBack)),
            snooze: url(QuickAction::Snooze),
            take: self.may_take(cb, who).then(|| url(QuickAction::Take)),
            done: url(QuickAction::CalledBack),
            outcomes: Outcome::ALL
                .into_iter()
                .map(|o| LabelledLink {
                    code: o.code().to_string(),
                    label: super::outcome_label(o).to_string(),
                    url: url(QuickAction::Outcome(o)),
                })
                .collect(),
        })
    }

    pub fn compose(
        &self,
        templates: &Templates,
        cb: &Callback,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<Message, TemplateError> {
        let level = if delivery.purpose == Purpose::Escalation {
            delivery.round
        } else {
            0
        };
        let who = self.recipient_name(&delivery.recipient);
        let mut ctx = self.context(cb, who, delivery.round, level, now);
        match delivery.recipient.channel {
            Channel::Email => ctx.links = self.action_links(cb, who, now),
            // The log is read by more people than the customer's agent (README: numbers
            // are logged masked); the link leads to the full number.
            Channel::Log => {
                ctx.customer = cb.customer_number.masked();
                ctx.customer_national = ctx.customer.clone();
                ctx.masked = true;
            }
            Channel::Telegram => {}
        }
        let language = self.language_of(who);
        let kind = match delivery.purpose {
            Purpose::Reminder => "reminder",
            Purpose::Escalation => "escalation",
            Purpose::Digest => return self.compose_digest(templates, delivery, now),
            Purpose::Closure => {
                return Ok(match (delivery.recipient.channel, delivery.message) {
                    (Channel::Telegram, Some(message)) => Message::TelegramEdit {
                        message,
                        html: templates.render("closure.telegram.html", &ctx)?,
                    },
                    _ => Message::Log {
                        line: format!("{} {}", cb.customer_number.masked(), ctx.outcome),
                    },
                });
            }
        };
        let render = |part: &str| templates.render_in(&format!("{kind}.{part}"), language, &ctx);
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

    /// A Telegram message's new text after a button press: the callback now, and `outcome`,
    /// for the message's `recipient`.
    pub fn status(
        &self,
        templates: &Templates,
        cb: &Callback,
        outcome: &str,
        recipient: &str,
        now: DateTime<Utc>,
    ) -> Result<String, TemplateError> {
        let mut ctx = self.context(cb, recipient, 0, 0, now);
        if cb.is_pending() {
            ctx.outcome = outcome.to_string();
            templates.render("status.telegram.html", &ctx)
        } else {
            templates.render("closure.telegram.html", &ctx)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ulid::Ulid;

    use super::*;
    use crate::domain::agent::AgentRef;
    use crate::domain::callback::{CallbackId, Status};
    use crate::domain::phone::PhoneNumber;
    use crate::domain::reminder::Recipient;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 5, 0, 0).unwrap()
    }

    /// Priya's callback for +919876543210.
    fn callback() -> Callback {
        Callback {
            id: CallbackId::new(Ulid::from_parts(1, 1)),
            customer_number: PhoneNumber::from_e164_unchecked("+919876543210"),
            status: Status::Pending,
            missed_calls: 1,
            first_missed_at: now(),
            last_missed_at: now(),
            first_received_at: now(),
            last_received_at: now(),
            assigned_agent: Some(AgentRef {
                name: "Priya".into(),
                number: None,
            }),
            missed_agents: Vec::new(),
            department: None,
            attempts: 0,
            reminders_sent: 0,
            escalation_level: 0,
            reminder_due_at: None,
            next_reminder_at: None,
            rounds_issued: 0,
            next_escalation_at: None,
            telegram_messages: Vec::new(),
            snoozed_until: None,
            resolved_at: None,
            resolution: None,
            last_attempt_at: None,
        }
    }

    fn composer() -> Composer {
        Composer {
            zone: chrono_tz::Asia::Kolkata,
            public_url: "https://ringback.example.in".parse().unwrap(),
            links: Some(Arc::new(LinkSigner::new(b"a key of some length".to_vec()))),
            click_to_call: false,
            agents: vec!["Priya".into(), "Arjun".into()],
            mask_numbers: false,
            languages: Vec::new(),
            chats: vec![(1001, "Priya".into())],
        }
    }

    #[test]
    fn a_closure_is_for_the_person_whose_telegram_chat_it_edits() {
        use crate::domain::reminder::Recipient;
        let composer = composer();
        let closure = |address: &str| Recipient {
            name: String::new(),
            channel: Channel::Telegram,
            address: address.into(),
        };
        assert_eq!(composer.recipient_name(&closure("1001")), "Priya");
        assert_eq!(composer.recipient_name(&closure("4242")), "");
        let named = Recipient {
            name: "Arjun".into(),
            channel: Channel::Email,
            address: "arjun@example.in".into(),
        };
        assert_eq!(composer.recipient_name(&named), "Arjun");
    }

    fn delivery(name: &str, channel: Channel) -> Delivery {
        Delivery {
            id: Ulid::from_parts(2, 2),
            callback: callback().id,
            purpose: Purpose::Reminder,
            round: 1,
            recipient: Recipient {
                name: name.into(),
                channel,
                address: String::new(),
            },
            attempts: 0,
            next_attempt_at: now(),
            created_at: now(),
            last_error: None,
            due_at: Some(now()),
            message: None,
            digest: None,
        }
    }

    #[test]
    fn a_reminder_in_the_log_shows_the_customer_masked() {
        let dir = tempfile::tempdir().unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let message = composer()
            .compose(
                &templates,
                &callback(),
                &delivery("Priya", Channel::Log),
                now(),
            )
            .unwrap();
        let Message::Log { line } = message else {
            panic!("{message:?}")
        };
        assert!(line.contains("+91 ••••• •3210"), "{line}");
        assert!(!line.contains("9876543210"), "{line}");
    }

    #[test]
    fn the_link_in_a_message_opens_a_signed_view_for_its_recipient() {
        let composer = composer();
        let link = composer.link_for(&callback(), "Priya", now());
        let token = link
            .strip_prefix("https://ringback.example.in/v/")
            .unwrap_or_else(|| panic!("{link}"));
        let signer = composer.links.as_ref().unwrap();
        let view = signer.verify_view(token, now()).unwrap();
        assert_eq!((view.callback, view.who.as_str()), (callback().id, "Priya"));
    }

    #[test]
    fn only_agents_it_is_not_assigned_to_get_a_take_link() {
        let composer = composer();
        let take = |who: &str| {
            composer
                .action_links(&callback(), who, now())
                .unwrap()
                .take
                .is_some()
        };
        assert!(!take("Priya"), "the callback is already Priya's");
        assert!(take("Arjun"));
        assert!(!take("Asha"), "a supervisor cannot take a callback");
    }
}
