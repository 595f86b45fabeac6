//! Data care (issue 6): the CSV export, online and from the command line, and backups —
//! consistent while webhooks keep arriving, taken with the service running or stopped, and
//! restorable by pointing `[storage].path` at them.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::blackbox::{API, Daemon, missed, post};
use crate::helpers::*;

fn csv_rows(csv_text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(csv_text.as_bytes())
        .records()
        .map(|r| r.expect("a well-formed CSV row"))
        .collect()
}

async fn csv_of(app: &TestApp, query: &str, token: &str) -> (u16, String, String) {
    let r = app
        .client
        .get(format!("{}/api/v1/callbacks.csv{query}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

#[tokio::test]
async fn the_csv_export_lists_callbacks_with_formula_cells_defused() {
    let app = spawn_app().await;
    let mut hostile = missed_call("9876511111", "1790000001.1", "2026-05-28 10:00:00");
    hostile["department"] = json!("=HYPERLINK(\"http://evil.example\",\"click\")");
    let (_, opened) = app
        .post_json(Some("call_hangup_missed"), &hostile.to_string())
        .await;
    let resolved = opened["callback_id"].as_str().unwrap().to_string();
    let (status, _) = app
        .api_post(
            &format!("/api/v1/callbacks/{resolved}/resolve"),
            json!({"who": "Asha", "reason": "@SUM(1+1) called from mobile"}),
        )
        .await;
    assert_eq!(status, 200);
    app.post_json(
        Some("call_hangup_missed"),
        &missed_call("9876522222", "1790000002.1", "2026-05-28 10:05:00").to_string(),
    )
    .await;

    let (status, kind, text) = csv_of(&app, "?status=all", API_TOKEN).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert!(text.starts_with("id,status,customer_number,missed_calls,"));
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 2);
    let pending = rows.iter().find(|r| &r[1] == "pending").unwrap();
    assert_eq!(
        &pending[2], "+919876522222",
        "phone numbers are left as they are"
    );
    assert_eq!(
        &pending[4], "2026-05-28T10:05:00+05:30",
        "times in the configured zone"
    );
    let done = rows.iter().find(|r| &r[0] == resolved.as_str()).unwrap();
    assert_eq!(&done[1], "resolved");
    assert_eq!(&done[8], "'=HYPERLINK(\"http://evil.example\",\"click\")");
    assert_eq!(&done[15], "manual");
    assert_eq!(&done[16], "Asha");
    assert_eq!(&done[18], "'@SUM(1+1) called from mobile");

    let (_, _, pending_only) = csv_of(&app, "", API_TOKEN).await;
    assert_eq!(
        csv_rows(&pending_only).len(),
        1,
        "pending only by default, like the API"
    );
    let (status, _, body) = csv_of(&app, "?status=open", API_TOKEN).await;
    assert_eq!(status, 400);
    assert!(body.contains("pending, resolved, all"), "{body}");
    let (status, _, _) = csv_of(&app, "?status=all", "not-the-token").await;
    assert_eq!(status, 401);
}

/// Runs the real binary's subcommand; returns (success, stdout, stderr).
fn ringback(args: &[&str], config: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run ringback");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn ringback_async(args: Vec<String>, config: std::path::PathBuf) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ringback(&args, &config)
    })
    .await
    .unwrap()
}

fn backup_path(stdout: &str) -> String {
    stdout
        .strip_prefix("backup written to ")
        .and_then(|s| s.split(" (").next())
        .unwrap_or_else(|| panic!("unexpected backup output: {stdout}"))
        .to_string()
}

#[tokio::test]
async fn export_and_backup_work_with_the_service_running_or_stopped_and_a_backup_restores() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut daemon = Daemon::start(&tmp.path().join("run"), &data, "").await;
    let config = daemon.dir.join("config.toml");
    let http = reqwest::Client::new();
    for n in 0..40 {
        post(&http, &daemon.url(""), &missed(n))
            .await
            .expect("accepted");
    }

    // A backup taken while webhooks keep arriving is one moment's state: every missed call
    // here opens a callback with one event, so the copy has as many events as callbacks.
    let writer = {
        let base = daemon.url("");
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for n in 1000..1300 {
                post(&http, &base, &missed(n)).await.expect("accepted");
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let started = Instant::now();
    let to = tmp.path().join("copy-live");
    let (ok, out, err) = ringback_async(
        vec!["backup".into(), "--to".into(), to.display().to_string()],
        config.clone(),
    )
    .await;
    let took = started.elapsed();
    assert!(ok, "backup while running: {err}");
    assert_eq!(
        backup_path(out.lines().next().unwrap()),
        to.display().to_string()
    );
    writer.await.unwrap();
    let (callbacks, events) = count_in(&to).await;
    eprintln!("backup while ingesting: {callbacks} callbacks, {events} events, in {took:?}");
    assert_eq!(callbacks, events, "a consistent copy");
    assert!(callbacks >= 40);
    // Tokens here are configured, not generated files; the session key always is one.
    assert!(
        to.join("session.key").is_file(),
        "the data directory's files come along"
    );
    assert!(out.contains("session.key)"), "{out}");

    // Resolve one with a hostile reason, then export through the running service.
    let (_, list) = daemon.api("/api/v1/callbacks?limit=1").await;
    let first = list["callbacks"][0]["id"].as_str().unwrap().to_string();
    let r = http
        .post(daemon.url(&format!("/api/v1/callbacks/{first}/resolve")))
        .bearer_auth(API)
        .json(&json!({"who": "Meera", "reason": "=1+1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let live_csv = tmp.path().join("live.csv");
    let (ok, _, err) = ringback_async(
        vec![
            "export".into(),
            "--out".into(),
            live_csv.display().to_string(),
        ],
        config.clone(),
    )
    .await;
    assert!(ok, "export while running: {err}");
    let live = std::fs::read_to_string(&live_csv).unwrap();
    assert_eq!(csv_rows(&live).len(), 340);
    assert!(live.contains(",'=1+1"), "the reason is defused");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&live_csv).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "customer numbers are personal data");
    // Over a file that was readable by everyone: it is not any more.
    std::fs::set_permissions(&live_csv, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, err) = ringback_async(
        vec![
            "export".into(),
            "--out".into(),
            live_csv.display().to_string(),
        ],
        config.clone(),
    )
    .await;
    assert!(ok, "export over an existing file: {err}");
    let mode = std::fs::metadata(&live_csv).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "an existing file is made private");
    // Not through a symbolic link.
    let link = tmp.path().join("link.csv");
    std::os::unix::fs::symlink(tmp.path().join("elsewhere.csv"), &link).unwrap();
    let (ok, _, err) = ringback_async(
        vec!["export".into(), "--out".into(), link.display().to_string()],
        config.clone(),
    )
    .await;
    assert!(!ok && err.contains("it is a symbolic link"), "{err}");
    assert!(!tmp.path().join("elsewhere.csv").exists());

    // Stopped: the commands open the store themselves and see the same data.
    assert!(daemon.terminate());
    let (ok, offline, err) = ringback(&["export"], &config);
    assert!(ok, "export while stopped: {err}");
    assert_eq!(offline, live, "the same rows either way");
    let (ok, out, err) = ringback(&["backup"], &config);
    assert!(ok, "backup while stopped: {err}");
    let offline_copy = backup_path(out.lines().next().unwrap());
    assert!(offline_copy.starts_with(&data.join("backups").display().to_string()));
    let (ok, _, err) = ringback(&["backup", "--to", &to.display().to_string()], &config);
    assert!(!ok && err.contains("not empty"), "never overwrites: {err}");

    // Restore: a service pointed at the copy has every callback the copy holds.
    let restored = Daemon::start(&tmp.path().join("restored"), Path::new(&offline_copy), "").await;
    let (_, all) = restored
        .api("/api/v1/callbacks?status=all&limit=10000")
        .await;
    let ids: Vec<&str> = all["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c: &Value| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 340);
    assert!(ids.contains(&first.as_str()));
    let (_, one) = restored.api(&format!("/api/v1/callbacks/{first}")).await;
    assert_eq!(one["status"], "resolved");

    let (ok, _, err) = ringback(&["export"], &tmp.path().join("nowhere.toml"));
    assert!(!ok, "{err}");
}

/// Callbacks and events in the store under `data_dir`, read through the store contract.
async fn count_in(data_dir: &std::path::Path) -> (usize, usize) {
    let settings = ringback::config::StorageSettings::sled(data_dir.to_path_buf());
    let opened = ringback::store::open(&settings)
        .await
        .expect("the copy opens");
    let store = &opened.store;
    let callbacks = store
        .list_callbacks(ringback::store::ListQuery {
            status: ringback::store::StatusFilter::All,
            limit: 10_000,
            after: None,
            ..ringback::store::ListQuery::default()
        })
        .await
        .unwrap()
        .callbacks
        .len();
    let events = store.events(None, 10_000).await.unwrap().len();
    store.close().await.unwrap();
    (callbacks, events)
}

#[tokio::test]
async fn a_backup_asked_for_while_another_is_running_is_refused_with_409() {
    let app = spawn_app().await;
    // Enough stored that a copy takes a moment.
    for n in 0..200 {
        let body = missed_call(
            &format!("98766{n:05}"),
            &format!("1780300{n:05}.1"),
            "2026-05-28 11:00:00",
        );
        app.post_json(Some("call_hangup_missed"), &body.to_string())
            .await;
    }
    let asks = (0..4).map(|_| app.api_post("/api/v1/backup", json!({})));
    let replies = futures_util::future::join_all(asks).await;
    let made: Vec<&Value> = replies
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(made.len(), 1, "one backup is written: {replies:?}");
    assert!(Path::new(made[0]["backup"]["path"].as_str().unwrap()).is_dir());
    for (status, body) in replies.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(
            *body,
            json!({"ok": false, "error": "a backup is running; try again when it is done"})
        );
    }
}
