//! What can go wrong in storage, said so that callers can act on it: wait and retry
//! (unavailable, conflict, closed), or give up on this one request (corrupt, backend).

use std::sync::Arc;
use std::time::Duration;

type Source = Arc<dyn std::error::Error + Send + Sync>;

/// How long a caller is told to wait before retrying when storage is unavailable.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Storage cannot take or serve requests now (a full disk, a database that does not
    /// answer, a store being reopened); the same request may succeed later.
    #[error("storage is unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Duration,
        #[source]
        source: Option<Source>,
    },
    /// A stored record cannot be read. Retrying will not help; the record is set aside
    /// (quarantined) where the backend can, and counted.
    #[error("a stored {what} is corrupt")]
    Corrupt {
        what: String,
        #[source]
        source: Option<Source>,
    },
    /// What a write plan was decided from changed before it was applied: read again and
    /// decide again.
    #[error("the stored data changed while this was being decided")]
    Conflict,
    /// The store was closed (the service is stopping).
    #[error("storage is closed")]
    Closed,
    /// The request cannot be done now because another one of its kind is running (a
    /// backup while another is being written).
    #[error("{0}")]
    Busy(String),
    /// The store was written or migrated by a newer Ringback than this build: it is not
    /// opened (this build could misread it). Only at open; retrying will not help.
    #[error("{0}")]
    Newer(String),
    /// Anything else the backend reported (a bug, a failed write of one item).
    #[error("storage failed: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Source>,
    },
}

impl StoreError {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        StoreError::Unavailable {
            reason: reason.into(),
            retry_after: DEFAULT_RETRY_AFTER,
            source: None,
        }
    }

    pub fn unavailable_from(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            reason: reason.into(),
            retry_after: DEFAULT_RETRY_AFTER,
            source: Some(Arc::new(source)),
        }
    }

    pub fn corrupt(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            source: Some(Arc::new(source)),
        }
    }

    pub fn backend(message: impl Into<String>) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: None,
        }
    }

    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Conflict | StoreError::Closed
        )
    }

    /// How long to wait before retrying, for a retryable error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            StoreError::Unavailable { retry_after, .. } => Some(*retry_after),
            StoreError::Conflict | StoreError::Closed => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// A short name for metrics and logs: `unavailable`, `corrupt`, `conflict`, …
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::Conflict => "conflict",
            StoreError::Closed => "closed",
            StoreError::Busy(_) => "busy",
            StoreError::Newer(_) => "newer",
            StoreError::Backend { .. } => "backend",
        }
    }

    /// The error with its sources, for logs.
    pub fn describe(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_trouble_is_worth_a_retry() {
        assert!(StoreError::unavailable("disk full").is_retryable());
        assert!(StoreError::Conflict.is_retryable());
        assert!(StoreError::Closed.is_retryable());
        let corrupt = StoreError::corrupt("callback", std::io::Error::other("bad json"));
        assert!(!corrupt.is_retryable());
        assert_eq!(corrupt.retry_after(), None);
        assert!(!StoreError::backend("bug").is_retryable());
        assert_eq!(
            StoreError::unavailable("x").retry_after(),
            Some(DEFAULT_RETRY_AFTER)
        );
    }

    #[test]
    fn a_description_carries_the_sources() {
        let e = StoreError::corrupt("callback", std::io::Error::other("expected value"));
        assert_eq!(e.describe(), "a stored callback is corrupt: expected value");
    }
}
