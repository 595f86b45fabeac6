//! What a sled store keeps and does beside callbacks and the outbox: backups, the generated
//! secrets (files in the data directory), ended sessions, leadership (one process holds a
//! sled store, so it holds every role), copying a store in and out (`transfer`), and
//! replaying the event log (`logged`).

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::keys::{self, Tree};
use super::writer::{Done, Work};
use super::{SledStore, encode, logged, transfer};
use crate::store::{
    Backup, EventRecord, FileBackups, Lead, Leadership, Part, Record, Secrets, Sessions,
    StoreError, StoreResult, Transfer,
};

#[async_trait]
impl FileBackups for SledStore {
    async fn backup(&self, target: PathBuf) -> StoreResult<Backup> {
        if self.inner.backup_running.swap(true, Ordering::SeqCst) {
            return Err(StoreError::Busy(
                "a backup is running; try again when it is done".into(),
            ));
        }
        let result = self
            .submit(Work::Backup(self.inner.path.clone(), target))
            .await;
        self.inner.backup_running.store(false, Ordering::SeqCst);
        match result? {
            Done::BackedUp(backup) => Ok(backup),
            _ => Err(StoreError::backend(
                "the writer answered a backup with something else",
            )),
        }
    }
}

/// Names of the secrets kept as files in the data directory.
fn secret_file(name: &str) -> Result<&str, StoreError> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
        && !name.starts_with('.');
    if plain {
        Ok(name)
    } else {
        Err(StoreError::backend(format!(
            "{name:?} is not a secret's name"
        )))
    }
}

#[async_trait]
impl Secrets for SledStore {
    async fn secret(&self, name: &str, fresh: String) -> StoreResult<(String, bool)> {
        let path = self.inner.path.join(secret_file(name)?);
        tokio::task::spawn_blocking(move || {
            let io = |e: std::io::Error| {
                StoreError::unavailable_from(format!("reading or writing {}", path.display()), e)
            };
            if let Some(existing) = crate::data_dir::read_private(&path).map_err(io)? {
                return Ok((existing, false));
            }
            crate::data_dir::write_private(&path, &fresh).map_err(io)?;
            Ok((fresh, true))
        })
        .await
        .map_err(|e| StoreError::backend(format!("keeping a secret failed: {e}")))?
    }

    fn secret_location(&self, name: &str) -> String {
        self.inner.path.join(name).display().to_string()
    }
}

#[async_trait]
impl Sessions for SledStore {
    async fn end_session(
        &self,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let key = keys::ended_session(id);
        let (forget, kept) = {
            let key = key.clone();
            self.scan(move |r| Ok((r.sessions_ended_before(now)?, r.meta_time(&key)?)))
                .await?
        };
        let mut plan = encode::EncodedPlan::default();
        for old in forget.into_iter().filter(|k| *k != key) {
            plan.remove(Tree::Meta, old);
        }
        // Ending a session again never shortens how long it is remembered.
        let until = kept.map_or(until, |kept| kept.max(until));
        plan.insert(Tree::Meta, key, keys::time(until).to_vec());
        self.submit(Work::Apply(Box::new(plan))).await.map(|_| ())
    }

    async fn session_ended(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.point(move |r| r.session_ended(&id)).await
    }
}

/// One process holds a sled store (sled locks its files), so it holds every role.
struct SoleProcess;

#[async_trait]
impl Lead for SoleProcess {
    async fn still_held(&mut self) -> bool {
        true
    }
}

#[async_trait]
impl Leadership for SledStore {
    async fn try_lead(&self, _role: &'static str) -> StoreResult<Option<Box<dyn Lead>>> {
        Ok(Some(Box::new(SoleProcess)))
    }
}

/// The secret files a data directory can hold.
const SECRET_FILES: [&str; 4] = ["webhook.token", "api.token", "links.token", "session.key"];

#[async_trait]
impl Transfer for SledStore {
    async fn is_empty(&self) -> StoreResult<bool> {
        let trees_empty = self
            .scan(|r| {
                Ok([
                    Tree::Callbacks,
                    Tree::Events,
                    Tree::Calls,
                    Tree::Outbox,
                    Tree::RulesAudit,
                    Tree::LastAnswered,
                    Tree::EventDedup,
                ]
                .iter()
                .all(|t| r.tree(*t).is_empty()))
            })
            .await?;
        let path = self.inner.path.clone();
        let no_secrets = SECRET_FILES.iter().all(|f| !path.join(f).exists());
        Ok(trees_empty && no_secrets)
    }

    async fn export(
        &self,
        part: Part,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<Record>, Option<String>)> {
        if part == Part::Secrets {
            let mut out = Vec::new();
            for name in SECRET_FILES {
                let path = self.inner.path.join(name);
                let read =
                    tokio::task::spawn_blocking(move || crate::data_dir::read_private(&path))
                        .await
                        .map_err(|e| StoreError::backend(e.to_string()))?
                        .map_err(|e| StoreError::unavailable_from("reading a secret", e))?;
                if let Some(value) = read {
                    out.push(Record::Secret {
                        name: name.to_string(),
                        value,
                    });
                }
            }
            return Ok((out, None));
        }
        let limit = limit.max(1);
        self.scan(move |r| transfer::export(r, part, after.as_deref(), limit))
            .await
    }

    async fn import(&self, records: Vec<Record>) -> StoreResult<()> {
        for record in &records {
            if let Record::Secret { name, value } = record {
                let (_, stored) = self.secret(name, value.clone()).await?;
                if !stored {
                    return Err(StoreError::Busy(format!("the target already has a {name}")));
                }
            }
        }
        let plan = transfer::import(&records, self.live()?.log.dictionaries());
        if plan.ops.is_empty() && plan.log.is_empty() {
            return Ok(());
        }
        self.submit(Work::Apply(Box::new(plan))).await.map(|_| ())
    }
}

impl crate::store::AppliedEvents for SledStore {
    fn for_each_applied(
        &self,
        since: Option<DateTime<Utc>>,
        each: &mut dyn FnMut(EventRecord, Vec<u8>) -> bool,
    ) -> StoreResult<u64> {
        let live = self.live()?;
        let since_ms = since.map(|s| s.timestamp_millis());
        let mut called = 0;
        // Frames are in the order their plans were applied (appended as each transaction
        // committed), which is the order to decide them again in.
        for item in live.log.scan(live.log.start()) {
            let scanned = match item {
                Ok(scanned) => scanned,
                Err(e) => {
                    tracing::error!(error = %e, "an event log frame could not be read; skipped");
                    continue;
                }
            };
            if since_ms.is_some_and(|s| scanned.time_ms < s) {
                continue;
            }
            let event = match logged::decode(&scanned.payload, false) {
                Ok(frame) => frame.event,
                Err(e) => {
                    tracing::error!(at = scanned.at, error = %e, "an event log frame could not be decoded; skipped");
                    continue;
                }
            };
            if let Some((record, body)) = event {
                called += 1;
                if !each(record, body) {
                    break;
                }
            }
        }
        Ok(called)
    }
}
