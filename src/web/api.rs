//! The read API (SPEC §7): `GET /api/v1/callbacks`, `GET /api/v1/callbacks/{id}`, behind
//! `Authorization: Bearer <api token>`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::views::{CallbackList, EventList, Renderer};
use super::webhook::bearer_token;
use super::{AppState, WebError};
use crate::domain::callback::CallbackId;
use crate::store::{Cursor, ListQuery};

const DEFAULT_LIMIT: usize = 1000;

/// Lets a request with a configured API token through; a source that keeps presenting
/// wrong ones is answered `429` without its token being looked at.
pub fn authorize(state: &AppState, req: &HttpRequest) -> Result<(), WebError> {
    state.throttled(req)?;
    let refused = match bearer_token(req) {
        Some(t) if state.api_tokens.accepts(&t) => return Ok(()),
        Some(_) => WebError::Unauthorized("unknown API token"),
        None => WebError::Unauthorized("missing Authorization: Bearer <api token>"),
    };
    state.auth_failed(req, "api");
    Err(refused)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_callbacks(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let params: ListParams = serde_urlencoded_params(req.query_string())?;
    let status =
        crate::export::parse_status(params.status.as_deref()).map_err(WebError::BadRequest)?;
    let limit = parse_limit(params.limit.as_deref())?;
    let after = match params
        .cursor
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) => Some(Cursor::parse(c).map_err(WebError::BadRequest)?),
        None => None,
    };
    let query = ListQuery {
        status,
        limit,
        after,
        ..ListQuery::default()
    };
    let page = state.app.store.list_callbacks(query).await?;
    let view = renderer(&state);
    Ok(HttpResponse::Ok().json(CallbackList {
        callbacks: page
            .callbacks
            .iter()
            .map(|c| view.callback(c, None))
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

pub async fn get_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let not_found = || WebError::NotFound(format!("no callback with id {:?}", id.as_str()));
    let parsed: CallbackId = id.trim().parse().map_err(|_| not_found())?;
    let detail = state
        .app
        .store
        .callback_detail(parsed)
        .await?
        .ok_or_else(not_found)?;
    let view = renderer(&state);
    Ok(HttpResponse::Ok().json(view.callback(&detail.callback, Some(&detail.timeline))))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/events?after=<event id>&limit=N`: the event log in receive order (audit).
pub async fn list_events(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let params: EventParams = serde_urlencoded_params(req.query_string())?;
    let after = match params
        .after
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(a) => Some(
            ulid::Ulid::from_string(a)
                .map_err(|_| WebError::BadRequest(format!("after {a:?} is not an event id")))?,
        ),
        None => None,
    };
    let limit = parse_limit(params.limit.as_deref())?;
    let events = state.app.store.events(after, limit).await?;
    let view = renderer(&state);
    Ok(HttpResponse::Ok().json(EventList {
        events: events.iter().map(|e| view.event(e, None)).collect(),
    }))
}

/// `GET /api/v1/events/{id}`: one event with its raw body.
pub async fn get_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let not_found = || WebError::NotFound(format!("no event with id {:?}", id.as_str()));
    let parsed = ulid::Ulid::from_string(id.trim()).map_err(|_| not_found())?;
    let (record, body) = state.app.store.event(parsed).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(renderer(&state).event(&record, Some(&body))))
}

fn parse_limit(raw: Option<&str>) -> Result<usize, WebError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=10_000).contains(l))
            .ok_or_else(|| {
                WebError::BadRequest(format!("limit {l:?} is not a number from 1 to 10000"))
            }),
    }
}

pub(super) fn serde_urlencoded_params<T: serde::de::DeserializeOwned>(
    query: &str,
) -> Result<T, WebError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    for (k, v) in &pairs {
        super::error::refuse_nul(k, "a query parameter's name")?;
        super::error::refuse_nul(v, format_args!("query parameter {k:?}"))?;
    }
    let value = Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    );
    // A misspelt parameter (`?statuss=all`) is refused, as a misspelt body field is, rather
    // than quietly answered as if it were not there.
    serde_json::from_value(value).map_err(|e| {
        let e = e.to_string().replace("unknown field", "unknown parameter");
        WebError::BadRequest(format!("bad query: {e}"))
    })
}

pub fn renderer(state: &AppState) -> Renderer {
    Renderer {
        zone: state.settings.reminders.timezone,
        rules: state.app.rules.get(),
        now: state.app.now(),
    }
}
