//! `/healthz` (the process answers) and `/readyz` (storage takes a durable write).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match tokio::time::timeout(PROBE_TIMEOUT, state.store.probe()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness probe failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "error": "storage is not writable" }))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "error": "storage did not answer in time" })),
    }
}
