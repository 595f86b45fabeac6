//! `POST /api/v1/callbacks/{id}/resolve|snooze|assign` (SPEC §7): a person's action, as a
//! timeline entry with who did it. Unknown id 404, bad body 400, already resolved 409.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::api::{authorize, renderer};
use super::{AppState, WebError};
use crate::app::{ActOutcome, CallOutcome, snooze_until};
use crate::domain::actions::{Action, ActionError, Outcome};
use crate::domain::callback::CallbackId;

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
    #[serde(default, deserialize_with = "rfc3339")]
    until: Option<DateTime<chrono::FixedOffset>>,
    who: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    agent: String,
    who: Option<String>,
}

pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WebError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| WebError::BadRequest(format!("bad JSON body: {e}")))?;
    if let Some(fields) = value.as_object() {
        for (k, v) in fields {
            if let Some(text) = v.as_str() {
                super::error::refuse_nul(text, format_args!("field {k:?}"))?;
            }
        }
    }
    serde_json::from_value(value).map_err(|e| WebError::BadRequest(format!("bad JSON body: {e}")))
}

/// A time in a body: RFC 3339 with its offset, refused with what to write instead (serde's
/// own "input contains invalid characters" names neither the value nor the form).
fn rfc3339<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<chrono::FixedOffset>>, D::Error> {
    use serde::de::Error;
    let raw: Option<String> = Option::deserialize(d)?;
    raw.map(|r| {
        // chrono's own reading (as serde's was): RFC 3339, and `+0530` or a space too.
        r.trim().parse::<DateTime<chrono::FixedOffset>>().map_err(|_| {
            D::Error::custom(format!(
                "{r:?} is not a time: write it in RFC 3339 with its offset, e.g. \"2026-05-28T15:00:00+05:30\""
            ))
        })
    })
    .transpose()
}

fn who(given: Option<String>) -> String {
    given
        .map(|w| crate::smartflo::event::clip(w.trim(), 80))
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| crate::domain::actions::ANONYMOUS_API_CALLER.to_string())
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
        state.app.now(),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    outcome: String,
    #[serde(default, deserialize_with = "rfc3339")]
    at: Option<DateTime<chrono::FixedOffset>>,
    who: Option<String>,
}

/// `POST /api/v1/callbacks/{id}/outcome` `{"outcome":"no_answer|busy|switched_off|
/// wrong_number|call_later","at":"…"}` (SPEC §11): the outcome of a call-back attempt, on
/// the timeline and counted as an attempt; `wrong_number` resolves, `call_later` snoozes
/// until `at` (required for it, at most 7 days ahead, refused for the others).
pub async fn outcome(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let id = callback_id(&id)?;
    let body: OutcomeBody = parse(&body)?;
    let outcome = Outcome::from_code(&body.outcome).ok_or_else(|| {
        let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.code()).collect();
        WebError::BadRequest(format!(
            "unknown outcome {:?}; one of {}",
            body.outcome,
            known.join(", ")
        ))
    })?;
    let at = body.at.map(|a| a.with_timezone(&Utc));
    if let Some(at) = at
        && at > state.app.now() + chrono::Duration::minutes(crate::app::MAX_SNOOZE_MINUTES)
    {
        return Err(WebError::BadRequest(
            "\"at\" may be at most 7 days ahead".into(),
        ));
    }
    act(&state, id, Action::Outcome { outcome, at }, who(body.who)).await
}

fn callback_id(raw: &str) -> Result<CallbackId, WebError> {
    raw.trim()
        .parse()
        .map_err(|_| WebError::NotFound(format!("no callback with id {raw:?}")))
}

async fn act(
    state: &AppState,
    id: CallbackId,
    action: Action,
    who: String,
) -> Result<HttpResponse, WebError> {
    match state.app.act(id, action, &who).await? {
        ActOutcome::Done(cb) | ActOutcome::Unchanged(cb) => {
            Ok(HttpResponse::Ok().json(renderer(state).callback(&cb, None)))
        }
        ActOutcome::NotFound => Err(WebError::NotFound(format!("no callback with id {id}"))),
        ActOutcome::Refused(e @ ActionError::AlreadyResolved) => {
            Err(WebError::Conflict(e.to_string()))
        }
        ActOutcome::Refused(e) => Err(WebError::BadRequest(e.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    agent: Option<String>,
    who: Option<String>,
}

/// `POST /api/v1/callbacks/{id}/call` `{"agent":"Priya"}` (agent optional: the assigned
/// one): asks Smartflo to place the call-back. `200` when Smartflo accepted it, `502` with
/// its reason when it refused, `400`/`404`/`409` when it could not be asked.
pub async fn call(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    let id = callback_id(&id)?;
    let body: CallBody = if body.is_empty() {
        CallBody {
            agent: None,
            who: None,
        }
    } else {
        parse(&body)?
    };
    match state
        .app
        .call_back(id, body.agent.as_deref(), &who(body.who))
        .await?
    {
        CallOutcome::Placed { agent, message } => Ok(HttpResponse::Ok()
            .json(serde_json::json!({"ok": true, "agent": agent, "message": message}))),
        CallOutcome::Failed { agent, reason } => Ok(HttpResponse::BadGateway()
            .json(serde_json::json!({"ok": false, "agent": agent, "error": reason}))),
        CallOutcome::Refused(why) if why == "no such callback" => {
            Err(WebError::NotFound(format!("no callback with id {id}")))
        }
        CallOutcome::Refused(why) if why.contains("already resolved") => {
            Err(WebError::Conflict(why))
        }
        CallOutcome::Refused(why) => Err(WebError::BadRequest(why)),
    }
}
