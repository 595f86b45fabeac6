//! The callback page's forms: resolve, snooze, assign. Each checks the CSRF token, acts
//! as the logged-in person, and answers `303` back to the callback page.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::{csrf_ok, forbidden, form_fields};
use super::{require, see_other};
use crate::app::ActOutcome;
use crate::app::{CallOutcome, snooze_until};
use crate::domain::actions::{Action, ActionError, Outcome};
use crate::domain::callback::CallbackId;
use crate::web::AppState;

async fn act(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    action: impl FnOnce(
        &AppState,
        &std::collections::HashMap<String, String>,
    ) -> Result<Action, &'static str>,
    done: &'static str,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let form = form_fields(&body);
    if !csrf_ok(&session, form.get("csrf").map(String::as_str)) {
        return forbidden();
    }
    let Ok(id) = id.trim().parse::<CallbackId>() else {
        return HttpResponse::NotFound().body("No such callback.");
    };
    let page = format!("/callbacks/{id}");
    let action = match action(&state, &form) {
        Ok(a) => a,
        Err(code) => return see_other(&format!("{page}?done={code}")),
    };
    match state.app.act(id, action, &viewer.name).await {
        // A wrong number resolves the callback: say so, not "recorded as an attempt".
        Ok(ActOutcome::Done(cb)) if done == "outcome" && !cb.is_pending() => {
            see_other(&format!("{page}?done=outcome_resolved"))
        }
        Ok(ActOutcome::Done(_)) => see_other(&format!("{page}?done={done}")),
        Ok(ActOutcome::Unchanged(_)) => see_other(&format!("{page}?done=unchanged_{done}")),
        Ok(ActOutcome::NotFound) => HttpResponse::NotFound().body("No such callback."),
        Ok(ActOutcome::Refused(ActionError::AlreadyResolved)) => {
            see_other(&format!("{page}?done=already_resolved"))
        }
        Ok(ActOutcome::Refused(_)) => see_other(&format!("{page}?done=invalid")),
        Err(e) => {
            tracing::error!(error = %e, "dashboard action failed on storage");
            HttpResponse::ServiceUnavailable()
                .body("Storage is unavailable; nothing changed. Try again shortly.")
        }
    }
}

pub async fn resolve(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let action = |_: &AppState, form: &std::collections::HashMap<String, String>| {
        let reason = form.get("reason").map(|r| r.trim()).unwrap_or_default();
        if reason.is_empty() {
            return Err("reason_missing");
        }
        Ok(Action::Resolve {
            reason: reason.chars().take(500).collect(),
        })
    };
    act(state, session, req, id, body, action, "resolved").await
}

pub async fn snooze(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let action = |state: &AppState, form: &std::collections::HashMap<String, String>| {
        let minutes = form
            .get("minutes")
            .and_then(|m| m.trim().parse::<i64>().ok());
        snooze_until(state.app.now(), minutes, None)
            .map(|until| Action::Snooze { until })
            .map_err(|_| "invalid")
    };
    act(state, session, req, id, body, action, "snoozed").await
}

/// The outcome of a call-back attempt (SPEC §11); "call later" takes `later_minutes`.
pub async fn outcome(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let action = |state: &AppState, form: &std::collections::HashMap<String, String>| {
        let outcome = form
            .get("outcome")
            .and_then(|o| Outcome::from_code(o))
            .ok_or("invalid")?;
        let at = match outcome {
            Outcome::CallLater => {
                let minutes = form
                    .get("later_minutes")
                    .and_then(|m| m.trim().parse::<i64>().ok());
                Some(snooze_until(state.app.now(), minutes, None).map_err(|_| "invalid")?)
            }
            _ => None,
        };
        Ok(Action::Outcome { outcome, at })
    };
    act(state, session, req, id, body, action, "outcome").await
}

pub async fn assign(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let action = |state: &AppState, form: &std::collections::HashMap<String, String>| {
        let name = form.get("agent").map(|a| a.trim()).unwrap_or_default();
        state
            .interpreter
            .agents
            .by_name(name)
            .map(|a| Action::Assign { agent: a.to_ref() })
            .ok_or("unknown_agent")
    };
    act(state, session, req, id, body, action, "assigned").await
}

/// "Call back now" from the callback page: Smartflo rings the assigned agent, then the
/// customer; recorded as the supervisor who asked.
pub async fn call(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let form = form_fields(&body);
    if !csrf_ok(&session, form.get("csrf").map(String::as_str)) {
        return forbidden();
    }
    let Ok(id) = id.trim().parse::<CallbackId>() else {
        return HttpResponse::NotFound().body("No such callback.");
    };
    let page = format!("/callbacks/{id}");
    match state.app.call_back(id, None, &viewer.name).await {
        Ok(CallOutcome::Placed { .. }) => see_other(&format!("{page}?done=calling")),
        Ok(CallOutcome::Failed { .. }) => see_other(&format!("{page}?done=call_failed")),
        Ok(CallOutcome::Refused(_)) => see_other(&format!("{page}?done=call_refused")),
        Err(e) => {
            tracing::error!(error = %e, "dashboard call-back failed on storage");
            HttpResponse::ServiceUnavailable().body("Storage is unavailable; try again shortly.")
        }
    }
}
