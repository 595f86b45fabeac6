//! HTTP errors: every failure answers JSON `{"ok":false,"error":"…"}` with a status that
//! says whose fault it is. Storage failures are opaque `503`s (Smartflo retries on them);
//! details go to the log, never to the caller.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The methods the resource does answer, for the `Allow` header.
    #[error("method not allowed here; use {0}")]
    MethodNotAllowed(&'static str),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("request headers are larger than {0} bytes in all")]
    HeadersTooLarge(usize),
    #[error("too many failed authentication attempts from this address; retry in {} s", .0.as_secs())]
    TooManyRequests(std::time::Duration),
    #[error("storage is unavailable; retry later")]
    Unavailable(#[source] StoreError),
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            WebError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::Unavailable(e) = self {
            tracing::error!(error = %e, "request failed on storage");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            WebError::Unauthorized(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            WebError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            WebError::MethodNotAllowed(allow) => {
                response.insert_header((header::ALLOW, *allow));
            }
            WebError::TooManyRequests(wait) => {
                response.insert_header((header::RETRY_AFTER, wait.as_secs().to_string()));
            }
            _ => {}
        }
        response.json(json!({ "ok": false, "error": self.to_string() }))
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::Unavailable(e)
    }
}
