//! What makes a dashboard session good: a configured user, younger than [`LOGIN_HOURS`] by
//! the service's clock, issued under the password hash the configuration has now, and not
//! ended by a logout.
//!
//! The session is a cookie, so logging out in one browser cannot take back a copy of it
//! saved elsewhere. Each session therefore carries an id, and logout records that id as
//! ended in the store (`Sessions`), where every replica sharing the store looks before
//! letting a request in. A password change (a new `password_hash` in the configuration)
//! ends every session issued under the old one: a session carries a fingerprint of the
//! hash it was issued under, compared on each request.

use actix_session::Session;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::Dashboard;
use crate::config::DashboardUser;
use crate::store::{Store, StoreError};

/// A login lasts this long, then the dashboard asks again.
pub const LOGIN_HOURS: i64 = 12;
const USER: &str = "user";
const SINCE: &str = "since";
/// The session's own id: what logout records as ended.
const ID: &str = "sid";
/// A fingerprint of the password hash the session was issued under.
const HASH: &str = "pw";

/// Someone logged in, with the CSRF token their forms must carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub name: String,
    pub csrf: String,
}

/// A short fingerprint of a password hash: enough to tell two hashes apart, and nothing
/// an attacker holding a (decrypted) cookie could check guesses against.
fn fingerprint(hash: &str) -> String {
    Sha256::digest(hash.as_bytes())[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Starts a session for `user` (the caller has renewed the session first).
pub fn begin(session: &Session, user: &DashboardUser, now: DateTime<Utc>) {
    let _ = session.insert(USER, &user.name);
    let _ = session.insert(SINCE, now.timestamp());
    let _ = session.insert(ID, crate::tokens::random_token());
    let _ = session.insert(HASH, fingerprint(user.password_hash.expose()));
}

/// Who is logged in, if anyone (a session that is no longer good is cleared).
pub async fn viewer(
    session: &Session,
    dashboard: &Dashboard,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<Option<Viewer>, StoreError> {
    let Some(id) = good_locally(session, dashboard, now) else {
        session.purge();
        return Ok(None);
    };
    if store.session_ended(&id).await? {
        session.purge();
        return Ok(None);
    }
    let name: String = session.get(USER).ok().flatten().unwrap_or_default();
    Ok(Some(Viewer {
        name,
        csrf: super::auth::csrf_token(session),
    }))
}

/// The session's id, if everything the cookie itself says is good.
fn good_locally(session: &Session, dashboard: &Dashboard, now: DateTime<Utc>) -> Option<String> {
    let name: String = session.get(USER).ok().flatten()?;
    let since: i64 = session.get(SINCE).ok().flatten()?;
    // A session from before ids existed cannot be ended by logout: it is not accepted.
    let id: String = session.get(ID).ok().flatten()?;
    let hash: String = session.get(HASH).ok().flatten()?;
    let user = dashboard.users.iter().find(|u| u.name == name)?;
    let age = now.timestamp() - since;
    let fresh = (0..LOGIN_HOURS * 3600).contains(&age);
    (fresh && hash == fingerprint(user.password_hash.expose())).then_some(id)
}

/// Ends the session for good: recorded in the store (so a copy of the cookie is refused
/// everywhere), then cleared in this browser. On a store failure nothing is cleared, so
/// the user can try again.
pub async fn end(
    session: &Session,
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id: Option<String> = session.get(ID).ok().flatten();
    let since: Option<i64> = session.get(SINCE).ok().flatten();
    if let Some(id) = id {
        // Remembered until the session would have expired anyway (by the clock it was
        // issued under; a session stamped in the future is remembered from now).
        let issued = since
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map_or(now, |s| s.max(now));
        store
            .end_session(&id, issued + Duration::hours(LOGIN_HOURS), now)
            .await?;
    }
    session.purge();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_tells_hashes_apart_without_giving_the_hash_away() {
        let a = fingerprint("$argon2id$v=19$m=19456,t=2,p=1$salt1$hash1");
        let b = fingerprint("$argon2id$v=19$m=19456,t=2,p=1$salt2$hash1");
        assert_ne!(a, b);
        assert_eq!(a, fingerprint("$argon2id$v=19$m=19456,t=2,p=1$salt1$hash1"));
        assert_eq!(a.len(), 24);
        assert!(!a.contains("argon2"));
    }
}
