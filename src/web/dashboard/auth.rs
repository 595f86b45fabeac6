//! Login, logout, sessions and CSRF tokens for the dashboard.

use std::collections::HashMap;

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::{render, see_other};
use crate::web::AppState;

pub use super::session::Viewer;
use super::session::{self, LOGIN_HOURS};

const CSRF: &str = "csrf";

pub fn session_middleware(key: &[u8], secure: bool) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), Key::from(key))
        .cookie_name("ringback_session".into())
        .cookie_secure(secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(actix_web::cookie::time::Duration::hours(LOGIN_HOURS)),
        )
        .build()
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return token;
    }
    let token = crate::tokens::random_token();
    let _ = session.insert(CSRF, &token);
    token
}

/// Whether `presented` is the session's CSRF token (compared in constant time).
pub fn csrf_ok(session: &Session, presented: Option<&str>) -> bool {
    match (session.get::<String>(CSRF).ok().flatten(), presented) {
        (Some(expected), Some(presented)) => expected.as_bytes().ct_eq(presented.as_bytes()).into(),
        _ => false,
    }
}

/// The response to a POST without a valid CSRF token.
pub fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/plain; charset=utf-8")
        .body("This form has expired or did not come from Ringback. Go back, reload the page and try again.")
}

/// Reads a form body into a map (first value wins).
pub fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Longest `next` kept (a callback page with a filter is under 100 characters).
const MAX_NEXT: usize = 512;

/// Only a same-site path may follow a login: `/` then characters of a URL path and query,
/// never a second `/` at the start (`//host`), and no `\`, whitespace or control
/// character — browsers read `\` as `/` and drop a tab or newline (`/\t/evil.example` is `//evil.example`),
/// and CR/LF cannot go into a `Location` header. Anything else goes to `/`.
fn safe_next(next: Option<&str>) -> String {
    let safe = |n: &str| {
        n.len() <= MAX_NEXT
            && n.starts_with('/')
            && !n[1..].starts_with('/')
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~?=&%+,;:@!$*()'".contains(&b))
    };
    match next {
        Some(n) if safe(n) => n.to_string(),
        _ => "/".to_string(),
    }
}

#[derive(serde::Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

pub async fn login_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NextParam>,
) -> HttpResponse {
    if !state.dashboard.enabled() {
        return render(
            &state,
            StatusCode::NOT_FOUND,
            "off.html",
            None,
            "off",
            Map::new(),
        );
    }
    login_form(
        &state,
        &session,
        StatusCode::OK,
        &safe_next(query.next.as_deref()),
        "",
        None,
    )
}

fn login_form(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    next: &str,
    name: &str,
    error: Option<&str>,
) -> HttpResponse {
    let mut ctx = Map::new();
    ctx.insert("csrf".into(), csrf_token(session).into());
    ctx.insert("next".into(), next.into());
    ctx.insert("name".into(), name.into());
    ctx.insert("error".into(), error.map_or(Value::Null, Value::from));
    render(state, status, "login.html", None, "login", ctx)
}

pub async fn login(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let dashboard = &state.dashboard;
    if !dashboard.enabled() {
        return render(
            &state,
            StatusCode::NOT_FOUND,
            "off.html",
            None,
            "off",
            Map::new(),
        );
    }
    let form = form_fields(&body);
    if !csrf_ok(&session, form.get("csrf").map(String::as_str)) {
        return forbidden();
    }
    let next = safe_next(form.get("next").map(String::as_str));
    let name = form
        .get("name")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    // The attempt is counted before any password is hashed, so a burst of simultaneous
    // guesses is cut off at the allowance; a source out of attempts is told so at once.
    let source = state.sources.source(&req);
    let attempt_at = std::time::Instant::now();
    match state.throttle.attempt(source, attempt_at) {
        Err(wait) => {
            let message = format!(
                "Too many failed sign-ins from your address. Try again in {} seconds.",
                wait.as_secs()
            );
            return login_form(
                &state,
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                &name,
                Some(&message),
            );
        }
        Ok(true) => {
            tracing::warn!(source = %source.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()), what = "login", "too many failed authentications; throttling this source for up to a minute");
        }
        Ok(false) => {}
    }
    let user = dashboard
        .users
        .iter()
        .find(|u| u.name.eq_ignore_ascii_case(&name))
        .cloned();
    // An unknown name still costs one hash check, so timing does not tell names apart.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.expose().to_string())
        .unwrap_or_else(|| dashboard.users[0].password_hash.expose().to_string());
    let verified = match dashboard.passwords.verify(hash, password).await {
        Ok(verified) => verified,
        Err(busy) => {
            // Not the guesser's fault: the attempt is given back.
            state.throttle.forgive(source, attempt_at);
            return login_form(
                &state,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                &name,
                Some(&busy.to_string()),
            );
        }
    };
    match user.filter(|_| verified) {
        Some(user) => {
            state.throttle.forgive(source, attempt_at);
            session.renew();
            session::begin(&session, &user, state.app.now());
            let _ = session.insert(CSRF, crate::tokens::random_token());
            tracing::info!(user = %user.name, "dashboard login");
            see_other(&next)
        }
        None => {
            state.count_auth_failure("login");
            tracing::warn!(name = %name.chars().take(64).collect::<String>(), "dashboard login refused");
            login_form(
                &state,
                &session,
                StatusCode::UNAUTHORIZED,
                &next,
                &name,
                Some("Wrong name or password."),
            )
        }
    }
}

pub async fn logout(
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
    _req: HttpRequest,
) -> HttpResponse {
    let form = form_fields(&body);
    if !csrf_ok(&session, form.get("csrf").map(String::as_str)) {
        return forbidden();
    }
    match session::end(&session, state.app.store.as_ref(), state.app.now()).await {
        Ok(()) => see_other("/login"),
        Err(e) => {
            crate::metrics::request_failed(e.kind());
            tracing::error!(error = %e.describe(), "logout could not be recorded");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .insert_header(("retry-after", "5"))
                .body("You are still logged in: storage is unavailable, so the logout could not be recorded. Try again shortly.")
        }
    }
}

/// The JSON fragment pages use for "flash" messages passed in the query string.
pub fn flash(query: &str) -> Value {
    let Some((_, done)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "done")
    else {
        return Value::Null;
    };
    let text = match done.as_ref() {
        "resolved" => "Resolved.",
        "snoozed" => "Snoozed.",
        "outcome" => "Outcome recorded as an attempt.",
        "outcome_resolved" => "Wrong number recorded: the callback is resolved.",
        "unchanged_outcome" => "Already recorded a moment ago: it counts once.",
        "assigned" => "Reassigned.",
        "unchanged_assigned" => "It is assigned to them already: nothing changed.",
        "rules" => "Rules saved; pending callbacks follow them now.",
        "reset" => {
            "The file's rules are in force again; later edits of config.toml take effect at the next start."
        }
        "unchanged" => "Nothing changed.",
        "already_resolved" => "Nothing done: this callback is already resolved.",
        "reason_missing" => "Nothing done: give a reason to resolve.",
        "unknown_agent" => "Nothing done: that is not a configured agent.",
        "invalid" => "Nothing done: that was not a valid choice.",
        "calling" => "Smartflo is placing the call: the agent's phone rings first.",
        "call_failed" => "The call could not be placed; the timeline says why.",
        "call_refused" => {
            "The call was not placed (nobody assigned with a Smartflo id, or click-to-call is off)."
        }
        _ => return Value::Null,
    };
    // What went wrong reads as a problem (and is announced), not as a success.
    let problem = matches!(
        done.as_ref(),
        "already_resolved"
            | "reason_missing"
            | "unknown_agent"
            | "invalid"
            | "call_failed"
            | "call_refused"
    );
    json!({"text": text, "problem": problem})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_of_safe_characters_may_follow_a_login() {
        for kept in [
            "/",
            "/summary",
            "/callbacks/01KSQ?done=resolved",
            "/?agent=Meera%20K",
        ] {
            assert_eq!(safe_next(Some(kept)), kept);
        }
        for refused in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/\u{b}/evil.example",
            "/ /evil.example",
            "https://evil.example/",
            "evil.example",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe_next(Some(refused)), "/", "{refused:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(600)))), "/");
        assert_eq!(safe_next(None), "/");
    }
}
