//! Shared secrets for the webhook and the API (SPEC §2, §4.1, §7).
//!
//! When the configuration lists no token, one is generated on first start, kept by the
//! store (the embedded one: in the data directory, mode 0600) and printed once, so an out-of-the-box install is never open to
//! whoever guesses a default. Presented tokens are compared in constant time: both sides are
//! hashed to a fixed length first, and every configured token is compared every time.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::store::{Secrets, StoreError, StoreResult};

/// The accepted tokens of one kind, kept only as hashes.
#[derive(Clone)]
pub struct TokenSet {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} token(s))", self.digests.len())
    }
}

impl TokenSet {
    pub fn new(tokens: &[Secret]) -> Self {
        Self {
            digests: tokens.iter().map(|t| digest(t.expose())).collect(),
        }
    }

    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |acc, d| acc | d.ct_eq(&presented))
            .into()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The tokens in force for one kind, and whether one was generated just now.
pub struct Provisioned {
    pub tokens: Vec<Secret>,
    /// Set when this start generated the token (the caller prints it once), with where it
    /// is kept.
    pub generated: Option<(Secret, String)>,
}

/// Returns the configured tokens, or the generated one the store keeps (`<name>.token`;
/// the embedded store keeps it in the data directory).
pub async fn provision(
    configured: &[Secret],
    store: &dyn Secrets,
    name: &str,
) -> StoreResult<Provisioned> {
    if !configured.is_empty() {
        return Ok(Provisioned {
            tokens: configured.to_vec(),
            generated: None,
        });
    }
    let key = format!("{name}.token");
    let (value, created) = store.secret(&key, random_token()).await?;
    let token = Secret::new(value);
    Ok(Provisioned {
        tokens: vec![token.clone()],
        generated: created.then(|| (token, store.secret_location(&key))),
    })
}

/// The key that signs and encrypts dashboard session cookies: 64 random bytes kept by the
/// store (`session.key`), so logins survive a restart and work on every replica.
pub async fn session_key(store: &dyn Secrets) -> StoreResult<Vec<u8>> {
    let mut fresh = vec![0u8; 64];
    rand::rng().fill_bytes(&mut fresh);
    let hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
    let (stored, _) = store.secret("session.key", hex).await?;
    decode_hex(&stored)
        .filter(|b| b.len() == 64)
        .ok_or_else(|| StoreError::Corrupt {
            what: "session key (not 64 bytes of hex)".into(),
            source: None,
        })
}

/// The key that signs emailed action links: the configured secret, else 32 random bytes
/// the store keeps (`links.token`).
pub async fn link_key(configured: Option<&Secret>, store: &dyn Secrets) -> StoreResult<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let provisioned = provision(&[], store, "links").await?;
    Ok(provisioned.tokens[0].expose().as_bytes().to_vec())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// 32 random bytes as 64 hex characters (URL-safe, no escaping needed in Smartflo's form).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_are_accepted() {
        let set = TokenSet::new(&[
            Secret::new("first-token-123456"),
            Secret::new("second-token-12345"),
        ]);
        assert!(set.accepts("first-token-123456"));
        assert!(set.accepts("second-token-12345"));
        assert!(!set.accepts("first-token-12345"));
        assert!(!set.accepts(""));
        assert!(!TokenSet::new(&[]).accepts(""));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_generated_token_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled::SledStore::open(dir.path()).unwrap();
        let first = provision(&[], &store, "webhook").await.unwrap();
        let (token, location) = first.generated.expect("generated on first start");
        assert_eq!(token.expose().len(), 64);
        assert!(location.ends_with("webhook.token"), "{location}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("webhook.token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = provision(&[], &store, "webhook").await.unwrap();
        assert!(second.generated.is_none());
        assert_eq!(second.tokens, vec![token]);
        let key = session_key(&store).await.unwrap();
        assert_eq!(key.len(), 64);
        assert_eq!(session_key(&store).await.unwrap(), key);
    }
}
