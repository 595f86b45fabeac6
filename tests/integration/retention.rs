//! Retention (`[storage].retention`, issue 6): the scheduler deletes resolved callbacks and
//! raw events older than the retention, with everything that hangs off them, and nothing
//! else.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;

async fn open_with_big_body(app: &TestApp, customer: &str, call_id: &str) -> String {
    let mut body = missed_call(customer, call_id, "2026-05-28 10:00:00");
    body["notes"] = json!("n".repeat(10_000));
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    reply["callback_id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!("no callback id in {reply}");
        })
}

#[tokio::test]
async fn resolved_callbacks_and_events_past_the_retention_are_deleted_and_the_rest_kept() {
    let app = spawn_app().await; // the default retention: 90 days
    let (_, opened) = app
        .post_json(
            Some("call_hangup_missed"),
            &missed_call("9876500001", "1780000001.1", "2026-05-28 10:00:00").to_string(),
        )
        .await;
    let old_resolved = opened["callback_id"].as_str().unwrap().to_string();
    let (status, _) = app
        .post_json(
            Some("call_hangup_answered"),
            &answered_call("9876500001", "1780000002.1", "2026-05-28 10:05:00", "40").to_string(),
        )
        .await;
    assert_eq!(status, 200);
    let (_, opened) = app
        .post_json(
            Some("call_hangup_missed"),
            &missed_call("9876500002", "1780000003.1", "2026-05-28 10:10:00").to_string(),
        )
        .await;
    let still_pending = opened["callback_id"].as_str().unwrap().to_string();
    let big = open_with_big_body(&app, "9876500003", "1780000004.1").await;
    let (status, reply) = app
        .api_post(
            &format!("/api/v1/callbacks/{big}/resolve"),
            json!({"who": "Asha", "reason": "spoke on WhatsApp"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    // An event without a call_id: deduplicated through its own index.
    let (status, reply) = app
        .post_json(
            Some("call_received_on_server"),
            &json!({"uuid": "no-call-id-1", "caller_id_number": "9876500004"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");

    // Sixty days on, a callback that is resolved within the retention.
    assert_eq!(app.advance(Duration::days(60)).await.purged.callbacks, 0);
    let (_, opened) = app
        .post_json(
            Some("call_hangup_missed"),
            &missed_call("9876500005", "1785000001.1", "2026-07-27 10:00:00").to_string(),
        )
        .await;
    let recent_resolved = opened["callback_id"].as_str().unwrap().to_string();
    app.post_json(
        Some("call_hangup_answered"),
        &answered_call("9876500005", "1785000002.1", "2026-07-27 10:05:00", "40").to_string(),
    )
    .await;

    let report = app.advance(Duration::days(31)).await;
    assert_eq!(report.purged.callbacks, 2, "{report:?}");
    assert_eq!(report.purged.events, 5, "{report:?}");
    assert_eq!(report.purged.calls, 4, "{report:?}");

    let (status, _) = app
        .api_get(&format!("/api/v1/callbacks/{old_resolved}"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.api_get(&format!("/api/v1/callbacks/{big}")).await;
    assert_eq!(status, 404);
    let pending = app.callback(&still_pending).await;
    assert_eq!(
        pending["status"], "pending",
        "pending callbacks are never deleted"
    );
    assert_eq!(app.callback(&recent_resolved).await["status"], "resolved");
    let (_, events) = app.api_get("/api/v1/events").await;
    let left: Vec<&Value> = events["events"].as_array().unwrap().iter().collect();
    assert_eq!(left.len(), 2, "{events}");

    // An hour has not passed: the next tick does not purge again.
    assert_eq!(app.tick().await.purged, Default::default());
    // (That nothing is left behind in any of the embedded store's trees is a test of that
    // backend: `store::sled::tests::retention_leaves_nothing_behind_in_any_tree`.)
}

#[tokio::test]
async fn a_retention_of_forever_keeps_everything() {
    let config = BASE_CONFIG.replacen(
        "[storage]\npath = \"data\"\n",
        "[storage]\npath = \"data\"\nretention = \"forever\"\n",
        1,
    );
    let app = spawn_app_with_config(&config).await;
    let big = open_with_big_body(&app, "9876500003", "1780000004.1").await;
    app.api_post(
        &format!("/api/v1/callbacks/{big}/resolve"),
        json!({"who": "Asha", "reason": "spoke on WhatsApp"}),
    )
    .await;
    let report = app.advance(Duration::days(3650)).await;
    assert_eq!(report.purged, Default::default());
    assert_eq!(app.callback(&big).await["status"], "resolved");
    let (_, event) = app.api_get("/api/v1/events").await;
    assert_eq!(event["events"].as_array().unwrap().len(), 1);
}
