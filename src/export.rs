//! `ringback export` and `GET /api/v1/callbacks.csv` (issue 6): callbacks as CSV for a
//! spreadsheet or a CRM import. One row per callback, times RFC 3339 in the configured zone.
//!
//! Free text in a row can come from outside (a Smartflo department, a reason typed on the
//! dashboard), and a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a
//! formula; such cells are written with a leading `'` (OWASP's advice for CSV injection).
//! Plain signed numbers (a `+91…` phone number) are left as they are.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::display::rfc3339 as at;
use crate::domain::callback::{Callback, ResolutionKind, Status};
use crate::domain::rules::Rules;
use crate::store::{Cursor, ListQuery, Page, StatusFilter, Store, StoreError};

/// Callbacks read per store page while exporting.
pub const PAGE: usize = 1000;

/// What a row is written with: the zone of its times, and the service level (with the
/// business hours it is counted in) measured at `now`.
#[derive(Debug, Clone)]
pub struct Sheet<'a> {
    pub zone: Tz,
    pub rules: &'a Rules,
    pub now: DateTime<Utc>,
}

/// The columns; `sla_due_at` and `breached` came last (issue 17), so older imports that
/// read columns by position still work.
pub const HEADER: [&str; 21] = [
    "id",
    "status",
    "customer_number",
    "missed_calls",
    "first_missed_at",
    "last_missed_at",
    "assigned_agent",
    "missed_agents",
    "department",
    "attempts",
    "reminders_sent",
    "escalation_level",
    "next_reminder_at",
    "snoozed_until",
    "resolved_at",
    "resolution",
    "resolved_by",
    "resolving_call_id",
    "resolution_reason",
    "sla_due_at",
    "breached",
];

/// Reads `status` as the API does: pending (default), resolved or all.
pub fn parse_status(raw: Option<&str>) -> Result<StatusFilter, String> {
    // Exact words: an API that accepts " pending" or "" invites clients that break when
    // it stops doing so.
    match raw {
        None | Some("pending") => Ok(StatusFilter::Pending),
        Some("resolved") => Ok(StatusFilter::Resolved),
        Some("all") => Ok(StatusFilter::All),
        Some(other) => Err(format!(
            "status {other:?} is not one of pending, resolved, all"
        )),
    }
}

/// CSV bytes for `callbacks`, with the header row first when `header` is set.
pub fn rows(callbacks: &[Callback], sheet: &Sheet<'_>, header: bool) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(callbacks.len() * 256));
    // Writing into a Vec cannot fail, and every record has the header's length.
    if header {
        let _ = out.write_record(HEADER);
    }
    for cb in callbacks {
        let _ = out.write_record(row(cb, sheet).iter().map(|c| guard(c).into_owned()));
    }
    out.into_inner().unwrap_or_default()
}

fn row(cb: &Callback, sheet: &Sheet<'_>) -> [String; 21] {
    let zone = sheet.zone;
    let sla = sheet
        .rules
        .sla
        .status(cb, &sheet.rules.business_hours, sheet.now);
    let time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| at(t, zone)).unwrap_or_default();
    let missed_agents = cb
        .missed_agents
        .iter()
        .filter_map(|a| {
            a.agent
                .clone()
                .or_else(|| a.name.clone())
                .or_else(|| a.number.as_ref().map(|n| n.to_string()))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let resolution = cb.resolution.as_ref();
    [
        cb.id.to_string(),
        match cb.status {
            Status::Pending => "pending",
            Status::Resolved => "resolved",
        }
        .to_string(),
        cb.customer_number.to_string(),
        cb.missed_calls.to_string(),
        at(cb.first_missed_at, zone),
        at(cb.last_missed_at, zone),
        cb.assigned_agent
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        missed_agents,
        cb.department.clone().unwrap_or_default(),
        cb.attempts.to_string(),
        cb.reminders_sent.to_string(),
        cb.escalation_level.to_string(),
        time(cb.next_reminder_at),
        time(cb.snoozed_until),
        time(cb.resolved_at),
        resolution
            .map(|res| match res.kind {
                ResolutionKind::AnsweredInbound => "answered_inbound",
                ResolutionKind::AnsweredOutbound => "answered_outbound",
                ResolutionKind::Manual => "manual",
            })
            .unwrap_or_default()
            .to_string(),
        resolution.and_then(|r| r.agent.clone()).unwrap_or_default(),
        resolution
            .and_then(|r| r.call_id.clone())
            .unwrap_or_default(),
        resolution
            .and_then(|r| r.reason.clone())
            .unwrap_or_default(),
        time(sla.map(|s| s.due_at)),
        sla.is_some_and(|s| s.breached).to_string(),
    ]
}

/// The cell as a spreadsheet may safely open it.
pub fn guard(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let signed_number = cell.len() > 1
        && cell.starts_with(['+', '-'])
        && cell[1..].bytes().all(|b| b.is_ascii_digit());
    if risky && !signed_number {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// One page of the export: the rows and where the next page starts.
pub async fn page(
    store: &dyn Store,
    status: StatusFilter,
    after: Option<Cursor>,
) -> Result<Page, StoreError> {
    store
        .list_callbacks(ListQuery {
            status,
            limit: PAGE,
            after,
            ..ListQuery::default()
        })
        .await
}

/// Writes every callback matching `status` to `out`; returns how many.
pub async fn write_all(
    store: &dyn Store,
    status: StatusFilter,
    sheet: &Sheet<'_>,
    out: &mut (dyn std::io::Write + Send),
) -> Result<usize, ExportError> {
    let mut after = None;
    let mut written = 0;
    let mut header = true;
    loop {
        let page = page(store, status, after).await?;
        out.write_all(&rows(&page.callbacks, sheet, header))?;
        header = false;
        written += page.callbacks.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    out.flush()?;
    Ok(written)
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    #[error("writing the CSV: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_looking_cells_are_quoted_and_phone_numbers_left_alone() {
        assert_eq!(
            guard("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(guard("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(guard("-2+3"), "'-2+3");
        assert_eq!(guard("+919876543210"), "+919876543210");
        assert_eq!(guard("\t=1"), "'\t=1");
        assert_eq!(guard("Sales"), "Sales");
        assert_eq!(guard(""), "");
        assert_eq!(guard("+"), "'+");
    }

    #[test]
    fn the_status_is_read_like_the_api_reads_it() {
        assert_eq!(parse_status(None), Ok(StatusFilter::Pending));
        assert_eq!(parse_status(Some("all")), Ok(StatusFilter::All));
        assert!(
            parse_status(Some("open"))
                .unwrap_err()
                .contains("pending, resolved, all")
        );
    }
}
