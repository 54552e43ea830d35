use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{check_in, spawn_app, spawn_app_with, Backend};

both_backends!(
    pair_with_a_code_and_a_third_is_refused,
    invite_codes_expire,
    unpairing_keeps_only_what_was_shared,
    therapists_do_not_pair
);

async fn pair_with_a_code_and_a_third_is_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    let ben = app.partner("Ben").await;
    let cal = app.partner("Cal").await;
    // Ana's other device is open the whole time: it hears of each change live.
    let mut ana_phone = ana.ws(None).await;

    let (status, first) = ana.client.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let waiting = ana_phone.next_event().await;
    assert_eq!(
        (waiting["event"].as_str(), waiting["couple"]["status"].as_str()),
        (Some("couple"), Some("waiting")),
        "{waiting}"
    );
    // Asking again while waiting gives a new code and retires the old one.
    let (status, second) = ana.client.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(first["couple"]["id"], second["couple"]["id"]);
    let old = first["invite"]["code"].as_str().unwrap();
    let code = second["invite"]["code"].as_str().unwrap();
    assert_ne!(old, code);
    assert!(second["invite"]["link"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/join#{code}")));
    // A retired code answers like one that never existed.
    let never = ben
        .client
        .post("/api/couple/join", json!({ "code": "ZZZZ-ZZZZ" }))
        .await;
    assert_eq!(never.0, StatusCode::NOT_FOUND, "{}", never.1);
    assert_eq!(ben.client.post("/api/couple/join", json!({ "code": old })).await, never);

    // Own code, then a typed code with slips (lower case, no dash) works once.
    let (status, body) = ana.client.post("/api/couple/join", json!({ "code": code })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("own_invite"))
    );
    let typed = code.to_lowercase().replace('-', " ");
    let (status, body) = ben.client.post("/api/couple/join", json!({ "code": typed })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["couple"]["status"], "paired");
    assert_eq!(body["couple"]["partner"]["display_name"], "Ana");
    // The second request for a code told the phone too; then the join. (A couple event
    // shows the couple as it is when the socket sends it: the first may already show the
    // join, if the phone's socket got to it late.)
    let again = ana_phone.next_event().await;
    assert_eq!(again["event"], "couple", "{again}");
    assert!(
        matches!(again["couple"]["status"].as_str(), Some("waiting" | "paired")),
        "{again}"
    );
    let paired = ana_phone.next_event().await;
    assert_eq!(
        (paired["event"].as_str(), paired["couple"]["status"].as_str()),
        (Some("couple"), Some("paired")),
        "{paired}"
    );
    assert_eq!(paired["couple"]["partner"]["display_name"], "Ben", "{paired}");

    let (status, body) = cal.client.post("/api/couple/join", json!({ "code": code })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "couple_full", "{body}");
    let (status, body) = cal
        .client
        .post("/api/couple/join", json!({ "code": "ZZZZ-ZZZZ" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = cal
        .client
        .post("/api/couple/join", json!({ "code": "not-a-valid-code" }))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code"))
    );

    let (status, me) = ana.client.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["couple"]["partner"]["display_name"], "Ben");
    let (status, body) = ana.client.post("/api/couple", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_paired"))
    );
}

async fn invite_codes_expire(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &["--invite-minutes", "0"]).await else {
        return;
    };
    let ana = app.partner("Ana").await;
    let ben = app.partner("Ben").await;
    let (status, body) = ana.client.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = body["invite"]["code"].as_str().unwrap();
    let (status, body) = ben.client.post("/api/couple/join", json!({ "code": code })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Expired answers like never issued.
    let never = ben
        .client
        .post("/api/couple/join", json!({ "code": "ZZZZ-ZZZZ" }))
        .await;
    assert_eq!((status, body), never);
}

async fn unpairing_keeps_only_what_was_shared(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let shared = ana.create("check_in", check_in(4)).await;
    let shared_id = shared["id"].as_str().unwrap();
    ana.share(shared_id, &["partner"]).await;
    let draft = ana.create("check_in", check_in(2)).await;
    let draft_id = draft["id"].as_str().unwrap();
    let bens = ben
        .create("appreciation", json!({ "text": "the soup", "shown_by": "help" }))
        .await;

    let mut ben_ws = ben.ws(None).await;
    let (status, body) = ana.client.post("/api/couple/unpair", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ev = ben_ws.next_event().await;
    assert_eq!(
        (ev["event"].as_str(), &ev["couple"]),
        (Some("couple"), &serde_json::Value::Null)
    );

    // Nothing new crosses over: sharing now is refused, the draft stays Ana's.
    let (status, body) = ana
        .client
        .post(
            &format!("/api/entries/{draft_id}/share"),
            json!({ "request_id": "s1", "scopes": ["partner"] }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_paired"))
    );
    assert_eq!(
        ben.listed_ids().await,
        vec![bens["id"].as_str().unwrap().to_string(), shared_id.to_string()]
    );
    assert!(ana.listed_ids().await.contains(&draft_id.to_string()));
    ben_ws.expect_nothing_before_marker().await;

    // What was shared stays Ana's to withdraw, and leaves Ben's view live.
    ana.withdraw(shared_id, &["partner"]).await;
    let ev = ben_ws.next_event().await;
    assert_eq!(
        (ev["event"].as_str(), ev["entry_id"].as_str()),
        (Some("entry_removed"), Some(shared_id))
    );
    assert_eq!(ben.listed_ids().await, vec![bens["id"].as_str().unwrap().to_string()]);

    // Each can pair again, with someone new.
    let (status, _) = ben.client.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn therapists_do_not_pair(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let therapist = app.signup("Dr Lee", "therapist").await;
    let (status, _) = therapist.client.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = therapist
        .client
        .post(
            "/api/entries",
            json!({ "request_id": "x", "kind": "check_in", "body": check_in(3) }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
