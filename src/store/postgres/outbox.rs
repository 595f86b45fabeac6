//! The outbox: deliveries taken with a lease in one statement. `FOR UPDATE SKIP LOCKED`
//! lets replicas taking at the same moment pass each other's rows by instead of waiting or
//! taking the same ones; a lease that runs out makes its delivery takeable again.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use ulid::Ulid;

use super::reads::set_aside;
use super::rows::{self, ms};
use super::{PgStore, db_error};
use crate::domain::reminder::Delivery;
use crate::store::{Lease, LeaseOwner, StoreResult, Take, Taken};

pub async fn take(store: &PgStore, take: Take) -> StoreResult<Vec<Taken>> {
    let found = sqlx::query(
        "UPDATE outbox SET lease_owner = $2, lease_until = $3, takeable_at = $3, rev = rev + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE takeable_at <= $1 ORDER BY takeable_at, id \
                      LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING id, rev, data",
    )
    .bind(take.now)
    .bind(take.owner.0.to_string())
    .bind(ms(take.until))
    .bind(i64::try_from(take.limit).unwrap_or(i64::MAX))
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)?;
    let lease = Lease {
        owner: take.owner,
        until: ms(take.until),
    };
    let mut taken = Vec::with_capacity(found.len());
    for row in found {
        let id: String = row.try_get("id").map_err(db_error)?;
        let rev: i64 = row.try_get("rev").map_err(db_error)?;
        let data: Value = row.try_get("data").map_err(db_error)?;
        match serde_json::from_value::<Delivery>(data) {
            Ok(delivery) => taken.push(Taken {
                delivery,
                lease,
                version: rows::version(rev),
            }),
            Err(e) => set_aside(store, "outbox", "id", &id, &e.to_string()).await,
        }
    }
    taken.sort_by_key(|t| (t.delivery.next_attempt_at, t.delivery.id));
    Ok(taken)
}

pub async fn release(store: &PgStore, owner: LeaseOwner, ids: Vec<Ulid>) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    sqlx::query(
        "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, takeable_at = next_attempt_at, \
         rev = rev + 1 WHERE id = ANY($2) AND lease_owner = $1",
    )
    .bind(owner.0.to_string())
    .bind(&ids)
    .execute(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn next_delivery_at(store: &PgStore) -> StoreResult<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT min(takeable_at) FROM outbox")
        .fetch_one(&store.pool)
        .await
        .map_err(db_error)
}

pub async fn all(store: &PgStore) -> StoreResult<Vec<Delivery>> {
    let found = sqlx::query("SELECT id, data FROM outbox ORDER BY id")
        .fetch_all(&store.pool)
        .await
        .map_err(db_error)?;
    let mut out = Vec::with_capacity(found.len());
    for row in found {
        let id: String = row.try_get("id").map_err(db_error)?;
        let data: Value = row.try_get("data").map_err(db_error)?;
        match serde_json::from_value(data) {
            Ok(d) => out.push(d),
            Err(e) => set_aside(store, "outbox", "id", &id, &e.to_string()).await,
        }
    }
    Ok(out)
}
