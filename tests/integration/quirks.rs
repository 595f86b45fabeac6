//! The quirks of real Smartflo traffic (SPEC §4.3, §4.4, payload-notes.md), one test each.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_key_with_a_trailing_space_still_names_the_customer() {
    let app = spawn_app().await;
    let body = json!({
        "call_id": "1.1", "uuid": "a1", "call_status": "missed", "direction": "inbound",
        "customer_no_with_prefix ": "919876500101", "caller_id_number": "", "start_stamp": "2026-05-28 10:00:00"
    });
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened", "{reply}");
    assert!(app.pending_for("+919876500101").await.is_some());
}

#[tokio::test]
async fn dollar_prefixed_keys_and_unreplaced_placeholders_are_read_right() {
    let app = spawn_app().await;
    let body = json!({
        "$call_id": "1.2", "$uuid": "6a1f0c2b9d3e1", "$call_status": "missed", "$direction": "inbound",
        "$caller_id_number": "9876500102", "customer_number": "$customer_number",
        "campaign_name": "$campaign_name", "answered_agent_number": "_number", "start_stamp": "2026-05-28 10:00:00"
    });
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened", "{reply}");
    assert!(app.pending_for("+919876500102").await.is_some());
    // The same $uuid again is a duplicate.
    let (_, again) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(again["effect"], "duplicate");
}

#[tokio::test]
async fn a_get_webhook_with_go_map_renderings_is_understood() {
    let app = spawn_app().await;
    let (status, reply) = app
        .get_query(&[
            ("trigger", "call_missed_by_agent_hangup"),
            ("call_id", "1780000300.100099"),
            ("uuid", "6a1f0c9a0b1ff"),
            ("call_status", "missed"),
            ("direction", "inbound"),
            ("caller_id_number", "09876500103"),
            ("start_stamp", "2026-05-28 10:45:00"),
            ("missed_agent", "[map[agent_number:+919800000012 id:0507000000012 name:Arjun Kumar number:+919800000012]]"),
            ("billing_circle", "map[circle:Delhi operator:Jio]"),
        ])
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["effect"], "opened");
    let cb = app.pending_for("+919876500103").await.unwrap();
    assert_eq!(cb["assigned_agent"]["name"], "Arjun");
    assert_eq!(cb["missed_agents"][0]["smartflo_id"], "0507000000012");
}

#[tokio::test]
async fn a_json_string_missed_agent_in_a_form_body_is_understood() {
    let app = spawn_app().await;
    let (status, reply) = app
        .post_form(
            Some("call_missed_by_agent_hangup"),
            &[
                ("call_id", "1780000300.100098"),
                ("uuid", "6a1f0c9a0b1fe"),
                ("call_status", "missed"),
                ("direction", "inbound"),
                ("customer_number_with_prefix", "+919876500104"),
                ("start_stamp", "2026-05-28 10:46:00"),
                (
                    "missed_agent",
                    r#"{"id":"0507000000011","name":"Meera","number":"+919800000011"}"#,
                ),
                ("first_missed_agent_number", "+919800000011"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let cb = app.pending_for("+919876500104").await.unwrap();
    assert_eq!(cb["assigned_agent"]["name"], "Meera");
    assert_eq!(cb["missed_agents"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn every_spelling_of_a_number_collapses_to_one_callback() {
    let app = spawn_app().await;
    for (i, spelling) in [
        "9876500105",
        "09876500105",
        "919876500105",
        "+919876500105",
        "+91 98765-00105",
    ]
    .iter()
    .enumerate()
    {
        let body = missed_call(
            spelling,
            &format!("1780000{i}.1"),
            &format!("2026-05-28 10:0{i}:00"),
        );
        let (_, reply) = app
            .post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
        let expected = if i == 0 { "opened" } else { "updated" };
        assert_eq!(reply["effect"], expected, "{spelling}: {reply}");
    }
    let pending = app.pending().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["customer_number"], "+919876500105");
    assert_eq!(pending[0]["missed_calls"], 5);
    assert_eq!(pending[0]["first_missed_at"], "2026-05-28T10:00:00+05:30");
    assert_eq!(pending[0]["last_missed_at"], "2026-05-28T10:04:00+05:30");
}

#[tokio::test]
async fn a_duplicate_delivery_changes_nothing_and_returns_the_first_event_id() {
    let app = spawn_app().await;
    let first = app
        .post_fixture("call_hangup_missed", "call_hangup_missed.json")
        .await;
    let second = app
        .post_fixture("call_hangup_missed", "call_hangup_missed.json")
        .await;
    assert_eq!(second["effect"], "duplicate");
    assert_eq!(second["event_id"], first["event_id"]);
    let cb = app.pending_for("+919876500001").await.unwrap();
    assert_eq!(cb["missed_calls"], 1);
    assert_eq!(
        app.callback(cb["id"].as_str().unwrap()).await["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn two_triggers_for_one_missed_call_count_it_once() {
    let app = spawn_app().await;
    let a = app
        .post_fixture(
            "call_missed_by_agent_hangup",
            "call_missed_by_agent_hangup.json",
        )
        .await;
    let mut same_call = fixture("call_missed_by_agent_hangup.json");
    same_call["uuid"] = "6a1f0c9a0b1c9".into();
    let (_, b) = app
        .post_json(Some("call_hangup_missed"), &same_call.to_string())
        .await;
    assert_eq!(a["effect"], "opened");
    assert_eq!(b["effect"], "updated");
    assert_eq!(
        app.pending_for("+919876500002").await.unwrap()["missed_calls"],
        1
    );
}

#[tokio::test]
async fn an_answered_call_that_arrives_before_an_older_missed_call_wins() {
    let app = spawn_app().await;
    let answered = answered_call("9876500106", "1780000500.2", "2026-05-28 10:05:00", "60");
    let (_, reply) = app
        .post_json(Some("call_hangup_answered"), &answered.to_string())
        .await;
    assert_eq!(reply["effect"], "recorded");
    let missed = missed_call("9876500106", "1780000100.1", "2026-05-28 10:01:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &missed.to_string())
        .await;
    assert_eq!(reply["effect"], "recorded", "{reply}");
    assert!(app.pending().await.is_empty());
    // A missed call after the answered one opens a callback as usual.
    let later = missed_call("9876500106", "1780000900.3", "2026-05-28 10:09:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &later.to_string())
        .await;
    assert_eq!(reply["effect"], "opened");
}

#[tokio::test]
async fn an_answered_call_shorter_than_min_talk_seconds_leaves_the_callback_pending() {
    let app = spawn_app_with_config(
        &BASE_CONFIG.replace("min_talk_seconds = 0", "min_talk_seconds = 20"),
    )
    .await;
    let missed = missed_call("9876500107", "1780000100.1", "2026-05-28 10:01:00");
    app.post_json(Some("call_hangup_missed"), &missed.to_string())
        .await;
    let short = answered_call("9876500107", "1780000200.2", "2026-05-28 10:02:00", "5");
    let (_, reply) = app
        .post_json(Some("call_hangup_answered"), &short.to_string())
        .await;
    assert_eq!(reply["effect"], "recorded");
    assert!(reply["note"].as_str().unwrap().contains("min_talk_seconds"));
    assert_eq!(app.pending().await.len(), 1);
    let long = answered_call("9876500107", "1780000300.3", "2026-05-28 10:03:00", "20");
    let (_, reply) = app
        .post_json(Some("call_hangup_answered"), &long.to_string())
        .await;
    assert_eq!(reply["effect"], "resolved");
}

#[tokio::test]
async fn an_answered_dialer_call_with_empty_billsec_clears_even_with_min_talk_seconds() {
    let app = spawn_app_with_config(
        &BASE_CONFIG.replace("min_talk_seconds = 0", "min_talk_seconds = 20"),
    )
    .await;
    let missed = missed_call("9876500108", "1780000100.1", "2026-05-28 10:01:00");
    app.post_json(Some("call_hangup_missed"), &missed.to_string())
        .await;
    let dialer = json!({
        "call_id": "1783784576.231947", "uuid": "96ccf76037169", "call_status": "answered",
        "direction": "Dialer (inbound)", "caller_id_number": "+919876500108", "call_to_number": "+919000007179",
        "customer_number_with_prefix": "", "billsec": "", "start_stamp": "5/28/2026, 10:12:56 AM",
        "answered_agent": [{"email":"rep@example.com","id":"0507000000012","is_transferred_agent":"No","name":"Arjun","number":"Extension-0000000000000"}]
    });
    let (_, reply) = app
        .post_json(Some("call_hangup"), &dialer.to_string())
        .await;
    assert_eq!(reply["effect"], "resolved", "{reply}");
    let cb = app.callback(reply["callback_id"].as_str().unwrap()).await;
    assert_eq!(cb["resolution"]["agent"], "Arjun");
    assert_eq!(cb["resolution"]["at"], "2026-05-28T10:12:56+05:30");
}

#[tokio::test]
async fn an_ivr_answered_call_with_status_missed_still_counts_as_missed() {
    let app = spawn_app().await;
    // answer_stamp and billsec > 0 (the IVR answered), yet no agent spoke to the customer.
    let body = json!({
        "call_id": "1783784632.231961", "uuid": "6a5264b8dc05b", "answer_stamp": "2026-07-11 21:13:53",
        "billsec": "16", "call_connected": "0", "call_status": "missed", "direction": "inbound",
        "caller_id_number": "9000300002", "customer_number_with_prefix": "+919000300002",
        "start_stamp": "2026-07-11 21:13:52", "missed_agent": ""
    });
    let (_, reply) = app
        .post_json(Some("call_hangup_answered"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened", "{reply}");
    let cb = app.pending_for("+919000300002").await.unwrap();
    assert_eq!(cb["assigned_agent"], serde_json::Value::Null);
}

#[tokio::test]
async fn agent_and_extension_ids_never_become_customers() {
    let app = spawn_app().await;
    let body = json!({
        "call_id": "1.9", "uuid": "ff", "call_status": "missed", "direction": "inbound",
        "caller_id_number": "0507297260061", "start_stamp": "2026-05-28 10:00:00"
    });
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200);
    assert_eq!(reply["effect"], "recorded");
    assert!(
        reply["note"]
            .as_str()
            .unwrap()
            .contains("agent or extension id"),
        "{reply}"
    );
    assert!(app.pending().await.is_empty());
}

#[tokio::test]
async fn outbound_calls_take_the_customer_from_call_to_number() {
    let app = spawn_app().await;
    let missed = missed_call("9876500109", "1780000100.1", "2026-05-28 10:01:00");
    app.post_json(Some("call_hangup_missed"), &missed.to_string())
        .await;
    let attempt = json!({
        "call_id": "1780000200.2", "uuid": "ab12", "direction": "outbound", "call_status": "missed",
        "caller_id_number": "918069000000", "call_to_number": "09876500109", "start_stamp": "2026-05-28 10:10:00"
    });
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &attempt.to_string())
        .await;
    assert_eq!(reply["effect"], "attempt", "{reply}");
    assert_eq!(
        app.pending_for("+919876500109").await.unwrap()["attempts"],
        1
    );
}
