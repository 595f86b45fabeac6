//! Log lines cannot be forged from outside (issue 15): a login name or a Telegram first
//! name carrying a newline is logged on one line, escaped. The real binary, its real log.

use std::time::Duration;

use crate::blackbox::Daemon;
use crate::dashboard::DASHBOARD;
use crate::fakes::telegram::FakeBotApi;

const FORGED: &str = "2026-05-28T06:00:00.000000Z ERROR forged: storage is corrupt";
/// What every forged line starts with, however much of the name was logged.
const FORGED_START: &str = "2026-05-28T06:00:00.000000Z ERROR forged";
const STRANGER: i64 = 4242;

/// Waits (up to 10 s) until the daemon's log contains `text`.
async fn logged(daemon: &Daemon, text: &str) -> String {
    for _ in 0..200 {
        let log = daemon.log();
        if log.contains(text) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{text:?} never logged:\n{}", daemon.log());
}

#[tokio::test]
async fn newlines_in_a_login_name_or_a_telegram_name_do_not_forge_log_lines() {
    let bot = FakeBotApi::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        "{DASHBOARD}\n[telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n",
        bot.url()
    );
    let daemon = Daemon::start(tmp.path(), &tmp.path().join("data"), &extra).await;

    // A login with forged lines in the name (a login needs the session's CSRF token).
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = http
        .get(daemon.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::dashboard::csrf_in(&page).unwrap();
    let name = format!("mallory\n{FORGED}\r\n{FORGED}");
    let status = http
        .post(daemon.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("name", &name), ("password", "x")])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);

    // A Telegram user the bot does not know, with a forged line in their first name.
    bot.say_as(STRANGER, &format!("Eve\n{FORGED}"), "hello");

    logged(&daemon, "dashboard login refused").await;
    let log = logged(&daemon, "not configured").await;
    assert!(
        log.contains(r"mallory\n2026-05-28T06:00:00.000000Z ERROR forged"),
        "{log}"
    );
    assert!(
        log.contains(r"Eve\n2026-05-28T06:00:00.000000Z ERROR forged"),
        "{log}"
    );
    let forged: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with(FORGED_START))
        .collect();
    assert!(
        forged.is_empty(),
        "forged lines in the log: {forged:?}\n{log}"
    );
    assert!(!log.contains('\r'), "no carriage return reaches the log");
}
