//! Size limits on what a request may carry, beyond the webhook's own body limit (SPEC §4.1).
//!
//! actix itself refuses a request head over 128 KiB (431) or with more than 96 headers (400);
//! real clients send a few hundred bytes, so Ringback draws the line much lower and says why.
//!
//! Time is bounded too: a client that sends its head or body a byte at a time holds a
//! connection (a file descriptor) for as long as it likes, and 250 of them once left no
//! descriptor for Smartflo's webhooks. actix bounds the first request head on a connection
//! ([`HEAD_READ_TIMEOUT`], `client_request_timeout`); nothing in actix bounds the body, so
//! [`body_deadline`] does.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::Stream;

use super::WebError;

/// How long a client has to send a request's head (actix's `client_request_timeout`).
pub const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client has to send a body once its head has arrived. Smartflo itself gives
/// up after 10 s, and a 256 KiB body takes well under a second on any real link.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Gives every request body [`BODY_READ_TIMEOUT`] to arrive: the handler's read fails after
/// that, and the client is answered `408` (JSON, `Connection: close`).
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let expired = Arc::new(AtomicBool::new(false));
    let body = Deadline {
        inner: req.take_payload(),
        timer: Box::pin(tokio::time::sleep(BODY_READ_TIMEOUT)),
        expired: Arc::clone(&expired),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    let res = next.call(req).await?;
    if !expired.load(Ordering::Acquire) {
        return Ok(res.map_into_left_body());
    }
    tracing::info!(
        path = res.request().path(),
        "a request body came too slowly; answered 408"
    );
    let response = WebError::RequestTimeout(BODY_READ_TIMEOUT).error_response();
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, response).map_into_right_body())
}

/// A request body that fails once its time is up.
struct Deadline {
    inner: Payload,
    timer: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl Stream for Deadline {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.load(Ordering::Acquire) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired.store(true, Ordering::Release);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body came too slowly",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
