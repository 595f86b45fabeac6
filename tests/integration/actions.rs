//! A person's actions through the API (SPEC §7): resolve, snooze, assign.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;

async fn open(app: &TestApp) -> String {
    let body = missed_call("9876500801", "1780080001.1", "2026-05-28 11:29:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    reply["callback_id"].as_str().unwrap().to_string()
}

fn last_event(cb: &Value) -> Value {
    cb["events"].as_array().unwrap().last().unwrap().clone()
}

#[tokio::test]
async fn resolving_by_hand_records_the_reason_and_who_and_stops_reminders() {
    let app = spawn_app().await;
    let id = open(&app).await;
    let (status, cb) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/resolve"),
            json!({"reason": "Customer emailed instead", "who": "Asha"}),
        )
        .await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["status"], "resolved");
    assert_eq!(cb["resolution"]["kind"], "manual");
    assert_eq!(cb["resolution"]["reason"], "Customer emailed instead");
    assert_eq!(cb["resolution"]["agent"], "Asha");
    assert_eq!(cb["next_reminder_at"], Value::Null);
    let full = app.callback(&id).await;
    let event = last_event(&full);
    assert_eq!(event["kind"], "resolved_manually");
    assert_eq!(event["who"], "Asha");
    assert!(app.pending().await.is_empty());
    let report = app.advance(Duration::minutes(5)).await;
    assert_eq!(report.claimed, 0, "no reminder for a resolved callback");

    let (status, body) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/resolve"),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn snoozing_moves_the_next_reminder() {
    let app = spawn_app().await;
    let id = open(&app).await;
    let (status, cb) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/snooze"),
            json!({"minutes": 30}),
        )
        .await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["snoozed_until"], "2026-05-28T12:00:00+05:30");
    assert_eq!(cb["next_reminder_at"], "2026-05-28T12:00:00+05:30");
    let (status, cb) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/snooze"),
            json!({"until": "2026-05-28T15:00:00+05:30"}),
        )
        .await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["next_reminder_at"], "2026-05-28T15:00:00+05:30");
    assert_eq!(last_event(&app.callback(&id).await)["who"], "api");
}

#[tokio::test]
async fn assigning_changes_who_is_reminded() {
    let app = spawn_app().await;
    let id = open(&app).await;
    let (status, cb) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/assign"),
            json!({"agent": "arjun", "who": "Asha"}),
        )
        .await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["assigned_agent"]["name"], "Arjun");
    assert_eq!(cb["assigned_agent"]["number"], "+919800000012");
    app.advance(Duration::minutes(2)).await;
    let full = app.callback(&id).await;
    let sent = full["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "reminder_sent")
        .unwrap()
        .clone();
    assert_eq!(sent["agent"], "Arjun", "{sent}");
}

#[tokio::test]
async fn assigning_a_callback_to_the_agent_who_has_it_changes_nothing() {
    let app = spawn_app().await;
    let id = open(&app).await;
    let before = app.callback(&id).await;
    assert_eq!(before["assigned_agent"]["name"], "Meera");
    let (status, cb) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/assign"),
            json!({"agent": "meera", "who": "Asha"}),
        )
        .await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["assigned_agent"]["name"], "Meera");
    let after = app.callback(&id).await;
    assert_eq!(after["events"], before["events"], "no timeline entry");
    assert_eq!(after["next_reminder_at"], before["next_reminder_at"]);
}

#[tokio::test]
async fn bad_actions_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let id = open(&app).await;
    for (path, body, code) in [
        (format!("/api/v1/callbacks/{id}/resolve"), json!({}), 400),
        (
            format!("/api/v1/callbacks/{id}/resolve"),
            json!({"reason": "  "}),
            400,
        ),
        (
            format!("/api/v1/callbacks/{id}/snooze"),
            json!({"minutes": 0}),
            400,
        ),
        (
            format!("/api/v1/callbacks/{id}/snooze"),
            json!({"minutes": 20000}),
            400,
        ),
        (
            format!("/api/v1/callbacks/{id}/snooze"),
            json!({"until": "2026-05-28T10:00:00+05:30"}),
            400,
        ),
        (
            format!("/api/v1/callbacks/{id}/snooze"),
            json!({"minutes": 5, "until": "2026-05-28T15:00:00+05:30"}),
            400,
        ),
        (
            format!("/api/v1/callbacks/{id}/assign"),
            json!({"agent": "Nobody"}),
            400,
        ),
        (
            format!("/api/v1/callbacks/{id}/assign"),
            json!({"agent": "Arjun", "extra": 1}),
            400,
        ),
        (
            "/api/v1/callbacks/01M8MKQFH12E6PMJQ6D48WEJRS/resolve".to_string(),
            json!({"reason": "x"}),
            404,
        ),
        (
            "/api/v1/callbacks/nope/snooze".to_string(),
            json!({"minutes": 5}),
            404,
        ),
    ] {
        let (status, reply) = app.api_post(&path, body.clone()).await;
        assert_eq!(status, code, "{path} {body}: {reply}");
        assert_eq!(reply["ok"], false);
    }
    let r = app
        .client
        .post(format!("{}/api/v1/callbacks/{id}/resolve", app.address))
        .json(&json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let cb = app.callback(&id).await;
    assert_eq!(cb["status"], "pending");
    assert_eq!(cb["snoozed_until"], Value::Null);
    assert_eq!(cb["assigned_agent"]["name"], "Meera");
    assert_eq!(cb["attempts"], 0);
}

#[tokio::test]
async fn a_time_that_cannot_be_read_is_refused_saying_what_to_write() {
    let app = spawn_app().await;
    let id = open(&app).await;
    for (path, body, said) in [
        (
            "outcome",
            json!({"outcome": "call_later", "at": "tomorrow"}),
            "\"tomorrow\" is not a time: write it in RFC 3339 with its offset",
        ),
        (
            "outcome",
            json!({"outcome": "call_later", "at": "2026-05-28T15:00:00"}),
            "\"2026-05-28T15:00:00\" is not a time",
        ),
        ("snooze", json!({"until": "5pm"}), "\"5pm\" is not a time"),
    ] {
        let (status, reply) = app
            .api_post(&format!("/api/v1/callbacks/{id}/{path}"), body.clone())
            .await;
        assert_eq!(status, 400, "{body}: {reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.contains(said), "{body}: {error}");
    }
    assert_eq!(app.callback(&id).await["attempts"], 0);

    // The backup takes no fields: a place to write to is refused, not ignored.
    let (status, reply) = app
        .api_post("/api/v1/backup", json!({"to": "/tmp/elsewhere"}))
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `to`"),
        "{reply}"
    );
}
