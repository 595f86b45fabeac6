//! Several replicas on one PostgreSQL database (SPEC §10, issue 13): real `ringback serve`
//! processes, a throwaway PostgreSQL (`tests/support/pg.rs`), faults from outside. Each test
//! prints its figures.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::blackbox::{API, Daemon, TOKEN, config_with_storage, missed, post};
use crate::dashboard::{DASHBOARD, PASSWORD, Visitor};
use crate::fakes::smtp::FakeSmtp;
use crate::fakes::telegram::FakeBotApi;

#[path = "../support/pg.rs"]
mod pg;

fn pg_config(port: u16, url: &str, extra: &str) -> String {
    replica_config(
        port,
        &format!("backend = \"postgres\"\nurl = \"{url}\"\npool_size = 8"),
        extra,
    )
}

fn sled_config(port: u16, data: &std::path::Path, extra: &str) -> String {
    replica_config(port, &format!("path = \"{}\"", data.display()), extra)
}

/// The daemon's config with a supervisor, Asha, to escalate to and log in as.
fn replica_config(port: u16, storage: &str, extra: &str) -> String {
    config_with_storage(
        port,
        storage,
        &format!("[[supervisors]]\nname = \"Asha\"\n{extra}"),
    )
}

/// Two replicas on one fresh database.
async fn two(url: &str, extra: &str) -> (tempfile::TempDir, Daemon, Daemon) {
    let tmp = tempfile::tempdir().unwrap();
    let a = Daemon::start_with(&tmp.path().join("a"), |p| pg_config(p, url, extra)).await;
    let b = Daemon::start_with(&tmp.path().join("b"), |p| pg_config(p, url, extra)).await;
    (tmp, a, b)
}

async fn pending(daemon: &Daemon) -> Vec<Value> {
    let (status, list) = daemon
        .api("/api/v1/callbacks?status=pending&limit=10000")
        .await;
    assert_eq!(status, 200, "{list}");
    list["callbacks"].as_array().unwrap().clone()
}

fn missed_from(customer: &str, call: &str) -> Value {
    json!({
        "call_id": call, "uuid": format!("u{call}"), "caller_id_number": customer,
        "call_status": "missed", "direction": "inbound",
        "start_stamp": "2026-05-28 11:29:00",
        "missed_agent": [{"id": "0507000000011", "name": "Meera"}]
    })
}

#[tokio::test]
async fn racing_missed_calls_for_one_customer_on_two_replicas_make_one_callback() {
    let url = pg::shared().fresh_database();
    let (_tmp, a, b) = two(&url, "").await;
    let http = reqwest::Client::new();
    let mut races = Vec::new();
    for n in 0..25 {
        let customer = format!("98761{n:05}");
        let (to_a, to_b) = (a.url(""), b.url(""));
        let (first, second) = (
            missed_from(&customer, &format!("1791000000.{n}")),
            missed_from(&customer, &format!("1791000001.{n}")),
        );
        let http = http.clone();
        races.push(tokio::spawn(async move {
            let (x, y) = tokio::join!(post(&http, &to_a, &first), post(&http, &to_b, &second));
            (x.expect("a accepted"), y.expect("b accepted"))
        }));
    }
    let mut opened = 0;
    for race in races {
        let (x, y) = race.await.unwrap();
        opened += [x, y].iter().filter(|r| r["effect"] == "opened").count();
    }
    let callbacks = pending(&a).await;
    let mut per_customer: HashMap<String, Vec<u64>> = HashMap::new();
    for cb in &callbacks {
        per_customer
            .entry(cb["customer_number"].as_str().unwrap().to_string())
            .or_default()
            .push(cb["missed_calls"].as_u64().unwrap());
    }
    eprintln!(
        "racing replicas: 25 customers, 2 calls each at once on two replicas: {} callbacks, {opened} opened",
        callbacks.len()
    );
    assert_eq!(opened, 25, "one of each pair opened, the other updated");
    assert_eq!(per_customer.len(), 25);
    assert!(
        per_customer.values().all(|m| m == &vec![2]),
        "{per_customer:?}"
    );
}

#[tokio::test]
async fn killing_a_replica_under_load_loses_nothing_acknowledged() {
    const CLIENTS: usize = 4;
    const EACH: usize = 60;
    let url = pg::shared().fresh_database();
    let (_tmp, mut a, b) = two(&url, "").await;
    let (to_a, to_b) = (a.url(""), b.url(""));
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (acknowledged, count) = (acknowledged.clone(), count.clone());
        let (to_a, to_b) = (to_a.clone(), to_b.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..EACH {
                let n = 5000 + c * EACH + i;
                // Every other webhook to each replica; what one does not answer is
                // retried on the other, as a load balancer would.
                let (first, other) = if i % 2 == 0 {
                    (&to_a, &to_b)
                } else {
                    (&to_b, &to_a)
                };
                let reply = match post(&http, first, &missed(n)).await {
                    Some(r) => r,
                    None => post(&http, other, &missed(n))
                        .await
                        .expect("the other replica"),
                };
                let event = reply["event_id"].as_str().unwrap().to_string();
                let callback = reply["callback_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                acknowledged.lock().await.push((event, callback));
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while count.load(Ordering::SeqCst) < CLIENTS * EACH / 3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    a.kill9();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acknowledged.lock().await.clone();
    let mut lost = 0;
    for (event, _) in &acked {
        let (status, _) = b.api(&format!("/api/v1/events/{event}")).await;
        if status != 200 {
            lost += 1;
        }
    }
    let callbacks = pending(&b).await;
    let customers: HashSet<&str> = callbacks
        .iter()
        .map(|c| c["customer_number"].as_str().unwrap())
        .collect();
    eprintln!(
        "replica kill -9: {} webhooks acknowledged (all of them, by one replica or the other), lost {lost}; \
         {} pending callbacks for {} customers",
        acked.len(),
        callbacks.len(),
        customers.len()
    );
    assert_eq!(acked.len(), CLIENTS * EACH);
    assert_eq!(lost, 0, "every acknowledged webhook is in the database");
    assert_eq!(callbacks.len(), CLIENTS * EACH);
    assert_eq!(
        customers.len(),
        callbacks.len(),
        "no customer has two pending callbacks"
    );
}

#[tokio::test]
async fn reminders_due_with_two_replicas_go_out_once() {
    let smtp = FakeSmtp::start().await;
    let url = pg::shared().fresh_database();
    let extra = format!(
        "[email]\nsmtp_url = \"{}\"\nfrom = \"Ringback <ringback@ringback.test>\"\n",
        smtp.url()
    );
    let (_tmp, a, b) = two(&url, &extra).await;
    let http = reqwest::Client::new();
    for n in 0..12 {
        let to = if n % 2 == 0 { a.url("") } else { b.url("") };
        post(&http, &to, &missed(7000 + n)).await.expect("accepted");
    }
    let waited = wait_for(|| smtp.mails().len() >= 12, Duration::from_secs(30)).await;
    assert!(waited, "12 reminders arrive: {}", smtp.mails().len());
    // One more, due later than the others: when it has arrived, both replicas have had
    // every chance to send the first twelve again.
    post(&http, &a.url(""), &missed(7100))
        .await
        .expect("accepted");
    assert!(wait_for(|| smtp.mails().len() >= 13, Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut subjects: Vec<String> = smtp
        .mails()
        .iter()
        .map(|m| {
            let text = m.text();
            text.lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let sent = subjects.len();
    subjects.sort();
    subjects.dedup();
    eprintln!(
        "two replicas: 13 reminders due, {sent} sent, {} duplicated",
        sent - subjects.len()
    );
    assert_eq!(sent, 13, "each reminder once");
    assert_eq!(subjects.len(), 13);
}

async fn wait_for(done: impl Fn() -> bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

#[tokio::test]
async fn one_replica_polls_telegram_and_another_takes_over_within_30_s() {
    let bot = FakeBotApi::start().await;
    let url = pg::shared().fresh_database();
    let extra = format!(
        "[telegram]\nbot_token = \"123456:TEST-token-abcdefghijklmnopqrstuvwxyz\"\napi_url = \"{}\"\n",
        bot.url()
    );
    let (_tmp, mut a, mut b) = two(&url, &extra).await;
    let polls = |d: &Daemon| d.log().contains("polling Telegram for button presses");
    assert!(wait_for(|| polls(&a) || polls(&b), Duration::from_secs(20)).await);
    // A stranger writes; the poller answers. Then some seconds of polling.
    bot.say(4242, "/start");
    assert!(bot.wait_until(|f| !f.messages_to(4242).is_empty()).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(bot.most_pollers_at_once(), 1, "never two pollers at once");
    assert!(!(polls(&a) && polls(&b)), "one replica polls");

    let (poller, other) = if polls(&a) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    poller.kill9();
    let killed = Instant::now();
    bot.say(4343, "/start");
    let answered = wait_for(
        || !bot.messages_to(4343).is_empty(),
        Duration::from_secs(40),
    )
    .await;
    let took = killed.elapsed();
    eprintln!("Telegram failover: the poller killed, the other replica answered in {took:?}");
    assert!(answered, "the other replica took over: {}", other.log());
    assert!(took < Duration::from_secs(30), "took over in {took:?}");
}

#[tokio::test]
async fn a_rules_edit_on_one_replica_is_in_force_on_the_other_within_5_s() {
    let url = pg::shared().fresh_database();
    let (_tmp, a, b) = two(
        &url,
        &format!("{DASHBOARD}\n[[escalation]]\nafter = \"30m\"\nnotify = [\"Asha\"]\n"),
    )
    .await;
    let visitor = save_first_reminder_after_7m(&a).await;
    let saved = Instant::now();
    // The other replica schedules new callbacks with the new rules within 5 s.
    let http = reqwest::Client::new();
    let mut n = 0;
    let in_force = loop {
        n += 1;
        if reminder_delay(&http, &b, 8000 + n).await >= chrono::Duration::minutes(7) {
            break saved.elapsed();
        }
        assert!(
            saved.elapsed() < Duration::from_secs(10),
            "not in force after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("a rules edit on one replica was in force on the other after {in_force:?}");
    assert!(in_force <= Duration::from_secs(5), "{in_force:?}");

    // "Use the file's rules" on A: B is back on its file's first_after ("0s") too (its
    // scheduler may have sent that reminder already: then the next is 15 min on).
    let csrf = visitor.csrf("/rules").await;
    let (status, html, _) = visitor
        .post("/rules/reset", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(status.as_u16(), 303, "{html}");
    let reset = Instant::now();
    loop {
        n += 1;
        if reminder_delay(&http, &b, 8000 + n).await != chrono::Duration::minutes(7) {
            break;
        }
        assert!(
            reset.elapsed() < Duration::from_secs(10),
            "the file's rules not in force after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, html, _) = visitor.get("/rules").await;
    assert!(
        html.contains("These are the rules from <code>config.toml</code>"),
        "{html}"
    );
}

/// Asha logs in to `daemon`'s dashboard and saves rules whose first reminder comes 7 minutes
/// after the call; the logged-in visitor, for more.
async fn save_first_reminder_after_7m(daemon: &Daemon) -> Visitor {
    let visitor = Visitor::at(daemon.url(""));
    visitor.login("asha", PASSWORD).await;
    let csrf = visitor.csrf("/rules").await;
    let form = [
        ("csrf", csrf.as_str()),
        ("first_after", "7m"),
        ("repeat_every", "15m"),
        ("business_hours", "* * * * * *"),
        ("step_after", "30m"),
        ("step_notify", "Asha"),
    ];
    let (status, html, _) = visitor.post("/rules", &form).await;
    assert_eq!(status.as_u16(), 303, "{html}");
    visitor
}

/// A new missed call on `daemon`: how long after it the first reminder is scheduled.
async fn reminder_delay(http: &reqwest::Client, daemon: &Daemon, n: usize) -> chrono::Duration {
    let reply = post(http, &daemon.url(""), &missed(n))
        .await
        .expect("accepted");
    let id = reply["callback_id"].as_str().unwrap();
    let (_, cb) = daemon.api(&format!("/api/v1/callbacks/{id}")).await;
    let first =
        chrono::DateTime::parse_from_rfc3339(cb["events"][0]["at"].as_str().unwrap()).unwrap();
    let next =
        chrono::DateTime::parse_from_rfc3339(cb["next_reminder_at"].as_str().unwrap()).unwrap();
    next - first
}

#[tokio::test]
async fn a_database_restart_mid_load_answers_503_then_recovers_losing_nothing() {
    let server = pg::own();
    let url = server.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with(tmp.path(), |p| pg_config(p, &url, "")).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let endpoint = format!(
        "{}/webhooks/smartflo/{TOKEN}?trigger=call_hangup_missed",
        daemon.url("")
    );
    let send = |n: usize| {
        let (http, endpoint) = (http.clone(), endpoint.clone());
        async move {
            let r = http.post(&endpoint).json(&missed(9000 + n)).send().await;
            match r {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry = r.headers().get("retry-after").is_some();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    (status, retry, body)
                }
                Err(_) => (0, false, Value::Null),
            }
        }
    };
    let mut acked = Vec::new();
    for n in 0..20 {
        let (status, _, body) = send(n).await;
        assert_eq!(status, 200, "{body}");
        acked.push(body["event_id"].as_str().unwrap().to_string());
    }
    server.stop();
    let (status, retry, body) = send(20).await;
    eprintln!("database down: the webhook answered {status} ({body})");
    assert_eq!(status, 503, "{body}");
    assert!(retry, "with Retry-After");
    let ready = http
        .get(daemon.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(ready, 503, "not ready while the database is down");
    server.restart();
    let back = Instant::now();
    let mut recovered = None;
    for n in 20..40 {
        let (status, _, body) = send(n).await;
        if status == 200 {
            recovered.get_or_insert(back.elapsed());
            acked.push(body["event_id"].as_str().unwrap().to_string());
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eprintln!("database back: webhooks accepted again after {recovered:?}");
    assert!(recovered.is_some(), "webhooks are accepted again");
    for event in &acked {
        let (status, _) = daemon.api(&format!("/api/v1/events/{event}")).await;
        assert_eq!(status, 200, "acknowledged event {event} is kept");
    }
    let ready = http
        .get(daemon.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(ready, 200);
}

/// Every callback with its timeline, every event, as the API shows them.
async fn everything(daemon: &Daemon) -> (Vec<Value>, Value) {
    let (_, list) = daemon.api("/api/v1/callbacks?status=all&limit=1000").await;
    let mut callbacks = Vec::new();
    for cb in list["callbacks"].as_array().unwrap() {
        let (status, whole) = daemon
            .api(&format!("/api/v1/callbacks/{}", cb["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, 200);
        callbacks.push(whole);
    }
    let (_, events) = daemon.api("/api/v1/events?limit=1000").await;
    (callbacks, events["events"].clone())
}

/// Whether a callback opened now is first reminded 7 minutes after its call (the edited rule).
async fn edited_rule_in_force(daemon: &Daemon, customer: usize) -> bool {
    reminder_delay(&reqwest::Client::new(), daemon, customer).await == chrono::Duration::minutes(7)
}

fn copy_store(config: &std::path::Path, to: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args(["copy-store", "--config"])
        .arg(config)
        .args(["--to", to])
        .output()
        .unwrap()
}

#[test]
fn migrate_says_whether_it_created_migrated_or_found_the_schema() {
    let url = pg::shared().fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, pg_config(9, &url, "")).unwrap();
    let migrate = || {
        let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
            .args(["migrate", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        said
    };
    let first = migrate();
    assert!(
        first.starts_with("created the database's schema at version "),
        "{first}"
    );
    let version = first.trim().rsplit(' ').next().unwrap().to_string();
    let again = migrate();
    assert_eq!(
        again.trim(),
        format!("the database's schema is at version {version} already")
    );

    // A newer build migrates the database further: this one refuses it, saying why.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99999999999999, 'from a newer build', true, '\\x00', 0)",
        )
        .execute(&mut db)
        .await
        .unwrap();
    });
    let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args(["migrate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "this database was migrated by a newer Ringback (schema 99999999999999; this build knows up to {version}): run that version"
        )),
        "{said}"
    );
    assert!(
        !said.contains("unavailable"),
        "not a passing outage: {said}"
    );
}

#[tokio::test]
async fn copy_store_moves_an_installation_from_sled_to_postgres_and_back() {
    let smtp = FakeSmtp::start().await;
    smtp.go_down();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let extra = format!(
        "[email]\nsmtp_url = \"{}\"\nfrom = \"Ringback <ringback@ringback.test>\"\n{DASHBOARD}\n[[escalation]]\nafter = \"30m\"\nnotify = [\"Asha\"]\n",
        smtp.url()
    );
    let mut daemon =
        Daemon::start_with(&tmp.path().join("run"), |p| sled_config(p, &data, &extra)).await;
    let http = reqwest::Client::new();
    for n in 0..5 {
        post(&http, &daemon.url(""), &missed(9500 + n))
            .await
            .expect("accepted");
    }
    // One resolved by hand; reminders wait in the outbox (the mail server is down).
    let callbacks = pending(&daemon).await;
    let first = callbacks[0]["id"].as_str().unwrap().to_string();
    let r = http
        .post(daemon.url(&format!("/api/v1/callbacks/{first}/resolve")))
        .bearer_auth(API)
        .json(&json!({"reason": "spoke on WhatsApp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        wait_for(
            || daemon.log().contains("will retry"),
            Duration::from_secs(20)
        )
        .await
    );
    // A rules edit from the dashboard: first reminder after 7 minutes.
    save_first_reminder_after_7m(&daemon).await;
    assert!(edited_rule_in_force(&daemon, 9600).await);
    let before = everything(&daemon).await;

    // A running store is refused; a stopped one is copied, only into an empty target.
    let url = pg::shared().fresh_database();
    let config = tmp.path().join("run/config.toml");
    let refused = copy_store(&config, &url);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop `ringback serve`"));
    assert!(daemon.terminate());
    let copied = copy_store(&config, &url);
    let said = String::from_utf8_lossy(&copied.stdout).into_owned();
    eprintln!("copy-store sled -> PostgreSQL:\n{said}");
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    assert!(said.contains(" 6  callbacks"), "{said}");
    assert!(
        said.contains("rules edits") && !said.contains(" 0  rules edits"),
        "{said}"
    );
    assert!(said.contains("deliveries waiting in the outbox"), "{said}");
    assert!(
        !copy_store(&config, &url).status.success(),
        "only into an empty target"
    );

    // The same installation, now on PostgreSQL: the same callbacks, timelines, events, rules.
    daemon.reconfigure_with(|port| pg_config(port, &url, &extra));
    daemon.restart().await;
    assert_eq!(before, everything(&daemon).await);
    // The next missed call of a copied customer updates their callback.
    let second = callbacks[1]["customer_number"]
        .as_str()
        .unwrap()
        .trim_start_matches("+91")
        .to_string();
    let reply = post(
        &http,
        &daemon.url(""),
        &missed_from(&second, "1799999999.1"),
    )
    .await
    .expect("accepted");
    assert_eq!(reply["effect"], "updated", "{reply}");
    assert!(
        edited_rule_in_force(&daemon, 9601).await,
        "the rules edit came along"
    );
    // The waiting emails go out once the mail server is back.
    smtp.come_up().await;
    let mut reminded = 0;
    for _ in 0..600 {
        reminded = pending(&daemon)
            .await
            .iter()
            .map(|cb| cb["reminders_sent"].as_u64().unwrap())
            .sum::<u64>();
        if reminded >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        reminded, 4,
        "the four callbacks due were each reminded once"
    );
    let on_postgres = everything(&daemon).await;

    // And back: PostgreSQL -> a fresh sled directory.
    assert!(daemon.terminate());
    let back = tmp.path().join("back");
    let copied = copy_store(&config, back.to_str().unwrap());
    let said = String::from_utf8_lossy(&copied.stdout).into_owned();
    eprintln!("copy-store PostgreSQL -> sled:\n{said}");
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    assert!(said.contains(" 7  callbacks"), "{said}");
    daemon.reconfigure_with(|port| sled_config(port, &back, &extra));
    daemon.restart().await;
    assert_eq!(on_postgres, everything(&daemon).await);
    assert!(
        edited_rule_in_force(&daemon, 9602).await,
        "the rules edit came back"
    );
}
