//! `GET /api/sync/events` over real HTTP, on SQLite and PostgreSQL: a push pokes the
//! pusher's open streams (and only theirs), the token may come as `?token=`, a poke
//! crosses server processes that share a PostgreSQL database, and a server with open
//! streams still stops gracefully.

mod support;

use futures_util::StreamExt;
use std::time::Duration;
use support::*;

on_both_backends!(
    a_push_pokes_the_users_streams_only,
    streams_need_a_session,
    a_server_with_open_streams_stops_gracefully,
);

/// Reads server-sent events from a streaming response (`axum::body::Bytes` is the
/// `bytes` crate's type, which reqwest streams).
struct Events {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl Events {
    async fn open(client: &Client, query_token: bool) -> reqwest::Response {
        let mut request = client.http.get(client.url("/api/sync/events"));
        let token = client.token.clone().unwrap_or_default();
        request = if query_token {
            request.query(&[("token", token)])
        } else {
            request.bearer_auth(token)
        };
        request.send().await.unwrap()
    }

    /// Opens a stream and waits until it is live (its first comment arrived).
    async fn connect(client: &Client, query_token: bool) -> Events {
        let response = Events::open(client, query_token).await;
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let mut events = Events {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        };
        let first = events.next_block(Duration::from_secs(10)).await;
        assert_eq!(first.as_deref(), Some(": connected"));
        events
    }

    /// The next event block (the text between blank lines), or None on timeout.
    async fn next_block(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block = self.buffer[..end].to_string();
                self.buffer.drain(..end + 2);
                return Some(block);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }

    /// Waits for a poke, skipping heartbeats.
    async fn poked(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_block(left).await {
                Some(block) if block.starts_with("event: poke") => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    }
}

async fn a_push_pokes_the_users_streams_only(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut alice_header = Events::connect(&alice, false).await;
    let mut alice_query = Events::connect(&alice, true).await;
    let mut bobs = Events::connect(&bob, false).await;

    alice.apply(&create(board(alice.user_id(), "Home"))).await;
    assert!(alice_header.poked(Duration::from_secs(10)).await);
    assert!(alice_query.poked(Duration::from_secs(10)).await);
    assert!(
        !bobs.poked(Duration::from_millis(500)).await,
        "Bob's stream stays quiet"
    );

    // A push that changes nothing (a rejected event) pokes no one.
    let results = alice
        .push(&[create(todo(uuid::Uuid::new_v4(), "orphan"))])
        .await;
    assert!(results[0].error.is_some());
    assert!(!alice_header.poked(Duration::from_millis(500)).await);
}

async fn streams_need_a_session(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let anonymous = server.anonymous();
    let response = Events::open(&anonymous, false).await;
    expect_error(response, 401, "Unauthorized").await;
    let mut forged = anonymous.clone();
    forged.token = Some("forged".into());
    expect_error(Events::open(&forged, true).await, 401, "Unauthorized").await;
}

async fn a_server_with_open_streams_stops_gracefully(backend: Backend) {
    let Some(mut server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let mut events = Events::connect(&alice, false).await;
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("stop does not wait for streams forever");
    // The stream ended.
    assert_eq!(events.next_block(Duration::from_secs(5)).await, None);
}

/// Two server instances sharing one PostgreSQL database: a push to one pokes streams
/// held by the other (LISTEN/NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pokes_cross_server_instances() {
    let Some(server) = TestServer::start(Backend::Postgres).await else {
        return;
    };
    let second = server.second_instance().await;
    let alice = server.user("alice").await;
    let mut on_second = Events::connect(&alice.via(&second.url), false).await;
    let mut on_first = Events::connect(&alice, false).await;
    alice.apply(&create(board(alice.user_id(), "Home"))).await;
    assert!(on_second.poked(Duration::from_secs(10)).await);
    assert!(on_first.poked(Duration::from_secs(10)).await);
    alice
        .via(&second.url)
        .apply(&create(board(alice.user_id(), "Work")))
        .await;
    assert!(on_first.poked(Duration::from_secs(10)).await);
    second.stop().await;
}

/// Heartbeats keep an idle stream alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_get_heartbeats() {
    let Some(server) = TestServer::start_with(Backend::Sqlite, |c| c.heartbeat_secs = 1).await
    else {
        return;
    };
    let alice = server.user("alice").await;
    let mut events = Events::connect(&alice, false).await;
    let block = events.next_block(Duration::from_secs(5)).await;
    assert_eq!(block.as_deref(), Some(": ping"));
}
