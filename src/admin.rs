//! `ringback export` and `ringback backup` (issue 6). Both work whether or not the service
//! is running: the embedded store lets one process open it, so when the service holds it
//! (the store answers "in use") the command asks the service over its API
//! (`GET /api/v1/callbacks.csv`, `POST /api/v1/backup`) with the API token, and otherwise
//! opens the store itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::export;
use crate::store::{self, Backup, Opened, StoreError};

/// Where a backup goes unless told otherwise: `<data dir>/backups/<UTC time>`.
pub fn default_target(data_dir: &Path, now: DateTime<Utc>) -> PathBuf {
    data_dir
        .join("backups")
        .join(now.format("%Y%m%dT%H%M%S%.3fZ").to_string())
}

/// The store, opened here, or the running service that holds it.
enum Reach {
    Here(Opened),
    Service { base: String, token: String },
}

async fn reach(settings: &Settings) -> anyhow::Result<Reach> {
    let data_dir = &settings.storage.path;
    if !data_dir.join("sled").is_dir() {
        bail!(
            "no store in {} (has Ringback run with this configuration?)",
            data_dir.display()
        );
    }
    match store::open(&settings.storage).await {
        Ok(store) => Ok(Reach::Here(store)),
        // Another process (the service) holds the store.
        Err(StoreError::Busy(_)) => {
            let base = service_url(&settings.server.listen)?;
            let token = crate::tokens::provision(&settings.api.tokens, data_dir, "api")
                .context("reading the API token")?
                .tokens
                .first()
                .map(|t| t.expose().to_string())
                .context("no API token")?;
            Ok(Reach::Service { base, token })
        }
        Err(e) => Err(e).with_context(|| format!("opening the store in {}", data_dir.display())),
    }
}

/// The local address of the service listening on `listen`.
fn service_url(listen: &str) -> anyhow::Result<String> {
    let (host, port) = listen
        .rsplit_once(':')
        .with_context(|| format!("[server].listen {listen:?} has no port"))?;
    if port == "0" {
        bail!("the store is in use, and [server].listen has port 0: cannot find the service");
    }
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "[::]" => "[::1]",
        other => other,
    };
    Ok(format!("http://{host}:{port}"))
}

async fn ask(
    base: &str,
    token: &str,
    request: impl FnOnce(&reqwest::Client, String) -> reqwest::RequestBuilder,
    path: &str,
) -> anyhow::Result<reqwest::Response> {
    let client = reqwest::Client::new();
    let response = request(&client, format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| {
            format!("the store is in use, and the service at {base} did not answer")
        })?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        bail!("the service answered {status}: {body}");
    }
    Ok(response)
}

/// Writes the CSV export to `out`; returns how many callbacks (when known: the service
/// streams rows without a count).
pub async fn export(
    settings: &Settings,
    status: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Option<usize>> {
    let filter = export::parse_status(Some(status)).map_err(anyhow::Error::msg)?;
    match reach(settings).await? {
        Reach::Here(opened) => {
            // The file's rules: a stopped service has no edited business hours in force.
            let sheet = export::Sheet {
                zone: settings.reminders.timezone,
                rules: &settings.rules,
                now: chrono::Utc::now(),
            };
            let written = export::write_all(opened.store.as_ref(), filter, &sheet, out).await;
            opened.store.close().await?;
            Ok(Some(written?))
        }
        Reach::Service { base, token } => {
            let path = format!("/api/v1/callbacks.csv?status={status}");
            let mut response = ask(&base, &token, |c, url| c.get(url), &path).await?;
            while let Some(chunk) = response.chunk().await.context("reading the export")? {
                out.write_all(&chunk)?;
            }
            out.flush()?;
            Ok(None)
        }
    }
}

/// Writes a backup; into `to` when given (which must not exist or be empty).
pub async fn backup(
    settings: &Settings,
    to: Option<PathBuf>,
    now: DateTime<Utc>,
) -> anyhow::Result<Backup> {
    if let Some(to) = &to
        && crate::data_dir::has_entries(to)
    {
        bail!("{} exists and is not empty", to.display());
    }
    match reach(settings).await? {
        Reach::Here(opened) => {
            let target = to.unwrap_or_else(|| default_target(&settings.storage.path, now));
            let made = match &opened.backups {
                Some(backups) => backups.backup(target).await.map_err(anyhow::Error::from),
                None => Err(anyhow::anyhow!(
                    "this storage backend is backed up with its own tools, not `ringback backup`"
                )),
            };
            opened.store.close().await?;
            made
        }
        Reach::Service { base, token } => {
            let response = ask(&base, &token, |c, url| c.post(url), "/api/v1/backup").await?;
            let reply: serde_json::Value = response.json().await.context("reading the reply")?;
            let mut made: Backup = serde_json::from_value(reply["backup"].clone())
                .context("the service's reply has no backup")?;
            if let Some(to) = to {
                move_dir(&made.path, &to)?;
                made.path = to;
            }
            Ok(made)
        }
    }
}

/// Moves a finished backup; across file systems by copying (then fsync) and deleting.
fn move_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_dir(to); // an empty directory is allowed
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    copy_dir(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    std::fs::remove_dir_all(from)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    crate::data_dir::create_private(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
            std::fs::File::open(&dest)?.sync_all()?;
        }
    }
    std::fs::File::open(to)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_reached_on_loopback_when_it_listens_on_every_address() {
        assert_eq!(
            service_url("0.0.0.0:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(service_url("[::]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(
            service_url("10.0.0.5:9000").unwrap(),
            "http://10.0.0.5:9000"
        );
        assert!(
            service_url("127.0.0.1:0")
                .unwrap_err()
                .to_string()
                .contains("port 0")
        );
    }
}
