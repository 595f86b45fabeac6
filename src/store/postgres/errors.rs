//! What a database error means to Ringback: a conflict (decide again), a database that is
//! not answering or refuses the login (a 503 with `Retry-After`), or the backend's own
//! failure.

use std::sync::Arc;

use crate::store::StoreError;

/// What an SQLSTATE means to Ringback: the same for an error raised to a statement
/// (`db_error`) and for one a batch caught and reported per plan (`batch.rs`).
pub(crate) enum SqlState {
    /// A constraint or revision a plan relied on: decide again.
    Conflict,
    /// The database cannot serve now: retry later.
    NotAnswering,
    /// The login was refused (SQLSTATE class 28, raised only while connecting: a wrong
    /// password, no such role): a setting to correct; retry later too.
    Refused,
    Other,
}

pub(crate) fn sqlstate(code: &str) -> SqlState {
    match code {
        // unique violation; serialization failure (a row changed); deadlock
        "23505" | "40001" | "40P01" => SqlState::Conflict,
        c if c.starts_with("28") => SqlState::Refused,
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
        sqlx::Error::Database(d) => match d.code().as_deref().map(sqlstate) {
            Some(SqlState::Conflict) => StoreError::Conflict,
            Some(SqlState::NotAnswering) => {
                StoreError::unavailable_from("the database is not answering", e)
            }
            // Said once and plainly: the server's message names the role, never the password.
            Some(SqlState::Refused) => StoreError::unavailable(format!(
                "the database refused the connection: {}",
                d.message()
            )),
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
