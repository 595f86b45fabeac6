//! Hostile or odd webhook input found by the issue-15 probe: numbers that look like they
//! carry a country code, start stamps far from the receipt time or made ambiguous by DST,
//! oversized fields and flows, and the shape of every 413.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Every time in a callback as the API shows it.
fn times_in(cb: &Value) -> Vec<String> {
    ["first_missed_at", "last_missed_at", "next_reminder_at"]
        .iter()
        .filter_map(|k| cb[*k].as_str().map(str::to_string))
        .collect()
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_ten_digit_mobile_starting_91_opens_a_callback() {
    let app = spawn_app().await;
    // One mobile of each series, 91… included; `caller_id_number` is the only number field.
    for (i, national) in [
        "6123456789",
        "7123456789",
        "8123456789",
        "9123456789",
        "9198765432",
    ]
    .iter()
    .enumerate()
    {
        let body = missed_call(national, &format!("1780005000.{i}"), "2026-05-28 11:20:00");
        let (status, reply) = app
            .post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["effect"], "opened", "{national}: {reply}");
        assert!(
            app.pending_for(&format!("+91{national}")).await.is_some(),
            "{national} is pending as +91{national}"
        );
    }
}

#[tokio::test]
async fn a_far_future_answered_call_does_not_silence_later_missed_calls() {
    let app = spawn_app().await;
    let answered = answered_call("9876502001", "1780005100.1", "9999-12-31 23:59:59", "40");
    let (status, reply) = app
        .post_json(Some("call_hangup_answered"), &answered.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["note"]
            .as_str()
            .unwrap()
            .contains("more than a day after the event was received"),
        "the reply says the stamp was not believed: {reply}"
    );

    // Five minutes later the customer calls again and nobody answers.
    app.clock.advance(chrono::Duration::minutes(5));
    let missed = missed_call("9876502001", "1780005100.2", "2026-05-28 11:34:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &missed.to_string())
        .await;
    assert_eq!(reply["effect"], "opened", "{reply}");
}

#[tokio::test]
async fn absurd_start_stamps_never_reach_the_api_or_the_metrics() {
    let app = spawn_app().await;
    for (customer, stamp) in [
        ("9876502002", "0001-01-01 00:00:00"),
        // An offset far west of UTC on the last second of 9999 is year 10000 in UTC.
        ("9876502003", "9999-12-31T23:59:59-23:59"),
    ] {
        let body = missed_call(customer, &format!("1780005200.{customer}"), stamp);
        let (status, reply) = app
            .post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["effect"], "opened", "{reply}");
        assert!(
            reply["note"].as_str().unwrap().contains("receipt time"),
            "{reply}"
        );
    }
    let received = "2026-05-28T11:30:00+05:30";
    for cb in app.pending().await {
        assert_eq!(cb["first_missed_at"], received, "{cb}");
        for t in times_in(&cb) {
            let parsed = DateTime::parse_from_rfc3339(&t);
            assert!(parsed.is_ok(), "{t} is RFC 3339");
        }
    }
    assert_eq!(
        metric(&app, "ringback_oldest_pending_age_seconds").await,
        0.0
    );
    app.clock.advance(chrono::Duration::seconds(90));
    assert_eq!(
        metric(&app, "ringback_oldest_pending_age_seconds").await,
        90.0
    );
}

#[tokio::test]
async fn an_ambiguous_wall_clock_stamp_is_the_occurrence_already_past_at_receipt() {
    let config = BASE_CONFIG.replace(
        "timezone = \"Asia/Kolkata\"",
        "timezone = \"America/New_York\"",
    );
    let app = spawn_app_with_config(&config).await;
    // 1 November 2026, New York: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 1, 6, 31, 0).unwrap());
    let body = missed_call("9876502004", "1793511000.1", "2026-11-01 01:30:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened", "{reply}");
    let cb = app.pending_for("+919876502004").await.unwrap();
    assert_eq!(cb["first_missed_at"], "2026-11-01T01:30:00-05:00");
}

#[tokio::test]
async fn oversized_fields_are_cut_on_the_callback_but_the_raw_body_is_kept_whole() {
    let app = spawn_app().await;
    let mut body = missed_call("9876502005", "1780005300.1", "2026-05-28 11:29:00");
    body["dept_name"] = "D".repeat(200_000).into();
    body["missed_agent"] = json!([{"id": "0507000000099", "name": "N".repeat(20_000)}]);
    let raw = body.to_string();
    let (status, reply) = app.post_json(Some("call_hangup_missed"), &raw).await;
    assert_eq!(status, 200, "{reply}");
    let cb = app.pending_for("+919876502005").await.unwrap();
    let department = cb["department"].as_str().unwrap();
    assert!(department.len() <= 120, "{} bytes", department.len());
    let agent = cb["missed_agents"][0]["name"].as_str().unwrap();
    assert!(agent.len() <= 120, "{} bytes", agent.len());

    let event = reply["event_id"].as_str().unwrap();
    let (status, logged) = app.api_get(&format!("/api/v1/events/{event}")).await;
    assert_eq!(status, 200, "{logged}");
    assert_eq!(
        logged["body"].as_str().unwrap(),
        raw,
        "the event log keeps it all"
    );
}

#[tokio::test]
async fn a_six_thousand_step_call_flow_is_answered_quickly_and_keeps_few_agents() {
    let app = spawn_app().await;
    let steps: Vec<Value> = (0..6000)
        .map(|i| json!({"type": "Agent", "id": format!("{i}")}))
        .collect();
    let mut body = missed_call("9876502006", "1780005400.1", "2026-05-28 11:29:00");
    body.as_object_mut().unwrap().remove("missed_agent");
    body["call_flow"] = steps.into();
    let raw = body.to_string();
    assert!(raw.len() < 256 * 1024, "fits the body limit");
    let started = Instant::now();
    let (status, reply) = app.post_json(Some("call_hangup_missed"), &raw).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{reply}");
    // A debug build on a shared machine: the bound is loose, the old code took far longer.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let cb = app.pending_for("+919876502006").await.unwrap();
    let agents = cb["missed_agents"].as_array().unwrap().len();
    assert!((1..=20).contains(&agents), "{agents} missed agents kept");
}

#[tokio::test]
async fn every_413_from_the_api_is_json_like_the_other_errors() {
    let app = spawn_app().await;
    let body = missed_call("9876502007", "1780005500.1", "2026-05-28 11:29:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    let id = reply["callback_id"].as_str().unwrap();
    let big = "x".repeat(100 * 1024);
    for path in ["resolve", "snooze", "assign", "call"] {
        let r = app
            .client
            .post(format!("{}/api/v1/callbacks/{id}/{path}", app.address))
            .bearer_auth(API_TOKEN)
            .header("content-type", "application/json")
            .body(format!(r#"{{"reason":"{big}"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let reply: Value = r.json().await.unwrap();
        assert_eq!(reply["ok"], false, "{path}: {reply}");
        assert!(
            reply["error"].as_str().unwrap().contains("larger than"),
            "{path}: {reply}"
        );
    }
    assert_eq!(app.pending().await.len(), 1, "still pending");

    let webhook = format!(r#"{{"call_id":"1.1","pad":"{}"}}"#, "y".repeat(300 * 1024));
    let (status, reply) = app.post_json(Some("call_hangup_missed"), &webhook).await;
    assert_eq!(status, 413);
    assert_eq!(reply["ok"], false, "{reply}");
}

/// Every day from the test clock's for `days` days, as `reminders.holidays` lists them.
fn holidays_from_today(days: i64) -> String {
    let first = start_time().date_naive();
    let dates: Vec<String> = (0..days)
        .map(|d| format!("\"{}\"", first + chrono::Duration::days(d)))
        .collect();
    format!("holidays = [{}]", dates.join(", "))
}

#[tokio::test]
async fn a_pending_callback_left_without_a_next_reminder_is_counted_not_silent() {
    // Business hours that never open again: every working day for years is a holiday.
    let closed = BASE_CONFIG.replacen(
        "[reminders]\n",
        &format!("[reminders]\n{}\n", holidays_from_today(1200)),
        1,
    );
    let app = spawn_app_with_config(&closed).await;
    let counted = "ringback_pending_without_next_wake_total";
    assert_eq!(metric(&app, counted).await, 0.0);
    let body = missed_call("9876502001", "1780102001.1", "2026-05-28 11:29:00");
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["effect"], "opened");
    let cb = app.pending_for("+919876502001").await.expect("pending");
    assert!(cb["next_reminder_at"].is_null(), "{cb}");
    assert_eq!(metric(&app, counted).await, 1.0);
    // Another missed call from the same customer changes nothing about it: counted once.
    let again = missed_call("9876502001", "1780102002.1", "2026-05-28 11:31:00");
    app.post_json(Some("call_hangup_missed"), &again.to_string())
        .await;
    assert_eq!(metric(&app, counted).await, 1.0);

    // With business hours that open, a new callback has its next reminder and is not counted.
    let open = spawn_app().await;
    open.post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    let cb = open.pending_for("+919876502001").await.expect("pending");
    assert!(cb["next_reminder_at"].is_string(), "{cb}");
    assert_eq!(metric(&open, counted).await, 0.0);
}
