//! Data care over HTTP (issue 6): `GET /api/v1/callbacks.csv` streams the export page by
//! page; `POST /api/v1/backup` writes a consistent copy of the store next to it.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt, stream};

use super::api::{authorize, serde_urlencoded_params};
use super::{AppState, WebError};
use crate::export;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvParams {
    status: Option<String>,
}

/// `GET /api/v1/callbacks.csv?status=pending|resolved|all`: every matching callback as
/// CSV, read a page at a time so a million rows never sit in memory at once.
pub async fn callbacks_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    csv_response(&state, &req).await
}

/// The CSV download for a request already let through (API token or dashboard login).
pub async fn csv_response(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, WebError> {
    let params: CsvParams = serde_urlencoded_params(req.query_string())?;
    let status = export::parse_status(params.status.as_deref()).map_err(WebError::BadRequest)?;
    let zone = state.settings.reminders.timezone;
    // The first page is read before answering, so a store that cannot be read is a 503
    // and not a 200 with a truncated body.
    let store = state.app.store.clone();
    let first = export::page(store.as_ref(), status, None).await?;
    let rules = state.app.rules.get();
    let now = state.app.now();
    let body = export::rows(
        &first.callbacks,
        &export::Sheet {
            zone,
            rules: rules.as_ref(),
            now,
        },
        true,
    );
    let rest = stream::unfold(first.next, move |after| {
        let store = store.clone();
        let rules = rules.clone();
        async move {
            let after = after?;
            let page = export::page(store.as_ref(), status, Some(after)).await;
            Some(match page {
                Ok(page) => (
                    Ok(web::Bytes::from(export::rows(
                        &page.callbacks,
                        &export::Sheet {
                            zone,
                            rules: rules.as_ref(),
                            now,
                        },
                        false,
                    ))),
                    page.next,
                ),
                Err(e) => {
                    tracing::error!(error = %e, "CSV export stopped part way");
                    (
                        Err(actix_web::error::ErrorServiceUnavailable("store")),
                        None,
                    )
                }
            })
        }
    });
    let filename = format!(
        "ringback-callbacks-{}.csv",
        state.app.now().format("%Y%m%dT%H%M%SZ")
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(stream::iter([Ok(web::Bytes::from(body))]).chain(rest)))
}

/// The body of a request that takes no fields: `{}` or nothing.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// `POST /api/v1/backup`: a consistent copy of the store in
/// `<storage.path>/backups/<UTC time>/`, fsync'd before the reply. The place is fixed, not
/// chosen by the caller, so an API token cannot be used to write elsewhere.
pub async fn backup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    authorize(&state, &req)?;
    // It takes no fields: `{"to": …}` is refused, not quietly ignored (the place is fixed).
    if !body.iter().all(u8::is_ascii_whitespace) {
        let _: NoFields = super::actions::parse(&body)?;
    }
    let Some(backups) = &state.backups else {
        return Err(WebError::Conflict(
            "this storage backend is backed up with its own tools, not through Ringback".into(),
        ));
    };
    let target = crate::admin::default_target(&state.settings.storage.path, state.app.now());
    let made = backups.backup(target).await?;
    tracing::info!(path = %made.path.display(), keys = made.keys, "backup written");
    Ok(HttpResponse::Ok().json(serde_json::json!({"ok": true, "backup": made})))
}
