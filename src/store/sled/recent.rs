//! Callbacks as the writer last committed them, kept in memory for reads by id.
//!
//! sled 0.34 holds one global lock for the whole of a transaction, and every read outside
//! it waits for that lock (`docs/sled-0.34.md`). During a scheduler pass the writer runs
//! transactions nearly back to back (a claim's plans, then the settlements), while the
//! sender reads each delivery's callback before sending it: measured with 1 000 due, each
//! of those reads waited ~1.5 ms behind the writer, and the pass took 100 ms where its
//! sends took 25.
//!
//! The writer is the only thing that changes callbacks, so it can say exactly what one
//! holds: after each transaction commits, before anyone is answered, it puts here the bytes
//! of every callback a plan wrote and takes out every one a plan removed; a batch holding
//! other work that can touch callbacks (retention, repairs) empties the cache. Reads never
//! fill it (a read racing a commit could put older bytes back); a miss reads sled. It is
//! bounded (an entry is a packed callback, ~150–400 bytes) and rebuilt empty at each open.

use std::sync::Arc;

use ulid::Ulid;

/// Entries kept: more than one scheduler claim writes (`CLAIM_BATCH`, 1 000), so the sends
/// of a pass find theirs; ~2–3 MiB at most.
const CAPACITY: usize = 8192;

pub struct RecentCallbacks {
    cache: quick_cache::sync::Cache<Ulid, Arc<[u8]>>,
}

impl Default for RecentCallbacks {
    fn default() -> Self {
        Self {
            cache: quick_cache::sync::Cache::new(CAPACITY),
        }
    }
}

impl RecentCallbacks {
    /// The bytes of callback `id` as last committed, if the writer wrote it lately.
    pub fn get(&self, id: Ulid) -> Option<Arc<[u8]>> {
        self.cache.get(&id)
    }

    /// Records what a committed transaction wrote: a callback's new bytes, or (`None`) its
    /// removal.
    pub fn apply(&self, changes: impl IntoIterator<Item = (Ulid, Option<Arc<[u8]>>)>) {
        for (id, bytes) in changes {
            match bytes {
                Some(bytes) => self.cache.insert(id, bytes),
                None => {
                    self.cache.remove(&id);
                }
            }
        }
    }

    /// Forgets everything (after work that changes callbacks without saying which).
    pub fn clear(&self) {
        self.cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_write_wins_and_a_removal_forgets() {
        let recent = RecentCallbacks::default();
        let (a, b) = (Ulid::from_parts(1, 1), Ulid::from_parts(1, 2));
        recent.apply([
            (a, Some(Arc::from(&b"v1"[..]))),
            (b, Some(Arc::from(&b"w"[..]))),
        ]);
        recent.apply([(a, Some(Arc::from(&b"v2"[..])))]);
        assert_eq!(recent.get(a).as_deref(), Some(&b"v2"[..]));
        recent.apply([(b, None)]);
        assert_eq!(recent.get(b), None);
        recent.clear();
        assert_eq!(recent.get(a), None);
    }
}
