use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};

both_backends!(signup_login_logout_and_me);

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
