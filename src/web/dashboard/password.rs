//! Dashboard password checks, a few at a time.
//!
//! One argon2id check with the recommended parameters takes ~19 MiB and tens of
//! milliseconds of CPU. The throttle limits guesses per address, but many addresses, or
//! many right passwords at the start of a shift, could still start a hash each at once:
//! a hundred simultaneous checks once held 1.9 GB. A semaphore lets as many hashes run as
//! there are cores; the rest wait their turn, and one that waits too long is told to retry.

use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use tokio::sync::Semaphore;

/// The longest a login waits for its turn to be checked before it is told to retry.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    #[error("too many sign-ins are being checked right now; try again in a few seconds")]
    Busy,
}

pub struct PasswordChecker {
    permits: Semaphore,
}

impl PasswordChecker {
    /// As many concurrent checks as the machine has cores (at most 4).
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_permits(cores.clamp(1, 4))
    }

    pub fn with_permits(permits: usize) -> Self {
        Self {
            permits: Semaphore::new(permits),
        }
    }

    /// Whether `password` matches the argon2 `hash` (a malformed hash matches nothing).
    pub async fn verify(&self, hash: String, password: String) -> Result<bool, CheckError> {
        self.run(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
    }

    /// Runs `check` on the blocking pool once a permit is free.
    async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CheckError> {
        let _permit = tokio::time::timeout(QUEUE_WAIT, self.permits.acquire())
            .await
            .map_err(|_| CheckError::Busy)?
            .map_err(|_| CheckError::Busy)?;
        tokio::task::spawn_blocking(check)
            .await
            .map_err(|_| CheckError::Busy)
    }
}

impl Default for PasswordChecker {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_checks_run_at_once_than_there_are_permits() {
        let checker = Arc::new(PasswordChecker::with_permits(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let checks: Vec<_> = (0..12)
            .map(|_| {
                let (checker, running, most) = (
                    Arc::clone(&checker),
                    Arc::clone(&running),
                    Arc::clone(&most),
                );
                tokio::spawn(async move {
                    checker
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(30));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for check in checks {
            assert_eq!(check.await.unwrap(), Ok(()));
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} checks ran at once");
    }

    #[tokio::test]
    async fn a_malformed_hash_matches_nothing() {
        let checker = PasswordChecker::with_permits(1);
        assert_eq!(
            checker.verify("not a hash".into(), "pw".into()).await,
            Ok(false)
        );
    }
}
