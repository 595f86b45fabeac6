//! Acknowledged events survive a restart (SPEC §9).

use crate::helpers::*;

#[tokio::test]
async fn every_acknowledged_event_is_there_after_a_restart() {
    let app = spawn_app().await;
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        let body = missed_call(
            &format!("98765006{i:02}"),
            &format!("17800006{i:02}.1"),
            "2026-05-28 10:00:00",
        );
        let (status, reply) = app
            .post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
        assert_eq!(status, 200);
        acknowledged.push(reply["callback_id"].as_str().unwrap().to_string());
    }
    let resolved = app
        .post_json(
            Some("call_hangup_answered"),
            &answered_call("9876500600", "1780009999.1", "2026-05-28 10:30:00", "40").to_string(),
        )
        .await
        .1;
    assert_eq!(resolved["effect"], "resolved");

    let app = app.restart().await;
    for id in &acknowledged {
        app.callback(id).await;
    }
    assert_eq!(app.pending().await.len(), 39);
    assert_eq!(app.callbacks("resolved").await.len(), 1);
    let (_, events) = app.api_get("/api/v1/events?limit=1000").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 41);
    // Duplicates are still recognised after the restart.
    let again = missed_call("9876500601", "1780000601.1", "2026-05-28 10:00:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &again.to_string())
        .await;
    assert_eq!(reply["effect"], "duplicate");
}

#[tokio::test]
async fn concurrent_webhooks_share_flushes_and_all_land() {
    let app = std::sync::Arc::new(spawn_app().await);
    let mut tasks = Vec::new();
    for client in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for i in 0..25 {
                let customer = format!("98765{client:02}{i:03}");
                let body = missed_call(
                    &customer,
                    &format!("17800{client:02}{i:03}.7"),
                    "2026-05-28 10:00:00",
                );
                let (status, reply) = app
                    .post_json(Some("call_hangup_missed"), &body.to_string())
                    .await;
                assert_eq!(status, 200, "{reply}");
                ok += 1;
            }
            ok
        }));
    }
    let mut acknowledged = 0;
    for t in tasks {
        acknowledged += t.await.unwrap();
    }
    assert_eq!(acknowledged, 200);
    assert_eq!(app.pending().await.len(), 200);
}
