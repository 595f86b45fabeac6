//! Call-backs placed through Smartflo's click-to-call (SPEC §6.1, issue 5): the request
//! Smartflo gets, failures shown, and the echoed `custom_identifier` clearing the callback.

use serde_json::{Value, json};

use crate::fakes::smartflo::FakeSmartflo;
use crate::helpers::*;

const SMARTFLO_TOKEN: &str = "sf-api-token-0123456789";

pub fn smartflo_config(smartflo: &FakeSmartflo) -> String {
    format!(
        "{BASE_CONFIG}\n[smartflo]\napi_url = \"{}\"\napi_token = \"{SMARTFLO_TOKEN}\"\ncaller_id = \"918069000000\"\n",
        smartflo.url()
    )
}

async fn open(app: &TestApp, customer: &str) -> String {
    let body = missed_call(
        customer,
        &format!("17801200{}.1", &customer[customer.len() - 2..]),
        "2026-05-28 11:29:00",
    );
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    reply["callback_id"].as_str().unwrap().to_string()
}

fn kinds(cb: &Value) -> Vec<String> {
    cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn calling_back_asks_smartflo_to_connect_the_agent_to_the_customer() {
    let smartflo = FakeSmartflo::start().await;
    let app = spawn_app_with_config(&smartflo_config(&smartflo)).await;
    let id = open(&app, "9876501201").await;
    let (status, reply) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/call"),
            json!({"who": "Asha"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["agent"], "Meera");
    assert_eq!(reply["message"], "Originate successfully queued");

    let sent = smartflo.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].authorization, format!("Bearer {SMARTFLO_TOKEN}"));
    assert_eq!(
        sent[0].body,
        json!({
            "agent_number": "0507000000011",
            "destination_number": "9876501201",
            "caller_id": "918069000000",
            "async": 1,
            "custom_identifier": id,
        })
    );
    let cb = app.callback(&id).await;
    let last = cb["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "call_requested");
    assert_eq!(last["who"], "Asha");
    assert_eq!(last["agent"], "Meera");
}

#[tokio::test]
async fn smartflo_refusals_are_shown_and_recorded() {
    let smartflo = FakeSmartflo::start().await;
    let app = spawn_app_with_config(&smartflo_config(&smartflo)).await;
    let id = open(&app, "9876501202").await;
    smartflo.answer_next(
        200,
        json!({"success": false, "message": "Agent is not logged in"}),
    );
    let (status, reply) = app
        .api_post(&format!("/api/v1/callbacks/{id}/call"), json!({}))
        .await;
    assert_eq!(status, 502, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("Agent is not logged in"),
        "{reply}"
    );
    smartflo.answer_next(401, json!({"message": "Invalid token"}));
    let (status, reply) = app
        .api_post(
            &format!("/api/v1/callbacks/{id}/call"),
            json!({"agent": "Arjun"}),
        )
        .await;
    assert_eq!(status, 502);
    assert!(
        reply["error"].as_str().unwrap().contains("HTTP 401"),
        "{reply}"
    );
    assert_eq!(smartflo.requests()[1].body["agent_number"], "0507000000012");
    let cb = app.callback(&id).await;
    let failures: Vec<String> = cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "call_failed")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(!serde_json::to_string(&cb).unwrap().contains(SMARTFLO_TOKEN));
}

#[tokio::test]
async fn the_echoed_custom_identifier_resolves_that_callback_even_when_the_number_differs() {
    let smartflo = FakeSmartflo::start().await;
    let app = spawn_app_with_config(&smartflo_config(&smartflo)).await;
    let id = open(&app, "9876501203").await;
    let other = open(&app, "9876501204").await;
    app.api_post(&format!("/api/v1/callbacks/{id}/call"), json!({}))
        .await;

    // The customer did not pick up: an attempt on exactly that callback.
    let mut missed = fixture("c2c_missed_by_customer.json");
    missed["custom_identifier"] = id.clone().into();
    missed["call_id"] = "1780120300.1".into();
    missed["call_to_number"] = "+91-98765 01203".into();
    missed["customer_no_with_prefix"] = "".into();
    missed["customer_number"] = "".into();
    let (_, reply) = app
        .post_json(Some("c2c_missed_by_customer"), &missed.to_string())
        .await;
    assert_eq!(reply["effect"], "attempt", "{reply}");
    assert_eq!(reply["callback_id"], id.as_str());

    // Answered: the number field is something Smartflo wrote its own way, yet it clears.
    let mut answered = fixture("c2c_answered_by_customer.json");
    answered["custom_identifier"] = id.clone().into();
    answered["call_id"] = "1780120400.1".into();
    answered["call_to_number"] = "NA".into();
    answered["customer_no_with_prefix "] = "".into();
    let (_, reply) = app
        .post_json(Some("c2c_answered_by_customer"), &answered.to_string())
        .await;
    assert_eq!(reply["effect"], "resolved", "{reply}");
    assert_eq!(reply["callback_id"], id.as_str());
    let cb = app.callback(&id).await;
    assert_eq!(cb["status"], "resolved");
    assert_eq!(cb["attempts"], 1);
    assert_eq!(cb["resolution"]["kind"], "answered_outbound");
    assert!(kinds(&cb).contains(&"call_requested".to_string()));
    assert_eq!(
        app.callback(&other).await["status"],
        "pending",
        "the other callback is untouched"
    );
}

#[tokio::test]
async fn a_call_cannot_be_placed_when_it_makes_no_sense() {
    let smartflo = FakeSmartflo::start().await;
    let app = spawn_app_with_config(&smartflo_config(&smartflo)).await;
    let id = open(&app, "9876501205").await;
    app.api_post(
        &format!("/api/v1/callbacks/{id}/resolve"),
        json!({"reason": "done"}),
    )
    .await;
    let (status, _) = app
        .api_post(&format!("/api/v1/callbacks/{id}/call"), json!({}))
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .api_post(
            "/api/v1/callbacks/01M8MKQFH12E6PMJQ6D48WEJRS/call",
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, reply) = app
        .api_post(
            &format!("/api/v1/callbacks/{}/call", open(&app, "9876501206").await),
            json!({"agent": "Nobody"}),
        )
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(smartflo.requests().is_empty(), "Smartflo was never asked");

    let plain = spawn_app().await;
    let id = open(&plain, "9876501207").await;
    let (status, reply) = plain
        .api_post(&format!("/api/v1/callbacks/{id}/call"), json!({}))
        .await;
    assert_eq!(status, 400);
    assert!(
        reply["error"].as_str().unwrap().contains("not configured"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_supervisor_can_call_back_from_the_dashboard() {
    let smartflo = FakeSmartflo::start().await;
    let config = format!(
        "{}\n{}",
        smartflo_config(&smartflo),
        crate::dashboard::DASHBOARD
    );
    let app = spawn_app_with_config(&config).await;
    let id = open(&app, "9876501208").await;
    let v = crate::dashboard::Visitor::new(&app);
    v.login("asha", crate::dashboard::PASSWORD).await;
    let page = format!("/callbacks/{id}");
    let csrf = v.csrf(&page).await;
    let (_, html, _) = v.get(&page).await;
    assert!(html.contains("Call back now"), "{html}");
    let (status, _, headers) = v.post(&format!("{page}/call"), &[("csrf", &csrf)]).await;
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], format!("{page}?done=calling").as_str());
    assert_eq!(smartflo.requests()[0].body["agent_number"], "0507000000011");
    let cb = app.callback(&id).await;
    assert_eq!(
        cb["events"].as_array().unwrap().last().unwrap()["who"],
        "asha"
    );
}
