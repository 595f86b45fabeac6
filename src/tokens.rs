//! Shared secrets for the webhook and the API (SPEC §2, §4.1, §7).
//!
//! When the configuration lists no token, one is generated on first start, kept in the data
//! directory (mode 0600) and printed once, so an out-of-the-box install is never open to
//! whoever guesses a default. Presented tokens are compared in constant time: both sides are
//! hashed to a fixed length first, and every configured token is compared every time.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

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
    /// Set when this start generated the token: the caller prints it once.
    pub generated: Option<(Secret, PathBuf)>,
}

/// Returns the configured tokens, or the generated one kept in `data_dir/<name>.token`.
pub fn provision(
    configured: &[Secret],
    data_dir: &Path,
    name: &str,
) -> std::io::Result<Provisioned> {
    if !configured.is_empty() {
        return Ok(Provisioned {
            tokens: configured.to_vec(),
            generated: None,
        });
    }
    crate::data_dir::create_private(data_dir)?;
    let path = data_dir.join(format!("{name}.token"));
    match fs::read_to_string(&path) {
        Ok(existing) if !existing.trim().is_empty() => {
            return Ok(Provisioned {
                tokens: vec![Secret::new(existing.trim())],
                generated: None,
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let token = Secret::new(random_token());
    write_private(&path, token.expose())?;
    Ok(Provisioned {
        tokens: vec![token.clone()],
        generated: Some((token, path)),
    })
}

/// The key that signs and encrypts dashboard session cookies: 64 random bytes kept in
/// `data_dir/session.key`, so logins survive a restart.
pub fn session_key(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    crate::data_dir::create_private(data_dir)?;
    let path = data_dir.join("session.key");
    match fs::read_to_string(&path) {
        Ok(hex) => {
            let bytes = decode_hex(hex.trim());
            if let Some(bytes) = bytes.filter(|b| b.len() == 64) {
                return Ok(bytes);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut bytes = vec![0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &hex)?;
    Ok(bytes)
}

/// The key that signs emailed action links: the configured secret, else 32 random bytes
/// kept in `data_dir/links.key`.
pub fn link_key(configured: Option<&Secret>, data_dir: &Path) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let provisioned = provision(&[], data_dir, "links")?;
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

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("token.tmp");
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
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

    #[test]
    fn a_generated_token_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = provision(&[], dir.path(), "webhook").unwrap();
        let (token, path) = first.generated.expect("generated on first start");
        assert_eq!(token.expose().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let second = provision(&[], dir.path(), "webhook").unwrap();
        assert!(second.generated.is_none());
        assert_eq!(second.tokens, vec![token]);
    }
}
