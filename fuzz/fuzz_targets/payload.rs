//! The webhook payload reader and interpreter: any body, as JSON, a form or query pairs,
//! with any (or no) trigger, must be read without panicking, and whatever customer number
//! comes out must be a well-formed E.164 number.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use ringback::domain::agent::{AgentDirectory, DirectoryEntry};
use ringback::domain::phone::{CountryCode, PhoneNumber};
use ringback::smartflo::payload::Fields;
use ringback::smartflo::{Interpreter, Trigger};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let fields = match selector % 3 {
        0 => Fields::from_json(body),
        1 => Fields::from_form(body),
        _ => Fields::from_pairs(form_pairs(body).into_iter().filter(|(k, _)| k != "trigger")),
    };
    let Ok(fields) = fields else {
        return;
    };
    let country = CountryCode::parse("91").unwrap();
    let interpreter = Interpreter {
        zone: chrono_tz::Asia::Kolkata,
        country,
        agents: AgentDirectory::new(
            vec![DirectoryEntry {
                name: "Meera".into(),
                number: PhoneNumber::parse("9800000011", country).ok(),
                smartflo_id: Some("0507000000011".into()),
            }],
            country,
        ),
    };
    let now = Utc.with_ymd_and_hms(2026, 5, 28, 6, 0, 0).unwrap();
    let given = Trigger::ALL.get(usize::from(selector / 3) % (Trigger::ALL.len() + 1));
    let read = interpreter.interpret(&fields, given.copied(), now);
    if let Ok(number) = &read.facts.customer {
        let e164 = number.as_str();
        assert!(e164.starts_with('+'), "{e164}");
        assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()), "{e164}");
    }
    // Whatever was read must serialise (the event log stores it).
    let _ = serde_json::to_string(&read.facts.missed_agents);
});

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
