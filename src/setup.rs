//! What to enter in Smartflo's webhook form, per trigger (`ringback smartflo-setup`,
//! `ringback webhook-urls`, docs/smartflo-setup.md): whether Ringback needs it, the method,
//! URL, content type and the body template to paste, written with Smartflo's `$variables`.
//!
//! The templates leave out variables whose name extends another variable's name where a
//! shorter one does the job (`$customer_number_with_prefix`, `$answered_agent_number` next
//! to `$answered_agent`): Smartflo replaces `$answered_agent` inside the longer name too,
//! which is how `"_number"` turns up in real traffic.

use crate::config::Settings;
use crate::smartflo::Trigger;

/// Whether a webhook is needed for missed-call alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Without it there are no callbacks, or they never clear.
    Required,
    /// Adds detail, an earlier clear, or a feature not everyone uses.
    Optional,
}

impl Need {
    pub fn label(self) -> &'static str {
        match self {
            Need::Required => "required",
            Need::Optional => "optional",
        }
    }
}

/// One webhook to create in Smartflo.
#[derive(Debug, Clone)]
pub struct WebhookSetup {
    pub trigger: Trigger,
    pub need: Need,
    /// What Ringback does with it, and when to add it.
    pub why: &'static str,
    pub url: String,
    /// The body template: (key, Smartflo variable) pairs, in order.
    pub body: Body,
}

/// The header Smartflo must send. Its dispatcher sends a POST with no body at all unless the
/// custom header's key is exactly this, lower-case.
pub const CONTENT_TYPE_HEADER: (&str, &str) = ("content-type", "application/json");

const HANGUP: &[(&str, &str)] = &[
    ("uuid", "$uuid"),
    ("call_id", "$call_id"),
    ("direction", "$direction"),
    ("call_status", "$call_status"),
    ("customer_number", "$customer_number"),
    ("caller_id_number", "$caller_id_number"),
    ("call_to_number", "$call_to_number"),
    ("start_stamp", "$start_stamp"),
    ("end_stamp", "$end_stamp"),
    ("billsec", "$billsec"),
    ("hangup_cause", "$hangup_cause"),
    ("missed_agent", "$missed_agent"),
    ("first_missed_agent_number", "$first_missed_agent_number"),
    ("answered_agent", "$answered_agent"),
    // On a click-to-call's hangup these say whether the customer answered (Smartflo rings
    // the agent first): without them an answered call-back is only recorded, not cleared.
    ("outbound_sec", "$outbound_sec"),
    ("call_connected", "$call_connected"),
    ("call_flow", "$call_flow"),
    ("custom_identifier", "$custom_identifier"),
];

const LIVE_ANSWER: &[(&str, &str)] = &[
    ("uuid", "$uuid"),
    ("call_id", "$call_id"),
    ("direction", "$direction"),
    ("call_status", "$call_status"),
    ("customer_no_with_prefix", "$customer_no_with_prefix"),
    ("caller_id_number", "$caller_id_number"),
    ("call_to_number", "$call_to_number"),
    ("start_stamp", "$start_stamp"),
    ("answered_agent_number", "$answered_agent_number"),
];

const C2C_ANSWERED: &[(&str, &str)] = &[
    ("uuid", "$uuid"),
    ("call_id", "$call_id"),
    ("direction", "$direction"),
    ("call_status", "$call_status"),
    ("customer_no_with_prefix", "$customer_no_with_prefix"),
    ("call_to_number", "$call_to_number"),
    ("caller_id_number", "$caller_id_number"),
    ("start_stamp", "$start_stamp"),
    ("answer_agent_number", "$answer_agent_number"),
    ("custom_identifier", "$custom_identifier"),
];

const C2C_MISSED: &[(&str, &str)] = &[
    ("uuid", "$uuid"),
    ("call_id", "$call_id"),
    ("direction", "$direction"),
    ("call_status", "$call_status"),
    ("customer_number", "$customer_number"),
    ("call_to_number", "$call_to_number"),
    ("caller_id_number", "$caller_id_number"),
    ("start_stamp", "$start_stamp"),
    ("end_stamp", "$end_stamp"),
    ("billsec", "$billsec"),
    ("hangup_cause", "$hangup_cause"),
    ("custom_identifier", "$custom_identifier"),
];

const DEPARTMENT: &[(&str, &str)] = &[
    ("uuid", "$uuid"),
    ("call_id", "$call_id"),
    ("customer_no_with_prefix", "$customer_no_with_prefix"),
    ("caller_id_number", "$caller_id_number"),
    ("call_to_number", "$call_to_number"),
    ("dept_name", "$dept_name"),
];

const DIALER_CONNECTED: &[(&str, &str)] = &[
    ("call_id", "$call_id"),
    ("direction", "$direction"),
    ("customer_no_with_prefix", "$customer_no_with_prefix"),
    ("caller_id_number", "$caller_id_number"),
    ("call_to_number", "$call_to_number"),
    ("start_stamp", "$start_stamp"),
    ("agent_name", "$agent_name"),
    ("agent_number", "$agent_number"),
];

const DIALER_DISPOSITION: &[(&str, &str)] = &[
    ("call_id", "$call_id"),
    ("direction", "$direction"),
    ("customer_no_with_prefix", "$customer_no_with_prefix"),
    ("caller_id_number", "$caller_id_number"),
    ("call_to_number", "$call_to_number"),
    ("start_stamp", "$start_stamp"),
    ("agent_name", "$agent_name"),
    ("disposition", "$disposition"),
    ("sub_disposition", "$sub_dispositon"),
];

const RECORDED: &[(&str, &str)] = &[
    ("uuid", "$uuid"),
    ("call_id", "$call_id"),
    ("customer_no_with_prefix", "$customer_no_with_prefix"),
    ("caller_id_number", "$caller_id_number"),
    ("call_to_number", "$call_to_number"),
    ("start_stamp", "$start_stamp"),
];

/// A body template: (key, Smartflo variable) pairs.
type Body = &'static [(&'static str, &'static str)];

/// One trigger's need, purpose and body template.
type Entry = (Trigger, Need, &'static str, Body);

/// What each trigger is for, in the order an admin should read them: required first.
fn catalogue(click_to_call: bool) -> Vec<Entry> {
    use Trigger::*;
    let c2c = if click_to_call {
        Need::Required
    } else {
        Need::Optional
    };
    vec![
        (
            CallHangup,
            Need::Required,
            "Opens a callback for every missed inbound call (assigned to the first agent who missed it) and clears it when a call with that customer is answered, inbound or outbound. The one webhook Ringback cannot do without.",
            HANGUP,
        ),
        (
            C2cAnsweredByCustomer,
            c2c,
            "Clears the callback when an agent's click-to-call reaches the customer; required when agents press \"Call back now\" ([smartflo].api_token is set).",
            C2C_ANSWERED,
        ),
        (
            C2cMissedByCustomer,
            c2c,
            "Counts a click-to-call the customer did not answer as an attempt; the callback stays open. Required with click-to-call, like the one above.",
            C2C_MISSED,
        ),
        (
            CallReceivedOnDepartment,
            Need::Optional,
            "Adds the department that received the call, for the dashboard's department filter.",
            DEPARTMENT,
        ),
        (
            CallAnsweredByAgent,
            Need::Optional,
            "Clears a callback as soon as an agent picks up a new call from the customer, instead of when that call ends.",
            LIVE_ANSWER,
        ),
        (
            CallMissedByAgentHangup,
            Need::Optional,
            "The missed-call hangup with the agents who missed it; adds nothing to Call hangup (Missed or Answered) but is harmless beside it (a call counts once).",
            HANGUP,
        ),
        (
            CallAnsweredByAgentHangup,
            Need::Optional,
            "The answered-call hangup; covered by Call hangup (Missed or Answered).",
            HANGUP,
        ),
        (
            CallHangupMissed,
            Need::Optional,
            "An alternative to Call hangup (Missed or Answered) for those who keep missed and answered apart; then add Call hangup (Answered) too.",
            HANGUP,
        ),
        (
            CallHangupAnswered,
            Need::Optional,
            "The other half of that alternative: clears callbacks when a call is answered.",
            HANGUP,
        ),
        (
            DialerCallConnected,
            Need::Optional,
            "Dialer campaigns only: clears the callback when the dialer connects the customer to an agent.",
            DIALER_CONNECTED,
        ),
        (
            DialerDispositionUpdated,
            Need::Optional,
            "Dialer campaigns only: writes the agent's disposition on the callback's timeline.",
            DIALER_DISPOSITION,
        ),
        (
            SessionCallAnswered,
            Need::Optional,
            "Not in Smartflo's documented list; some accounts have it. Clears like an answered call.",
            LIVE_ANSWER,
        ),
        (
            CallReceivedOnServer,
            Need::Optional,
            "Only kept in the event log (an audit trail); changes no callback.",
            RECORDED,
        ),
        (
            CallAnsweredOnIvr,
            Need::Optional,
            "Only kept in the event log; changes no callback.",
            RECORDED,
        ),
        (
            DtmfOption,
            Need::Optional,
            "Only kept in the event log; changes no callback.",
            RECORDED,
        ),
        (
            DialedOnAgent,
            Need::Optional,
            "Only kept in the event log; changes no callback.",
            RECORDED,
        ),
        (
            CallReceivedOnAutoAttendant,
            Need::Optional,
            "Only kept in the event log; changes no callback.",
            RECORDED,
        ),
    ]
}

/// Every trigger's setup under `settings`, with URLs carrying `token`.
pub fn webhooks(settings: &Settings, token: &str) -> Vec<WebhookSetup> {
    let base = settings.server.public_url.as_str().trim_end_matches('/');
    catalogue(settings.smartflo.is_some())
        .into_iter()
        .map(|(trigger, need, why, body)| WebhookSetup {
            trigger,
            need,
            why,
            url: format!(
                "{base}/webhooks/smartflo/{token}?trigger={}",
                trigger.slug()
            ),
            body,
        })
        .collect()
}

impl WebhookSetup {
    /// The body template, one variable a line, ready to paste.
    pub fn body_template(&self) -> String {
        let lines: Vec<String> = self
            .body
            .iter()
            .map(|(key, variable)| format!("  \"{key}\": \"{variable}\""))
            .collect();
        format!("{{\n{}\n}}", lines.join(",\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trigger_is_described_once() {
        for click_to_call in [false, true] {
            let listed: Vec<Trigger> = catalogue(click_to_call).iter().map(|c| c.0).collect();
            for trigger in Trigger::ALL {
                assert_eq!(
                    listed.iter().filter(|t| *t == trigger).count(),
                    1,
                    "{trigger}"
                );
            }
        }
    }

    #[test]
    fn click_to_call_makes_its_two_webhooks_required() {
        let need = |click_to_call, trigger| {
            catalogue(click_to_call)
                .into_iter()
                .find(|c| c.0 == trigger)
                .unwrap()
                .1
        };
        assert_eq!(need(false, Trigger::CallHangup), Need::Required);
        assert_eq!(need(false, Trigger::C2cAnsweredByCustomer), Need::Optional);
        assert_eq!(need(true, Trigger::C2cAnsweredByCustomer), Need::Required);
        assert_eq!(need(true, Trigger::C2cMissedByCustomer), Need::Required);
    }

    #[test]
    fn no_template_uses_a_variable_that_extends_another_of_its_variables() {
        for (trigger, _, _, body) in catalogue(true) {
            for (_, a) in body {
                for (_, b) in body {
                    assert!(
                        a == b || !b.starts_with(a),
                        "{trigger}: {a} would be replaced inside {b}"
                    );
                }
            }
        }
    }
}
