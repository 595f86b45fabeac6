//! Signed one-tap links in reminder emails (SPEC §6.1, issue 5): a GET only shows a
//! confirmation, the POST acts; expired, tampered and replayed links do nothing.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use ringback::domain::actions::QuickAction;
use ringback::links::{ActionLink, LinkSigner};
use serde_json::Value;

use crate::dashboard::Visitor;
use crate::fakes::smtp::FakeSmtp;
use crate::helpers::*;

async fn emailed(smtp: &FakeSmtp) -> (TestApp, String) {
    let config = format!("{BASE_CONFIG}\n[email]\nsmtp_url = \"{}\"\n", smtp.url());
    let app = spawn_app_with_config(&config).await;
    let body = missed_call("9876501401", "1780140001.1", "2026-05-28 11:29:00");
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    let id = reply["callback_id"].as_str().unwrap().to_string();
    app.advance(Duration::minutes(2)).await;
    assert_eq!(smtp.mails_to("meera@example.in").len(), 1);
    (app, id)
}

/// The path of the link labelled `label` in the plain-text part of the last email.
fn link(smtp: &FakeSmtp, label: &str) -> String {
    let text = smtp.mails_to("meera@example.in").last().unwrap().text();
    let line = text
        .lines()
        // (A label after an emoji: the emoji is quoted-printable in the raw text.)
        .find(|l| l.trim_start().starts_with(label) || l.contains(&format!(" {label} ")))
        .unwrap_or_else(|| panic!("{label} in {text}"));
    let url = line.split_whitespace().last().unwrap();
    url.strip_prefix("http://ringback.test")
        .expect("under public_url")
        .to_string()
}

async fn state(app: &TestApp, id: &str) -> Value {
    app.callback(id).await
}

#[tokio::test]
async fn opening_a_link_asks_and_only_the_confirmation_acts() {
    let smtp = FakeSmtp::start().await;
    let (app, id) = emailed(&smtp).await;
    let snooze = link(&smtp, "Snooze 30 minutes:");
    let v = Visitor::new(&app);
    for _ in 0..2 {
        let (status, html, _) = v.get(&snooze).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("Snooze 30 minutes?") && html.contains("<form method=\"post\""),
            "{html}"
        );
        assert!(html.contains("+91 98765 01401"), "{html}");
    }
    assert_eq!(
        state(&app, &id).await["snoozed_until"],
        Value::Null,
        "a GET changes nothing"
    );

    let (status, html, _) = v.post(&snooze, &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Snoozed until 28 May 2026, 12:02"), "{html}");
    let cb = state(&app, &id).await;
    assert_eq!(cb["snoozed_until"], "2026-05-28T12:02:00+05:30");
    assert_eq!(
        cb["events"].as_array().unwrap().last().unwrap()["who"],
        "Meera"
    );
}

#[tokio::test]
async fn called_back_resolves_and_a_replayed_link_does_nothing_more() {
    let smtp = FakeSmtp::start().await;
    let (app, id) = emailed(&smtp).await;
    let done = link(&smtp, "Called back:");
    let v = Visitor::new(&app);
    let (status, _, _) = v.post(&done, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let cb = state(&app, &id).await;
    assert_eq!(cb["status"], "resolved");
    assert_eq!(cb["resolution"]["agent"], "Meera");
    let events = cb["events"].as_array().unwrap().len();

    let (status, html, _) = v.get(&done).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("already resolved") && !html.contains("<form method=\"post\""),
        "{html}"
    );
    // Meera has no dashboard login: the page leads to her signed view of it.
    assert!(html.contains("href=\"&#x2f;v&#x2f;"), "{html}");
    assert!(!html.contains(&format!("callbacks&#x2f;{id}")), "{html}");
    let (status, _, _) = v.post(&done, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let snooze = link(&smtp, "Snooze 30 minutes:");
    let (status, _, _) = v.post(&snooze, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        state(&app, &id).await["events"].as_array().unwrap().len(),
        events,
        "nothing more happened"
    );
}

#[tokio::test]
async fn expired_and_tampered_links_are_refused() {
    let smtp = FakeSmtp::start().await;
    let (app, id) = emailed(&smtp).await;
    let done = link(&smtp, "Called back:");
    let v = Visitor::new(&app);

    // One character changed in the signed part.
    let mut tampered = done.clone().into_bytes();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (status, _, _) in [v.get(&tampered).await, v.post(&tampered, &[]).await] {
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // A link signed with another key.
    let foreign = LinkSigner::new(b"not the key Ringback uses".to_vec()).sign(&ActionLink {
        action: QuickAction::CalledBack,
        callback: id.parse().unwrap(),
        who: "Meera".into(),
        expires: Utc::now() + Duration::days(1),
    });
    let (status, _, _) = v.post(&format!("/a/{foreign}"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    app.clock.advance(Duration::days(4));
    let (status, html, _) = v.get(&done).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("expired"), "{html}");
    let (status, _, _) = v.post(&done, &[]).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(
        state(&app, &id).await["status"],
        "pending",
        "nothing changed"
    );
}

#[tokio::test]
async fn only_agents_can_take_a_callback_by_link() {
    let smtp = FakeSmtp::start().await;
    let (app, id) = emailed(&smtp).await;
    // A take link for Asha (a supervisor), signed with Ringback's own key.
    let key = std::fs::read_to_string(app.dir.path().join("data/links.token")).unwrap();
    let signer = LinkSigner::new(key.trim().as_bytes().to_vec());
    let sign = |who: &str| {
        signer.sign(&ActionLink {
            action: QuickAction::Take,
            callback: id.parse().unwrap(),
            who: who.into(),
            expires: app.clock_now() + Duration::days(1),
        })
    };
    let v = Visitor::new(&app);
    let (status, html, _) = v.post(&format!("/a/{}", sign("Asha")), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("Only agents can take a callback."));
    let (status, _, _) = v.post(&format!("/a/{}", sign("Arjun")), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state(&app, &id).await["assigned_agent"]["name"], "Arjun");
}

#[tokio::test]
async fn the_reminders_open_the_callback_link_shows_it_to_the_agent_without_a_login() {
    let smtp = FakeSmtp::start().await;
    let (app, id) = emailed(&smtp).await;
    let open = link(&smtp, "Open the callback:");
    assert!(open.starts_with("/v/"), "{open}");
    // A visitor with no session at all: Meera has no dashboard login.
    let v = Visitor::new(&app);
    let (status, html, _) = v.get(&open).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("For Meera"), "{html}");
    assert!(html.contains("+91 98765 01401"), "{html}");
    assert!(html.contains("href=\"tel:+919876501401\""), "{html}");
    assert!(html.contains("Reminder sent"), "the timeline: {html}");
    assert!(html.contains("Snooze 30 min") && html.contains("Called back"));
    assert!(!html.contains("take it"), "it is Meera's already: {html}");

    // Its buttons act at once, as Meera.
    let snooze = html
        .split("<form method=\"post\" action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&#x2f;", "/");
    let (status, html, _) = v.post(&snooze, &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let cb = state(&app, &id).await;
    assert_eq!(cb["snoozed_until"], "2026-05-28T12:02:00+05:30");
    assert_eq!(
        cb["events"].as_array().unwrap().last().unwrap()["who"],
        "Meera"
    );

    // A link that was changed shows nothing; an old one has expired.
    let mut forged = open.clone();
    forged.insert(8, 'x');
    let (status, html, _) = v.get(&forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!html.contains("98765"), "{html}");
    app.clock.advance(Duration::days(8));
    let (status, html, _) = v.get(&open).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(!html.contains("98765"), "{html}");
}

#[tokio::test]
async fn an_emailed_outcome_link_records_an_attempt_that_the_next_reminder_counts() {
    let smtp = FakeSmtp::start().await;
    let (app, id) = emailed(&smtp).await;
    let busy = link(&smtp, "Busy:");
    let v = Visitor::new(&app);
    let (status, html, _) = v.get(&busy).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Record: busy?"), "{html}");
    assert_eq!(
        state(&app, &id).await["attempts"],
        0,
        "a GET changes nothing"
    );

    let (status, html, _) = v.post(&busy, &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Recorded: busy."), "{html}");
    let cb = state(&app, &id).await;
    assert_eq!(cb["attempts"], 1);
    let last = cb["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["kind"], &last["who"], &last["detail"]),
        (
            &Value::from("outcome"),
            &Value::from("Meera"),
            &Value::from("busy: busy")
        )
    );

    // Pressed again a moment later (a refresh, a second device): counted once.
    app.clock.advance(Duration::seconds(30));
    let (status, html, _) = v.post(&busy, &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("it counts once"), "{html}");
    let again = state(&app, &id).await;
    assert_eq!(again["attempts"], 1, "one press, one attempt");
    assert_eq!(again["events"], cb["events"], "no second entry");

    // The reminders go on, and the next one tells Meera about the attempt.
    app.advance(Duration::minutes(15)).await;
    let mails = smtp.mails_to("meera@example.in");
    assert_eq!(mails.len(), 2);
    let text = mails[1].text();
    assert!(text.contains("Call-back attempts so far: 1"), "{text}");
}
