//! Why an application operation failed: storage trouble (retryable or not), or a decision
//! that could not be made (a bug met by one input: that input fails, nothing else).

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Deciding what an input means panicked; the input is refused and nothing is stored.
    #[error("this input could not be processed: {0}")]
    Decision(String),
}

impl AppError {
    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            AppError::Store(e) => e.is_retryable(),
            AppError::Decision(_) => false,
        }
    }
}

/// Runs a pure decision, turning a panic into [`AppError::Decision`] so that one input
/// that meets a bug fails alone.
pub fn decide<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, AppError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        tracing::error!(%what, panic = %why, "a decision failed; this input is refused");
        AppError::Decision(format!("{what} failed"))
    })
}
