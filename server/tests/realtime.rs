//! `GET /api/sync/events` over real HTTP, on SQLite and PostgreSQL: a push pokes the
//! pusher's open streams (and only theirs), a stream opens with the Authorization header
//! or a single-use ticket (never a token in the URL), a stream ends within seconds of
//! its session ending, a poke crosses server processes that share a PostgreSQL
//! database, and a server with open streams still stops gracefully.

mod support;

use std::time::Duration;
use support::*;

on_both_backends!(
    a_push_pokes_the_users_streams_only,
    streams_need_a_session,
    a_server_with_open_streams_stops_gracefully,
    the_token_never_travels_in_the_url_and_tickets_work_once,
    a_stream_ends_within_seconds_when_its_session_ends,
);

/// Opens a stream with the bearer header, or with a ticket fetched first.
async fn open_stream(client: &Client, with_ticket: bool) -> reqwest::Response {
    let request = client.http.get(client.url("/api/sync/events"));
    let token = client.token.clone().unwrap_or_default();
    let request = if with_ticket {
        match ticket(client).await {
            Some(ticket) => request.query(&[("ticket", ticket)]),
            None => request,
        }
    } else {
        request.bearer_auth(token)
    };
    request.send().await.unwrap()
}

/// Opens a stream and waits until it is live.
async fn connect(client: &Client, with_ticket: bool) -> Pokes {
    Pokes::live(open_stream(client, with_ticket).await).await
}

/// A stream ticket of the client's session (None when it is refused).
async fn ticket(client: &Client) -> Option<String> {
    let response = client
        .post_json("/api/sync/events/ticket", &serde_json::json!({}))
        .await;
    if response.status() != 200 {
        return None;
    }
    let body: serde_json::Value = response.json().await.unwrap();
    Some(body["ticket"].as_str()?.to_string())
}

async fn a_push_pokes_the_users_streams_only(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut alice_header = connect(&alice, false).await;
    let mut alice_ticket = connect(&alice, true).await;
    let mut bobs = connect(&bob, false).await;

    alice.apply(&create(board(alice.user_id(), "Home"))).await;
    assert!(alice_header.poked(Duration::from_secs(10)).await);
    assert!(alice_ticket.poked(Duration::from_secs(10)).await);
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
    let response = open_stream(&anonymous, false).await;
    expect_error(response, 401, "Unauthorized").await;
    let mut forged = anonymous.clone();
    forged.token = Some("forged".into());
    expect_error(open_stream(&forged, true).await, 401, "Unauthorized").await;
    expect_error(
        forged
            .post_json("/api/sync/events/ticket", &serde_json::json!({}))
            .await,
        401,
        "Unauthorized",
    )
    .await;
}

async fn the_token_never_travels_in_the_url_and_tickets_work_once(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let events = |query: (&'static str, String)| {
        alice
            .http
            .get(alice.url("/api/sync/events"))
            .query(&[query])
            .send()
    };
    // A session token in the URL is not accepted (it would end up in logs).
    let token = alice.token.clone().unwrap();
    expect_error(events(("token", token)).await.unwrap(), 401, "Unauthorized").await;
    // A ticket opens one stream, once.
    let once = ticket(&alice).await.expect("a ticket");
    let opened = events(("ticket", once.clone())).await.unwrap();
    assert_eq!(opened.status(), 200);
    expect_error(events(("ticket", once)).await.unwrap(), 401, "Unauthorized").await;
    expect_error(
        events(("ticket", "made-up".into())).await.unwrap(),
        401,
        "Unauthorized",
    )
    .await;
    // An expired ticket is refused.
    let stale = ticket(&alice).await.expect("a ticket");
    server
        .db
        .execute("UPDATE stream_tickets SET expires_at = 0")
        .await;
    expect_error(
        events(("ticket", stale)).await.unwrap(),
        401,
        "Unauthorized",
    )
    .await;
}

async fn a_stream_ends_within_seconds_when_its_session_ends(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |c| c.stream_session_check_secs = 1).await
    else {
        return;
    };
    // Logout, on a stream opened with the header and one opened with a ticket.
    let alice = server.user("alice").await;
    let mut by_header = connect(&alice, false).await;
    let mut by_ticket = connect(&alice, true).await;
    let response = alice
        .post_json("/api/auth/logout", &serde_json::json!({}))
        .await;
    assert_eq!(response.status(), 204);
    assert!(by_header.ends_within(Duration::from_secs(5)).await);
    assert!(by_ticket.ends_within(Duration::from_secs(5)).await);

    // Expiry.
    let bob = server.user("bob").await;
    let mut bobs = connect(&bob, true).await;
    assert!(!bobs.ends_within(Duration::from_millis(1500)).await);
    server
        .db
        .execute("UPDATE sessions SET expires_at = 0")
        .await;
    assert!(bobs.ends_within(Duration::from_secs(5)).await);
}

async fn a_server_with_open_streams_stops_gracefully(backend: Backend) {
    let Some(mut server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let mut events = connect(&alice, false).await;
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
    let mut on_second = connect(&alice.via(&second.url), false).await;
    let mut on_first = connect(&alice, false).await;
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
    let mut events = connect(&alice, false).await;
    let block = events.next_block(Duration::from_secs(5)).await;
    assert_eq!(block.as_deref(), Some(": ping"));
}
