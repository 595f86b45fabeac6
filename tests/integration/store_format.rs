//! A store written by an earlier version opens with this one and nothing in it is lost
//! (issue 12). `tests/data/store-v1/` was written by the format-1 code, with what the API
//! showed of it then (`expected.json`); its README says how it was made.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::dashboard::{DASHBOARD, PASSWORD, Visitor};
use crate::fakes::smtp::FakeSmtp;
use crate::helpers::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Where `actual` differs from `expected` in anything `expected` has (fields added since
/// are allowed); `None` when it holds everything.
fn missing_from(expected: &Value, actual: &Value, at: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().find_map(|(k, v)| match a.get(k) {
            Some(av) => missing_from(v, av, &format!("{at}.{k}")),
            None => Some(format!("{at}.{k} is gone")),
        }),
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .find_map(|(i, (ev, av))| missing_from(ev, av, &format!("{at}[{i}]"))),
        _ if expected == actual => None,
        (Value::String(e), Value::String(a)) if same_instant(e, a) => None,
        _ => Some(format!("{at}: was {expected}, now {actual}")),
    }
}

/// The same moment written in another offset (snooze entries are now shown in local time,
/// `until 2026-05-28T12:17:00+05:30` where format 1 showed `…T06:47:00+00:00`).
fn same_instant(was: &str, now: &str) -> bool {
    let instant = |text: &str| {
        let text = text.strip_prefix("until ").unwrap_or(text);
        DateTime::parse_from_rfc3339(text).ok()
    };
    matches!((instant(was), instant(now)), (Some(a), Some(b)) if a == b)
}

#[tokio::test]
async fn a_store_written_in_format_1_opens_with_everything_in_it() {
    let fixture = data_path("store-v1");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
            .unwrap();
    let clock: DateTime<Utc> = expected["clock"].as_str().unwrap().parse().unwrap();
    let smtp = FakeSmtp::start().await;
    let config = format!(
        "{BASE_CONFIG}\n{DASHBOARD}\n[email]\nsmtp_url = \"{}\"\nfrom = \"Ringback <ringback@ringback.test>\"\n",
        smtp.url()
    );
    let app = spawn_app_on(&config, clock, |dir| {
        copy_dir(&fixture.join("data"), &dir.join("data"))
    })
    .await;

    // Every callback with its whole timeline, and every event with its raw body.
    let callbacks = expected["callbacks"].as_array().unwrap();
    assert_eq!(app.callbacks("all").await.len(), callbacks.len());
    for was in callbacks {
        let id = was["id"].as_str().unwrap();
        let now = app.callback(id).await;
        if let Some(diff) = missing_from(was, &now, id) {
            panic!("callback {diff}");
        }
    }
    for was in expected["events"].as_array().unwrap() {
        let id = was["id"].as_str().unwrap();
        let (status, now) = app.api_get(&format!("/api/v1/events/{id}")).await;
        assert_eq!(status, 200, "{now}");
        if let Some(diff) = missing_from(was, &now, id) {
            panic!("event {diff}");
        }
    }

    // The rules edited on the dashboard are still in force, with their audit entry.
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, rules, _) = v.get("/rules").await;
    assert!(rules.contains("value=\"3m\""), "{rules}");
    assert!(rules.contains("value=\"40m\""), "{rules}");
    assert!(rules.contains("asha"), "the audit names who edited them");
    // The stranger who wrote to the bot is still listed.
    let (_, chats, _) = v.get("/telegram").await;
    assert!(chats.contains("9999"), "{chats}");

    // The email that was waiting for a retry goes out once the mail server answers.
    app.advance(Duration::minutes(20)).await;
    let mails = smtp.mails_to("meera@example.in");
    assert!(
        mails.iter().any(|m| m.text().contains("+919876500802")),
        "{} mails",
        mails.len()
    );
}
