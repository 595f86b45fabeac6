//! The single writer: every mutation goes through one thread, which takes whatever has
//! queued up (up to [`MAX_BATCH`]), applies it in one sled transaction, bumps the commit
//! generation and hands the generation to the flusher. Requests then await durability.
//!
//! One writer means transactions never conflict, a batch costs one transaction and one
//! flush however many webhooks it holds, and the async workers never block on sled.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::TransactionError;
use tokio::sync::{mpsc, oneshot};

use super::apply::Tx;
use super::flusher::Flusher;
use crate::store::{Ingest, Receipt, StoreError};

pub const MAX_BATCH: usize = 512;
pub const QUEUE: usize = 8192;

pub enum Command {
    Ingest(
        Box<Ingest>,
        oneshot::Sender<Result<(Receipt, u64), StoreError>>,
    ),
    /// A tiny durable write (readiness probe).
    Probe(DateTime<Utc>, oneshot::Sender<Result<u64, StoreError>>),
}

enum Reply {
    Ingest(oneshot::Sender<Result<(Receipt, u64), StoreError>>),
    Probe(oneshot::Sender<Result<u64, StoreError>>),
}

enum Done {
    Ingest(Receipt),
    Probe,
}

pub fn spawn(
    trees: Vec<sled::Tree>,
    flusher: Arc<Flusher>,
    mut queue: mpsc::Receiver<Command>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("ringback-writer".into())
        .spawn(move || {
            let mut generation = 0u64;
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = queue.blocking_recv() {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(c) => batch.push(c),
                        Err(_) => break,
                    }
                }
                let commands = std::mem::take(&mut batch);
                let (work, replies): (Vec<_>, Vec<_>) = commands.into_iter().map(split).unzip();
                match apply(&trees, &work) {
                    Ok(done) => {
                        generation += 1;
                        flusher.request(generation);
                        for (reply, result) in replies.into_iter().zip(done) {
                            match (reply, result) {
                                (Reply::Ingest(tx), Done::Ingest(receipt)) => {
                                    let _ = tx.send(Ok((receipt, generation)));
                                }
                                (Reply::Probe(tx), Done::Probe) => {
                                    let _ = tx.send(Ok(generation));
                                }
                                _ => unreachable!("replies and results are zipped in order"),
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, batch = replies.len(), "storage write failed");
                        for reply in replies {
                            match reply {
                                Reply::Ingest(tx) => {
                                    let _ = tx.send(Err(e.clone()));
                                }
                                Reply::Probe(tx) => {
                                    let _ = tx.send(Err(e.clone()));
                                }
                            }
                        }
                    }
                }
            }
        })
        .expect("spawning the writer thread")
}

enum Work {
    Ingest(Box<Ingest>),
    Probe(DateTime<Utc>),
}

fn split(command: Command) -> (Work, Reply) {
    match command {
        Command::Ingest(ing, tx) => (Work::Ingest(ing), Reply::Ingest(tx)),
        Command::Probe(at, tx) => (Work::Probe(at), Reply::Probe(tx)),
    }
}

fn apply(trees: &[sled::Tree], work: &[Work]) -> Result<Vec<Done>, StoreError> {
    trees
        .transaction(|view| {
            let tx = Tx(view);
            work.iter()
                .map(|w| match w {
                    Work::Ingest(ing) => tx.ingest(ing).map(Done::Ingest),
                    Work::Probe(at) => {
                        tx.meta().insert("probe", at.to_rfc3339().as_bytes())?;
                        Ok(Done::Probe)
                    }
                })
                .collect()
        })
        .map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Io(e.to_string()),
        })
}
