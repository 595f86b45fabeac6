//! `GET /v/{token}`: the callback a reminder is about, for the person it went to, without a
//! dashboard login (agents have none). The token is a signed view link (`links.rs`): it
//! shows the callback and offers that person's one-tap actions as buttons, each a signed
//! action link whose POST acts (`links.rs` in this directory). Only the signature opens
//! the page, so a forged or edited link shows nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::facts::{self, Clock};
use super::links::page as info_page;
use super::pages::resolution_text;
use super::render;
use crate::display::local_time;
use crate::domain::actions::{Outcome, QuickAction};
use crate::domain::callback::Callback;
use crate::links::{ActionLink, ViewLink, ViewLinkError, link_lifetime};
use crate::notify::button_label;
use crate::web::AppState;

/// Timeline entries shown (newest first); the dashboard shows them all.
const ENTRIES_SHOWN: usize = 50;

async fn page_for(state: &AppState, req: &HttpRequest, token: &str) -> HttpResponse {
    let refused = |status, title: &str, message: &str| {
        info_page(state, status, title, message, None, Map::new())
    };
    if state.throttled(req).is_err() {
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many bad links",
            "Too many links that Ringback did not make came from your address. Wait a minute and try again.",
        );
    }
    let now = state.app.now();
    let link = match state.links.verify_view(token, now) {
        Ok(link) => link,
        Err(ViewLinkError::Invalid) => {
            state.auth_failed(req, "link");
            return refused(
                StatusCode::FORBIDDEN,
                "Link not valid",
                "This link was not made by Ringback, or it was changed.",
            );
        }
        Err(ViewLinkError::Expired(_)) => {
            return refused(
                StatusCode::GONE,
                "Link expired",
                "This link has expired. The next reminder brings a fresh one; supervisors find the callback in the dashboard.",
            );
        }
    };
    let (cb, timeline) = match state.app.store.callback_detail(link.callback).await {
        Ok(Some(detail)) => (detail.callback, detail.timeline),
        Ok(None) => {
            return refused(
                StatusCode::NOT_FOUND,
                "No such callback",
                "This callback no longer exists.",
            );
        }
        Err(e) => return super::pages::failed_page(&e),
    };
    let zone = state.settings.reminders.timezone;
    let rules = state.app.rules.get();
    let clock = Clock {
        zone,
        now,
        rules: &rules,
    };
    let mut view = facts::callback(&cb, &clock);
    view["resolution"] = json!(resolution_text(&cb, zone));
    let mut ctx = Map::new();
    ctx.insert("cb".into(), view);
    ctx.insert("who".into(), link.who.clone().into());
    ctx.insert("expires".into(), local_time(link.expires, zone).into());
    ctx.insert("actions".into(), actions(state, &cb, &link, now).into());
    ctx.insert(
        "events".into(),
        timeline
            .iter()
            .rev()
            .take(ENTRIES_SHOWN)
            .map(|e| facts::entry(e, zone))
            .collect::<Vec<_>>()
            .into(),
    );
    render(state, StatusCode::OK, "view.html", None, "view", ctx)
}

pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    page_for(&state, &req, &token).await
}

/// The one-tap actions `link.who` may take on `cb`, as signed action links: none once it
/// is resolved; "I'll take it" only for agents it is not assigned to; "Call back now" only
/// with click-to-call.
fn actions(state: &AppState, cb: &Callback, link: &ViewLink, now: DateTime<Utc>) -> Vec<Value> {
    if !cb.is_pending() {
        return Vec::new();
    }
    let who = link.who.as_str();
    let is_agent = state
        .settings
        .agents
        .iter()
        .any(|a| a.name.eq_ignore_ascii_case(who));
    let assigned = cb
        .assigned_agent
        .as_ref()
        .is_some_and(|a| a.name.eq_ignore_ascii_case(who));
    let offered = [
        (QuickAction::CallBack, state.app.click_to_call.is_some()),
        (QuickAction::Snooze, true),
        (QuickAction::Take, is_agent && !assigned),
        (QuickAction::CalledBack, true),
    ];
    // What happened when they tried (SPEC §11): every outcome, after the main actions.
    let outcomes = Outcome::ALL.map(|o| (QuickAction::Outcome(o), true));
    offered
        .into_iter()
        .chain(outcomes)
        .filter(|(_, shown)| *shown)
        .map(|(action, _)| {
            let token = state.links.sign(&ActionLink {
                action,
                callback: cb.id,
                who: who.to_string(),
                expires: now + link_lifetime(),
            });
            json!({ "label": button_label(action), "url": format!("/a/{token}") })
        })
        .collect()
}
