//! Hardening seen from outside (issue 6): failed authentication is throttled per source,
//! and oversized headers and bodies are refused with a reason.

use reqwest::StatusCode;
use serde_json::Value;

use crate::dashboard::{DASHBOARD, PASSWORD, Visitor};
use crate::helpers::*;

/// The shipped default of `[server].auth_failures_per_minute`.
const ALLOWED_FAILURES: usize = 20;

fn with_server_keys(keys: &str) -> String {
    BASE_CONFIG.replacen("[server]\n", &format!("[server]\n{keys}\n"), 1)
}

async fn webhook_with_token(
    app: &TestApp,
    token: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/webhooks/smartflo", app.address))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(missed_call("9812345678", "call-throttle", "2026-05-28 10:00:00").to_string());
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

async fn api_with_token(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/api/v1/callbacks", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_source_guessing_webhook_tokens_is_throttled_but_a_right_token_still_gets_in() {
    let app = spawn_app().await;
    for i in 0..ALLOWED_FAILURES {
        let r = webhook_with_token(&app, &format!("guess-number-{i:04}-abcdef"), None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let r = webhook_with_token(&app, "one-more-guess-abcdefgh", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let reply: Value = r.json().await.unwrap();
    assert!(
        reply["error"].as_str().unwrap().contains("too many failed"),
        "{reply}"
    );

    // Smartflo shares its addresses: the right token is never turned away.
    let r = webhook_with_token(&app, WEBHOOK_TOKEN, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["effect"], "opened");

    // The same address is out of attempts at the API too, even with the right token.
    let r = api_with_token(&app, API_TOKEN).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

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
        metrics.contains(&format!(
            "ringback_auth_failures_total{{what=\"webhook\"}} {ALLOWED_FAILURES}"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_source_guessing_api_tokens_is_answered_429_until_its_minute_is_over() {
    let app = spawn_app().await;
    for i in 0..ALLOWED_FAILURES {
        let r = api_with_token(&app, &format!("wrong-api-token-{i:04}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let r = api_with_token(&app, API_TOKEN).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn password_guessing_on_the_dashboard_is_stopped_before_any_password_is_checked() {
    // Argon2 is slow in a debug build: a small allowance keeps this test quick.
    let config = with_server_keys("auth_failures_per_minute = 3") + DASHBOARD;
    let app = spawn_app_with_config(&config).await;
    let visitor = Visitor::new(&app);
    for i in 0..3 {
        let (status, html, _) = visitor.login("asha", &format!("guess {i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}");
        assert!(html.contains("Wrong name or password."));
    }
    let (status, html, _) = visitor.login("asha", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        html.contains("Too many failed sign-ins from your address"),
        "{html}"
    );
    let (status, _, headers) = visitor.get("/").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "still logged out");
    assert!(headers["location"].to_str().unwrap().starts_with("/login"));
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_on_its_own() {
    let app = spawn_app_with_config(&with_server_keys(r#"trusted_proxies = ["127.0.0.1"]"#)).await;
    let guesser = "203.0.113.7";
    for i in 0..ALLOWED_FAILURES {
        let r =
            webhook_with_token(&app, &format!("guess-number-{i:04}-abcdef"), Some(guesser)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = webhook_with_token(&app, "one-more-guess-abcdefgh", Some(guesser)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // A client the guesser wrote into the header's left is not the one the proxy saw.
    let r = webhook_with_token(&app, "honest-mistake-abcdefgh", Some("198.51.100.9")).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "another client is not throttled"
    );
    let spoofed = format!("198.51.100.9, {guesser}");
    let r = webhook_with_token(&app, "spoofing-attempt-abcdefg", Some(&spoofed)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_a_trusted_proxy_a_forged_forwarded_for_does_not_escape_the_throttle() {
    let app = spawn_app().await;
    for i in 0..ALLOWED_FAILURES {
        let forged = format!("198.51.100.{i}");
        let r =
            webhook_with_token(&app, &format!("guess-number-{i:04}-abcdef"), Some(&forged)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = webhook_with_token(&app, "one-more-guess-abcdefgh", Some("198.51.100.200")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_throttle_of_zero_lets_every_attempt_be_judged() {
    let app = spawn_app_with_config(&with_server_keys("auth_failures_per_minute = 0")).await;
    for _ in 0..ALLOWED_FAILURES * 2 {
        let r = api_with_token(&app, "wrong-api-token-abcdef").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn oversized_headers_are_431_with_a_reason() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.webhook_url(Some("call_hangup_missed")))
        .header("content-type", "application/json")
        .header("x-padding", "a".repeat(20 * 1024))
        .body(missed_call("9812345678", "call-big-header", "2026-05-28 10:00:00").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let reply: Value = r.json().await.unwrap();
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("headers are larger")
    );
    assert!(app.callbacks("all").await.is_empty(), "nothing stored");

    // Many small cookies add up the same way.
    let cookies: Vec<String> = (0..400)
        .map(|i| format!("c{i}={}", "x".repeat(40)))
        .collect();
    let r = app
        .client
        .get(format!("{}/login", app.address))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn oversized_form_and_action_bodies_are_413() {
    let app = spawn_app_with(DASHBOARD).await;
    let big = "x".repeat(100 * 1024);
    let r = app
        .client
        .post(format!("{}/login", app.address))
        .form(&[("name", "asha"), ("password", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let body = missed_call("9812345678", "call-big-body", "2026-05-28 10:00:00");
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    let id = app.pending().await[0]["id"].as_str().unwrap().to_string();
    let r = app
        .client
        .post(format!("{}/api/v1/callbacks/{id}/resolve", app.address))
        .bearer_auth(API_TOKEN)
        .header("content-type", "application/json")
        .body(format!(r#"{{"by":"Asha","reason":"{big}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.pending().await.len(), 1, "still pending");
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure_and_the_data_directory_private() {
    use std::os::unix::fs::PermissionsExt;

    let config = format!(
        "{}\n{DASHBOARD}",
        BASE_CONFIG.replacen(
            "public_url = \"http://ringback.test\"",
            "public_url = \"https://ringback.test\"",
            1
        )
    );
    let app = spawn_app_with_config(&config).await;
    let v = Visitor::new(&app);
    let (status, _, headers) = v.login("asha", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers["set-cookie"].to_str().unwrap();
    for flag in ["Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    let data = app.dir.path().join("data");
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "only Ringback's user reads the data directory"
    );
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let mode = entry.metadata().unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "{:?} is readable by others",
                entry.file_name()
            );
        }
    }
}
