//! The HTTP ceiling for `bench/run` (issue 7): a bare actix-web handler on the same
//! webhook path that parses the JSON body and answers 200 — no storage, no fsync. What
//! Ringback's durable ingest is measured against, in the same run on the same machine.
//!
//!     cargo run --release --manifest-path bench/ceiling/Cargo.toml -- 127.0.0.1:18081

use actix_web::{App, HttpResponse, HttpServer, web};

async fn webhook(body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) if v.is_object() => HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"ok":true}"#),
        _ => HttpResponse::BadRequest().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(256 * 1024))
            .route("/webhooks/smartflo/{token}", web::post().to(webhook))
    })
    .bind(listen)?
    .run()
    .await
}
