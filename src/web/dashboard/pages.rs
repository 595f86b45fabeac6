//! The dashboard's pages: pending list, one callback, resolved history, summary.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::auth::flash;
use super::facts::{self, Clock};
use super::{render, require};
use crate::display::{humane_age, local_time, phone};
use crate::domain::callback::{Callback, CallbackId, ResolutionKind};
use crate::domain::stats::{self, time_to_callback};
use crate::store::{ListQuery, StatusFilter, StoreError};
use crate::web::AppState;

/// The pending list shows at most this many (oldest first).
const SHOWN: usize = 2000;
/// Seconds between automatic refreshes of the pending list.
const REFRESH: u32 = 30;
/// Callbacks looked at for the summary (pending and resolved each).
const SUMMARY_SCAN: usize = 100_000;

/// A store read for a page: a failure is a plain page saying what to do (retry for
/// storage that is unavailable; nothing for a record that cannot be read).
async fn read<T>(
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
        })
        .await
        .map(|p| p.callbacks)
}

/// "75 % (3 of 4)"; null when there is nothing to show (no level, or no call-backs).
fn share_text(share: Option<stats::SlaShare>) -> Value {
    share
        .and_then(|s| {
            s.percent()
                .map(|p| format!("{p} % ({} of {})", s.within, s.called_back))
        })
        .map_or(Value::Null, Value::from)
}

fn duration_text(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| humane_age(d).into())
}

#[derive(serde::Deserialize)]
pub struct Filter {
    agent: Option<String>,
    department: Option<String>,
}

/// `GET /export.csv?status=…`: the API's CSV export, for a signed-in supervisor.
pub async fn export_csv(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> HttpResponse {
    if let Err(r) = require(&state, &session, &req) {
        return *r;
    }
    crate::web::data::csv_response(&state, &req)
        .await
        .unwrap_or_else(|e| actix_web::ResponseError::error_response(&e))
}

pub async fn pending(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    filter: web::Query<Filter>,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let callbacks = match read(list(&state, StatusFilter::Pending, SHOWN)).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let total = match read(state.app.store.pending_stats()).await {
        Ok(s) => s.count,
        Err(r) => return *r,
    };
    // Customers nobody is reminded about: counted here so supervisors notice them.
    let unreadable = match read(super::unreadable::recent(
        &state,
        super::unreadable::COUNT_DAYS,
        100,
    ))
    .await
    {
        Ok(u) => u.len(),
        Err(r) => return *r,
    };
    let zone = state.settings.reminders.timezone;
    let now = state.app.now();
    let rules = state.app.rules.get();
    let clock = Clock {
        zone,
        now,
        rules: &rules,
    };
    let agent = filter.agent.clone().filter(|a| !a.is_empty());
    let department = filter.department.clone().filter(|d| !d.is_empty());
    let mut departments: Vec<String> = callbacks
        .iter()
        .filter_map(|c| c.department.clone())
        .collect();
    departments.sort();
    departments.dedup();
    let rows: Vec<Value> = callbacks
        .iter()
        .filter(|c| match agent.as_deref() {
            None => true,
            Some("-") => c.assigned_agent.is_none(),
            Some(name) => c.assigned_agent.as_ref().is_some_and(|a| a.name == name),
        })
        .filter(|c| department.is_none() || c.department == department)
        .map(|c| facts::callback(c, &clock))
        .collect();
    // The heading counts what the filter shows; the unfiltered total stays beside it.
    let filtered = agent.is_some() || department.is_some();
    let count = if filtered { rows.len() as u64 } else { total };
    let late = rows.iter().filter(|r| r["late"] == true).count();
    let escalated = rows
        .iter()
        .filter(|r| r["escalation_level"].as_u64().is_some_and(|l| l > 0))
        .count();
    let mut ctx = Map::new();
    ctx.insert("total".into(), total.into());
    ctx.insert("count".into(), count.into());
    ctx.insert("unreadable".into(), unreadable.into());
    ctx.insert("filtered".into(), filtered.into());
    ctx.insert("truncated".into(), (callbacks.len() >= SHOWN).into());
    ctx.insert("rows".into(), rows.into());
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
    ctx.insert("departments".into(), json!(departments));
    ctx.insert("agent".into(), json!(agent));
    ctx.insert("department".into(), json!(department));
    ctx.insert("refresh".into(), REFRESH.into());
    ctx.insert("late".into(), late.into());
    ctx.insert("escalated".into(), escalated.into());
    ctx.insert("sla".into(), json!(clock.sla().map(humane_age)));
    ctx.insert(
        "updated_at".into(),
        now.with_timezone(&zone)
            .format("%H:%M:%S")
            .to_string()
            .into(),
    );
    ctx.insert("flash".into(), flash(req.query_string()));
    render(
        &state,
        StatusCode::OK,
        "pending.html",
        Some(&viewer),
        "pending",
        ctx,
    )
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
            .map(|x| format!(": {x}"))
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
    let viewer = match require(&state, &session, &req) {
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
    let viewer = match require(&state, &session, &req) {
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

/// Local midnight of `now`'s day in `zone`.
fn start_of_day(now: DateTime<Utc>, zone: chrono_tz::Tz) -> DateTime<Utc> {
    let local = now.with_timezone(&zone).date_naive();
    zone.from_local_datetime(&local.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .earliest()
        .map_or(now - Duration::hours(24), |t| t.with_timezone(&Utc))
}

pub async fn summary(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let zone = state.settings.reminders.timezone;
    let now = state.app.now();
    let today = start_of_day(now, zone);
    let week = now - Duration::days(7);
    let (pending, resolved, counts) = match (
        read(list(&state, StatusFilter::Pending, SUMMARY_SCAN)).await,
        read(list(&state, StatusFilter::Resolved, SUMMARY_SCAN)).await,
        read(state.app.store.pending_stats()).await,
    ) {
        (Ok(p), Ok(r), Ok(s)) => (p, r, s),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return *e,
    };
    let resolved: Vec<Callback> = resolved
        .into_iter()
        .take_while(|c| c.resolved_at.is_some_and(|t| t >= week))
        .collect();
    let agents: Vec<String> = state
        .settings
        .agents
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let rules = state.app.rules.get();
    let judge = |cb: &Callback| {
        rules
            .sla
            .status(cb, &rules.business_hours, now)
            .map(|s| !s.breached)
    };
    let period = stats::Period {
        pending: &pending,
        resolved: &resolved,
        today_start: today,
        week_start: week,
        agents: &agents,
    };
    let judged: Option<stats::WithinSla> = rules.sla.is_set().then_some(&judge);
    let figures = stats::summarize(&period, judged);
    let mut ctx = Map::new();
    ctx.insert("pending".into(), counts.count.into());
    ctx.insert(
        "oldest".into(),
        duration_text(counts.oldest.map(|c| now - c.first_received_at)),
    );
    ctx.insert("resolved_today".into(), figures.resolved_today.into());
    ctx.insert("median_today".into(), duration_text(figures.median_today));
    ctx.insert("p90_today".into(), duration_text(figures.p90_today));
    ctx.insert("median_week".into(), duration_text(figures.median_week));
    ctx.insert(
        "agents".into(),
        figures
            .per_agent
            .iter()
            .map(|a| {
                json!({
                    "name": a.name.clone().unwrap_or_else(|| "nobody assigned".into()),
                    "pending": a.pending,
                    "resolved_today": a.resolved_today,
                    "resolved_week": a.resolved_week,
                    "median_week": duration_text(a.median_week),
                    "sla_today": share_text(a.sla_today),
                    "sla_week": share_text(a.sla_week),
                })
            })
            .collect::<Vec<_>>()
            .into(),
    );
    ctx.insert("sla".into(), rules.sla.is_set().into());
    ctx.insert("sla_today".into(), share_text(figures.sla_today));
    ctx.insert("sla_week".into(), share_text(figures.sla_week));
    ctx.insert(
        "departments".into(),
        figures
            .per_department
            .iter()
            .map(|d| {
                json!({
                    "name": d.name.clone().unwrap_or_else(|| "no department".into()),
                    "pending": d.pending,
                    "resolved_week": d.resolved_week,
                    "sla_today": share_text(d.sla_today),
                    "sla_week": share_text(d.sla_week),
                })
            })
            .collect::<Vec<_>>()
            .into(),
    );
    render(
        &state,
        StatusCode::OK,
        "summary.html",
        Some(&viewer),
        "summary",
        ctx,
    )
}

/// Telegram chats that wrote to the bot without being configured (SPEC §6.1).
pub async fn telegram(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req) {
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
