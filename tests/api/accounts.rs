use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_with, Backend};

both_backends!(signup_login_logout_and_me, logins_are_rate_limited, sessions_expire);

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
