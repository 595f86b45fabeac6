//! One bad record does not stop the service (issue 12): a stored callback that can no
//! longer be read is set aside, counted, and every other customer is still reminded.

use chrono::Duration;

use crate::fakes::smtp::FakeSmtp;
use crate::helpers::*;

/// Overwrites a stored callback with bytes that are not a callback, as a failing disk or a
/// bug might, while the service is stopped (through sled itself: the test's only way in).
fn damage_callback(data: &std::path::Path, id: &str) {
    let id: ringback::domain::callback::CallbackId = id.parse().unwrap();
    let db = sled::open(data.join("sled")).unwrap();
    let tree = db
        .open_tree(ringback::store::sled::keys::CALLBACKS)
        .unwrap();
    assert!(
        tree.get(id.to_bytes()).unwrap().is_some(),
        "the callback is stored"
    );
    tree.insert(id.to_bytes(), &b"\x00not a callback"[..])
        .unwrap();
    db.flush().unwrap();
    drop(tree);
    ringback::store::sled::release(db, &data.join("sled"));
}

#[tokio::test]
async fn a_corrupt_callback_is_set_aside_and_the_other_customers_are_still_reminded() {
    let smtp = FakeSmtp::start().await;
    let app = spawn_app_with(&format!(
        "[email]\nsmtp_url = \"{}\"\nfrom = \"Ringback <ringback@ringback.test>\"\n",
        smtp.url()
    ))
    .await;
    let mut ids = Vec::new();
    for (n, customer) in ["9876500901", "9876500902", "9876500903"]
        .iter()
        .enumerate()
    {
        let body = missed_call(customer, &format!("17809000{n}.1"), "2026-05-28 11:29:00");
        let (status, reply) = app
            .post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
        assert_eq!(status, 200, "{reply}");
        ids.push(reply["callback_id"].as_str().unwrap().to_string());
    }
    let broken = ids[1].clone();
    let app = app
        .restart_after(|dir| damage_callback(&dir.join("data"), &broken))
        .await;

    let report = app.advance(Duration::minutes(2)).await;
    assert_eq!(report.sent, 2, "{report:?}");
    let mails = smtp.mails_to("meera@example.in");
    let about = |n: &str| mails.iter().any(|m| m.text().contains(n));
    assert!(about("+919876500901") && about("+919876500903"));
    assert!(!about("+919876500902"));

    // Set aside once, counted, and gone from the lists; the service carries on.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ringback_storage_quarantined_records_total 1"),
        "{metrics}"
    );
    assert_eq!(app.pending().await.len(), 2);
    let (status, _) = app.api_get(&format!("/api/v1/callbacks/{broken}")).await;
    assert_eq!(status, 404);
    // The customer calls again: a new callback, so they are not forgotten.
    let again = missed_call("9876500902", "1780900099.1", "2026-05-28 11:40:00");
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &again.to_string())
        .await;
    assert_eq!(
        (status, reply["effect"].as_str()),
        (200, Some("opened")),
        "{reply}"
    );
}

#[tokio::test]
async fn reading_a_corrupt_callback_answers_500_not_503() {
    let app = spawn_app().await;
    let body = missed_call("9876500911", "1780901000.1", "2026-05-28 11:29:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    let id = reply["callback_id"].as_str().unwrap().to_string();
    let app = app
        .restart_after(|dir| damage_callback(&dir.join("data"), &id))
        .await;
    let (status, reply) = app.api_get(&format!("/api/v1/callbacks/{id}")).await;
    assert_eq!(status, 500, "retrying would not help: {reply}");
    assert_eq!(reply["ok"], false);
    assert!(
        !reply["error"].as_str().unwrap().contains("not a callback"),
        "opaque: {reply}"
    );
}
