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
pub mod webhook;

use std::sync::Arc;

use actix_web::web;

use crate::app::App;
use crate::config::Settings;
use crate::links::LinkSigner;
use crate::metrics::Metrics;
use crate::scheduler::Scheduler;
use crate::smartflo::Interpreter;
use crate::store::FileBackups;
use crate::tokens::TokenSet;
pub use error::WebError;
pub use throttle::{AuthThrottle, SourceResolver};

/// Everything request handlers share.
pub struct AppState {
    pub settings: Arc<Settings>,
    /// The application: every read and change goes through it (and its store).
    pub app: Arc<App>,
    pub interpreter: Interpreter,
    pub webhook_tokens: TokenSet,
    pub api_tokens: TokenSet,
    pub metrics: Arc<Metrics>,
    pub scheduler: Arc<Scheduler>,
    pub dashboard: dashboard::Dashboard,
    /// Checks the signed action links in emails.
    pub links: Arc<LinkSigner>,
    /// File-level copies of the store, when its backend keeps files.
    pub backups: Option<Arc<dyn FileBackups>>,
    /// Slows down sources that keep failing to authenticate.
    pub throttle: AuthThrottle,
    /// Who a request came from (the peer, or behind a trusted proxy its client).
    pub sources: SourceResolver,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: Arc<Settings>,
        app: Arc<App>,
        interpreter: Interpreter,
        webhook_tokens: TokenSet,
        api_tokens: TokenSet,
        metrics: Arc<Metrics>,
        scheduler: Arc<Scheduler>,
        dashboard: dashboard::Dashboard,
        links: Arc<LinkSigner>,
        backups: Option<Arc<dyn FileBackups>>,
    ) -> Self {
        let throttle = AuthThrottle::new(settings.server.auth_failures_per_minute);
        let sources = SourceResolver::new(settings.server.trusted_proxies.clone());
        Self {
            throttle,
            sources,
            settings,
            app,
            interpreter,
            webhook_tokens,
            api_tokens,
            metrics,
            scheduler,
            dashboard,
            links,
            backups,
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
        self.count_auth_failure(what);
        if self.throttle.failed(source, std::time::Instant::now()) {
            tracing::warn!(source = %source.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()), what, "too many failed authentications; throttling this source for up to a minute");
        }
    }

    /// Counts a failed authentication in the metrics only (the throttle already counted
    /// the attempt, see [`AuthThrottle::attempt`]).
    pub fn count_auth_failure(&self, what: &'static str) {
        self.metrics
            .auth_failures
            .get_or_create(&crate::metrics::AuthLabels { what: what.into() })
            .inc();
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
            .wrap(actix_web::middleware::from_fn(error::json_errors))
            .service(get("/openapi.json", openapi::document))
            .service(get("/callbacks", api::list_callbacks))
            .service(get("/callbacks.csv", data::callbacks_csv))
            .service(get("/callbacks/{id}", api::get_callback))
            .service(post("/callbacks/{id}/resolve", actions::resolve))
            .service(post("/callbacks/{id}/snooze", actions::snooze))
            .service(post("/callbacks/{id}/assign", actions::assign))
            .service(post("/callbacks/{id}/call", actions::call))
            .service(post("/callbacks/{id}/outcome", actions::outcome))
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
