//! Escalation (SPEC §6, issue 4): each step fires once when the pending callback reaches
//! its age, notifying every named person, gated by business hours.

use chrono::Duration;
use serde_json::Value;

use crate::fakes::smtp::FakeSmtp;
use crate::fakes::telegram::FakeBotApi;
use crate::helpers::*;

/// Two steps: Asha after 30 min; Asha (again) and Arjun's supervisor Ravi after 2 h.
fn config(smtp: &FakeSmtp, bot: &FakeBotApi) -> String {
    let base = BASE_CONFIG.replace(
        "[[escalation]]\nafter = \"30m\"\nnotify = [\"Asha\"]\n",
        "[[escalation]]\nafter = \"30m\"\nnotify = [\"Asha\"]\n\n[[escalation]]\nafter = \"2h\"\nnotify = [\"Ravi\", \"Arjun\"]\n",
    );
    format!(
        "{base}\n[[supervisors]]\nname = \"Ravi\"\ntelegram_chat_id = 2002\n\n\
         [email]\nsmtp_url = \"{}\"\n[telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n",
        smtp.url(),
        bot.url()
    )
}

async fn open(app: &TestApp, customer: &str) -> String {
    let body = missed_call(
        customer,
        &format!("17800900{}.1", &customer[customer.len() - 2..]),
        "2026-05-28 11:29:00",
    );
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    reply["callback_id"].as_str().unwrap().to_string()
}

fn escalations(cb: &Value) -> Vec<String> {
    cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated" || e["kind"] == "escalation_sent")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_step_fires_once_at_its_age_and_notifies_everyone_it_names() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&smtp, &bot)).await;
    let id = open(&app, "9876500901").await;
    assert_eq!(app.callback(&id).await["escalation_level"], 0);

    app.advance(Duration::minutes(29)).await;
    assert!(
        smtp.mails_to("asha@example.in").is_empty(),
        "not before 30 min"
    );
    app.advance(Duration::minutes(1)).await;
    let asha = smtp.mails_to("asha@example.in");
    assert_eq!(asha.len(), 1);
    let text = asha[0].text();
    assert!(
        text.contains(
            "Subject: Escalation 1: +919876500901 still waiting for a call-back (30 min)"
        ),
        "{text}"
    );
    assert!(text.contains("Agent:        Meera"), "{text}");
    let cb = app.callback(&id).await;
    assert_eq!(cb["escalation_level"], 1);
    let log = escalations(&cb);
    assert_eq!(log[0], "escalation level 1: notifying Asha");
    assert!(
        log[1].contains("escalation level 1 by email to Asha <asha@example.in>"),
        "{log:?}"
    );

    // Once only: nothing more for Asha before the next step.
    for _ in 0..5 {
        app.advance(Duration::minutes(15)).await;
    }
    assert_eq!(smtp.mails_to("asha@example.in").len(), 1);

    // Two hours: Ravi by Telegram, Arjun — who has no address — through the log.
    app.advance(Duration::minutes(15)).await;
    let ravi = bot.messages_to(2002);
    assert_eq!(ravi.len(), 1);
    assert!(
        ravi[0].body["text"]
            .as_str()
            .unwrap()
            .contains("Escalation 2: +919876500901")
    );
    let cb = app.callback(&id).await;
    assert_eq!(cb["escalation_level"], 2);
    let log = escalations(&cb);
    assert!(
        log.iter()
            .any(|l| l == "escalation level 2: notifying Ravi, Arjun"),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("escalation level 2 by log (for Arjun)")),
        "{log:?}"
    );
    // No third step: nothing more, ever.
    app.advance(Duration::hours(5)).await;
    assert_eq!(bot.messages_to(2002).len(), 1);
    assert_eq!(smtp.mails_to("asha@example.in").len(), 1);
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"ringback_escalations_sent_total{channel="email"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_resolved_callback_does_not_escalate() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&smtp, &bot)).await;
    let id = open(&app, "9876500902").await;
    app.advance(Duration::minutes(10)).await;
    let answered = answered_call("9876500902", "1780090099.1", "2026-05-28 11:45:00", "30");
    app.post_json(Some("call_hangup_answered"), &answered.to_string())
        .await;
    app.advance(Duration::hours(3)).await;
    assert!(smtp.mails_to("asha@example.in").is_empty());
    assert!(bot.messages_to(2002).is_empty());
    assert_eq!(app.callback(&id).await["escalation_level"], 0);
}

#[tokio::test]
async fn escalation_due_after_hours_waits_for_the_next_business_moment() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&smtp, &bot)).await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-05-28T18:45:00+05:30")
            .unwrap()
            .into(),
    );
    open(&app, "9876500903").await;
    for _ in 0..14 {
        app.advance(Duration::hours(1)).await; // through to 08:45 Friday
    }
    assert!(
        smtp.mails_to("asha@example.in").is_empty(),
        "nothing at night"
    );
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-05-29T09:00:00+05:30")
            .unwrap()
            .into(),
    );
    app.tick().await;
    assert_eq!(smtp.mails_to("asha@example.in").len(), 1, "step 1 at 09:00");
    // Step 2 (2 h after 18:45) also fell in the night: it goes at 09:00 too, once.
    assert_eq!(bot.messages_to(2002).len(), 1);
    app.advance(Duration::hours(1)).await;
    assert_eq!(smtp.mails_to("asha@example.in").len(), 1);
    assert_eq!(bot.messages_to(2002).len(), 1);
}
