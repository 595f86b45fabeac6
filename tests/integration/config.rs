//! `ringback check-config`, `webhook-urls` and configuration loading (SPEC §2, §3).

use std::process::Command;

use ringback::config::Settings;

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

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn the_shipped_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    let (ok, stdout, stderr) = ringback(&["check-config", "--config", path]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("configuration is valid"));
}

#[test]
fn check_config_names_the_key_of_a_bad_cron_duration_or_agent_reference() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, key) in [
        (
            "business_hours = \"* * 9-18 * * Mon-Sat\"",
            "business_hours = \"* * 9-25 * * Mon-Sat\"",
            "reminders.business_hours",
        ),
        (
            "business_hours = \"* * 9-18 * * Mon-Sat\"",
            "business_hours = \"* * 9-18 * * 1-6\"",
            "reminders.business_hours",
        ),
        (
            "first_after = \"2m\"",
            "first_after = \"two minutes\"",
            "reminders.first_after",
        ),
        (
            "repeat_every = \"15m\"",
            "repeat_every = \"0s\"",
            "reminders.repeat_every",
        ),
        (
            "first_after = \"2m\"",
            "first_after = \"400d\"",
            "reminders.first_after",
        ),
        (
            "notify = [\"Asha\"]",
            "notify = [\"Ashaa\"]",
            "escalation[0].notify[0]",
        ),
        ("after = \"30m\"", "after = \"soon\"", "escalation[0].after"),
        (
            "timezone = \"Asia/Kolkata\"",
            "timezone = \"India/Delhi\"",
            "reminders.timezone",
        ),
        (
            "number = \"9800000012\"",
            "number = \"98\"",
            "agents[1].number",
        ),
        (
            "email = \"meera@example.in\"",
            "email = \"meera-at-example\"",
            "agents[0].email",
        ),
        (
            "listen = \"127.0.0.1:0\"",
            "listen = \"localhost\"",
            "server.listen",
        ),
        (
            "default_country_code = \"91\"",
            "default_country_code = \"999\"",
            "webhook.default_country_code",
        ),
    ] {
        assert!(BASE_CONFIG.contains(from), "{from}");
        let path = write_config(&dir, &BASE_CONFIG.replace(from, to));
        let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
        assert!(!ok, "{to} should be refused");
        assert!(
            stderr.contains(&format!("{key}:")),
            "{to}: expected {key} in {stderr}"
        );
    }
}

#[test]
fn check_config_refuses_business_hours_with_a_year_field() {
    let dir = tempfile::tempdir().unwrap();
    let from = "business_hours = \"* * 9-18 * * Mon-Sat\"";
    assert!(BASE_CONFIG.contains(from));
    // Still ahead today, but it runs out: after 2099 no reminder could ever go out.
    let text = BASE_CONFIG.replace(from, "business_hours = \"* * 9-18 * * Mon-Sat 2026-2099\"");
    let path = write_config(&dir, &text);
    let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(!ok, "a year field should be refused");
    assert!(
        stderr.contains("reminders.business_hours:") && stderr.contains("year"),
        "{stderr}"
    );
}

#[test]
fn a_duration_longer_than_a_year_is_refused_with_its_key() {
    // Such a rule once passed, then overflowed the writer's time arithmetic (issue 12).
    let dir = tempfile::tempdir().unwrap();
    let text = BASE_CONFIG
        .replace("first_after = \"2m\"", "first_after = \"1000000y\"")
        .replace("after = \"30m\"", "after = \"400d\"");
    let path = write_config(&dir, &text);
    let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(!ok, "out-of-range durations are refused");
    assert!(
        stderr.contains("reminders.first_after: \"1000000y\" is too long: at most 366d (a year)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("escalation[0].after: \"400d\" is too long"),
        "{stderr}"
    );
}

#[test]
fn unknown_keys_and_steps_out_of_order_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        &format!("{BASE_CONFIG}\n[[escalation]]\nafter = \"10m\"\nnotify = [\"Meera\"]\n"),
    );
    let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(!ok);
    assert!(
        stderr.contains("escalation[1].after") && stderr.contains("increasing order"),
        "{stderr}"
    );

    let path = write_config(
        &dir,
        &BASE_CONFIG.replace("[server]", "[server]\nlisten_port = 1"),
    );
    let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(!ok);
    assert!(stderr.contains("listen_port"), "{stderr}");

    let (ok, _, stderr) = ringback(&["check-config", "--config", "/nonexistent/config.toml"]);
    assert!(!ok);
    assert!(stderr.contains("not found"), "{stderr}");
}

#[test]
fn secrets_never_appear_in_check_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE_CONFIG.to_string()
        + "\n[email]\nsmtp_url = \"http://mailer:hunter2secret@mail.example.com\"\n[telegram]\nbot_token = \"hunter3secret\"\n";
    let path = write_config(&dir, &text);
    let (ok, stdout, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(!ok);
    assert!(
        stderr.contains("email.smtp_url") && stderr.contains("telegram.bot_token"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
    assert!(!stderr.contains("hunter3") && !stdout.contains("hunter3"));
}

#[test]
fn environment_variables_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, BASE_CONFIG);
    let settings = Settings::load_with_env(
        std::path::Path::new(&path),
        [
            (
                "RINGBACK_REMINDERS__FIRST_AFTER".to_string(),
                "5m".to_string(),
            ),
            (
                "RINGBACK_WEBHOOK__TOKENS".to_string(),
                "env-token-aaaaaaaaaaaa,env-token-bbbbbbbbbbbb".to_string(),
            ),
            (
                "RINGBACK_WEBHOOK__DEFAULT_COUNTRY_CODE".to_string(),
                "44".to_string(),
            ),
            (
                "RINGBACK_EMAIL__SMTP_URL".to_string(),
                "smtp://127.0.0.1:2525".to_string(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
            (
                "RINGBACK_EMAIL_SMTP_URL".to_string(),
                "one underscore: not a key".to_string(),
            ),
        ],
    )
    .expect("valid");
    assert_eq!(settings.ignored_env, ["RINGBACK_EMAIL_SMTP_URL"]);
    assert_eq!(settings.rules.first_after, chrono::Duration::seconds(300));
    assert_eq!(settings.webhook.tokens.len(), 2);
    assert_eq!(
        settings.webhook.tokens[1].expose(),
        "env-token-bbbbbbbbbbbb"
    );
    assert_eq!(settings.webhook.default_country_code.code(), 44);
    assert!(settings.email.is_some());

    let err = Settings::load_with_env(
        std::path::Path::new(&path),
        [(
            "RINGBACK_REMINDERS__REPEAT_EVERY".to_string(),
            "nope".to_string(),
        )],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("reminders.repeat_every"), "{err}");
}

#[test]
fn a_mistyped_environment_variable_is_named_in_the_error_not_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, BASE_CONFIG);
    let err = Settings::load_with_env(
        std::path::Path::new(&path),
        [("RINGBACK_STORAGE__BOGUS".to_string(), "1".to_string())],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("storage.bogus"), "{err}");
    assert!(
        err.contains("(from environment variable RINGBACK_STORAGE__BOGUS)"),
        "{err}"
    );
    assert!(
        !err.contains(".rs:"),
        "no source location of Ringback's: {err}"
    );
}

#[test]
fn a_database_url_the_driver_cannot_use_is_refused_with_why_and_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE_CONFIG.replace("path = \"data\"", "backend = \"postgres\"");
    let path = write_config(&dir, &text);
    let load = |url: &str| {
        Settings::load_with_env(
            std::path::Path::new(&path),
            [("RINGBACK_STORAGE__URL".to_string(), url.to_string())],
        )
    };
    let err = load("postgres://ringback:hunter4secret@db.example.in/ringback?sslmode=bogus")
        .unwrap_err()
        .to_string();
    assert!(err.contains("storage.url"), "{err}");
    assert!(err.contains("bogus"), "the reason: {err}");
    assert!(!err.contains("hunter4"), "{err}");
    let err = load("postgres://ringback:hunter4secret@db.example.in:port/ringback")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("storage.url") && !err.contains("hunter4"),
        "{err}"
    );
    assert!(
        load("postgres://ringback:hunter4secret@db.example.in/ringback?sslmode=require").is_ok()
    );
}

#[test]
fn webhook_urls_prints_one_url_per_trigger_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, BASE_CONFIG);
    let (ok, stdout, stderr) = ringback(&["webhook-urls", "--config", &path]);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout
            .matches("http://ringback.test/webhooks/smartflo/")
            .count(),
        17
    );
    assert!(stdout.contains(&format!(
        "/webhooks/smartflo/{WEBHOOK_TOKEN}?trigger=call_hangup_missed"
    )));
    assert!(stdout.contains("Call missed by Agent (Hangup)"));
}

#[tokio::test]
async fn without_configured_tokens_one_is_generated_once_and_works() {
    let config = BASE_CONFIG
        .replace(
            "tokens = [\"test-webhook-token-0123456789\"]",
            "tokens = []",
        )
        .replace(
            "tokens = [\"test-api-token-0123456789abcdef\"]",
            "tokens = []",
        );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let settings = Settings::load_with_env(&path, Vec::new()).unwrap();
    let clock = std::sync::Arc::new(ringback::clock::ManualClock::new(start_time()));
    let app = ringback::startup::Application::build(settings.clone(), clock.clone())
        .await
        .unwrap();
    let generated: Vec<_> = app
        .generated_tokens
        .iter()
        .map(|(kind, token, _)| (*kind, token.clone()))
        .collect();
    assert_eq!(
        generated.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        ["webhook", "api"]
    );
    let token = generated[0].1.clone();
    let port = app.port();
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    let r = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/webhooks/smartflo/{token}?trigger=call_hangup_missed"
        ))
        .header("content-type", "application/json")
        .body(fixture_text("call_hangup_missed.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    handle.stop(true).await;
    running.await.unwrap().unwrap();

    let again = ringback::startup::Application::build(settings, clock)
        .await
        .unwrap();
    assert!(again.generated_tokens.is_empty(), "kept, not regenerated");
}

#[test]
fn check_config_names_a_broken_template() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, BASE_CONFIG);
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(templates.join("dashboard")).unwrap();
    std::fs::write(templates.join("reminder.txt"), "Call {{ customer }").unwrap();
    std::fs::write(templates.join("dashboard/pending.html"), "{% for x in %}").unwrap();
    let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(!ok);
    assert!(stderr.contains("template reminder.txt"), "{stderr}");
    std::fs::remove_file(templates.join("reminder.txt")).unwrap();
    let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(!ok);
    assert!(
        stderr.contains("template dashboard/pending.html"),
        "{stderr}"
    );
    std::fs::remove_file(templates.join("dashboard/pending.html")).unwrap();
    let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(ok, "{stderr}");
}

#[test]
fn timings_under_a_minute_are_accepted_with_a_warning_so_the_loop_can_be_watched() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        &BASE_CONFIG
            .replace("first_after = \"2m\"", "first_after = \"10s\"")
            .replace("repeat_every = \"15m\"", "repeat_every = \"30s\""),
    );
    let (ok, stdout, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(ok, "{stderr}");
    for line in [
        "warning: reminders.first_after: 10s is under a minute",
        "warning: reminders.repeat_every: 30s is under a minute",
    ] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
}

#[test]
fn slips_in_the_people_and_the_rules_are_accepted_with_warnings_naming_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE_CONFIG
        .replace("smartflo_id = \"0507000000012\"", "smartflo_id = \"12\"")
        .replace("email = \"asha@example.in\"", "email = \"asha@example\"");
    // No escalation step at all.
    let text = text.split("[[escalation]]").next().unwrap().to_string();
    let path = write_config(&dir, &text);
    let (ok, stdout, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(ok, "{stderr}");
    for line in [
        "warning: agents[1].smartflo_id: \"12\" is not shaped like a Smartflo agent id",
        "warning: supervisors[0].email: asha@example has no dot in its domain",
        "warning: escalation: there is no escalation step: a callback nobody is assigned to",
    ] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
}

#[test]
fn check_config_warns_about_a_public_url_smartflo_cannot_reach_or_that_is_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    for (url, warning) in [
        ("http://localhost:8080", "is a loopback address"),
        ("http://127.0.0.1:8080", "is a loopback address"),
        ("http://ringback.example.in", "is plain http"),
    ] {
        let path = write_config(&dir, &BASE_CONFIG.replace("http://ringback.test", url));
        let (ok, stdout, stderr) = ringback(&["check-config", "--config", &path]);
        assert!(ok, "{stderr}");
        assert!(
            stdout.contains("warning: server.public_url") && stdout.contains(warning),
            "{url}: {stdout}"
        );
    }
    let path = write_config(
        &dir,
        &BASE_CONFIG.replace("http://ringback.test", "https://ringback.example.in"),
    );
    let (_, stdout, _) = ringback(&["check-config", "--config", &path]);
    assert!(!stdout.contains("server.public_url"), "{stdout}");
}

#[test]
fn a_misspelt_template_override_is_warned_about_with_the_name_it_was_meant_to_have() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, BASE_CONFIG);
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/reminder.subjet.txt"),
        "Call {{ customer }}",
    )
    .unwrap();
    let (ok, stdout, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("reminder.subjet.txt is not a template Ringback uses, so it changes nothing (did you mean reminder.subject.txt?)"),
        "{stdout}"
    );
}

#[test]
fn the_repositorys_templates_directory_has_no_stray_files() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    let (ok, stdout, stderr) = ringback(&["check-config", "--config", path]);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("is not a template"), "{stdout}");
}

#[test]
fn a_cron_mistake_is_shown_with_the_caret_under_it_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        &BASE_CONFIG.replace("* * 9-18 * * Mon-Sat", "* * 9-25 * * Mon-Sat"),
    );
    let (ok, _, stderr) = ringback(&["check-config", "--config", &path]);
    assert!(!ok);
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("reminders.business_hours: not a valid cron expression:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        lines[at + 1..].iter().any(|l| l.trim() == "^"),
        "the caret line: {stderr}"
    );
}

#[test]
fn hash_password_refuses_a_short_password_and_hashes_a_long_one() {
    use std::io::Write;
    let hash = |password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringback"))
            .arg("hash-password")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = hash("x");
    assert!(!ok && stdout.is_empty());
    assert!(stderr.contains("at least 12 characters"), "{stderr}");
    let (ok, stdout, stderr) = hash("correct horse battery");
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("$argon2id$"), "{stdout}");
}
