//! Acting from the reminder itself (SPEC §6.1, issue 5): Telegram buttons pressed in a fake
//! Bot API (delivered to Ringback's bot through getUpdates, as real Telegram would), the
//! bot's commands, and the call-back placed through a fake Smartflo API.

use chrono::Duration;
use serde_json::{Value, json};

use crate::dashboard::{DASHBOARD, PASSWORD, Visitor};
use crate::fakes::smartflo::FakeSmartflo;
use crate::fakes::telegram::FakeBotApi;
use crate::helpers::*;

const MEERA: i64 = 1001;
const ARJUN: i64 = 1002;
const ASHA: i64 = 3003;
const STRANGER: i64 = 9999;

/// Meera, Arjun and Asha on Telegram; click-to-call when a fake Smartflo is given.
fn config(bot: &FakeBotApi, smartflo: Option<&FakeSmartflo>) -> String {
    let base = BASE_CONFIG
        .replace(
            "smartflo_id = \"0507000000012\"\n",
            "smartflo_id = \"0507000000012\"\ntelegram_chat_id = 1002\n",
        )
        .replace(
            "email = \"asha@example.in\"\n",
            "email = \"asha@example.in\"\ntelegram_chat_id = 3003\n",
        );
    let mut text = format!(
        "{base}\n{DASHBOARD}\n[telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n",
        bot.url()
    );
    if let Some(s) = smartflo {
        text.push_str(&format!(
            "[smartflo]\napi_url = \"{}\"\napi_token = \"sf-api-token-0123456789\"\n",
            s.url()
        ));
    }
    text
}

/// A missed call from `customer` for Meera, and its first Telegram reminder; returns the
/// callback id and the reminder's message id.
async fn reminded(app: &TestApp, bot: &FakeBotApi, customer: &str) -> (String, i64) {
    let body = missed_call(
        customer,
        &format!("17801300{}.1", &customer[customer.len() - 2..]),
        "2026-05-28 11:29:00",
    );
    let (_, reply) = app
        .post_json(Some("call_hangup_missed"), &body.to_string())
        .await;
    let id = reply["callback_id"].as_str().unwrap().to_string();
    let before = bot.messages_to(MEERA).len();
    app.advance(Duration::minutes(2)).await;
    let messages = bot.messages_to(MEERA);
    assert_eq!(messages.len(), before + 1, "one reminder");
    (id, messages.last().unwrap().message_id.unwrap())
}

fn labels(message: &Value) -> Vec<String> {
    message["reply_markup"]["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .flat_map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|b| b["text"].as_str().unwrap().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The labels shown, each without its emoji.
fn words(message: &Value) -> Vec<String> {
    labels(message)
        .iter()
        .map(|l| {
            l.trim_start_matches(|c: char| !c.is_ascii_alphabetic())
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn reminders_carry_the_action_buttons_and_only_other_agents_are_offered_to_take_it() {
    let bot = FakeBotApi::start().await;
    let smartflo = FakeSmartflo::start().await;
    // Arjun (an agent) and Asha (a supervisor) both hear of the escalation at 30 minutes.
    let escalating_to_arjun = config(&bot, Some(&smartflo))
        .replace("notify = [\"Asha\"]", "notify = [\"Asha\", \"Arjun\"]");
    let app = spawn_app_with_config(&escalating_to_arjun).await;
    let (id, _) = reminded(&app, &bot, "9876501301").await;
    let message = bot.messages_to(MEERA).last().unwrap().body.clone();
    // Meera is the assigned agent: the callback is already hers.
    assert_eq!(
        words(&message),
        [
            "Call back now",
            "Snooze 30 min",
            "No answer",
            "Busy",
            "Switched off",
            "Wrong number",
            "Call later (1 h)",
            "Called back"
        ]
    );
    let data = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap();
    assert_eq!(data, format!("call:{id}"));

    app.advance(Duration::minutes(30)).await;
    let to_arjun = bot.messages_to(ARJUN).last().unwrap().body.clone();
    assert_eq!(
        words(&to_arjun),
        [
            "Call back now",
            "Snooze 30 min",
            "I'll take it",
            "No answer",
            "Busy",
            "Switched off",
            "Wrong number",
            "Call later (1 h)",
            "Called back"
        ]
    );
    // A supervisor cannot take a callback, so is not offered to.
    let to_asha = bot.messages_to(ASHA).last().unwrap().body.clone();
    assert!(
        !words(&to_asha)
            .iter()
            .any(|w| w.starts_with("I'll take it"))
    );

    // Without click-to-call there is no "Call back now".
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&bot, None)).await;
    reminded(&app, &bot, "9876501302").await;
    assert_eq!(
        words(&bot.messages_to(MEERA).last().unwrap().body),
        [
            "Snooze 30 min",
            "No answer",
            "Busy",
            "Switched off",
            "Wrong number",
            "Call later (1 h)",
            "Called back"
        ]
    );
}

#[tokio::test]
async fn snooze_take_and_called_back_work_from_the_buttons() {
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&bot, None)).await;
    let (id, message) = reminded(&app, &bot, "9876501303").await;

    bot.press(MEERA, MEERA, message, &format!("snooze:{id}"));
    assert!(
        bot.wait_until(|b| b.edits_of(MEERA, message).len() == 1)
            .await,
        "the message was edited"
    );
    assert!(
        bot.answers()[0].starts_with("Snoozed until 28 May 2026, 12:02"),
        "{:?}",
        bot.answers()
    );
    let cb = app.callback(&id).await;
    assert_eq!(cb["snoozed_until"], "2026-05-28T12:02:00+05:30");
    assert_eq!(
        cb["events"].as_array().unwrap().last().unwrap()["who"],
        "Meera"
    );
    let edit = bot.edits_of(MEERA, message)[0].body.clone();
    assert!(
        edit["text"]
            .as_str()
            .unwrap()
            .contains("Snoozed until 28 May 2026, 12:02 by Meera"),
        "{edit}"
    );
    assert_eq!(
        labels(&edit).len(),
        7,
        "buttons stay while pending (no \"I'll take it\" for Meera: it is hers)"
    );

    // Arjun takes it; Asha (a supervisor) cannot.
    bot.press(ARJUN, MEERA, message, &format!("take:{id}"));
    assert!(bot.wait_until(|b| b.answers().len() == 2).await);
    assert_eq!(app.callback(&id).await["assigned_agent"]["name"], "Arjun");
    bot.press(ASHA, ASHA, message, &format!("take:{id}"));
    assert!(bot.wait_until(|b| b.answers().len() == 3).await);
    assert_eq!(bot.answers()[2], "Only agents can take a callback.");
    assert_eq!(app.callback(&id).await["assigned_agent"]["name"], "Arjun");

    bot.press(ARJUN, MEERA, message, &format!("done:{id}"));
    assert!(bot.wait_until(|b| b.answers().len() == 4).await);
    let cb = app.callback(&id).await;
    assert_eq!(cb["status"], "resolved");
    assert_eq!(cb["resolution"]["kind"], "manual");
    assert_eq!(cb["resolution"]["agent"], "Arjun");
    assert!(
        bot.wait_until(|b| b.edits_of(MEERA, message).len() >= 3)
            .await
    );
    let last = bot.edits_of(MEERA, message).last().unwrap().body.clone();
    assert!(last["text"].as_str().unwrap().starts_with("✅"), "{last}");
    assert!(labels(&last).is_empty(), "no buttons once resolved");
}

#[tokio::test]
async fn presses_from_people_ringback_does_not_know_change_nothing() {
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&bot, None)).await;
    let (id, message) = reminded(&app, &bot, "9876501304").await;
    bot.press(STRANGER, MEERA, message, &format!("done:{id}"));
    assert!(bot.wait_until(|b| !b.answers().is_empty()).await);
    assert!(
        bot.answers()[0].contains("not registered"),
        "{:?}",
        bot.answers()
    );
    assert_eq!(app.callback(&id).await["status"], "pending");
    assert!(bot.edits_of(MEERA, message).is_empty());

    bot.say(STRANGER, "/start");
    assert!(
        bot.wait_until(|b| !b.messages_to(STRANGER).is_empty())
            .await
    );
    let reply = bot.messages_to(STRANGER)[0].body["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reply.contains("9999") && reply.contains("telegram_chat_id"),
        "{reply}"
    );

    // Admins see who it was on the dashboard.
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get("/telegram").await;
    assert!(
        html.contains("<code>9999</code>") && html.contains("@user9999"),
        "{html}"
    );
}

#[tokio::test]
async fn pending_lists_the_senders_open_callbacks_oldest_first() {
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&bot, None)).await;
    reminded(&app, &bot, "9876501305").await;
    app.clock.advance(Duration::minutes(5));
    reminded(&app, &bot, "9876501306").await;
    bot.say(MEERA, "/pending");
    assert!(
        bot.wait_until(|b| b
            .messages_to(MEERA)
            .iter()
            .any(|m| m.body["text"].as_str().unwrap().contains("pending")))
            .await
    );
    let reply = bot.messages_to(MEERA).last().unwrap().body["text"]
        .as_str()
        .unwrap()
        .to_string();
    let first = reply.find("+919876501305").expect("first callback listed");
    let second = reply.find("+919876501306").expect("second callback listed");
    assert!(first < second, "oldest first: {reply}");
    assert!(reply.starts_with("<b>2 pending</b>"), "{reply}");

    bot.say(ARJUN, "/pending");
    assert!(bot.wait_until(|b| !b.messages_to(ARJUN).is_empty()).await);
    assert_eq!(
        bot.messages_to(ARJUN)[0].body["text"],
        "Nothing pending for you. 🎉"
    );
    bot.say(ASHA, "/pending");
    assert!(bot.wait_until(|b| !b.messages_to(ASHA).is_empty()).await);
    assert!(
        bot.messages_to(ASHA)[0].body["text"]
            .as_str()
            .unwrap()
            .contains(", Meera"),
        "supervisors see everyone's"
    );
}

#[tokio::test]
async fn pending_masks_customer_numbers_when_the_privacy_setting_says_so() {
    let bot = FakeBotApi::start().await;
    let masked = format!("{}\n[privacy]\nmask_numbers = true\n", config(&bot, None));
    let app = spawn_app_with_config(&masked).await;
    reminded(&app, &bot, "9876501307").await;
    bot.say(MEERA, "/pending");
    assert!(
        bot.wait_until(|b| b
            .messages_to(MEERA)
            .iter()
            .any(|m| m.body["text"].as_str().unwrap().contains("1 pending")))
            .await
    );
    let reply = bot.messages_to(MEERA).last().unwrap().body["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!reply.contains("9876501307"), "{reply}");
    assert!(reply.contains("+91 ••••• •1307"), "{reply}");
}

/// The "done when": tap "Call back now", Smartflo places the call, the answered
/// click-to-call webhook resolves the callback, and the agent's message says so.
#[tokio::test]
async fn call_back_now_places_the_call_and_the_answered_webhook_closes_the_message() {
    let bot = FakeBotApi::start().await;
    let smartflo = FakeSmartflo::start().await;
    let app = spawn_app_with_config(&config(&bot, Some(&smartflo))).await;
    let (id, message) = reminded(&app, &bot, "9876501307").await;

    bot.press(MEERA, MEERA, message, &format!("call:{id}"));
    assert!(
        smartflo.wait_for_requests(1).await,
        "Smartflo was asked to place the call"
    );
    let request = smartflo.requests()[0].body.clone();
    assert_eq!(request["agent_number"], "0507000000011");
    assert_eq!(request["destination_number"], "9876501307");
    assert_eq!(request["custom_identifier"], id.as_str());
    assert!(
        bot.wait_until(|b| !b.edits_of(MEERA, message).is_empty())
            .await
    );
    assert!(
        bot.answers()[0].starts_with("Smartflo is ringing Meera"),
        "{:?}",
        bot.answers()
    );
    let edit = bot.edits_of(MEERA, message)[0].body["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        edit.contains("📞 Calling: Smartflo is ringing Meera"),
        "{edit}"
    );

    // Smartflo's webhook for that call, carrying the custom_identifier back.
    let mut answered = fixture("c2c_answered_by_customer.json");
    answered["custom_identifier"] = id.clone().into();
    answered["call_id"] = "1780130700.1".into();
    answered["call_to_number"] = "9876501307".into();
    answered["customer_no_with_prefix "] = "919876501307".into();
    answered["answered_agent_number"] =
        json!({"follow_me_number": "+919800000011", "id": "0507000000011", "name": "Meera"});
    answered["start_stamp"] = "2026-05-28 11:33:00".into();
    let (_, reply) = app
        .post_json(Some("c2c_answered_by_customer"), &answered.to_string())
        .await;
    assert_eq!(reply["effect"], "resolved", "{reply}");
    assert_eq!(reply["callback_id"], id.as_str());

    app.tick().await;
    let edits = bot.edits_of(MEERA, message);
    let closing = edits.last().unwrap().body.clone();
    let text = closing["text"].as_str().unwrap();
    assert!(
        text.starts_with("✅") && text.contains("called back by Meera at 28 May 2026, 11:33"),
        "{text}"
    );
    assert!(labels(&closing).is_empty());
    let cb = app.callback(&id).await;
    let kinds: Vec<&str> = cb["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"call_requested") && kinds.contains(&"answered"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_failed_call_is_told_to_the_agent_and_a_restart_does_not_replay_presses() {
    let bot = FakeBotApi::start().await;
    let smartflo = FakeSmartflo::start().await;
    let app = spawn_app_with_config(&config(&bot, Some(&smartflo))).await;
    let (id, message) = reminded(&app, &bot, "9876501308").await;
    smartflo.answer_next(
        200,
        json!({"success": false, "message": "Agent is busy on another call"}),
    );
    bot.press(MEERA, MEERA, message, &format!("call:{id}"));
    assert!(
        bot.wait_until(|b| !b.edits_of(MEERA, message).is_empty())
            .await
    );
    assert!(
        bot.answers()[0].contains("Agent is busy on another call"),
        "{:?}",
        bot.answers()
    );
    let edit = bot.edits_of(MEERA, message)[0].body["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(edit.contains("⚠️ The call could not be placed"), "{edit}");
    let cb = app.callback(&id).await;
    assert_eq!(
        cb["events"].as_array().unwrap().last().unwrap()["kind"],
        "call_failed"
    );

    let app = app.restart().await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        smartflo.requests().len(),
        1,
        "the press was not replayed after the restart"
    );
    assert_eq!(bot.answers().len(), 1);
    drop(app);
}

#[tokio::test]
async fn update_ids_past_32_bits_are_each_handled_once() {
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&bot, None)).await;
    let (id, message) = reminded(&app, &bot, "9876501309").await;

    // Ids 2^31 - 1, 2^31 and 2^31 + 1: past what a 32-bit signed offset can say.
    bot.continue_update_ids_after(i64::from(i32::MAX) - 1);
    bot.press(MEERA, MEERA, message, &format!("snooze:{id}"));
    bot.press(ARJUN, MEERA, message, &format!("take:{id}"));
    bot.press(ASHA, ASHA, message, &format!("take:{id}"));
    assert!(bot.wait_until(|b| b.answers().len() >= 3).await);

    // Past 2^32 too; its reply arriving means every earlier update was passed.
    bot.continue_update_ids_after(1 << 33);
    let before = bot.messages_to(MEERA).len();
    bot.say(MEERA, "/start");
    assert!(
        bot.wait_until(|b| b.messages_to(MEERA).len() > before)
            .await,
        "the /start after them is answered"
    );
    assert_eq!(
        bot.answers().len(),
        3,
        "each press answered once: {:?}",
        bot.answers()
    );
    assert_eq!(app.callback(&id).await["assigned_agent"]["name"], "Arjun");
}

#[tokio::test]
async fn pressing_an_outcome_button_records_an_attempt_on_the_timeline() {
    let bot = FakeBotApi::start().await;
    let app = spawn_app_with_config(&config(&bot, None)).await;
    let (id, message) = reminded(&app, &bot, "9876501311").await;

    bot.press(MEERA, MEERA, message, &format!("no_answer:{id}"));
    assert!(
        bot.wait_until(|b| b.edits_of(MEERA, message).len() == 1)
            .await,
        "the message was edited"
    );
    assert_eq!(bot.answers(), ["Recorded: no answer."]);
    let edit = bot.edits_of(MEERA, message)[0].body.clone();
    assert!(
        edit["text"]
            .as_str()
            .unwrap()
            .contains("📵 No answer — recorded by Meera"),
        "{edit}"
    );
    assert!(!labels(&edit).is_empty(), "still pending: the buttons stay");
    let cb = app.callback(&id).await;
    assert_eq!(cb["attempts"], 1);
    let last = cb["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["kind"], &last["who"], &last["detail"]),
        (
            &json!("outcome"),
            &json!("Meera"),
            &json!("no_answer: no answer")
        )
    );

    // "Call later" pauses the reminders for an hour from the press.
    bot.press(MEERA, MEERA, message, &format!("call_later:{id}"));
    assert!(bot.wait_until(|b| b.answers().len() == 2).await);
    assert_eq!(
        bot.answers()[1],
        "Recorded. Reminders resume at 28 May 2026, 12:32."
    );
    let cb = app.callback(&id).await;
    assert_eq!(cb["attempts"], 2);
    assert_eq!(cb["snoozed_until"], "2026-05-28T12:32:00+05:30");

    // A supervisor reads both attempts on the callback's page.
    let v = Visitor::new(&app);
    v.login("asha", PASSWORD).await;
    let (_, html, _) = v.get(&format!("/callbacks/{id}")).await;
    assert!(
        html.contains("<dt>Call-back attempts</dt><dd>2</dd>"),
        "{html}"
    );
    assert_eq!(
        html.matches("Call-back attempt: outcome").count(),
        2,
        "{html}"
    );
}
