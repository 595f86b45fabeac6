//! The read API (SPEC §7): `GET /api/v1/callbacks`, `GET /api/v1/callbacks/{id}`, behind
//! `Authorization: Bearer <api token>`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::webhook::bearer_token;
use super::{AppState, WebError};
use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::domain::schedule::BusinessHours;
use crate::store::{EventRecord, ListQuery, StatusFilter, StoreError};

const DEFAULT_LIMIT: usize = 1000;

fn authorize(state: &AppState, req: &HttpRequest) -> Result<(), WebError> {
    match bearer_token(req) {
        Some(t) if state.api_tokens.accepts(&t) => Ok(()),
        Some(_) => Err(WebError::Unauthorized("unknown API token")),
        None => Err(WebError::Unauthorized(
            "missing Authorization: Bearer <api token>",
        )),
    }
}

#[derive(serde::Deserialize)]
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
    let status = match params.status.as_deref().map(str::trim) {
        None | Some("") | Some("pending") => StatusFilter::Pending,
        Some("resolved") => StatusFilter::Resolved,
        Some("all") => StatusFilter::All,
        Some(other) => {
            return Err(WebError::BadRequest(format!(
                "status {other:?} is not one of pending, resolved, all"
            )));
        }
    };
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=10_000).contains(l))
            .ok_or_else(|| {
                WebError::BadRequest(format!("limit {l:?} is not a number from 1 to 10000"))
            })?,
    };
    let query = ListQuery {
        status,
        limit,
        after: params.cursor,
    };
    let store = state.store.clone();
    let page = blocking(move || store.list_callbacks(&query)).await?;
    let view = View::new(&state);
    Ok(HttpResponse::Ok().json(json!({
        "callbacks": page.callbacks.iter().map(|c| view.callback(c)).collect::<Vec<_>>(),
        "next_cursor": page.next,
    })))
}

pub async fn get_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let not_found = || WebError::NotFound(format!("no callback with id {:?}", id.as_str()));
    let parsed: CallbackId = id.trim().parse().map_err(|_| not_found())?;
    let store = state.store.clone();
    let detail = blocking(move || store.callback(parsed))
        .await?
        .ok_or_else(not_found)?;
    let view = View::new(&state);
    let mut body = view.callback(&detail.callback);
    body["events"] = detail.timeline.iter().map(|e| view.entry(e)).collect();
    Ok(HttpResponse::Ok().json(body))
}

#[derive(serde::Deserialize)]
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
    let store = state.store.clone();
    let events = blocking(move || store.events(after, limit)).await?;
    let view = View::new(&state);
    Ok(HttpResponse::Ok().json(json!({
        "events": events.iter().map(|e| view.event(e, None)).collect::<Vec<_>>(),
    })))
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
    let store = state.store.clone();
    let (record, body) = blocking(move || store.event(parsed))
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(View::new(&state).event(&record, Some(&body))))
}

/// Runs a blocking store read on actix's blocking pool.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, WebError> {
    web::block(read)
        .await
        .map_err(|e| WebError::Unavailable(StoreError::Io(e.to_string())))?
        .map_err(WebError::from)
}

fn parse_limit(raw: Option<&str>) -> Result<usize, WebError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => l
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=10_000).contains(l))
            .ok_or_else(|| {
                WebError::BadRequest(format!("limit {l:?} is not a number from 1 to 10000"))
            }),
    }
}

fn serde_urlencoded_params<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, WebError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let value = Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    );
    serde_json::from_value(value).map_err(|e| WebError::BadRequest(format!("bad query: {e}")))
}

/// Renders domain values as the API's JSON: times in the configured zone, RFC 3339.
struct View<'a> {
    zone: Tz,
    hours: &'a BusinessHours,
}

impl<'a> View<'a> {
    fn new(state: &'a AppState) -> Self {
        Self {
            zone: state.settings.reminders.timezone,
            hours: &state.settings.reminders.business_hours,
        }
    }

    fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.zone)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    fn opt_time(&self, t: Option<DateTime<Utc>>) -> Value {
        t.map_or(Value::Null, |t| json!(self.time(t)))
    }

    fn callback(&self, cb: &Callback) -> Value {
        json!({
            "id": cb.id.to_string(),
            "customer_number": cb.customer_number.as_str(),
            "status": cb.status,
            "missed_calls": cb.missed_calls,
            "first_missed_at": self.time(cb.first_missed_at),
            "last_missed_at": self.time(cb.last_missed_at),
            "assigned_agent": cb.assigned_agent.as_ref().map(|a| json!({
                "name": a.name,
                "number": a.number.as_ref().map(|n| n.as_str()),
            })),
            "missed_agents": cb.missed_agents.iter().map(|a| json!({
                "name": a.name,
                "number": a.number.as_ref().map(|n| n.as_str()),
                "smartflo_id": a.smartflo_id,
                "agent": a.agent,
            })).collect::<Vec<_>>(),
            "department": cb.department,
            "attempts": cb.attempts,
            "reminders_sent": cb.reminders_sent,
            "escalation_level": cb.escalation_level,
            "next_reminder_at": self.opt_time(cb.next_reminder_at(self.hours)),
            "snoozed_until": self.opt_time(cb.snoozed_until),
            "resolved_at": self.opt_time(cb.resolved_at),
            "resolution": cb.resolution.as_ref().map(|r| json!({
                "kind": r.kind,
                "call_id": r.call_id,
                "agent": r.agent,
                "at": self.time(r.at),
                "reason": r.reason,
            })),
        })
    }

    fn event(&self, e: &EventRecord, body: Option<&[u8]>) -> Value {
        let mut v = json!({
            "id": e.id.to_string(),
            "received_at": self.time(e.received_at),
            "trigger": e.trigger,
            "trigger_inferred": e.trigger_inferred,
            "effect": e.effect,
            "note": e.note,
            "callback_id": e.callback_id.map(|c| c.to_string()),
            "call_id": e.call_id,
            "uuid": e.uuid,
            "method": e.raw.method,
            "content_type": e.raw.content_type,
            "query": e.raw.query,
            "headers": e.raw.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "body_bytes": e.body_len,
        });
        if let Some(body) = body {
            v["body"] = json!(String::from_utf8_lossy(body));
        }
        v
    }

    fn entry(&self, e: &TimelineEntry) -> Value {
        json!({
            "at": self.time(e.at),
            "kind": e.kind,
            "trigger": e.trigger,
            "call_id": e.call_id,
            "event_id": e.event_id,
            "agent": e.agent,
            "who": e.who,
            "detail": e.detail,
        })
    }
}
