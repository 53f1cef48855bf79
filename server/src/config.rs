//! Configuration, from flags or the environment (`sync-server --help` lists both).

use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "sync-server",
    version,
    about = "Serves the app and its sync API"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SYNC_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/sync.db")]
    pub database_url: String,

    /// The built app (Trunk's dist folder); unknown paths fall back to its index.html.
    #[arg(long, env = "SYNC_APP_DIR", default_value = "dist")]
    pub app_dir: PathBuf,

    /// An origin allowed to call the API from a browser (repeatable; `*` allows any).
    /// Without one, only pages served by this server may call it.
    #[arg(long = "cors-origin", env = "SYNC_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// The largest request body accepted, in bytes.
    #[arg(long, env = "SYNC_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Events whose `tries` exceed this are answered MAX_RETRIES instead of applied.
    #[arg(long, env = "SYNC_MAX_TRIES", default_value_t = 10)]
    pub max_tries: u32,

    /// Login attempts allowed per (email, client address) within the window before
    /// further ones are refused with 429; they come back evenly over the window, and a
    /// successful login gives them all back.
    #[arg(long, env = "SYNC_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,

    /// Login attempts allowed per email from all addresses together within the window:
    /// a slower limit that bounds guessing from many addresses, while an attacker who
    /// empties it locks the owner out for one refill step (window / limit), not longer.
    #[arg(long, env = "SYNC_LOGIN_EMAIL_MAX_FAILURES", default_value_t = 20)]
    pub login_email_max_failures: u32,

    /// The window over which login attempts are counted, in seconds.
    #[arg(long, env = "SYNC_LOGIN_WINDOW_SECS", default_value_t = 15 * 60)]
    pub login_window_secs: u64,

    /// Sign-ups allowed per client address within the sign-up window.
    #[arg(long, env = "SYNC_SIGNUP_MAX_PER_WINDOW", default_value_t = 10)]
    pub signup_max_per_window: u32,

    /// The window over which sign-ups are counted, in seconds.
    #[arg(long, env = "SYNC_SIGNUP_WINDOW_SECS", default_value_t = 60 * 60)]
    pub signup_window_secs: u64,

    /// A reverse proxy whose `X-Forwarded-For` header is believed (repeatable). Without
    /// one, the client address is the connection's peer: anyone can write that header.
    #[arg(
        long = "trusted-proxy",
        env = "SYNC_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,

    /// Password hashes computed at once (each takes about 19 MiB); 0 means one per CPU.
    #[arg(long, env = "SYNC_HASH_CONCURRENCY", default_value_t = 0)]
    pub hash_concurrency: usize,

    /// How long a login or sign-up waits for a hashing slot before it is answered 503
    /// with Retry-After, in milliseconds.
    #[arg(long, env = "SYNC_HASH_WAIT_MS", default_value_t = 2_000)]
    pub hash_wait_ms: u64,

    /// How long a session lasts, in days.
    #[arg(long, env = "SYNC_SESSION_DAYS", default_value_t = 30)]
    pub session_days: u32,

    /// Seconds between heartbeats on the realtime event stream.
    #[arg(long, env = "SYNC_HEARTBEAT_SECS", default_value_t = 15)]
    pub heartbeat_secs: u64,

    /// Seconds between an event stream's checks that its session still lives: a stream
    /// ends at most this long after logout or expiry.
    #[arg(long, env = "SYNC_STREAM_SESSION_CHECK_SECS", default_value_t = 5)]
    pub stream_session_check_secs: u64,

    /// The most client connections open at once; more wait to be accepted. Keep it
    /// well below the process's file descriptor limit (`ulimit -n`).
    #[arg(long, env = "SYNC_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,

    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "SYNC_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a client has to send a request's whole body.
    #[arg(long, env = "SYNC_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,

    /// Seconds without a byte either way after which a connection is closed (at least
    /// twice the heartbeat, so open event streams are never idle).
    #[arg(long, env = "SYNC_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// The most database connections this process opens.
    #[arg(long, env = "SYNC_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
}

impl Config {
    /// A configuration for tests and embedding: an ephemeral port on loopback, any CORS
    /// origin (test pages and apps hosted elsewhere call it), sign-ups hardly limited
    /// (tests sign up many accounts from loopback), the other settings at their defaults.
    pub fn local(database_url: impl Into<String>, app_dir: impl Into<PathBuf>) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            app_dir: app_dir.into(),
            cors_origins: vec!["*".to_string()],
            max_body_bytes: 1024 * 1024,
            max_tries: 10,
            login_max_failures: 5,
            login_email_max_failures: 20,
            login_window_secs: 15 * 60,
            signup_max_per_window: 100_000,
            signup_window_secs: 60 * 60,
            trusted_proxies: Vec::new(),
            hash_concurrency: 0,
            hash_wait_ms: 2_000,
            session_days: 30,
            heartbeat_secs: 15,
            stream_session_check_secs: 5,
            max_connections: 512,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            idle_timeout_secs: 60,
            db_max_connections: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_repeatable_origins() {
        let config = Config::parse_from(["sync-server"]);
        assert_eq!(config.database_url, "sqlite://data/sync.db");
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        assert_eq!(config.max_tries, 10);
        assert!(config.cors_origins.is_empty());
        let config = Config::parse_from([
            "sync-server",
            "--cors-origin",
            "https://a.example",
            "--cors-origin",
            "https://b.example,https://c.example",
        ]);
        assert_eq!(
            config.cors_origins,
            [
                "https://a.example",
                "https://b.example",
                "https://c.example"
            ]
        );
    }

    #[test]
    fn local_matches_the_flag_defaults_but_allows_any_origin_and_many_signups() {
        let flags = Config::parse_from(["sync-server"]);
        let local = Config::local("sqlite://x.db", "dist");
        assert_eq!(local.cors_origins, ["*"]);
        assert_eq!(flags.signup_max_per_window, 10);
        assert!(local.signup_max_per_window > 1_000);
        assert_eq!(local.max_body_bytes, flags.max_body_bytes);
        assert_eq!(local.max_tries, flags.max_tries);
        assert_eq!(local.login_max_failures, flags.login_max_failures);
        assert_eq!(local.login_window_secs, flags.login_window_secs);
        assert_eq!(
            local.login_email_max_failures,
            flags.login_email_max_failures
        );
        assert_eq!(local.signup_window_secs, flags.signup_window_secs);
        assert_eq!(local.trusted_proxies, flags.trusted_proxies);
        assert_eq!(local.hash_concurrency, flags.hash_concurrency);
        assert_eq!(local.hash_wait_ms, flags.hash_wait_ms);
        assert_eq!(local.session_days, flags.session_days);
        assert_eq!(local.heartbeat_secs, flags.heartbeat_secs);
        assert_eq!(local.db_max_connections, flags.db_max_connections);
        assert_eq!(local.max_connections, flags.max_connections);
        assert_eq!(
            local.stream_session_check_secs,
            flags.stream_session_check_secs
        );
        assert_eq!(local.header_timeout_secs, flags.header_timeout_secs);
        assert_eq!(local.body_timeout_secs, flags.body_timeout_secs);
        assert_eq!(local.idle_timeout_secs, flags.idle_timeout_secs);
    }
}
