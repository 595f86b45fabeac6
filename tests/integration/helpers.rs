//! `spawn_app()`: the real server on `127.0.0.1:0` with its own data directory, config
//! file and a clock the test controls.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use chrono::{DateTime, TimeZone, Utc};
use ringback::clock::ManualClock;
use ringback::config::Settings;
use ringback::scheduler::{Scheduler, TickReport};
use ringback::startup::{Application, Options};
use serde_json::Value;
use tempfile::TempDir;

pub const WEBHOOK_TOKEN: &str = "test-webhook-token-0123456789";
pub const API_TOKEN: &str = "test-api-token-0123456789abcdef";

/// The configuration every test starts from; tests append TOML to it.
pub const BASE_CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://ringback.test"

[storage]
path = "data"

[webhook]
tokens = ["test-webhook-token-0123456789"]
default_country_code = "91"
min_talk_seconds = 0

[api]
tokens = ["test-api-token-0123456789abcdef"]

[reminders]
timezone = "Asia/Kolkata"
business_hours = "* * 9-18 * * Mon-Sat"
first_after = "2m"
repeat_every = "15m"

[[agents]]
name = "Meera"
number = "+919800000011"
smartflo_id = "0507000000011"
email = "meera@example.in"
telegram_chat_id = 1001

[[agents]]
name = "Arjun"
number = "9800000012"
smartflo_id = "0507000000012"

[[supervisors]]
name = "Asha"
email = "asha@example.in"

[[escalation]]
after = "30m"
notify = ["Asha"]
"#;

/// The dashboard login every dashboard test uses: asha / [`PASSWORD`].
pub const PASSWORD: &str = "correct horse battery";
pub const DASHBOARD: &str = r#"
[dashboard]
users = [{ name = "asha", password_hash = "$argon2id$v=19$m=19456,t=2,p=1$BKEBj9l5AxK0tletuolTqQ$2hjGUb+kz9S7Lf9ip9XhPXAjVJN9FnzglkqyinmDTaQ" }]
"#;

/// 2026-05-28 11:30 IST, a Thursday, after every fixture's call.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 28, 6, 0, 0).unwrap()
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub dir: Arc<TempDir>,
    pub scheduler: Arc<Scheduler>,
    options: Options,
    config_path: PathBuf,
    handle: ServerHandle,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

/// Starts the app with `extra` TOML appended to the base configuration. Tables in `extra`
/// may not repeat a table of the base; use [`spawn_app_with_config`] to replace it whole.
pub async fn spawn_app_with(extra: &str) -> TestApp {
    spawn_app_with_config(&format!("{BASE_CONFIG}\n{extra}")).await
}

/// Tests drive the scheduler with [`TestApp::tick`]; no background loop unless asked for.
pub fn manual_scheduler() -> Options {
    Options {
        scheduler_interval: None,
    }
}

pub async fn spawn_app_with_config(config: &str) -> TestApp {
    spawn_app_with_options(config, manual_scheduler()).await
}

pub async fn spawn_app_with_options(config: &str, options: Options) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).expect("writing config");
    let clock = Arc::new(ManualClock::new(start_time()));
    start(dir, config_path, clock, options).await
}

/// Starts the app on a data directory made elsewhere: `prepare` fills the fresh temporary
/// directory (e.g. copies a store into `data/`) before the app opens it, at `clock_at`.
pub async fn spawn_app_on(
    config: &str,
    clock_at: DateTime<Utc>,
    prepare: impl FnOnce(&Path),
) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    prepare(dir.path());
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).expect("writing config");
    let clock = Arc::new(ManualClock::new(clock_at));
    start(dir, config_path, clock, manual_scheduler()).await
}

async fn start(
    dir: Arc<TempDir>,
    config_path: PathBuf,
    clock: Arc<ManualClock>,
    options: Options,
) -> TestApp {
    let settings = Settings::load_with_env(&config_path, Vec::new()).expect("test config is valid");
    let app = Application::build_with(settings, clock.clone(), options.clone())
        .await
        .expect("app builds");
    let scheduler = app.scheduler();
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        clock,
        dir,
        scheduler,
        options,
        config_path,
        handle,
        running,
    }
}

impl TestApp {
    /// Stops the server gracefully (storage closed) and starts it again on the same data.
    pub async fn restart(self) -> TestApp {
        self.restart_after(|_| {}).await
    }

    /// Stops the server, lets `between` do something to its directory (the store is
    /// closed), and starts it again on it.
    pub async fn restart_after(self, between: impl FnOnce(&Path)) -> TestApp {
        let TestApp {
            dir,
            config_path,
            clock,
            handle,
            running,
            options,
            scheduler,
            ..
        } = self;
        drop(scheduler);
        handle.stop(true).await;
        running
            .await
            .expect("server task")
            .expect("server stopped cleanly");
        between(dir.path());
        start(dir, config_path, clock, options).await
    }

    /// Stops the server gracefully and hands back its directory (the store is closed).
    pub async fn stop(self) -> Arc<TempDir> {
        let TestApp {
            dir,
            handle,
            running,
            scheduler,
            ..
        } = self;
        drop(scheduler);
        handle.stop(true).await;
        running
            .await
            .expect("server task")
            .expect("server stopped cleanly");
        dir
    }

    /// The test clock's time.
    pub fn clock_now(&self) -> DateTime<Utc> {
        use ringback::clock::Clock;
        self.clock.now()
    }

    /// One scheduler tick at the clock's current time.
    pub async fn tick(&self) -> TickReport {
        self.scheduler.tick().await.expect("tick")
    }

    /// Moves the clock by `by` and ticks.
    pub async fn advance(&self, by: chrono::Duration) -> TickReport {
        self.clock.advance(by);
        self.tick().await
    }

    pub async fn api_post(&self, path: &str, body: serde_json::Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(API_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        reply(response).await
    }

    pub fn webhook_url(&self, trigger: Option<&str>) -> String {
        match trigger {
            Some(t) => format!(
                "{}/webhooks/smartflo/{WEBHOOK_TOKEN}?trigger={t}",
                self.address
            ),
            None => format!("{}/webhooks/smartflo/{WEBHOOK_TOKEN}", self.address),
        }
    }

    /// POSTs a JSON body; returns status and parsed reply.
    pub async fn post_json(&self, trigger: Option<&str>, body: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.webhook_url(trigger))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        reply(response).await
    }

    pub async fn post_form(&self, trigger: Option<&str>, pairs: &[(&str, &str)]) -> (u16, Value) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let response = self
            .client
            .post(self.webhook_url(trigger))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("request");
        reply(response).await
    }

    pub async fn get_query(&self, pairs: &[(&str, &str)]) -> (u16, Value) {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let url = format!("{}/webhooks/smartflo/{WEBHOOK_TOKEN}?{query}", self.address);
        reply(self.client.get(url).send().await.expect("request")).await
    }

    /// Posts a fixture from `tests/data/fixtures`, asserting a 200.
    pub async fn post_fixture(&self, trigger: &str, fixture: &str) -> Value {
        let (status, body) = self.post_json(Some(trigger), &fixture_text(fixture)).await;
        assert_eq!(status, 200, "{fixture}: {body}");
        body
    }

    pub async fn api_get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("request");
        reply(response).await
    }

    /// The callbacks listed under `status` (pending, resolved, all).
    pub async fn callbacks(&self, status: &str) -> Vec<Value> {
        let (code, body) = self
            .api_get(&format!("/api/v1/callbacks?status={status}&limit=10000"))
            .await;
        assert_eq!(code, 200, "{body}");
        body["callbacks"]
            .as_array()
            .expect("callbacks array")
            .clone()
    }

    pub async fn pending(&self) -> Vec<Value> {
        self.callbacks("pending").await
    }

    /// The one pending callback for `customer` (E.164), if any.
    pub async fn pending_for(&self, customer: &str) -> Option<Value> {
        self.pending()
            .await
            .into_iter()
            .find(|c| c["customer_number"] == customer)
    }

    pub async fn callback(&self, id: &str) -> Value {
        let (code, body) = self.api_get(&format!("/api/v1/callbacks/{id}")).await;
        assert_eq!(code, 200, "{body}");
        body
    }
}

async fn reply(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

pub fn data_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(relative)
}

pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(data_path(&format!("fixtures/{name}"))).expect("fixture exists")
}

/// A fixture as JSON, to be edited by a test before posting.
pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).expect("fixture is JSON")
}

/// A minimal inbound missed-call hangup payload, in Smartflo's shape.
pub fn missed_call(customer: &str, call_id: &str, start_stamp: &str) -> Value {
    serde_json::json!({
        "uuid": format!("u{}", call_id.replace('.', "")),
        "call_id": call_id,
        "call_to_number": "+918069000000",
        "caller_id_number": customer,
        "start_stamp": start_stamp,
        "end_stamp": start_stamp,
        "billsec": "0",
        "direction": "inbound",
        "call_status": "missed",
        "missed_agent": [{"id":"0507000000011","name":"Meera","number":"+919800000011"}],
        "campaign_name": "$campaign_name"
    })
}

/// A minimal inbound answered-call hangup payload.
pub fn answered_call(customer: &str, call_id: &str, start_stamp: &str, billsec: &str) -> Value {
    serde_json::json!({
        "uuid": format!("u{}", call_id.replace('.', "")),
        "call_id": call_id,
        "call_to_number": "+918069000000",
        "caller_id_number": customer,
        "start_stamp": start_stamp,
        "billsec": billsec,
        "direction": "inbound",
        "call_status": "answered",
        "answered_agent": {"id":"0507000000012","name":"Arjun"},
    })
}
