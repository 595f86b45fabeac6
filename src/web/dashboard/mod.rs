//! The supervisors' dashboard (SPEC §8): server-rendered pages behind an HTML login, usable
//! without JavaScript and on a phone. Pages come from `templates/dashboard/` (editable like
//! the message templates); everything a caller can influence is HTML-escaped by minijinja.
//!
//! Every POST carries the session's CSRF token; sessions live in an encrypted, signed
//! cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when `public_url` is https) whose key is kept
//! in the data directory.

mod auth;
mod facts;
mod forms;
mod links;
mod overview;
mod pages;
mod password;
mod rules;
mod session;
mod unreadable;
mod view;

use std::path::Path;

use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value};

use super::AppState;
use crate::config::DashboardUser;
use crate::templating::{TemplateError, TemplateSet};

pub use auth::session_middleware;

/// Pages, with their built-in texts.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "dashboard/layout.html",
        include_str!("../../../templates/dashboard/layout.html"),
    ),
    (
        "dashboard/login.html",
        include_str!("../../../templates/dashboard/login.html"),
    ),
    (
        "dashboard/pending.html",
        include_str!("../../../templates/dashboard/pending.html"),
    ),
    (
        "dashboard/callback.html",
        include_str!("../../../templates/dashboard/callback.html"),
    ),
    (
        "dashboard/facts.html",
        include_str!("../../../templates/dashboard/facts.html"),
    ),
    (
        "dashboard/timeline.html",
        include_str!("../../../templates/dashboard/timeline.html"),
    ),
    (
        "dashboard/view.html",
        include_str!("../../../templates/dashboard/view.html"),
    ),
    (
        "dashboard/resolved.html",
        include_str!("../../../templates/dashboard/resolved.html"),
    ),
    (
        "dashboard/summary.html",
        include_str!("../../../templates/dashboard/summary.html"),
    ),
    (
        "dashboard/rules.html",
        include_str!("../../../templates/dashboard/rules.html"),
    ),
    (
        "dashboard/off.html",
        include_str!("../../../templates/dashboard/off.html"),
    ),
    (
        "dashboard/telegram.html",
        include_str!("../../../templates/dashboard/telegram.html"),
    ),
    (
        "dashboard/unreadable.html",
        include_str!("../../../templates/dashboard/unreadable.html"),
    ),
    (
        "dashboard/action.html",
        include_str!("../../../templates/dashboard/action.html"),
    ),
];

const CSS: &str = include_str!("../../../templates/dashboard/ringback.css");

/// What the dashboard needs beyond the shared state.
pub struct Dashboard {
    pages: TemplateSet,
    users: Vec<DashboardUser>,
    /// Checks login passwords, a few at a time.
    passwords: password::PasswordChecker,
}

impl Dashboard {
    /// Loads the page templates (from `dir` where overridden); compiled at startup.
    pub fn load(dir: &Path, users: Vec<DashboardUser>) -> Result<Self, Vec<TemplateError>> {
        let pages =
            TemplateSet::load(dir, BUILTIN, |env, name| env.get_template(name).map(|_| ()))?;
        Ok(Self {
            pages,
            users,
            passwords: password::PasswordChecker::new(),
        })
    }

    /// The dashboard `settings` describe (failing on any broken page template).
    pub fn for_settings(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        Self::load(&settings.templates.dir, settings.dashboard.users.clone()).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        })
    }

    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }
}

/// Registers the dashboard's routes (inside the session-wrapped scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview::pending))
        .route("/assets/ringback.css", web::get().to(stylesheet))
        .route("/login", web::get().to(auth::login_page))
        .route("/login", web::post().to(auth::login))
        .route("/logout", web::post().to(auth::logout))
        .route("/callbacks/{id}", web::get().to(pages::callback))
        .route("/callbacks/{id}/resolve", web::post().to(forms::resolve))
        .route("/callbacks/{id}/snooze", web::post().to(forms::snooze))
        .route("/callbacks/{id}/outcome", web::post().to(forms::outcome))
        .route("/callbacks/{id}/assign", web::post().to(forms::assign))
        .route("/callbacks/{id}/call", web::post().to(forms::call))
        .route("/resolved", web::get().to(pages::resolved))
        .route("/export.csv", web::get().to(pages::export_csv))
        .route("/summary", web::get().to(overview::summary))
        .route("/rules", web::get().to(rules::page))
        .route("/rules", web::post().to(rules::save))
        .route("/rules/reset", web::post().to(rules::reset))
        .route("/telegram", web::get().to(pages::telegram))
        .route("/unreadable", web::get().to(unreadable::page))
        .route("/a/{token}", web::get().to(links::confirm))
        .route("/a/{token}", web::post().to(links::act))
        .route("/v/{token}", web::get().to(view::page));
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(CSS)
}

/// Security headers for every dashboard page.
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "same-origin"))
}

/// Renders a page with the common context (who is logged in, the CSRF token, the page).
fn render(
    state: &AppState,
    status: actix_web::http::StatusCode,
    template: &str,
    viewer: Option<&auth::Viewer>,
    page: &str,
    mut ctx: Map<String, Value>,
) -> HttpResponse {
    let dashboard = &state.dashboard;
    ctx.insert("page".into(), page.into());
    ctx.entry("flash").or_insert(Value::Null);
    ctx.entry("refresh").or_insert(Value::Null);
    match viewer {
        Some(v) => {
            ctx.insert("user".into(), v.name.clone().into());
            ctx.insert("csrf".into(), v.csrf.clone().into());
        }
        None => {
            ctx.insert("user".into(), Value::Null);
            ctx.entry("csrf").or_insert(Value::Null);
        }
    }
    match dashboard
        .pages
        .render(&format!("dashboard/{template}"), Value::Object(ctx))
    {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "rendering a dashboard page failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("This page could not be rendered; the log says why.")
        }
    }
}

/// `303 See Other` to `location` (after a form post, or to the login page).
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The page a form posting to `path` lives on: after logging in again, the browser is sent
/// there (a GET of the form's own address would be a 404).
fn page_of_form(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("callbacks"), Some(id)) => format!("/callbacks/{id}"),
        (Some("rules"), _) => "/rules".into(),
        _ => "/".into(),
    }
}

/// The logged-in viewer, or the response to send instead: the login page (or a note that
/// the dashboard is off).
async fn require(
    state: &AppState,
    session: &Session,
    req: &actix_web::HttpRequest,
) -> Result<auth::Viewer, Box<HttpResponse>> {
    let dashboard = &state.dashboard;
    if !dashboard.enabled() {
        return Err(Box::new(render(
            state,
            actix_web::http::StatusCode::NOT_FOUND,
            "off.html",
            None,
            "off",
            Map::new(),
        )));
    }
    let viewer = session::viewer(
        session,
        dashboard,
        state.app.store.as_ref(),
        state.app.now(),
    )
    .await
    .map_err(|e| Box::new(pages::failed_page(&e)))?;
    viewer.ok_or_else(|| {
        let next = match (
            req.method() == actix_web::http::Method::GET,
            req.query_string(),
        ) {
            (false, _) => page_of_form(req.path()),
            (true, "") => req.path().to_string(),
            (true, q) => format!("{}?{q}", req.path()),
        };
        let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        Box::new(see_other(&format!("/login?next={next}")))
    })
}
