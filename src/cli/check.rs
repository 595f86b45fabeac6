//! `ringback check-config`: a configuration read and checked without starting anything,
//! and what SPEC §11 asks it to print.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::assemble;
use crate::config::Settings;

use super::load;
use super::serve::warnings;

pub(super) fn check_config(config: PathBuf) -> ExitCode {
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Err(e) = assemble::notifier_for(&settings, None)
        .and_then(|_| crate::web::dashboard::Dashboard::for_settings(&settings))
    {
        eprintln!("error: {}: {e:#}", config.display());
        return ExitCode::from(2);
    }
    println!("{}: configuration is valid", config.display());
    println!("  listen            {}", settings.server.listen);
    println!("  public_url        {}", settings.server.public_url);
    match &settings.storage.backend {
        crate::config::StorageBackend::Sled => {
            println!("  storage           {}", settings.storage.path.display());
        }
        crate::config::StorageBackend::Postgres { url, pool_size } => println!(
            "  storage           PostgreSQL {} (up to {pool_size} connections)",
            crate::admin::describe_target(url.expose())
        ),
    }
    println!(
        "  reminders         first after {}, then every {}, business hours {:?} ({})",
        settings.rules_text.first_after,
        settings.rules_text.repeat_every,
        settings.rules.business_hours.expression(),
        settings.reminders.timezone,
    );
    println!(
        "  email             {}",
        if settings.email.is_some() {
            "on"
        } else {
            "off"
        }
    );
    println!(
        "  telegram          {}",
        if settings.telegram.is_some() {
            "on"
        } else {
            "off"
        }
    );
    println!(
        "  click-to-call     {}",
        if settings.smartflo.is_some() {
            "on"
        } else {
            "off"
        }
    );
    println!("  agents            {}", settings.agents.len());
    println!("  supervisors       {}", settings.supervisors.len());
    println!("  escalation steps  {}", settings.rules.escalation.len());
    println!("  dashboard users   {}", settings.dashboard.users.len());
    println!(
        "  templates         {} (built-in unless a file there overrides one; rendered in {})",
        settings.templates.dir.display(),
        crate::config::extras::LANGUAGES.join(" and ")
    );
    for line in section_11_lines(&settings, chrono::Utc::now()) {
        println!("{line}");
    }
    for warning in warnings(&settings) {
        println!("warning: {warning}");
    }
    ExitCode::SUCCESS
}

/// What check-config says about SPEC §11's settings: the service level, the next holidays,
/// digests, privacy and languages.
fn section_11_lines(settings: &Settings, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let extras = &settings.extras;
    let sla = &extras.rules.sla;
    let human = |d: chrono::Duration| {
        humantime::format_duration(d.to_std().unwrap_or_default()).to_string()
    };
    let mut lines = vec![format!(
        "  sla               {}",
        match sla.within {
            Some(d) => format!("callback within {} of business time", human(d)),
            None => "none".into(),
        }
    )];
    for (department, d) in &sla.departments {
        lines.push(format!(
            "                    {department}: within {}",
            human(*d)
        ));
    }
    let today = now.with_timezone(&settings.reminders.timezone).date_naive();
    let next: Vec<String> = extras
        .holidays
        .range(today..)
        .take(5)
        .map(|(date, name)| format!("{} ({name})", date.format("%a %-d %b %Y")))
        .collect();
    lines.push(format!(
        "  holidays          {} in all; next: {}",
        extras.holidays.len(),
        if next.is_empty() {
            "none".to_string()
        } else {
            next.join(", ")
        }
    ));
    lines.push(format!(
        "  attempts          {}",
        match extras.rules.escalate_after_attempts {
            Some(n) => format!("escalate after {n} failed call-back attempts"),
            None => "escalation by age only".into(),
        }
    ));
    for digest in &extras.digests {
        lines.push(format!(
            "  digest            {:?} to {}; next {}",
            digest.schedule.expression(),
            digest.notify.join(", "),
            digest
                .schedule
                .next_after(now)
                .map(|t| crate::display::local_time(t, settings.reminders.timezone))
                .unwrap_or_else(|| "never".into())
        ));
    }
    lines.push(format!(
        "  privacy           numbers {}; raw events kept {}",
        if extras.privacy.mask_numbers {
            "masked in messages"
        } else {
            "in full in messages (masked in logs)"
        },
        match (settings.storage.raw_retention, settings.storage.retention) {
            (Some(d), _) | (None, Some(d)) => format!("{} days", d.as_secs() / 86_400),
            (None, None) => "for ever".into(),
        }
    ));
    lines
}
