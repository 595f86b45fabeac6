//! Missed calls whose customer number could not be read (issue 16): no callback can be
//! opened for them, so nobody is reminded — supervisors see them here (and a count on the
//! pending list) to call the customer some other way, with the number as Smartflo sent it.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde_json::{Map, Value, json};

use super::pages::failed_page;
use super::{render, require};
use crate::display::local_time;
use crate::store::{EventRecord, StoreError};
use crate::web::AppState;

/// How far back the page looks, and the pending list's count.
pub const PAGE_DAYS: i64 = 30;
pub const COUNT_DAYS: i64 = 7;
/// At most this many are listed (newest first).
const LISTED: usize = 500;

/// Such calls received in the last `days` days, newest first.
pub async fn recent(
    state: &AppState,
    days: i64,
    limit: usize,
) -> Result<Vec<EventRecord>, StoreError> {
    let since = state.app.now() - Duration::days(days);
    state.app.store.unreadable_numbers(since, limit).await
}

pub async fn page(state: web::Data<AppState>, session: Session, req: HttpRequest) -> HttpResponse {
    let viewer = match require(&state, &session, &req).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let events = match recent(&state, PAGE_DAYS, LISTED).await {
        Ok(e) => e,
        Err(e) => return failed_page(&e),
    };
    let zone = state.settings.reminders.timezone;
    let rows: Vec<Value> = events
        .iter()
        .filter_map(|e| {
            let flagged = e.unreadable.as_ref()?;
            Some(json!({
                "received": local_time(e.received_at, zone),
                "raw": flagged.raw,
                "agent": flagged.agent,
                "trigger": e.trigger,
                "why": e.note,
                "event_id": e.id.to_string(),
            }))
        })
        .collect();
    let mut ctx = Map::new();
    ctx.insert("rows".into(), rows.into());
    ctx.insert("days".into(), PAGE_DAYS.into());
    render(
        &state,
        StatusCode::OK,
        "unreadable.html",
        Some(&viewer),
        "unreadable",
        ctx,
    )
}
