//! Connecting Smartflo: `ringback smartflo-setup` and `webhook-urls` say what to enter in
//! Smartflo's webhook form, the body templates they print work once Smartflo fills them in,
//! and a webhook set up wrong (no body) is refused with the reason, logged and counted.

use std::process::Command;

use ringback::config::Settings;
use ringback::smartflo::Trigger;

use crate::helpers::*;

fn ringback(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ringback");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn smartflo_setup_prints_what_to_enter_for_each_trigger_required_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(
        &dir,
        &BASE_CONFIG.replace("http://ringback.test", "https://ringback.example.in"),
    );
    let (ok, stdout, stderr) = ringback(&["smartflo-setup", "--config", &path]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.is_empty(),
        "an https public_url is not warned about: {stderr}"
    );
    assert!(
        stdout.contains("1. Call hangup (Missed or Answered) [REQUIRED]"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!(
        "URL:     https://ringback.example.in/webhooks/smartflo/{WEBHOOK_TOKEN}?trigger=call_hangup"
    )));
    assert!(stdout.contains("Header:  content-type: application/json"));
    assert!(
        stdout.contains("\"missed_agent\": \"$missed_agent\""),
        "{stdout}"
    );
    assert!(stdout.contains("ringback_webhook_setup_problems_total"));
    for trigger in Trigger::ALL {
        assert!(
            stdout.contains(&format!("{} [", trigger.smartflo_name())),
            "{trigger} missing"
        );
    }
    // Without click-to-call its webhooks are optional; with it, required.
    assert!(stdout.contains("Call answered by Customer (Click to call) [OPTIONAL]"));
    let path = config_file(
        &dir,
        &format!("{BASE_CONFIG}\n[smartflo]\napi_token = \"sf-api-token-0123456789\"\n"),
    );
    let (ok, stdout, _) = ringback(&["smartflo-setup", "--config", &path, "--required-only"]);
    assert!(ok);
    assert!(stdout.contains("Call answered by Customer (Click to call) [REQUIRED]"));
    assert!(!stdout.contains("[OPTIONAL]"), "{stdout}");
}

#[test]
fn webhook_urls_says_which_are_required_and_warns_about_a_loopback_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(
        &dir,
        &BASE_CONFIG.replace("http://ringback.test", "http://127.0.0.1:8080"),
    );
    let (ok, stdout, stderr) = ringback(&["webhook-urls", "--config", &path]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: server.public_url http://127.0.0.1:8080/ is a loopback address: Smartflo cannot reach it"),
        "{stderr}"
    );
    let hangup = stdout
        .lines()
        .find(|l| l.contains("?trigger=call_hangup\n") || l.ends_with("?trigger=call_hangup"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(hangup.contains("required"), "{hangup}");
    let dtmf = stdout.lines().find(|l| l.contains("DTMF Option")).unwrap();
    assert!(dtmf.contains("optional"), "{dtmf}");
}

/// The `call_hangup` webhook as `smartflo-setup` prints it for `app`'s configuration.
fn printed_hangup(app: &TestApp) -> ringback::setup::WebhookSetup {
    let settings = Settings::load_with_env(&app.dir.path().join("config.toml"), Vec::new())
        .expect("the test config");
    ringback::setup::webhooks(&settings, WEBHOOK_TOKEN)
        .into_iter()
        .find(|h| h.trigger == Trigger::CallHangup)
        .unwrap()
}

/// Fills a body template in as Smartflo does: each `$variable` replaced by its value
/// (objects as JSON), unknown ones left as they are.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut body = template.to_string();
    let mut values = values.to_vec();
    // Longest names first, so `$call_id` is not replaced inside a longer name.
    values.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in values {
        body = body.replace(&format!("\"${name}\""), value);
    }
    body
}

#[tokio::test]
async fn the_printed_body_templates_open_and_clear_a_callback_once_smartflo_fills_them_in() {
    let app = spawn_app().await;
    let hangup = printed_hangup(&app);
    let missed = fill(
        &hangup.body_template(),
        &[
            ("uuid", "\"65f1a2b3c4d5e\""),
            ("call_id", "\"1780150001.1\""),
            ("direction", "\"inbound\""),
            ("call_status", "\"missed\""),
            ("customer_number", "\"9876501501\""),
            ("caller_id_number", "\"9876501501\""),
            ("call_to_number", "\"918069000000\""),
            ("start_stamp", "\"2026-05-28 11:29:00\""),
            ("end_stamp", "\"2026-05-28 11:29:40\""),
            ("billsec", "\"0\""),
            ("hangup_cause", "\"NO_ANSWER\""),
            (
                "missed_agent",
                r#"[{"id":"0507000000011","name":"Meera","number":"+919800000011"}]"#,
            ),
            ("first_missed_agent_number", "\"+919800000011\""),
            ("answered_agent", "\"\""),
            ("custom_identifier", "\"$custom_identifier\""),
        ],
    );
    let url = hangup.url.replace("http://ringback.test", &app.address);
    let send = |body: String| {
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let reply: serde_json::Value = send(missed).await.unwrap().json().await.unwrap();
    assert_eq!(reply["effect"], "opened", "{reply}");
    let cb = app.pending_for("+919876501501").await.expect("pending");
    assert_eq!(cb["assigned_agent"]["name"], "Meera");

    let answered = fill(
        &hangup.body_template(),
        &[
            ("uuid", "\"65f1a2b3c4d6f\""),
            ("call_id", "\"1780150002.1\""),
            ("direction", "\"inbound\""),
            ("call_status", "\"answered\""),
            ("customer_number", "\"9876501501\""),
            ("caller_id_number", "\"9876501501\""),
            ("start_stamp", "\"2026-05-28 11:35:00\""),
            ("billsec", "\"42\""),
            ("missed_agent", "\"\""),
            ("answered_agent", r#"{"id":"0507000000012","name":"Arjun"}"#),
        ],
    );
    let reply: serde_json::Value = send(answered).await.unwrap().json().await.unwrap();
    assert_eq!(reply["effect"], "resolved", "{reply}");
}

/// Smartflo rings the agent first: a click-to-call's hangup clears a callback only when it
/// shows the customer answered, which the printed hangup template must carry.
#[tokio::test]
async fn a_call_back_the_customer_answered_clears_through_the_printed_hangup_template() {
    let app = spawn_app().await;
    let hangup = printed_hangup(&app);
    let body = missed_call("9876501502", "1780150101.1", "2026-05-28 11:29:00");
    let (_, reply) = app.post_json(Some("call_hangup"), &body.to_string()).await;
    assert_eq!(reply["effect"], "opened", "{reply}");
    let id = reply["callback_id"].as_str().unwrap().to_string();

    // The hangup of the call-back, as Smartflo fills the template in: the agent's leg and
    // the customer's (`outbound_sec` 7) both answered.
    let call_back = fill(
        &hangup.body_template(),
        &[
            ("uuid", "\"65f1a2b3c4e01\""),
            ("call_id", "\"1780150102.1\""),
            ("direction", "\"clicktocall\""),
            ("call_status", "\"answered\""),
            ("customer_number", "\"$customer_number\""),
            ("caller_id_number", "\"9200000604\""),
            ("call_to_number", "\"919876501502\""),
            ("start_stamp", "\"2026-05-28 11:40:00\""),
            ("end_stamp", "\"2026-05-28 11:40:11\""),
            ("billsec", "\"11\""),
            ("hangup_cause", "\"NORMAL_CLEARING\""),
            ("missed_agent", "\"\""),
            ("first_missed_agent_number", "\"\""),
            (
                "answered_agent",
                r#"{"id":"0507000000011","name":"Meera","number":"+919800000011"}"#,
            ),
            ("outbound_sec", "\"7\""),
            ("call_connected", "\"1\""),
            (
                "call_flow",
                r#"[{"type":"init","value":"1780150102.1","time":"1780150800"}]"#,
            ),
            ("custom_identifier", &format!("\"{id}\"")),
        ],
    );
    let url = hangup.url.replace("http://ringback.test", &app.address);
    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(call_back)
        .send()
        .await
        .unwrap();
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reply["effect"], "resolved", "{reply}");
    let cb = app.callback(&id).await;
    assert_eq!(cb["resolution"]["kind"], "answered_outbound", "{cb}");
}

#[tokio::test]
async fn a_post_without_a_body_is_a_setup_problem_refused_with_the_reason_and_counted() {
    let app = spawn_app().await;
    // What Smartflo's dispatcher sends when the custom header key is "Content-Type".
    let response = app
        .client
        .post(app.webhook_url(Some("call_hangup")))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reply: serde_json::Value = response.json().await.unwrap();
    let error = reply["error"].as_str().unwrap();
    assert!(
        error.contains("the body is empty although the content type is \"application/json\"")
            && error.contains("custom header key is not exactly lower-case `content-type`"),
        "{error}"
    );
    // A POST with nothing at all says what to add.
    let response = app
        .client
        .post(app.webhook_url(Some("call_hangup")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("add the custom header content-type: application/json"),
        "{reply}"
    );

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
        metrics
            .lines()
            .any(|l| l == "ringback_webhook_setup_problems_total{problem=\"empty_body\"} 2"),
        "{metrics}"
    );
    let (_, events) = app.api_get("/api/v1/events").await;
    assert_eq!(events["events"], serde_json::json!([]), "nothing stored");
}
