//! `ringback replay [--since DATE] --into DIR`: the whole state rebuilt from the event log.
//!
//! Every event the embedded store keeps is read back from its log, in the order its effect
//! was first applied, read again as the webhook it was (`smartflo::read_webhook`, with its
//! original id and receive time) and decided again by the application with today's rules,
//! into a fresh data directory. Callbacks get the ids they had (a callback's id is the id of
//! the event that opened it), so a rebuild with unchanged rules is identical to the live
//! store, and one after correcting a lifecycle rule shows what that rule would have done.
//!
//! What is not an event is copied as it is: the generated tokens and keys, settings, the
//! rules saved from the dashboard with their audit, unknown Telegram chats. Manual actions
//! taken on callbacks (a recorded outcome, a snooze) and reminders already sent are not
//! events: a rebuilt callback has neither.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use crate::app::{App, Parts};
use crate::config::Settings;
use crate::domain::rules::LiveRules;
use crate::store::{self, EventRecord, Part};

/// Events handed from the reading thread to the one deciding them.
const CHANNEL: usize = 256;

/// What a replay rebuilt.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Events read from the log.
    pub events: u64,
    /// Events decided again, by what they did (`opened`, `updated`, `resolved`, …).
    pub effects: BTreeMap<String, u64>,
    /// Events that could not be read as a webhook any more, with why (first few).
    pub unreadable: u64,
    pub unreadable_examples: Vec<String>,
    /// Events whose decision failed (logged), first few.
    pub failed: u64,
    pub failed_examples: Vec<String>,
    /// Records copied as they are, per part.
    pub copied: Vec<(Part, usize)>,
    /// Callbacks in the rebuilt store.
    pub pending: u64,
    pub resolved: u64,
}

/// `ringback replay`: rebuilds, prints what it did, and says how it went.
pub async fn run(settings: &Settings, since: Option<&str>, into: &Path) -> std::process::ExitCode {
    let since = match since.map(parse_since).transpose() {
        Ok(since) => since,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match replay(settings, since, into).await {
        Ok(replayed) => {
            print!("{}", report(&replayed, into));
            if replayed.failed > 0 {
                std::process::ExitCode::FAILURE
            } else {
                std::process::ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--since`: a day (its start, UTC) or an RFC 3339 moment.
pub fn parse_since(text: &str) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .with_context(|| format!("--since {text:?}: write a day as 2026-12-01 or a moment as 2026-12-01T09:30:00+05:30"))
}

/// What a replay prints.
pub fn report(replayed: &Replayed, into: &Path) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "rebuilt into {}:", into.display());
    let _ = writeln!(
        out,
        "  {:>9}  events read from the event log",
        replayed.events
    );
    for (effect, count) in &replayed.effects {
        let _ = writeln!(out, "  {count:>9}    {effect}");
    }
    if replayed.unreadable > 0 {
        let _ = writeln!(
            out,
            "  {:>9}  events no longer readable as a webhook (skipped), e.g.:",
            replayed.unreadable
        );
        for example in &replayed.unreadable_examples {
            let _ = writeln!(out, "             {example}");
        }
    }
    if replayed.failed > 0 {
        let _ = writeln!(
            out,
            "  {:>9}  events whose decision failed (see the log), e.g.:",
            replayed.failed
        );
        for example in &replayed.failed_examples {
            let _ = writeln!(out, "             {example}");
        }
    }
    let _ = writeln!(out, "  {:>9}  callbacks pending", replayed.pending);
    let _ = writeln!(out, "  {:>9}  callbacks resolved", replayed.resolved);
    for (part, count) in &replayed.copied {
        let _ = writeln!(out, "  {count:>9}  {} copied as they were", part.name());
    }
    out
}

/// Rebuilds the configured store's state from its event log into `into` (a new directory).
pub async fn replay(
    settings: &Settings,
    since: Option<DateTime<Utc>>,
    into: &Path,
) -> anyhow::Result<Replayed> {
    if crate::data_dir::has_entries(into) {
        bail!(
            "{} exists and is not empty: replay only into a new directory",
            into.display()
        );
    }
    let source = store::open(&settings.storage).await.map_err(|e| match e {
        store::StoreError::Busy(why) => {
            anyhow::anyhow!("{why}: stop `ringback serve` before replaying")
        }
        other => anyhow::Error::from(other).context("opening the store to replay"),
    })?;
    let Some(events) = source.applied_events.clone() else {
        bail!(
            "replay reads the embedded store's event log; a PostgreSQL store keeps none (copy it into an embedded store first with `ringback copy-store`)"
        );
    };
    // Synced once, when it is closed: a replay that fails part way is run again into a new
    // directory, and one fsync per event would make it many times slower.
    let path = into.to_path_buf();
    let target = tokio::task::spawn_blocking(move || store::sled::SledStore::open_deferred(&path))
        .await
        .context("opening the new store")?
        .with_context(|| format!("opening {}", into.display()))?;
    let target = Arc::new(target);
    let target = store::Opened {
        store: target.clone(),
        backups: Some(target.clone()),
        applied_events: Some(target),
    };
    let result = rebuild(settings, &source, events, &target, since).await;
    target.store.close().await?;
    source.store.close().await?;
    result
}

async fn rebuild(
    settings: &Settings,
    source: &store::Opened,
    events: Arc<dyn store::AppliedEvents>,
    target: &store::Opened,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<Replayed> {
    let mut replayed = Replayed {
        copied: crate::admin::copy_parts(
            source.store.as_ref(),
            target.store.as_ref(),
            &[
                Part::Secrets,
                Part::Settings,
                Part::Rules,
                Part::UnknownChats,
            ],
        )
        .await?,
        ..Replayed::default()
    };
    let interpreter = crate::assemble::interpreter_for(settings);
    let app = App::new(Parts {
        store: Arc::clone(&target.store),
        clock: Arc::new(crate::clock::SystemClock),
        rules: Arc::new(LiveRules::new(
            crate::startup::rules_in_force(settings, target.store.as_ref()).await?,
        )),
        roster: Arc::new(crate::assemble::roster_for(settings)),
        agents: interpreter.agents.clone(),
        click_to_call: crate::assemble::click_to_call_for(settings)?,
        retention: None,
        raw_retention: None,
        digests: Vec::new(),
    });

    let (send, mut receive) = tokio::sync::mpsc::channel::<(EventRecord, Vec<u8>)>(CHANNEL);
    let reading = tokio::task::spawn_blocking(move || {
        events.for_each_applied(since, &mut |record, body| {
            send.blocking_send((record, body)).is_ok()
        })
    });
    while let Some((record, body)) = receive.recv().await {
        replayed.events += 1;
        let id = record.id;
        let mut incoming = match crate::smartflo::webhook::read_webhook(
            &interpreter,
            record.raw,
            body,
            record.received_at,
        ) {
            Ok(incoming) => incoming,
            Err(e) => {
                replayed.unreadable += 1;
                if replayed.unreadable_examples.len() < 5 {
                    replayed.unreadable_examples.push(format!("{id}: {e}"));
                }
                continue;
            }
        };
        incoming.event_id = Some(id);
        match app.ingest(incoming).await {
            Ok(receipt) => {
                *replayed
                    .effects
                    .entry(receipt.effect.as_str().to_string())
                    .or_default() += 1;
            }
            Err(e) => {
                replayed.failed += 1;
                tracing::error!(event_id = %id, error = %e, "an event could not be decided again");
                if replayed.failed_examples.len() < 5 {
                    replayed.failed_examples.push(format!("{id}: {e}"));
                }
            }
        }
    }
    reading
        .await
        .context("reading the event log")?
        .context("reading the event log")?;
    let stats = target.store.pending_stats().await?;
    replayed.pending = stats.count;
    replayed.resolved = count_resolved(target.store.as_ref()).await?;
    Ok(replayed)
}

/// Resolved callbacks in `store` (paged through; a replay's report, not a hot path).
async fn count_resolved(store: &dyn store::Store) -> anyhow::Result<u64> {
    let mut query = store::ListQuery {
        status: store::StatusFilter::Resolved,
        limit: 500,
        ..store::ListQuery::default()
    };
    let mut count = 0u64;
    loop {
        let page = store.list_callbacks(query.clone()).await?;
        count += page.callbacks.len() as u64;
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => return Ok(count),
        }
    }
}
