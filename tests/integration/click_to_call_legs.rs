//! Click-to-call legs (SPEC §5.3, issue 15) with the real deliveries of
//! `tests/data/corpus2/`: Smartflo rings the agent first and the customer second, and a
//! payload can show only the agent's leg. A call-back clears only when the customer
//! answered, and is a failed attempt only when the customer was rung.

use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::helpers::*;

/// The body of line `n` (from 1) of corpus2.
fn corpus2(n: usize) -> Value {
    let text = std::fs::read_to_string(data_path("corpus2/records.jsonl")).expect("corpus2");
    let line = text.lines().nth(n - 1).expect("corpus2 line");
    let record: Value = serde_json::from_str(line).expect("JSON");
    record["body"].clone()
}

/// Sets the test clock to a wall-clock time in India.
fn at_ist(app: &TestApp, y: i32, mo: u32, d: u32, h: u32, mi: u32) {
    let ist = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    let t = ist.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
    app.clock.set(t.with_timezone(&Utc));
}

async fn open(app: &TestApp, national: &str, call_id: &str, stamp: &str) -> String {
    let body = missed_call(national, call_id, stamp);
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened", "{reply}");
    reply["callback_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_click_to_call_showing_only_the_agent_leg_answered_does_not_clear() {
    let app = spawn_app().await;
    at_ist(&app, 2026, 4, 9, 12, 50);
    let id = open(&app, "8200000525", "1775719000.1", "2026-04-09 12:45:00").await;
    at_ist(&app, 2026, 4, 9, 12, 55);

    // Line 4: the live "answered by agent" event of a click-to-call, delivered to a
    // webhook configured for hangups; then the same with a plain "answered".
    let mut agent_leg = corpus2(4);
    for (i, status) in ["Answered by agent", "answered"].iter().enumerate() {
        agent_leg["call_status"] = (*status).into();
        agent_leg["uuid"] = format!("69d75426f0a9{i}").into();
        let (status, reply) = app
            .post_json(Some("call_hangup"), &agent_leg.to_string())
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["effect"], "recorded", "{reply}");
        assert!(
            reply["note"]
                .as_str()
                .unwrap()
                .contains("nothing says the customer answered"),
            "{reply}"
        );
    }
    let cb = app.callback(&id).await;
    assert_eq!(cb["status"], "pending", "{cb}");

    // Line 7: the hangup of a click-to-call the customer answered (`outbound_sec` 7).
    at_ist(&app, 2026, 4, 12, 9, 52);
    let (_, reply) = app
        .post_json(Some("call_hangup_answered"), &corpus2(7).to_string())
        .await;
    assert_eq!(reply["effect"], "resolved", "{reply}");
    let cb = app.callback(&id).await;
    assert_eq!(cb["resolution"]["kind"], "answered_outbound", "{cb}");
}

#[tokio::test]
async fn a_click_to_call_the_agent_never_picked_up_is_not_a_call_back_attempt() {
    let app = spawn_app().await;
    at_ist(&app, 2026, 10, 1, 1, 25);
    let id = open(&app, "9200001280", "1790798000.1", "2026-10-01 01:20:00").await;
    at_ist(&app, 2026, 10, 1, 1, 31);

    // Line 10: no trigger given; `missed_agent` set, `call_connected` 0, nobody answered.
    let (status, reply) = app.post_json(None, &corpus2(10).to_string()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["effect"], "recorded", "{reply}");
    assert!(
        reply["note"].as_str().unwrap().contains("never picked up"),
        "{reply}"
    );
    assert_eq!(app.callback(&id).await["attempts"], 0);
}

#[tokio::test]
async fn a_click_to_call_the_customer_did_not_answer_still_counts_as_an_attempt() {
    let app = spawn_app().await;
    at_ist(&app, 2026, 4, 9, 12, 50);
    let id = open(&app, "8200000525", "1775719000.2", "2026-04-09 12:45:00").await;
    at_ist(&app, 2026, 4, 9, 12, 56);

    // Line 5: the agent's leg answered (`billsec` 30, `call_connected` 1), the customer not.
    let (_, reply) = app
        .post_json(Some("c2c_missed_by_customer"), &corpus2(5).to_string())
        .await;
    assert_eq!(reply["effect"], "attempt", "{reply}");
    assert_eq!(app.callback(&id).await["attempts"], 1);
}

#[tokio::test]
async fn a_connected_click_to_call_whose_flow_shows_the_agent_only_dialed_is_an_attempt() {
    let app = spawn_app().await;
    at_ist(&app, 2026, 4, 9, 12, 50);
    let id = open(&app, "8200000525", "1775719000.3", "2026-04-09 12:45:00").await;
    at_ist(&app, 2026, 4, 9, 12, 56);

    // Line 9 (no `answered_agent`, `call_connected` 1, the flow's only agent step
    // "Dialed"), as it would come had the customer not answered.
    let mut unanswered = corpus2(9);
    unanswered["outbound_sec"] = "0".into();
    unanswered["call_status"] = "missed".into();
    unanswered["custom_identifier"] = id.clone().into();
    let (status, reply) = app
        .post_json(Some("c2c_missed_by_customer"), &unanswered.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["effect"], "attempt", "{reply}");
    assert_eq!(app.callback(&id).await["attempts"], 1);
}
