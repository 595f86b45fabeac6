//! Issue 17: the shift digest as a supervisor receives it (real SMTP to an in-process
//! server, real Bot API requests to a fake one), sent once per moment across a restart;
//! masked numbers and Hindi messages as people receive them.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use crate::fakes::smtp::FakeSmtp;
use crate::fakes::telegram::FakeBotApi;
use crate::helpers::*;

const ASHA_CHAT: i64 = 2001;
const MEERA_CHAT: i64 = 1001;

fn config(smtp: &FakeSmtp, bot: &FakeBotApi, extra: &str) -> String {
    let base = BASE_CONFIG.replace(
        "name = \"Asha\"\nemail = \"asha@example.in\"\n",
        &format!("name = \"Asha\"\nemail = \"asha@example.in\"\ntelegram_chat_id = {ASHA_CHAT}\n"),
    );
    format!(
        "{base}\n[email]\nsmtp_url = \"{}\"\nfrom = \"Ringback <ringback@ringback.test>\"\n\
         [telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n{extra}",
        smtp.url(),
        bot.url()
    )
}

const DIGEST: &str = "\n[sla]\ncallback_within = \"30m\"\n\n[[digests]]\ncron = \"0 30 9 * * Mon-Sat\"\nnotify = [\"Asha\"]\n";

fn set_ist(app: &TestApp, d: u32, h: u32, m: u32) {
    let target = chrono_tz::Asia::Kolkata
        .with_ymd_and_hms(2026, 5, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc);
    app.clock.advance(target - app.clock_now());
}

async fn missed(app: &TestApp, customer: &str, call_id: &str) -> String {
    let stamp = app
        .clock_now()
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let body = missed_call(customer, call_id, &stamp);
    let (status, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    assert_eq!(status, 200, "{reply}");
    reply["callback_id"].as_str().unwrap().to_string()
}

fn digests_to_asha(smtp: &FakeSmtp, bot: &FakeBotApi) -> (usize, usize) {
    let mails = smtp
        .mails_to("asha@example.in")
        .into_iter()
        .filter(|m| m.text().contains("Ringback digest"))
        .count();
    let messages = bot
        .messages_to(ASHA_CHAT)
        .into_iter()
        .filter(|m| {
            m.body["text"]
                .as_str()
                .unwrap_or("")
                .contains("Ringback digest")
        })
        .count();
    (mails, messages)
}

#[tokio::test]
async fn the_morning_digest_arrives_once_by_email_and_telegram_with_yesterdays_and_todays_figures()
{
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&smtp, &bot, DIGEST)).await;

    // Thursday: one customer called back in 10 minutes, one late (a breach of Meera's),
    // and one missed at 18:50 who is still waiting on Friday morning.
    let quick = missed(&app, "9876501801", "1780180001.1").await;
    app.clock.advance(Duration::minutes(10));
    app.api_post(
        &format!("/api/v1/callbacks/{quick}/resolve"),
        json!({"reason": "called back", "who": "Meera"}),
    )
    .await;
    let late = missed(&app, "9876501802", "1780180002.1").await;
    app.clock.advance(Duration::minutes(50));
    app.api_post(
        &format!("/api/v1/callbacks/{late}/resolve"),
        json!({"reason": "called back", "who": "Meera"}),
    )
    .await;
    set_ist(&app, 28, 18, 50);
    let waiting = missed(&app, "9876501803", "1780180003.1").await;

    set_ist(&app, 29, 9, 29);
    app.tick().await;
    assert_eq!(digests_to_asha(&smtp, &bot), (0, 0), "not before 09:30");

    set_ist(&app, 29, 9, 30);
    app.tick().await;
    assert_eq!(digests_to_asha(&smtp, &bot), (1, 1));

    let mail = smtp
        .mails_to("asha@example.in")
        .into_iter()
        .find(|m| m.text().contains("Ringback digest"))
        .unwrap()
        .text()
        // Quoted-printable's middle dot, read as the reader sees it.
        .replace("=C2=B7", "·");
    println!("--- the digest email as it arrives ---\n{mail}\n--- end ---");
    assert!(
        mail.contains("Subject: Ringback digest 29 May 2026: 1 waiting, 2 breaches"),
        "{mail}"
    );
    assert!(
        mail.contains("Ringback's shift digest for 29 May 2026, 09:30."),
        "{mail}"
    );
    assert!(mail.contains("Yesterday, 28 May 2026:"), "{mail}");
    assert!(mail.contains("Missed customers: 3"), "{mail}");
    assert!(mail.contains("Called back:      2"), "{mail}");
    assert!(mail.contains("Within SLA:       1 of 2 (50%)"), "{mail}");
    assert!(mail.contains("Meera: 1 / 1"), "breaches by agent: {mail}");
    assert!(mail.contains("+919876501803 · Meera · waiting"), "{mail}");
    assert!(mail.contains("SLA BREACHED"), "{mail}");
    assert!(
        mail.contains("http://ringback.test/v/"),
        "a link to the callback: {mail}"
    );
    assert!(!mail.contains(&quick), "only the waiting one is listed");

    let telegram = bot
        .messages_to(ASHA_CHAT)
        .into_iter()
        .find(|m| m.body["text"].as_str().unwrap_or("").contains("digest"))
        .unwrap();
    let text = telegram.body["text"].as_str().unwrap().to_string();
    println!("--- the digest Telegram message as it arrives ---\n{text}\n--- end ---");
    assert!(
        text.contains("Ringback digest 29 May 2026, 09:30"),
        "{text}"
    );
    assert!(
        text.contains("Yesterday: 3 missed · 2 called back · 1 of 2 (50%) within SLA"),
        "{text}"
    );
    assert!(text.contains("Waiting now: 1"), "{text}");
    assert!(text.contains("+919876501803"), "{text}");
    let _ = waiting;

    // Once per moment: later ticks and a restart do not send it again.
    app.clock.advance(Duration::minutes(5));
    app.tick().await;
    let app = app.restart().await;
    app.tick().await;
    assert_eq!(digests_to_asha(&smtp, &bot), (1, 1));

    // Saturday's moment is its own digest.
    set_ist(&app, 30, 9, 30);
    app.tick().await;
    assert_eq!(digests_to_asha(&smtp, &bot), (2, 2));

    // The store remembers the latest moment sent, under the schedule's cron and recipients.
    let dir = app.stop().await;
    let opened = ringback::store::open(&ringback::config::StorageSettings::sled(
        dir.path().join("data"),
    ))
    .await
    .expect("the store opens");
    let saturday = chrono_tz::Asia::Kolkata
        .with_ymd_and_hms(2026, 5, 30, 9, 30, 0)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        opened
            .store
            .last_digest("0 30 9 * * Mon-Sat -> Asha")
            .await
            .unwrap(),
        Some(saturday)
    );
    opened.store.close().await.unwrap();
}

#[tokio::test]
async fn a_digest_moment_missed_while_the_service_was_down_for_hours_is_skipped() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&smtp, &bot, DIGEST)).await;
    set_ist(&app, 29, 14, 0);
    app.tick().await;
    // A positive signal first: a reminder of the same tick's work reached Meera.
    let id = missed(&app, "9876501804", "1780180004.1").await;
    app.advance(Duration::minutes(2)).await;
    assert_eq!(bot.messages_to(MEERA_CHAT).len(), 1, "{id}");
    assert_eq!(digests_to_asha(&smtp, &bot), (0, 0));
}

#[tokio::test]
async fn masked_numbers_show_only_the_last_four_digits_in_telegram_and_email() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let app =
        spawn_app_with_config(&config(&smtp, &bot, "\n[privacy]\nmask_numbers = true\n")).await;
    let id = missed(&app, "9876501805", "1780180005.1").await;
    app.advance(Duration::minutes(2)).await;

    let messages = bot.messages_to(MEERA_CHAT);
    assert_eq!(messages.len(), 1);
    let text = messages[0].body["text"].as_str().unwrap();
    assert!(text.contains("+91 ••••• •1805"), "{text}");
    assert!(!text.contains("9876501805"), "{text}");
    let mail = smtp.mails_to("meera@example.in")[0].text();
    assert!(!mail.contains("9876501805"), "{mail}");
    assert!(!mail.contains("98765 01805"), "{mail}");
    // The full number stays behind the API (and the dashboard and the signed link).
    assert_eq!(app.callback(&id).await["customer_number"], "+919876501805");
}

#[tokio::test]
async fn an_agent_with_language_hi_gets_hindi_reminders_and_others_english() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let config = config(&smtp, &bot, "").replace(
        "telegram_chat_id = 1001\n",
        "telegram_chat_id = 1001\nlanguage = \"hi\"\n",
    );
    let app = spawn_app_with_config(&config).await;
    missed(&app, "9876501806", "1780180006.1").await;
    app.advance(Duration::minutes(2)).await;
    let messages = bot.messages_to(MEERA_CHAT);
    assert_eq!(messages.len(), 1);
    let text = messages[0].body["text"].as_str().unwrap();
    assert!(text.contains("+919876501806 को वापस कॉल करें"), "{text}");
    assert!(text.contains("अनुस्मारक 1"), "{text}");
    // The escalation to Asha (no language) is in English.
    app.advance(Duration::minutes(30)).await;
    let asha = bot.messages_to(ASHA_CHAT);
    let text = asha[0].body["text"].as_str().unwrap();
    assert!(text.contains("Escalation 1"), "{text}");
}

#[tokio::test]
async fn a_telegram_reminder_offers_every_outcome_as_a_button() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&smtp, &bot, "")).await;
    let id = missed(&app, "9876501807", "1780180007.1").await;
    app.advance(Duration::minutes(2)).await;
    let reminder = &bot.messages_to(MEERA_CHAT)[0];
    let labels: Vec<String> = reminder.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .map(|b| b["text"].as_str().unwrap().to_string())
        .collect();
    for wanted in [
        "📵 No answer",
        "⛔ Busy",
        "📴 Switched off",
        "❌ Wrong number",
        "⏰ Call later (1 h)",
    ] {
        assert!(labels.iter().any(|l| l == wanted), "{wanted} in {labels:?}");
    }
    let _ = id;
}
