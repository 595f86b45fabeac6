//! The agents an event names: who missed the call (the `missed_agent` list, else the
//! `call_flow`'s agent steps that did not connect) and who answered it, in the shapes real
//! payloads use for them (objects, bare numbers, names).

use serde_json::Value;

use super::*;
use crate::smartflo::payload::Fields;

/// One agent described by a JSON value: an object with any of Smartflo's agent keys, or a
/// bare string (an id, a number or a name).
fn agent_from_value(value: &Value) -> Option<AgentSeen> {
    let agent = match value {
        Value::Object(_) => AgentSeen {
            name: text_at(value, "name").or_else(|| text_at(value, "agent_name")),
            numbers: [
                "number",
                "agent_number",
                "follow_me_number",
                "num",
                "extension",
            ]
            .iter()
            .filter_map(|k| text_at(value, k))
            .fold(Vec::new(), |mut acc, n| {
                if !acc.contains(&n) {
                    acc.push(n);
                }
                acc
            }),
            smartflo_id: text_at(value, "id").or_else(|| text_at(value, "agent_id")),
        },
        other => agent_from_text(&clip(&value_text(other)?, MAX_TEXT)),
    };
    (!agent.is_empty()).then_some(agent)
}

fn agent_from_text(text: &str) -> AgentSeen {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    if text.len() == 13 && digits == 13 && text.starts_with("05") {
        AgentSeen {
            smartflo_id: Some(text.to_string()),
            ..AgentSeen::default()
        }
    } else if digits >= 6 && digits * 2 >= text.len() {
        AgentSeen {
            numbers: vec![text.to_string()],
            ..AgentSeen::default()
        }
    } else {
        AgentSeen {
            name: Some(text.to_string()),
            ..AgentSeen::default()
        }
    }
}

fn agents_from(value: Option<Value>) -> Vec<AgentSeen> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| structured_value(v).and_then(|v| agent_from_value(&v)))
            .take(MAX_AGENTS)
            .collect(),
        Some(v) => agent_from_value(&v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Missed agents in call order: `missed_agent`, else the `call_flow` agent legs that were
/// dialled and never answered. `first_missed_agent_number` moves its agent to the front.
pub(super) fn missed_agents(fields: &Fields, call_flow: &[Value]) -> Vec<AgentSeen> {
    let mut agents = agents_from(fields.structured("missed_agent"));
    if agents.is_empty() {
        agents = flow_missed_agents(call_flow);
    }
    let first = AgentSeen {
        numbers: [
            "first_missed_agent_number",
            "first_missed_agent_follow_me_number",
        ]
        .iter()
        .filter_map(|k| fields.text(k).map(|n| clip(&n, MAX_TEXT)))
        .collect(),
        ..AgentSeen::default()
    };
    if !first.is_empty() {
        match agents.iter().position(|a| a.same_agent(&first)) {
            Some(i) => {
                let mut a = agents.remove(i);
                a.absorb(&first);
                agents.insert(0, a);
            }
            None => agents.insert(0, first),
        }
    }
    agents
}

fn flow_missed_agents(call_flow: &[Value]) -> Vec<AgentSeen> {
    let mut steps: Vec<(&Value, f64)> = call_flow
        .iter()
        .filter(|s| step_type(s).as_deref() == Some("agent"))
        .map(|s| {
            let t = text_at(s, "time")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0);
            (s, t)
        })
        .collect();
    steps.sort_by(|a, b| a.1.total_cmp(&b.1));
    let answered: Vec<AgentSeen> = steps
        .iter()
        .filter(|(s, _)| text_at(s, "dialst").is_some_and(|d| d.eq_ignore_ascii_case("answered")))
        .filter_map(|(s, _)| agent_from_value(s))
        .collect();
    let mut out: Vec<AgentSeen> = Vec::new();
    for (step, _) in steps {
        let Some(agent) = agent_from_value(step) else {
            continue;
        };
        if answered.iter().any(|a| a.same_agent(&agent)) || out.iter().any(|a| a.same_agent(&agent))
        {
            continue;
        }
        out.push(agent);
        if out.len() == MAX_AGENTS {
            break;
        }
    }
    out
}

/// Who answered: `answered_agent` (object, or a list on dialer calls), the flat
/// `answered_agent_*` fields (the number may itself be an object on click-to-call), the
/// live click-to-call `answer_agent_number`, or the dialer's `agent_*` fields.
pub(super) fn answered_agent(fields: &Fields) -> Option<AgentSeen> {
    let mut agent = agents_from(fields.structured("answered_agent"))
        .into_iter()
        .next()
        .unwrap_or_default();
    for key in ["answered_agent_number", "answer_agent_number"] {
        if let Some(v) = fields.structured(key)
            && let Some(a) = agent_from_value(&v)
        {
            agent.absorb(&a);
        }
    }
    let flat = AgentSeen {
        name: fields
            .first_text(&["answered_agent_name", "agent_name", "agent"])
            .map(|n| clip(&n, MAX_TEXT)),
        numbers: fields
            .text("agent_number")
            .map(|n| clip(&n, MAX_TEXT))
            .into_iter()
            .collect(),
        smartflo_id: None,
    };
    agent.absorb(&flat);
    (!agent.is_empty()).then_some(agent)
}
