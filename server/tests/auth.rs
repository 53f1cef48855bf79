//! Accounts over real HTTP, on SQLite and PostgreSQL: sign-up, duplicate emails, login
//! (a wrong password and an unknown email answer alike), throttling, logout, `me`;
//! health; CORS for apps hosted on another origin.

mod support;

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, RETRY_AFTER,
};
use serde_json::{json, Value};
use support::*;
use sync_protocol::{Operation, Record, User};

on_both_backends!(
    health_reports_the_database,
    signup_returns_a_session_and_the_user_is_pulled,
    an_email_is_registered_once_whatever_its_case,
    invalid_signups_are_400,
    login_answers_a_wrong_password_like_an_unknown_email,
    login_works_with_the_email_in_any_case,
    logout_ends_the_session,
    repeated_failures_are_refused_with_429,
    parallel_guesses_cannot_outrun_the_throttle,
    neither_a_shared_address_nor_an_attacker_locks_the_owner_out,
    forwarded_addresses_count_only_behind_a_trusted_proxy,
    signups_are_throttled_per_address,
    hashing_waits_for_a_slot_then_answers_503,
    cors_allows_the_configured_origins,
);

async fn health_reports_the_database(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let response = server.anonymous().get("/api/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "database": backend.name()}));
}

/// With its database refusing connections, the server says so instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_the_database_is_down() {
    let Some(server) = TestServer::start(Backend::Postgres).await else {
        return;
    };
    let name = server.db.url.rsplit('/').next().unwrap().to_string();
    admin_execute(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
    ))
    .await;
    admin_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .await;
    let started = std::time::Instant::now();
    let response = server.anonymous().get("/api/health").await;
    expect_error(response, 503, "Service unavailable").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // And any other request gets a clean 5xx, not a hang or a crash.
    let response = server
        .anonymous()
        .login("someone@example.com", PASSWORD)
        .await;
    assert!(response.status().is_server_error());
}

/// Wrong methods on API routes get a JSON 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_are_405() {
    let Some(server) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let response = server.anonymous().get("/api/sync/push").await;
    expect_error(response, 405, "Method not allowed").await;
}

async fn signup_returns_a_session_and_the_user_is_pulled(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let client = server.anonymous();
    let response = client
        .signup("  Ada@Example.COM ", PASSWORD, " Ada Lovelace ")
        .await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 40);
    let user: User = serde_json::from_value(session["user"].clone()).unwrap();
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.name, "Ada Lovelace");
    assert!(!user.email_verified && !user.is_anonymous && user.image.is_none());
    // The password (or its hash) never comes back.
    assert!(!session.to_string().contains("argon2"));

    let mut ada = client.clone();
    ada.token = Some(token);
    let me: User = ada.get("/api/auth/me").await.json().await.unwrap();
    assert_eq!(me, user);
    let logs = ada.pull_all().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].operation, Operation::Create);
    assert_eq!(logs[0].record, Some(Record::User(user).to_json()));
}

async fn an_email_is_registered_once_whatever_its_case(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let client = server.anonymous();
    assert_eq!(
        client
            .signup("bob@example.com", PASSWORD, "Bob")
            .await
            .status(),
        201
    );
    let before = server.db.snapshot().await;
    for email in ["bob@example.com", " BOB@example.com", "Bob@Example.Com "] {
        let response = client.signup(email, "another password", "Bob 2").await;
        expect_error(response, 409, "An account with this email already exists").await;
    }
    assert_eq!(server.db.snapshot().await, before);
}

async fn invalid_signups_are_400(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let client = server.anonymous();
    let before = server.db.snapshot().await;
    for body in [
        json!({"email": "not-an-email", "password": PASSWORD, "name": "X"}),
        json!({"email": "x@example.com", "password": "short", "name": "X"}),
        json!({"email": "x@example.com", "password": "y".repeat(2000), "name": "X"}),
        json!({"email": "x@example.com", "password": PASSWORD, "name": "   "}),
        json!({"email": "x@example.com", "password": PASSWORD}),
        json!({"email": 5, "password": PASSWORD, "name": "X"}),
        json!([]),
    ] {
        let response = client.post_json("/api/auth/signup", &body).await;
        let answer = expect_error(response, 400, "Invalid request").await;
        assert!(answer["details"].is_string(), "{body}");
    }
    let response = client.post_raw("/api/auth/signup", "{").await;
    expect_error(response, 400, "Malformed JSON").await;
    assert_eq!(server.db.snapshot().await, before);
}

async fn login_answers_a_wrong_password_like_an_unknown_email(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let client = server.anonymous();
    client.signup("carol@example.com", PASSWORD, "Carol").await;

    let wrong_password = client.login("carol@example.com", "wrong password").await;
    let unknown_email = client.login("nobody@example.com", PASSWORD).await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    let a: Value = wrong_password.json().await.unwrap();
    let b: Value = unknown_email.json().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a, json!({"error": "Invalid email or password"}));
}

async fn login_works_with_the_email_in_any_case(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let client = server.anonymous();
    let signup: Value = client
        .signup("dave@example.com", PASSWORD, "Dave")
        .await
        .json()
        .await
        .unwrap();
    let response = client.login(" DAVE@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["user"], signup["user"]);
    // A second session, independent of the first.
    assert_ne!(session["token"], signup["token"]);
    for token in [&session["token"], &signup["token"]] {
        let mut dave = client.clone();
        dave.token = Some(token.as_str().unwrap().to_string());
        assert_eq!(dave.get("/api/auth/me").await.status(), 200);
    }
}

async fn logout_ends_the_session(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let erin = server.user("erin").await;
    let other_device = {
        let response = erin.login(&erin.user().email, PASSWORD).await;
        let session: Value = response.json().await.unwrap();
        let mut client = erin.clone();
        client.token = Some(session["token"].as_str().unwrap().to_string());
        client
    };
    let response = erin.post_json("/api/auth/logout", &json!({})).await;
    assert_eq!(response.status(), 204);
    expect_error(erin.get("/api/auth/me").await, 401, "Unauthorized").await;
    let push = erin
        .post_json("/api/sync/push", &json!({"events": []}))
        .await;
    expect_error(push, 401, "Unauthorized").await;
    let pull = erin.post_json("/api/sync/pull", &json!({})).await;
    expect_error(pull, 401, "Unauthorized").await;
    let again = erin.post_json("/api/auth/logout", &json!({})).await;
    expect_error(again, 401, "Unauthorized").await;
    // The other device's session lives on.
    assert_eq!(other_device.get("/api/auth/me").await.status(), 200);
    expect_error(
        server.anonymous().get("/api/auth/me").await,
        401,
        "Unauthorized",
    )
    .await;
}

async fn repeated_failures_are_refused_with_429(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |c| c.login_max_failures = 3).await else {
        return;
    };
    let client = server.anonymous();
    client.signup("frank@example.com", PASSWORD, "Frank").await;
    for _ in 0..3 {
        let response = client.login("frank@example.com", "guess").await;
        assert_eq!(response.status(), 401);
    }
    // Now even the right password is refused until the window ends.
    let response = client.login("frank@example.com", PASSWORD).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("Too many"));
    // Another account from the same address is another bucket: behind a shared
    // address, one person's typos lock no one else out.
    let response = client.login("someone@example.com", "guess").await;
    assert_eq!(response.status(), 401);
}

/// Logs in with `X-Forwarded-For: from`.
async fn login_from(client: &Client, from: &str, email: &str, password: &str) -> u16 {
    client
        .http
        .post(client.url("/api/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn parallel_guesses_cannot_outrun_the_throttle(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let client = server.anonymous();
    client.signup("gina@example.com", PASSWORD, "Gina").await;
    let guesses: Vec<_> = (0..30)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .login("gina@example.com", &format!("guess {i}"))
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    // Exactly the limit (5) had their password checked; all others were refused.
    assert_eq!((checked, refused), (5, 25), "{statuses:?}");
}

async fn neither_a_shared_address_nor_an_attacker_locks_the_owner_out(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.login_max_failures = 3;
        c.login_email_max_failures = 8;
    })
    .await
    else {
        return;
    };
    let client = server.anonymous();
    let email = "hana@example.com";
    client.signup(email, PASSWORD, "Hana").await;
    let (owner, attacker) = ("203.0.113.5", "198.51.100.9");

    // The attacker exhausts their own bucket for this account...
    for _ in 0..3 {
        assert_eq!(login_from(&client, attacker, email, "guess").await, 401);
    }
    assert_eq!(login_from(&client, attacker, email, PASSWORD).await, 429);
    // ...which is not the owner's, who still gets in.
    assert_eq!(login_from(&client, owner, email, PASSWORD).await, 200);

    // A successful login clears its own key: typos before it do not add up with
    // typos after it.
    for _ in 0..2 {
        assert_eq!(login_from(&client, owner, email, "typo").await, 401);
    }
    assert_eq!(login_from(&client, owner, email, PASSWORD).await, 200);
    for _ in 0..2 {
        assert_eq!(login_from(&client, owner, email, "typo").await, 401);
    }
    assert_eq!(login_from(&client, owner, email, PASSWORD).await, 200);

    // Guesses from many addresses meet the slower per-email limit (8 per 15 minutes;
    // 3 of the attacker's and 4 typos of the owner's have been counted, and each
    // success gave its own token back)...
    let mut statuses = Vec::new();
    for i in 0..3 {
        statuses.push(login_from(&client, &format!("192.0.2.{i}"), email, "guess").await);
    }
    assert_eq!(statuses, [401, 429, 429]);
    // ...and it refuses for one refill step (15 min / 8), not for the whole window.
    let response = client
        .http
        .post(client.url("/api/auth/login"))
        .header("x-forwarded-for", "192.0.2.200")
        .json(&json!({"email": email, "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=113).contains(&retry_after), "{retry_after}");
}

async fn forwarded_addresses_count_only_behind_a_trusted_proxy(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |c| c.login_max_failures = 3).await else {
        return;
    };
    let client = server.anonymous();
    client.signup("ivy@example.com", PASSWORD, "Ivy").await;
    // Without a trusted proxy, a forged header does not make a new bucket.
    for i in 0..3 {
        let from = format!("198.51.100.{i}");
        assert_eq!(
            login_from(&client, &from, "ivy@example.com", "guess").await,
            401
        );
    }
    assert_eq!(
        login_from(&client, "198.51.100.99", "ivy@example.com", "guess").await,
        429
    );
}

async fn signups_are_throttled_per_address(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |c| c.signup_max_per_window = 2).await
    else {
        return;
    };
    let client = server.anonymous();
    for name in ["a", "b"] {
        let response = client
            .signup(&format!("{name}@example.com"), PASSWORD, name)
            .await;
        assert_eq!(response.status(), 201);
    }
    let before = server.db.snapshot().await;
    let response = client.signup("c@example.com", PASSWORD, "c").await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key(RETRY_AFTER));
    assert_eq!(server.db.snapshot().await, before);
}

async fn hashing_waits_for_a_slot_then_answers_503(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |c| {
        c.hash_concurrency = 1;
        c.hash_wait_ms = 1;
        c.signup_max_per_window = 12;
    })
    .await
    else {
        return;
    };
    let client = server.anonymous();
    let signups: Vec<_> = (0..12)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let response = client
                    .signup(&format!("n{i}@example.com"), PASSWORD, "N")
                    .await;
                let retry_after = response.headers().get(RETRY_AFTER).cloned();
                (response.status().as_u16(), retry_after)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for signup in signups {
        let (status, retry_after) = signup.await.unwrap();
        if status == 503 {
            assert!(retry_after.is_some(), "503 without Retry-After");
        }
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    // Refused sign-ups cost no sign-up token: the address may try again at once.
    let response = client.signup("later@example.com", PASSWORD, "L").await;
    assert_eq!(response.status(), 201);
}

async fn cors_allows_the_configured_origins(backend: Backend) {
    let origin = "https://boards.example.com";
    let Some(server) = TestServer::start_with(backend, |c| {
        c.cors_origins = vec![origin.to_string()];
    })
    .await
    else {
        return;
    };
    let client = server.anonymous();
    let preflight = |from: &'static str| {
        client
            .http
            .request(reqwest::Method::OPTIONS, client.url("/api/sync/push"))
            .header(ORIGIN, from)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type")
            .send()
    };
    let allowed = preflight(origin).await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(allowed.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], origin);
    let headers = allowed.headers()[ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(refused.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    // The default for tests and embedding (`Config::local`) is any origin.
    let Some(open) = TestServer::start(backend).await else {
        return;
    };
    let response = open
        .anonymous()
        .http
        .get(open.anonymous().url("/api/health"))
        .header(ORIGIN, "http://localhost:9999")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}
