//! The engine's [`Transport`] over `fetch`, with the session token and the app's
//! offline switch.

use super::fetch::post_json;
use crate::engine::{Transport, TransportError};
use crate::messages::SyncConfig;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use sync_protocol::{OutboxEvent, PullRequest, PullResponse, PushRequest, PushResult};

/// Settings the host changes while the engine runs.
#[derive(Clone, Default)]
pub struct Connection {
    pub config: Rc<RefCell<SyncConfig>>,
    pub token: Rc<RefCell<Option<String>>>,
    /// The app's "simulate offline" switch: sync requests fail as if the network were down.
    pub simulate_offline: Rc<Cell<bool>>,
}

/// Push and pull over HTTP.
pub struct FetchTransport {
    pub connection: Connection,
}

impl FetchTransport {
    fn target(&self, path: impl Fn(&SyncConfig) -> &str) -> Result<String, TransportError> {
        if self.connection.simulate_offline.get() {
            return Err(TransportError::Offline("offline mode is on".into()));
        }
        let config = self.connection.config.borrow();
        Ok(config.url(path(&config)))
    }
}

impl Transport for FetchTransport {
    async fn push(
        &self,
        token: &str,
        events: &[OutboxEvent],
    ) -> Result<Vec<PushResult>, TransportError> {
        let url = self.target(|c| &c.push_path)?;
        let body = PushRequest {
            events: events.to_vec(),
        };
        post_json(&url, &body, Some(token)).await
    }

    async fn pull(
        &self,
        token: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<PullResponse, TransportError> {
        let url = self.target(|c| &c.pull_path)?;
        let body = PullRequest {
            last_changelog_id: cursor.map(str::to_string),
            limit: Some(limit),
        };
        post_json(&url, &body, Some(token)).await
    }
}
