//! `GET|POST /a/{token}`: the signed one-tap links in emails (SPEC §6.1). The GET only
//! shows what the link would do and a button; the POST does it, in the name of the person
//! the email went to. Mail scanners that fetch links therefore change nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde_json::{Map, Value, json};

use super::pages::how;
use super::render;
use crate::app::{ActOutcome, CallOutcome};
use crate::display::{humane_age, local_time};
use crate::domain::actions::{Action, ActionError, CALL_LATER_MINUTES, Outcome, QuickAction};
use crate::domain::callback::{Callback, CallbackId};
use crate::links::{ActionLink, LinkError, ViewLink, view_lifetime};
use crate::web::AppState;

const SNOOZE_MINUTES: i64 = 30;

pub(super) fn page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    cb: Option<&Callback>,
    extra: Map<String, Value>,
) -> HttpResponse {
    let zone = state.settings.reminders.timezone;
    let now = state.app.now();
    let mut ctx = extra;
    ctx.insert("title".into(), title.into());
    ctx.insert("message".into(), message.into());
    ctx.insert(
        "customer".into(),
        json!(cb.map(|c| crate::display::phone(c.customer_number.as_str()))),
    );
    ctx.insert(
        "summary".into(),
        json!(cb.map(|c| format!(
            "missed {} time{}, first received {} ({} ago), agent: {}",
            c.missed_calls,
            if c.missed_calls == 1 { "" } else { "s" },
            local_time(c.first_received_at, zone),
            humane_age(now - c.first_received_at),
            c.assigned_agent.as_ref().map_or("nobody assigned", |a| a.name.as_str()),
        ))),
    );
    // Pages reached from a signed link carry a signed view instead (see `with_view`).
    ctx.entry("link")
        .or_insert_with(|| json!(cb.map(|c| format!("/callbacks/{}", c.id))));
    ctx.entry("confirm").or_insert(Value::Null);
    ctx.entry("action_url").or_insert(Value::Null);
    render(state, status, "action.html", None, "action", ctx)
}

/// The link's action, checked; or the page saying why it cannot be used. `acting` is true
/// for the POST: a replay on a resolved callback is then a conflict, not information.
async fn open(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    acting: bool,
) -> Result<(ActionLink, Callback), HttpResponse> {
    if state.throttled(req).is_err() {
        return Err(page(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many bad links",
            "Too many links that Ringback did not make came from your address. Wait a minute and try again.",
            None,
            Map::new(),
        ));
    }
    let link = match state.links.verify(token, state.app.now()) {
        Ok(link) => link,
        Err(LinkError::Invalid) => {
            state.auth_failed(req, "link");
            return Err(page(
                state,
                StatusCode::FORBIDDEN,
                "Link not valid",
                "This link was not made by Ringback, or it was changed.",
                None,
                Map::new(),
            ));
        }
        Err(LinkError::Expired(link)) => {
            let cb = load(state, &link).await;
            return Err(page(
                state,
                StatusCode::GONE,
                "Link expired",
                "This link has expired; open the callback to act on it.",
                cb.as_ref(),
                Map::new(),
            ));
        }
    };
    match load(state, &link).await {
        Some(cb) if cb.is_pending() => Ok((link, cb)),
        Some(cb) => {
            let how = cb.resolution.as_ref().map_or("resolved", |r| how(r.kind));
            let status = if acting {
                StatusCode::CONFLICT
            } else {
                StatusCode::OK
            };
            Err(page(
                state,
                status,
                "Already resolved",
                &format!("Nothing to do: this callback is already resolved ({how})."),
                Some(&cb),
                // Its signed view: the person may be an agent, who has no dashboard login.
                with_view(state, &link, Map::new()),
            ))
        }
        None => Err(page(
            state,
            StatusCode::NOT_FOUND,
            "No such callback",
            "This callback no longer exists.",
            None,
            Map::new(),
        )),
    }
}

/// `extra` with the "open the callback" link as a signed view for `who` (agents have no
/// dashboard login).
fn with_view(
    state: &AppState,
    link: &ActionLink,
    mut extra: Map<String, Value>,
) -> Map<String, Value> {
    extra.insert(
        "link".into(),
        view_url(state, link.callback, &link.who).into(),
    );
    extra
}

/// A signed view of `callback` for `who`, as a path under the service.
pub(super) fn view_url(state: &AppState, callback: CallbackId, who: &str) -> String {
    let token = state.links.sign_view(&ViewLink {
        callback,
        who: who.to_string(),
        expires: state.app.now() + view_lifetime(),
    });
    format!("/v/{token}")
}

async fn load(state: &AppState, link: &ActionLink) -> Option<Callback> {
    load_id(state, link.callback).await
}

pub(super) async fn load_id(state: &AppState, id: CallbackId) -> Option<Callback> {
    state.app.store.callback(id).await.ok()?.map(|c| c.value)
}

fn wording(action: QuickAction) -> (&'static str, &'static str, &'static str) {
    match action {
        QuickAction::Snooze => (
            "Snooze 30 minutes?",
            "No reminders for 30 minutes.",
            "Snooze 30 minutes",
        ),
        QuickAction::Take => (
            "Take this callback?",
            "It will be assigned to you and the reminders will come to you.",
            "Take it",
        ),
        QuickAction::CalledBack => (
            "Mark as called back?",
            "The callback will be resolved and the reminders stop.",
            "Called back",
        ),
        QuickAction::CallBack => (
            "Call back now?",
            "Smartflo will ring you first, then connect the customer.",
            "Call back now",
        ),
        QuickAction::Outcome(Outcome::NoAnswer) => (
            "Record: no answer?",
            "The attempt is counted; the reminders go on.",
            "No answer",
        ),
        QuickAction::Outcome(Outcome::Busy) => (
            "Record: busy?",
            "The attempt is counted; the reminders go on.",
            "Busy",
        ),
        QuickAction::Outcome(Outcome::SwitchedOff) => (
            "Record: switched off?",
            "The attempt is counted; the reminders go on.",
            "Switched off",
        ),
        QuickAction::Outcome(Outcome::WrongNumber) => (
            "Record: wrong number?",
            "The callback will be closed as a wrong number and the reminders stop.",
            "Wrong number",
        ),
        QuickAction::Outcome(Outcome::CallLater) => (
            "Customer asked to be called later?",
            "The attempt is counted and the reminders pause for an hour.",
            "Call later (1 h)",
        ),
    }
}

pub async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    let (link, cb) = match open(&state, &req, &token, false).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let (title, message, button) = wording(link.action);
    let mut extra = with_view(&state, &link, Map::new());
    extra.insert("confirm".into(), button.into());
    extra.insert("action_url".into(), req.path().into());
    page(
        &state,
        StatusCode::OK,
        title,
        &format!("{message} (As {}.)", link.who),
        Some(&cb),
        extra,
    )
}

pub async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    let (link, cb) = match open(&state, &req, &token, true).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let ops = &state.app;
    let id = link.callback;
    let who = link.who.as_str();
    let agent = ops.agents.by_name(who).map(|a| a.to_ref());
    let done = |title: &str, message: String| {
        page(
            &state,
            StatusCode::OK,
            title,
            &message,
            Some(&cb),
            with_view(&state, &link, Map::new()),
        )
    };
    let refused = |status: StatusCode, message: String| {
        page(
            &state,
            status,
            "Not done",
            &message,
            Some(&cb),
            with_view(&state, &link, Map::new()),
        )
    };
    let acted = match link.action {
        QuickAction::CallBack => {
            return match ops
                .call_back(id, agent.as_ref().map(|a| a.name.as_str()), who)
                .await
            {
                Ok(CallOutcome::Placed { agent, .. }) => done(
                    "Calling",
                    format!("Smartflo is ringing {agent}; answer to be connected to the customer."),
                ),
                Ok(CallOutcome::Failed { reason, .. }) => refused(
                    StatusCode::BAD_GATEWAY,
                    format!("The call could not be placed: {reason}"),
                ),
                Ok(CallOutcome::Refused(why)) => {
                    refused(StatusCode::CONFLICT, format!("Not placed: {why}."))
                }
                Err(e) => {
                    tracing::error!(error = %e, "an email link action failed on storage");
                    refused(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Ringback could not record that; try again shortly.".into(),
                    )
                }
            };
        }
        QuickAction::Snooze => {
            let until = state.app.now() + Duration::minutes(SNOOZE_MINUTES);
            (
                ops.act(id, Action::Snooze { until }, who).await,
                format!(
                    "Snoozed until {}.",
                    local_time(until, state.settings.reminders.timezone)
                ),
            )
        }
        QuickAction::Take => match agent {
            Some(agent) => (
                ops.act(id, Action::Assign { agent }, who).await,
                "It is yours now.".to_string(),
            ),
            None => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    "Only agents can take a callback.".into(),
                );
            }
        },
        QuickAction::Outcome(outcome) => {
            let at = (outcome == Outcome::CallLater)
                .then(|| state.app.now() + Duration::minutes(CALL_LATER_MINUTES));
            let zone = state.settings.reminders.timezone;
            let (message, _) =
                crate::notify::outcome_words(outcome, at, who, |t| local_time(t, zone));
            (
                ops.act(id, Action::Outcome { outcome, at }, who).await,
                message,
            )
        }
        QuickAction::CalledBack => (
            ops.act(
                id,
                Action::Resolve {
                    reason: "called back (email link)".into(),
                },
                who,
            )
            .await,
            "Marked as called back; the reminders stop.".to_string(),
        ),
    };
    match acted {
        (Ok(ActOutcome::Done(_)), message) => done("Done", message),
        (Ok(ActOutcome::Unchanged(_)), _) => done(
            "Nothing changed",
            "That was done already (a moment ago, or it was yours already); it counts once.".into(),
        ),
        (Ok(ActOutcome::Refused(ActionError::AlreadyResolved)), _) => refused(
            StatusCode::CONFLICT,
            "This callback is already resolved.".into(),
        ),
        (Ok(ActOutcome::Refused(e)), _) => refused(StatusCode::BAD_REQUEST, e.to_string()),
        (Ok(ActOutcome::NotFound), _) => refused(
            StatusCode::NOT_FOUND,
            "This callback no longer exists.".into(),
        ),
        (Err(e), _) => {
            tracing::error!(error = %e, "an email link action failed on storage");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Ringback could not record that; try again shortly.".into(),
            )
        }
    }
}
