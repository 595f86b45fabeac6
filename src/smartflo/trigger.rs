//! Smartflo's webhook triggers and their slugs (SPEC §4.2).

use std::fmt;
use std::str::FromStr;

use super::event::{CallStatus, Direction, SmartfloEvent};
use super::payload::Fields;

macro_rules! triggers {
    ($($variant:ident => $slug:literal, $name:literal;)*) => {
        /// One Smartflo webhook trigger.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Trigger {
            $($variant,)*
        }

        impl Trigger {
            pub const ALL: &'static [Trigger] = &[$(Trigger::$variant,)*];

            /// The slug used in `?trigger=` and in replies.
            pub fn slug(self) -> &'static str {
                match self {
                    $(Trigger::$variant => $slug,)*
                }
            }

            /// The trigger's name in Smartflo's webhook form.
            pub fn smartflo_name(self) -> &'static str {
                match self {
                    $(Trigger::$variant => $name,)*
                }
            }
        }

        impl FromStr for Trigger {
            type Err = UnknownTrigger;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($slug => Ok(Trigger::$variant),)*
                    _ => Err(UnknownTrigger(s.to_string())),
                }
            }
        }
    };
}

triggers! {
    CallReceivedOnServer => "call_received_on_server", "Call received on Server";
    CallAnsweredOnIvr => "call_answered_on_ivr", "Call answered on IVR";
    CallAnsweredByAgent => "call_answered_by_agent", "Call answered by Agent";
    CallHangupMissed => "call_hangup_missed", "Call hangup (Missed)";
    CallHangupAnswered => "call_hangup_answered", "Call hangup (Answered)";
    CallHangup => "call_hangup", "Call hangup (Missed or Answered)";
    DtmfOption => "dtmf_option", "DTMF Option";
    DialedOnAgent => "dialed_on_agent", "Dialed on Agent";
    CallReceivedOnDepartment => "call_received_on_department", "Call received on Department";
    CallReceivedOnAutoAttendant => "call_received_on_auto_attendant", "Call received on Auto Attendant";
    CallAnsweredByAgentHangup => "call_answered_by_agent_hangup", "Call answered by Agent (Hangup)";
    CallMissedByAgentHangup => "call_missed_by_agent_hangup", "Call missed by Agent (Hangup)";
    C2cAnsweredByCustomer => "c2c_answered_by_customer", "Call answered by Customer (Click to call)";
    C2cMissedByCustomer => "c2c_missed_by_customer", "Call missed by Customer (Click to call)";
    DialerCallConnected => "dialer_call_connected", "Call Connected to Agent (Dialer)";
    DialerDispositionUpdated => "dialer_disposition_updated", "Disposition Status Updated (Dialer)";
    SessionCallAnswered => "session_call_answered", "Session Call Answered";
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown trigger {0:?}; expected one of: {list}", list = Trigger::ALL.iter().map(|t| t.slug()).collect::<Vec<_>>().join(", "))]
pub struct UnknownTrigger(pub String);

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

impl Trigger {
    /// The direction a trigger's calls have when the payload does not say.
    pub fn default_direction(self) -> Direction {
        match self {
            Trigger::C2cAnsweredByCustomer | Trigger::C2cMissedByCustomer => Direction::ClickToCall,
            _ => Direction::Inbound,
        }
    }

    /// Infers the trigger of a webhook without `?trigger=` from its fields (SPEC §4.3).
    /// `None` when the fields do not decide it; such an event is only recorded.
    pub fn infer(fields: &Fields, event: &SmartfloEvent) -> Option<Trigger> {
        let direction = event.direction;
        let click_to_call = direction == Some(Direction::ClickToCall);
        let dialer = matches!(
            direction,
            Some(Direction::DialerInbound | Direction::DialerOutbound)
        );
        if let Some(status) = &event.status {
            let hangup = [
                "end_stamp",
                "billsec",
                "duration",
                "hangup_cause",
                "hangup_cause_key",
                "recording_url",
            ]
            .iter()
            .any(|k| fields.has(k));
            return match status {
                CallStatus::Missed if click_to_call => Some(Trigger::C2cMissedByCustomer),
                CallStatus::Missed
                    if fields.has("missed_agent") || fields.has("first_missed_agent_number") =>
                {
                    Some(Trigger::CallMissedByAgentHangup)
                }
                CallStatus::Missed => Some(Trigger::CallHangupMissed),
                CallStatus::AnsweredByCustomer => Some(Trigger::C2cAnsweredByCustomer),
                CallStatus::Answered | CallStatus::AnsweredByAgent if hangup => {
                    if fields.has("answered_agent") {
                        Some(Trigger::CallAnsweredByAgentHangup)
                    } else {
                        Some(Trigger::CallHangupAnswered)
                    }
                }
                CallStatus::Answered | CallStatus::AnsweredByAgent => {
                    Some(Trigger::CallAnsweredByAgent)
                }
                CallStatus::Other(_) => None,
            };
        }
        if fields.has("disposition") {
            return Some(Trigger::DialerDispositionUpdated);
        }
        if dialer
            && (fields.has("campaign_id")
                || fields.has("campaign_name")
                || fields.has("lead_fields"))
            && (fields.has("agent_number") || fields.has("agent_name") || fields.has("agent"))
        {
            return Some(Trigger::DialerCallConnected);
        }
        if fields.has("digit_pressed") {
            return Some(Trigger::DtmfOption);
        }
        if fields.has("dept_name") || fields.has("dept_id") {
            return Some(Trigger::CallReceivedOnDepartment);
        }
        if fields.has("auto_attendant_id") || fields.has("auto_attendant_name") {
            return Some(Trigger::CallReceivedOnAutoAttendant);
        }
        if fields.has("ivr_id") || fields.has("ivr_name") {
            return Some(Trigger::CallAnsweredOnIvr);
        }
        if fields.has("agent_number") || fields.has("agent_name") {
            return Some(Trigger::DialedOnAgent);
        }
        if (event.call_id.is_some() || event.uuid.is_some()) && fields.has("caller_id_number") {
            return Some(Trigger::CallReceivedOnServer);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slug_round_trips() {
        for t in Trigger::ALL {
            assert_eq!(t.slug().parse::<Trigger>().unwrap(), *t);
        }
        assert_eq!(Trigger::ALL.len(), 17);
    }

    #[test]
    fn unknown_slugs_list_the_known_ones() {
        let err = "call_hungup".parse::<Trigger>().unwrap_err().to_string();
        assert!(err.contains("call_hungup"));
        assert!(err.contains("call_hangup_missed"));
    }
}
