//! Therapist access and the shared summary: both approvals, immediate revocation, no
//! reach beyond the grant, and only `therapist`-scoped entries in any figure or export.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{new_id, spawn_app, Backend, Partner, TestApp};

both_backends!(
    access_needs_both_approvals_and_revoking_is_immediate,
    summary_counts_only_what_was_shared_with_the_therapist,
    a_therapist_reaches_no_further_than_the_grant,
    every_view_is_logged_for_the_partners
);

async fn couple_id(p: &Partner) -> String {
    p.client.get("/api/me").await.1["couple"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Pairs two partners and gives them an active therapist.
async fn couple_with_therapist(app: &TestApp) -> (Partner, Partner, Partner, String) {
    let (ana, ben) = app.couple().await;
    let dr = app.signup("Dr Lee", "therapist").await;
    let (status, body) = ana
        .client
        .post("/api/couple/therapist", json!({ "email": dr.email }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = ben.client.post("/api/couple/therapist/approve", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = couple_id(&ana).await;
    (ana, ben, dr, id)
}

async fn access_needs_both_approvals_and_revoking_is_immediate(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let dr = app.signup("Dr Lee", "therapist").await;
    let id = couple_id(&ana).await;
    let mut dr_ws = dr.ws(None).await;

    // A proposal withdrawn before approval tells the therapist nothing.
    ana.client
        .post("/api/couple/therapist", json!({ "email": dr.email }))
        .await;
    assert_eq!(
        ana.client.post("/api/couple/therapist/revoke", json!({})).await.0,
        StatusCode::OK
    );
    dr_ws.expect_silence(Duration::from_millis(300)).await;

    // Unknown therapists, and partners, cannot be proposed.
    for email in ["nobody@example.org", ben.email.as_str()] {
        let (status, _) = ana
            .client
            .post("/api/couple/therapist", json!({ "email": email }))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, body) = ana
        .client
        .post("/api/couple/therapist", json!({ "email": dr.email }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let t = &body["couple"]["therapist"];
    assert_eq!(
        (
            t["status"].as_str(),
            t["approved_by_me"].as_bool(),
            t["approved_by_partner"].as_bool()
        ),
        (Some("proposed"), Some(true), Some(false))
    );
    // One approval is not enough.
    assert_eq!(
        dr.client.get(&format!("/api/summary/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(dr.client.get("/api/therapist/couples").await.1["couples"], json!([]));
    let (_, me) = ben.client.get("/api/me").await;
    assert_eq!(me["couple"]["therapist"]["approved_by_partner"], true);
    assert_eq!(me["couple"]["therapist"]["approved_by_me"], false);

    let (_, body) = ben.client.post("/api/couple/therapist/approve", json!({})).await;
    assert_eq!(body["couple"]["therapist"]["status"], "active");
    assert_eq!(dr_ws.next_event().await["event"], "summary");
    assert_eq!(dr.client.get(&format!("/api/summary/{id}")).await.0, StatusCode::OK);
    let (_, list) = dr.client.get("/api/therapist/couples").await;
    assert_eq!(list["couples"][0]["couple_id"], id.as_str());
    assert_eq!(list["couples"][0]["partners"], json!(["Ana", "Ben"]));

    // Either partner revokes, at once; an open page hears of it.
    let (status, body) = ben.client.post("/api/couple/therapist/revoke", json!({})).await;
    assert_eq!((status, &body["couple"]["therapist"]), (StatusCode::OK, &Value::Null));
    assert_eq!(dr_ws.next_event().await["event"], "summary");
    assert_eq!(
        dr.client.get(&format!("/api/summary/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        dr.client.get(&format!("/api/summary/{id}/export.csv")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(dr.client.get("/api/therapist/couples").await.1["couples"], json!([]));

    // Proposed again, it needs both approvals again; unpairing ends it too.
    ben.client
        .post("/api/couple/therapist", json!({ "email": dr.email }))
        .await;
    ana.client.post("/api/couple/therapist/approve", json!({})).await;
    assert_eq!(dr.client.get(&format!("/api/summary/{id}")).await.0, StatusCode::OK);
    ana.client.post("/api/couple/unpair", json!({})).await;
    assert_eq!(
        dr.client.get(&format!("/api/summary/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn create_shared(p: &Partner, kind: &str, body: Value, scopes: &[&str]) -> String {
    let id = p.create(kind, body).await["id"].as_str().unwrap().to_string();
    if !scopes.is_empty() {
        p.share(&id, scopes).await;
    }
    id
}

fn check_in(mood: i64, closeness: i64, emotions: &[&str], felt: &str, note: &str) -> Value {
    json!({ "mood": mood, "closeness": closeness, "emotions": emotions, "felt_appreciated": felt, "ready_to_talk": "later", "note": note })
}

async fn summary_counts_only_what_was_shared_with_the_therapist(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben, dr, id) = couple_with_therapist(&app).await;
    const LEAK: &str = "LEAKMARK";
    // Shared with the therapist: these count.
    let ana_ci = create_shared(
        &ana,
        "check_in",
        check_in(2, -2, &["anxious", "lonely"], "not_really", "counted"),
        &["therapist"],
    )
    .await;
    create_shared(
        &ben,
        "check_in",
        check_in(4, 2, &["crowded"], "yes", "counted"),
        &["partner", "therapist"],
    )
    .await;
    create_shared(
        &ben,
        "appreciation",
        json!({ "text": "counted", "shown_by": "help" }),
        &["therapist"],
    )
    .await;
    let request = create_shared(
        &ana,
        "request",
        json!({ "about": "counted", "options": ["Walk", "Talk"] }),
        &["partner", "therapist"],
    )
    .await;
    let answer = ben
        .create("reply", json!({ "to": request, "choice": { "option": 1 } }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ben.share(&answer, &["therapist"]).await;
    let setback = create_shared(
        &ana,
        "setback",
        json!({ "how_hard": 3, "would_help": "reassurance" }),
        &["partner", "therapist"],
    )
    .await;
    create_shared(
        &ben,
        "small_step",
        json!({ "step": "counted", "intimacy": "emotional" }),
        &["therapist"],
    )
    .await;
    // Not shared with the therapist: any leak would change a number below.
    create_shared(&ana, "check_in", check_in(5, 2, &["joyful"], "yes", LEAK), &["partner"]).await;
    create_shared(&ana, "check_in", check_in(1, 1, &["ashamed"], "yes", LEAK), &[]).await;
    let withdrawn = create_shared(&ana, "check_in", check_in(1, 1, &["sad"], "yes", LEAK), &["therapist"]).await;
    ana.withdraw(&withdrawn, &["therapist"]).await;
    create_shared(
        &ana,
        "appreciation",
        json!({ "text": LEAK, "shown_by": "gift" }),
        &["partner"],
    )
    .await;
    ben.create(
        "reply",
        json!({ "to": setback, "choice": { "support": "im_here_when_ready" }, "note": LEAK }),
    )
    .await;
    create_shared(&ana, "small_step", json!({ "step": LEAK, "intimacy": "physical" }), &[]).await;

    let (status, s) = dr.client.get(&format!("/api/summary/{id}?period=7d")).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert!(!s.to_string().contains(LEAK), "nothing unshared appears anywhere");
    assert_eq!(s["entries"].as_array().unwrap().len(), 7);
    let (a, b, c) = (&s["partners"][0]["figures"], &s["partners"][1]["figures"], &s["couple"]);
    assert_eq!(s["partners"][0]["display_name"], "Ana");
    assert_eq!(
        (a["check_ins"].as_i64(), a["mood"]["average"].as_f64()),
        (Some(1), Some(2.0))
    );
    assert_eq!(a["emotions"], json!({ "anxious": 1, "lonely": 1 }));
    assert_eq!(
        a["closeness"]["balance"],
        json!({ "more_closeness": 1, "just_right": 0, "more_space": 0 })
    );
    assert_eq!(a["appreciation"]["felt"]["not_really"], 1);
    assert_eq!(a["appreciation"]["given"], 0);
    assert_eq!(
        (
            b["appreciation"]["given"].as_i64(),
            b["appreciation"]["felt"]["yes"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        (c["check_ins"].as_i64(), c["mood"]["average"].as_f64()),
        (Some(2), Some(3.0))
    );
    assert_eq!(
        c["closeness"]["balance"],
        json!({ "more_closeness": 1, "just_right": 0, "more_space": 1 })
    );
    assert_eq!(
        c["requests"],
        json!({ "made": 1, "answered": 1, "option_chosen": 1, "lets_talk": 0 })
    );
    assert_eq!(
        (c["setbacks"]["shared"].as_i64(), c["setbacks"]["replied_to"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(c["small_steps"]["by_intimacy"]["emotional"], 1);
    assert_eq!(c["small_steps"]["by_intimacy"]["physical"], 0);
    assert_eq!(s["requests"][0]["replies"][0]["choice"], "Talk");
    for chart in ["mood", "closeness", "emotions", "appreciation", "small_steps"] {
        let svg = s["charts"][chart].as_str().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<title"), "{chart}");
    }
    // The mood chart plots exactly the two shared check-ins.
    assert_eq!(s["charts"]["mood"].as_str().unwrap().matches("<circle").count(), 2);

    // Exports carry the same filter.
    let (status, csv) = dr.client.get(&format!("/api/summary/{id}/export.csv?period=7d")).await;
    assert_eq!(status, StatusCode::OK);
    let csv = csv.as_str().unwrap().to_string();
    assert!(!csv.contains(LEAK));
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");
    let (_, export) = dr.client.get(&format!("/api/summary/{id}/export.json?period=7d")).await;
    assert!(!export.to_string().contains(LEAK));
    assert_eq!(export["couple"], s["couple"]);

    // Partners open the very same summary.
    let (_, for_ana) = ana.client.get(&format!("/api/summary/{id}?period=7d")).await;
    for key in ["partners", "couple", "entries", "charts", "requests", "setbacks"] {
        assert_eq!(for_ana[key], s[key], "{key}");
    }

    // A withdrawal drops out at once.
    ana.withdraw(&ana_ci, &["therapist"]).await;
    let (_, s) = dr.client.get(&format!("/api/summary/{id}?period=7d")).await;
    assert_eq!(s["partners"][0]["figures"]["check_ins"], 0);
    assert_eq!(s["couple"]["mood"]["average"], 4.0);

    // Periods: a custom one with nothing in it; bad ones are refused.
    let (_, empty) = dr
        .client
        .get(&format!(
            "/api/summary/{id}?period=custom&from=2020-01-01&to=2020-01-31"
        ))
        .await;
    assert_eq!(empty["entries"], json!([]));
    for q in [
        "period=forever",
        "period=custom&from=2020-01-01",
        "period=custom&from=2020-02-01&to=2020-01-01",
    ] {
        assert_eq!(
            dr.client.get(&format!("/api/summary/{id}?{q}")).await.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{q}"
        );
    }
    // An exact time bound keeps a page's period as it first loaded.
    let (status, exact) = dr
        .client
        .get(&format!(
            "/api/summary/{id}?period=custom&from=2020-01-01T00:00:00Z&to=2099-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{exact}");
    assert_eq!(exact["couple"]["check_ins"], 1);
    // Since the last view: only what came after it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    create_shared(
        &ben,
        "check_in",
        check_in(3, 0, &["calm"], "somewhat", "new"),
        &["therapist"],
    )
    .await;
    let (_, since) = dr
        .client
        .get(&format!("/api/summary/{id}?period=since_last_view"))
        .await;
    assert_eq!(since["couple"]["check_ins"], 1, "{}", since["period"]);
}

async fn a_therapist_reaches_no_further_than_the_grant(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, _ben, dr, id_a) = couple_with_therapist(&app).await;
    let (cat, _dan) = app.couple().await;
    let id_b = couple_id(&cat).await;
    let entry = create_shared(
        &cat,
        "check_in",
        check_in(3, 0, &[], "yes", "couple B"),
        &["partner", "therapist"],
    )
    .await;
    let shared_a = create_shared(
        &ana,
        "check_in",
        check_in(3, 0, &[], "yes", "couple A"),
        &["partner", "therapist"],
    )
    .await;

    let unknown = new_id();
    for path in ["", "/export.csv", "/export.json", "/views"] {
        let b = dr.client.get(&format!("/api/summary/{id_b}{path}")).await;
        let u = dr.client.get(&format!("/api/summary/{unknown}{path}")).await;
        assert_eq!((b.0, &b.1), (StatusCode::NOT_FOUND, &u.1), "{path}");
        // Couple B's partners cannot read couple A's summary either.
        assert_eq!(
            cat.client.get(&format!("/api/summary/{id_a}{path}")).await.0,
            StatusCode::NOT_FOUND
        );
    }
    // Read-only, and nothing of the partners' accounts beyond the summary.
    for id in [&entry, &shared_a] {
        assert_eq!(
            dr.client.get(&format!("/api/entries/{id}")).await.0,
            StatusCode::NOT_FOUND
        );
        let (status, _) = dr
            .client
            .post(
                &format!("/api/entries/{id}/share"),
                json!({ "request_id": "x", "scopes": ["therapist"] }),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert!(dr.listed_ids().await.is_empty());
    let (status, _) = dr.client.post("/api/couple/therapist/revoke", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = dr
        .client
        .post(
            "/api/entries",
            json!({ "request_id": "x", "kind": "check_in", "body": check_in(3, 0, &[], "yes", "x") }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn every_view_is_logged_for_the_partners(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben, dr, id) = couple_with_therapist(&app).await;
    // Partners reading their own summary are not logged; the therapist's readings are.
    ana.client.get(&format!("/api/summary/{id}")).await;
    dr.client.get(&format!("/api/summary/{id}")).await;
    dr.client.get(&format!("/api/summary/{id}?period=90d")).await;
    dr.client.get(&format!("/api/summary/{id}/export.csv")).await;
    let (status, log) = ben.client.get(&format!("/api/summary/{id}/views")).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = log["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["exported_csv", "viewed", "viewed"]);
    assert_eq!(log["views"][0]["viewer"], "Dr Lee");
    assert_eq!(ana.client.get(&format!("/api/summary/{id}/views")).await.1, log);
    assert_eq!(
        dr.client.get(&format!("/api/summary/{id}/views")).await.0,
        StatusCode::FORBIDDEN
    );
}
