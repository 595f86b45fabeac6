//! The read API of SPEC §7.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_api_needs_a_bearer_token() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/callbacks",
        "/api/v1/callbacks/01M8MKQFH12E6PMJQ6D48WEJRS",
        "/api/v1/events",
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        // The webhook token is not an API token.
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(WEBHOOK_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn a_callback_has_the_documented_shape_and_its_timeline() {
    let app = spawn_app().await;
    let opened = app
        .post_fixture(
            "call_missed_by_agent_hangup",
            "call_missed_by_agent_hangup.json",
        )
        .await;
    let id = opened["callback_id"].as_str().unwrap();
    let cb = app.callback(id).await;
    // Keys in the order SPEC §7 lists them (checked on the raw text: Value sorts keys).
    let raw = app
        .client
        .get(format!("{}/api/v1/callbacks/{id}", app.address))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let order = [
        "id",
        "customer_number",
        "status",
        "missed_calls",
        "first_missed_at",
        "last_missed_at",
        "first_received_at",
        "last_received_at",
        "assigned_agent",
        "missed_agents",
        "department",
        "attempts",
        "reminders_sent",
        "escalation_level",
        "next_reminder_at",
        "snoozed_until",
        "resolved_at",
        "resolution",
        "sla_due_at",
        "breached",
        "events",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| {
            raw.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing in {raw}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{raw}");
    assert_eq!(cb.as_object().unwrap().len(), order.len());
    assert_eq!(cb["customer_number"], "+919876500002");
    // Two clocks, each its own field: the call's start by Smartflo, and Ringback's receipt,
    // which the callback's age and escalation run on.
    assert_eq!(cb["first_received_at"], "2026-05-28T11:30:00+05:30");
    assert_ne!(cb["first_missed_at"], cb["first_received_at"]);
    assert_eq!(cb["reminders_sent"], 0);
    assert_eq!(cb["escalation_level"], 0);
    assert_eq!(cb["resolution"], Value::Null);
    assert_eq!(cb["snoozed_until"], Value::Null);
    // Received 11:30 IST on a Thursday; first reminder 2 minutes later, inside business hours.
    assert_eq!(cb["next_reminder_at"], "2026-05-28T11:32:00+05:30");
    let events = cb["events"].as_array().unwrap();
    assert_eq!(events[0]["kind"], "missed_call");
    assert_eq!(events[0]["call_id"], "1780000300.100002");
    assert_eq!(events[0]["trigger"], "call_missed_by_agent_hangup");
    assert_eq!(events[0]["event_id"], opened["event_id"]);
    assert_eq!(events[0]["at"], "2026-05-28T11:30:00+05:30");
    assert_eq!(events[1]["kind"], "assigned");
    assert_eq!(events[1]["agent"], "Meera");
}

#[tokio::test]
async fn next_reminder_waits_for_business_hours() {
    let app = spawn_app().await;
    // Thursday 20:00 IST: after hours, so the reminder waits for Friday 09:00.
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-05-28T20:00:00+05:30")
            .unwrap()
            .into(),
    );
    let body = missed_call("9876500201", "1780020000.1", "2026-05-28 19:59:00");
    app.post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    let cb = app.pending_for("+919876500201").await.unwrap();
    assert_eq!(cb["next_reminder_at"], "2026-05-29T09:00:00+05:30");
}

#[tokio::test]
async fn pending_callbacks_are_listed_oldest_first_and_resolved_ones_apart() {
    let app = spawn_app().await;
    for (customer, call, start) in [
        ("9876500302", "1780000002.1", "2026-05-28 10:20:00"),
        ("9876500301", "1780000001.1", "2026-05-28 10:10:00"),
        ("9876500303", "1780000003.1", "2026-05-28 10:30:00"),
    ] {
        app.post_json(
            Some("call_hangup_missed"),
            &missed_call(customer, call, start).to_string(),
        )
        .await;
    }
    let answered = answered_call("9876500302", "1780000004.1", "2026-05-28 10:40:00", "30");
    app.post_json(Some("call_hangup_answered"), &answered.to_string())
        .await;

    let numbers = |list: Vec<Value>| {
        list.iter()
            .map(|c| c["customer_number"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        numbers(app.pending().await),
        ["+919876500301", "+919876500303"]
    );
    assert_eq!(numbers(app.callbacks("resolved").await), ["+919876500302"]);
    assert_eq!(
        numbers(app.callbacks("all").await),
        ["+919876500301", "+919876500303", "+919876500302"]
    );
    let (status, _) = app.api_get("/api/v1/callbacks?status=open").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn long_lists_come_in_pages() {
    let app = spawn_app().await;
    for i in 0..7 {
        let body = missed_call(
            &format!("98765004{i:02}"),
            &format!("178000000{i}.1"),
            &format!("2026-05-28 10:0{i}:00"),
        );
        app.post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/callbacks?limit=3&cursor={c}"),
            None => "/api/v1/callbacks?limit=3".to_string(),
        };
        let (_, page) = app.api_get(&path).await;
        for c in page["callbacks"].as_array().unwrap() {
            seen.push(c["customer_number"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("+9198765004{i:02}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_misspelt_query_parameter_is_refused_not_ignored() {
    let app = spawn_app().await;
    for (path, named) in [
        ("/api/v1/callbacks?statuss=all", "statuss"),
        ("/api/v1/callbacks?status=all&limt=5", "limt"),
        ("/api/v1/events?afer=01M8MKQFH12E6PMJQ6D48WEJRS", "afer"),
        ("/api/v1/callbacks.csv?state=pending", "state"),
    ] {
        let (status, body) = app.api_get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("unknown parameter `{named}`")),
            "{path}: {error}"
        );
    }
    let (status, _) = app.api_get("/api/v1/callbacks?status=all&limit=5").await;
    assert_eq!(status, 200, "the known ones still work");
}

#[tokio::test]
async fn unknown_callbacks_and_events_are_404() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/callbacks/01M8MKQFH12E6PMJQ6D48WEJRS",
        "/api/v1/callbacks/not-an-id",
        "/api/v1/events/zzz",
    ] {
        let (status, body) = app.api_get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["ok"], false);
    }
    let (status, _) = app.api_get("/api/v1/nothing-here").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_event_log_keeps_each_request_verbatim() {
    let app = spawn_app().await;
    let text = fixture_text("call_hangup_missed.json");
    let reply = app
        .post_fixture("call_hangup_missed", "call_hangup_missed.json")
        .await;
    let (_, event) = app
        .api_get(&format!(
            "/api/v1/events/{}",
            reply["event_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(event["body"], text);
    assert_eq!(event["trigger"], "call_hangup_missed");
    assert_eq!(event["effect"], "opened");
    assert_eq!(event["method"], "POST");
    assert_eq!(event["content_type"], "application/json");
    assert_eq!(event["query"], "trigger=call_hangup_missed");
    assert_eq!(event["callback_id"], reply["callback_id"]);
    assert!(
        !event.to_string().contains(WEBHOOK_TOKEN),
        "the token is never logged"
    );

    let (_, list) = app.api_get("/api/v1/events").await;
    assert_eq!(list["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
}
