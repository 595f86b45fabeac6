//! Reminders reach the agent (SPEC §6, issue 3): real SMTP to an in-process server, real
//! Telegram Bot API requests to a fake one, time moved by the test.

use chrono::Duration;
use ringback::clock::Clock;
use serde_json::{Value, json};

use crate::fakes::smtp::FakeSmtp;
use crate::fakes::telegram::FakeBotApi;
use crate::helpers::*;

const MEERA_CHAT: i64 = 1001;
const MEERA_EMAIL: &str = "meera@example.in";

fn config_with(smtp: &FakeSmtp, bot: &FakeBotApi) -> String {
    format!(
        "{BASE_CONFIG}\n[email]\nsmtp_url = \"{}\"\nfrom = \"Ringback <ringback@ringback.test>\"\n\
         [telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n",
        smtp.url(),
        bot.url()
    )
}

struct World {
    app: TestApp,
    smtp: FakeSmtp,
    bot: FakeBotApi,
}

async fn world() -> World {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config_with(&smtp, &bot)).await;
    World { app, smtp, bot }
}

/// A missed call from `customer` received now, missed by Meera; returns the callback id.
async fn missed(app: &TestApp, customer: &str, call_id: &str) -> String {
    let body = missed_call(customer, call_id, "2026-05-28 11:29:00");
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    reply["callback_id"]
        .as_str()
        .expect("a callback")
        .to_string()
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
async fn the_first_reminder_goes_out_first_after_the_miss_by_email_and_telegram() {
    let w = world().await;
    let id = missed(&w.app, "9876500701", "1780070001.1").await;

    let report = w.app.advance(Duration::seconds(119)).await;
    assert_eq!(report.claimed, 0, "not due before first_after");
    assert!(w.smtp.mails().is_empty() && w.bot.requests().is_empty());

    let report = w.app.advance(Duration::seconds(1)).await;
    assert_eq!((report.claimed, report.sent), (2, 2), "{report:?}");

    let mails = w.smtp.mails_to(MEERA_EMAIL);
    assert_eq!(mails.len(), 1);
    let mail = mails[0].text();
    assert!(
        mail.contains("Subject: Call back +919876500701: missed 1 time"),
        "{mail}"
    );
    assert!(mail.contains("+919876500701"));
    assert!(mail.contains("First missed: 28 May 2026, 11:29"), "{mail}");
    assert!(mail.contains("Agent:        Meera"), "{mail}");
    assert!(mail.contains("Waiting:      2 min"), "{mail}");
    // The link opens a signed view of the callback: Meera has no dashboard login.
    assert!(
        mail.contains("Open the callback: http://ringback.test/v/"),
        "{mail}"
    );
    assert!(!mail.contains(&format!("/callbacks/{id}")), "{mail}");
    assert!(mail.contains("text/html"), "text and HTML parts");
    assert_eq!(mails[0].from, "ringback@ringback.test");

    let messages = w.bot.messages_to(MEERA_CHAT);
    assert_eq!(messages.len(), 1);
    let text = messages[0].body["text"].as_str().unwrap();
    assert!(text.contains("Call back +919876500701"), "{text}");
    assert!(text.contains("Agent: Meera"), "{text}");
    assert!(text.contains("waiting 2 min"), "{text}");
    assert_eq!(messages[0].body["parse_mode"], "HTML");
    assert_eq!(
        messages[0].token,
        "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"
    );

    let cb = w.app.callback(&id).await;
    assert_eq!(cb["reminders_sent"], 1);
    assert_eq!(cb["next_reminder_at"], "2026-05-28T11:47:00+05:30");
    let sent: Vec<&Value> = cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reminder_sent")
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().any(|e| {
        e["detail"]
            .as_str()
            .unwrap()
            .contains("email to Meera <meera@example.in>")
    }));
    assert!(sent.iter().any(|e| {
        e["detail"]
            .as_str()
            .unwrap()
            .contains("telegram to Meera (chat 1001)")
    }));
    assert!(sent.iter().all(|e| e["at"] == "2026-05-28T11:32:00+05:30"));
}

#[tokio::test]
async fn reminders_repeat_every_interval_until_an_answered_call_clears_the_callback() {
    let w = world().await;
    let id = missed(&w.app, "9876500702", "1780070002.1").await;
    w.app.advance(Duration::minutes(2)).await;
    w.app.advance(Duration::minutes(14)).await;
    assert_eq!(
        w.smtp.mails_to(MEERA_EMAIL).len(),
        1,
        "nothing before repeat_every"
    );
    w.app.advance(Duration::minutes(1)).await;
    w.app.advance(Duration::minutes(15)).await;
    assert_eq!(w.smtp.mails_to(MEERA_EMAIL).len(), 3);
    assert_eq!(w.bot.messages_to(MEERA_CHAT).len(), 3);
    assert_eq!(w.app.callback(&id).await["reminders_sent"], 3);

    let answered = answered_call("9876500702", "1780070099.1", "2026-05-28 12:05:00", "60");
    let (_, reply) = w
        .app
        .post_json(Some("call_hangup_answered"), &answered.to_string())
        .await;
    assert_eq!(reply["effect"], "resolved");
    for _ in 0..4 {
        w.app.advance(Duration::minutes(15)).await;
    }
    assert_eq!(
        w.smtp.mails_to(MEERA_EMAIL).len(),
        3,
        "nothing after the answered call"
    );
    assert_eq!(w.bot.messages_to(MEERA_CHAT).len(), 3);
    let cb = w.app.callback(&id).await;
    assert_eq!(cb["next_reminder_at"], Value::Null);
}

#[tokio::test]
async fn nothing_goes_out_after_hours_and_exactly_one_reminder_at_the_next_business_moment() {
    let w = world().await;
    // Thursday 18:50 IST: the first reminder (18:52) is in hours, the next (19:07) is not.
    w.app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-05-28T18:50:00+05:30")
            .unwrap()
            .into(),
    );
    let id = missed(&w.app, "9876500703", "1780070003.1").await;
    w.app.advance(Duration::minutes(2)).await;
    assert_eq!(w.smtp.mails_to(MEERA_EMAIL).len(), 1);
    assert_eq!(
        w.app.callback(&id).await["next_reminder_at"],
        "2026-05-29T09:00:00+05:30"
    );

    for _ in 0..12 {
        w.app.advance(Duration::hours(1)).await; // through the night, to 06:52 Friday
    }
    assert_eq!(
        w.smtp.mails_to(MEERA_EMAIL).len(),
        1,
        "nothing outside business hours"
    );
    w.app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-05-29T09:00:00+05:30")
            .unwrap()
            .into(),
    );
    let report = w.app.tick().await;
    // One reminder round (email and Telegram to Meera), plus the 30-minute escalation to
    // Asha, which also fell due in the night and waited for the same moment.
    assert_eq!(report.claimed, 3, "{report:?}");
    assert_eq!(
        w.smtp.mails_to("asha@example.in").len(),
        1,
        "{report:?} {}",
        w.app.callback(&id).await
    );
    w.app.advance(Duration::minutes(1)).await;
    assert_eq!(
        w.smtp.mails_to(MEERA_EMAIL).len(),
        2,
        "exactly one at the next business moment"
    );
    assert_eq!(
        w.app.callback(&id).await["next_reminder_at"],
        "2026-05-29T09:15:00+05:30"
    );
}

#[tokio::test]
async fn a_snoozed_callback_is_silent_until_the_snooze_ends() {
    let w = world().await;
    let id = missed(&w.app, "9876500704", "1780070004.1").await;
    let (status, cb) = w
        .app
        .api_post(
            &format!("/api/v1/callbacks/{id}/snooze"),
            json!({"minutes": 60, "who": "Asha"}),
        )
        .await;
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["snoozed_until"], "2026-05-28T12:30:00+05:30");
    assert_eq!(cb["next_reminder_at"], "2026-05-28T12:30:00+05:30");
    for _ in 0..5 {
        w.app.advance(Duration::minutes(10)).await;
    }
    assert!(w.smtp.mails().is_empty(), "silent while snoozed");
    w.app.advance(Duration::minutes(10)).await;
    assert_eq!(
        w.smtp.mails_to(MEERA_EMAIL).len(),
        1,
        "reminded when the snooze ends"
    );
    let cb = w.app.callback(&id).await;
    assert!(kinds(&cb).contains(&"snoozed".to_string()));
}

#[tokio::test]
async fn an_unassigned_callback_goes_to_the_escalation_recipients_at_once_and_then_as_reminders() {
    let w = world().await;
    let mut body = missed_call("9876500705", "1780070005.1", "2026-05-28 11:29:00");
    body["missed_agent"] = "".into();
    let (_, reply) = w
        .app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(reply["effect"], "opened");
    // At once: the first escalation step's people hear of it (SPEC §5.1).
    w.app.tick().await;
    let mails = w.smtp.mails_to("asha@example.in");
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .text()
            .contains("Subject: Escalation 1: +919876500705"),
        "{}",
        mails[0].text()
    );
    assert!(mails[0].text().contains("nobody assigned"));
    // Then the reminders go to them too, since no agent has the callback.
    w.app.advance(Duration::minutes(2)).await;
    let mails = w.smtp.mails_to("asha@example.in");
    assert_eq!(mails.len(), 2);
    assert!(mails[1].text().contains("Subject: Call back +919876500705"));
    assert!(w.smtp.mails_to(MEERA_EMAIL).is_empty());
}

#[tokio::test]
async fn without_email_or_telegram_reminders_go_to_the_log_and_still_count() {
    let app = spawn_app().await;
    let id = missed(&app, "9876500706", "1780070006.1").await;
    let report = app.advance(Duration::minutes(2)).await;
    assert_eq!((report.claimed, report.sent), (1, 1));
    let cb = app.callback(&id).await;
    assert_eq!(cb["reminders_sent"], 1);
    let sent = cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "reminder_sent")
        .unwrap()
        .clone();
    assert!(
        sent["detail"].as_str().unwrap().contains("log (for Meera)"),
        "{sent}"
    );
}

#[tokio::test]
async fn an_smtp_outage_delays_email_without_losing_or_repeating_it() {
    let w = world().await;
    let id = missed(&w.app, "9876500707", "1780070007.1").await;
    w.smtp.go_down();
    let report = w.app.advance(Duration::minutes(2)).await;
    assert_eq!(
        (report.sent, report.retrying),
        (1, 1),
        "Telegram went, email waits: {report:?}"
    );
    assert_eq!(w.bot.messages_to(MEERA_CHAT).len(), 1);
    let cb = w.app.callback(&id).await;
    assert_eq!(cb["reminders_sent"], 1);
    let failed = cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "delivery_failed")
        .unwrap()
        .clone();
    assert!(
        failed["detail"].as_str().unwrap().contains("retrying"),
        "{failed}"
    );

    // Still down at the first retry (15 s ± 20 %).
    let report = w.app.advance(Duration::seconds(20)).await;
    assert_eq!(report.retrying, 1, "{report:?}");
    w.smtp.come_up().await;
    let report = w.app.advance(Duration::minutes(1)).await;
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(w.smtp.mails_to(MEERA_EMAIL).len(), 1);
    w.app.advance(Duration::minutes(1)).await;
    assert_eq!(
        w.smtp.mails_to(MEERA_EMAIL).len(),
        1,
        "sent once, not again"
    );
    assert_eq!(
        w.bot.messages_to(MEERA_CHAT).len(),
        1,
        "Telegram not repeated either"
    );
}

#[tokio::test]
async fn telegram_429_is_retried_after_the_time_it_asks_for() {
    let w = world().await;
    missed(&w.app, "9876500708", "1780070008.1").await;
    w.bot.throttle(1, 30);
    let report = w.app.advance(Duration::minutes(2)).await;
    assert_eq!(report.retrying, 1, "{report:?}");
    assert!(w.bot.messages_to(MEERA_CHAT).is_empty());
    let report = w.app.advance(Duration::seconds(20)).await;
    assert_eq!(report, Default::default(), "retry_after (30 s) is honoured");
    let report = w.app.advance(Duration::seconds(10)).await;
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(w.bot.messages_to(MEERA_CHAT).len(), 1);
}

#[tokio::test]
async fn permanent_failures_are_recorded_on_the_timeline_and_not_retried() {
    let w = world().await;
    w.bot.forget_chat(MEERA_CHAT);
    w.smtp.reject(MEERA_EMAIL);
    let id = missed(&w.app, "9876500709", "1780070009.1").await;
    let report = w.app.advance(Duration::minutes(2)).await;
    assert_eq!(report.failed, 2, "{report:?}");
    let cb = w.app.callback(&id).await;
    assert_eq!(cb["reminders_sent"], 0);
    let failures: Vec<String> = cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "delivery_failed")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures
            .iter()
            .any(|f| f.contains("chat not found") && f.contains("for good")),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f.contains("550") && f.contains("for good")),
        "{failures:?}"
    );
    let before = w.bot.requests().len();
    let report = w.app.advance(Duration::minutes(10)).await;
    assert_eq!(report, Default::default(), "not retried");
    assert_eq!(w.bot.requests().len(), before);
}

#[tokio::test]
async fn a_restart_between_recording_and_sending_delivers_each_reminder_once() {
    let w = world().await;
    let id = missed(&w.app, "9876500710", "1780070010.1").await;
    w.app.clock.advance(Duration::minutes(2));
    // Record the round (outbox written, durable) but stop before sending anything.
    let claimed = w.app.scheduler.claim(w.app.clock.now()).await.unwrap();
    assert_eq!(claimed, 2);
    let World { app, smtp, bot } = w;
    let app = app.restart().await;
    assert!(smtp.mails().is_empty() && bot.requests().is_empty());
    let report = app.tick().await;
    assert_eq!(report.sent, 2, "{report:?}");
    assert_eq!(smtp.mails_to(MEERA_EMAIL).len(), 1);
    assert_eq!(bot.messages_to(MEERA_CHAT).len(), 1);
    // And after another restart nothing already sent goes again.
    let app = app.restart().await;
    let report = app.tick().await;
    assert_eq!(report, Default::default());
    assert_eq!(smtp.mails().len(), 1);
    assert_eq!(app.callback(&id).await["reminders_sent"], 1);
}

#[tokio::test]
async fn metrics_count_reminders_per_channel() {
    let w = world().await;
    missed(&w.app, "9876500711", "1780070011.1").await;
    w.smtp.go_down();
    w.app.advance(Duration::minutes(2)).await;
    let text = w
        .app
        .client
        .get(format!("{}/metrics", w.app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"ringback_reminders_sent_total{channel="telegram"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ringback_reminders_failed_total{channel="email",kind="transient"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ringback_webhooks_total{trigger="call_hangup_missed",effect="opened"} 1"#),
        "{text}"
    );
    assert!(text.contains("ringback_pending_callbacks 1\n"), "{text}");
    // Both deliveries (email, Telegram) were handed over when the clock reached their due
    // time, first_after after the webhook: no lateness.
    assert!(
        text.contains("ringback_reminder_lateness_seconds_count 2\n")
            && text.contains("ringback_reminder_lateness_seconds_sum 0.0\n"),
        "{text}"
    );
    // The call started at 11:29 by Smartflo's stamp; Ringback received it at 11:30, and the
    // age runs from then (the clock escalation runs on). The clock is at 11:32.
    assert!(
        text.contains("ringback_oldest_pending_age_seconds 120.0\n"),
        "{text}"
    );
}

/// The issue's "done when": the real service loop (not test ticks), a missed call, email and
/// Telegram after first_after, repeats, an answered call, silence.
#[tokio::test]
async fn the_running_service_reminds_until_the_answered_call_then_stops() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let options = ringback::startup::Options {
        scheduler_interval: Some(std::time::Duration::from_millis(20)),
    };
    let app = spawn_app_with_options(&config_with(&smtp, &bot), options).await;
    missed(&app, "9876500712", "1780070012.1").await;
    let wait_for = |want: usize| {
        let (smtp, bot) = (&smtp, &bot);
        async move {
            for _ in 0..250 {
                if smtp.mails_to(MEERA_EMAIL).len() >= want
                    && bot.messages_to(MEERA_CHAT).len() >= want
                {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            false
        }
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(smtp.mails().is_empty(), "nothing before first_after");
    app.clock.advance(Duration::minutes(2));
    assert!(wait_for(1).await, "first reminder by email and Telegram");
    app.clock.advance(Duration::minutes(15));
    assert!(wait_for(2).await, "second reminder");
    let answered = answered_call("9876500712", "1780070099.2", "2026-05-28 11:50:00", "45");
    let (_, reply) = app
        .post_json(Some("call_hangup_answered"), &answered.to_string())
        .await;
    assert_eq!(reply["effect"], "resolved");
    app.clock.advance(Duration::minutes(15));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.mails_to(MEERA_EMAIL).len(), 2);
    assert_eq!(bot.messages_to(MEERA_CHAT).len(), 2);
}
