//! HTTP errors: every failure answers JSON `{"ok":false,"error":"…"}` with a status that
//! says whose fault it is. Storage that may recover is an opaque `503` with `Retry-After`
//! (Smartflo retries on it); a failure that retrying will not mend (a corrupt record, a
//! bug met by one input) is an opaque `500`. Details go to the log and the
//! `ringback_request_failures_total{kind}` metric, never to the caller.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::app::AppError;
use crate::store::StoreError;

/// Refuses text holding a NUL character (U+0000): no person or telephony system means one,
/// and PostgreSQL can keep one neither in text nor in JSON (a filter holding one would fail
/// its query there, a 500). `what` names the field for the 400's reason; it is formatted only
/// then, so a caller checking every field of every request pays nothing for the name.
pub fn refuse_nul(text: &str, what: impl std::fmt::Display) -> Result<(), WebError> {
    if text.contains('\0') {
        return Err(WebError::BadRequest(format!(
            "{what} holds a NUL character (U+0000)"
        )));
    }
    Ok(())
}

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
    #[error("the request body did not arrive within {} s", .0.as_secs())]
    RequestTimeout(std::time::Duration),
    #[error("too many failed authentication attempts from this address; retry in {} s", .0.as_secs())]
    TooManyRequests(std::time::Duration),
    #[error("storage is unavailable; retry later")]
    Unavailable(#[source] StoreError),
    #[error("the request failed inside Ringback; it has been logged")]
    Internal(#[source] AppError),
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
            WebError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::Unavailable(e) => {
                crate::metrics::request_failed(e.kind());
                tracing::error!(error = %e.describe(), "request failed on storage; told to retry");
            }
            WebError::Internal(e) => {
                let kind = match e {
                    AppError::Store(s) => s.kind(),
                    AppError::Decision(_) => "decision",
                };
                crate::metrics::request_failed(kind);
                let detail = match e {
                    AppError::Store(s) => s.describe(),
                    AppError::Decision(d) => d.clone(),
                };
                tracing::error!(error = %detail, kind, "request failed");
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            WebError::Unauthorized(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            WebError::Unavailable(e) => {
                let wait = e
                    .retry_after()
                    .unwrap_or(crate::store::DEFAULT_RETRY_AFTER)
                    .as_secs()
                    .max(1);
                response.insert_header((header::RETRY_AFTER, wait.to_string()));
            }
            WebError::MethodNotAllowed(allow) => {
                response.insert_header((header::ALLOW, *allow));
            }
            WebError::TooManyRequests(wait) => {
                response.insert_header((header::RETRY_AFTER, wait.as_secs().to_string()));
            }
            // The rest of a body that came too slowly is not worth waiting for.
            WebError::RequestTimeout(_) => {
                response.force_close();
            }
            _ => {}
        }
        response.json(json!({ "ok": false, "error": self.to_string() }))
    }
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(StoreError::Busy(why)) => WebError::Conflict(why),
            AppError::Store(s) if s.is_retryable() => WebError::Unavailable(s),
            other => WebError::Internal(other),
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e).into()
    }
}

/// Makes the errors actix raises itself — a body over the limit refused by the `Bytes`
/// extractor (413), a malformed path — answer the same JSON as [`WebError`]s, so an API
/// client reads every failure one way.
pub async fn json_errors(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    let res = next.call(req).await?;
    let foreign = match res.response().error() {
        Some(e) if e.as_error::<WebError>().is_none() => e.to_string(),
        _ => return Ok(res.map_into_left_body()),
    };
    let status = res.status();
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            WebError::PayloadTooLarge(super::limits::MAX_FORM_BYTES).to_string()
        }
        _ => foreign,
    };
    let (req, _) = res.into_parts();
    let response = HttpResponse::build(status).json(json!({ "ok": false, "error": error }));
    Ok(actix_web::dev::ServiceResponse::new(req, response).map_into_right_body())
}
