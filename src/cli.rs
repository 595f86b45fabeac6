//! The command line: `serve`, `check-config`, `webhook-urls`, `smartflo-setup`, `export`,
//! `backup`, `hash-password` (docs/operations.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::assemble;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::setup::{self, Need};
use crate::startup::Application;

/// The shortest password `hash-password` accepts: a dashboard login reaches every
/// customer's number, and it may face the internet.
const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Parser)]
#[command(
    name = "ringback",
    version,
    about = "Missed-call reminders for Smartflo call centres"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the webhook receiver, API and scheduler.
    Serve {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Validate the configuration and exit (non-zero with the key and reason when wrong).
    CheckConfig {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Print, per Smartflo trigger, whether Ringback needs it and the URL to paste into
    /// Smartflo's webhook form.
    WebhookUrls {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Print everything to enter in Smartflo's webhook form, per trigger: whether it is
    /// required, method, URL, header and the body template to paste.
    SmartfloSetup {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Only the webhooks Ringback needs for missed-call alerts.
        #[arg(long)]
        required_only: bool,
    },
    /// Write every callback as CSV (to standard output unless --out is given). Works with
    /// the service running (through its API) or stopped (reading the store).
    Export {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// pending, resolved or all.
        #[arg(long, default_value = "all")]
        status: String,
        /// A file to write (created readable by you only); `-` is standard output.
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// Write a consistent copy of the store: a complete data directory that
    /// `[storage].path` can point at to restore. Works with the service running or stopped.
    Backup {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// The new directory (must not exist or be empty); default
        /// `<storage.path>/backups/<UTC time>`.
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Read a password from standard input and print its argon2id hash, for
    /// `[dashboard].users` (prompts without echo on a terminal).
    HashPassword,
    /// Create or update the store's schema (PostgreSQL) or format (the embedded store) to
    /// this build's; `serve` does the same at start.
    Migrate {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Rebuild the whole state from the embedded store's event log into a new directory:
    /// every event decided again, in the order it was first applied, with today's rules
    /// (to recover from a bug, or to apply a corrected lifecycle rule to history). Stop
    /// `serve` first; point `[storage].path` at the new directory to use it.
    Replay {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Only events received on or after this day (YYYY-MM-DD, UTC) or moment (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// The new data directory (must not exist, or be empty).
        #[arg(long)]
        into: PathBuf,
    },
    /// Copy the store the configuration names into TARGET — a postgres:// URL or a
    /// directory for an embedded store — which must be empty. Stop `serve` first.
    CopyStore {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// postgres://user@host:5432/db, or a directory (new or empty).
        #[arg(long)]
        to: String,
    },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config).await,
        Command::CheckConfig { config } => check_config(config),
        Command::WebhookUrls { config } => webhook_urls(config).await,
        Command::SmartfloSetup {
            config,
            required_only,
        } => smartflo_setup(config, required_only).await,
        Command::Export {
            config,
            status,
            out,
        } => export(config, &status, &out).await,
        Command::Backup { config, to } => backup(config, to).await,
        Command::HashPassword => hash_password(),
        Command::Migrate { config } => migrate(config).await,
        Command::CopyStore { config, to } => copy_store(config, &to).await,
        Command::Replay {
            config,
            since,
            into,
        } => match load(&config) {
            Ok(settings) => crate::replay::run(&settings, since.as_deref(), &into).await,
            Err(code) => code,
        },
    }
}

fn load(path: &Path) -> Result<Settings, ExitCode> {
    Settings::load(path).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        ExitCode::from(2)
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Values from outside (login names, Telegram names) cannot forge log lines.
        .fmt_fields(crate::logging::EscapedFields)
        // Colour codes only for a person at a terminal, not in journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

async fn serve(config: PathBuf) -> ExitCode {
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
fn warnings(settings: &Settings) -> Vec<String> {
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
fn public_url_warning(url: &url::Url) -> Option<String> {
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

fn check_config(config: PathBuf) -> ExitCode {
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
pub fn section_11_lines(settings: &Settings, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
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

/// The webhook token to put in URLs (configured, or the one the store keeps).
async fn webhook_token(settings: &Settings) -> Result<String, ExitCode> {
    crate::admin::token(settings, "webhook").await.map_err(|e| {
        eprintln!("error: reading the webhook token: {e:#}");
        ExitCode::FAILURE
    })
}

async fn webhook_urls(config: PathBuf) -> ExitCode {
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let token = match webhook_token(&settings).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    if let Some(warning) = public_url_warning(&settings.server.public_url) {
        eprintln!("warning: {warning}");
    }
    println!(
        "Paste into Smartflo's webhook form (method POST, header content-type: application/json);"
    );
    println!("`ringback smartflo-setup` prints the body template for each:");
    for hook in setup::webhooks(&settings, &token) {
        println!(
            "  {:<44} {:<8} POST {}",
            hook.trigger.smartflo_name(),
            hook.need.label(),
            hook.url
        );
    }
    ExitCode::SUCCESS
}

async fn smartflo_setup(config: PathBuf, required_only: bool) -> ExitCode {
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let token = match webhook_token(&settings).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    if let Some(warning) = public_url_warning(&settings.server.public_url) {
        eprintln!("warning: {warning}");
    }
    let hooks: Vec<_> = setup::webhooks(&settings, &token)
        .into_iter()
        .filter(|h| !required_only || h.need == Need::Required)
        .collect();
    let (key, value) = setup::CONTENT_TYPE_HEADER;
    println!(
        "Smartflo webhooks for Ringback at {}",
        settings.server.public_url
    );
    println!();
    println!(
        "In Smartflo, add one webhook per trigger below (docs/smartflo-setup.md walks through it)."
    );
    println!("For each: choose the trigger, method POST, paste the URL, add the custom header");
    println!("{key}: {value} (the key exactly so, lower-case: otherwise Smartflo sends no body),");
    println!("and paste the body template.");
    for (i, hook) in hooks.iter().enumerate() {
        println!();
        println!(
            "{}. {} [{}]",
            i + 1,
            hook.trigger.smartflo_name(),
            hook.need.label().to_uppercase()
        );
        println!("   {}", hook.why);
        println!("   Method:  POST");
        println!("   URL:     {}", hook.url);
        println!("   Header:  {key}: {value}");
        println!("   Body:");
        for line in hook.body_template().lines() {
            println!("     {line}");
        }
    }
    println!();
    println!(
        "Then watch ringback_webhook_setup_problems_total on /metrics: it counts webhooks refused because of how they are set up."
    );
    ExitCode::SUCCESS
}

async fn export(config: PathBuf, status: &str, out: &Path) -> ExitCode {
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut sink: Box<dyn std::io::Write + Send> = if out == Path::new("-") {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        use std::os::unix::fs::OpenOptionsExt;
        // Customer numbers are personal data: readable by the owner only.
        match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(out)
        {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("error: creating {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
        }
    };
    match crate::admin::export(&settings, status, sink.as_mut()).await {
        Ok(count) => {
            if out != Path::new("-") {
                match count {
                    Some(n) => eprintln!("{n} callbacks written to {}", out.display()),
                    None => eprintln!("callbacks written to {}", out.display()),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn backup(config: PathBuf, to: Option<PathBuf>) -> ExitCode {
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match crate::admin::backup(&settings, to, chrono::Utc::now()).await {
        Ok(made) => {
            println!(
                "backup written to {} ({} callbacks, {} records, {} bytes; with {})",
                made.path.display(),
                made.callbacks,
                made.keys,
                made.bytes,
                made.files.join(", ")
            );
            println!("to restore: stop Ringback and point [storage].path at that directory");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: PathBuf) -> ExitCode {
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match crate::admin::migrate(&settings).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn copy_store(config: PathBuf, to: &str) -> ExitCode {
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match crate::admin::copy_store(&settings, to).await {
        Ok(copied) => {
            println!("copied into {}:", crate::admin::describe_target(to));
            for (part, count) in copied {
                println!("  {count:>9}  {}", part.name());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn hash_password() -> ExitCode {
    use std::io::{BufRead, IsTerminal};

    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};

    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ");
        let second = rpassword::prompt_password("Again: ");
        match (first, second) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => {
                eprintln!("error: the two passwords differ");
                return ExitCode::FAILURE;
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: reading the password: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            eprintln!("error: reading the password: {e}");
            return ExitCode::FAILURE;
        }
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        eprintln!(
            "error: the password is too short: use at least {MIN_PASSWORD_CHARS} characters (a few words make a good one)"
        );
        return ExitCode::FAILURE;
    }
    let salt = SaltString::generate(&mut OsRng);
    match argon2::Argon2::default().hash_password(password.as_bytes(), &salt) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: hashing failed: {e}");
            ExitCode::FAILURE
        }
    }
}
