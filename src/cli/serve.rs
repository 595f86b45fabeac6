//! `ringback serve`: the service itself, with the warnings a configuration earns at start.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::assemble;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::setup::{self};
use crate::startup::Application;

use super::{init_logging, load};

pub(super) async fn serve(config: PathBuf) -> ExitCode {
    init_logging();
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    for warning in warnings(&settings) {
        tracing::warn!("{warning}");
    }
    let public_url = settings.server.public_url.clone();
    let listen = settings.server.listen.clone();
    let url_settings = settings.clone();
    let app = match Application::build(settings, Arc::new(SystemClock)).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    for (kind, token, location) in &app.generated_tokens {
        // Printed once, on the start that generated it; kept by the store.
        let label = if *kind == "api" {
            "an API"
        } else {
            "a webhook"
        };
        println!(
            "Generated {label} token (kept in {location}; set [{kind}].tokens to choose your own):\n  {token}"
        );
    }
    let host = listen.rsplit_once(':').map_or(listen.as_str(), |(h, _)| h);
    tracing::info!(address = %format!("{host}:{}", app.port()), %public_url, "Ringback is listening");
    for hook in setup::webhooks(&url_settings, &app.webhook_token_hint) {
        tracing::info!(
            trigger = hook.trigger.smartflo_name(),
            need = hook.need.label(),
            "webhook URL: POST {}",
            hook.url
        );
    }
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped; storage flushed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("stopped with an error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Things that are valid but probably not what the operator wants.
pub(super) fn warnings(settings: &Settings) -> Vec<String> {
    let mut out: Vec<String> = settings
        .ignored_env
        .iter()
        .map(|name| {
            format!(
                "ignoring {name}: overrides are named RINGBACK_<SECTION>__<KEY> (two underscores)"
            )
        })
        .collect();
    if settings.email.is_none() && settings.telegram.is_none() {
        out.push("neither [email].smtp_url nor [telegram].bot_token is set: reminders go to the log only".into());
    }
    if settings.agents.is_empty() {
        out.push(
            "no [[agents]] configured: every callback is unassigned and goes to escalation".into(),
        );
    }
    if settings.dashboard.users.is_empty() {
        out.push("no [dashboard].users: the dashboard is off".into());
    }
    out.extend(settings.warnings.iter().map(ToString::to_string));
    out.extend(public_url_warning(&settings.server.public_url));
    out.extend(assemble::template_warnings(settings));
    out
}

/// Smartflo and the people opening links must reach `public_url`; webhook tokens and
/// dashboard passwords should not cross the internet in plain http.
pub(super) fn public_url_warning(url: &url::Url) -> Option<String> {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => false,
    };
    if loopback {
        Some(format!(
            "server.public_url {url} is a loopback address: Smartflo cannot reach it, and links in reminders will not open on anyone else's device; set it to the https:// address of the reverse proxy in front of Ringback (docs/deployment.md)"
        ))
    } else if url.scheme() == "http" {
        Some(format!(
            "server.public_url {url} is plain http: webhook tokens, dashboard passwords and customer numbers would cross the network unencrypted; serve Ringback behind a reverse proxy with HTTPS and set an https:// public_url (docs/deployment.md)"
        ))
    } else {
        None
    }
}
