//! Reads the call facts out of [`Fields`]: ids, direction, status, customer, times, agents,
//! department. Each field is read the tolerant way `payload-notes.md` calls for; nothing
//! here decides what the event means for callbacks (that is `classify` and the domain).
//!
//! What is read here ends up stored on callbacks and shown on every page that lists them,
//! so each kept text is cut to a sane length and lists to a sane count (issue 15: a 200 KB
//! department name made a 73 MB pending page, a 6 000-step `call_flow` took seconds). The
//! event log keeps the raw body whole, so nothing is lost for an audit.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

mod agents;

use agents::{answered_agent, missed_agents};

/// Longest name, number, id or department kept (real ones are under 60 characters).
pub const MAX_TEXT: usize = 120;
/// Longest disposition kept (a disposition and a sub-disposition with a comment).
pub const MAX_DISPOSITION: usize = 500;
/// Most agents kept from one list (`missed_agent`, the call flow's agent legs).
pub const MAX_AGENTS: usize = 20;
/// Most `call_flow` steps looked at; real flows have a dozen.
pub const MAX_FLOW_STEPS: usize = 200;

use super::payload::{Fields, structured_value, value_text};
use super::time;
use crate::domain::agent::AgentSeen;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
    ClickToCall,
    DialerInbound,
    DialerOutbound,
}

impl Direction {
    pub fn parse(raw: &str) -> Option<Self> {
        let norm: String = raw
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        match norm.as_str() {
            "inbound" | "incoming" => Some(Direction::Inbound),
            "outbound" | "outgoing" => Some(Direction::Outbound),
            "clicktocall" | "c2c" => Some(Direction::ClickToCall),
            "dialerinbound" => Some(Direction::DialerInbound),
            "dialeroutbound" | "dialer" => Some(Direction::DialerOutbound),
            _ => None,
        }
    }

    /// Calls the call centre placed (the customer is the called party).
    pub fn is_outgoing(self) -> bool {
        matches!(
            self,
            Direction::Outbound | Direction::ClickToCall | Direction::DialerOutbound
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    Missed,
    Answered,
    AnsweredByAgent,
    AnsweredByCustomer,
    Other(String),
}

impl CallStatus {
    pub fn parse(raw: &str) -> Self {
        let norm = raw.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
        match norm.as_str() {
            "missed" | "noanswer" | "no answer" | "not answered" | "unanswered" | "busy"
            | "failed" | "cancel" | "cancelled" | "canceled" => CallStatus::Missed,
            "answered" => CallStatus::Answered,
            "answered by agent" => CallStatus::AnsweredByAgent,
            "answered by customer" => CallStatus::AnsweredByCustomer,
            _ => CallStatus::Other(raw.trim().to_string()),
        }
    }

    pub fn is_answered(&self) -> bool {
        matches!(
            self,
            CallStatus::Answered | CallStatus::AnsweredByAgent | CallStatus::AnsweredByCustomer
        )
    }
}

/// The facts of one Smartflo event, read from its fields.
#[derive(Debug, Clone, Default)]
pub struct SmartfloEvent {
    pub call_id: Option<String>,
    pub uuid: Option<String>,
    pub direction: Option<Direction>,
    pub status: Option<CallStatus>,
    pub started_at: Option<DateTime<Utc>>,
    pub billsec: Option<u32>,
    /// The explicit customer fields, first present of SPEC §4.4's list.
    pub customer_field: Option<String>,
    pub caller_id_number: Option<String>,
    pub call_to_number: Option<String>,
    /// Agents who missed the call, in call order (the first missed agent first).
    pub missed_agents: Vec<AgentSeen>,
    pub answered_agent: Option<AgentSeen>,
    pub department: Option<String>,
    pub disposition: Option<String>,
    pub custom_identifier: Option<String>,
    /// `call_connected`: whether any leg connected (on click-to-call, the agent's).
    pub call_connected: Option<bool>,
    /// `outbound_sec`: talk time on the outbound leg, the customer's on click-to-call.
    pub outbound_sec: Option<u32>,
    /// The call flow shows a customer leg answered.
    pub customer_leg_answered: bool,
}

impl SmartfloEvent {
    /// Reads the event's facts; `received_at` settles wall-clock times a DST change makes
    /// ambiguous.
    pub fn read(fields: &Fields, zone: Tz, received_at: DateTime<Utc>) -> Self {
        let call_flow = fields
            .structured("call_flow")
            .map(flow_steps)
            .unwrap_or_default();
        let call_id = fields.text("call_id").or_else(|| {
            call_flow
                .iter()
                .find(|s| step_type(s).as_deref() == Some("init"))
                .and_then(|s| s.get("value").and_then(value_text))
        });
        Self {
            call_id,
            uuid: fields.text("uuid"),
            direction: fields.text("direction").and_then(|d| Direction::parse(&d)),
            status: fields.text("call_status").map(|s| CallStatus::parse(&s)),
            started_at: started_at(fields, &call_flow, zone, received_at),
            billsec: fields.text("billsec").and_then(|b| parse_seconds(&b)),
            customer_field: fields.first_text(&[
                "customer_no_with_prefix",
                "customer_number_with_prefix",
                "customer_number",
            ]),
            caller_id_number: fields.text("caller_id_number"),
            call_to_number: fields.text("call_to_number"),
            missed_agents: missed_agents(fields, &call_flow),
            answered_agent: answered_agent(fields),
            department: department(fields).map(|d| clip(&d, MAX_TEXT)),
            disposition: disposition(fields).map(|d| clip(&d, MAX_DISPOSITION)),
            custom_identifier: fields.text("custom_identifier"),
            call_connected: fields.text("call_connected").and_then(|c| {
                match c.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" => Some(true),
                    "0" | "false" | "no" => Some(false),
                    _ => None,
                }
            }),
            outbound_sec: fields.text("outbound_sec").and_then(|s| parse_seconds(&s)),
            customer_leg_answered: call_flow.iter().any(|s| {
                step_type(s).as_deref() == Some("customer")
                    && text_at(s, "dialst").is_some_and(|d| d.eq_ignore_ascii_case("answered"))
            }),
        }
    }

    /// The raw customer number (SPEC §4.4): the explicit customer fields, else the caller
    /// for incoming calls and the called number for outgoing ones.
    pub fn customer_raw(&self, direction: Direction) -> Option<&str> {
        self.customer_field
            .as_deref()
            .or(if direction.is_outgoing() {
                self.call_to_number.as_deref()
            } else {
                self.caller_id_number.as_deref()
            })
    }
}

fn parse_seconds(raw: &str) -> Option<u32> {
    let secs: f64 = raw.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| secs.min(u32::MAX as f64) as u32)
}

/// `text` as it is kept and shown (names, departments, dispositions): control characters
/// (a newline in a department name) read as spaces, and the bidirectional overrides and
/// isolates that would make it display reversed (U+202A–U+202E, U+2066–U+2069) are
/// dropped; cut to at most `max` characters. Joiners (U+200C, U+200D), which Indic
/// scripts need, stay.
pub fn clip(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

fn started_at(
    fields: &Fields,
    call_flow: &[Value],
    zone: Tz,
    received_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    for key in ["start_stamp", "date", "start_time_stamp"] {
        if let Some(t) = fields
            .text(key)
            .and_then(|s| time::parse_stamp(&s, zone, received_at))
        {
            return Some(t);
        }
    }
    if let (Some(d), Some(t)) = (fields.text("start_date"), fields.text("start_time"))
        && let Some(at) = time::parse_date_and_time(&d, &t, zone, received_at)
    {
        return Some(at);
    }
    call_flow
        .iter()
        .find(|s| step_type(s).as_deref() == Some("init"))
        .and_then(|s| s.get("time").and_then(value_text))
        .and_then(|t| time::parse_epoch(&t))
}

/// `call_flow` as a list of step objects, whatever shape it came in (the first
/// [`MAX_FLOW_STEPS`] of them).
fn flow_steps(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items
            .iter()
            .take(MAX_FLOW_STEPS)
            .filter_map(structured_value)
            .filter(Value::is_object)
            .collect(),
        obj @ Value::Object(_) => vec![obj],
        _ => Vec::new(),
    }
}

fn step_type(step: &Value) -> Option<String> {
    step.get("type")
        .and_then(value_text)
        .map(|t| t.to_ascii_lowercase())
}

fn text_at(obj: &Value, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(value_text)
        .map(|t| clip(&t, MAX_TEXT))
}

fn department(fields: &Fields) -> Option<String> {
    for key in ["dept_name", "department", "department_name"] {
        match fields.structured(key) {
            Some(Value::Array(items)) => {
                if let Some(name) = items.iter().find_map(value_text) {
                    return Some(name);
                }
            }
            Some(v) => {
                if let Some(name) = value_text(&v) {
                    return Some(name);
                }
            }
            None => {}
        }
    }
    None
}

fn disposition(fields: &Fields) -> Option<String> {
    let main = fields.text("disposition")?;
    let sub = fields.first_text(&["sub_disposition", "sub_dispositon"]);
    Some(match sub {
        Some(sub) => format!("{main} / {sub}"),
        None => main,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kolkata() -> Tz {
        "Asia/Kolkata".parse().unwrap()
    }

    fn read(json: &str) -> SmartfloEvent {
        SmartfloEvent::read(
            &Fields::from_json(json.as_bytes()).unwrap(),
            kolkata(),
            Utc::now(),
        )
    }

    #[test]
    fn directions_and_statuses_in_every_vocabulary() {
        for (raw, d) in [
            ("inbound", Direction::Inbound),
            ("outbound", Direction::Outbound),
            ("clicktocall", Direction::ClickToCall),
            ("click_to_call", Direction::ClickToCall),
            ("Dialer (inbound)", Direction::DialerInbound),
            ("Dialer (outbound)", Direction::DialerOutbound),
        ] {
            assert_eq!(Direction::parse(raw), Some(d), "{raw}");
        }
        assert_eq!(CallStatus::parse("MISSED"), CallStatus::Missed);
        assert_eq!(
            CallStatus::parse("Answered by agent"),
            CallStatus::AnsweredByAgent
        );
        assert_eq!(
            CallStatus::parse("answered by Customer"),
            CallStatus::AnsweredByCustomer
        );
        assert_eq!(CallStatus::parse("answered"), CallStatus::Answered);
        assert!(matches!(CallStatus::parse("weird"), CallStatus::Other(_)));
    }

    #[test]
    fn first_missed_agent_number_moves_its_agent_first() {
        let ev = read(
            r#"{"missed_agent":[{"id":"0507000000011","name":"Meera","number":"+919800000011"},
                                {"id":"0507000000012","name":"Arjun","number":"+919800000012"}],
                "first_missed_agent_number":"09800000012"}"#,
        );
        let names: Vec<_> = ev
            .missed_agents
            .iter()
            .map(|a| a.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["Arjun", "Meera"]);
    }

    #[test]
    fn a_single_missed_agent_object_is_a_list_of_one() {
        let ev = read(r#"{"missed_agent":{"id":"0507000000011","name":"Meera"}}"#);
        assert_eq!(ev.missed_agents.len(), 1);
        assert_eq!(
            ev.missed_agents[0].smartflo_id.as_deref(),
            Some("0507000000011")
        );
    }

    #[test]
    fn call_flow_agent_legs_stand_in_for_a_missing_missed_agent() {
        let ev = read(
            r#"{"call_flow":[{"type":"init","value":"1780000000.1","time":"1780000000"},
                {"type":"Agent","id":"0507000000012","name":"Arjun","num":"+919800000012","dialst":"Dialed","time":1780000009},
                {"type":"Agent","id":"0507000000011","name":"Meera","num":"+919800000011","dialst":"Dialed","time":1780000008},
                {"type":"Agent","id":"0507000000013","name":"Kapil","dialst":"Dialed","time":1780000010},
                {"type":"Agent","id":"0507000000013","name":"Kapil","dialst":"Answered","time":1780000011}]}"#,
        );
        let names: Vec<_> = ev
            .missed_agents
            .iter()
            .map(|a| a.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["Meera", "Arjun"]);
        assert_eq!(ev.call_id.as_deref(), Some("1780000000.1"));
    }

    #[test]
    fn click_to_call_answered_agent_number_may_be_an_object() {
        let ev = read(
            r#"{"answered_agent_number":{"follow_me_number":"+919800000011","id":"0507000000011","name":"Kapil"}}"#,
        );
        let a = ev.answered_agent.unwrap();
        assert_eq!(a.name.as_deref(), Some("Kapil"));
        assert_eq!(a.smartflo_id.as_deref(), Some("0507000000011"));
    }

    #[test]
    fn empty_billsec_is_unknown_not_zero() {
        assert_eq!(read(r#"{"billsec":""}"#).billsec, None);
        assert_eq!(read(r#"{"billsec":"0"}"#).billsec, Some(0));
        assert_eq!(read(r#"{"billsec":"12"}"#).billsec, Some(12));
    }

    #[test]
    fn department_names_may_be_lists() {
        assert_eq!(
            read(r#"{"dept_name":["Sales","Support"]}"#)
                .department
                .as_deref(),
            Some("Sales")
        );
        assert_eq!(
            read(r#"{"dept_name":"Sales"}"#).department.as_deref(),
            Some("Sales")
        );
    }

    #[test]
    fn the_customer_is_the_caller_inbound_and_the_called_party_outbound() {
        let ev = read(r#"{"caller_id_number":"9876500001","call_to_number":"9876500002"}"#);
        assert_eq!(ev.customer_raw(Direction::Inbound), Some("9876500001"));
        assert_eq!(
            ev.customer_raw(Direction::DialerOutbound),
            Some("9876500002")
        );
        let ev =
            read(r#"{"customer_no_with_prefix ":"919876500003","caller_id_number":"9876500001"}"#);
        assert_eq!(ev.customer_raw(Direction::Inbound), Some("919876500003"));
    }

    #[test]
    fn kept_texts_and_lists_are_bounded() {
        let steps: Vec<String> = (0..6000)
            .map(|i| {
                format!(
                    r#"{{"type":"Agent","id":"05070{i:08}","name":"Agent {i}","num":"+9198{i:08}","dialst":"Dialed","time":{}}}"#,
                    1_780_000_000 + i
                )
            })
            .collect();
        let json = format!(
            r#"{{"dept_name":"{}","disposition":"{}","answered_agent_name":"{}","call_flow":[{}]}}"#,
            "D".repeat(200_000),
            "x".repeat(10_000),
            "N".repeat(10_000),
            steps.join(",")
        );
        let ev = read(&json);
        assert_eq!(ev.department.unwrap().chars().count(), MAX_TEXT);
        assert_eq!(ev.disposition.unwrap().chars().count(), MAX_DISPOSITION);
        assert_eq!(
            ev.answered_agent.unwrap().name.unwrap().chars().count(),
            MAX_TEXT
        );
        assert_eq!(ev.missed_agents.len(), MAX_AGENTS);
        assert_eq!(ev.missed_agents[0].name.as_deref(), Some("Agent 0"));
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        assert_eq!(clip("नमस्ते", 2), "नम");
        assert_eq!(clip("short", 120), "short");
        assert_eq!(clip("Sales\n\r\u{202E}selaS\u{2069}", 120), "Sales  selaS");
        assert_eq!(clip("क्\u{200D}ष", 120), "क्\u{200D}ष", "joiners stay");
    }
}
