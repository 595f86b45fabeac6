//! The rules page (issue 4): the reminder timing and escalation steps in force, editable by
//! a logged-in supervisor. An edit is validated exactly as `check-config` validates the
//! file, stored durably with who/when/before/after, and applied to pending callbacks at once.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::auth::{csrf_ok, flash, forbidden};
use super::{render, require, see_other};
use crate::config::ConfigIssue;
use crate::config::rules::{rules_from_text, rules_warnings};
use crate::display::local_time;
use crate::domain::rules::RulesText;
use crate::store::{RulesChange, StoreError};
use crate::web::AppState;

mod form;

use form::{HoursForm, form_context, parse_form};

/// The rules in force, as written: the last saved edit, else the file's.
async fn current(state: &AppState) -> Result<RulesText, StoreError> {
    Ok(state
        .app
        .store
        .stored_rules()
        .await?
        .map_or_else(|| state.settings.rules_text.clone(), |c| c.after))
}

/// One line describing an audited change's rules; a reset says where they came from.
fn describe_change(change: &RulesChange) -> String {
    if change.reset {
        format!("the file's rules: {}", describe(&change.after))
    } else {
        describe(&change.after)
    }
}

/// One line describing rules, for the audit table.
fn describe(text: &RulesText) -> String {
    let steps: Vec<String> = text
        .escalation
        .iter()
        .map(|s| format!("{} → {}", s.after, s.notify.join(", ")))
        .collect();
    format!(
        "first {}, every {}, hours {}; escalation: {}",
        text.first_after,
        text.repeat_every,
        text.business_hours,
        if steps.is_empty() {
            "none".to_string()
        } else {
            steps.join("; ")
        }
    )
}

async fn show(
    state: &AppState,
    viewer: &super::auth::Viewer,
    text: &RulesText,
    hours: &HoursForm,
    issues: &[ConfigIssue],
    flash: Value,
) -> HttpResponse {
    let audit = state.app.store.rules_audit(20).await.unwrap_or_default();
    let zone = state.settings.reminders.timezone;
    // Whether a dashboard edit overrides the file (even one that reads the same: the
    // file may change later, and only a reset lets that through).
    let saved = state.app.store.stored_rules().await.ok().flatten();
    let stored = saved
        .as_ref()
        .map_or_else(|| state.settings.rules_text.clone(), |c| c.after.clone());
    let (form, errors) = form_context(text, issues);
    let mut ctx = Map::new();
    ctx.insert("form".into(), form);
    ctx.insert("hours".into(), hours.context());
    ctx.insert("errors".into(), errors);
    ctx.insert(
        "warnings".into(),
        json!(
            rules_warnings(&state.settings, &stored)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
    );
    ctx.insert("has_errors".into(), (!issues.is_empty()).into());
    ctx.insert("overridden".into(), saved.is_some().into());
    ctx.insert("timezone".into(), zone.to_string().into());
    // The next holidays ([reminders] holidays, holidays_file): set in the file, shown here.
    let today = state.app.now().with_timezone(&zone).date_naive();
    ctx.insert(
        "holidays".into(),
        json!(
            state
                .settings
                .extras
                .holidays
                .range(today..)
                .take(10)
                .map(|(date, name)| format!("{} — {name}", date.format("%a %-d %b %Y")))
                .collect::<Vec<_>>()
        ),
    );
    ctx.insert(
        "people".into(),
        json!(
            state
                .settings
                .supervisors
                .iter()
                .map(|s| s.name.clone())
                .chain(state.settings.agents.iter().map(|a| a.name.clone()))
                .collect::<Vec<_>>()
        ),
    );
    ctx.insert(
        "audit".into(),
        audit
            .iter()
            .map(|c| json!({"at": local_time(c.at, zone), "who": c.who, "before": describe(&c.before), "after": describe_change(c)}))
            .collect::<Vec<_>>()
            .into(),
    );
    ctx.insert("flash".into(), flash);
    let status = if issues.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(state, status, "rules.html", Some(viewer), "rules", ctx)
}

pub async fn page(state: web::Data<AppState>, session: Session, req: HttpRequest) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let text = match current(&state).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "reading the stored rules failed");
            return HttpResponse::ServiceUnavailable()
                .body("Storage is unavailable; try again shortly.");
        }
    };
    let hours = if req.query_string().contains("hours=cron") {
        HoursForm::Cron
    } else {
        HoursForm::for_expression(&text.business_hours, state.settings.reminders.timezone)
    };
    show(
        &state,
        &viewer,
        &text,
        &hours,
        &[],
        flash(req.query_string()),
    )
    .await
}

async fn apply(
    state: &AppState,
    viewer: &super::auth::Viewer,
    text: RulesText,
    hours: &HoursForm,
) -> HttpResponse {
    let before = match current(state).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "reading the stored rules failed");
            return HttpResponse::ServiceUnavailable()
                .body("Storage is unavailable; nothing changed.");
        }
    };
    if text == before {
        return see_other("/rules?done=unchanged");
    }
    let rules = match rules_from_text(&state.settings, &text) {
        Ok(r) => r,
        Err(issues) => return show(state, viewer, &text, hours, &issues, Value::Null).await,
    };
    let change = RulesChange {
        id: ulid::Ulid::new(),
        at: state.app.now(),
        who: viewer.name.clone(),
        before,
        after: text,
        reset: false,
    };
    if let Err(e) = state.app.store.save_rules(change).await {
        tracing::error!(error = %e, "saving rules failed");
        return HttpResponse::ServiceUnavailable().body("Storage is unavailable; nothing changed.");
    }
    state.app.rules.set(rules);
    tracing::info!(by = %viewer.name, "rules edited from the dashboard");
    if let Err(e) = state.app.align_schedule(state.app.rules.get()).await {
        tracing::error!(error = %e, "rescheduling after a rules edit failed; it is retried at the next start");
    }
    see_other("/rules?done=rules")
}

pub async fn save(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let posted = parse_form(&body);
    if !csrf_ok(&session, posted.csrf.as_deref()) {
        return forbidden();
    }
    if let Some(issue) = posted.hours_issue {
        return show(
            &state,
            &viewer,
            &posted.text,
            &posted.hours,
            &[issue],
            Value::Null,
        )
        .await;
    }
    apply(&state, &viewer, posted.text, &posted.hours).await
}

/// "Use the file's rules": clears the dashboard's edit (audited), so the file's rules are
/// in force now, on every replica, and after later edits of the file and a restart.
pub async fn reset(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if !csrf_ok(&session, parse_form(&body).csrf.as_deref()) {
        return forbidden();
    }
    let saved = match state.app.store.stored_rules().await {
        Ok(Some(saved)) => saved,
        Ok(None) => return see_other("/rules?done=unchanged"),
        Err(e) => {
            tracing::error!(error = %e, "reading the stored rules failed");
            return HttpResponse::ServiceUnavailable()
                .body("Storage is unavailable; nothing changed.");
        }
    };
    let change = RulesChange {
        id: ulid::Ulid::new(),
        at: state.app.now(),
        who: viewer.name.clone(),
        before: saved.after,
        after: state.settings.rules_text.clone(),
        reset: true,
    };
    if let Err(e) = state.app.store.save_rules(change).await {
        tracing::error!(error = %e, "clearing the saved rules failed");
        return HttpResponse::ServiceUnavailable().body("Storage is unavailable; nothing changed.");
    }
    state.app.rules.set(state.settings.rules.clone());
    tracing::info!(by = %viewer.name, "the dashboard's rules edit was cleared; the file's rules are in force");
    if let Err(e) = state.app.align_schedule(state.app.rules.get()).await {
        tracing::error!(error = %e, "rescheduling after a rules reset failed; it is retried at the next start");
    }
    see_other("/rules?done=reset")
}
