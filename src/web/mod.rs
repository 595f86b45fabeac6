//! HTTP: the Smartflo webhook, the JSON API and health endpoints.

mod actions;
mod api;
pub mod dashboard;
pub(crate) mod data;
mod error;
mod health;
pub mod limits;
pub mod openapi;
mod throttle;
mod views;
mod webhook;

use std::sync::{Arc, Mutex};

use actix_web::web;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::rules::LiveRules;
use crate::links::LinkSigner;
use crate::metrics::Metrics;
use crate::operations::Operations;
use crate::scheduler::Scheduler;
use crate::smartflo::Interpreter;
use crate::store::Store;
use crate::tokens::TokenSet;
pub use error::WebError;
pub use throttle::{AuthThrottle, SourceResolver};

/// Everything request handlers share.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub interpreter: Interpreter,
    pub rules: Arc<LiveRules>,
    pub clock: Arc<dyn Clock>,
    pub webhook_tokens: TokenSet,
    pub api_tokens: TokenSet,
    pub metrics: Arc<Metrics>,
    pub scheduler: Arc<Scheduler>,
    pub dashboard: dashboard::Dashboard,
    /// What people can do to callbacks (shared with the Telegram bot).
    pub ops: Arc<Operations>,
    /// Checks the signed action links in emails.
    pub links: Arc<LinkSigner>,
    /// Slows down sources that keep failing to authenticate.
    pub throttle: AuthThrottle,
    /// Who a request came from (the peer, or behind a trusted proxy its client).
    pub sources: SourceResolver,
    ids: Mutex<ulid::Generator>,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: Arc<Settings>,
        store: Arc<dyn Store>,
        interpreter: Interpreter,
        rules: Arc<LiveRules>,
        clock: Arc<dyn Clock>,
        webhook_tokens: TokenSet,
        api_tokens: TokenSet,
        metrics: Arc<Metrics>,
        scheduler: Arc<Scheduler>,
        dashboard: dashboard::Dashboard,
        ops: Arc<Operations>,
        links: Arc<LinkSigner>,
    ) -> Self {
        let throttle = AuthThrottle::new(settings.server.auth_failures_per_minute);
        let sources = SourceResolver::new(settings.server.trusted_proxies.clone());
        Self {
            throttle,
            sources,
            settings,
            store,
            interpreter,
            rules,
            clock,
            webhook_tokens,
            api_tokens,
            metrics,
            scheduler,
            dashboard,
            ops,
            links,
            ids: Mutex::new(ulid::Generator::new()),
        }
    }

    /// `Err(429)` when the request's source has used up its failed-authentication allowance.
    pub fn throttled(&self, req: &actix_web::HttpRequest) -> Result<(), WebError> {
        self.throttle
            .check(self.sources.source(req), std::time::Instant::now())
            .map_err(WebError::TooManyRequests)
    }

    /// Counts a failed authentication from the request's source (logged once when the
    /// source runs out of attempts, never with what it presented).
    pub fn auth_failed(&self, req: &actix_web::HttpRequest, what: &'static str) {
        let source = self.sources.source(req);
        self.metrics
            .auth_failures
            .get_or_create(&crate::metrics::AuthLabels { what: what.into() })
            .inc();
        if self.throttle.failed(source, std::time::Instant::now()) {
            tracing::warn!(source = ?source, what, "too many failed authentications; throttling this source for up to a minute");
        }
    }

    /// A fresh id stamped with `at`, ordered after every id handed out before (one
    /// monotonic ULID generator, so even a clock that steps back keeps ids in order).
    pub fn next_id(&self, at: DateTime<Utc>) -> ulid::Ulid {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let at = std::time::SystemTime::from(at);
        ids.generate_from_datetime(at)
            .unwrap_or_else(|_| ulid::Ulid::from_datetime(at))
    }
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/smartflo")
            .route(web::get().to(webhook::with_header_token))
            .route(web::post().to(webhook::with_header_token)),
    )
    .service(
        web::resource("/webhooks/smartflo/{token}")
            .route(web::get().to(webhook::with_path_token))
            .route(web::post().to(webhook::with_path_token)),
    )
    .service(
        web::scope("/api/v1")
            .service(get("/openapi.json", openapi::document))
            .service(get("/callbacks", api::list_callbacks))
            .service(get("/callbacks.csv", data::callbacks_csv))
            .service(get("/callbacks/{id}", api::get_callback))
            .service(post("/callbacks/{id}/resolve", actions::resolve))
            .service(post("/callbacks/{id}/snooze", actions::snooze))
            .service(post("/callbacks/{id}/assign", actions::assign))
            .service(post("/callbacks/{id}/call", actions::call))
            .service(get("/events", api::list_events))
            .service(get("/events/{id}", api::get_event))
            .service(post("/backup", data::backup))
            .default_service(web::to(not_found)),
    )
    .service(get("/healthz", health::healthz))
    .service(get("/metrics", health::metrics))
    .service(get("/readyz", health::readyz));
}

/// The dashboard, in a scope with its session cookie and security headers; registered
/// last, it also answers unknown paths.
pub fn dashboard_scope(
    session_key: Vec<u8>,
    secure_cookies: bool,
) -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("")
        .wrap(dashboard::session_middleware(&session_key, secure_cookies))
        .wrap(dashboard::security_headers())
        .configure(dashboard::routes)
        .default_service(web::to(not_found))
}

/// A resource answering GET (and HEAD), and `405` with `Allow` to any other method.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(WebError::MethodNotAllowed("GET, HEAD"))
        }))
}

/// A resource answering POST, and `405` with `Allow` to any other method.
fn post<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(WebError::MethodNotAllowed("POST"))
        }))
}

async fn not_found() -> Result<actix_web::HttpResponse, WebError> {
    Err(WebError::NotFound("no such endpoint".into()))
}
