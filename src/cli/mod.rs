//! The command line: `serve`, `check-config`, `webhook-urls`, `smartflo-setup`, `export`,
//! `backup`, `hash-password`, `migrate`, `copy-store`, `replay` (docs/operations.md): the
//! arguments here, each command in `serve`, `check` or `commands` (`replay` in
//! `crate::replay`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use check::check_config;
use commands::{backup, copy_store, export, hash_password, migrate, smartflo_setup, webhook_urls};
use serve::serve;

mod check;
mod commands;
mod serve;

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
    keep_new_files_private();
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

/// Everything Ringback writes — sled's files, the event log, backups, exports, tokens —
/// holds customer numbers or secrets: readable by its owner only, whatever umask it was
/// started with (sled and the log would otherwise create theirs 0644 in 0755 directories).
fn keep_new_files_private() {
    // SAFETY: umask only sets this process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
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
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Values from outside (login names, Telegram names) cannot forge log lines.
        .fmt_fields(crate::logging::EscapedFields)
        // Colour codes only for a person at a terminal, not in journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}
