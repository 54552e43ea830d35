use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_with, Backend, TestApp};

both_backends!(
    signup_login_logout_and_me,
    logins_are_rate_limited,
    sessions_expire,
    a_session_used_every_quarter_of_its_idle_time_never_idles_out,
    an_open_websocket_keeps_a_one_minute_session_alive,
);

async fn signup_login_logout_and_me(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let ana = app.partner("Ana").await;
    let (status, me) = ana.client.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["display_name"], "Ana");
    assert_eq!(me["couple"], serde_json::Value::Null);

    let other = app.anonymous();
    let (status, body) = other
        .post(
            "/api/login",
            json!({ "email": ana.email, "password": "wrong password!" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = other
        .post(
            "/api/login",
            json!({ "email": ana.email.to_uppercase(), "password": ana.password }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(other.cookie(), ana.client.cookie(), "a new session at every log-in");

    let (status, _) = other.post("/api/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.anonymous().get("/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The first session is untouched by the second's log-out.
    assert_eq!(ana.client.get("/api/me").await.0, StatusCode::OK);
}

async fn logins_are_rate_limited(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &["--attempts-per-minute", "3"]).await else {
        return;
    };
    let anon = app.anonymous();
    for _ in 0..3 {
        let (status, _) = anon
            .post(
                "/api/login",
                json!({ "email": "x@example.org", "password": "guess guess guess" }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = anon
        .post(
            "/api/login",
            json!({ "email": "x@example.org", "password": "guess guess guess" }),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["error"]["retry_after"].as_u64().unwrap() >= 1);
    assert!(body["error"]["message"].as_str().unwrap().contains("try again in"));
}

async fn sessions_expire(backend: Backend) {
    // A zero idle limit: every session is already too old to use.
    let Some(app) = spawn_app_with(backend, &["--session-idle-minutes", "0"]).await else {
        return;
    };
    let ana = app.partner("Ana").await;
    assert!(ana.client.cookie().is_some());
    assert_eq!(ana.client.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    let Some(app) = spawn_app_with(backend, &["--session-max-minutes", "0"]).await else {
        return;
    };
    let ana = app.partner("Ana").await;
    assert_eq!(ana.client.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
}

/// Moves every session's "last seen" `ms` into the past: as if that long went by unused.
async fn age_sessions(app: &TestApp, backend: Backend, ms: i64) {
    let sql = "UPDATE sessions SET last_seen_at = last_seen_at - $1";
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(sql).bind(ms).execute(&mut db).await.unwrap();
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query(sql).bind(ms).execute(&mut db).await.unwrap();
        }
    }
}

/// The sessions' "last seen" times, oldest first.
async fn last_seen(app: &TestApp, backend: Backend) -> Vec<i64> {
    let sql = "SELECT last_seen_at FROM sessions ORDER BY last_seen_at";
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut db).await.unwrap()
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut db).await.unwrap()
        }
    }
}

async fn a_session_used_every_quarter_of_its_idle_time_never_idles_out(backend: Backend) {
    // "Last seen" is refreshed once it is older than a quarter of the idle time (here
    // 15 s), so use 20 s apart keeps a one-minute session going for good.
    let Some(app) = spawn_app_with(backend, &["--session-idle-minutes", "1"]).await else {
        return;
    };
    let ana = app.partner("Ana").await;
    for round in 1..=5 {
        age_sessions(&app, backend, 20_000).await;
        let (status, body) = ana.client.get("/api/me").await;
        assert_eq!(status, StatusCode::OK, "after {}s: {body}", round * 20);
    }
    // Unused for the whole minute, it ends.
    age_sessions(&app, backend, 60_000).await;
    assert_eq!(ana.client.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
}

async fn an_open_websocket_keeps_a_one_minute_session_alive(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &["--session-idle-minutes", "1", "--ws-ping-seconds", "1"]).await else {
        return;
    };
    let ana = app.partner("Ana").await;
    let mut ws = ana.ws(None).await;
    // 55 s of nothing but pings: the socket's next ping (one a second) must count as use,
    // refreshing "last seen", or the session idles out (and the socket closes with 4001)
    // within the next 5 s. Nothing but the socket touches the session meanwhile.
    age_sessions(&app, backend, 55_000).await;
    let aged = last_seen(&app, backend).await;
    assert_eq!(aged.len(), 1, "one session");
    let refreshed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let now = last_seen(&app, backend).await;
            if now[0] > aged[0] + 50_000 {
                return now[0];
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        refreshed.is_ok(),
        "the socket's pings never refreshed the session (still {aged:?})"
    );
    // The socket is still open and in use, and the session still works.
    ws.expect_nothing_before_marker().await;
    assert_eq!(ana.client.get("/api/me").await.0, StatusCode::OK);
}
