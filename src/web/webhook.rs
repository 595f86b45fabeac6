//! `GET|POST /webhooks/smartflo/{token}` and `/webhooks/smartflo` + `X-Ringback-Token`
//! (SPEC §4.1). The order of checks is the order of blame: who you are (401), what you
//! asked for (400 for an unknown `trigger=`), how you sent it (415, 413), what you sent
//! (400). Only then is anything stored, and the reply waits until it is durable.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::views::WebhookReply;
use super::{AppState, WebError};
use crate::app::IncomingEvent;
use crate::smartflo::Trigger;
use crate::smartflo::payload::Fields;
use crate::store::{DedupKey, RawEvent};

/// Largest accepted body (SPEC §4.1).
pub const MAX_BODY: usize = 256 * 1024;
/// Longest `call_id` / `uuid` kept as a key; real ones are under 40 characters.
const MAX_ID_LEN: usize = 256;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Query,
}

async fn handle(
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

    let (trigger, query_fields) = split_query(req.query_string());
    let trigger = match trigger.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(slug) => Some(
            slug.parse::<Trigger>()
                .map_err(|e| WebError::BadRequest(e.to_string()))?,
        ),
        None => None,
    };

    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let is_get = req.method() == actix_web::http::Method::GET;
    let declared_kind = if is_get {
        BodyKind::Query
    } else {
        match content_type.as_deref().map(essence) {
            Some(m) if m == "application/json" || m.ends_with("+json") => BodyKind::Json,
            Some(m) if m == "application/x-www-form-urlencoded" => BodyKind::Form,
            None => BodyKind::Query,
            Some(other) => {
                return Err(WebError::UnsupportedMediaType(format!(
                    "content type {other:?} is not supported; send application/json or application/x-www-form-urlencoded"
                )));
            }
        }
    };
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
    if !is_get && bytes.is_empty() && query_fields.is_empty() {
        return Err(empty_post(
            state,
            req,
            declared_kind,
            content_type.as_deref(),
        ));
    }
    let kind = match declared_kind {
        // Some templates put the variables in the URL even on a POST.
        _ if bytes.is_empty() && !query_fields.is_empty() => BodyKind::Query,
        // A POST without a content type is fine only when the variables are in the URL.
        BodyKind::Query if !is_get && !bytes.is_empty() => {
            return Err(WebError::UnsupportedMediaType(
                "missing content type; send application/json or application/x-www-form-urlencoded"
                    .into(),
            ));
        }
        k => k,
    };
    let fields = match kind {
        BodyKind::Json => Fields::from_json(&bytes),
        BodyKind::Form => Fields::from_form(&bytes),
        BodyKind::Query => Fields::from_pairs(query_fields),
    }
    .map_err(|e| WebError::BadRequest(e.to_string()))?;

    let received_at = state.app.now();
    let interpretation = state.interpreter.interpret(&fields, trigger, received_at);
    for (name, value) in [
        ("call_id", &interpretation.event.call_id),
        ("uuid", &interpretation.event.uuid),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > MAX_ID_LEN) {
            return Err(WebError::BadRequest(format!(
                "{name} is longer than {MAX_ID_LEN} characters"
            )));
        }
    }

    let slug = interpretation.trigger_slug().to_string();
    let uuid = interpretation.event.uuid.clone();
    let dedup = DedupKey {
        trigger: slug.clone(),
        call_id: interpretation.event.call_id.clone().unwrap_or_default(),
        leg: match &uuid {
            Some(u) => u.clone(),
            None => body_digest(if kind == BodyKind::Query {
                req.query_string().as_bytes()
            } else {
                &bytes
            }),
        },
    };
    let raw = RawEvent {
        method: req.method().to_string(),
        content_type,
        query: req.query_string().to_string(),
        headers: kept_headers(req),
    };
    let customer = interpretation
        .facts
        .customer
        .as_ref()
        .ok()
        .map(|c| c.masked());
    let event = IncomingEvent {
        received_at,
        trigger: slug.clone(),
        trigger_inferred: interpretation.trigger_inferred && interpretation.trigger.is_some(),
        intent: interpretation.intent,
        facts: interpretation.facts,
        dedup,
        uuid,
        note: interpretation.note.map(str::to_string),
        customer_raw: interpretation.customer_raw,
        raw,
        body: bytes.to_vec(),
    };
    let inferred = event.trigger_inferred;
    let receipt = state.app.ingest(event).await?;
    state.metrics.webhook(&slug, receipt.effect.as_str());
    if receipt.unreadable {
        state.metrics.unreadable_numbers.inc();
        // A customer nobody will be reminded about: a warning, and the dashboard lists it.
        tracing::warn!(event_id = %receipt.event_id, trigger = %slug, "a missed call's customer number could not be read; listed on the dashboard under unreadable numbers");
    }

    tracing::info!(
        event_id = %receipt.event_id,
        trigger = %slug,
        inferred,
        effect = receipt.effect.as_str(),
        callback = receipt.callback_id.map(|c| c.to_string()).as_deref().unwrap_or("-"),
        customer = customer.as_deref().unwrap_or("-"),
        "webhook"
    );
    let reply = WebhookReply {
        ok: true,
        event_id: receipt.event_id.to_string(),
        trigger: &slug,
        effect: receipt.effect,
        trigger_inferred: inferred,
        callback_id: receipt.callback_id.map(|c| c.to_string()),
        note: receipt.note.as_deref(),
    };
    Ok(HttpResponse::Ok().json(reply))
}

/// A POST with neither a body nor variables in the URL: a setup problem, not a bad event.
/// Smartflo's dispatcher sends exactly this when the webhook's custom header key is not
/// lower-case `content-type` (it keeps the header, drops the body), so the event is lost
/// unless the admin fixes the webhook: say so in the reply, the log and a metric.
fn empty_post(
    state: &AppState,
    req: &HttpRequest,
    declared: BodyKind,
    content_type: Option<&str>,
) -> WebError {
    state.metrics.setup_problem("empty_body");
    let reason = match declared {
        BodyKind::Json | BodyKind::Form => format!(
            "the body is empty although the content type is {:?}: Smartflo sends a POST without its body when the webhook's custom header key is not exactly lower-case `content-type`; in Smartflo's webhook form, write the header key as content-type (see docs/smartflo-setup.md)",
            content_type.unwrap_or_default()
        ),
        BodyKind::Query => "the POST has no body and no variables in the URL: in Smartflo's webhook form, add the custom header content-type: application/json (key lower-case) and the body template from `ringback smartflo-setup`".to_string(),
    };
    tracing::warn!(
        query = req.query_string(),
        problem = "empty_body",
        "webhook setup problem: {reason}"
    );
    WebError::BadRequest(reason)
}

/// The media type without parameters, lower-cased (`application/json; charset=utf-8`).
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Splits `trigger=` off the query string; the rest are payload variables on a GET.
fn split_query(query: &str) -> (Option<String>, Vec<(String, String)>) {
    let mut trigger = None;
    let mut rest = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k.trim() == "trigger" && trigger.is_none() {
            trigger = Some(v.into_owned());
        } else {
            rest.push((k.into_owned(), v.into_owned()));
        }
    }
    (trigger, rest)
}

async fn read_body(mut body: web::Payload) -> Result<web::Bytes, WebError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| WebError::BadRequest(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(WebError::PayloadTooLarge(MAX_BODY));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn body_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("#{hex}")
}

fn kept_headers(req: &HttpRequest) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = req.headers().get(*name)?.to_str().ok()?;
            Some((name.to_string(), value.chars().take(512).collect()))
        })
        .collect();
    if let Some(peer) = req.peer_addr() {
        out.push(("peer".into(), peer.ip().to_string()));
    }
    out
}
