//! The dashboard's pages: one callback, resolved history, unknown Telegram chats, the CSV
//! download (the pending list and the summary are in `overview.rs`).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::auth::flash;
use super::facts::{self, Clock};
use super::{render, require};
use crate::display::{humane_age, local_time, phone};
use crate::domain::callback::{Callback, CallbackId, ResolutionKind};
use crate::domain::stats::time_to_callback;
use crate::store::{ListQuery, StatusFilter, StoreError};
use crate::web::AppState;

/// A store read for a page: a failure is a plain page saying what to do (retry for
/// storage that is unavailable; nothing for a record that cannot be read).
pub(super) async fn read<T>(
    reading: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, Box<HttpResponse>> {
    reading.await.map_err(|e| Box::new(failed_page(&e)))
}

pub(super) fn failed_page(e: &StoreError) -> HttpResponse {
    crate::metrics::request_failed(e.kind());
    tracing::error!(error = %e.describe(), "dashboard read failed");
    if e.is_retryable() {
        HttpResponse::ServiceUnavailable()
            .insert_header(("retry-after", "5"))
            .body("Storage is unavailable; try again shortly.")
    } else {
        HttpResponse::InternalServerError()
            .body("Something stored could not be read; it has been logged for the admin.")
    }
}

async fn list(
    state: &AppState,
    status: StatusFilter,
    limit: usize,
) -> Result<Vec<Callback>, StoreError> {
    state
        .app
        .store
        .list_callbacks(ListQuery {
            status,
            limit,
            after: None,
            ..ListQuery::default()
        })
        .await
        .map(|p| p.callbacks)
}

/// `GET /export.csv?status=…`: the API's CSV export, for a signed-in supervisor.
pub async fn export_csv(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> HttpResponse {
    if let Err(r) = require(&state, &session, &req).await {
        return *r;
    }
    crate::web::data::csv_response(&state, &req)
        .await
        .unwrap_or_else(|e| actix_web::ResponseError::error_response(&e))
}

/// How a resolved callback ended, in a sentence; `None` while pending.
pub(super) fn resolution_text(cb: &Callback, zone: chrono_tz::Tz) -> Option<String> {
    cb.resolution.as_ref().map(|r| {
        let by = r
            .agent
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        let reason = r
            .reason
            .as_deref()
            .map(|x| format!(": {}", crate::display::resolution_reason(x)))
            .unwrap_or_default();
        format!("{}{by} at {}{reason}", how(r.kind), local_time(r.at, zone))
    })
}

pub(super) fn how(kind: ResolutionKind) -> &'static str {
    match kind {
        ResolutionKind::AnsweredInbound => "customer called again and got through",
        ResolutionKind::AnsweredOutbound => "called back",
        ResolutionKind::Manual => "resolved by hand",
    }
}

pub async fn callback(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let not_found = || {
        HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!("No callback with id {:?}.", id.as_str()))
    };
    let Ok(parsed) = id.trim().parse::<CallbackId>() else {
        return not_found();
    };
    let detail = match read(state.app.store.callback_detail(parsed)).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(),
        Err(r) => return *r,
    };
    let zone = state.settings.reminders.timezone;
    let rules = state.app.rules.get();
    let clock = Clock {
        zone,
        now: state.app.now(),
        rules: &rules,
    };
    let cb = &detail.callback;
    let mut view = facts::callback(cb, &clock);
    view["resolution"] = json!(resolution_text(cb, zone));
    let mut ctx = Map::new();
    ctx.insert("cb".into(), view);
    ctx.insert(
        "events".into(),
        detail
            .timeline
            .iter()
            .rev()
            .map(|e| facts::entry(e, zone))
            .collect::<Vec<_>>()
            .into(),
    );
    ctx.insert(
        "agents".into(),
        json!(
            state
                .settings
                .agents
                .iter()
                .map(|a| &a.name)
                .collect::<Vec<_>>()
        ),
    );
    ctx.insert(
        "click_to_call".into(),
        state.app.click_to_call.is_some().into(),
    );
    ctx.insert("flash".into(), flash(req.query_string()));
    render(
        &state,
        StatusCode::OK,
        "callback.html",
        Some(&viewer),
        "callback",
        ctx,
    )
}

pub async fn resolved(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let callbacks = match read(list(&state, StatusFilter::Resolved, 500)).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let zone = state.settings.reminders.timezone;
    let rows: Vec<Value> = callbacks
        .iter()
        .map(|c| {
            let r = c.resolution.as_ref();
            json!({
                "id": c.id.to_string(),
                "customer": phone(c.customer_number.as_str()),
                "tel": c.customer_number.as_str(),
                "resolved_at": c.resolved_at.map(|t| local_time(t, zone)),
                "time_to_callback": time_to_callback(c).map(humane_age),
                "how": r.map(|r| how(r.kind)),
                "by": r.and_then(|r| r.agent.clone()),
                "missed_calls": c.missed_calls,
                "reason": r.and_then(|r| r.reason.clone()),
            })
        })
        .collect();
    let mut ctx = Map::new();
    ctx.insert("rows".into(), rows.into());
    render(
        &state,
        StatusCode::OK,
        "resolved.html",
        Some(&viewer),
        "resolved",
        ctx,
    )
}

/// Telegram chats that wrote to the bot without being configured (SPEC §6.1).
pub async fn telegram(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let chats = match read(state.app.store.unknown_chats()).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let zone = state.settings.reminders.timezone;
    let mut ctx = Map::new();
    ctx.insert(
        "chats".into(),
        chats
            .iter()
            .map(|c| {
                json!({
                    "chat_id": c.chat_id,
                    "name": c.name,
                    "username": c.username,
                    "last_text": c.last_text,
                    "last_seen": local_time(c.last_seen, zone),
                    "messages": c.messages,
                })
            })
            .collect::<Vec<_>>()
            .into(),
    );
    render(
        &state,
        StatusCode::OK,
        "telegram.html",
        Some(&viewer),
        "telegram",
        ctx,
    )
}
