//! Every trigger slug of SPEC §4.2 with a realistic payload, and its effect on callbacks.

use crate::helpers::*;

#[tokio::test]
async fn informational_triggers_are_recorded_and_open_nothing() {
    let app = spawn_app().await;
    for (slug, file) in [
        ("call_received_on_server", "call_received_on_server.json"),
        ("call_answered_on_ivr", "call_answered_on_ivr.json"),
        ("dtmf_option", "dtmf_option.json"),
        ("dialed_on_agent", "dialed_on_agent.json"),
        (
            "call_received_on_auto_attendant",
            "call_received_on_auto_attendant.json",
        ),
        (
            "call_received_on_department",
            "call_received_on_department.json",
        ),
    ] {
        let reply = app.post_fixture(slug, file).await;
        assert_eq!(reply["effect"], "recorded", "{slug}: {reply}");
        assert_eq!(reply["trigger"], slug);
    }
    assert!(app.pending().await.is_empty());
}

#[tokio::test]
async fn call_hangup_missed_opens_a_callback_for_the_first_missed_agent() {
    let app = spawn_app().await;
    let reply = app
        .post_fixture("call_hangup_missed", "call_hangup_missed.json")
        .await;
    assert_eq!(reply["effect"], "opened");
    let cb = app.pending_for("+919876500001").await.expect("pending");
    assert_eq!(cb["missed_calls"], 1);
    assert_eq!(cb["assigned_agent"]["name"], "Meera");
    assert_eq!(cb["assigned_agent"]["number"], "+919800000011");
    assert_eq!(cb["first_missed_at"], "2026-05-28T10:40:00+05:30");
    assert_eq!(cb["status"], "pending");
    assert_eq!(cb["id"], reply["callback_id"]);
}

#[tokio::test]
async fn call_missed_by_agent_hangup_sets_every_missed_agent() {
    let app = spawn_app().await;
    let reply = app
        .post_fixture(
            "call_missed_by_agent_hangup",
            "call_missed_by_agent_hangup.json",
        )
        .await;
    assert_eq!(reply["effect"], "opened");
    let cb = app.pending_for("+919876500002").await.expect("pending");
    let names: Vec<_> = cb["missed_agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, ["Meera", "Arjun"]);
    assert_eq!(cb["assigned_agent"]["name"], "Meera");
}

#[tokio::test]
async fn call_answered_by_agent_hangup_clears_the_customers_callback() {
    let app = spawn_app().await;
    app.post_fixture("call_hangup_missed", "call_hangup_missed.json")
        .await;
    let reply = app
        .post_fixture(
            "call_answered_by_agent_hangup",
            "call_answered_by_agent_hangup.json",
        )
        .await;
    assert_eq!(reply["effect"], "resolved");
    assert!(app.pending().await.is_empty());
    let cb = app.callback(reply["callback_id"].as_str().unwrap()).await;
    assert_eq!(cb["status"], "resolved");
    assert_eq!(cb["resolution"]["kind"], "answered_inbound");
    assert_eq!(cb["resolution"]["agent"], "Arjun");
    assert_eq!(cb["resolution"]["call_id"], "1780000900.100003");
    assert_eq!(cb["next_reminder_at"], serde_json::Value::Null);
}

#[tokio::test]
async fn click_to_call_missed_then_answered_counts_an_attempt_then_resolves() {
    let app = spawn_app().await;
    app.post_fixture(
        "call_missed_by_agent_hangup",
        "call_missed_by_agent_hangup.json",
    )
    .await;
    let reply = app
        .post_fixture("c2c_missed_by_customer", "c2c_missed_by_customer.json")
        .await;
    assert_eq!(reply["effect"], "attempt");
    assert_eq!(
        app.pending_for("+919876500002").await.unwrap()["attempts"],
        1
    );
    let reply = app
        .post_fixture("c2c_answered_by_customer", "c2c_answered_by_customer.json")
        .await;
    assert_eq!(reply["effect"], "resolved");
    let cb = app.callback(reply["callback_id"].as_str().unwrap()).await;
    assert_eq!(cb["resolution"]["kind"], "answered_outbound");
    assert_eq!(cb["resolution"]["agent"], "Meera");
    assert_eq!(cb["attempts"], 1);
}

/// Opens a callback for `customer` with a call that started well before the fixtures'.
async fn open_for(app: &TestApp, customer: &str) {
    let body = missed_call(
        customer,
        &format!("1779990000.{}", &customer[customer.len() - 4..]),
        "2026-05-28 09:00:00",
    );
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(
        (status, reply["effect"].as_str()),
        (200, Some("opened")),
        "{reply}"
    );
}

#[tokio::test]
async fn live_and_session_answered_triggers_clear() {
    let app = spawn_app().await;
    for (slug, file, customer) in [
        (
            "call_answered_by_agent",
            "call_answered_by_agent.json",
            "9876500006",
        ),
        (
            "call_hangup_answered",
            "call_hangup_answered.json",
            "9876500007",
        ),
        (
            "session_call_answered",
            "session_call_answered.json",
            "9876500011",
        ),
    ] {
        open_for(&app, customer).await;
        let reply = app.post_fixture(slug, file).await;
        assert_eq!(reply["effect"], "resolved", "{slug}: {reply}");
        let cb = app.callback(reply["callback_id"].as_str().unwrap()).await;
        assert_eq!(cb["resolution"]["kind"], "answered_inbound", "{slug}");
    }
    assert!(app.pending().await.is_empty());
}

#[tokio::test]
async fn call_answered_by_agent_on_a_click_to_call_leg_does_not_clear() {
    let app = spawn_app().await;
    open_for(&app, "9876500006").await;
    let mut body = fixture("call_answered_by_agent.json");
    body["direction"] = "click_to_call".into();
    body["call_to_number"] = "9876500006".into();
    let (_, reply) = app
        .post_json(Some("call_answered_by_agent"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "recorded");
    assert_eq!(app.pending().await.len(), 1);
}

#[tokio::test]
async fn call_hangup_reads_call_status_for_missed_and_answered() {
    let app = spawn_app().await;
    let reply = app.post_fixture("call_hangup", "call_hangup.json").await;
    assert_eq!(reply["effect"], "opened", "{reply}");
    let cb = app.pending_for("+919876500008").await.unwrap();
    assert_eq!(cb["assigned_agent"]["name"], "Arjun");

    let mut answered = fixture("call_hangup.json");
    answered["call_id"] = "1780003300.100023".into();
    answered["uuid"] = "6a1f1b0b1c2ff".into();
    answered["start_stamp"] = "2026-05-28 11:35:00".into();
    answered["call_status"] = "answered".into();
    answered["missed_agent"] = "".into();
    let (_, reply) = app
        .post_json(Some("call_hangup"), &answered.to_string())
        .await;
    assert_eq!(reply["effect"], "resolved");

    let mut unknown = fixture("call_hangup.json");
    unknown["call_id"] = "1780003400.100024".into();
    unknown.as_object_mut().unwrap().remove("call_status");
    let (_, reply) = app
        .post_json(Some("call_hangup"), &unknown.to_string())
        .await;
    assert_eq!(reply["effect"], "recorded");
    assert!(reply["note"].as_str().unwrap().contains("call_status"));
}

#[tokio::test]
async fn dialer_call_connected_clears_when_the_customer_was_reached() {
    let app = spawn_app().await;
    open_for(&app, "9876500009").await;
    let reply = app
        .post_fixture("dialer_call_connected", "dialer_call_connected.json")
        .await;
    assert_eq!(reply["effect"], "resolved", "{reply}");
    let cb = app.callback(reply["callback_id"].as_str().unwrap()).await;
    assert_eq!(cb["resolution"]["kind"], "answered_outbound");
    assert_eq!(cb["resolution"]["agent"], "Arjun");
}

#[tokio::test]
async fn dialer_disposition_is_noted_on_the_pending_callbacks_timeline() {
    let app = spawn_app().await;
    open_for(&app, "9876500010").await;
    let reply = app
        .post_fixture(
            "dialer_disposition_updated",
            "dialer_disposition_updated.json",
        )
        .await;
    assert_eq!(reply["effect"], "recorded");
    let id = app.pending_for("+919876500010").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cb = app.callback(&id).await;
    let last = cb["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "disposition");
    assert_eq!(last["detail"], "Not reachable / Switched off");
}

#[tokio::test]
async fn the_department_of_a_call_is_kept_for_its_missed_callback() {
    let app = spawn_app().await;
    app.post_fixture(
        "call_received_on_department",
        "call_received_on_department.json",
    )
    .await;
    // The same call (same call_id) then hangs up missed.
    let body = missed_call("+919876500004", "1780002000.100010", "2026-05-28 11:10:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened");
    assert_eq!(
        app.pending_for("+919876500004").await.unwrap()["department"],
        "Sales"
    );
}

#[tokio::test]
async fn triggers_are_inferred_when_the_url_has_none() {
    let app = spawn_app().await;
    for (file, slug) in [
        ("call_hangup_missed.json", "call_missed_by_agent_hangup"),
        (
            "call_answered_by_agent_hangup.json",
            "call_answered_by_agent_hangup",
        ),
        ("c2c_answered_by_customer.json", "c2c_answered_by_customer"),
        ("c2c_missed_by_customer.json", "c2c_missed_by_customer"),
        ("call_answered_by_agent.json", "call_answered_by_agent"),
        ("call_hangup_answered.json", "call_answered_by_agent_hangup"),
        ("dtmf_option.json", "dtmf_option"),
        (
            "call_received_on_department.json",
            "call_received_on_department",
        ),
        (
            "call_received_on_auto_attendant.json",
            "call_received_on_auto_attendant",
        ),
        ("call_answered_on_ivr.json", "call_answered_on_ivr"),
        ("dialed_on_agent.json", "call_received_on_department"),
        ("dialer_call_connected.json", "dialer_call_connected"),
        (
            "dialer_disposition_updated.json",
            "dialer_disposition_updated",
        ),
        ("call_received_on_server.json", "call_received_on_server"),
    ] {
        let (status, reply) = app.post_json(None, &fixture_text(file)).await;
        assert_eq!(status, 200, "{file}: {reply}");
        assert_eq!(reply["trigger"], slug, "{file}: {reply}");
        assert_eq!(reply["trigger_inferred"], true, "{file}");
    }
}

#[tokio::test]
async fn an_undecidable_event_is_recorded_and_the_reply_says_so() {
    let app = spawn_app().await;
    let (status, reply) = app.post_json(None, r#"{"hello":"world"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(reply["trigger"], "unknown");
    assert_eq!(reply["effect"], "recorded");
    assert!(reply["note"].as_str().unwrap().contains("?trigger="));
}
