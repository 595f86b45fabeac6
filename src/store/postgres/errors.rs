//! What a database error means to Ringback: a conflict (decide again), a database that is
//! not answering (a 503 with `Retry-After`), or the backend's own failure.

use std::sync::Arc;

use crate::store::StoreError;

/// What an SQLSTATE means to Ringback: the same for an error raised to a statement
/// (`db_error`) and for one a batch caught and reported per plan (`batch.rs`).
pub(crate) enum SqlState {
    /// A constraint or revision a plan relied on: decide again.
    Conflict,
    /// The database cannot serve now: retry later.
    NotAnswering,
    Other,
}

pub(crate) fn sqlstate(code: &str) -> SqlState {
    match code {
        // unique violation; serialization failure (a row changed); deadlock
        "23505" | "40001" | "40P01" => SqlState::Conflict,
        // connection exceptions, shutdown, too many connections, out of resources; and a
        // server that has become read-only (a primary demoted in a failover, which a
        // connection opened before it still reaches): the connection is dropped, and the
        // next one goes wherever the URL now points
        c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") || c == "25006" => {
            SqlState::NotAnswering
        }
        _ => SqlState::Other,
    }
}

/// A database error as a store error: a constraint a plan relied on (two pending callbacks
/// for one customer, a row stored first by someone else) is a conflict; a database that does
/// not answer is unavailable; anything else is the backend's.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        // The login refused (SQLSTATE class 28: a wrong password, no such role) or no such
        // database: a setting to correct, said once and plainly — the server's own message
        // names the role or the database, never the password.
        sqlx::Error::Database(d)
            if d.code()
                .is_some_and(|c| c.starts_with("28") || c == "3D000") =>
        {
            StoreError::unavailable(format!(
                "the database refused the connection: {}",
                d.message()
            ))
        }
        sqlx::Error::Database(d) => match d.code().as_deref().map(sqlstate) {
            Some(SqlState::Conflict) => StoreError::Conflict,
            Some(SqlState::NotAnswering) => {
                StoreError::unavailable_from("the database is not answering", e)
            }
            _ => StoreError::Backend {
                message: "a database statement failed".into(),
                source: Some(Arc::new(e)),
            },
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => {
            StoreError::unavailable_from("the database is not reachable", e)
        }
        _ => StoreError::Backend {
            message: "the database answered something unexpected".into(),
            source: Some(Arc::new(e)),
        },
    }
}
