//! Who is reminded and on which channels: the roster of agents and supervisors from the
//! configuration, and the recipients a reminder or an escalation goes to.

use serde::{Deserialize, Serialize};

use crate::domain::callback::Callback;
use crate::domain::rules::Rules;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Telegram,
    /// The service log: used when no channel can reach a recipient (the out-of-the-box run).
    Log,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Telegram => "telegram",
            Channel::Log => "log",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One person on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub name: String,
    pub channel: Channel,
    /// Email address, Telegram chat id, or empty for the log.
    pub address: String,
}

impl Recipient {
    /// "email to Priya <priya@example.in>" — for timelines.
    pub fn describe(&self) -> String {
        match self.channel {
            Channel::Log => format!("log (for {})", self.name),
            Channel::Email => format!("email to {} <{}>", self.name, self.address),
            Channel::Telegram => format!("telegram to {} (chat {})", self.name, self.address),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub email: Option<String>,
    pub telegram_chat_id: Option<i64>,
    /// Channels this person wants (empty: every channel they have an address for).
    pub channels: Vec<Channel>,
}

/// Everyone who can be notified, and which transports are configured.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub contacts: Vec<Contact>,
    pub email_enabled: bool,
    pub telegram_enabled: bool,
}

impl Roster {
    fn contact(&self, name: &str) -> Option<&Contact> {
        self.contacts
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Each named person on each of their channels that is configured and has an address;
    /// a person no channel can reach gets the log, so nothing is silently dropped.
    pub fn recipients(&self, names: &[String]) -> Vec<Recipient> {
        let mut out = Vec::new();
        for name in names {
            let Some(contact) = self.contact(name) else {
                out.push(Recipient {
                    name: name.clone(),
                    channel: Channel::Log,
                    address: String::new(),
                });
                continue;
            };
            let wants = |c: Channel| contact.channels.is_empty() || contact.channels.contains(&c);
            let before = out.len();
            if let (true, true, Some(email)) =
                (self.email_enabled, wants(Channel::Email), &contact.email)
            {
                out.push(Recipient {
                    name: contact.name.clone(),
                    channel: Channel::Email,
                    address: email.clone(),
                });
            }
            if let (true, true, Some(chat)) = (
                self.telegram_enabled,
                wants(Channel::Telegram),
                contact.telegram_chat_id,
            ) {
                out.push(Recipient {
                    name: contact.name.clone(),
                    channel: Channel::Telegram,
                    address: chat.to_string(),
                });
            }
            if out.len() == before {
                out.push(Recipient {
                    name: contact.name.clone(),
                    channel: Channel::Log,
                    address: String::new(),
                });
            }
        }
        out
    }

    /// Who a reminder for `cb` goes to: its agent, else the first escalation step's people.
    pub fn for_reminder(&self, cb: &Callback, rules: &Rules) -> Vec<Recipient> {
        match &cb.assigned_agent {
            Some(agent) => self.recipients(std::slice::from_ref(&agent.name)),
            None if !rules.unassigned_recipients().is_empty() => {
                self.recipients(rules.unassigned_recipients())
            }
            None => vec![Recipient {
                name: "nobody assigned".into(),
                channel: Channel::Log,
                address: String::new(),
            }],
        }
    }
}
