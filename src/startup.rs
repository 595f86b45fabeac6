//! Wiring: settings → store → application → scheduler, Telegram bot and HTTP server. Used
//! by `ringback serve` and by the tests, which build the same application on
//! `127.0.0.1:0` with their own clock.
//!
//! Stopping (SIGINT/SIGTERM, or [`ServerHandle::stop`]): the server stops accepting and
//! finishes in-flight requests (at most [`SHUTDOWN_GRACE_SECS`]); the scheduler takes no new
//! work and gives sends under way a bounded grace (`scheduler::SEND_GRACE`); the bot stops
//! polling; storage is flushed and closed.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App as HttpApp, HttpServer};
use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{App, Parts};
use crate::assemble;
use crate::bot::{self, TelegramBot};
use crate::clock::Clock;
use crate::config::rules::rules_from_text;
use crate::config::{Settings, StorageBackend};
use crate::domain::rules::{LiveRules, Rules};
use crate::links::LinkSigner;
use crate::scheduler::Scheduler;
use crate::store::{self, Store, StoreError};
use crate::tokens::{self, TokenSet};
use crate::web::dashboard::Dashboard;
use crate::web::{self as routes, AppState};

/// How long a graceful stop waits for in-flight requests.
const SHUTDOWN_GRACE_SECS: u64 = 10;

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
    store: Arc<dyn Store>,
    scheduler: Arc<Scheduler>,
    /// Stops the scheduler loop and the Telegram bot.
    stop: CancellationToken,
    tasks: TaskTracker,
    /// Tokens generated on this start (to be printed once), by kind.
    pub generated_tokens: Vec<(&'static str, String, String)>,
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
        let opened = match store::open(&settings.storage).await {
            Ok(opened) => opened,
            Err(StoreError::Busy(why)) => {
                bail!("{why}: stop it first, or point [storage].path at another directory")
            }
            Err(e) => {
                return Err(anyhow::Error::from(e)).with_context(|| {
                    match settings.storage.backend {
                        StorageBackend::Sled => {
                            format!("opening storage in {}", data_dir.display())
                        }
                        StorageBackend::Postgres { .. } => {
                            "opening the PostgreSQL store".to_string()
                        }
                    }
                });
            }
        };
        let store = Arc::clone(&opened.store);
        let links = Arc::new(LinkSigner::new(
            tokens::link_key(
                settings.email.as_ref().and_then(|e| e.link_secret.as_ref()),
                store.as_ref(),
            )
            .await
            .context("reading the link key")?,
        ));
        let notifier = Arc::new(assemble::notifier_for(&settings, Some(Arc::clone(&links)))?);
        if !notifier.templates.overridden().is_empty() {
            tracing::info!(templates = ?notifier.templates.overridden(), "using edited templates");
        }
        let rules = Arc::new(LiveRules::new(
            rules_in_force(&settings, store.as_ref()).await?,
        ));

        let mut generated_tokens = Vec::new();
        let mut token_sets = Vec::new();
        for (configured, name) in [
            (&settings.webhook.tokens, "webhook"),
            (&settings.api.tokens, "api"),
        ] {
            let provisioned = tokens::provision(configured, store.as_ref(), name)
                .await
                .with_context(|| format!("provisioning the {name} token"))?;
            if let Some((token, location)) = &provisioned.generated {
                generated_tokens.push((name, token.expose().to_string(), location.clone()));
            }
            token_sets.push(provisioned.tokens);
        }
        let webhook_token_hint = token_sets[0]
            .first()
            .map(|t| t.masked())
            .unwrap_or_default();
        let webhook_tokens = TokenSet::new(&token_sets[0]);
        let api_tokens = TokenSet::new(&token_sets[1]);

        let interpreter = assemble::interpreter_for(&settings);
        let app = Arc::new(App::new(Parts {
            store: Arc::clone(&store),
            clock,
            rules: Arc::clone(&rules),
            roster: Arc::new(assemble::roster_for(&settings)),
            agents: interpreter.agents.clone(),
            click_to_call: assemble::click_to_call_for(&settings)?,
            retention: settings
                .storage
                .retention
                .and_then(|r| chrono::Duration::from_std(r).ok()),
            raw_retention: settings
                .storage
                .raw_retention
                .and_then(|r| chrono::Duration::from_std(r).ok()),
            digests: settings.extras.digests.clone(),
        }));
        app.align_schedule(rules.get())
            .await
            .context("rescheduling pending callbacks under the rules in force")?;

        let dashboard = Dashboard::for_settings(&settings)?;
        let metrics = Arc::clone(&app.metrics);
        let scheduler = Arc::new(Scheduler::new(
            Arc::clone(&app),
            Arc::clone(&notifier),
            Arc::clone(&metrics),
        ));
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        if let Some(every) = options.scheduler_interval {
            tasks.spawn(Arc::clone(&scheduler).run(every, stop.clone()));
        }
        // Only a shared store has other processes whose rules edits must be followed; on
        // the embedded one every edit is made here.
        if matches!(
            settings.storage.backend,
            crate::config::StorageBackend::Postgres { .. }
        ) {
            tasks.spawn(follow_rule_edits(
                Arc::clone(&settings),
                Arc::clone(&app),
                stop.clone(),
            ));
        }
        // The Telegram bot answers buttons and commands whenever Telegram is configured.
        if notifier.telegram.is_some() {
            let bot = Arc::new(TelegramBot {
                notifier: Arc::clone(&notifier),
                app: Arc::clone(&app),
                users: bot::users_for(&settings),
            });
            tasks.spawn(bot.run(stop.clone()));
        }
        let state = actix_web::web::Data::new(AppState::new(
            Arc::clone(&settings),
            app,
            interpreter,
            webhook_tokens,
            api_tokens,
            metrics,
            Arc::clone(&scheduler),
            dashboard,
            links,
            opened.backups.clone(),
        ));

        let session_key = tokens::session_key(store.as_ref())
            .await
            .context("reading the session key")?;
        let secure_cookies = settings.server.public_url.scheme() == "https";
        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("listening on {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            HttpApp::new()
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
            stop,
            tasks,
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
    /// in-flight requests, lets the scheduler and bot wind down within their grace, then
    /// flushes and closes storage.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        drop(self.scheduler);
        self.store.close().await.context("closing storage")?;
        served.context("HTTP server")
    }
}

/// How often each process looks for a rules edit saved by another (SPEC §10: in force on
/// every replica within 5 s).
const RULES_FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// Puts a rules edit saved by another replica in force here. (The replica that saved it
/// rescheduled the pending callbacks; here only the rules in force change.)
async fn follow_rule_edits(settings: Arc<Settings>, app: Arc<App>, stop: CancellationToken) {
    let mut seen = app.store.stored_rules().await.ok().flatten().map(|c| c.id);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RULES_FOLLOW_EVERY) => {}
            _ = stop.cancelled() => return,
        }
        let Ok(stored) = app.store.stored_rules().await else {
            continue;
        };
        let id = stored.as_ref().map(|c| c.id);
        if id == seen {
            continue;
        }
        seen = id;
        let text = stored.map_or_else(|| settings.rules_text.clone(), |c| c.after);
        match rules_from_text(&settings, &text) {
            Ok(rules) => {
                app.rules.set(rules);
                app.nudge();
                tracing::info!("rules edited on another replica are in force here");
            }
            Err(issues) => {
                let why: Vec<String> = issues.iter().map(ToString::to_string).collect();
                tracing::warn!(problems = %why.join("; "), "rules edited elsewhere do not fit this configuration; keeping these");
            }
        }
    }
}

/// The file's rules, unless a supervisor saved edited ones from the dashboard — those stay
/// in force across restarts while they are still valid with this configuration.
pub(crate) async fn rules_in_force(
    settings: &Settings,
    store: &dyn Store,
) -> anyhow::Result<Rules> {
    let from_file = settings.rules.clone();
    let Some(change) = store.stored_rules().await.context("reading stored rules")? else {
        return Ok(from_file);
    };
    match rules_from_text(settings, &change.after) {
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
