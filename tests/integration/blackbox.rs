//! Black-box reliability (issue 6): the real `ringback` binary as a child process with its
//! own config and data directory, real HTTP/SMTP/Bot API peers, faults injected from outside
//! — `kill -9`, SIGTERM, a full disk, mail and Telegram outages. Each test prints its figures.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::fakes::smartflo::FakeSmartflo;
use crate::fakes::smtp::FakeSmtp;
use crate::fakes::telegram::FakeBotApi;

pub const TOKEN: &str = "blackbox-webhook-token-0123456789";
pub const API: &str = "blackbox-api-token-0123456789abcd";

/// A `ringback serve` child process.
pub struct Daemon {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
    runs: usize,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config for the daemon: its own port and data directory, plus `extra` TOML.
fn config(port: u16, data: &Path, extra: &str) -> String {
    config_with_storage(port, &format!("path = \"{}\"", data.display()), extra)
}

/// A config for the daemon on its own port, `storage` as the `[storage]` section's keys,
/// plus `extra` TOML.
pub fn config_with_storage(port: u16, storage: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://ringback.test"
[storage]
{storage}
[webhook]
tokens = ["{TOKEN}"]
[api]
tokens = ["{API}"]
[reminders]
business_hours = "* * * * * *"
first_after = "0s"
repeat_every = "15m"
[[agents]]
name = "Meera"
number = "+919800000011"
smartflo_id = "0507000000011"
email = "meera@example.in"
telegram_chat_id = 1001
{extra}
"#
    )
}

impl Daemon {
    pub async fn start(dir: &Path, data: &Path, extra: &str) -> Self {
        Self::start_with(dir, |port| config(port, data, extra)).await
    }

    /// Starts with the whole config `make` writes for the port it is given.
    pub async fn start_with(dir: &Path, make: impl FnOnce(u16) -> String) -> Self {
        let port = free_port();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.toml"), make(port)).unwrap();
        let mut daemon = Self {
            dir: dir.to_path_buf(),
            port,
            child: None,
            runs: 0,
        };
        daemon.spawn().await;
        daemon
    }

    async fn spawn(&mut self) {
        self.runs += 1;
        let log = std::fs::File::create(self.dir.join(format!("run{}.log", self.runs))).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ringback"));
        command
            .args(["serve", "--config"])
            .arg(self.dir.join("config.toml"))
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null());
        // Started with the usual umask, not the test runner's (which may already be
        // strict): the service must keep its files private by itself.
        // SAFETY: umask is async-signal-safe; nothing else runs in the child before exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        let child = command.spawn().expect("start ringback");
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if client
                .get(self.url("/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("ringback did not come up: {}", self.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Everything every run of the daemon logged.
    pub fn log(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                std::fs::read_to_string(self.dir.join(format!("run{i}.log"))).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn pid(&self) -> String {
        self.child.as_ref().expect("running").id().to_string()
    }

    /// `kill -9`: no chance to flush or say goodbye.
    pub fn kill9(&mut self) {
        Command::new("kill")
            .args(["-9", &self.pid()])
            .status()
            .unwrap();
        self.child.take().unwrap().wait().unwrap();
    }

    /// Writes a new config (same port) from `make`, for the next start.
    pub fn reconfigure_with(&self, make: impl FnOnce(u16) -> String) {
        std::fs::write(self.dir.join("config.toml"), make(self.port)).unwrap();
    }

    /// SIGTERM and wait; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .unwrap();
        self.child.take().unwrap().wait().unwrap().success()
    }

    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.spawn().await;
    }

    /// Writes a new config (same port) for the next start.
    pub fn reconfigure(&self, data: &Path, extra: &str) {
        std::fs::write(self.dir.join("config.toml"), config(self.port, data, extra)).unwrap();
    }

    pub async fn api(&self, path: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(API)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn missed(n: usize) -> Value {
    json!({
        "call_id": format!("1790000000.{n}"), "uuid": format!("bb{n}"),
        "caller_id_number": format!("98760{n:05}"), "call_status": "missed", "direction": "inbound",
        "start_stamp": "2026-05-28 11:29:00",
        "missed_agent": [{"id": "0507000000011", "name": "Meera"}]
    })
}

pub async fn post(client: &reqwest::Client, daemon_url: &str, body: &Value) -> Option<Value> {
    let r = client
        .post(format!(
            "{daemon_url}/webhooks/smartflo/{TOKEN}?trigger=call_hangup_missed"
        ))
        .json(body)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

#[tokio::test]
async fn kill_dash_9_loses_no_acknowledged_webhook() {
    const CLIENTS: usize = 4;
    const EACH: usize = 100;
    let tmp = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(tmp.path(), &tmp.path().join("data"), "").await;
    let base = daemon.url("");
    let acknowledged = Arc::new(Mutex::new(Vec::<(usize, String, String)>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (acknowledged, count, base) = (acknowledged.clone(), count.clone(), base.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..EACH {
                let n = c * EACH + i;
                match post(&http, &base, &missed(n)).await {
                    Some(reply) => {
                        let event = reply["event_id"].as_str().unwrap().to_string();
                        let callback = reply["callback_id"].as_str().unwrap().to_string();
                        acknowledged.lock().await.push((n, event, callback));
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    None => return, // the daemon died under us
                }
            }
        }));
    }
    while count.load(Ordering::SeqCst) < 150 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    daemon.kill9();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acknowledged.lock().await.clone();
    daemon.restart().await;

    let mut lost = 0;
    for (_, event, callback) in &acked {
        let (s1, _) = daemon.api(&format!("/api/v1/callbacks/{callback}")).await;
        let (s2, _) = daemon.api(&format!("/api/v1/events/{event}")).await;
        if s1 != 200 || s2 != 200 {
            lost += 1;
        }
    }
    // Smartflo retries what was not acknowledged; everything ends up stored exactly once.
    let http = reqwest::Client::new();
    let done: std::collections::HashSet<usize> = acked.iter().map(|(n, ..)| *n).collect();
    let mut retried = 0;
    for n in (0..CLIENTS * EACH).filter(|n| !done.contains(n)) {
        let reply = post(&http, &base_of(&daemon), &missed(n))
            .await
            .expect("accepted after restart");
        assert!(
            matches!(reply["effect"].as_str(), Some("opened" | "duplicate")),
            "{reply}"
        );
        retried += 1;
    }
    let (_, list) = daemon.api("/api/v1/callbacks?limit=10000").await;
    let stored = list["callbacks"].as_array().unwrap().len();
    eprintln!(
        "kill -9: sent {} webhooks from {CLIENTS} clients; acknowledged before the kill {}, lost {lost}; \
         retried after restart {retried}; callbacks stored {stored}",
        CLIENTS * EACH,
        acked.len()
    );
    assert!(acked.len() >= 150);
    assert_eq!(lost, 0, "every acknowledged webhook survives kill -9");
    assert_eq!(stored, CLIENTS * EACH);
}

fn base_of(daemon: &Daemon) -> String {
    daemon.url("")
}

#[tokio::test]
async fn mail_and_telegram_outages_delay_reminders_without_dropping_or_repeating_them() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    smtp.go_down();
    bot.throttle(3, 2);
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        "[email]\nsmtp_url = \"{}\"\n[telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n",
        smtp.url(),
        bot.url()
    );
    let daemon = Daemon::start(tmp.path(), &tmp.path().join("data"), &extra).await;
    let http = reqwest::Client::new();
    const CALLS: usize = 5;
    for n in 0..CALLS {
        post(&http, &daemon.url(""), &missed(n))
            .await
            .expect("accepted");
    }
    // Telegram answers 429 three times, then works; mail stays down for a while.
    assert!(
        bot.wait_until(|b| b.messages_to(1001).len() == CALLS).await,
        "Telegram delivered after its 429s"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(smtp.mails().is_empty());
    smtp.come_up().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while smtp.mails_to("meera@example.in").len() < CALLS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let emails = smtp.mails_to("meera@example.in").len();
    let telegrams = bot.messages_to(1001).len();
    eprintln!(
        "outages: reminders due {CALLS} per channel; delivered email {emails}, Telegram {telegrams}; duplicates {}",
        (emails + telegrams).saturating_sub(2 * CALLS)
    );
    assert_eq!(
        emails, CALLS,
        "every email delivered once the server is back, none twice"
    );
    assert_eq!(
        telegrams, CALLS,
        "every Telegram message delivered after the 429s, none twice"
    );
    let (_, list) = daemon.api("/api/v1/callbacks").await;
    for cb in list["callbacks"].as_array().unwrap() {
        assert_eq!(cb["reminders_sent"], 1, "{cb}");
    }
    assert!(
        daemon.log().contains("will retry"),
        "the outage is in the log"
    );
}

#[tokio::test]
async fn sigterm_and_restart_neither_resend_nor_lose_the_schedule() {
    let bot = FakeBotApi::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        "[telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n",
        bot.url()
    );
    let mut daemon = Daemon::start(tmp.path(), &tmp.path().join("data"), &extra).await;
    let http = reqwest::Client::new();
    for n in 0..3 {
        post(&http, &daemon.url(""), &missed(100 + n))
            .await
            .expect("accepted");
    }
    assert!(bot.wait_until(|b| b.messages_to(1001).len() == 3).await);
    // A person's action through the API (before the schedule is read: it moves it).
    let (_, listed) = daemon.api("/api/v1/callbacks").await;
    let first = listed["callbacks"][0]["id"].as_str().unwrap().to_string();
    let snoozed = http
        .post(daemon.url(&format!("/api/v1/callbacks/{first}/snooze")))
        .bearer_auth(API)
        .json(&json!({"minutes": 30, "who": "Asha"}))
        .send()
        .await
        .unwrap();
    assert_eq!(snoozed.status(), 200);
    let (_, before) = daemon.api("/api/v1/callbacks").await;
    // A webhook set up wrong (text/plain) is refused, and the log says so.
    let refused = http
        .post(daemon.url(&format!("/webhooks/smartflo/{TOKEN}?trigger=call_hangup")))
        .header("content-type", "text/plain")
        .body("call_id=1")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 415);
    assert!(daemon.terminate(), "SIGTERM exits 0");
    // The log has a line per message sent and per person's action (operations.md).
    let log = daemon.log();
    let sent: Vec<&str> = log.lines().filter(|l| l.contains("message sent")).collect();
    assert_eq!(sent.len(), 3, "{log}");
    assert!(
        sent.iter()
            .all(|l| l.contains("reminder") && l.contains("telegram") && l.contains("Meera")),
        "{sent:?}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("webhook refused") && l.contains("status=415")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("callback action")
            && l.contains("snooze")
            && l.contains("Asha")
            && l.contains(&first)),
        "{log}"
    );
    assert!(daemon.log().contains("stopped; storage flushed"));
    only_its_owner_can_read(&tmp.path().join("data"));
    daemon.restart().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, after) = daemon.api("/api/v1/callbacks").await;
    eprintln!(
        "SIGTERM: 3 reminders sent before, {} after the restart",
        bot.messages_to(1001).len()
    );
    assert_eq!(
        bot.messages_to(1001).len(),
        3,
        "no re-send storm after the restart"
    );
    let schedule = |v: &Value| -> Vec<(Value, Value)> {
        v["callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].clone(), c["next_reminder_at"].clone()))
            .collect()
    };
    assert_eq!(
        schedule(&before),
        schedule(&after),
        "the schedule resumes where it was"
    );
}

/// Every file and directory under `dir` (sled's files, the event log, tokens and keys) is
/// closed to everyone but its owner, whatever the umask the service was started with.
fn only_its_owner_can_read(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut seen = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        let meta = std::fs::metadata(&at).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", at.display());
        seen.push(at.strip_prefix(dir).unwrap().to_path_buf());
        if meta.is_dir() {
            for entry in std::fs::read_dir(&at).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    for made in ["sled/db", "log", "session.key"] {
        assert!(
            seen.iter().any(|p| p.starts_with(made)),
            "{made} among {seen:?}"
        );
    }
    assert!(
        seen.iter()
            .any(|p| p.starts_with("log") && p != Path::new("log")),
        "a file of the event log among {seen:?}"
    );
}

/// An SMTP server that accepts connections and never says a word (not even its greeting).
struct Tarpit {
    port: u16,
    held: Arc<std::sync::Mutex<Vec<tokio::net::TcpStream>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tarpit {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = Arc::clone(&held);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                keep.lock().unwrap().push(socket);
            }
        });
        Self { port, held, task }
    }

    fn connections(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for Tarpit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn email_to(smtp_url: &str) -> String {
    format!("[email]\nsmtp_url = \"{smtp_url}\"\nfrom = \"Ringback <ringback@ringback.test>\"\n")
}

#[tokio::test]
async fn sigterm_while_the_mail_server_never_answers_exits_in_time_and_loses_nothing() {
    let tarpit = Tarpit::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let extra = email_to(&format!("smtp://127.0.0.1:{}", tarpit.port));
    let mut daemon = Daemon::start(tmp.path(), &data, &extra).await;
    let http = reqwest::Client::new();
    post(&http, &daemon.url(""), &missed(300))
        .await
        .expect("accepted");
    // The reminder is being sent: the mail server holds the connection and never answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    while tarpit.connections() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        tarpit.connections() > 0,
        "the reminder went to the mail server"
    );

    let stopping = Instant::now();
    assert!(daemon.terminate(), "SIGTERM exits 0: {}", daemon.log());
    let took = stopping.elapsed();
    eprintln!("SIGTERM with a mail server that never answers: exited in {took:?}");
    assert!(took < Duration::from_secs(15), "exited in {took:?}");

    // Nothing lost: with a mail server that works, the reminder goes out after the restart.
    let smtp = FakeSmtp::start().await;
    daemon.reconfigure(&data, &email_to(&smtp.url()));
    daemon.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while smtp.mails_to("meera@example.in").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        smtp.mails_to("meera@example.in").len(),
        1,
        "{}",
        daemon.log()
    );
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_stores_nothing_unacknowledged_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&tmp.path().join("disk"), "4m") else {
        assert!(
            std::env::var_os("CI_STRICT").is_none(),
            "CI_STRICT is set but a tmpfs cannot be mounted here"
        );
        eprintln!("SKIPPED: the disk-full test needs root to mount a tmpfs");
        return;
    };
    let mut daemon = Daemon::start(&tmp.path().join("run"), &disk.0.join("data"), "").await;
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![0u8; 2200 * 1024]).unwrap();
    let http = reqwest::Client::new();
    let pad = "x".repeat(2000);
    let mut acknowledged = 0;
    let mut refused = None;
    for n in 0..2000 {
        let mut body = missed(200 + n);
        body["pad"] = pad.clone().into();
        let r = http
            .post(daemon.url(&format!(
                "/webhooks/smartflo/{TOKEN}?trigger=call_hangup_missed"
            )))
            .json(&body)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            acknowledged += 1;
        } else {
            refused = Some(r.status().as_u16());
            break;
        }
    }
    assert_eq!(
        refused,
        Some(503),
        "a full disk is a 503, so Smartflo retries"
    );
    let ready = http
        .get(daemon.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(ready, 503, "/readyz fails while the disk is full");

    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut recovered = false;
    while Instant::now() < deadline {
        if http
            .get(daemon.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "ready again once space returns: {}",
        daemon.log()
    );
    post(&http, &daemon.url(""), &missed(9999))
        .await
        .expect("accepted again");
    acknowledged += 1;

    daemon.kill9();
    daemon.restart().await;
    let (_, list) = daemon.api("/api/v1/callbacks?limit=10000").await;
    let stored = list["callbacks"].as_array().unwrap().len();
    eprintln!(
        "disk full: acknowledged {acknowledged} (one after recovery), refused with 503 at the next, stored after kill -9 {stored}"
    );
    assert_eq!(
        stored, acknowledged,
        "exactly what was acknowledged, nothing more"
    );
    drop(daemon);
}

#[tokio::test]
async fn secrets_never_reach_the_log() {
    let smtp = FakeSmtp::start().await;
    let bot = FakeBotApi::start().await;
    let smartflo = FakeSmartflo::start().await;
    smtp.go_down();
    bot.forget_chat(1001);
    smartflo.answer_next(401, json!({"message": "bad token"}));
    let secrets = [
        TOKEN,
        API,
        "smtp-password-hunter2",
        "123456:TEST-secret-bot-token-abcdefghij",
        "smartflo-api-token-hunter3",
        "link-secret-0123456789abcdef0123456789",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        "[email]\nsmtp_url = \"smtp://ringback:smtp-password-hunter2@127.0.0.1:{}\"\nlink_secret = \"link-secret-0123456789abcdef0123456789\"\n\
         [telegram]\nbot_token = \"123456:TEST-secret-bot-token-abcdefghij\"\napi_url = \"{}\"\n\
         [smartflo]\napi_url = \"{}\"\napi_token = \"smartflo-api-token-hunter3\"\n",
        smtp.port,
        bot.url(),
        smartflo.url()
    );
    let daemon = Daemon::start(tmp.path(), &tmp.path().join("data"), &extra).await;
    let http = reqwest::Client::new();
    let reply = post(&http, &daemon.url(""), &missed(5000))
        .await
        .expect("accepted");
    let id = reply["callback_id"].as_str().unwrap().to_string();
    // Failures that put URLs and tokens near the log: wrong tokens, SMTP down, a missing
    // chat, Smartflo refusing the API token.
    http.post(daemon.url("/webhooks/smartflo/not-the-token-0123456789"))
        .json(&missed(1))
        .send()
        .await
        .unwrap();
    http.get(daemon.url("/api/v1/callbacks"))
        .bearer_auth("not-the-api-token")
        .send()
        .await
        .unwrap();
    http.post(daemon.url(&format!("/api/v1/callbacks/{id}/call")))
        .bearer_auth(API)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        bot.wait_until(|b| b.requests().iter().any(|r| r.method.contains("refused")))
            .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = daemon.log();
    assert!(
        log.contains("delivery failed"),
        "the failures were logged: {log}"
    );
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} appears in the log:\n{log}");
    }
    eprintln!(
        "secrets: {} configured secrets, 0 found in {} lines of log",
        secrets.len(),
        log.lines().count()
    );
}

#[tokio::test]
async fn a_second_ringback_on_the_same_data_directory_says_it_is_in_use_and_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = Daemon::start(&tmp.path().join("first"), &data, "").await;
    let second = tmp.path().join("second.toml");
    std::fs::write(&second, config(free_port(), &data, "")).unwrap();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ringback"))
            .args(["serve", "--config"])
            .arg(&second)
            .stdin(Stdio::null())
            .output()
            .expect("run ringback")
    });
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the second ringback gave up at once")
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "the data directory {} is in use by another ringback (pid {}?)",
            data.display(),
            first.pid()
        )),
        "{said}"
    );
    assert!(!said.contains("Os {"), "no Rust error: {said}");
    // The first one is unharmed.
    let (status, _) = first.api("/api/v1/callbacks?status=pending").await;
    assert_eq!(status, 200);
}
