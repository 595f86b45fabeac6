//! Bad input gets a clear 4xx with a reason and changes nothing (SPEC §4.1, §9).

use proptest::prelude::*;
use serde_json::Value;

use crate::helpers::*;

/// Nothing stored: no event in the log and no callback.
async fn assert_nothing_stored(app: &TestApp) {
    let (_, events) = app.api_get("/api/v1/events").await;
    assert_eq!(
        events["events"],
        serde_json::json!([]),
        "event log should be empty"
    );
    assert!(app.callbacks("all").await.is_empty());
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401_and_stores_nothing() {
    let app = spawn_app().await;
    let body = fixture_text("call_hangup_missed.json");
    let url = format!("{}/webhooks/smartflo/not-the-token-0123456789", app.address);
    let r = app
        .client
        .post(url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["ok"], false);
    assert!(reply["error"].as_str().unwrap().contains("token"));

    let url = format!("{}/webhooks/smartflo", app.address);
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(&url)
        .header("x-ringback-token", "wrong-token-0123456789")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn the_token_may_travel_in_the_header() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(format!(
            "{}/webhooks/smartflo?trigger=call_hangup_missed",
            app.address
        ))
        .header("x-ringback-token", WEBHOOK_TOKEN)
        .header("content-type", "application/json")
        .body(fixture_text("call_hangup_missed.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.pending().await.len(), 1);
}

#[tokio::test]
async fn an_unsupported_content_type_is_415() {
    let app = spawn_app().await;
    for ct in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let r = app
            .client
            .post(app.webhook_url(Some("call_hangup_missed")))
            .header("content-type", ct)
            .body(fixture_text("call_hangup_missed.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{ct}");
        let reply: Value = r.json().await.unwrap();
        assert!(
            reply["error"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    let r = app
        .client
        .post(app.webhook_url(None))
        .body(fixture_text("call_hangup_missed.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "a body without a content type");
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_body_over_256_kib_is_413() {
    let app = spawn_app().await;
    let big = format!(r#"{{"call_id":"1.1","pad":"{}"}}"#, "x".repeat(256 * 1024));
    let (status, reply) = app.post_json(Some("call_hangup_missed"), &big).await;
    assert_eq!(status, 413, "{reply}");
    // A body just under the limit is fine, and is kept whole.
    let fits = format!(
        r#"{{"call_id":"1.1","uuid":"u","caller_id_number":"9876500001","pad":"{}"}}"#,
        "x".repeat(200 * 1024)
    );
    let (status, reply) = app.post_json(Some("call_received_on_server"), &fits).await;
    assert_eq!(status, 200, "{reply}");
    let (_, event) = app
        .api_get(&format!(
            "/api/v1/events/{}",
            reply["event_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(event["body"].as_str().unwrap(), fits);
}

#[tokio::test]
async fn a_malformed_body_is_400_naming_the_problem() {
    let app = spawn_app().await;
    for (body, needle) in [
        ("{not json", "not valid JSON"),
        ("[1,2,3]", "must be an object"),
        ("\"just a string\"", "must be an object"),
        ("{}", "no fields"),
    ] {
        let (status, reply) = app.post_json(Some("call_hangup_missed"), body).await;
        assert_eq!(status, 400, "{body:?}: {reply}");
        assert_eq!(reply["ok"], false);
        assert!(
            reply["error"].as_str().unwrap().contains(needle),
            "{body:?}: {reply}"
        );
    }
    let (status, _) = app.get_query(&[("trigger", "call_hangup_missed")]).await;
    assert_eq!(status, 400, "a GET without variables");
    let (status, reply) = app
        .post_json(
            Some("call_hungup"),
            &fixture_text("call_hangup_missed.json"),
        )
        .await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("unknown trigger"));
    let long_id = format!(r#"{{"call_id":"{}"}}"#, "9".repeat(300));
    let (status, _) = app.post_json(Some("call_hangup_missed"), &long_id).await;
    assert_eq!(status, 400);
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_form_body_that_is_not_utf8_is_400() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.webhook_url(Some("call_hangup_missed")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', b'1'])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_nothing_stored(&app).await;
}

#[derive(Debug, Clone)]
enum Body {
    Json(String),
    Form(String),
    Query(String),
    Raw(Vec<u8>, &'static str),
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
        prop::sample::select(vec![
            "missed",
            "answered",
            "Answered by customer",
            "inbound",
            "clicktocall",
            "Dialer (outbound)",
            "$uuid",
            "_number",
            "",
            "9876543210",
            "+91 98765-43210",
            "0507297260061",
            "map[id:0507 name:Priya]",
            "[map[id:1 name:x]]",
            "{\"id\":\"0507\"}",
            "7/11/2026, 9:13:28 PM",
            "2026-04-09 12:54:22",
            "1780000000.1",
        ])
        .prop_map(serde_json::Value::from),
    ];
    let key = prop::sample::select(vec![
        "call_id",
        "uuid",
        "call_status",
        "direction",
        "caller_id_number",
        "call_to_number",
        "customer_no_with_prefix ",
        "$customer_number",
        "missed_agent",
        "answered_agent",
        "call_flow",
        "billsec",
        "start_stamp",
        "first_missed_agent_number",
        "dept_name",
        "disposition",
        "x",
    ])
    .prop_map(String::from);
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        arb_json().prop_map(|v| Body::Json(v.to_string())),
        "\\PC{0,200}".prop_map(Body::Json),
        "\\PC{0,200}".prop_map(Body::Form),
        "[a-z_$ %=&+\\[\\]:0-9]{0,120}".prop_map(Body::Form),
        "[a-z_$ %=&+\\[\\]:0-9]{0,120}".prop_map(Body::Query),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| Body::Raw(b, "application/json")),
        prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| Body::Raw(b, "application/x-www-form-urlencoded")),
    ]
}

/// Random bodies through the real HTTP stack: never a 5xx, never a dropped connection.
#[test]
fn random_bodies_never_yield_a_server_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let trigger = prop::option::of(prop::sample::select(vec![
        "call_hangup",
        "call_hangup_missed",
        "c2c_missed_by_customer",
        "dialer_disposition_updated",
        "bogus",
    ]));
    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(body in arb_body(), trigger in trigger)| {
        let status = runtime.block_on(async {
            let url = app.webhook_url(trigger);
            let request = match &body {
                Body::Json(b) => app.client.post(&url).header("content-type", "application/json").body(b.clone()),
                Body::Form(b) => app.client.post(&url).header("content-type", "application/x-www-form-urlencoded").body(b.clone()),
                Body::Query(q) => app.client.get(format!("{url}{}{q}", if url.contains('?') { "&" } else { "?" })),
                Body::Raw(b, ct) => app.client.post(&url).header("content-type", *ct).body(b.clone()),
            };
            request.send().await.map(|r| r.status().as_u16())
        });
        let status = status.expect("the server answered");
        prop_assert!(status < 500, "{body:?} gave {status}");
        prop_assert!(matches!(status, 200 | 400 | 404 | 413 | 415), "{body:?} gave {status}");
    });
}

/// A NUL character (U+0000) is text nobody means, and PostgreSQL can neither store one nor
/// search for one: wherever it arrives — a webhook's field, an action's reason, a list's
/// filter — the answer is a 400 that says so, and nothing changes.
#[tokio::test]
async fn a_nul_character_is_400_wherever_it_arrives_and_changes_nothing() {
    let app = spawn_app_with(crate::dashboard::DASHBOARD).await;
    let mut missed = fixture("call_hangup_missed.json");
    missed["call_id"] = "1780000001.1\u{0}".into();
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &missed.to_string())
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("\"call_id\" holds a NUL character"),
        "{reply}"
    );
    let (status, reply) = app
        .post_form(
            Some("call_hangup_missed"),
            &[("call_id", "1.1"), ("caller_id_number", "98765\u{0}")],
        )
        .await;
    assert_eq!(status, 400, "{reply}");
    assert_nothing_stored(&app).await;

    let (status, reply) = app.api_get("/api/v1/callbacks?status=all%00").await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("\"status\" holds a NUL character"),
        "{reply}"
    );

    let body = missed_call("9876501601", "1780101601.1", "2026-05-28 11:29:00");
    let (status, _) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200);
    let id = app.pending().await[0]["id"].as_str().unwrap().to_string();
    for body in [
        serde_json::json!({"reason": "called\u{0}back"}),
        serde_json::json!({"reason": "called back", "who": "asha\u{0}"}),
    ] {
        let (status, reply) = app
            .api_post(&format!("/api/v1/callbacks/{id}/resolve"), body.clone())
            .await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert!(
            reply["error"].as_str().unwrap().contains("NUL character"),
            "{reply}"
        );
    }
    assert_eq!(app.callback(&id).await["status"], "pending");

    let visitor = crate::dashboard::Visitor::new(&app);
    visitor.login("asha", crate::dashboard::PASSWORD).await;
    let (status, html, _) = visitor.get("/?department=Sales%00").await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("NUL character"), "{html}");
    let (status, _, _) = visitor.get("/?department=Sales").await;
    assert_eq!(status, 200);
}
