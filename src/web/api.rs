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
use crate::store::{ListQuery, StatusFilter};

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
    let page = web::block(move || store.list_callbacks(&query))
        .await
        .map_err(|e| WebError::Unavailable(crate::store::StoreError::Io(e.to_string())))??;
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
    let detail = web::block(move || store.callback(parsed))
        .await
        .map_err(|e| WebError::Unavailable(crate::store::StoreError::Io(e.to_string())))??
        .ok_or_else(not_found)?;
    let view = View::new(&state);
    let mut body = view.callback(&detail.callback);
    body["events"] = detail.timeline.iter().map(|e| view.entry(e)).collect();
    Ok(HttpResponse::Ok().json(body))
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
