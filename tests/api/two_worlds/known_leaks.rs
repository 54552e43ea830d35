//! Five leaks the two-worlds test found, each pinned down in plain words.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::normalize;
use crate::both_backends;
use crate::helpers::{check_in, spawn_app, Backend, Partner, Ws};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

both_backends!(
    a_partners_summary_leaves_out_the_other_partners_therapist_only_entries,
    cursors_do_not_count_what_was_shared_and_withdrawn_while_the_partner_was_away,
    sharing_again_while_the_partner_is_away_is_not_announced_again,
    the_therapists_stream_tells_nothing_the_summary_hides,
    the_order_of_a_catch_up_says_nothing_of_a_share_withdrawn_while_away
);

/// A check-in written and shared with `scopes`; its id.
async fn shared_check_in(p: &Partner, mood: i64, scopes: &[&str]) -> String {
    let id = p.create("check_in", check_in(mood)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    p.share(&id, scopes).await;
    id
}

/// The head of `p`'s stream now.
async fn head(p: &Partner) -> i64 {
    p.client.get("/api/events").await.1["head"].as_i64().unwrap()
}

/// The couple's summary as `p` sees it, with its two exports, ids and times renamed; and
/// how many entries it lists.
async fn summary_as_seen_by(p: &Partner, couple: &str) -> (Vec<String>, usize) {
    let (mut lines, mut listed) = (Vec::new(), 0);
    for route in ["", "/export.json", "/export.csv"] {
        let (status, body) = p.client.get(&format!("/api/summary/{couple}{route}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if route.is_empty() {
            listed = body["entries"].as_array().map_or(0, Vec::len);
        }
        lines.push(format!("summary{route}: {body}"));
    }
    (normalize::transcript(&lines), listed)
}

async fn a_partners_summary_leaves_out_the_other_partners_therapist_only_entries(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben, _dr, couple) = app.couple_with_therapist().await;
    // What both partners shared with both scopes, and Ben's own, are in Ben's summary.
    shared_check_in(&ana, 4, &["partner", "therapist"]).await;
    shared_check_in(&ben, 2, &["therapist"]).await;
    let before = summary_as_seen_by(&ben, &couple).await;

    // Ana tells the therapist something she does not share with Ben.
    shared_check_in(&ana, 1, &["therapist"]).await;
    let after = summary_as_seen_by(&ben, &couple).await;
    assert_eq!(after.1, before.1, "Ben's summary lists Ana's therapist-only check-in");
    for (b, a) in before.0.iter().zip(&after.0) {
        if b != a {
            let (b, a) = normalize::where_they_differ(b, a);
            panic!("Ben's summary shows Ana's therapist-only check-in:\n  before: {b}\n  after:  {a}");
        }
    }
}

async fn cursors_do_not_count_what_was_shared_and_withdrawn_while_the_partner_was_away(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let h = head(&ben).await;

    // While Ben is away, Ana shares two entries with him and takes them back.
    for mood in [2, 5] {
        let id = shared_check_in(&ana, mood, &["partner"]).await;
        ana.withdraw(&id, &["partner"]).await;
    }

    for query in [format!("since={h}"), format!("since={h}&limit=1")] {
        let (status, body) = ben.client.get(&format!("/api/events?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({ "events": [], "head": h, "next_since": h }),
            "GET /api/events?{query}: Ben's cursors count what he never saw"
        );
    }
    let (ready, mut ws) = ws_at(&ben, h).await;
    assert_eq!(ready["head"], h, "the websocket's ready message counts it: {ready}");
    assert_eq!(
        backlog(&mut ws).await,
        Vec::<Value>::new(),
        "Ben's websocket replays it"
    );
}

async fn sharing_again_while_the_partner_is_away_is_not_announced_again(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let e = shared_check_in(&ana, 3, &["partner"]).await;
    let (_, seen) = ben.client.get("/api/events").await;
    assert!(seen.to_string().contains(&e), "Ben saw the check-in: {seen}");
    ana.withdraw(&e, &["partner"]).await;
    let (_, removed) = ben
        .client
        .get(&format!("/api/events?since={}", seen["next_since"]))
        .await;
    assert_eq!(removed["events"][0]["event"], "entry_removed", "{removed}");
    let cursor = removed["next_since"].as_i64().unwrap();

    // While Ben is away, Ana shares it again and takes it back again.
    ana.share(&e, &["partner"]).await;
    ana.withdraw(&e, &["partner"]).await;

    let (_, resumed) = ben.client.get(&format!("/api/events?since={cursor}")).await;
    assert_eq!(
        resumed["events"],
        json!([]),
        "Ben hears again of the entry he saw removed"
    );
    let (ready, mut ws) = ws_at(&ben, cursor).await;
    let backlog = backlog(&mut ws).await;
    assert_eq!(
        backlog,
        Vec::<Value>::new(),
        "Ben's websocket hears again of the entry ({ready})"
    );
}

async fn the_therapists_stream_tells_nothing_the_summary_hides(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben, dr, couple) = app.couple_with_therapist().await;
    shared_check_in(&ana, 4, &["partner", "therapist"]).await;
    let mut problems = Vec::new();
    let couples = |dr: &Partner| {
        let c = dr.client.clone();
        async move { c.get("/api/therapist/couples").await.1["couples"][0]["last_shared_at"].clone() }
    };
    let summary = |dr: &Partner| {
        let (c, path) = (dr.client.clone(), format!("/api/summary/{couple}"));
        async move { c.get(&path).await.1["entries"].clone() }
    };

    // A therapist share withdrawn while the therapist was away.
    let cursor = head(&dr).await;
    let last_before = couples(&dr).await;
    let entries_before = summary(&dr).await;
    let e = shared_check_in(&ana, 1, &["therapist"]).await;
    ana.withdraw(&e, &["therapist"]).await;
    let (_, events) = dr.client.get(&format!("/api/events?since={cursor}")).await;
    if events["events"] != json!([]) {
        problems.push(format!(
            "a therapist share withdrawn while away shows in the stream: {events}"
        ));
    }

    // A reply shared with the therapist, to a request that is not: the summary leaves it out.
    let cursor = events["next_since"].as_i64().unwrap();
    let request = ana
        .create("request", json!({ "about": "Sunday", "options": ["Walk", "Rest"] }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.share(&request, &["partner"]).await;
    let reply = ben
        .create("reply", json!({ "to": request, "choice": { "option": 0 } }))
        .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    ben.share(reply["id"].as_str().unwrap(), &["therapist"]).await;
    assert_eq!(summary(&dr).await, entries_before, "the summary leaves the reply out");
    let (_, events) = dr.client.get(&format!("/api/events?since={cursor}")).await;
    if events["events"] != json!([]) {
        problems.push(format!("a reply the summary leaves out shows in the stream: {events}"));
    }
    let last_after = couples(&dr).await;
    if last_after != last_before {
        problems.push(format!(
            "a reply the summary leaves out moves last_shared_at from {last_before} to {last_after}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

async fn the_order_of_a_catch_up_says_nothing_of_a_share_withdrawn_while_away(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    // Two couples with the same history, except that one Ana also shares her first
    // check-in and takes it back while her Ben is away.
    let mut transcripts = Vec::new();
    for flash in [false, true] {
        let (ana, ben) = app.couple().await;
        let first = ana.create("check_in", check_in(2)).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let second = ana.create("check_in", check_in(4)).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let h = head(&ben).await;
        if flash {
            ana.share(&first, &["partner"]).await;
            ana.withdraw(&first, &["partner"]).await;
        }
        ana.share(&second, &["partner"]).await;
        ana.share(&first, &["partner"]).await;

        let (_, page) = ben.client.get(&format!("/api/events?since={h}")).await;
        let (_, mut ws) = ws_at(&ben, h).await;
        let mut lines = vec![format!("GET /api/events: {page}")];
        lines.extend(backlog(&mut ws).await.iter().map(|m| format!("ws: {m}")));
        transcripts.push(normalize::transcript(&lines));
    }
    for (without, with) in transcripts[0].iter().zip(&transcripts[1]) {
        if without != with {
            let (a, b) = normalize::where_they_differ(without, with);
            panic!("Ben's catch-up tells of the share he never saw:\n  without it: {a}\n  with it:    {b}");
        }
    }
}

/// Opens `p`'s websocket resuming at `since`: its `ready` message and the socket.
async fn ws_at(p: &Partner, since: i64) -> (Value, Ws) {
    let c = &p.client;
    let url = format!("{}/api/ws?since={since}", c.base.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Origin", c.origin.parse().unwrap());
    if let Some(cookie) = c.cookie() {
        req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    }
    let (stream, _) = tokio_tungstenite::connect_async(req).await.expect("websocket connects");
    let mut ws = Ws { stream };
    let ready = ws.next().await;
    assert_eq!(ready["type"], "ready", "{ready}");
    (ready, ws)
}

/// What the websocket sends before the answer to a message sent now: its backlog (the
/// server reads messages only once it has sent it).
async fn backlog(ws: &mut Ws) -> Vec<Value> {
    ws.send(json!({ "type": "end_of_backlog", "request_id": "end" })).await;
    let mut out = Vec::new();
    loop {
        let msg = ws.next().await;
        if msg["request_id"] == "end" {
            return out;
        }
        out.push(msg);
    }
}
