//! `/healthz` (the process answers), `/readyz` (storage takes a durable write) and
//! `/metrics` (Prometheus).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::store::Health;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let store = &state.app.store;
    state.metrics.set_quarantined(store.quarantined());
    match store.pending_stats().await {
        Ok(stats) => {
            state
                .metrics
                .pending
                .set(i64::try_from(stats.count).unwrap_or(i64::MAX));
            let age = stats.oldest.map_or(0.0, |cb| {
                (state.app.now() - cb.first_received_at).num_milliseconds() as f64 / 1000.0
            });
            state.metrics.oldest_pending_age.set(age.max(0.0));
        }
        Err(e) => {
            tracing::warn!(error = %e.describe(), "metrics: could not read the pending figures")
        }
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if let Health::Unavailable(why) = state.app.store.health() {
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "error": why }));
    }
    match tokio::time::timeout(PROBE_TIMEOUT, state.app.store.probe()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e.describe(), "readiness probe failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "error": "storage is not writable" }))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "error": "storage did not answer in time" })),
    }
}
