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
use crate::domain::rules::{RulesText, StepText};
use crate::domain::schedule::BusinessHours;
use crate::domain::weekly_hours::{DAYS, WeeklyHours, time_text};
use crate::store::{RulesChange, StoreError};
use crate::web::AppState;

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

const HOURS_KEY: &str = "reminders.business_hours";

/// How the business-hours part of the form is shown: weekdays with opening and closing
/// times (`Week`), or the cron expression (`Cron`: asked for, or hours a week form cannot
/// show, like a lunch break).
#[derive(Debug, Clone)]
enum HoursForm {
    Week {
        days: [bool; 7],
        opens: String,
        closes: String,
    },
    Cron,
}

impl HoursForm {
    /// The week form for `expression` when it is one daily window, else cron.
    fn for_expression(expression: &str, zone: chrono_tz::Tz) -> Self {
        BusinessHours::parse(expression, zone)
            .ok()
            .and_then(|hours| WeeklyHours::of(&hours))
            .map_or(HoursForm::Cron, |w| HoursForm::Week {
                days: w.days,
                opens: time_text(w.opens),
                closes: time_text(w.closes),
            })
    }

    fn context(&self) -> Value {
        match self {
            HoursForm::Week {
                days,
                opens,
                closes,
            } => json!({
                "mode": "week",
                "days": DAYS.iter().zip(days).map(|(d, on)| json!({"name": d, "on": on})).collect::<Vec<_>>(),
                "opens": opens,
                "closes": closes,
            }),
            HoursForm::Cron => json!({ "mode": "cron", "days": [], "opens": "", "closes": "" }),
        }
    }
}

/// The form's values and the errors to show next to each field.
fn form_context(text: &RulesText, issues: &[ConfigIssue]) -> (Value, Value) {
    let error = |key: &str| {
        issues
            .iter()
            .filter(|i| {
                i.key == key
                    || i.key.starts_with(&format!("{key}["))
                    || i.key.starts_with(&format!("{key}."))
            })
            .map(|i| i.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let opt = |s: String| {
        if s.is_empty() {
            Value::Null
        } else {
            Value::from(s)
        }
    };
    let mut steps: Vec<Value> = text
        .escalation
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "after": s.after,
                "notify": s.notify.join(", "),
                "after_error": opt(error(&format!("escalation[{i}].after"))),
                "notify_error": opt(error(&format!("escalation[{i}].notify"))),
            })
        })
        .collect();
    steps.push(json!({"after": "", "notify": "", "after_error": null, "notify_error": null}));
    let form = json!({
        "first_after": text.first_after,
        "repeat_every": text.repeat_every,
        "business_hours": text.business_hours,
        "steps": steps,
    });
    // Every field is present (null when fine): the templates run with strict undefineds.
    let mut errors = Map::new();
    for (field, key) in [
        ("first_after", "reminders.first_after"),
        ("repeat_every", "reminders.repeat_every"),
        ("business_hours", HOURS_KEY),
    ] {
        errors.insert(field.into(), opt(error(key)));
    }
    (form, Value::Object(errors))
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

/// What a posted rules form says.
struct Posted {
    csrf: Option<String>,
    text: RulesText,
    hours: HoursForm,
    /// The week form's own problem (no day, closing before opening).
    hours_issue: Option<ConfigIssue>,
}

/// Reads the form: the timing fields, business hours as a week (turned into cron here) or
/// as cron, and the step rows (empty rows dropped).
fn parse_form(body: &[u8]) -> Posted {
    let mut csrf = None;
    let (mut week_mode, mut days, mut opens, mut closes) =
        (false, [false; 7], String::new(), String::new());
    let mut text = RulesText {
        first_after: String::new(),
        repeat_every: String::new(),
        business_hours: String::new(),
        escalation: Vec::new(),
    };
    let (mut afters, mut notifies) = (Vec::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(body) {
        let v = v.trim().to_string();
        match k.as_ref() {
            "csrf" => csrf = Some(v),
            "first_after" => text.first_after = v,
            "repeat_every" => text.repeat_every = v,
            "business_hours" => text.business_hours = v,
            "hours_mode" => week_mode = v == "week",
            "day" => {
                if let Some(i) = DAYS.iter().position(|d| *d == v) {
                    days[i] = true;
                }
            }
            "opens" => opens = v,
            "closes" => closes = v,
            "step_after" => afters.push(v),
            "step_notify" => notifies.push(v),
            _ => {}
        }
    }
    for i in 0..afters.len().max(notifies.len()) {
        let after = afters.get(i).cloned().unwrap_or_default();
        let notify: Vec<String> = notifies
            .get(i)
            .map(|n| {
                n.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if !after.is_empty() || !notify.is_empty() {
            text.escalation.push(StepText { after, notify });
        }
    }
    let mut hours_issue = None;
    let hours = if week_mode {
        match WeeklyHours::new(days, &opens, &closes) {
            Ok(week) => text.business_hours = week.to_cron(),
            Err(e) => {
                hours_issue = Some(ConfigIssue {
                    key: HOURS_KEY.into(),
                    reason: e.to_string(),
                })
            }
        }
        HoursForm::Week {
            days,
            opens,
            closes,
        }
    } else {
        HoursForm::Cron
    };
    Posted {
        csrf,
        text,
        hours,
        hours_issue,
    }
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
