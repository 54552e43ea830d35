//! Bad input of every kind gets a clear 4xx naming the problem, and changes nothing.

use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{check_in, http_client, spawn_app, Backend, Partner};

both_backends!(
    bad_entries_are_refused_and_change_nothing,
    bad_websocket_messages_get_errors,
    bad_account_input,
    bad_queries_and_methods_get_json_errors,
    pages_list_every_entry_once,
    duplicate_keys_are_refused_wherever_json_comes_in,
);

/// Everything observable about a partner's data, to compare before and after.
async fn snapshot(p: &Partner) -> Value {
    let (status, entries) = p.client.get("/api/entries?limit=200").await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    let (status, events) = p.client.get("/api/events").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert!(events["head"].is_i64(), "{events}");
    json!([entries, events["head"]])
}

async fn bad_entries_are_refused_and_change_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let kept = ana.create("check_in", check_in(3)).await;
    let before = (snapshot(&ana).await, snapshot(&ben).await);

    let mut ok = check_in(3);
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "request_id": "a", "kind": "diary", "body": ok }), "kind"),
        (
            json!({ "request_id": "a", "kind": "check_in", "body": { "mood": "3" } }),
            "body.mood",
        ),
        (
            json!({ "request_id": "a", "kind": "check_in", "body": ok, "extra": 1 }),
            "extra",
        ),
        (json!({ "kind": "check_in", "body": ok }), "request_id"),
        (
            json!({ "request_id": "", "kind": "check_in", "body": ok }),
            "request_id",
        ),
        (json!({ "request_id": 7, "kind": "check_in", "body": ok }), "request_id"),
        (json!({ "request_id": "a", "kind": "check_in", "body": [] }), "body"),
        (
            json!({ "request_id": "a", "kind": "check_in", "body": { "mood": 0, "closeness": 0, "felt_appreciated": "yes", "ready_to_talk": "now" } }),
            "body.mood",
        ),
        (
            json!({ "request_id": "a", "kind": "check_in", "body": { "mood": 3, "closeness": 3, "felt_appreciated": "yes", "ready_to_talk": "now" } }),
            "body.closeness",
        ),
        (
            json!({ "request_id": "a", "kind": "check_in", "body": { "mood": 3, "closeness": 0, "felt_appreciated": "very", "ready_to_talk": "now" } }),
            "body.felt_appreciated",
        ),
        (
            json!({ "request_id": "a", "kind": "check_in", "body": { "mood": 3, "closeness": 0, "felt_appreciated": "yes", "ready_to_talk": "soon" } }),
            "body.ready_to_talk",
        ),
        (
            json!({ "request_id": "a", "kind": "check_in", "body": { "mood": 3, "closeness": 0, "felt_appreciated": "yes", "ready_to_talk": "now", "emotions": ["calm", "sad", "hurt", "lonely"] } }),
            "body.emotions",
        ),
        (
            json!({ "request_id": "a", "kind": "check_in", "body": { "mood": 3, "closeness": 0, "felt_appreciated": "yes", "ready_to_talk": "now", "note": "x".repeat(1001) } }),
            "body.note",
        ),
        (
            json!({ "request_id": "a", "kind": "appreciation", "body": { "text": "   ", "shown_by": "words" } }),
            "body.text",
        ),
        (
            json!({ "request_id": "a", "kind": "appreciation", "body": { "text": "hi", "shown_by": "money" } }),
            "body.shown_by",
        ),
        (
            json!({ "request_id": "a", "kind": "request", "body": { "about": "x", "options": ["only one"] } }),
            "body.options",
        ),
        (
            json!({ "request_id": "a", "kind": "request", "body": { "about": "x", "options": ["a", "b", "c", "d", "e"] } }),
            "body.options",
        ),
        (
            json!({ "request_id": "a", "kind": "request", "body": { "about": "x", "options": ["a", "A"] } }),
            "body.options[1]",
        ),
        (
            json!({ "request_id": "a", "kind": "request", "body": { "about": "x", "options": ["a", "b"], "by_when": "tomorrow" } }),
            "body.by_when",
        ),
        (
            json!({ "request_id": "a", "kind": "setback", "body": { "how_hard": 6, "would_help": "some_space" } }),
            "body.how_hard",
        ),
        (
            json!({ "request_id": "a", "kind": "setback", "body": { "how_hard": 2, "would_help": "a_lecture" } }),
            "body.would_help",
        ),
        (
            json!({ "request_id": "a", "kind": "small_step", "body": { "step": "walk", "intimacy": "financial" } }),
            "body.intimacy",
        ),
        (
            json!({ "request_id": "a", "kind": "reply", "body": { "to": "not-a-uuid", "note": "x" } }),
            "body.to",
        ),
    ];
    ok["mood"] = json!(3);
    for (body, field) in cases {
        let (status, res) = ana.client.post("/api/entries", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {res}");
        assert_eq!(res["error"]["field"], field, "{body}: {res}");
        assert!(!res["error"]["message"].as_str().unwrap().is_empty());
    }

    // Not JSON, not declared as JSON, too large, wrong scope or outcome, unknown ids.
    let (status, res) = ana
        .client
        .post_raw("/api/entries", "application/json", "{\"request_id\": ")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
    let (status, _) = ana
        .client
        .post_raw("/api/entries", "text/plain", check_in(3).to_string())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let big = json!({ "request_id": "a", "kind": "check_in", "body": { "note": "x".repeat(20_000) } }).to_string();
    let (status, _) = ana.client.post_raw("/api/entries", "application/json", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let id = kept["id"].as_str().unwrap();
    for (path, body, expected) in [
        (
            format!("/api/entries/{id}/share"),
            json!({ "request_id": "s", "scopes": ["everyone"] }),
            "scopes[0]",
        ),
        (
            format!("/api/entries/{id}/share"),
            json!({ "request_id": "s", "scopes": [] }),
            "scopes",
        ),
        (
            format!("/api/entries/{id}/outcome"),
            json!({ "request_id": "o", "outcome": "tried" }),
            "outcome",
        ),
        (
            format!("/api/entries/{id}/outcome"),
            json!({ "request_id": "o", "outcome": "perfect" }),
            "outcome",
        ),
    ] {
        let (status, res) = ana.client.post(&path, body).await;
        assert_eq!(
            (status, res["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(expected)),
            "{res}"
        );
    }
    for path in [
        "/api/entries/123/share",
        "/api/entries/00000000-0000-0000-0000-000000000000/share",
    ] {
        let (status, _) = ana
            .client
            .post(path, json!({ "request_id": "s", "scopes": ["partner"] }))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = ana.client.get("/api/entries?limit=5000").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, res) = ana.client.get("/api/nothing-here").await;
    assert_eq!(
        (status, res["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    assert_eq!((snapshot(&ana).await, snapshot(&ben).await), before, "nothing changed");
}

async fn bad_websocket_messages_get_errors(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let before = (snapshot(&ana).await, snapshot(&ben).await);
    let mut ws = ana.ws(None).await;
    let cases = [
        ("not json", None),
        ("[1, 2]", None),
        (r#"{"request_id": "r1"}"#, Some("type")),
        (r#"{"type": "dance", "request_id": "r2"}"#, Some("type")),
        (
            r#"{"type": "share", "request_id": "r3", "scopes": ["partner"]}"#,
            Some("entry_id"),
        ),
        (
            r#"{"type": "create_entry", "request_id": "r4", "kind": "check_in", "body": {"mood": 9}}"#,
            Some("body.closeness"),
        ),
        (
            r#"{"type": "create_entry", "request_id": "r5", "kind": "check_in"}"#,
            Some("body"),
        ),
    ];
    for (text, field) in cases {
        ws.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .unwrap();
        let msg = ws.next().await;
        assert_eq!(msg["type"], "error", "{text}: {msg}");
        assert_eq!(msg["error"]["field"].as_str(), field, "{text}: {msg}");
        let rid = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("request_id").cloned());
        assert_eq!(
            msg["request_id"],
            rid.unwrap_or(Value::Null),
            "errors name the request they answer"
        );
    }
    let msg = ws
        .call(json!({ "type": "share", "request_id": "r6", "entry_id": uuid::Uuid::new_v4(), "scopes": ["partner"] }))
        .await;
    assert_eq!(
        (msg["status"].as_u64(), msg["error"]["code"].as_str()),
        (Some(404), Some("not_found"))
    );
    drop(ws);
    assert_eq!((snapshot(&ana).await, snapshot(&ben).await), before, "nothing changed");
}

async fn bad_account_input(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let anon = app.anonymous();
    for (body, field) in [
        (
            json!({ "email": "nope", "password": "long enough pw", "display_name": "A" }),
            "email",
        ),
        (
            json!({ "email": "a@b.org", "password": "short", "display_name": "A" }),
            "password",
        ),
        (
            json!({ "email": "a@b.org", "password": "long enough pw", "display_name": "  " }),
            "display_name",
        ),
        (
            json!({ "email": "a@b.org", "password": "long enough pw", "display_name": "A", "role": "admin" }),
            "role",
        ),
        (
            json!({ "email": "a@b.org", "password": 1234567890, "display_name": "A" }),
            "password",
        ),
    ] {
        let (status, res) = anon.post("/api/signup", body).await;
        assert_eq!(
            (status, res["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{res}"
        );
    }
    let ana = app.partner("Ana").await;
    let (status, res) = anon
        .post(
            "/api/signup",
            json!({ "email": ana.email, "password": "another password", "display_name": "Imposter" }),
        )
        .await;
    assert_eq!(
        (status, res["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    // Wrong password and unknown user: the same answer.
    let (s1, r1) = anon
        .post(
            "/api/login",
            json!({ "email": ana.email, "password": "not the password" }),
        )
        .await;
    let (s2, r2) = anon
        .post(
            "/api/login",
            json!({ "email": "nobody@example.org", "password": "not the password" }),
        )
        .await;
    assert_eq!((s1, &r1), (StatusCode::UNAUTHORIZED, &r2));
    assert_eq!(s2, s1);
    assert_eq!(anon.cookie(), None);
    // A cross-site form post is refused before it does anything.
    let res = http_client()
        .post(format!("{}/api/login", app.base))
        .header("Origin", "https://evil.example")
        .json(&json!({ "email": ana.email, "password": ana.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("set-cookie").is_none());
}

async fn bad_queries_and_methods_get_json_errors(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    for (path, field) in [
        ("/api/events?since=abc", "since"),
        ("/api/events?since=-1", "since"),
        ("/api/entries?limit=x", "limit"),
        ("/api/entries?foo=1", "foo"),
        ("/api/entries?before=yesterday", "before"),
        ("/api/entries?before_id=nope", "before_id"),
        ("/api/ws?since=-4", "since"),
    ] {
        let (status, body) = ana.client.get(path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    let res = http_client()
        .put(format!("{}/api/entries", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    // A plain GET of the websocket route, past the origin and session checks.
    let (status, body) = ana.client.get("/api/ws").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
}

async fn pages_list_every_entry_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    let mut created = Vec::new();
    for mood in 1..=5 {
        created.push(
            ana.create("check_in", check_in(mood)).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut query = "limit=2".to_string();
    loop {
        let (status, page) = ana.client.get(&format!("/api/entries?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        let (Some(before), Some(id)) = (page["next_before"].as_str(), page["next_before_id"].as_str()) else {
            break;
        };
        query = format!("limit=2&before={}&before_id={id}", before.replace(':', "%3A"));
    }
    created.reverse();
    assert_eq!(seen, created, "newest first, each once");
}

async fn duplicate_keys_are_refused_wherever_json_comes_in(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let id = ana.create("check_in", check_in(3)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = (snapshot(&ana).await, snapshot(&ben).await);
    // The last value would win: the entry would go to the partner, not the therapist.
    let share = format!("/api/entries/{id}/share");
    let ok = r#""closeness": 0, "felt_appreciated": "yes", "ready_to_talk": "now""#;
    for (path, text, key) in [
        (
            share.as_str(),
            r#"{"request_id": "d1", "scopes": ["therapist"], "scopes": ["partner"]}"#.to_string(),
            "scopes",
        ),
        // The same key spelt with an escape is the same key.
        (
            share.as_str(),
            r#"{"request_id": "d2", "scopes": ["therapist"], "\u0073copes": ["partner"]}"#.to_string(),
            "scopes",
        ),
        // At any depth, named by its path.
        (
            "/api/entries",
            format!(r#"{{"request_id": "d3", "kind": "check_in", "body": {{"mood": 1, {ok}, "mood": 5}}}}"#),
            "body.mood",
        ),
        (
            "/api/entries",
            format!(r#"{{"request_id": "d4", "kind": "check_in", "body": {{"mood": 1, {ok}}}, "kind": "setback"}}"#),
            "kind",
        ),
        (
            "/api/login",
            format!(
                r#"{{"email": "{}", "password": "wrong password", "password": "{}"}}"#,
                ana.email, ana.password
            ),
            "password",
        ),
    ] {
        let (status, res) = ana.client.post_raw(path, "application/json", text.clone()).await;
        assert_eq!(
            (status, res["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{text}: {res}"
        );
        let message = res["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("duplicate key `{key}`")), "{text}: {message}");
    }
    // The same on the websocket.
    let mut ws = ana.ws(None).await;
    for (text, key) in [
        (
            format!(
                r#"{{"type": "share", "request_id": "w1", "entry_id": "{id}", "scopes": ["therapist"], "scopes": ["partner"]}}"#
            ),
            "scopes",
        ),
        (
            format!(
                r#"{{"type": "withdraw", "request_id": "w2", "entry_id": "{id}", "scopes": ["partner"], "type": "share"}}"#
            ),
            "type",
        ),
        (
            format!(
                r#"{{"type": "create_entry", "request_id": "w3", "kind": "check_in", "body": {{"mood": 1, {ok}, "note": "a", "note": "b"}}}}"#
            ),
            "body.note",
        ),
    ] {
        ws.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(text.clone().into()))
            .await
            .unwrap();
        let msg = ws.next().await;
        assert_eq!(
            (
                msg["type"].as_str(),
                msg["status"].as_u64(),
                msg["error"]["code"].as_str()
            ),
            (Some("error"), Some(400), Some("bad_request")),
            "{text}: {msg}"
        );
        let message = msg["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("duplicate key `{key}`")), "{text}: {message}");
    }
    drop(ws);
    assert_eq!((snapshot(&ana).await, snapshot(&ben).await), before, "nothing changed");
    assert!(ben.listed_ids().await.is_empty());
}
