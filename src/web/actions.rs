//! `POST /api/v1/callbacks/{id}/resolve|snooze|assign` (SPEC §7): a person's action, as a
//! timeline entry with who did it. Unknown id 404, bad body 400, already resolved 409.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::api::{authorize, renderer};
use super::{AppState, WebError};
use crate::domain::actions::{Action, ActionError};
use crate::domain::callback::CallbackId;
use crate::store::{ActOutcome, ActRequest, StoreError};

const MAX_SNOOZE_MINUTES: i64 = 7 * 24 * 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    reason: String,
    who: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    minutes: Option<i64>,
    until: Option<DateTime<chrono::FixedOffset>>,
    who: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    agent: String,
    who: Option<String>,
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WebError> {
    serde_json::from_slice(body).map_err(|e| WebError::BadRequest(format!("bad JSON body: {e}")))
}

fn who(given: Option<String>) -> String {
    given
        .map(|w| w.trim().chars().take(80).collect::<String>())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "api".to_string())
}

pub async fn resolve(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let id = callback_id(&id)?;
    let body: ResolveBody = parse(&body)?;
    let reason = body.reason.trim();
    if reason.is_empty() {
        return Err(WebError::BadRequest("reason must not be empty".into()));
    }
    let action = Action::Resolve {
        reason: reason.chars().take(500).collect(),
    };
    act(&state, id, action, who(body.who)).await
}

pub async fn snooze(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let id = callback_id(&id)?;
    let body: SnoozeBody = parse(&body)?;
    let until = snooze_until(
        state.clock.now(),
        body.minutes,
        body.until.map(|u| u.with_timezone(&Utc)),
    )
    .map_err(WebError::BadRequest)?;
    act(&state, id, Action::Snooze { until }, who(body.who)).await
}

pub async fn assign(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let id = callback_id(&id)?;
    let body: AssignBody = parse(&body)?;
    let agent = state
        .interpreter
        .agents
        .by_name(&body.agent)
        .ok_or_else(|| WebError::BadRequest(format!("{:?} is not a configured agent", body.agent)))?
        .to_ref();
    act(&state, id, Action::Assign { agent }, who(body.who)).await
}

fn callback_id(raw: &str) -> Result<CallbackId, WebError> {
    raw.trim()
        .parse()
        .map_err(|_| WebError::NotFound(format!("no callback with id {raw:?}")))
}

/// When a snooze of `minutes` (or until `until`) from `now` ends; one of the two, at most
/// seven days ahead.
pub fn snooze_until(
    now: DateTime<Utc>,
    minutes: Option<i64>,
    until: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, String> {
    let until = match (minutes, until) {
        (Some(m), None) if (1..=MAX_SNOOZE_MINUTES).contains(&m) => now + Duration::minutes(m),
        (Some(m), None) => {
            return Err(format!(
                "minutes must be from 1 to {MAX_SNOOZE_MINUTES}, not {m}"
            ));
        }
        (None, Some(until)) => until,
        _ => return Err("give either \"minutes\" or \"until\" (RFC 3339)".into()),
    };
    if until > now + Duration::minutes(MAX_SNOOZE_MINUTES) {
        return Err("a snooze may last at most 7 days".into());
    }
    Ok(until)
}

/// Applies a person's action through the store and wakes the scheduler when it changed
/// something (the API and the dashboard both act through here).
pub async fn perform(
    state: &AppState,
    id: CallbackId,
    action: Action,
    who: String,
) -> Result<ActOutcome, StoreError> {
    let outcome = state
        .store
        .act(ActRequest {
            id,
            action,
            who,
            now: state.clock.now(),
            rules: state.rules.get(),
        })
        .await?;
    if matches!(outcome, ActOutcome::Done(_)) {
        state.scheduler.nudge();
    }
    Ok(outcome)
}

async fn act(
    state: &AppState,
    id: CallbackId,
    action: Action,
    who: String,
) -> Result<HttpResponse, WebError> {
    match perform(state, id, action, who).await? {
        ActOutcome::Done(cb) => Ok(HttpResponse::Ok().json(renderer(state).callback(&cb, None))),
        ActOutcome::NotFound => Err(WebError::NotFound(format!("no callback with id {id}"))),
        ActOutcome::Refused(e @ ActionError::AlreadyResolved) => {
            Err(WebError::Conflict(e.to_string()))
        }
        ActOutcome::Refused(e) => Err(WebError::BadRequest(e.to_string())),
    }
}
