//! Consent, tested from the outside: the partner, another couple and an anonymous
//! caller never see an unshared entry, or learn it exists.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{check_in, new_id, spawn_app, Backend, Partner};

both_backends!(
    drafts_stay_private_until_shared,
    withdrawal_removes_live_and_on_resume,
    therapist_scope_is_separate,
    other_couples_learn_nothing,
    anonymous_callers_get_nothing
);

/// What `viewer` gets for `id` from every read path, as one comparable value.
async fn all_reads(viewer: &Partner, id: &str) -> Value {
    let get = viewer.client.get(&format!("/api/entries/{id}")).await;
    let preview = viewer.client.get(&format!("/api/entries/{id}/preview")).await;
    json!([get.0.as_u16(), get.1, preview.0.as_u16(), preview.1])
}

/// Every write path on someone else's entry, as one comparable value.
async fn all_writes(viewer: &Partner, id: &str) -> Value {
    let mut out = Vec::new();
    for (path, body) in [
        (
            format!("/api/entries/{id}/share"),
            json!({ "request_id": "w1", "scopes": ["partner"] }),
        ),
        (
            format!("/api/entries/{id}/withdraw"),
            json!({ "request_id": "w2", "scopes": ["partner"] }),
        ),
        (
            format!("/api/entries/{id}/outcome"),
            json!({ "request_id": "w3", "outcome": "tried" }),
        ),
    ] {
        let (s, b) = viewer.client.post(&path, body).await;
        out.push(json!([s.as_u16(), b]));
    }
    let (s, b) = viewer
        .client
        .delete(&format!("/api/entries/{id}"), json!({ "request_id": "w4" }))
        .await;
    out.push(json!([s.as_u16(), b]));
    Value::Array(out)
}

async fn drafts_stay_private_until_shared(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let mut ben_ws = ben.ws(None).await;
    let (status, events) = ben.client.get("/api/events").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let head_before = events["head"].as_i64().unwrap();

    let draft = ana
        .create(
            "setback",
            json!({ "what_happened": "a secret", "how_hard": 5, "would_help": "some_space" }),
        )
        .await;
    let id = draft["id"].as_str().unwrap();

    // Ben: no event, no listing, no count, same answers as for an id that never existed.
    // His own marker's two events are the next positions of his stream: Ana's draft
    // took none.
    let head = ben_ws.expect_nothing_before_marker().await;
    assert_eq!(head, head_before + 2, "Ben's cursor counted Ana's draft");
    assert!(ben.listed_ids().await.is_empty());
    let (status, events) = ben.client.get("/api/events").await;
    assert_eq!((status, events["head"].as_i64()), (StatusCode::OK, Some(head)));
    let unknown = new_id();
    assert_eq!(all_reads(&ben, id).await, all_reads(&ben, &unknown).await);
    assert_eq!(all_writes(&ben, id).await, all_writes(&ben, &unknown).await);
    assert_eq!(all_reads(&ben, id).await[0], 404);

    // Ana previews exactly what Ben will get, then shares.
    let (status, preview) = ana.client.get(&format!("/api/entries/{id}/preview")).await;
    assert_eq!(status, StatusCode::OK);
    ana.share(id, &["partner"]).await;
    let ev = ben_ws.next_event().await;
    let received = &ev["entry"];
    let expected = &preview["partner_view"];
    for field in ["id", "kind", "body", "author", "mine", "reply_to", "created_at"] {
        assert_eq!(received[field], expected[field], "{field}");
    }
    assert_eq!(ben.listed_ids().await, vec![id.to_string()]);
    let (status, got) = ben.client.get(&format!("/api/entries/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["entry"]["body"]["what_happened"], "a secret");
}

async fn withdrawal_removes_live_and_on_resume(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let a = ana.create("check_in", check_in(2)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = ana.create("check_in", check_in(4)).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut ben_ws = ben.ws(None).await;
    ana.share(&a, &["partner"]).await;
    let seen = ben_ws.next_event().await;
    assert_eq!(seen["entry"]["id"], a.as_str());
    let withdrawn = ana.withdraw(&a, &["partner"]).await;
    assert_eq!(withdrawn["consent"]["partner"], Value::Null);
    let ev = ben_ws.next_event().await;
    assert_eq!(
        (ev["event"].as_str(), ev["entry_id"].as_str()),
        (Some("entry_removed"), Some(a.as_str()))
    );
    assert!(ev.get("entry").is_none());
    assert_eq!(all_reads(&ben, &a).await, all_reads(&ben, &new_id()).await);
    assert_eq!(all_reads(&ben, &a).await[0], 404);
    let last = ev["seq"].as_i64().unwrap();
    drop(ben_ws);

    // Shared and withdrawn while Ben was away: he never learns it existed, on the
    // websocket or over HTTP.
    ana.share(&b, &["partner"]).await;
    ana.withdraw(&b, &["partner"]).await;
    let mut ben_ws = ben.ws(Some(last)).await;
    let (status, page) = ben.client.get(&format!("/api/events?since={last}")).await;
    assert_eq!((status, &page["events"]), (StatusCode::OK, &json!([])), "{page}");
    assert!(!page.to_string().contains(&b));
    // Nor one page at a time: a skipped share is remembered across requests.
    let mut since = last;
    for _ in 0..2 {
        let (status, page) = ben.client.get(&format!("/api/events?since={since}&limit=1")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!page.to_string().contains(&b), "{page}");
        since = page["next_since"].as_i64().unwrap();
    }
    // The resumed socket got nothing of it either, before Ben's own marker.
    ben_ws.expect_nothing_before_marker().await;
    assert!(ben.listed_ids().await.is_empty());

    // Sharing again is a fresh, explicit act.
    ana.share(&b, &["partner"]).await;
    assert_eq!(ben_ws.next_event().await["entry"]["id"], b.as_str());
}

async fn therapist_scope_is_separate(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let mut ben_ws = ben.ws(None).await;
    let id = ana.create("check_in", check_in(3)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let entry = ana.share(&id, &["therapist"]).await;
    assert!(entry["consent"]["therapist"].is_string());
    assert_eq!(
        entry["consent"]["partner"],
        Value::Null,
        "therapist scope never implies partner scope"
    );
    ben_ws.expect_nothing_before_marker().await;
    assert!(ben.listed_ids().await.is_empty());

    let entry = ana.share(&id, &["partner"]).await;
    assert!(entry["consent"]["partner"].is_string());
    assert_eq!(ben_ws.next_event().await["entry"]["id"], id.as_str());
    // Withdrawing the therapist scope leaves the partner's view alone.
    let entry = ana.withdraw(&id, &["therapist"]).await;
    assert_eq!(
        (
            entry["consent"]["therapist"].is_null(),
            entry["consent"]["partner"].is_string()
        ),
        (true, true)
    );
    ben_ws.expect_nothing_before_marker().await;
    assert_eq!(ben.listed_ids().await, vec![id]);
}

async fn other_couples_learn_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let (cat, dan) = app.couple().await;
    let mut cat_ws = cat.ws(None).await;

    let shared = ana
        .create("appreciation", json!({ "text": "private words", "shown_by": "words" }))
        .await;
    let shared_id = shared["id"].as_str().unwrap().to_string();
    ana.share(&shared_id, &["partner", "therapist"]).await;
    let draft_id = ana.create("check_in", check_in(1)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = ben
        .create("reply", json!({ "to": shared_id, "note": "thank you" }))
        .await;
    let reply_id = reply["id"].as_str().unwrap().to_string();

    let unknown = new_id();
    for outsider in [&cat, &dan] {
        for id in [&shared_id, &draft_id, &reply_id] {
            assert_eq!(
                all_reads(outsider, id).await,
                all_reads(outsider, &unknown).await,
                "{id}"
            );
            assert_eq!(
                all_writes(outsider, id).await,
                all_writes(outsider, &unknown).await,
                "{id}"
            );
        }
        let (status, e1) = outsider
            .client
            .post(
                "/api/entries",
                json!({ "request_id": new_id(), "kind": "reply", "body": { "to": shared_id, "note": "hi" } }),
            )
            .await;
        let (status2, e2) = outsider
            .client
            .post(
                "/api/entries",
                json!({ "request_id": new_id(), "kind": "reply", "body": { "to": unknown, "note": "hi" } }),
            )
            .await;
        assert_eq!((status, &e1), (StatusCode::UNPROCESSABLE_ENTITY, &e2));
        assert_eq!(status2, status);
        assert!(outsider.listed_ids().await.is_empty());
        let (status, events) = outsider.client.get("/api/events?since=0").await;
        assert_eq!(status, StatusCode::OK, "{events}");
        for id in [&shared_id, &draft_id, &reply_id] {
            assert!(!events.to_string().contains(id.as_str()), "{events}");
        }
    }
    cat_ws.expect_nothing_before_marker().await;
    // Ana's entry is still hers, unchanged by the attempts.
    let (status, got) = ana.client.get(&format!("/api/entries/{shared_id}")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert!(got["entry"]["consent"]["partner"].is_string());
}

async fn anonymous_callers_get_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, _ben) = app.couple().await;
    let id = ana.create("check_in", check_in(3)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.share(&id, &["partner"]).await;
    let anon = app.anonymous();
    for path in [
        "/api/me",
        "/api/couple",
        "/api/entries",
        &format!("/api/entries/{id}"),
        &format!("/api/entries/{id}/preview"),
        "/api/events",
    ] {
        let (status, body) = anon.get(path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!body.to_string().contains(&id));
    }
    for path in [
        "/api/couple",
        "/api/couple/join",
        "/api/couple/unpair",
        "/api/entries",
        &format!("/api/entries/{id}/share"),
        &format!("/api/entries/{id}/withdraw"),
    ] {
        let (status, _) = anon
            .post(
                path,
                json!({ "request_id": "x", "scopes": ["partner"], "code": "ABCD-EFGH" }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // A forged cookie is no better than none.
    anon.set_cookie(Some("tandem_session=forged".into()));
    assert_eq!(anon.get("/api/entries").await.0, StatusCode::UNAUTHORIZED);
}
