//! What every request handler shares.

use crate::auth::Accounts;
use crate::realtime::Hub;
use crate::storage::{self, Storage};
use crate::sync::custom::CustomValidator;
use crate::sync::SyncService;
use crate::{Config, Error};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The state behind the router; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Storage>,
    pub accounts: Arc<Accounts>,
    pub sync: Arc<SyncService>,
    pub hub: Arc<Hub>,
    pub limits: Limits,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[IpAddr]>,
}

/// Request limits and stream timing, from the configuration.
#[derive(Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// How long a client may take to send a whole body.
    pub body_timeout: Duration,
    pub heartbeat: Duration,
    /// How often an event stream checks that its session still lives.
    pub stream_session_check: Duration,
}

impl AppState {
    /// Opens the database (migrating it) and builds the services.
    pub async fn new(
        config: &Config,
        validators: Vec<Arc<dyn CustomValidator>>,
    ) -> Result<AppState, Error> {
        let hub = Arc::new(Hub::default());
        let store = storage::connect(config, hub.clone()).await?;
        let accounts = Arc::new(Accounts::new(store.clone(), config).await?);
        let sync = Arc::new(SyncService::new(
            store.clone(),
            validators,
            config.max_tries,
        ));
        Ok(AppState {
            store,
            accounts,
            sync,
            hub,
            limits: Limits {
                max_body_bytes: config.max_body_bytes,
                body_timeout: Duration::from_secs(config.body_timeout_secs.max(1)),
                heartbeat: Duration::from_secs(config.heartbeat_secs.max(1)),
                stream_session_check: Duration::from_secs(config.stream_session_check_secs.max(1)),
            },
            trusted_proxies: config.trusted_proxies.clone().into(),
        })
    }
}
