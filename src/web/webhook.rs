//! `GET|POST /webhooks/smartflo/{token}` and `/webhooks/smartflo` + `X-Ringback-Token`
//! (SPEC §4.1). The order of checks is the order of blame: who you are (401), what you
//! asked for (400 for an unknown `trigger=`), how you sent it (415, 413), what you sent
//! (400). Only then is anything stored, and the reply waits until it is durable.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use super::views::WebhookReply;
use super::{AppState, WebError};
use crate::app::{IncomingEvent, Receipt};
use crate::smartflo::webhook::{Head, Rejected};
use crate::store::RawEvent;

/// Largest accepted body (SPEC §4.1).
pub const MAX_BODY: usize = 256 * 1024;
const TOKEN_HEADER: &str = "x-ringback-token";
/// Request headers worth keeping in the event log (never the token headers).
const KEPT_HEADERS: &[&str] = &[
    "user-agent",
    "x-forwarded-for",
    "x-real-ip",
    "x-request-id",
    "content-length",
];

pub async fn with_path_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, WebError> {
    handle(&state, &req, Some(token.into_inner()), body).await
}

pub async fn with_header_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, WebError> {
    let token = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .or_else(|| bearer_token(&req));
    handle(&state, &req, token, body).await
}

pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// A webhook refused for what was sent (bad token, body, content type, size) gets a log
/// line with the reason, so an admin whose Smartflo webhook is set up wrong finds it in the
/// log, not only in Smartflo's delivery report. Not for `429` (the throttle logs when it
/// starts) nor for setup problems (logged as such), nor for our own `5xx` (logged where they
/// happen).
async fn handle(
    state: &AppState,
    req: &HttpRequest,
    token: Option<String>,
    body: web::Payload,
) -> Result<HttpResponse, WebError> {
    let answer = handle_delivery(state, req, token, body).await;
    if let Err(e) = &answer {
        use actix_web::ResponseError;
        let status = e.status_code();
        let logged = req.extensions().contains::<SetupProblemLogged>();
        if status.is_client_error()
            && status != actix_web::http::StatusCode::TOO_MANY_REQUESTS
            && !logged
        {
            let source = state
                .sources
                .source(req)
                .map_or_else(|| "-".to_string(), |ip| ip.to_string());
            tracing::warn!(status = status.as_u16(), %source, reason = %e, "webhook refused");
        }
    }
    answer
}

async fn handle_delivery(
    state: &AppState,
    req: &HttpRequest,
    token: Option<String>,
    body: web::Payload,
) -> Result<HttpResponse, WebError> {
    // A right token is always let in, even from a throttled address: Smartflo sends from
    // addresses it shares between its customers, and a missed call must not be turned
    // away because someone else there got a token wrong. Wrong ones are throttled.
    if !token.is_some_and(|t| state.webhook_tokens.accepts(&t)) {
        state.throttled(req)?;
        state.auth_failed(req, "webhook");
        return Err(WebError::Unauthorized("unknown or missing webhook token"));
    }

    let raw = raw_event(req);
    // The trigger and the content type are judged before the size: a wrong URL or header
    // is the more useful thing to be told.
    let head = Head::read(&raw).map_err(|e| rejected(state, req, e))?;
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        && len > MAX_BODY
    {
        return Err(WebError::PayloadTooLarge(MAX_BODY));
    }
    let bytes = read_body(body).await?;
    let received_at = state.app.now();
    let event = head
        .finish(&state.interpreter, raw, bytes, received_at)
        .map_err(|e| rejected(state, req, e))?;

    let accepted = Accepted::from(&event);
    let receipt = state.app.ingest(event).await?;
    state
        .metrics
        .webhook(&accepted.trigger, receipt.effect.as_str());
    if receipt.unreadable {
        state.metrics.unreadable_numbers.inc();
        // A customer nobody will be reminded about: a warning, and the dashboard lists it.
        tracing::warn!(event_id = %receipt.event_id, trigger = %accepted.trigger, "a missed call's customer number could not be read; listed on the dashboard under unreadable numbers");
    }
    Ok(reply(&accepted, &receipt))
}

/// What the log line and the reply need of an event, kept before ingest takes it.
pub struct Accepted {
    pub trigger: String,
    pub inferred: bool,
    /// The customer, masked for the log.
    pub customer: Option<String>,
}

impl From<&IncomingEvent> for Accepted {
    fn from(event: &IncomingEvent) -> Self {
        Self {
            trigger: event.trigger.clone(),
            inferred: event.trigger_inferred,
            customer: event.facts.customer.as_ref().ok().map(|c| c.masked()),
        }
    }
}

/// Logs a stored webhook and answers it (SPEC §4.1).
pub fn reply(accepted: &Accepted, receipt: &Receipt) -> HttpResponse {
    tracing::info!(
        event_id = %receipt.event_id,
        trigger = %accepted.trigger,
        inferred = accepted.inferred,
        effect = receipt.effect.as_str(),
        callback = receipt.callback_id.map(|c| c.to_string()).as_deref().unwrap_or("-"),
        customer = accepted.customer.as_deref().unwrap_or("-"),
        "webhook"
    );
    let reply = WebhookReply {
        ok: true,
        event_id: receipt.event_id.to_string(),
        trigger: &accepted.trigger,
        effect: receipt.effect,
        trigger_inferred: accepted.inferred,
        callback_id: receipt.callback_id.map(|c| c.to_string()),
        note: receipt.note.as_deref(),
    };
    HttpResponse::Ok().json(reply)
}

/// The event log's copy of the request: its line, content type and the headers kept.
pub fn raw_event(req: &HttpRequest) -> RawEvent {
    RawEvent {
        method: req.method().to_string(),
        content_type: req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()),
        query: req.query_string().to_string(),
        headers: kept_headers(req),
    }
}

/// Marks a request whose refusal was logged as a setup problem already.
struct SetupProblemLogged;

/// A delivery that cannot be read: 415 when the content type is what is wrong, else 400.
/// A POST with neither a body nor variables in the URL is a setup problem, not a bad event:
/// the event is lost unless the admin fixes the webhook, so say so in the log and a metric
/// as well as in the reply.
fn rejected(state: &AppState, req: &HttpRequest, why: Rejected) -> WebError {
    if let Some(problem) = why.setup_problem() {
        req.extensions_mut().insert(SetupProblemLogged);
        state.metrics.setup_problem(problem);
        tracing::warn!(
            query = req.query_string(),
            problem,
            "webhook setup problem: {why}"
        );
    }
    if why.is_media_type() {
        WebError::UnsupportedMediaType(why.to_string())
    } else {
        WebError::BadRequest(why.to_string())
    }
}

async fn read_body(mut body: web::Payload) -> Result<Vec<u8>, WebError> {
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| WebError::BadRequest(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(WebError::PayloadTooLarge(MAX_BODY));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn kept_headers(req: &HttpRequest) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = req.headers().get(*name)?.to_str().ok()?;
            let end = value
                .char_indices()
                .nth(512)
                .map_or(value.len(), |(i, _)| i);
            Some((name.to_string(), value[..end].to_string()))
        })
        .collect();
    if let Some(peer) = req.peer_addr() {
        out.push(("peer".into(), peer.ip().to_string()));
    }
    out
}
