//! Security headers on every response, and logs that never hold secrets or entry text.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::helpers::{spawn_app, spawn_app_with, Backend, Client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_strict_headers() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let anon = app.anonymous();
    for path in [
        "/",
        "/join",
        "/app.css",
        "/api/health",
        "/api/me",
        "/api/nothing",
        "/api/openapi.json",
    ] {
        let res = anon.http.get(format!("{}{path}", app.base)).send().await.unwrap();
        let h = res.headers();
        let csp = h
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{path}");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS without TLS ({path})"
        );
    }
    // Behind TLS: HSTS, and a Secure, __Host- cookie.
    let Some(tls) = spawn_app_with(Backend::Sqlite, &["--public-url", "https://tandem.example.org"]).await else {
        return;
    };
    let res = reqwest::Client::new()
        .post(format!("{}/api/signup", tls.base))
        .header("Origin", "https://tandem.example.org")
        .json(&json!({ "email": "tls@example.org", "password": "a long enough password", "display_name": "T" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res
        .headers()
        .get("strict-transport-security")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("max-age="));
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    for part in [
        "__Host-tandem_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    // The local origin is no longer allowed once a public URL is set.
    let (status, _) = Client::to(&tls.base, &tls.origin)
        .post("/api/login", json!({ "email": "x@y.org", "password": "zzzzzzzzzz" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Runs the real binary with verbose logs, does everything a couple does with known
/// secrets, and reads what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_secrets_or_entry_text() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--database-url", &url])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = |_: ()| Client::to(&base, &base);
    let ana = client(());
    let ben = client(());
    for _ in 0..200 {
        if reqwest::get(format!("{base}/api/health"))
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secret_pw = "PW-correct-horse-7781";
    let note = "NOTE-only-for-ben-5521";
    ana.post(
        "/api/signup",
        json!({ "email": "ana@example.org", "password": secret_pw, "display_name": "Ana" }),
    )
    .await;
    ben.post(
        "/api/signup",
        json!({ "email": "ben@example.org", "password": secret_pw, "display_name": "Ben" }),
    )
    .await;
    let (_, couple) = ana.post("/api/couple", json!({})).await;
    let code = couple["invite"]["code"].as_str().unwrap().to_string();
    ben.post("/api/couple/join", json!({ "code": code })).await;
    let (_, created) = ana
        .post(
            "/api/entries",
            json!({ "request_id": "r1", "kind": "appreciation", "body": { "text": note, "shown_by": "words" } }),
        )
        .await;
    let id = created["entry_id"].as_str().unwrap().to_string();
    ana.post(
        &format!("/api/entries/{id}/share"),
        json!({ "request_id": "r2", "scopes": ["partner"] }),
    )
    .await;
    ben.get(&format!("/api/entries/{id}")).await;
    // Failures log too: a wrong password, a bad body with text in it.
    client(())
        .post(
            "/api/login",
            json!({ "email": "ana@example.org", "password": "PW-wrong-guess-0001" }),
        )
        .await;
    ana.post(
        "/api/entries",
        json!({ "request_id": "r3", "kind": "check_in", "body": { "mood": 9, "note": "NOTE-bad-0002" } }),
    )
    .await;
    let token = ana.cookie().unwrap().split('=').nth(1).unwrap().to_string();
    let mut ws = ana.ws(None).await;
    ws.send(json!({ "type": "create_entry", "request_id": "r4", "kind": "check_in", "body": { "mood": 3, "closeness": 0, "felt_appreciated": "yes", "ready_to_talk": "now", "note": "NOTE-ws-0003" } })).await;
    ws.next().await;
    drop(ws);

    child.start_kill().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
    child.stderr.take().unwrap().read_to_string(&mut out).await.unwrap();
    assert!(out.contains("listening"), "the log was captured: {out}");
    for secret in [
        secret_pw,
        "PW-wrong-guess-0001",
        note,
        "NOTE-bad-0002",
        "NOTE-ws-0003",
        &code,
        &code.replace('-', ""),
        &token,
    ] {
        assert!(!out.contains(secret), "the log holds {secret:?}:\n{out}");
    }
}
