//! Ended dashboard sessions (`ended_sessions`): one row per logout, kept until the session
//! would have expired, so a copied cookie is refused by every replica.

use chrono::{DateTime, Utc};

use super::{PgStore, db_error};
use crate::store::StoreResult;

pub async fn end(
    store: &PgStore,
    id: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = store.pool.begin().await.map_err(db_error)?;
    sqlx::query("DELETE FROM ended_sessions WHERE until < $1")
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO ended_sessions (id, until) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET until = greatest(ended_sessions.until, EXCLUDED.until)",
    )
    .bind(id)
    .bind(until)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}

pub async fn ended(store: &PgStore, id: &str) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ended_sessions WHERE id = $1)")
        .bind(id)
        .fetch_one(&store.pool)
        .await
        .map_err(db_error)
}
