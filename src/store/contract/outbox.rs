//! What every backend promises about due callbacks and the outbox: a round is claimed
//! once, and a delivery is held by one taker at a time, by lease.

use ulid::Ulid;

use super::Fixture;
use super::values::*;
use crate::store::{LeaseOwner, Plan, SettleWrite, StoreError, Take};

fn owner(n: u128) -> LeaseOwner {
    LeaseOwner(Ulid::from_parts(7, n))
}

fn take(now: i64, who: u128, lease_minutes: i64) -> Take {
    Take {
        now: t(now),
        owner: owner(who),
        until: t(now + lease_minutes),
        limit: 100,
    }
}

pub async fn due_callbacks_come_earliest_first_and_a_round_is_claimed_once(f: &impl Fixture) {
    let store = f.store();
    for (n, minute) in [(1, 20), (2, 5), (3, 10), (4, 60)] {
        store.apply(opening(pending(n, minute))).await.unwrap();
    }
    assert_eq!(store.next_due().await.unwrap(), Some(t(5)));
    let due = store.due(t(30), 10).await.unwrap();
    let ids: Vec<_> = due.iter().map(|c| c.value.id).collect();
    assert_eq!(ids, [id(2), id(3), id(1)]);
    assert_eq!(store.due(t(30), 2).await.unwrap().len(), 2);

    // Two claims decided from the same state: one is applied, the other conflicts.
    let cb = due[0].clone();
    let mut advanced = cb.value.clone();
    advanced.rounds_issued = 1;
    advanced.next_reminder_at = Some(t(90));
    advanced.reminder_due_at = Some(t(90));
    let claim = |n| Plan {
        deliveries: vec![delivery(n, 30)],
        ..changing(cb.clone(), advanced.clone(), "round 1")
    };
    let (a, b) = tokio::join!(store.apply(claim(1)), store.apply(claim(2)));
    assert!(
        matches!(
            (&a, &b),
            (Ok(()), Err(StoreError::Conflict)) | (Err(StoreError::Conflict), Ok(()))
        ),
        "{a:?} {b:?}"
    );
    assert_eq!(
        store.outbox().await.unwrap().len(),
        1,
        "one round, one delivery"
    );
    let ids: Vec<_> = store
        .due(t(30), 10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.value.id)
        .collect();
    assert_eq!(ids, [id(3), id(1)], "the claimed one is not due again");
    assert_eq!(store.next_due().await.unwrap(), Some(t(10)));
}

pub async fn a_delivery_is_leased_to_one_taker_until_its_lease_runs_out(f: &impl Fixture) {
    let store = f.store();
    store
        .apply(Plan {
            deliveries: vec![delivery(1, 0), delivery(2, 0), delivery(3, 50)],
            ..Plan::default()
        })
        .await
        .unwrap();
    assert_eq!(store.next_delivery_at().await.unwrap(), Some(t(0)));
    let first = store.take(take(1, 1, 5)).await.unwrap();
    let mut taken: Vec<_> = first.iter().map(|t| t.delivery.id).collect();
    taken.sort();
    assert_eq!(taken, [delivery(1, 0).id, delivery(2, 0).id]);
    assert!(
        first
            .iter()
            .all(|t| t.lease.owner == owner(1) && t.lease.until == super::values::t(6))
    );
    // Someone else, while the lease holds: nothing.
    assert!(store.take(take(2, 2, 5)).await.unwrap().is_empty());
    assert_eq!(store.next_delivery_at().await.unwrap(), Some(t(6)));
    // Once it ran out (its holder died), someone else takes them.
    let second = store.take(take(7, 2, 5)).await.unwrap();
    assert_eq!(second.len(), 2);
    assert!(second.iter().all(|t| t.lease.owner == owner(2)));
    // The later one only at its own time (by then the second taker's leases ran out too).
    assert!(store.take(take(8, 3, 5)).await.unwrap().is_empty());
    assert_eq!(store.take(take(50, 3, 5)).await.unwrap().len(), 3);
}

pub async fn a_settlement_from_someone_who_lost_the_lease_conflicts(f: &impl Fixture) {
    let store = f.store();
    store
        .apply(Plan {
            deliveries: vec![delivery(1, 0)],
            ..Plan::default()
        })
        .await
        .unwrap();
    let lost = store.take(take(0, 1, 5)).await.unwrap().remove(0);
    let held = store.take(take(6, 2, 5)).await.unwrap().remove(0);
    let settle = |taken, keep| Plan {
        settle: Some(SettleWrite { taken, keep }),
        ..Plan::default()
    };
    assert!(matches!(
        store.apply(settle(lost, None)).await,
        Err(StoreError::Conflict)
    ));
    // The holder settles it for a retry at minute 20: takeable again then, not before.
    let mut retry = held.delivery.clone();
    retry.attempts = 1;
    retry.next_attempt_at = t(20);
    store.apply(settle(held, Some(retry))).await.unwrap();
    assert!(store.take(take(12, 3, 5)).await.unwrap().is_empty());
    let again = store.take(take(20, 3, 5)).await.unwrap().remove(0);
    assert_eq!(again.delivery.attempts, 1);
    store.apply(settle(again, None)).await.unwrap();
    assert!(store.outbox().await.unwrap().is_empty());
    assert_eq!(store.next_delivery_at().await.unwrap(), None);
}

pub async fn released_deliveries_can_be_taken_again_at_once(f: &impl Fixture) {
    let store = f.store();
    store
        .apply(Plan {
            deliveries: vec![delivery(1, 0)],
            ..Plan::default()
        })
        .await
        .unwrap();
    let taken = store.take(take(0, 1, 5)).await.unwrap();
    // Only the holder's release counts.
    store
        .release(owner(2), vec![taken[0].delivery.id])
        .await
        .unwrap();
    assert!(store.take(take(1, 2, 5)).await.unwrap().is_empty());
    store
        .release(owner(1), vec![taken[0].delivery.id])
        .await
        .unwrap();
    assert_eq!(store.take(take(1, 2, 5)).await.unwrap().len(), 1);
}
