//! `ringback export` and `ringback backup` (issue 6). Both work whether or not the service
//! is running: the embedded store lets one process open it, so when the service holds it
//! (the store answers "in use") the command asks the service over its API
//! (`GET /api/v1/callbacks.csv`, `POST /api/v1/backup`) with the API token, and otherwise
//! opens the store itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use crate::config::{Settings, StorageBackend};
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
    if let StorageBackend::Postgres { .. } = settings.storage.backend {
        // Any number of processes share a database: no service to go through.
        return Ok(Reach::Here(
            store::open(&settings.storage)
                .await
                .context("opening the PostgreSQL store")?,
        ));
    }
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
            let token = token(settings, "api").await?;
            Ok(Reach::Service { base, token })
        }
        Err(e) => Err(e).with_context(|| format!("opening the store in {}", data_dir.display())),
    }
}

/// The `name` token in force: the first configured one, else the one the store keeps (read
/// from the data directory's file while the service holds the embedded store; generated
/// when there is none yet).
pub async fn token(settings: &Settings, name: &str) -> anyhow::Result<String> {
    let configured = match name {
        "webhook" => &settings.webhook.tokens,
        "api" => &settings.api.tokens,
        other => bail!("no {other} token"),
    };
    if let Some(first) = configured.first() {
        return Ok(first.expose().to_string());
    }
    let opened = match store::open(&settings.storage).await {
        Ok(opened) => opened,
        Err(StoreError::Busy(_)) => {
            let path = settings.storage.path.join(format!("{name}.token"));
            return crate::data_dir::read_private(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .with_context(|| format!("no {name} token in {}", path.display()));
        }
        Err(e) => return Err(e).context("opening the store"),
    };
    let provisioned = crate::tokens::provision(&[], opened.store.as_ref(), name).await;
    opened.store.close().await?;
    let provisioned = provisioned.with_context(|| format!("reading the {name} token"))?;
    provisioned
        .tokens
        .first()
        .map(|t| t.expose().to_string())
        .with_context(|| format!("no {name} token"))
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

/// `ringback migrate`: opening a store brings its schema to this build's.
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    let before = match &settings.storage.backend {
        StorageBackend::Postgres { url, .. } => {
            crate::store::postgres::schema_version(url.expose()).await?
        }
        StorageBackend::Sled => None,
    };
    let opened = store::open(&settings.storage).await.map_err(|e| match e {
        StoreError::Busy(why) => anyhow::anyhow!("{why}: `serve` migrates it at start"),
        other => anyhow::Error::from(other).context("opening the store"),
    })?;
    opened.store.close().await?;
    Ok(match &settings.storage.backend {
        StorageBackend::Sled => format!(
            "the store in {} is at format {}",
            settings.storage.path.display(),
            crate::store::sled::keys::SCHEMA_VERSION
        ),
        StorageBackend::Postgres { .. } => {
            let now = crate::store::postgres::schema_version_of_this_build();
            match before {
                None => format!("created the database's schema at version {now}"),
                Some(was) if was < now => {
                    format!("migrated the database's schema from version {was} to {now}")
                }
                Some(_) => format!("the database's schema is at version {now} already"),
            }
        }
    })
}

fn is_postgres(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// What `copy-store` says it copied into (without a URL's password).
pub fn describe_target(target: &str) -> String {
    if is_postgres(target) {
        match url::Url::parse(target) {
            Ok(mut url) => {
                let _ = url.set_password(None);
                url.to_string()
            }
            Err(_) => "the database".into(),
        }
    } else {
        target.to_string()
    }
}

/// Records moved per page.
const COPY_PAGE: usize = 500;

/// `ringback copy-store` (SPEC §10): everything of the configured store into `target`, which
/// must be empty; how many records of each kind were copied.
pub async fn copy_store(
    settings: &Settings,
    target: &str,
) -> anyhow::Result<Vec<(crate::store::Part, usize)>> {
    let source = store::open(&settings.storage).await.map_err(|e| match e {
        StoreError::Busy(why) => anyhow::anyhow!("{why}: stop `ringback serve` before copying"),
        other => anyhow::Error::from(other).context("opening the store to copy"),
    })?;
    let into = if is_postgres(target) {
        crate::config::StorageSettings {
            backend: StorageBackend::Postgres {
                url: crate::config::Secret::new(target),
                pool_size: 4,
            },
            ..crate::config::StorageSettings::sled(&settings.storage.path)
        }
    } else {
        let dir = PathBuf::from(target);
        if crate::data_dir::has_entries(&dir) {
            bail!("{} exists and is not empty", dir.display());
        }
        crate::config::StorageSettings::sled(dir)
    };
    let target_store = store::open(&into)
        .await
        .with_context(|| format!("opening {}", describe_target(target)))?;
    let copied = copy_parts(
        source.store.as_ref(),
        target_store.store.as_ref(),
        &crate::store::Part::ALL,
    )
    .await;
    target_store.store.close().await?;
    source.store.close().await?;
    copied
}

/// Copies `parts` of `from` into `into`, which must be empty.
pub(crate) async fn copy_parts(
    from: &dyn crate::store::Store,
    into: &dyn crate::store::Store,
    parts: &[crate::store::Part],
) -> anyhow::Result<Vec<(crate::store::Part, usize)>> {
    if !into.is_empty().await? {
        bail!("the target is not empty: copy only into a new store");
    }
    let mut copied = Vec::new();
    for &part in parts {
        let mut after = None;
        let mut count = 0;
        loop {
            let (records, next) = from.export(part, after, COPY_PAGE).await?;
            count += records.len();
            if !records.is_empty() {
                into.import(records).await?;
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        copied.push((part, count));
    }
    Ok(copied)
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
