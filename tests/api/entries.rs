use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{check_in, new_id, spawn_app, Backend};

both_backends!(partners_exchange_every_kind_live, replies_answer_what_they_reply_to);

async fn partners_exchange_every_kind_live(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let mut ben_ws = ben.ws(None).await;
    let mut ana_ws = ana.ws(None).await;

    let bodies = [
        ("check_in", check_in(3)),
        (
            "appreciation",
            json!({ "text": "You made time for my sister", "shown_by": "time_together" }),
        ),
        (
            "request",
            json!({ "about": "This weekend", "options": ["A walk", "Cinema", "Stay in"], "by_when": "2026-12-05" }),
        ),
        (
            "setback",
            json!({ "what_happened": "I went quiet again", "how_hard": 4, "would_help": "reassurance" }),
        ),
        (
            "small_step",
            json!({ "step": "Phones away at dinner", "intimacy": "experiential" }),
        ),
    ];
    let mut ids = Vec::new();
    for (kind, body) in bodies.iter() {
        let entry = ana.create(kind, body.clone()).await;
        assert_eq!(entry["kind"], *kind);
        assert_eq!(entry["consent"], json!({ "partner": null, "therapist": null }));
        let id = entry["id"].as_str().unwrap().to_string();
        // Ana's own devices follow her drafts; Ben hears nothing yet.
        assert_eq!(ana_ws.next_event().await["entry"]["id"], id.as_str());
        ids.push(id);
    }
    for (id, (kind, body)) in ids.iter().zip(bodies.iter()) {
        let shared = ana.share(id, &["partner"]).await;
        assert!(shared["consent"]["partner"].is_string());
        let ev = ben_ws.next_event().await;
        assert_eq!(ev["event"], "entry");
        let entry = &ev["entry"];
        assert_eq!(
            (entry["id"].as_str(), entry["kind"].as_str()),
            (Some(id.as_str()), Some(*kind))
        );
        assert_eq!(entry["mine"], false);
        assert_eq!(entry["author"]["display_name"], "Ana");
        assert!(
            entry.get("consent").is_none(),
            "the partner does not see consent details"
        );
        for (field, value) in body.as_object().unwrap() {
            assert_eq!(&entry["body"][field], value, "{kind}.{field}");
        }
        assert_eq!(
            ana_ws.next_event().await["entry"]["consent"]["partner"],
            shared["consent"]["partner"]
        );
    }

    // Ben answers the request, the setback and the appreciation.
    let (request, setback, appreciation, step) = (&ids[2], &ids[3], &ids[1], &ids[4]);
    let r1 = ben
        .create("reply", json!({ "to": request, "choice": { "option": 1 } }))
        .await;
    let r2 = ben
        .create(
            "reply",
            json!({ "to": setback, "choice": { "support": "im_here_when_ready" }, "note": "No rush." }),
        )
        .await;
    let r3 = ben
        .create("reply", json!({ "to": appreciation, "note": "It mattered to me too" }))
        .await;
    for r in [&r1, &r2, &r3] {
        assert!(r["consent"]["partner"].is_string(), "a reply is shared as it is sent");
        let ev = ana_ws.next_event().await;
        assert_eq!(ev["entry"]["id"], r["id"]);
        assert_eq!(ev["entry"]["reply_to"], r["body"]["to"]);
    }
    assert_eq!(r1["body"]["choice"], json!({ "option": 1 }));
    // Ben's own devices follow his replies too.
    for r in [&r1, &r2, &r3] {
        assert_eq!(ben_ws.next_event().await["entry"]["id"], r["id"]);
    }

    // A small step, later marked.
    let (status, res) = ana
        .client
        .post(
            &format!("/api/entries/{step}/outcome"),
            json!({ "request_id": new_id(), "outcome": "was_hard" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let ev = ben_ws.next_event().await;
    assert_eq!(ev["entry"]["body"]["outcome"], "was_hard");

    // Both list everything they can see, newest first.
    let ben_ids = ben.listed_ids().await;
    assert_eq!(ben_ids.len(), 8);
    assert_eq!(ben_ids[0], r3["id"].as_str().unwrap());
    assert_eq!(ana.listed_ids().await.len(), 8);
}

async fn replies_answer_what_they_reply_to(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let request = ana
        .create("request", json!({ "about": "Sunday", "options": ["Brunch", "Hike"] }))
        .await;
    let request_id = request["id"].as_str().unwrap();
    let setback = ana
        .create("setback", json!({ "how_hard": 2, "would_help": "some_space" }))
        .await;
    let setback_id = setback["id"].as_str().unwrap();

    let reply = |to: &str, extra: Value| {
        let mut body = json!({ "to": to });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "request_id": new_id(), "kind": "reply", "body": body })
    };
    // Not shared yet: as unknown as a random id.
    let (s1, e1) = ben
        .client
        .post("/api/entries", reply(request_id, json!({ "choice": "none_of_these" })))
        .await;
    let (s2, e2) = ben
        .client
        .post("/api/entries", reply(&new_id(), json!({ "choice": "none_of_these" })))
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNPROCESSABLE_ENTITY, StatusCode::UNPROCESSABLE_ENTITY)
    );
    assert_eq!(e1, e2, "a draft and a missing entry give the same error");
    assert_eq!(e1["error"]["field"], "body.to");

    ana.share(request_id, &["partner"]).await;
    ana.share(setback_id, &["partner"]).await;
    let cases = [
        (request_id, json!({ "choice": { "option": 2 } }), "body.choice.option"),
        (request_id, json!({ "choice": { "option": -1 } }), "body.choice.option"),
        (request_id, json!({ "note": "hmm" }), "body.choice"),
        (
            request_id,
            json!({ "choice": { "support": "im_here_when_ready" } }),
            "body.choice",
        ),
        (setback_id, json!({ "choice": { "option": 0 } }), "body.choice"),
        (
            setback_id,
            json!({ "choice": { "support": "cheer_up" } }),
            "body.choice.support",
        ),
        (setback_id, json!({}), "body"),
    ];
    for (to, extra, field) in cases {
        let (status, body) = ben.client.post("/api/entries", reply(to, extra.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {body}");
        assert_eq!(body["error"]["field"], field, "{extra}: {body}");
    }
    // One's own entry is not answered with a reply.
    let (status, _) = ana
        .client
        .post("/api/entries", reply(request_id, json!({ "choice": "none_of_these" })))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = ben
        .client
        .post(
            "/api/entries",
            reply(
                request_id,
                json!({ "choice": "none_of_these", "note": "Let's talk tonight" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = ben
        .client
        .post(
            "/api/entries",
            reply(setback_id, json!({ "choice": { "support": "take_the_time_you_need" } })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(ben.listed_ids().await.len(), 4);
}
