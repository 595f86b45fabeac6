//! The sled backend: the contract suite, and what only sled does (its files, its writer
//! thread, its format migrations).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tempfile::TempDir;

use super::SledStore;
use super::keys::{self, Tree};
use super::writer::Fault;
use crate::store::contract::Fixture;
use crate::store::{EventLog, Lifecycle, Maintenance, Outbox, Plan, Store, StoreError};

pub struct SledFixture {
    dir: TempDir,
    current: Mutex<Option<Arc<SledStore>>>,
}

impl SledFixture {
    /// Closes the open store (to work on its files).
    async fn close(&self) {
        let open = self.current.lock().unwrap().take();
        open.expect("a store is open").close().await.unwrap();
    }

    fn sled(&self) -> Arc<SledStore> {
        self.current
            .lock()
            .unwrap()
            .clone()
            .expect("a store is open")
    }
}

impl Fixture for SledFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.sled()
    }

    fn reopen(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send + '_>> {
        Box::pin(async move {
            let old = self.current.lock().unwrap().take();
            if let Some(old) = old {
                old.close().await.expect("closing");
            }
            let store = Arc::new(open(self.dir.path()));
            *self.current.lock().unwrap() = Some(Arc::clone(&store));
            store as Arc<dyn Store>
        })
    }
}

fn open(path: &std::path::Path) -> SledStore {
    SledStore::open(path).expect("opening the store")
}

pub async fn fresh() -> SledFixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    SledFixture {
        dir,
        current: Mutex::new(Some(store)),
    }
}

mod contract {
    crate::contract_tests!(super::fresh);
}

use crate::store::contract::values::*;

/// Writes `bytes` over a stored value, as a disk or a bug might, with the store closed.
fn damage(path: &std::path::Path, tree: Tree, key: &[u8], bytes: &[u8]) {
    let db = sled::open(path.join("sled")).unwrap();
    db.open_tree(tree.name())
        .unwrap()
        .insert(key, bytes)
        .unwrap();
    db.flush().unwrap();
    super::release(db, &path.join("sled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_callback_is_set_aside_and_the_others_stay_due() {
    let f = fresh().await;
    let store = f.store();
    for (n, minute) in [(1, 1), (2, 2), (3, 3)] {
        store.apply(opening(pending(n, minute))).await.unwrap();
    }
    drop(store);
    f.close().await;
    damage(
        f.dir.path(),
        Tree::Callbacks,
        &id(2).to_bytes(),
        b"{not json",
    );
    let store = f.reopen().await;

    let due: Vec<_> = store
        .due(t(10), 10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.value.id)
        .collect();
    assert_eq!(due, [id(1), id(3)]);
    assert_eq!(store.quarantined(), 1);
    // It is gone from every index: the next reads do not meet it again.
    assert_eq!(store.next_due().await.unwrap(), Some(t(1)));
    assert_eq!(store.due(t(10), 10).await.unwrap().len(), 2);
    assert_eq!(store.pending_stats().await.unwrap().count, 2);
    assert!(store.callback(id(2)).await.unwrap().is_none());
    assert_eq!(store.quarantined(), 1, "set aside once");
    // Its customer can have a new callback.
    let mut fresh_cb = pending(2, 20);
    fresh_cb.id = id(20);
    store.apply(opening(fresh_cb)).await.unwrap();
    let sled = f.sled();
    let live = sled.live().unwrap();
    let kept = live.trees[Tree::Quarantine.index()]
        .get(keys::quarantine(keys::CALLBACKS, &id(2).to_bytes()))
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some(&b"{not json"[..]),
        "its bytes are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_an_unreadable_callback_by_id_is_an_error_not_a_panic() {
    let f = fresh().await;
    f.store().apply(opening(pending(1, 1))).await.unwrap();
    f.close().await;
    damage(
        f.dir.path(),
        Tree::Callbacks,
        &id(1).to_bytes(),
        &[0xff, 0x00],
    );
    let store = f.reopen().await;
    let err = store.callback_detail(id(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(!err.is_retryable());
}

/// A stored value as it is on disk, with the store closed.
fn on_disk(path: &std::path::Path, tree: Tree, key: &[u8]) -> Vec<u8> {
    let db = sled::open(path.join("sled")).unwrap();
    let value = db.open_tree(tree.name()).unwrap().get(key).unwrap();
    super::release(db, &path.join("sled"));
    value.expect("a stored value").to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_is_stored_packed_and_one_written_as_plain_json_still_reads() {
    let f = fresh().await;
    f.store().apply(opening(pending(1, 1))).await.unwrap();
    let before = format!("{:?}", f.store().callback_detail(id(1)).await.unwrap());
    f.close().await;
    let packed = on_disk(f.dir.path(), Tree::Callbacks, &id(1).to_bytes());
    assert_eq!(packed[0], super::packed::CODEC_DICT_1);
    let json = super::packed::unpack(&packed).unwrap().into_owned();
    assert!(
        packed.len() * 3 < json.len(),
        "{} of {}",
        packed.len(),
        json.len()
    );

    // The same callback as schema 4 wrote it: plain JSON.
    damage(f.dir.path(), Tree::Callbacks, &id(1).to_bytes(), &json);
    let store = f.reopen().await;
    let after = format!("{:?}", store.callback_detail(id(1)).await.unwrap());
    assert!(after.contains("Some(CallbackDetail"), "{after}");
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_aborts_fails_alone_and_the_rest_of_its_batch_lands() {
    for fault in [Fault::Abort, Fault::Panic] {
        let f = fresh().await;
        let sled = f.sled();
        let poisoned = event(50, 0, b"poison".to_vec());
        sled.inject_fault("call-50", fault);
        // 100 plans at once (one writer batch, or a few), one of them poisoned.
        let plans: Vec<_> = (0..100u64)
            .map(|n| {
                let e = if n == 50 {
                    poisoned.clone()
                } else {
                    event(n, 0, format!("body {n}").into_bytes())
                };
                sled.apply(Plan {
                    event: Some(e),
                    ..Plan::default()
                })
            })
            .collect();
        let results = futures_util::future::join_all(plans).await;
        let failed: Vec<_> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(failed, [50], "{fault:?}: {results:?}");
        assert_eq!(sled.events(None, 1000).await.unwrap().len(), 99);
        // The writer goes on.
        sled.apply(Plan {
            event: Some(event(200, 1, b"after".to_vec())),
            ..Plan::default()
        })
        .await
        .unwrap();
        assert_eq!(sled.events(None, 1000).await.unwrap().len(), 100);
    }
}

/// A webhook's lookup is answered by the writer between its transactions (`writer::Queued`):
/// it finds what was applied before it, and a read that panics there fails alone — the
/// writer goes on writing and answering lookups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_panics_on_the_writer_stops_neither_writes_nor_lookups() {
    let f = fresh().await;
    let sled = f.sled();
    let pending_of = |n: u32| {
        let sled = Arc::clone(&sled);
        async move {
            sled.lookup(crate::store::Lookup {
                customer: Some(customer(n)),
                ..crate::store::Lookup::default()
            })
            .await
            .unwrap()
            .customer
            .and_then(|c| c.pending)
            .map(|cb| cb.value.id)
        }
    };
    sled.apply(opening(pending(1, 1))).await.unwrap();
    assert_eq!(pending_of(1).await, Some(id(1)));

    let (asked, answered) = tokio::sync::oneshot::channel::<()>();
    let live = sled.live().unwrap();
    live.read_on_writer(Box::new(move |_| {
        let _reply = asked;
        panic!("a read that panics");
    }))
    .await
    .unwrap();
    // Its reply is dropped, not sent: the one who asked gets an error.
    assert!(answered.await.is_err());

    sled.apply(opening(pending(2, 2))).await.unwrap();
    assert_eq!(pending_of(2).await, Some(id(2)));
    assert_eq!(pending_of(1).await, Some(id(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_use_is_busy_not_broken() {
    let f = fresh().await;
    let second = SledStore::open(f.dir.path());
    assert!(
        matches!(second, Err(StoreError::Busy(ref why)) if why.contains("in use")),
        "{:?}",
        second.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_a_newer_version_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path().join("sled")).unwrap();
        db.open_tree(keys::META)
            .unwrap()
            .insert(keys::SCHEMA_VERSION_KEY, "99")
            .unwrap();
        db.flush().unwrap();
        super::release(db, &dir.path().join("sled"));
    }
    let err = SledStore::open(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("newer Ringback"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_store_is_migrated_and_its_waiting_email_is_takeable() {
    let dir = tempfile::tempdir().unwrap();
    copy(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/store-v1/data"),
        dir.path(),
    );
    let store = open(dir.path());
    let live = store.live().unwrap();
    let version = live.trees[Tree::Meta.index()]
        .get(keys::SCHEMA_VERSION_KEY)
        .unwrap()
        .unwrap();
    assert_eq!(&version[..], keys::SCHEMA_VERSION.to_string().as_bytes());
    let outbox = store.outbox().await.unwrap();
    assert!(!outbox.is_empty(), "the fixture has an email waiting");
    assert_eq!(
        live.outbox.len(),
        outbox.len(),
        "every waiting delivery is in the outbox index"
    );
    assert!(
        live.trees[Tree::OutboxDue.index()].is_empty(),
        "the index tree of schemas 2 to 5 is emptied"
    );
    let far = chrono::Utc::now() + chrono::Duration::days(3650);
    let taken = store
        .take(crate::store::Take {
            now: far,
            owner: crate::store::LeaseOwner(ulid::Ulid::new()),
            until: far + chrono::Duration::minutes(5),
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(taken.len(), outbox.len());
}

/// A file-level backup of `sled`'s store, in `<returned dir>/data`.
async fn backed_up(sled: &SledStore) -> TempDir {
    use crate::store::FileBackups;
    let earlier = tempfile::tempdir().unwrap();
    sled.backup(earlier.path().join("data")).await.unwrap();
    earlier
}

impl SledFixture {
    /// Closes the store and opens the backup in `earlier` with this store's whole event
    /// log: sled as of the backup, the log as of now (what a crash can leave).
    async fn older_sled_with_newer_log(&self, earlier: &TempDir) -> SledStore {
        self.close().await;
        let restored = earlier.path().join("data");
        std::fs::remove_dir_all(restored.join("log")).unwrap();
        copy(&self.dir.path().join("log"), &restored.join("log"));
        open(&restored)
    }
}

/// Taking deliveries at minute `now` for owner `who`, with a five-minute lease.
fn asking(now: i64, who: u128) -> crate::store::Take {
    crate::store::Take {
        now: t(now),
        owner: crate::store::LeaseOwner(ulid::Ulid::from_parts(7, who)),
        until: t(now + 5),
        limit: 100,
    }
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_leaves_nothing_behind_in_any_tree() {
    use crate::store::{DedupKey, DedupWrite};
    let f = fresh().await;
    let store = f.store();
    let old = |minutes: i64| minutes - 200_000;
    // Kept: a pending callback from long ago, one resolved lately; gone: one resolved long
    // ago, with a big event body, its call, and an event without a call (a dedup entry).
    store.apply(opening(pending(1, old(0)))).await.unwrap();
    store.apply(opening(pending(2, old(10)))).await.unwrap();
    store.apply(opening(pending(3, -20))).await.unwrap();
    for (n, at) in [(2, old(20)), (3, -10)] {
        let before = stored(store.as_ref(), n).await;
        let after = resolved(before.value.clone(), at);
        store
            .apply(changing(before, after, "resolved"))
            .await
            .unwrap();
    }
    let big = event(1, old(5), vec![b'x'; 20_000]);
    let recent = event(2, -5, b"{}".to_vec());
    for e in [&big, &recent] {
        store
            .apply(Plan {
                call: Some(call_write(
                    e.record.call_id.as_deref().unwrap(),
                    None,
                    e.record.id,
                )),
                event: Some(e.clone()),
                ..Plan::default()
            })
            .await
            .unwrap();
    }
    let mut lone = event(3, old(6), b"{}".to_vec());
    lone.record.call_id = None;
    store
        .apply(Plan {
            dedup: Some(DedupWrite {
                key: DedupKey {
                    trigger: "call_received_on_server".into(),
                    call_id: String::new(),
                    leg: "#x".into(),
                },
                event: lone.record.id,
            }),
            event: Some(lone),
            ..Plan::default()
        })
        .await
        .unwrap();
    let purged = store
        .purge(
            crate::store::Cutoffs {
                callbacks: Some(t(0) - chrono::Duration::days(90)),
                events: Some(t(0) - chrono::Duration::days(90)),
            },
            1000,
        )
        .await
        .unwrap();
    assert_eq!((purged.callbacks, purged.events, purged.calls), (1, 2, 1));

    let sled = f.sled();
    let live = sled.live().unwrap();
    let keys_of = |tree: Tree| -> Vec<Vec<u8>> {
        live.trees[tree.index()]
            .iter()
            .keys()
            .map(|k| k.unwrap().to_vec())
            .collect()
    };
    let kept = [id(1).to_bytes(), id(3).to_bytes()];
    assert!(
        keys_of(Tree::Timeline)
            .iter()
            .all(|k| kept.iter().any(|id| k.starts_with(id)))
    );
    assert_eq!(keys_of(Tree::Callbacks).len(), 2);
    assert!(keys_of(Tree::EventBodies).is_empty());
    assert!(keys_of(Tree::EventDedup).is_empty());
    assert_eq!(keys_of(Tree::ResolvedByTime).len(), 1);
    assert_eq!(keys_of(Tree::Calls), [b"call-2".to_vec()]);
    assert_eq!(keys_of(Tree::Events).len(), 1);
}

/// A webhook plan: opening callback `n` with its event (durable by its log frame alone).
fn opening_by_webhook(n: u32, minute: i64) -> Plan {
    Plan {
        event: Some(event(
            u64::from(n),
            minute,
            format!("{{\"n\":{n}}}").into_bytes(),
        )),
        ..opening(pending(n, minute))
    }
}

async fn everything(
    store: &dyn Store,
) -> (
    Vec<crate::domain::callback::Callback>,
    Vec<crate::store::EventRecord>,
    u64,
) {
    use crate::store::{ListQuery, StatusFilter};
    let page = store
        .list_callbacks(ListQuery {
            status: StatusFilter::All,
            limit: 200,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    let events = store.events(None, 200).await.unwrap();
    let pending = store.pending_stats().await.unwrap().count;
    (page.callbacks, events, pending)
}

/// A webhook is answered once its log frame is durable; sled flushes on its own schedule,
/// so a crash can take sled back to an earlier moment. Here sled's state is taken back to a
/// backup while the log goes on: opening does the later plans' writes again from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_only_in_the_event_log_are_done_again_at_open() {
    let f = fresh().await;
    let sled = f.sled();
    sled.apply(opening_by_webhook(1, 0)).await.unwrap();
    let earlier = backed_up(&sled).await;
    for n in 2..=20 {
        sled.apply(opening_by_webhook(n, i64::from(n)))
            .await
            .unwrap();
    }
    let before = stored(sled.as_ref(), 1).await;
    let after = resolved(before.value.clone(), 30);
    sled.apply(Plan {
        event: Some(event(21, 30, b"{\"answered\":1}".to_vec())),
        ..changing(before, after, "resolved")
    })
    .await
    .unwrap();
    let expected = everything(sled.as_ref()).await;
    assert_eq!(
        (expected.0.len(), expected.1.len(), expected.2),
        (20, 21, 19)
    );

    // sled as of the backup, with the whole log.
    let store = f.older_sled_with_newer_log(&earlier).await;
    assert_eq!(everything(&store).await, expected);
    let (record, body) = store.event(expected.1[20].id).await.unwrap().unwrap();
    assert_eq!(
        (record.id, body),
        (expected.1[20].id, b"{\"answered\":1}".to_vec())
    );
    // Opened again, nothing is done twice.
    store.close().await.unwrap();
    let store = open(&earlier.path().join("data"));
    assert_eq!(everything(&store).await, expected);
}

/// The segment files of a store's event log, oldest first.
fn segments(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(path.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

/// A crash while a frame was being written leaves it torn; it was never acknowledged. Opening
/// cuts it off, the events before it read whole, and new webhooks are stored after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_torn_mid_frame_is_cut_at_open_and_the_store_goes_on() {
    let f = fresh().await;
    let sled = f.sled();
    for n in 1..=5 {
        sled.apply(opening_by_webhook(n, i64::from(n)))
            .await
            .unwrap();
    }
    let events = sled.events(None, 100).await.unwrap();
    f.close().await;
    let last = segments(f.dir.path()).pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let store = open(f.dir.path());
    // sled's state (flushed at close) still has all five callbacks; the torn event's frame
    // is gone, so the list shows the four whole ones and that one reads as an error.
    assert_eq!(everything(&store).await.0.len(), 5);
    let listed = store.events(None, 100).await.unwrap();
    assert_eq!(listed, events[..4].to_vec());
    assert!(store.event(events[4].id).await.is_err());
    store.apply(opening_by_webhook(6, 6)).await.unwrap();
    let listed = store.events(None, 100).await.unwrap();
    assert_eq!(listed.len(), 5);
    let (_, body) = store.event(listed[4].id).await.unwrap().unwrap();
    assert_eq!(body, b"{\"n\":6}".to_vec());
}

/// Every plan, not only a webhook's, is durable by its log frame; leases are not made durable
/// at all. After a crash sled may come back without a lease that a later (logged) settlement
/// was made under: the settlement is done again from the log, and the delivery it kept for a
/// retry is taken once, at its time, with no entry left behind at the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_done_again_without_its_lease_leaves_the_retry_takeable_once() {
    use crate::store::SettleWrite;
    let f = fresh().await;
    let sled = f.sled();
    sled.apply(Plan {
        deliveries: vec![delivery(1, 0), delivery(2, 0)],
        ..Plan::default()
    })
    .await
    .unwrap();
    let earlier = backed_up(&sled).await;
    let mut taken = sled.take(asking(0, 1)).await.unwrap();
    assert_eq!(taken.len(), 2);
    let (second, first) = (taken.pop().unwrap(), taken.pop().unwrap());
    let mut retry = first.delivery.clone();
    retry.attempts = 1;
    retry.next_attempt_at = t(20);
    for (taken, keep) in [(first, Some(retry)), (second, None)] {
        sled.apply(Plan {
            settle: Some(SettleWrite { taken, keep }),
            ..Plan::default()
        })
        .await
        .unwrap();
    }

    // sled as of the backup (both deliveries waiting, no lease), with the whole log.
    let store = f.older_sled_with_newer_log(&earlier).await;
    let outbox = store.outbox().await.unwrap();
    assert_eq!(outbox.len(), 1, "the sent one is gone: {outbox:?}");
    assert_eq!(outbox[0].attempts, 1);
    assert!(store.take(asking(10, 2)).await.unwrap().is_empty());
    let again = store.take(asking(20, 2)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, delivery(1, 0).id);
    assert!(store.take(asking(21, 3)).await.unwrap().is_empty());
    store
        .apply(Plan {
            settle: Some(SettleWrite {
                taken: again[0].clone(),
                keep: None,
            }),
            ..Plan::default()
        })
        .await
        .unwrap();
    assert!(store.outbox().await.unwrap().is_empty());
    // Nothing left in the time index at the old time or any other.
    assert_eq!(store.next_delivery_at().await.unwrap(), None);
    assert!(store.take(asking(600, 4)).await.unwrap().is_empty());
}

/// The name of the newest recovery snapshot sled has written (`snap.<LSN in hex>`).
fn newest_snapshot(path: &std::path::Path) -> Option<String> {
    std::fs::read_dir(path.join("sled"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|name| name.starts_with("snap.") && !name.ends_with(".in___motion"))
        .max()
}

/// sled 0.34 writes its recovery snapshot only when it opens a database, and a start
/// replays everything written since the last one. A store closed after many writes (50 in
/// tests, 20 000 in service) opens sled once more as it closes, so the next start replays
/// nothing; one closed after a few does not spend that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_after_many_writes_leaves_a_fresh_recovery_snapshot() {
    let f = fresh().await;
    let sled = f.sled();
    sled.apply(opening_by_webhook(1, 0)).await.unwrap();
    let at_open = newest_snapshot(f.dir.path());
    f.close().await;
    assert_eq!(
        newest_snapshot(f.dir.path()),
        at_open,
        "one write: no checkpoint"
    );

    f.reopen().await;
    let reopened = newest_snapshot(f.dir.path());
    let sled = f.sled();
    for n in 2..=80 {
        sled.apply(opening_by_webhook(n, i64::from(n)))
            .await
            .unwrap();
    }
    drop(sled);
    f.close().await;
    let checkpointed = newest_snapshot(f.dir.path());
    assert!(
        checkpointed > reopened,
        "{checkpointed:?} after {reopened:?}"
    );

    let store = f.reopen().await;
    assert_eq!(everything(store.as_ref()).await.0.len(), 80);
    assert_eq!(
        newest_snapshot(f.dir.path()),
        checkpointed,
        "nothing to replay"
    );
}

/// The outbox's time order lives in memory (`outbox_index.rs`): at open it is built again
/// from the outbox as the event log leaves it, so a delivery recorded only in the log is
/// still sent, and one settled only in the log is not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_order_is_built_again_at_open_from_what_the_log_redoes() {
    use crate::store::SettleWrite;
    use crate::store::contract::values::delivery;
    let f = fresh().await;
    let sled = f.sled();
    let (waiting, sent) = (delivery(1, 3), delivery(2, 1));
    sled.apply(Plan {
        deliveries: vec![sent.clone()],
        ..Plan::default()
    })
    .await
    .unwrap();
    let earlier = backed_up(&sled).await;
    sled.apply(Plan {
        deliveries: vec![waiting.clone()],
        ..Plan::default()
    })
    .await
    .unwrap();
    let taken = sled.take(asking(2, 1)).await.unwrap();
    assert_eq!(
        taken.iter().map(|d| d.delivery.id).collect::<Vec<_>>(),
        vec![sent.id],
        "only what is due by then, earliest first"
    );
    sled.apply(Plan {
        settle: Some(SettleWrite {
            taken: taken[0].clone(),
            keep: None,
        }),
        ..Plan::default()
    })
    .await
    .unwrap();

    // sled as of the backup (which has only `sent`, unsettled), with the whole log.
    let store = f.older_sled_with_newer_log(&earlier).await;
    assert_eq!(
        store.next_delivery_at().await.unwrap(),
        Some(waiting.next_attempt_at)
    );
    let taken = store.take(asking(10, 2)).await.unwrap();
    assert_eq!(
        taken.iter().map(|d| d.delivery.id).collect::<Vec<_>>(),
        vec![waiting.id]
    );
}
