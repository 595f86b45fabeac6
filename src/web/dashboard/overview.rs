//! The pending list and the summary: pages whose figures are about every callback, so
//! they filter in the store and count over the whole list, a page of the store at a time,
//! rather than over whatever fits on one page.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::auth::flash;
use super::facts::{self, Clock};
use super::pages::read;
use super::{render, require};
use crate::display::humane_age;
use crate::domain::callback::Callback;
use crate::domain::stats::{self, Cleared};
use crate::store::{AgentFilter, CallbackFilter, ListQuery, Page, StatusFilter, StoreError};
use crate::web::AppState;

/// The pending list shows at most this many (oldest first); the counts cover every match.
const SHOWN: usize = 2000;
/// Callbacks read per store round trip while counting a whole list.
const PAGE: usize = 5000;
/// Seconds between automatic refreshes of the pending list.
const REFRESH: u32 = 30;

#[derive(serde::Deserialize)]
pub struct Filter {
    agent: Option<String>,
    department: Option<String>,
}

impl Filter {
    /// The store's filter: an empty value is "anyone"/"all", `-` is "nobody assigned".
    fn to_store(&self) -> CallbackFilter {
        let agent = match self.agent.as_deref() {
            None | Some("") => None,
            Some("-") => Some(AgentFilter::Nobody),
            Some(name) => Some(AgentFilter::Named(name.to_owned())),
        };
        CallbackFilter {
            agent,
            department: self.department.clone().filter(|d| !d.is_empty()),
        }
    }
}

/// One page of the list `status`/`filter`, from `after`.
async fn page(
    state: &AppState,
    status: StatusFilter,
    filter: &CallbackFilter,
    after: Option<crate::store::Cursor>,
) -> Result<Page, StoreError> {
    state
        .app
        .store
        .list_callbacks(ListQuery {
            status,
            limit: PAGE,
            after,
            filter: filter.clone(),
        })
        .await
}

/// What the pending page shows of a filtered list: the oldest [`SHOWN`] rows, and counts
/// over every match.
#[derive(Default)]
struct Pending {
    rows: Vec<Value>,
    matched: u64,
    late: u64,
    escalated: u64,
}

impl Pending {
    fn add(&mut self, cb: &Callback, clock: &Clock) {
        self.matched += 1;
        if clock.late(cb) {
            self.late += 1;
        }
        if cb.escalation_level > 0 {
            self.escalated += 1;
        }
        if self.rows.len() < SHOWN {
            self.rows.push(facts::callback(cb, clock));
        }
    }
}

pub async fn pending(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    filter: web::Query<Filter>,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    for (name, value) in [("agent", &filter.agent), ("department", &filter.department)] {
        let what = format_args!("the {name} filter");
        if let Err(refused) = crate::web::error::refuse_nul(value.as_deref().unwrap_or(""), what) {
            return HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body(refused.to_string());
        }
    }
    let wanted = filter.to_store();
    let breakdown = match read(state.app.store.pending_breakdown()).await {
        Ok(b) => b,
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
    // Every match is read (a store page at a time) so the counts are true for the whole
    // filter, not for the rows that fit on the page.
    let mut shown = Pending::default();
    let mut after = None;
    loop {
        let found = match read(page(&state, StatusFilter::Pending, &wanted, after)).await {
            Ok(p) => p,
            Err(r) => return *r,
        };
        for cb in &found.callbacks {
            shown.add(cb, &clock);
        }
        match found.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let agent = filter.agent.clone().filter(|a| !a.is_empty());
    let department = wanted.department.clone();
    // The choices: configured agents, then anyone else callbacks are assigned to (a name
    // since removed from the configuration); every department something pending is in.
    let mut agents: Vec<String> = state
        .settings
        .agents
        .iter()
        .map(|a| a.name.clone())
        .collect();
    for name in breakdown.agents.keys().flatten() {
        if !agents.contains(name) {
            agents.push(name.clone());
        }
    }
    let mut departments: Vec<String> = breakdown.departments.keys().flatten().cloned().collect();
    if let Some(d) = &department
        && !departments.contains(d)
    {
        departments.push(d.clone());
    }
    // The heading counts what the filter shows; the unfiltered total stays beside it.
    let total = breakdown.total();
    let filtered = agent.is_some() || department.is_some();
    let count = if filtered { shown.matched } else { total };
    let mut ctx = Map::new();
    ctx.insert("total".into(), total.into());
    ctx.insert("count".into(), count.into());
    ctx.insert("filtered".into(), filtered.into());
    ctx.insert("unreadable".into(), unreadable.into());
    ctx.insert("matched".into(), shown.matched.into());
    ctx.insert(
        "truncated".into(),
        (shown.matched > shown.rows.len() as u64).into(),
    );
    ctx.insert("shown".into(), shown.rows.len().into());
    ctx.insert("rows".into(), shown.rows.into());
    ctx.insert("agents".into(), json!(agents));
    ctx.insert("departments".into(), json!(departments));
    ctx.insert("agent".into(), json!(agent));
    ctx.insert("department".into(), json!(department));
    ctx.insert("refresh".into(), REFRESH.into());
    ctx.insert("late".into(), shown.late.into());
    ctx.insert("escalated".into(), shown.escalated.into());
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

/// Local midnight of `now`'s day in `zone`.
fn start_of_day(now: DateTime<Utc>, zone: chrono_tz::Tz) -> DateTime<Utc> {
    let local = now.with_timezone(&zone).date_naive();
    zone.from_local_datetime(&local.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .earliest()
        .map_or(now - Duration::hours(24), |t| t.with_timezone(&Utc))
}

/// Every callback resolved since `since`, each judged by `within_sla` as it is read: the
/// resolved list is newest first, so reading stops at the first one older.
async fn resolved_since(
    state: &AppState,
    since: DateTime<Utc>,
    within_sla: Option<stats::WithinSla<'_>>,
) -> Result<Vec<Cleared>, StoreError> {
    let mut cleared = Vec::new();
    let mut after = None;
    loop {
        let found = page(
            state,
            StatusFilter::Resolved,
            &CallbackFilter::default(),
            after,
        )
        .await?;
        for cb in &found.callbacks {
            match Cleared::of(cb, within_sla) {
                Some(c) if c.resolved_at < since => return Ok(cleared),
                Some(c) => cleared.push(c),
                None => {}
            }
        }
        match found.next {
            Some(next) => after = Some(next),
            None => return Ok(cleared),
        }
    }
}

pub async fn summary(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let zone = state.settings.reminders.timezone;
    let now = state.app.now();
    let today = start_of_day(now, zone);
    let week = now - Duration::days(7);
    let rules = state.app.rules.get();
    let judge = |cb: &Callback| {
        rules
            .sla
            .status(cb, &rules.business_hours, now)
            .map(|s| !s.breached)
    };
    let sla = rules.sla.is_set();
    let judged: Option<stats::WithinSla> = sla.then_some(&judge);
    let (breakdown, resolved, counts) = match (
        read(state.app.store.pending_breakdown()).await,
        read(resolved_since(&state, week, judged)).await,
        read(state.app.store.pending_stats()).await,
    ) {
        (Ok(b), Ok(r), Ok(s)) => (b, r, s),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return *e,
    };
    let agents: Vec<String> = state
        .settings
        .agents
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let period = stats::Period {
        pending_agents: &breakdown.agents,
        pending_departments: &breakdown.departments,
        resolved: &resolved,
        today_start: today,
        week_start: week,
        agents: &agents,
    };
    let figures = stats::summarize(&period, sla);
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
    ctx.insert("sla".into(), sla.into());
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
