//! Wiring: settings → store → scheduler → HTTP server. Used by `ringback serve` and by the
//! tests, which build the same application on `127.0.0.1:0` with their own clock.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer};
use anyhow::Context;

use std::time::Duration;

use tokio::sync::watch;

use crate::assemble::{self, rules_for};
use crate::bot::TelegramBot;
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::rules::{LiveRules, Rules};
use crate::links::LinkSigner;
use crate::metrics::Metrics;
use crate::operations::Operations;
use crate::scheduler::Scheduler;
use crate::store::Store;
use crate::store::sled::SledStore;
use crate::tokens::{self, TokenSet};
use crate::web::{self as routes, AppState};

/// How long a graceful stop waits for in-flight requests.
const SHUTDOWN_GRACE_SECS: u64 = 30;

/// How the application runs, beyond its settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The scheduler loop wakes at least this often (and at each due time); `None` runs no
    /// loop, for tests that call [`Scheduler::tick`] themselves.
    pub scheduler_interval: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            scheduler_interval: Some(Duration::from_secs(1)),
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    store: Arc<SledStore>,
    scheduler: Arc<Scheduler>,
    /// Stops the scheduler loop and the Telegram bot.
    stop_scheduler: watch::Sender<bool>,
    scheduler_task: Option<tokio::task::JoinHandle<()>>,
    bot_task: Option<tokio::task::JoinHandle<()>>,
    healer_task: tokio::task::JoinHandle<()>,
    /// Tokens generated on this start (to be printed once), by kind.
    pub generated_tokens: Vec<(&'static str, String, std::path::PathBuf)>,
    /// The first webhook token, masked, for startup logs.
    pub webhook_token_hint: String,
}

impl Application {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::build_with(settings, clock, Options::default()).await
    }

    pub async fn build_with(
        settings: Settings,
        clock: Arc<dyn Clock>,
        options: Options,
    ) -> anyhow::Result<Self> {
        install_tls_provider();
        let settings = Arc::new(settings);
        let data_dir = settings.storage.path.clone();
        let links = Arc::new(LinkSigner::new(
            tokens::link_key(
                settings.email.as_ref().and_then(|e| e.link_secret.as_ref()),
                &data_dir,
            )
            .context("reading the link key")?,
        ));
        let notifier = Arc::new(assemble::notifier_for(&settings, Some(Arc::clone(&links)))?);
        if !notifier.templates.overridden().is_empty() {
            tracing::info!(templates = ?notifier.templates.overridden(), "using edited templates");
        }
        let store = Arc::new(
            SledStore::open(&data_dir)
                .with_context(|| format!("opening storage in {}", data_dir.display()))?,
        );
        let rules = Arc::new(LiveRules::new(rules_in_force(&settings, store.as_ref())?));
        store
            .align_schedule(rules.get())
            .await
            .context("rescheduling pending callbacks under the rules in force")?;

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

        let dashboard = assemble::dashboard_for(&settings)?;
        let metrics = Arc::new(Metrics::new());
        let scheduler = Arc::new(
            Scheduler::new(
                store.clone() as Arc<dyn Store>,
                Arc::clone(&clock),
                Arc::clone(&rules),
                Arc::new(assemble::roster_for(&settings)),
                Arc::clone(&notifier),
                Arc::clone(&metrics),
            )
            .with_retention(settings.storage.retention),
        );
        let (stop_scheduler, stop) = watch::channel(false);
        let healer_task = tokio::spawn(heal_storage(
            store.clone() as Arc<dyn Store>,
            stop_scheduler.subscribe(),
        ));
        let scheduler_task = options
            .scheduler_interval
            .map(|every| tokio::spawn(Arc::clone(&scheduler).run(every, stop)));

        let ops = Arc::new(Operations {
            store: store.clone() as Arc<dyn Store>,
            clock: Arc::clone(&clock),
            rules: Arc::clone(&rules),
            scheduler: Arc::clone(&scheduler),
            agents: assemble::interpreter_for(&settings).agents,
            click_to_call: assemble::click_to_call_for(&settings)?,
        });
        // The Telegram bot answers buttons and commands whenever Telegram is configured.
        let bot_task = notifier.telegram.is_some().then(|| {
            let bot = Arc::new(TelegramBot {
                notifier: Arc::clone(&notifier),
                ops: Arc::clone(&ops),
                store: store.clone() as Arc<dyn Store>,
                clock: Arc::clone(&clock),
                users: assemble::bot_users_for(&settings),
            });
            tokio::spawn(bot.run(stop_scheduler.subscribe()))
        });
        let state = actix_web::web::Data::new(AppState::new(
            Arc::clone(&settings),
            store.clone() as Arc<dyn Store>,
            assemble::interpreter_for(&settings),
            rules,
            clock,
            webhook_tokens,
            api_tokens,
            metrics,
            Arc::clone(&scheduler),
            dashboard,
            ops,
            links,
        ));

        let session_key = tokens::session_key(&data_dir).context("reading the session key")?;
        let secure_cookies = settings.server.public_url.scheme() == "https";
        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("listening on {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(routes::limits::payload_config())
                .wrap(actix_web::middleware::NormalizePath::trim())
                .wrap(actix_web::middleware::from_fn(routes::limits::header_limit))
                .wrap(actix_web::middleware::from_fn(
                    routes::limits::body_deadline,
                ))
                .configure(routes::routes)
                .service(routes::dashboard_scope(session_key.clone(), secure_cookies))
        })
        .client_request_timeout(routes::limits::HEAD_READ_TIMEOUT)
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            store,
            scheduler,
            stop_scheduler,
            scheduler_task,
            bot_task,
            healer_task,
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

    /// The scheduler, for tests that drive it tick by tick.
    pub fn scheduler(&self) -> Arc<Scheduler> {
        Arc::clone(&self.scheduler)
    }

    /// Serves until SIGINT/SIGTERM (or [`ServerHandle::stop`]): stops accepting, finishes
    /// in-flight requests, then flushes storage.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        let _ = self.stop_scheduler.send(true);
        for task in [self.scheduler_task, self.bot_task, Some(self.healer_task)]
            .into_iter()
            .flatten()
        {
            let _ = task.await;
        }
        drop(self.scheduler);
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

/// The file's rules, unless a supervisor saved edited ones from the dashboard — those stay
/// in force across restarts while they are still valid with this configuration.
fn rules_in_force(settings: &Settings, store: &dyn Store) -> anyhow::Result<Rules> {
    let from_file = rules_for(settings)?;
    let Some(change) = store.stored_rules().context("reading stored rules")? else {
        return Ok(from_file);
    };
    match assemble::rules_from_text(settings, &change.after) {
        Ok(rules) => {
            tracing::info!(by = %change.who, at = %change.at, "using the rules saved from the dashboard");
            Ok(rules)
        }
        Err(issues) => {
            let why: Vec<String> = issues.iter().map(ToString::to_string).collect();
            tracing::warn!(problems = %why.join("; "), "the rules saved from the dashboard no longer fit this configuration; using the file's");
            Ok(from_file)
        }
    }
}

/// Chooses rustls's crypto provider (ring) for every TLS client in the process — SMTP,
/// Telegram — so that a build where several providers are linked in (dev tools bring
/// aws-lc-rs) never fails at the first TLS connection. Later calls are no-ops.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// After a storage error (disk full, file system read-only) the store refuses writes; this
/// tries every two seconds to reopen it, so the service recovers by itself once the cause
/// is gone. Meanwhile webhooks answer 503 (Smartflo retries) and /readyz fails.
async fn heal_storage(store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if store.healthy() {
            continue;
        }
        let store = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || store.heal()).await {
            Ok(Ok(true)) => tracing::warn!("storage recovered; accepting webhooks again"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "storage still failing; retrying in 2 s"),
            Err(e) => tracing::error!(error = %e, "storage recovery task failed"),
        }
    }
}
