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
        live.trees[Tree::OutboxDue.index()].len(),
        outbox.len(),
        "every waiting delivery is in the new index"
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
