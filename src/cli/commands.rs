//! The one-shot commands: `webhook-urls`, `smartflo-setup`, `export`, `backup`, `migrate`,
//! `copy-store`, `hash-password`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Settings;
use crate::setup::{self, Need};

use super::load;
use super::serve::public_url_warning;

/// The shortest password `hash-password` accepts: a dashboard login reaches every
/// customer's number, and it may face the internet.
const MIN_PASSWORD_CHARS: usize = 12;

/// The webhook token to put in URLs (configured, or the one the store keeps).
async fn webhook_token(settings: &Settings) -> Result<String, ExitCode> {
    crate::admin::token(settings, "webhook").await.map_err(|e| {
        eprintln!("error: reading the webhook token: {e:#}");
        ExitCode::FAILURE
    })
}

pub(super) async fn webhook_urls(config: PathBuf) -> ExitCode {
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

pub(super) async fn smartflo_setup(config: PathBuf, required_only: bool) -> ExitCode {
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

pub(super) async fn export(config: PathBuf, status: &str, out: &Path) -> ExitCode {
    let settings = match load(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut sink: Box<dyn std::io::Write + Send> = if out == Path::new("-") {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        match private_file(out) {
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

pub(super) async fn backup(config: PathBuf, to: Option<PathBuf>) -> ExitCode {
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

pub(super) async fn migrate(config: PathBuf) -> ExitCode {
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

/// `path` opened for writing, readable by its owner only — customer numbers are personal
/// data — even when it already existed with a looser mode; not through a symbolic link
/// (which could point anywhere).
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => std::io::Error::other(
                "it is a symbolic link; give the path of the file itself (or `-` for standard output)",
            ),
            _ => e,
        })?;
    // A regular file only: a device (`/dev/null`) keeps its mode.
    if file.metadata()?.is_file() {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

pub(super) async fn copy_store(config: PathBuf, to: &str) -> ExitCode {
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

pub(super) fn hash_password() -> ExitCode {
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
