//! The point reader: one thread that answers the small keyed reads of the dashboard, the API
//! and the sender (a callback by id, a session) off the async workers. Measured against
//! `spawn_blocking` per read: at ~5 000 webhooks/s on 2 cores the blocking pool's hand-off
//! per request (a thread woken, parked and switched to for a read of a few µs) cost a fifth
//! of ingest throughput; this thread is woken only when idle, and under load takes one job
//! after another without sleeping. Scans (lists, exports) stay on the blocking pool, so a
//! long page never makes a keyed read wait behind it. A webhook's lookup runs on the writer
//! thread instead (`writer::Queued::Read`): here it parked on sled's lock whenever the
//! writer's transactions ran (15 µs of CPU and 0.4 context switches per webhook,
//! BENCHMARKS.md); the writer never waits for that lock. These
//! reads stay here so that a backup, which holds the writer, never holds them up.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A read to run with the open trees.
pub type Job = Box<dyn FnOnce(&[sled::Tree]) + Send>;

/// Runs a read job; one that panics fails its own request (its reply is dropped), not the
/// thread running it (this one, or the writer for a webhook's lookup).
pub fn answer(trees: &[sled::Tree], job: Job) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(trees)));
}

pub struct PointReader {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl PointReader {
    /// Starts the thread; it ends at [`PointReader::stop`].
    pub fn start(trees: Arc<Vec<sled::Tree>>) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("ringback-reader".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    answer(&trees, job);
                }
            })
            .expect("spawning the point reader thread");
        Self {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues `job`; false when the reader is stopped.
    pub fn run(&self, job: Job) -> bool {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.as_ref().is_some_and(|j| j.send(job).is_ok())
    }

    /// Lets queued reads finish and ends the thread, which lets go of the trees (sled's
    /// lock on its files is released only with the last of them).
    pub fn stop(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}
