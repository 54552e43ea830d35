//! Therapist access and the shared summary: both approvals, immediate revocation, no
//! reach beyond the grant, and only `therapist`-scoped entries in any figure or export.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{new_id, spawn_app, Backend, Partner};

both_backends!(
    access_needs_both_approvals_and_revoking_is_immediate,
    summary_counts_only_what_was_shared_with_the_therapist,
    a_therapist_reaches_no_further_than_the_grant,
    every_view_is_logged_for_the_partners,
    a_partner_never_sees_in_the_summary_what_the_other_shared_with_the_therapist_alone,
    a_summary_period_counts_an_entry_from_when_it_was_shared_with_the_therapist,
    the_couples_list_dates_the_last_share_the_summary_counts,
    a_custom_period_of_one_day_covers_that_whole_day,
    a_former_partner_still_reads_the_therapists_view_log,
    a_therapist_lists_no_entries_and_hears_of_an_unpairing
);

async fn access_needs_both_approvals_and_revoking_is_immediate(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let dr = app.signup("Dr Lee", "therapist").await;
    let id = ana.couple_id().await;
    // Dr Lee's page is open all along. The therapist writes nothing, so no marker of
    // theirs can close a check for silence; their stream's positions can: the approval
    // below must be the first thing it ever numbers (`head + 1`), with nothing before.
    let (status, events) = dr.client.get("/api/events").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let head = events["head"].as_i64().unwrap();
    let mut dr_ws = dr.ws(None).await;
    // What the therapist gets for a couple they may not read: the answer for a couple
    // that does not exist, body and all.
    let unknown_couple = dr.client.get(&format!("/api/summary/{}", new_id())).await;
    assert_eq!(unknown_couple.0, StatusCode::NOT_FOUND);
    let no_access = || async { dr.client.get(&format!("/api/summary/{id}")).await };

    // A proposal withdrawn before approval tells the therapist nothing.
    let (status, body) = ana
        .client
        .post("/api/couple/therapist", json!({ "email": dr.email }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        ana.client.post("/api/couple/therapist/revoke", json!({})).await.0,
        StatusCode::OK
    );

    // Unknown therapists, and partners, cannot be proposed: the same answer for both,
    // so a proposal does not tell whether an address has an account.
    let (status, unknown) = ana
        .client
        .post("/api/couple/therapist", json!({ "email": "nobody@example.org" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    let (status, partner) = ana
        .client
        .post("/api/couple/therapist", json!({ "email": ben.email }))
        .await;
    assert_eq!((status, &partner), (StatusCode::NOT_FOUND, &unknown));
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
    assert_eq!(no_access().await, unknown_couple);
    assert_eq!(dr.client.get("/api/therapist/couples").await.1["couples"], json!([]));
    let (status, me) = ben.client.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["couple"]["therapist"]["approved_by_partner"], true);
    assert_eq!(me["couple"]["therapist"]["approved_by_me"], false);

    let (status, body) = ben.client.post("/api/couple/therapist/approve", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["couple"]["therapist"]["status"], "active");
    // The first event the open page gets is the approval's, at the first position:
    // nothing of the withdrawn or half-approved proposals reached it before.
    let ev = dr_ws.next_event().await;
    assert_eq!(
        (ev["event"].as_str(), ev["couple_id"].as_str(), ev["seq"].as_i64()),
        (Some("summary"), Some(id.as_str()), Some(head + 1)),
        "{ev}"
    );
    let (status, events) = dr.client.get(&format!("/api/events?since={head}")).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events["events"], json!([ev]), "one position, the approval's");
    assert_eq!(dr.client.get(&format!("/api/summary/{id}")).await.0, StatusCode::OK);
    let (status, list) = dr.client.get("/api/therapist/couples").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["couples"][0]["couple_id"], id.as_str());
    assert_eq!(list["couples"][0]["partners"], json!(["Ana", "Ben"]));

    // Either partner revokes, at once; an open page hears of it.
    let (status, body) = ben.client.post("/api/couple/therapist/revoke", json!({})).await;
    assert_eq!((status, &body["couple"]["therapist"]), (StatusCode::OK, &Value::Null));
    assert_eq!(dr_ws.next_event().await["event"], "summary");
    assert_eq!(no_access().await, unknown_couple);
    assert_eq!(
        dr.client.get(&format!("/api/summary/{id}/export.csv")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(dr.client.get("/api/therapist/couples").await.1["couples"], json!([]));

    // Proposed again, it needs both approvals again; unpairing ends it too.
    let (status, body) = ben
        .client
        .post("/api/couple/therapist", json!({ "email": dr.email }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(no_access().await, unknown_couple);
    let (status, body) = ana.client.post("/api/couple/therapist/approve", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(dr.client.get(&format!("/api/summary/{id}")).await.0, StatusCode::OK);
    let (status, body) = ana.client.post("/api/couple/unpair", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(no_access().await, unknown_couple);
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
    let (ana, ben, dr, id) = app.couple_with_therapist().await;
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
    let ben_thanks = create_shared(
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
    let ben_step = create_shared(
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
    let (status, export) = dr.client.get(&format!("/api/summary/{id}/export.json?period=7d")).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert!(!export.to_string().contains(LEAK));
    assert_eq!(export["couple"], s["couple"]);

    // Each partner opens the therapist's summary minus what the other shared with the
    // therapist alone (Ana's first check-in; Ben's appreciation and small step).
    let without =
        |ids: &[&String]| -> Vec<String> { entry_ids(&s).into_iter().filter(|e| !ids.contains(&e)).collect() };
    let (status, for_ana) = ana.client.get(&format!("/api/summary/{id}?period=7d")).await;
    assert_eq!(status, StatusCode::OK, "{for_ana}");
    let (status, for_ben) = ben.client.get(&format!("/api/summary/{id}?period=7d")).await;
    assert_eq!(status, StatusCode::OK, "{for_ben}");
    assert_eq!(entry_ids(&for_ana), without(&[&ben_thanks, &ben_step]));
    assert_eq!(entry_ids(&for_ben), without(&[&ana_ci]));
    for key in ["requests", "setbacks"] {
        assert_eq!((&for_ana[key], &for_ben[key]), (&s[key], &s[key]), "{key}");
    }
    // Their own figures are the therapist's; the other's, without what they may not see.
    assert_eq!(for_ana["partners"][0], s["partners"][0]);
    assert_eq!(for_ben["partners"][1], s["partners"][1]);
    assert_eq!(
        for_ana["partners"][1]["figures"]["entries"], 2,
        "Ben's check-in and answer"
    );
    assert_eq!(for_ben["partners"][0]["figures"]["check_ins"], 0);
    assert_eq!(
        for_ben["charts"]["mood"].as_str().unwrap().matches("<circle").count(),
        1
    );

    // A withdrawal drops out at once.
    ana.withdraw(&ana_ci, &["therapist"]).await;
    let (status, s) = dr.client.get(&format!("/api/summary/{id}?period=7d")).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["partners"][0]["figures"]["check_ins"], 0);
    assert_eq!(s["couple"]["mood"]["average"], 4.0);

    // Periods: a custom one with nothing in it; bad ones are refused.
    let (status, empty) = dr
        .client
        .get(&format!(
            "/api/summary/{id}?period=custom&from=2020-01-01&to=2020-01-31"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{empty}");
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
    let (status, since) = dr
        .client
        .get(&format!("/api/summary/{id}?period=since_last_view"))
        .await;
    assert_eq!(status, StatusCode::OK, "{since}");
    assert_eq!(since["couple"]["check_ins"], 1, "{}", since["period"]);
}

async fn a_therapist_reaches_no_further_than_the_grant(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, _ben, dr, id_a) = app.couple_with_therapist().await;
    let (cat, _dan) = app.couple().await;
    let id_b = cat.couple_id().await;
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
        let a = cat.client.get(&format!("/api/summary/{id_a}{path}")).await;
        let u = cat.client.get(&format!("/api/summary/{unknown}{path}")).await;
        assert_eq!((a.0, &a.1), (StatusCode::NOT_FOUND, &u.1), "{path}");
    }
    // Read-only, and nothing of the partners' accounts beyond the summary.
    let unknown_entry = dr.client.get(&format!("/api/entries/{}", new_id())).await;
    assert_eq!(unknown_entry.0, StatusCode::NOT_FOUND);
    for id in [&entry, &shared_a] {
        assert_eq!(dr.client.get(&format!("/api/entries/{id}")).await, unknown_entry);
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
    let (ana, ben, dr, id) = app.couple_with_therapist().await;
    // Partners reading their own summary are not logged; the therapist's readings are.
    for (p, path) in [
        (&ana, format!("/api/summary/{id}")),
        (&dr, format!("/api/summary/{id}")),
        (&dr, format!("/api/summary/{id}?period=90d")),
        (&dr, format!("/api/summary/{id}/export.csv")),
    ] {
        let (status, body) = p.client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, log) = ben.client.get(&format!("/api/summary/{id}/views")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
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

/// A summary period fixed by exact times, so two readings of it can be compared byte for byte.
const ALL_TIME: &str = "period=custom&from=2020-01-01T00:00:00Z&to=2099-01-01T00:00:00Z";

/// What `p` receives of the summary over `ALL_TIME`: the JSON (without `generated_at`),
/// the CSV export and the JSON export (without `generated_at`).
async fn summary_of(p: &Partner, id: &str) -> (Value, String, Value) {
    let (status, mut s) = p.client.get(&format!("/api/summary/{id}?{ALL_TIME}")).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    s.as_object_mut().unwrap().remove("generated_at");
    let (status, csv) = p.client.get(&format!("/api/summary/{id}/export.csv?{ALL_TIME}")).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let (status, mut export) = p.client.get(&format!("/api/summary/{id}/export.json?{ALL_TIME}")).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    export.as_object_mut().unwrap().remove("generated_at");
    (s, csv.as_str().unwrap().to_string(), export)
}

fn entry_ids(summary: &Value) -> Vec<String> {
    summary["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

async fn reply(p: &Partner, to: &str, body: Value) -> String {
    let mut body = body;
    body["to"] = json!(to);
    p.create("reply", body).await["id"].as_str().unwrap().to_string()
}

async fn a_partner_never_sees_in_the_summary_what_the_other_shared_with_the_therapist_alone(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben, dr, id) = app.couple_with_therapist().await;
    const HIDDEN: &str = "HIDDENMARK";
    // What Ben may see in the summary: his own entries shared with the therapist, and
    // Ana's shared with both him and the therapist.
    let ben_request = create_shared(
        &ben,
        "request",
        json!({ "about": "Sunday", "options": ["Walk", "Talk"] }),
        &["partner", "therapist"],
    )
    .await;
    let ben_setback = create_shared(
        &ben,
        "setback",
        json!({ "how_hard": 2, "would_help": "some_space" }),
        &["partner", "therapist"],
    )
    .await;
    let ben_ci = create_shared(
        &ben,
        "check_in",
        check_in(3, 0, &["calm"], "yes", "Ben's own"),
        &["therapist"],
    )
    .await;
    create_shared(
        &ana,
        "check_in",
        check_in(4, 1, &["hopeful"], "yes", "shared with both"),
        &["partner", "therapist"],
    )
    .await;
    let before = summary_of(&ben, &id).await;

    // Everything Ana does now leaves Ben's summary exactly as it was: entries she shares
    // with the therapist alone,
    let mut hidden = Vec::new();
    hidden.push(
        create_shared(
            &ana,
            "check_in",
            check_in(1, -2, &["ashamed"], "not_really", HIDDEN),
            &["therapist"],
        )
        .await,
    );
    hidden.push(
        create_shared(
            &ana,
            "setback",
            json!({ "what_happened": HIDDEN, "how_hard": 5, "would_help": "reassurance" }),
            &["therapist"],
        )
        .await,
    );
    hidden.push(
        create_shared(
            &ana,
            "appreciation",
            json!({ "text": HIDDEN, "shown_by": "gift" }),
            &["therapist"],
        )
        .await,
    );
    hidden.push(
        create_shared(
            &ana,
            "small_step",
            json!({ "step": HIDDEN, "intimacy": "physical" }),
            &["therapist"],
        )
        .await,
    );
    // her answers to Ben's request and setback, kept for the therapist alone,
    for (to, body) in [
        (&ben_request, json!({ "choice": { "option": 1 }, "note": HIDDEN })),
        (
            &ben_setback,
            json!({ "choice": { "support": "im_here_when_ready" }, "note": HIDDEN }),
        ),
    ] {
        let r = reply(&ana, to, body).await;
        ana.share(&r, &["therapist"]).await;
        ana.withdraw(&r, &["partner"]).await;
        hidden.push(r);
    }
    // and a request Ben answered before she kept it for the therapist alone.
    let request = create_shared(
        &ana,
        "request",
        json!({ "about": HIDDEN, "options": ["Cook", "Rest"] }),
        &["partner", "therapist"],
    )
    .await;
    let ben_answer = reply(
        &ben,
        &request,
        json!({ "choice": "none_of_these", "note": "let's talk" }),
    )
    .await;
    ben.share(&ben_answer, &["therapist"]).await;
    ana.withdraw(&request, &["partner"]).await;
    hidden.push(request.clone());

    let after = summary_of(&ben, &id).await;
    assert!(
        !after.0.to_string().contains(HIDDEN),
        "Ben's summary shows what Ana kept for the therapist"
    );
    assert_eq!(after.0, before.0, "Ben's summary changed");
    assert_eq!(after.1, before.1, "Ben's CSV export changed");
    assert_eq!(after.2, before.2, "Ben's JSON export changed");
    // The same holds for the default period, counted from now.
    let (status, ben_30d) = ben.client.get(&format!("/api/summary/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{ben_30d}");
    assert_eq!(ben_30d["couple"]["entries"], before.0["couple"]["entries"]);
    assert_eq!(ben_30d["couple"]["requests"]["answered"], 0);
    assert_eq!(ben_30d["couple"]["setbacks"]["replied_to"], 0);

    // The therapist counts all of it, Ben's answer to Ana's request included; Ana sees
    // her own entries (and the answers to them) and Ben's shared with both.
    let (dr_s, _, _) = summary_of(&dr, &id).await;
    let (ana_s, _, _) = summary_of(&ana, &id).await;
    let (dr_ids, ana_ids, ben_ids) = (entry_ids(&dr_s), entry_ids(&ana_s), entry_ids(&after.0));
    assert_eq!(dr_ids.len(), 4 + hidden.len() + 1, "{dr_s}");
    for h in hidden.iter().chain([&ben_answer]) {
        assert!(dr_ids.contains(h) && ana_ids.contains(h), "{h}");
        assert!(!ben_ids.contains(h), "{h}");
    }
    // Ana sees everything the therapist does but Ben's check-in, kept for the therapist.
    assert!(dr_ids.contains(&ben_ci) && !ana_ids.contains(&ben_ci));
    assert_eq!(
        ana_ids,
        dr_ids.iter().filter(|e| **e != ben_ci).cloned().collect::<Vec<_>>()
    );
    assert_eq!(dr_s["couple"]["requests"]["answered"], 2);
    assert_eq!(dr_s["couple"]["setbacks"]["replied_to"], 1);

    // Once Ana shares them with Ben too, they count for him as for the therapist.
    for h in &hidden {
        ana.share(h, &["partner"]).await;
    }
    let (ben_now, _, _) = summary_of(&ben, &id).await;
    assert_eq!(entry_ids(&ben_now), dr_ids);
}

async fn a_summary_period_counts_an_entry_from_when_it_was_shared_with_the_therapist(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, _ben, dr, id) = app.couple_with_therapist().await;
    // Both written before the therapist's view; only the second is shared after it.
    create_shared(
        &ana,
        "check_in",
        check_in(2, 0, &["calm"], "yes", "seen"),
        &["therapist"],
    )
    .await;
    let late = create_shared(
        &ana,
        "check_in",
        check_in(4, 1, &["hopeful"], "yes", "late"),
        &["partner"],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, _) = dr.client.get(&format!("/api/summary/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let shared = ana.share(&late, &["therapist"]).await;

    let (status, since) = dr
        .client
        .get(&format!("/api/summary/{id}?period=since_last_view"))
        .await;
    assert_eq!(status, StatusCode::OK, "{since}");
    assert_eq!(entry_ids(&since), std::slice::from_ref(&late), "{}", since["period"]);
    assert_eq!(since["entries"][0]["shared_at"], shared["consent"]["therapist"]);
    // Its point keeps the time it was written, and is drawn.
    assert_eq!(since["couple"]["mood"]["points"][0]["at"], shared["created_at"]);
    assert_eq!(since["charts"]["mood"].as_str().unwrap().matches("<circle").count(), 1);
    // An exact period ending just before the share leaves it out.
    let (status, until_share) = dr
        .client
        .get(&format!(
            "/api/summary/{id}?period=custom&from=2020-01-01T00:00:00Z&to={}",
            shared["consent"]["therapist"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{until_share}");
    assert_eq!(until_share["couple"]["check_ins"], 1, "{until_share}");
    assert!(!entry_ids(&until_share).contains(&late));
}

async fn the_couples_list_dates_the_last_share_the_summary_counts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben, dr, id) = app.couple_with_therapist().await;
    let last_shared = || async {
        let (status, list) = dr.client.get("/api/therapist/couples").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["couples"][0]["couple_id"], id.as_str());
        list["couples"][0]["last_shared_at"].clone()
    };
    assert_eq!(last_shared().await, Value::Null);
    let ci = create_shared(&ana, "check_in", check_in(3, 0, &[], "yes", "counted"), &["therapist"]).await;
    let (status, ci) = ana.client.get(&format!("/api/entries/{ci}")).await;
    assert_eq!(status, StatusCode::OK, "{ci}");
    let ci = ci["entry"].clone();
    let request = create_shared(
        &ana,
        "request",
        json!({ "about": "Sunday", "options": ["Walk", "Talk"] }),
        &["partner"],
    )
    .await;
    // Ben's answer shared with the therapist: the summary leaves it out (its request is
    // not shared with the therapist), so it is not news for the therapist either.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let answer = reply(&ben, &request, json!({ "choice": { "option": 0 } })).await;
    ben.share(&answer, &["therapist"]).await;
    assert_eq!(last_shared().await, ci["consent"]["therapist"]);
    let (s, _, _) = summary_of(&dr, &id).await;
    assert_eq!(entry_ids(&s), [ci["id"].as_str().unwrap().to_string()]);

    // Once the request is shared with the therapist, both count, and the latest share is it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let shared = ana.share(&request, &["therapist"]).await;
    assert_eq!(last_shared().await, shared["consent"]["therapist"]);
    let (s, _, _) = summary_of(&dr, &id).await;
    assert_eq!(s["entries"].as_array().unwrap().len(), 3);
    let latest = s["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["shared_at"].as_str())
        .max()
        .unwrap();
    assert_eq!(last_shared().await, latest);
}

async fn a_custom_period_of_one_day_covers_that_whole_day(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (_ana, _ben, dr, id) = app.couple_with_therapist().await;
    let (status, day) = dr
        .client
        .get(&format!(
            "/api/summary/{id}?period=custom&from=2026-11-01&to=2026-11-01"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{day}");
    assert_eq!(
        day["period"],
        json!({ "from": "2026-11-01T00:00:00.000Z", "to": "2026-11-02T00:00:00.000Z", "label": "2026-11-01 to 2026-11-01" })
    );
    // A date `to` covers its whole day, even after an exact `from` on it.
    let (status, rest) = dr
        .client
        .get(&format!(
            "/api/summary/{id}?period=custom&from=2026-11-01T10:00:00Z&to=2026-11-01"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(rest["period"]["to"], "2026-11-02T00:00:00.000Z");
    // An exact `to` is excluded: the same exact time at both ends would be an empty period.
    for (q, message) in [
        (
            "from=2026-11-01T10:00:00Z&to=2026-11-01T10:00:00Z",
            "must be after from",
        ),
        (
            "from=2026-11-01T10:00:00Z&to=2026-11-01T09:00:00Z",
            "must be after from",
        ),
        ("from=2026-11-02&to=2026-11-01", "must not be before from"),
    ] {
        let (status, body) = dr.client.get(&format!("/api/summary/{id}?period=custom&{q}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert_eq!(
            (&body["error"]["field"], &body["error"]["message"]),
            (&json!("to"), &json!(message)),
            "{q}"
        );
    }
}

async fn a_former_partner_still_reads_the_therapists_view_log(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    // After unpairing.
    let (ana, ben, dr, id) = app.couple_with_therapist().await;
    for path in ["", "/export.csv"] {
        let (status, body) = dr.client.get(&format!("/api/summary/{id}{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, log) = ben.client.get(&format!("/api/summary/{id}/views")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log["views"].as_array().unwrap().len(), 2, "{log}");
    let (status, body) = ana.client.post("/api/couple/unpair", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for p in [&ana, &ben] {
        assert_eq!(
            p.client.get(&format!("/api/summary/{id}/views")).await,
            (StatusCode::OK, log.clone())
        );
        assert_eq!(
            p.client.get(&format!("/api/summary/{id}")).await.0,
            StatusCode::NOT_FOUND
        );
    }
    // The therapist, and anyone else, still gets the 404 of an unknown couple.
    let unknown = dr.client.get(&format!("/api/summary/{}/views", new_id())).await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    assert_eq!(dr.client.get(&format!("/api/summary/{id}/views")).await, unknown);
    let stranger = app.partner("Eve").await;
    let unknown = stranger.client.get(&format!("/api/summary/{}/views", new_id())).await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    assert_eq!(stranger.client.get(&format!("/api/summary/{id}/views")).await, unknown);

    // After the other partner deletes their account.
    let (cat, dan, dr2, id2) = app.couple_with_therapist().await;
    let (status, body) = dr2.client.get(&format!("/api/summary/{id2}?period=7d")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = cat.client.delete("/api/me", json!({ "password": cat.password })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, log) = dan.client.get(&format!("/api/summary/{id2}/views")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let actions: Vec<&str> = log["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["viewed"]);
    assert_eq!(log["views"][0]["viewer"], "Dr Lee");
    assert_eq!(
        dan.client.get(&format!("/api/summary/{id2}")).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn a_therapist_lists_no_entries_and_hears_of_an_unpairing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, _ben, dr, id) = app.couple_with_therapist().await;
    create_shared(
        &ana,
        "check_in",
        check_in(3, 0, &[], "yes", "shared"),
        &["partner", "therapist"],
    )
    .await;
    let (status, list) = dr.client.get("/api/entries").await;
    assert_eq!(
        (status, list),
        (
            StatusCode::OK,
            json!({ "entries": [], "next_before": null, "next_before_id": null })
        )
    );
    let (status, events) = dr.client.get("/api/events").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let events = events["events"].as_array().unwrap();
    assert!(!events.is_empty());
    for e in events {
        assert_eq!((&e["event"], &e["couple_id"]), (&json!("summary"), &json!(id)), "{e}");
    }
    let mut ws = dr.ws(None).await;
    let (status, body) = ana.client.post("/api/couple/unpair", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ev = ws.next_event().await;
    assert_eq!(
        (&ev["event"], &ev["couple_id"]),
        (&json!("summary"), &json!(id)),
        "{ev}"
    );
}
