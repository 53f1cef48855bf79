//! What the app and the sync worker say to each other.
//!
//! Both enums are externally tagged (`{"syncNow": {"overrideBackoff": true}}`): an
//! internally tagged enum (`{"type": "syncNow", …}`) is decoded by buffering each
//! message in serde's generic `Content` tree first, and that second decoder, for every
//! type a message carries, cost the app's download about 19 KB gzipped.

use serde::{Deserialize, Serialize};
use sync_protocol::{PushResult, Timestamp};

/// App → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum WorkerInput {
    /// Settings, sent once after spawning and again whenever they change.
    Configure(SyncConfig),
    /// The session token (None after sign-out). A new token after a 401 re-enables requests.
    SetAuth { token: Option<String> },
    /// Start looping: a cycle now, then one every interval.
    Start,
    /// Stop looping; a running cycle completes first.
    Stop,
    /// One cycle now, looping or not; ignored while a cycle runs.
    SyncNow { override_backoff: bool },
    /// Restart the loop's cycle now; only while looping.
    ForceSync { override_backoff: bool },
    /// Local data changed: push soon rather than at the next interval.
    Kick,
    /// Pretend the sync endpoints are unreachable (the app's offline switch).
    SimulateOffline { offline: bool },
}

/// Worker → app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum WorkerOutput {
    Status(SyncStatus),
    PushCompleted {
        results: Vec<PushResult>,
    },
    PullCompleted(PullStats),
    /// Unsynced retryable events left in the outbox, after each phase.
    Pending {
        count: u32,
    },
    /// Whether the server's event stream is connected.
    Realtime {
        connected: bool,
    },
}

/// The sync settings. Endpoints are resolved against `base_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncConfig {
    /// The sync server's origin, e.g. `https://sync.example.com`; empty for same origin.
    pub base_url: String,
    pub push_path: String,
    pub pull_path: String,
    pub events_path: String,
    /// Events per push, 1 to 100.
    pub batch_size: u32,
    /// Changelog entries per pulled page.
    pub pull_limit: u32,
    pub interval_ms: u32,
    /// The first retry waits this long, each further one twice as long.
    pub backoff_ms: u32,
    /// Listen to the server's event stream and pull when poked.
    pub realtime: bool,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            base_url: String::new(),
            push_path: "/api/sync/push".into(),
            pull_path: "/api/sync/pull".into(),
            events_path: "/api/sync/events".into(),
            batch_size: 10,
            pull_limit: sync_protocol::DEFAULT_PULL_LIMIT,
            interval_ms: 5000,
            backoff_ms: 30_000,
            realtime: true,
        }
    }
}

impl SyncConfig {
    /// The settings with out-of-range values brought into range.
    pub fn sanitized(mut self) -> SyncConfig {
        self.batch_size = self
            .batch_size
            .clamp(1, sync_protocol::MAX_PUSH_BATCH as u32);
        self.pull_limit = self.pull_limit.clamp(1, sync_protocol::MAX_PULL_LIMIT);
        self.interval_ms = self.interval_ms.max(100);
        self.base_url = self.base_url.trim_end_matches('/').to_string();
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

/// Where the sync loop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Stopped,
    Idle,
    Pushing,
    Pulling,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Stopped => "Stopped",
            Phase::Idle => "Idle",
            Phase::Pushing => "Pushing",
            Phase::Pulling => "Pulling",
        }
    }
}

/// The status the UI renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub status: Phase,
    pub is_looping: bool,
    pub last_sync_time: Option<Timestamp>,
    pub last_error: Option<SyncError>,
}

impl Default for SyncStatus {
    fn default() -> SyncStatus {
        SyncStatus {
            status: Phase::Stopped,
            is_looping: false,
            last_sync_time: None,
            last_error: None,
        }
    }
}

/// Why the last cycle failed, in words for a person and a kind for code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    pub kind: SyncErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncErrorKind {
    /// The server said 401: sign in again; nothing is sent until then.
    SessionExpired,
    /// No network, or the offline switch.
    Offline,
    /// The server answered with an error.
    Server,
    /// The local database failed.
    Storage,
}

/// What a pull changed, summed over its pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullStats {
    pub affected_models: Vec<String>,
    pub applied: u32,
    pub stale: u32,
    pub missing: u32,
    pub validation_errors: u32,
    pub pages: u32,
}

impl PullStats {
    pub fn add(&mut self, page: &PullStats) {
        for model in &page.affected_models {
            if !self.affected_models.contains(model) {
                self.affected_models.push(model.clone());
            }
        }
        self.applied += page.applied;
        self.stale += page.stale;
        self.missing += page.missing;
        self.validation_errors += page.validation_errors;
        self.pages += page.pages;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_are_externally_tagged_camel_case_json() {
        let input = WorkerInput::SyncNow {
            override_backoff: true,
        };
        let json = json!({"syncNow": {"overrideBackoff": true}});
        assert_eq!(serde_json::to_value(&input).unwrap(), json);
        assert_eq!(serde_json::from_value::<WorkerInput>(json).unwrap(), input);
        assert_eq!(
            serde_json::to_value(WorkerInput::Kick).unwrap(),
            json!("kick")
        );
        let status = WorkerOutput::Status(SyncStatus::default());
        let json = json!({"status": {"status": "Stopped", "isLooping": false, "lastSyncTime": null, "lastError": null}});
        assert_eq!(serde_json::to_value(&status).unwrap(), json);
        assert_eq!(
            serde_json::from_value::<WorkerOutput>(json).unwrap(),
            status
        );
    }

    #[test]
    fn config_is_brought_into_range() {
        let config = SyncConfig {
            batch_size: 500,
            pull_limit: 0,
            base_url: "https://sync.example.com/".into(),
            ..SyncConfig::default()
        }
        .sanitized();
        assert_eq!(config.batch_size, 100);
        assert_eq!(config.pull_limit, 1);
        assert_eq!(
            config.url(&config.push_path),
            "https://sync.example.com/api/sync/push"
        );
    }
}
