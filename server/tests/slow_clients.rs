//! Slow and silent clients, over real TCP on loopback, on SQLite and PostgreSQL: many
//! half-sent requests (headers never finished, bodies trickled, nothing sent at all),
//! more than the server's connection limit, while a normal client keeps asking. The
//! server closes each slow connection within its timeouts, so the normal client is
//! answered throughout. The attack is bounded (a fixed count, each connection held at
//! most a few seconds) and stops by itself.

mod support;

use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

on_both_backends!(
    half_sent_requests_do_not_starve_other_clients,
    connections_past_the_limit_wait_until_a_slot_frees,
);

/// Slow connections opened in all: several times the connection limit below.
const SLOW: usize = 240;
const MAX_CONNECTIONS: usize = 48;
/// How long an attacker holds on before giving up by itself.
const HOLD: Duration = Duration::from_secs(12);

/// What a slow client sends before it stops sending.
#[derive(Debug, Clone, Copy)]
enum Slow {
    /// Half the headers.
    Headers,
    /// All the headers, and a tenth of the body they announce.
    Body,
    /// Nothing at all.
    Silent,
}

/// Opens a connection, sends a part of a request, and waits until the server closes it;
/// returns how long that took (None if the server never closed it within [`HOLD`]).
async fn slow_client(addr: std::net::SocketAddr, how: Slow) -> Option<Duration> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let started = Instant::now();
    let sent = match how {
        Slow::Headers => "POST /api/sync/pull HTTP/1.1\r\nHost: localhost\r\nContent-Type: app",
        Slow::Body => {
            "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{\"email\":"
        }
        Slow::Silent => "",
    };
    stream.write_all(sent.as_bytes()).await.ok()?;
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + HOLD;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            // Closed (or reset) by the server: what we wait for. An answer (408) may
            // come first.
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

async fn half_sent_requests_do_not_starve_other_clients(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |config| {
        config.max_connections = MAX_CONNECTIONS;
        config.header_timeout_secs = 1;
        config.body_timeout_secs = 1;
        config.heartbeat_secs = 1;
        config.idle_timeout_secs = 2;
    })
    .await
    else {
        return;
    };
    let alice = server.user("alice").await;
    let addr = socket_address(&server);

    // The attack: waves of slow connections, started a few milliseconds apart.
    let attack = tokio::spawn(async move {
        let mut clients = Vec::with_capacity(SLOW);
        for i in 0..SLOW {
            let how = [Slow::Headers, Slow::Body, Slow::Silent][i % 3];
            clients.push(tokio::spawn(
                async move { (how, slow_client(addr, how).await) },
            ));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut closed = Vec::with_capacity(SLOW);
        for client in clients {
            closed.push(client.await.unwrap());
        }
        closed
    });

    // Meanwhile a normal client, each request on a fresh connection, keeps being answered.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let asked = Instant::now();
        let response = fresh
            .post(alice.url("/api/sync/pull"))
            .bearer_auth(alice.token.as_deref().unwrap())
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("the normal client is answered");
        assert_eq!(response.status(), 200);
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Slots free up as the timeouts close slow connections: a wait of a few seconds at
    // worst, never a hang.
    assert!(
        slowest < Duration::from_secs(5),
        "slowest answer {slowest:?}"
    );

    let closed = attack.await.unwrap();
    for (how, after) in &closed {
        let after = after.unwrap_or_else(|| panic!("a {how:?} connection was never closed"));
        // Timeouts of 1 s (headers, body) and 2 s (idle), checked every half second; a
        // connection waiting for a slot waits for others' timeouts first.
        assert!(
            after < Duration::from_secs(10),
            "{how:?} closed after {after:?}"
        );
    }
    // Still serving.
    assert_eq!(alice.get("/api/health").await.status(), 200);
}

/// Asks for `/api/health` on `stream` (kept alive) and reads the whole answer; its status
/// line, or None when nothing complete came within `wait`.
async fn health_on(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let read_all = async {
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            answer.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&answer).to_string();
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            // The whole body too, so that the next answer on this connection starts clean.
            if answer.len() >= end + 4 + length {
                return text.lines().next().map(str::to_string);
            }
        }
    };
    tokio::time::timeout(wait, read_all).await.ok()?
}

/// The connection limit alone (no timeout expires here): past `--max-connections` a
/// new connection waits to be accepted, while the held ones are still served; once one
/// closes, the waiting one is answered, and the server stays reachable.
async fn connections_past_the_limit_wait_until_a_slot_frees(backend: Backend) {
    const LIMIT: usize = 2;
    let Some(server) = TestServer::start_with(backend, |config| {
        config.max_connections = LIMIT;
        // Far beyond the test's length: only the limit decides who is served.
        config.header_timeout_secs = 60;
        config.body_timeout_secs = 60;
        config.idle_timeout_secs = 60;
    })
    .await
    else {
        return;
    };
    let addr = socket_address(&server);
    let answer = Duration::from_secs(5);

    // These two are answered, and then hold every slot (kept alive).
    let mut held = Vec::new();
    for _ in 0..LIMIT {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let status = health_on(&mut stream, answer).await;
        assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
        held.push(stream);
    }
    assert_eq!(held.len(), LIMIT);

    // One more: the kernel completes its handshake (backlog), the server does not take
    // it, so its request stays unanswered...
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        health_on(&mut waiting, Duration::from_millis(1500)).await,
        None,
        "a connection past the limit was served"
    );
    // ...while the held ones are served as usual.
    for stream in &mut held {
        let status = health_on(stream, answer).await;
        assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    }

    // A slot frees: the waiting connection is accepted and its request answered.
    drop(held.pop());
    let mut status = None;
    let mut buffer = [0u8; 4096];
    let mut answer_text = Vec::new();
    let deadline = tokio::time::Instant::now() + answer;
    while status.is_none() {
        let n = tokio::time::timeout_at(deadline, waiting.read(&mut buffer))
            .await
            .expect("the waiting connection is answered once a slot frees")
            .unwrap();
        assert!(n > 0, "the waiting connection was closed unanswered");
        answer_text.extend_from_slice(&buffer[..n]);
        status = String::from_utf8_lossy(&answer_text)
            .split("\r\n")
            .next()
            .filter(|line| line.starts_with("HTTP/1.1 "))
            .map(str::to_string);
    }
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));

    // All closed: new clients get in as before.
    drop(held);
    drop(waiting);
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    let status = health_on(&mut fresh, answer).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
}

/// The server's address, for raw TCP connections.
fn socket_address(server: &TestServer) -> std::net::SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("the test server's URL names an address")
}
