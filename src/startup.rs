//! Wiring: settings → store → HTTP server. Used by `ringback serve` and by the tests, which
//! build the same application on `127.0.0.1:0` with their own clock.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer};
use anyhow::Context;

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::agent::{AgentDirectory, DirectoryEntry};
use crate::domain::lifecycle::Rules;
use crate::smartflo::{Interpreter, Trigger};
use crate::store::Store;
use crate::store::sled::SledStore;
use crate::tokens::{self, TokenSet};
use crate::web::{self as routes, AppState};

/// How long a graceful stop waits for in-flight requests.
const SHUTDOWN_GRACE_SECS: u64 = 30;

pub struct Application {
    port: u16,
    server: Server,
    store: Arc<SledStore>,
    /// Tokens generated on this start (to be printed once), by kind.
    pub generated_tokens: Vec<(&'static str, String, std::path::PathBuf)>,
    /// The first webhook token, masked, for startup logs.
    pub webhook_token_hint: String,
}

impl Application {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let data_dir = settings.storage.path.clone();
        let store = Arc::new(
            SledStore::open(&data_dir)
                .with_context(|| format!("opening storage in {}", data_dir.display()))?,
        );

        let mut generated_tokens = Vec::new();
        let mut hint = String::new();
        let mut token_set = |configured, name: &'static str| -> anyhow::Result<TokenSet> {
            let provisioned = tokens::provision(configured, &data_dir, name)
                .with_context(|| format!("provisioning the {name} token"))?;
            if hint.is_empty() {
                hint = provisioned
                    .tokens
                    .first()
                    .map(|t| t.masked())
                    .unwrap_or_default();
            }
            if let Some((token, path)) = provisioned.generated {
                generated_tokens.push((name, token.expose().to_string(), path));
            }
            Ok(TokenSet::new(&provisioned.tokens))
        };
        let webhook_tokens = token_set(&settings.webhook.tokens, "webhook")?;
        let api_tokens = token_set(&settings.api.tokens, "api")?;
        let webhook_token_hint = hint;

        let interpreter = interpreter_for(&settings);
        let rules = Rules {
            min_talk_seconds: settings.webhook.min_talk_seconds,
            first_after: chrono::Duration::from_std(settings.reminders.first_after)
                .context("reminders.first_after is out of range")?,
        };
        let state = actix_web::web::Data::new(AppState::new(
            Arc::clone(&settings),
            store.clone() as Arc<dyn Store>,
            interpreter,
            rules,
            clock,
            webhook_tokens,
            api_tokens,
        ));

        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("listening on {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::NormalizePath::trim())
                .configure(routes::routes)
        })
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            store,
            generated_tokens,
            webhook_token_hint,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server gracefully when called (tests use it to restart).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or [`ServerHandle::stop`]): stops accepting, finishes
    /// in-flight requests, then flushes storage.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        let store = self.store;
        // The workers drop their copies of the app state as they wind down; wait for them
        // (briefly) so that when this returns the database is closed and its lock released.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&store) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tokio::task::spawn_blocking(move || {
            let closed = store.close();
            drop(store);
            closed
        })
        .await
        .context("closing storage")??;
        served.context("HTTP server")
    }
}

pub fn interpreter_for(settings: &Settings) -> Interpreter {
    let country = settings.webhook.default_country_code;
    Interpreter {
        zone: settings.reminders.timezone,
        country,
        agents: AgentDirectory::new(
            settings
                .agents
                .iter()
                .map(|a| DirectoryEntry {
                    name: a.name.clone(),
                    number: a.number.clone(),
                    smartflo_id: a.smartflo_id.clone(),
                })
                .collect(),
            country,
        ),
    }
}

/// Per trigger: the method and full URL to paste into Smartflo's webhook form.
pub fn webhook_urls(settings: &Settings, token: &str) -> Vec<(Trigger, String)> {
    let base = settings.server.public_url.as_str().trim_end_matches('/');
    Trigger::ALL
        .iter()
        .map(|t| {
            (
                *t,
                format!("{base}/webhooks/smartflo/{token}?trigger={}", t.slug()),
            )
        })
        .collect()
}
