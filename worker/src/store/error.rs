//! The store's one error type, with messages a person can act on.

use crate::replica::RuleError;
use web_sys::DomException;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("This browser has no room left for the app's data. Free some disk space or site storage, then try again.")]
    QuotaExceeded,
    #[error("Another tab still has an older version of this app open. Close the app's other tabs, then reload.")]
    Blocked,
    #[error("A newer version of this app upgraded its data in another tab. Reload this page.")]
    VersionChanged,
    #[error("The change was not saved (the local database cancelled it): {0}")]
    Aborted(String),
    #[error("Invalid data: {0}")]
    InvalidData(String),
    #[error("{0} no longer exists (it may have been deleted on another device).")]
    NotFound(String),
    #[error("This browser cannot store data for the app (private mode or storage disabled?): {0}")]
    Unavailable(String),
    /// A sync cycle's write under an epoch that is no longer current; nothing was written.
    #[error(
        "This sync cycle was superseded (sign-out, another account, or another tab took over)."
    )]
    StaleEpoch,
    #[error("Sign in before making changes.")]
    SignedOut,
    /// A local change found that another tab wrote meanwhile (see
    /// `replica::local::Expected`); the store makes it again, so no one sees this.
    #[error("Another tab changed the local data meanwhile. Try again.")]
    Outdated,
}

impl From<RuleError> for StoreError {
    fn from(error: RuleError) -> StoreError {
        match error {
            RuleError::StaleEpoch => StoreError::StaleEpoch,
            RuleError::SignedOut => StoreError::SignedOut,
            RuleError::NotFound(what) => StoreError::NotFound(what),
            RuleError::Invalid(message) => StoreError::InvalidData(message),
            RuleError::Outdated => StoreError::Outdated,
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> StoreError {
        StoreError::InvalidData(error.to_string())
    }
}

impl StoreError {
    /// What a DOMException from IndexedDB means for the person.
    pub(crate) fn from_dom_exception(exception: &DomException) -> StoreError {
        let (name, message) = (exception.name(), exception.message());
        match name.as_str() {
            "QuotaExceededError" => StoreError::QuotaExceeded,
            "VersionError" => StoreError::VersionChanged,
            "DataError" | "DataCloneError" => StoreError::InvalidData(message),
            // The store adds (rather than puts) one kind of value only: the tombstone of
            // a spent stamp, which is there already when another tab wrote meanwhile
            // (see `replica::meta::Stamp`).
            "ConstraintError" => StoreError::Outdated,
            "InvalidStateError" | "TransactionInactiveError" if message.contains("clos") => {
                StoreError::VersionChanged
            }
            _ => StoreError::Aborted(format!("{name}: {message}")),
        }
    }
}
