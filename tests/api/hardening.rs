//! Security headers on every response, and logs that never hold secrets or entry text.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::oneshot;

use crate::both_backends;
use crate::helpers::{fresh_database, http_client, spawn_app, spawn_app_with, without_tandem_env, Backend, Client};

both_backends!(logs_hold_no_secrets_or_entry_text);

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
        assert!(!res.status().is_server_error(), "{path}: {}", res.status());
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
    let res = http_client()
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
    let (status, body) = Client::to(&tls.base, &tls.origin)
        .post("/api/login", json!({ "email": "x@y.org", "password": "zzzzzzzzzz" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

/// A child process's standard output and error, read as they come into one text (a pipe
/// left unread fills up, and the child then blocks on its next log line); the address it
/// announces it listens on is picked out on the way.
struct ChildOutput {
    text: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl ChildOutput {
    fn read(child: &mut tokio::process::Child) -> (ChildOutput, oneshot::Receiver<String>) {
        let text = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = oneshot::channel();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let stdout: Box<dyn AsyncRead + Unpin + Send> = Box::new(child.stdout.take().expect("stdout"));
        let stderr: Box<dyn AsyncRead + Unpin + Send> = Box::new(child.stderr.take().expect("stderr"));
        let readers = [stdout, stderr]
            .into_iter()
            .map(|pipe| {
                let (text, tx) = (text.clone(), tx.clone());
                tokio::spawn(async move {
                    let mut pipe = BufReader::new(pipe);
                    let mut line = Vec::new();
                    while pipe.read_until(b'\n', &mut line).await.is_ok_and(|n| n > 0) {
                        let l = String::from_utf8_lossy(&line).to_string();
                        if let Some(at) = l.split("is listening on ").nth(1) {
                            let base = at.split_whitespace().next().unwrap_or_default().to_string();
                            if let Some(tx) = tx.lock().unwrap().take() {
                                let _ = tx.send(base);
                            }
                        }
                        text.lock().unwrap().push_str(&l);
                        line.clear();
                    }
                })
            })
            .collect();
        (ChildOutput { text, readers }, rx)
    }

    /// Everything written, once the child has exited and both pipes are read to the end.
    async fn finish(self) -> String {
        for reader in self.readers {
            tokio::time::timeout(Duration::from_secs(10), reader)
                .await
                .expect("the pipes close once the child exits")
                .expect("pipe reader");
        }
        let text = self.text.lock().unwrap().clone();
        text
    }
}

/// Runs the real binary with the most verbose logs, does everything a couple does with
/// known secrets, and reads what it wrote.
async fn logs_hold_no_secrets_or_entry_text(backend: Backend) {
    let Some((url, _dir)) = fresh_database(backend).await else {
        return;
    };
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tandem"));
    // Port 0: the server binds a free port itself and says which.
    without_tandem_env(&mut command)
        .args(["--listen", "127.0.0.1:0", "--database-url", &url])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the server starts");
    let (output, listening) = ChildOutput::read(&mut child);
    let base = match tokio::time::timeout(Duration::from_secs(30), listening).await {
        Ok(Ok(base)) => base,
        _ => {
            let _ = child.start_kill();
            panic!("the server did not say where it listens:\n{}", output.finish().await)
        }
    };
    let client = || Client::to(&base, &base);
    let (ana, ben) = (client(), client());
    let (status, health) = ana.get("/api/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");

    let secret_pw = "PW-correct-horse-7781";
    let note = "NOTE-only-for-ben-5521";
    for (who, email, name) in [(&ana, "ana@example.org", "Ana"), (&ben, "ben@example.org", "Ben")] {
        let (status, body) = who
            .post(
                "/api/signup",
                json!({ "email": email, "password": secret_pw, "display_name": name }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, couple) = ana.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{couple}");
    let code = couple["invite"]["code"].as_str().unwrap().to_string();
    let (status, body) = ben.post("/api/couple/join", json!({ "code": code })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, created) = ana
        .post(
            "/api/entries",
            json!({ "request_id": "r1", "kind": "appreciation", "body": { "text": note, "shown_by": "words" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["entry_id"].as_str().unwrap().to_string();
    let (status, body) = ana
        .post(
            &format!("/api/entries/{id}/share"),
            json!({ "request_id": "r2", "scopes": ["partner"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, got) = ben.get(&format!("/api/entries/{id}")).await;
    assert_eq!(
        (status, got["entry"]["body"]["text"].as_str()),
        (StatusCode::OK, Some(note))
    );
    // Failures log too: a wrong password, a bad body with text in it.
    let (status, body) = client()
        .post(
            "/api/login",
            json!({ "email": "ana@example.org", "password": "PW-wrong-guess-0001" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = ana
        .post(
            "/api/entries",
            json!({ "request_id": "r3", "kind": "check_in", "body": { "mood": 9, "note": "NOTE-bad-0002" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let token = ana.cookie().unwrap().split('=').nth(1).unwrap().to_string();
    let mut ws = ana.ws(None).await;
    let ack = ws
        .call(json!({ "type": "create_entry", "request_id": "r4", "kind": "check_in", "body": { "mood": 3, "closeness": 0, "felt_appreciated": "yes", "ready_to_talk": "now", "note": "NOTE-ws-0003" } }))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    drop(ws);

    child.start_kill().expect("stop the server");
    child.wait().await.expect("the server exits");
    let out = output.finish().await;
    assert!(out.contains("is listening on"), "the log was captured: {out}");
    // The log saw those requests: it holds the statements that carried their secrets
    // (bound values are never logged), so "no secret in it" means something. The server
    // logs no line per request, and SQLite's entry writes run on a writer thread of their
    // own that logs nothing: what each request left behind is its statements.
    let seen = |statement: &str| out.matches(statement).count();
    for (statement, request) in [
        ("INSERT INTO users", "the sign-ups, with the password"),
        ("INSERT INTO sessions", "the sessions they opened"),
        ("FROM sessions s JOIN users", "requests with a session cookie"),
        ("FROM users WHERE email = $1", "the log-in with a wrong password"),
        ("INSERT INTO invites", "the invite code"),
        ("UPDATE invites SET used_at", "the join with the code"),
        ("INSERT INTO access_log", "Ben reading the note"),
        ("connection 127.0.0.1:", "the connections"),
    ] {
        assert!(
            seen(statement) > 0,
            "nothing in the log shows {request} ({statement:?}):\n{out}"
        );
    }
    if backend == Backend::Postgres {
        // The note over HTTP and the check-in over the websocket.
        assert_eq!(
            seen("INSERT INTO entries (id, couple_id"),
            2,
            "the two entries written:\n{out}"
        );
        assert!(seen("UPDATE entries SET shared_partner_at") > 0, "the share:\n{out}");
    }
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
