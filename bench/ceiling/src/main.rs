//! The ceilings for `bench/run` (issue 7), measured in the same run as Ringback:
//!
//! - `ringback-bench-ceiling ADDR`: a bare actix-web handler on the same webhook path that
//!   parses the JSON body and answers 200 — no storage, no fsync. The HTTP ceiling.
//! - `ringback-bench-ceiling ADDR --sled DIR`: the same handler plus the sled work that the
//!   bench's traffic mix makes Ringback do, done the way Ringback does it and nothing else —
//!   one writer thread applying each batch of waiting requests in one transaction, one
//!   flusher thread running `flush()` + `fdatasync` for everything committed, the reply
//!   only once that covered the request. The storage ceiling: what sled 0.34 allows for
//!   Ringback's write set on this machine, without any of Ringback's own logic.
//!
//!     cargo run --release --manifest-path bench/ceiling/Cargo.toml -- 127.0.0.1:18081
//!
//! The write sets copy `src/store/sled/` (key shapes, value sizes measured on the bench's
//! bodies): an opening webhook reads its call, the customer's pending callback and last
//! answered call, then writes the event (record + body), the call, the callback, one
//! timeline value and three index entries; an updating one rewrites event, call, callback
//! and timeline; a clearing one also moves the callback between indexes; an informational
//! one writes its event and call. Requests take the bench's 60/15/15/10 mix in turn.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};

use actix_web::{App, HttpResponse, HttpServer, web};
use sled::Transactional;
use tokio::sync::{oneshot, watch};

/// Mean value sizes in a Ringback store after 175 000 of the bench's webhooks (the event's
/// record before its body; JSON as stored).
const RECORD: usize = 380;
const CALLBACK: usize = 793;
const CALL: usize = 237;
const TIMELINE: usize = 506;
const TREES: [&str; 9] = [
    "events",
    "calls",
    "callbacks",
    "timeline",
    "pending_by_customer",
    "pending_by_age",
    "due",
    "last_answered",
    "resolved_by_time",
];

struct Job {
    n: u64,
    body: web::Bytes,
    reply: oneshot::Sender<u64>,
}

struct Storage {
    queue: Mutex<mpsc::Sender<Job>>,
    durable: watch::Receiver<u64>,
    next: AtomicU64,
}

async fn bare(body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) if v.is_object() => ok(),
        _ => HttpResponse::BadRequest().finish(),
    }
}

async fn stored(storage: web::Data<Storage>, body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) if v.is_object() => {}
        _ => return HttpResponse::BadRequest().finish(),
    }
    let (reply, done) = oneshot::channel();
    let n = storage.next.fetch_add(1, Ordering::Relaxed);
    let job = Job { n, body, reply };
    if storage.queue.lock().unwrap().send(job).is_err() {
        return unavailable();
    }
    let Ok(generation) = done.await else {
        return unavailable();
    };
    let mut durable = storage.durable.clone();
    match durable.wait_for(|d| *d >= generation).await {
        Ok(_) => ok(),
        Err(_) => unavailable(),
    }
}

fn ok() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"ok":true}"#)
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().finish()
}

fn id(n: u64, salt: u8) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&n.to_be_bytes());
    key[8] = salt;
    key
}

fn by_time(n: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&n.to_be_bytes());
    key[8..].copy_from_slice(&id(n, 1));
    key
}

/// The writes of one request, by its place in the bench's mix (12 opening, 3 updating,
/// 3 clearing, 2 informational of every 20).
fn apply(
    t: &[sled::transaction::TransactionalTree],
    job: &Job,
) -> sled::transaction::ConflictableTransactionResult<(), ()> {
    let n = job.n;
    let kind = n % 20;
    let customer = format!("+9198{:08}", n / 4);
    let call = format!("1780000000.{n}");
    let mut event = vec![b'r'; RECORD];
    event.extend_from_slice(&job.body);
    t[1].get(call.as_bytes())?;
    t[0].insert(&id(n, 0), event)?;
    if kind >= 18 {
        t[1].insert(call.as_bytes(), vec![b'c'; CALL])?;
        return Ok(());
    }
    t[4].get(customer.as_bytes())?;
    t[7].get(customer.as_bytes())?;
    let callback = id(n / 4, 1);
    if kind >= 12 {
        t[2].get(&callback)?;
    }
    t[1].insert(call.as_bytes(), vec![b'c'; CALL])?;
    t[2].insert(&callback, vec![b'b'; CALLBACK])?;
    let mut timeline = [0u8; 20];
    timeline[..16].copy_from_slice(&callback);
    timeline[16..].copy_from_slice(&((n % 4) as u32).to_be_bytes());
    t[3].insert(&timeline, vec![b't'; TIMELINE])?;
    match kind {
        0..12 => {
            t[4].insert(customer.as_bytes(), &callback)?;
            t[5].insert(&by_time(n), &[])?;
            t[6].insert(&by_time(n + 86_400_000), &[])?;
        }
        12..15 => {}
        _ => {
            t[4].remove(customer.as_bytes())?;
            t[5].remove(&by_time(n - 4))?;
            t[6].remove(&by_time(n - 4 + 86_400_000))?;
            t[7].insert(customer.as_bytes(), &n.to_be_bytes())?;
            t[8].insert(&by_time(n), &[])?;
        }
    }
    Ok(())
}

struct Flush {
    wanted: Mutex<u64>,
    wake: Condvar,
}

fn open_storage(dir: &str) -> Storage {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(64 * 1024 * 1024)
        .open()
        .expect("opening sled");
    let data = File::open(std::path::Path::new(dir).join("db")).expect("sled's data file");
    let trees: Vec<sled::Tree> = TREES.iter().map(|t| db.open_tree(t).unwrap()).collect();
    let flush = Arc::new(Flush {
        wanted: Mutex::new(0),
        wake: Condvar::new(),
    });
    let (published, durable) = watch::channel(0u64);
    let flusher = Arc::clone(&flush);
    std::thread::spawn(move || {
        let mut done = 0;
        loop {
            let target = {
                let mut wanted = flusher.wanted.lock().unwrap();
                while *wanted <= done {
                    wanted = flusher.wake.wait(wanted).unwrap();
                }
                *wanted
            };
            db.flush().expect("flush");
            data.sync_data().expect("fdatasync");
            published.send_replace(target);
            done = target;
        }
    });
    let (queue, jobs) = mpsc::channel::<Job>();
    std::thread::spawn(move || {
        let mut generation = 0u64;
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < 512 {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            trees
                .as_slice()
                .transaction(|t| {
                    for job in &batch {
                        apply(t, job)?;
                    }
                    Ok(())
                })
                .expect("transaction");
            generation += 1;
            *flush.wanted.lock().unwrap() = generation;
            flush.wake.notify_one();
            for job in batch {
                let _ = job.reply.send(generation);
            }
        }
    });
    Storage {
        queue: Mutex::new(queue),
        durable,
        next: AtomicU64::new(0),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = args.first().cloned().unwrap_or_else(|| "127.0.0.1:18081".into());
    let storage = match args.iter().position(|a| a == "--sled") {
        Some(i) => Some(web::Data::new(open_storage(
            args.get(i + 1).expect("--sled DIR"),
        ))),
        None => None,
    };
    HttpServer::new(move || {
        let app = App::new().app_data(web::PayloadConfig::new(256 * 1024));
        match &storage {
            Some(s) => app
                .app_data(s.clone())
                .route("/webhooks/smartflo/{token}", web::post().to(stored)),
            None => app.route("/webhooks/smartflo/{token}", web::post().to(bare)),
        }
    })
    .bind(listen)?
    .run()
    .await
}
