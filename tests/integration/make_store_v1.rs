//! Generates `tests/data/store-v1/`: a small store written by the format-1 code (this
//! commit), with one of everything a store holds, and what the API showed of it. Run with
//! `cargo test --test integration make_store_v1 -- --ignored` on that commit only.

use chrono::Duration;
use serde_json::{Value, json};

use crate::dashboard::{DASHBOARD, Visitor};
use crate::fakes::smtp::FakeSmtp;
use crate::fakes::telegram::FakeBotApi;
use crate::helpers::*;

#[tokio::test]
#[ignore = "regenerates tests/data/store-v1 with the format-1 code; see its README"]
async fn make_store_v1() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let config = format!(
        "{BASE_CONFIG}\n{DASHBOARD}\n[email]\nsmtp_url = \"{}\"\nfrom = \"Ringback <ringback@ringback.test>\"\n\
         [telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n",
        smtp.url(),
        bot.url()
    );
    let app = spawn_app_with_config(&config).await;

    // A: missed (two triggers of one call), reminded on both channels, answered.
    let a = missed_call("9876500801", "1780200001.1", "2026-05-28 11:20:00");
    let (s, r) = app
        .post_json(Some("call_hangup_missed"), &a.to_string())
        .await;
    assert_eq!(s, 200, "{r}");
    let mut a2 = a.clone();
    a2["uuid"] = json!("u-second-leg");
    a2["department_name"] = json!("Sales");
    let (s, r) = app
        .post_json(Some("call_missed_by_agent_hangup"), &a2.to_string())
        .await;
    assert_eq!((s, r["effect"].as_str()), (200, Some("updated")), "{r}");
    // The same delivery again: a duplicate.
    let (s, r) = app
        .post_json(Some("call_hangup_missed"), &a.to_string())
        .await;
    assert_eq!((s, r["effect"].as_str()), (200, Some("duplicate")), "{r}");

    // B: missed, then its email fails (SMTP down) and waits in the outbox; escalated.
    let b = missed_call("9876500802", "1780200002.1", "2026-05-28 11:21:00");
    let (s, r) = app
        .post_json(Some("call_hangup_missed"), &b.to_string())
        .await;
    assert_eq!(s, 200, "{r}");

    let report = app.advance(Duration::minutes(2)).await;
    assert!(report.sent >= 4, "{report:?}");
    let answered = answered_call("9876500801", "1780200010.1", "2026-05-28 11:31:00", "45");
    let (s, r) = app
        .post_json(Some("call_hangup_answered"), &answered.to_string())
        .await;
    assert_eq!((s, r["effect"].as_str()), (200, Some("resolved")), "{r}");
    app.tick().await; // the closing Telegram edit

    // C: a form-encoded missed call nobody was assigned (IVR), snoozed and assigned.
    let (s, r) = app
        .post_form(
            Some("call_hangup_missed"),
            &[
                ("uuid", "u-ivr-3"),
                ("call_id", "1780200003.1"),
                ("caller_id_number", "09876500803"),
                ("start_stamp", "2026-05-28 11:33:00"),
                ("direction", "inbound"),
                ("call_status", "missed"),
                ("missed_agent", ""),
            ],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let c = r["callback_id"].as_str().unwrap().to_string();
    let (s, r) = app
        .api_post(
            &format!("/api/v1/callbacks/{c}/snooze"),
            json!({"minutes": 45, "who": "Asha"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = app
        .api_post(
            &format!("/api/v1/callbacks/{c}/assign"),
            json!({"agent": "Arjun", "who": "Asha"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");

    // D: missed and resolved by hand.
    let d = missed_call("9876500804", "1780200004.1", "2026-05-28 11:34:00");
    let (_, r) = app
        .post_json(Some("call_hangup_missed"), &d.to_string())
        .await;
    let d_id = r["callback_id"].as_str().unwrap().to_string();
    let (s, r) = app
        .api_post(
            &format!("/api/v1/callbacks/{d_id}/resolve"),
            json!({"reason": "spoke on WhatsApp", "who": "Asha"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");

    // E: a body over 3 KiB (stored in chunks), and a GET without a call_id (dedup tree).
    let mut e = missed_call("9876500805", "1780200005.1", "2026-05-28 11:35:00");
    e["notes"] = json!("x".repeat(9000));
    let (s, r) = app
        .post_json(Some("call_hangup_missed"), &e.to_string())
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = app
        .get_query(&[
            ("trigger", "call_received_on_server"),
            ("caller_id_number", "9876500806"),
            ("direction", "inbound"),
        ])
        .await;
    assert_eq!(s, 200, "{r}");

    // B's second round fails on email (SMTP down): a retry waits in the outbox.
    smtp.go_down();
    let report = app.advance(Duration::minutes(15)).await;
    assert!(report.retrying >= 1, "{report:?}");
    // B escalates (30 min after its first miss).
    app.advance(Duration::minutes(14)).await;

    // A rules edit from the dashboard, and a stranger writing to the bot.
    let v = Visitor::new(&app);
    v.login("asha", crate::dashboard::PASSWORD).await;
    let csrf = v.csrf("/rules").await;
    let (status, _, _) = v
        .post(
            "/rules",
            &[
                ("csrf", csrf.as_str()),
                ("first_after", "3m"),
                ("repeat_every", "20m"),
                ("business_hours", "* * 9-18 * * Mon-Sat"),
                ("step_after", "40m"),
                ("step_notify", "Asha"),
            ],
        )
        .await;
    assert_eq!(status.as_u16(), 303);
    bot.say(9999, "hello?");
    assert!(bot.wait_until(|b| !b.messages_to(9999).is_empty()).await);
    // Let the bot store its offset (it does after each batch).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // What the API shows of it all.
    let callbacks = app.callbacks("all").await;
    let mut details = Vec::new();
    for cb in &callbacks {
        details.push(app.callback(cb["id"].as_str().unwrap()).await);
    }
    let (_, events) = app.api_get("/api/v1/events?limit=10000").await;
    let mut bodies = Vec::new();
    for ev in events["events"].as_array().unwrap() {
        let (_, full) = app
            .api_get(&format!("/api/v1/events/{}", ev["id"].as_str().unwrap()))
            .await;
        bodies.push(full);
    }
    let expected = json!({
        "clock": app.clock_now().to_rfc3339(),
        "callbacks": details,
        "events": bodies,
    });
    let dir = app.stop().await;
    let out = data_path("store-v1");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("expected.json"),
        serde_json::to_string_pretty(&expected).unwrap(),
    )
    .unwrap();
    std::fs::write(out.join("config.toml"), config_for_fixture()).unwrap();
    copy(&dir.path().join("data"), &out.join("data"));
    let _: Value = expected;
}

/// The configuration the fixture is read with (the fake servers' ports are gone).
fn config_for_fixture() -> String {
    format!(
        "{BASE_CONFIG}\n{DASHBOARD}\n[email]\nsmtp_url = \"smtp://127.0.0.1:9\"\nfrom = \"Ringback <ringback@ringback.test>\"\n"
    )
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
