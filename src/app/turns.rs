//! One webhook at a time per customer, within this process. Two events about one customer
//! (a missed call and the next one, or the call's own "received" event) arriving together
//! would both read the customer's state, both decide, and one plan would then conflict and
//! be decided again — a second read and write for nothing, and on PostgreSQL a second trip
//! through the batches. Measured on the bench mix at 32 connections: one plan in nine
//! conflicted. Taking turns per customer before reading avoids that; conflicts between
//! replicas (and events whose customer is known only after the read) are still caught by
//! the plans' versions, as before. Used where the store asks for it
//! (`Lifecycle::one_customer_at_a_time`): on sled a conflict is cheaper than the wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// A key is normally forgotten by the last turn on it; a wait given up (its webhook's
/// client gone) just as the turn before it ended can leave one behind, so past this many
/// keys the unused ones are swept.
const SWEEP_AT: usize = 10_000;

/// The keys someone holds or waits for, each with its queue (FIFO: tokio's mutex is fair).
#[derive(Default)]
pub struct Turns {
    held: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A held turn; the next in line goes when it is dropped.
pub struct Turn<'a> {
    turns: &'a Turns,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for `key`'s turn.
    pub async fn take(&self, key: String) -> Turn<'_> {
        let queue = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            if held.len() >= SWEEP_AT {
                // Keys left by waits given up at the wrong moment (see `Drop`).
                held.retain(|_, q| Arc::strong_count(q) > 1);
            }
            held.entry(key.clone()).or_default().clone()
        };
        let guard = queue.lock_owned().await;
        Turn {
            turns: self,
            key,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for Turn<'_> {
    /// Forgets the key when nobody else holds or waits for it (a waiter holds a clone of
    /// its queue, taken under the same lock as this check).
    fn drop(&mut self) {
        let mut held = self.turns.held.lock().unwrap_or_else(|e| e.into_inner());
        self.guard.take();
        if held
            .get(&self.key)
            .is_some_and(|q| Arc::strong_count(q) == 1)
        {
            held.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_event_for_one_customer_waits_for_the_first_and_others_do_not() {
        let turns = Turns::default();
        let first = turns.take("+919800000001".into()).await;
        // Another customer's turn comes at once.
        let other = turns.take("+919800000002".into()).await;
        drop(other);
        // The same customer's waits until the first is done.
        let second = turns.take("+919800000001".into());
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut second)
                .await
                .is_err()
        );
        drop(first);
        let second = second.await;
        drop(second);
        assert_eq!(turns.keys(), 0, "no key is kept once nobody holds it");
    }

    #[tokio::test]
    async fn a_turn_given_up_while_waiting_leaves_nothing_behind() {
        let turns = Turns::default();
        let first = turns.take("k".into()).await;
        {
            let waiting = turns.take("k".into());
            let _ = tokio::time::timeout(Duration::from_millis(5), waiting).await;
        }
        drop(first);
        assert_eq!(turns.keys(), 0);
        let again = turns.take("k".into()).await;
        drop(again);
    }
}
