//! `GET /api/v1/openapi.json`: the HTTP API as an OpenAPI 3.1 document (docs/openapi.json,
//! built in). Served without a token: it describes the API and holds no data, and tools
//! (schemathesis in CI, client generators) read it before they have a token.

use actix_web::HttpResponse;
use actix_web::http::header;

/// The document, as shipped in the repository.
pub const DOCUMENT: &str = include_str!("../../docs/openapi.json");

pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(DOCUMENT)
}
