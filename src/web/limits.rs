//! Size limits on what a request may carry, beyond the webhook's own body limit (SPEC §4.1).
//!
//! actix itself refuses a request head over 128 KiB (431) or with more than 96 headers (400);
//! real clients send a few hundred bytes, so Ringback draws the line much lower and says why.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use super::WebError;

/// Largest total of header names and values accepted (browsers with many cookies stay far
/// below; Smartflo sends well under 1 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest body of a form or API action (the rules editor is the largest, a few KiB).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Body limit for every handler that reads its body whole (`web::Bytes`).
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_FORM_BYTES)
}

/// Refuses requests whose headers add up to more than [`MAX_HEADER_BYTES`] with `431`.
pub async fn header_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let total: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if total > MAX_HEADER_BYTES {
        let response = WebError::HeadersTooLarge(MAX_HEADER_BYTES).error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
