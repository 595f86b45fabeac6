//! Group commit: many writers, one flush.
//!
//! Since schema 4 a group's durability is first the event log's: one `fdatasync` of its
//! active segment makes every plan of the group durable (its writes are in its frame;
//! `logged.rs`), and leases need none. sled is flushed as below only when the group holds
//! other work (rules edits, settings, repairs, retention, imports, the readiness probe),
//! which also makes every earlier plan's writes durable in sled; otherwise sled flushes on
//! its own schedule (every 500 ms) and a crash's gap is filled from the log at open.
//!
//! What sled 0.34.7 does, measured on this kind of machine (`docs/sled-0.34.md`),
//! and how this module answers it:
//!
//! - `Db::flush_async()` deadlocks once about 8 callers await it at once (an upstream bug,
//!   fixed on sled's main branch, never released). **It is never called here.**
//! - `Db::flush()` (blocking) writes the dirty log buffers and ends in `sync_file_range`,
//!   which reaches the device queue but flushes neither the device cache nor metadata; sled's
//!   own fsync runs only in its background thread every 500 ms. **Each group flush here is
//!   followed by `fdatasync` of sled's data file (`<path>/db`)**, so a `200` survives power
//!   loss, not only a process crash.
//! - A flush per request caps out around 8 000–9 400 req/s; one flusher thread shared by
//!   everyone reached 13 000–21 000 durable req/s. **So one thread flushes:** the writer
//!   bumps a generation after each committed batch and asks for it to be made durable; the
//!   flusher wakes, notes the newest generation asked for, runs `flush()` + `fdatasync`, and
//!   publishes that generation on a `tokio::sync::watch`. Requests await the watch until the
//!   durable generation reaches theirs. One flush runs at a time; everything committed while
//!   it runs rides the next one, so under load each flush covers many requests.
//!
//! A failed flush is published too: requests waiting on it get an error (the webhook
//! answers 503 so Smartflo retries) and the next commit asks for a new flush.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::watch;

use super::log::Log;
use crate::store::StoreError;

#[derive(Debug, Clone, Default)]
pub struct Durable {
    /// Every generation up to this one is on stable storage.
    pub through: u64,
    /// The last flush that failed covered generations up to this one.
    pub failed_through: u64,
    pub last_error: Option<String>,
}

struct Wanted {
    generation: u64,
    /// Some generation asked for since the last flush needs sled flushed, not only the log.
    sled: bool,
    stopping: bool,
}

struct Shared {
    wanted: Mutex<Wanted>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

pub struct Flusher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    /// `sync`: make each group durable (always, but for a store being rebuilt, which is
    /// synced once when it is closed).
    pub fn start(
        db: sled::Db,
        data_file: File,
        log: Arc<Log>,
        failed: Arc<AtomicBool>,
        sync: bool,
    ) -> Self {
        let (durable, _) = watch::channel(Durable::default());
        let shared = Arc::new(Shared {
            wanted: Mutex::new(Wanted {
                generation: 0,
                sled: false,
                stopping: false,
            }),
            wake: Condvar::new(),
            durable,
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ringback-flusher".into())
            .spawn(move || run(&thread_shared, &db, &data_file, &log, &failed, sync))
            .expect("spawning the flusher thread");
        Self {
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Asks for everything committed up to `generation` to be made durable: the event log
    /// always, sled too when `sled` (work whose log frame is not its whole record).
    pub fn request(&self, generation: u64, sled: bool) {
        let mut wanted = lock(&self.shared.wanted);
        if generation > wanted.generation {
            wanted.generation = generation;
        }
        wanted.sled |= sled;
        self.shared.wake.notify_one();
    }

    pub fn subscribe(&self) -> watch::Receiver<Durable> {
        self.shared.durable.subscribe()
    }

    /// Flushes what is outstanding and stops the thread.
    pub fn stop(&self) {
        lock(&self.shared.wanted).stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

/// Waits until `generation` is durable, or a flush covering it failed.
pub async fn wait_durable(
    mut durable: watch::Receiver<Durable>,
    generation: u64,
) -> Result<(), StoreError> {
    let state = durable
        .wait_for(|d| d.through >= generation || d.failed_through >= generation)
        .await
        .map_err(|_| StoreError::Closed)?;
    if state.through >= generation {
        Ok(())
    } else {
        Err(StoreError::unavailable(format!(
            "flushing to stable storage failed: {}",
            state.last_error.as_deref().unwrap_or("unknown error")
        )))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(
    shared: &Shared,
    db: &sled::Db,
    data_file: &File,
    log: &Log,
    failed: &AtomicBool,
    sync: bool,
) {
    let mut flushed = 0u64;
    let flush_sled = || {
        db.flush()
            .map_err(|e| e.to_string())
            .and_then(|_| data_file.sync_data().map_err(|e| e.to_string()))
    };
    loop {
        let (target, sled) = {
            let mut wanted = lock(&shared.wanted);
            while wanted.generation <= flushed && !wanted.stopping {
                wanted = shared.wake.wait(wanted).unwrap_or_else(|e| e.into_inner());
            }
            if wanted.generation <= flushed {
                // Stopping with nothing outstanding: one last flush for anything written
                // outside the writer's generations, then exit.
                let _ = log.sync();
                let _ = flush_sled();
                return;
            }
            (wanted.generation, std::mem::take(&mut wanted.sled))
        };
        let result = if sync {
            log.sync()
                .map_err(|e| e.to_string())
                .and_then(|()| if sled { flush_sled() } else { Ok(()) })
        } else {
            Ok(())
        };
        match result {
            Ok(()) => shared.durable.send_modify(|d| d.through = target),
            Err(e) => {
                failed.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, generation = target, "flushing storage failed");
                shared.durable.send_modify(|d| {
                    d.failed_through = target;
                    d.last_error = Some(e);
                });
            }
        }
        flushed = target;
    }
}
