//! A client of the sync server's HTTP API, as a device talks to it: sign-up and login,
//! push and pull, board sharing, with an optional session.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use sync_protocol::sharing::{member_path, members_path};
use sync_protocol::{LogWithRecord, OutboxEvent, PullResponse, PushResult, User};
use uuid::Uuid;

/// The password of every account the suites make.
pub const PASSWORD: &str = "correct horse battery";

/// An HTTP client of the API, with an optional session.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
    pub user: Option<User>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: base.to_string(),
            token: None,
            user: None,
        }
    }

    /// A client of the same user talking to another server.
    pub fn via(&self, base: &str) -> Client {
        Client {
            base: base.to_string(),
            ..self.clone()
        }
    }

    /// Signs up a new account named `name` (with [`PASSWORD`]) and keeps its session.
    pub async fn signed_up(base: &str, name: &str) -> Client {
        let mut client = Client::new(base);
        let email = format!("{name}-{}@example.com", Uuid::new_v4().simple());
        let response = client.signup(&email, PASSWORD, name).await;
        assert_eq!(response.status(), StatusCode::CREATED, "sign-up");
        client.keep_session(response).await;
        client
    }

    /// Logs in and keeps the session.
    pub async fn logged_in(base: &str, email: &str, password: &str) -> Client {
        let mut client = Client::new(base);
        let response = client.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login");
        client.keep_session(response).await;
        client
    }

    async fn keep_session(&mut self, response: reqwest::Response) {
        let session: Value = response.json().await.unwrap();
        self.token = Some(session["token"].as_str().unwrap().to_string());
        self.user = Some(serde_json::from_value(session["user"].clone()).unwrap());
    }

    pub fn user(&self) -> &User {
        self.user.as_ref().expect("a signed-up client")
    }

    pub fn user_id(&self) -> Uuid {
        self.user().id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.authorized(self.http.get(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.authorized(self.http.post(self.url(path)).json(body))
            .send()
            .await
            .unwrap()
    }

    /// Posts raw bytes as JSON, malformed or not.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.authorized(
            self.http
                .post(self.url(path))
                .header("content-type", "application/json")
                .body(body),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.authorized(self.http.delete(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/boards/{board}/members {"email"}`: shares the board; the raw answer.
    pub async fn share(&self, board: Uuid, email: &str) -> reqwest::Response {
        self.post_json(&members_path(board), &json!({ "email": email }))
            .await
    }

    /// Shares the board with `member`'s account and expects it newly shared (201).
    pub async fn share_with(&self, board: Uuid, member: &Client) {
        let response = self.share(board, &member.user().email).await;
        assert_eq!(response.status(), StatusCode::CREATED, "share");
    }

    /// `GET /api/boards/{board}/members`; the raw answer.
    pub async fn members(&self, board: Uuid) -> reqwest::Response {
        self.get(&members_path(board)).await
    }

    /// `DELETE /api/boards/{board}/members/{member}` (a removal, or leaving with one's own
    /// id); the raw answer.
    pub async fn remove_member(&self, board: Uuid, member: Uuid) -> reqwest::Response {
        self.delete(&member_path(board, member)).await
    }

    /// Opens the session's event stream (`/api/sync/events`) and waits until it is live.
    pub async fn pokes(&self) -> Pokes {
        Pokes::live(self.get("/api/sync/events").await).await
    }

    pub async fn signup(&self, email: &str, password: &str, name: &str) -> reqwest::Response {
        self.post_json(
            "/api/auth/signup",
            &json!({"email": email, "password": password, "name": name}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Pushes and expects 200.
    pub async fn push(&self, events: &[OutboxEvent]) -> Vec<PushResult> {
        let response = self.push_response(events).await;
        assert_eq!(response.status(), StatusCode::OK, "push");
        response.json().await.unwrap()
    }

    pub async fn push_response(&self, events: &[OutboxEvent]) -> reqwest::Response {
        self.post_json("/api/sync/push", &json!({ "events": events }))
            .await
    }

    /// Pushes one event and expects it applied; returns its changelog id.
    pub async fn apply(&self, event: &OutboxEvent) -> String {
        let results = self.push(std::slice::from_ref(event)).await;
        assert_eq!(results.len(), 1);
        assert!(
            results[0].error.is_none(),
            "event should apply: {:?}",
            results[0].error
        );
        results[0].applied_changelog_id.clone().unwrap()
    }

    /// One pull page; expects 200.
    pub async fn pull(&self, cursor: Option<&str>, limit: Option<u32>) -> PullResponse {
        let mut body = json!({});
        if let Some(cursor) = cursor {
            body["lastChangelogId"] = json!(cursor);
        }
        if let Some(limit) = limit {
            body["limit"] = json!(limit);
        }
        let response = self.post_json("/api/sync/pull", &body).await;
        assert_eq!(response.status(), StatusCode::OK, "pull");
        response.json().await.unwrap()
    }

    /// The whole changelog, page by page.
    pub async fn pull_all(&self) -> Vec<LogWithRecord> {
        let mut cursor: Option<String> = None;
        let mut logs = Vec::new();
        loop {
            let page = self.pull(cursor.as_deref(), Some(1000)).await;
            if page.logs_with_records.is_empty() {
                return logs;
            }
            cursor = page.cursor;
            logs.extend(page.logs_with_records);
        }
    }

    /// The current state of one record as the last entry for it in a full pull shows.
    pub async fn pulled_record(&self, id: Uuid) -> Option<Value> {
        self.pull_all()
            .await
            .into_iter()
            .rev()
            .find(|log| log.record_id() == Some(&id.to_string()))
            .and_then(|log| log.record)
    }
}

/// An open event stream (`/api/sync/events`), read block by block: pokes, heartbeats
/// and its end.
pub struct Pokes {
    response: reqwest::Response,
    buffer: String,
}

/// What the stream gave next.
enum Read {
    Text(String),
    Ended,
    TimedOut,
}

impl Pokes {
    /// Reads the stream a server answered with: asserts it is one and waits until it is
    /// live (its first comment arrived).
    pub async fn live(response: reqwest::Response) -> Pokes {
        assert_eq!(response.status(), StatusCode::OK, "event stream");
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let mut pokes = Pokes {
            response,
            buffer: String::new(),
        };
        let first = pokes.next_block(Duration::from_secs(10)).await;
        assert_eq!(first.as_deref(), Some(": connected"));
        pokes
    }

    /// Whether a poke arrives within `wait` (heartbeats are skipped).
    pub async fn poked(&mut self, wait: Duration) -> bool {
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

    /// The next event block (the text between blank lines), or None on timeout or end.
    pub async fn next_block(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(block) = self.buffered_block() {
                return Some(block);
            }
            match self.read(deadline).await {
                Read::Text(text) => self.buffer.push_str(&text),
                Read::Ended | Read::TimedOut => return None,
            }
        }
    }

    /// Whether the stream ends (the body closes) within `wait`, whatever it sends first.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while self.buffered_block().is_some() {}
            match self.read(deadline).await {
                Read::Text(text) => self.buffer.push_str(&text),
                Read::Ended => return true,
                Read::TimedOut => return false,
            }
        }
    }

    fn buffered_block(&mut self) -> Option<String> {
        let end = self.buffer.find("\n\n")?;
        let block = self.buffer[..end].to_string();
        self.buffer.drain(..end + 2);
        Some(block)
    }

    async fn read(&mut self, deadline: tokio::time::Instant) -> Read {
        match tokio::time::timeout_at(deadline, self.response.chunk()).await {
            Err(_) => Read::TimedOut,
            Ok(Ok(Some(chunk))) => Read::Text(String::from_utf8_lossy(&chunk).into_owned()),
            Ok(Ok(None)) | Ok(Err(_)) => Read::Ended,
        }
    }
}

/// Asserts the status and the `error` text of a JSON error answer; returns the body.
pub async fn expect_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"], json!(error), "{body}");
    body
}
