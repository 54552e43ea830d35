//! Data rights and session control: export, account deletion, password change, log out
//! everywhere, and the record of reads.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::both_backends;
use crate::helpers::{check_in, spawn_app, Backend, Ws};

both_backends!(
    export_holds_what_i_wrote_and_what_was_shared_with_me,
    deleting_an_account_leaves_no_trace_for_partner_or_therapist,
    password_change_and_logout_everywhere_end_other_sessions,
    reads_of_shared_entries_are_recorded_but_never_shown_to_the_writer,
    drafts_follow_their_writer_to_a_new_couple,
    exporting_is_not_a_read_and_every_recorded_read_is_documented,
    replies_forget_what_they_answered_when_its_writer_deletes_their_account,
    the_export_keeps_the_therapists_view_log_after_the_couple_ends,
);

async fn expect_close(ws: &mut Ws, code: u16) {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.stream.next())
            .await
            .expect("closed within 5 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => return assert_eq!(u16::from(frame.code), code),
            Some(Ok(_)) => continue,
            other => panic!("expected close {code}, got {other:?}"),
        }
    }
}

async fn export_holds_what_i_wrote_and_what_was_shared_with_me(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let mine = ana.create("check_in", check_in(2)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.share(&mine, &["partner"]).await;
    ana.withdraw(&mine, &["partner"]).await;
    let shared = ben
        .create("appreciation", json!({ "text": "for Ana", "shown_by": "words" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ben.share(&shared, &["partner"]).await;
    let bens_draft = ben
        .create("appreciation", json!({ "text": "BEN-PRIVATE", "shown_by": "words" }))
        .await;

    let (status, export) = ana.client.get("/api/me/export").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["user"]["email"], ana.email.as_str());
    let written: Vec<&str> = export["entries_written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(written, [mine.as_str()]);
    let actions: Vec<&str> = export["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["share", "withdraw"]);
    let received: Vec<&str> = export["entries_shared_with_me"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(received, [shared.as_str()]);
    assert!(!export.to_string().contains("BEN-PRIVATE"));
    assert!(!export.to_string().contains(bens_draft["id"].as_str().unwrap()));
    assert!(!export.to_string().contains("password"));
}

async fn deleting_an_account_leaves_no_trace_for_partner_or_therapist(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben, dr, couple_id) = app.couple_with_therapist().await;
    let entry = ana
        .create(
            "setback",
            json!({ "what_happened": "ANA-SECRET", "how_hard": 3, "would_help": "some_space" }),
        )
        .await;
    let entry_id = entry["id"].as_str().unwrap().to_string();
    ana.share(&entry_id, &["partner", "therapist"]).await;
    let reply = ben
        .create("reply", json!({ "to": entry_id, "note": "Ben's own words" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, summary) = dr.client.get(&format!("/api/summary/{couple_id}")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert!(summary.to_string().contains("ANA-SECRET"));
    // Before the deletion, Ben's replay holds the entry, text and all (so its absence
    // afterwards means something).
    let (status, events) = ben.client.get("/api/events?since=0").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert!(events.to_string().contains("ANA-SECRET"), "{events}");

    let mut ben_ws = ben.ws(None).await;
    let mut ana_ws = ana.ws(None).await;
    // The password is asked again; a wrong one changes nothing.
    let (status, body) = ana
        .client
        .delete("/api/me", json!({ "password": "not my password" }))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    let (status, _) = ana.client.delete("/api/me", json!({ "password": ana.password })).await;
    assert_eq!(status, StatusCode::OK);

    // Live: the entry leaves Ben's screen, his reply no longer names it, and the couple
    // ends; Ana's sockets close.
    let mut got = Vec::new();
    for _ in 0..3 {
        let ev = ben_ws.next_event().await;
        match ev["event"].as_str() {
            Some("entry_removed") => assert_eq!(ev["entry_id"], entry_id.as_str(), "{ev}"),
            Some("entry") => assert_eq!(
                (ev["entry"]["id"].as_str(), &ev["entry"]["reply_to"]),
                (Some(reply.as_str()), &Value::Null),
                "{ev}"
            ),
            Some("couple") => assert_eq!(ev["couple"], Value::Null, "{ev}"),
            _ => panic!("unexpected {ev}"),
        }
        assert!(!ev.to_string().contains("ANA-SECRET"), "{ev}");
        got.push(ev["event"].as_str().unwrap().to_string());
    }
    got.sort();
    assert_eq!(got, ["couple", "entry", "entry_removed"]);
    expect_close(&mut ana_ws, 4001).await;

    // Nothing of Ana's remains for Ben or the therapist; Ben keeps his own words.
    assert_eq!(ben.listed_ids().await, vec![reply.clone()]);
    let (status, export) = ben.client.get("/api/me/export").await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert!(!export.to_string().contains("ANA-SECRET"));
    assert!(!export.to_string().contains(&entry_id), "{export}");
    assert_eq!(ben.client.get("/api/me").await.1["couple"], Value::Null);
    // Replaying his stream from the start, Ben finds the entry only as removed: no text,
    // and its id only in `entry_removed` (his reply names it no more).
    let (status, events) = ben.client.get("/api/events?since=0").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let events = events["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|ev| ev["event"] == "entry_removed" && ev["entry_id"] == entry_id.as_str()),
        "{events:?}"
    );
    for ev in events {
        let text = ev.to_string();
        assert!(!text.contains("ANA-SECRET"), "{text}");
        if ev["event"] != "entry_removed" {
            assert!(!text.contains(&entry_id), "{text}");
        }
    }
    // The therapist's replay names the couple at most, never the entry or its text.
    let (status, events) = dr.client.get("/api/events?since=0").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let text = events.to_string();
    assert!(!text.contains("ANA-SECRET") && !text.contains(&entry_id), "{text}");
    let unknown = dr
        .client
        .get(&format!("/api/summary/{}", crate::helpers::new_id()))
        .await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    assert_eq!(dr.client.get(&format!("/api/summary/{couple_id}")).await, unknown);
    assert_eq!(dr.client.get("/api/therapist/couples").await.1["couples"], json!([]));
    // Ana's session and credentials are gone; the address is free again.
    assert_eq!(ana.client.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .anonymous()
        .post("/api/login", json!({ "email": ana.email, "password": ana.password }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .anonymous()
        .post(
            "/api/signup",
            json!({ "email": ana.email, "password": "a brand new password", "display_name": "Ana" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn password_change_and_logout_everywhere_end_other_sessions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    let phone = app.anonymous();
    let (status, body) = phone
        .post("/api/login", json!({ "email": ana.email, "password": ana.password }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(phone.get("/api/me").await.0, StatusCode::OK, "the phone is logged in");
    let mut phone_ws = phone.ws(None).await;
    let old_cookie = ana.client.cookie();

    let (status, body) = ana
        .client
        .post(
            "/api/password",
            json!({ "current_password": "wrong one!!", "new_password": "new password 123" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("current_password"))
    );
    let (status, body) = ana
        .client
        .post(
            "/api/password",
            json!({ "current_password": ana.password, "new_password": "short" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("new_password"))
    );
    let (status, body) = ana
        .client
        .post(
            "/api/password",
            json!({ "current_password": ana.password, "new_password": "new password 123" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // This session was rotated, the phone's ended, its socket closed.
    assert_ne!(ana.client.cookie(), old_cookie);
    assert_eq!(ana.client.get("/api/me").await.0, StatusCode::OK);
    assert_eq!(phone.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    expect_close(&mut phone_ws, 4001).await;
    let (status, _) = app
        .anonymous()
        .post("/api/login", json!({ "email": ana.email, "password": ana.password }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Log out everywhere, this session included.
    let laptop = app.anonymous();
    let (status, body) = laptop
        .post(
            "/api/login",
            json!({ "email": ana.email, "password": "new password 123" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(laptop.get("/api/me").await.0, StatusCode::OK, "the laptop is logged in");
    assert_eq!(
        ana.client.post("/api/logout/all", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(laptop.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(ana.client.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
}

async fn reads_of_shared_entries_are_recorded_but_never_shown_to_the_writer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let id = ana.create("check_in", check_in(3)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.share(&id, &["partner"]).await;
    assert_eq!(ben.client.get(&format!("/api/entries/{id}")).await.0, StatusCode::OK);
    assert_eq!(ben.client.get("/api/entries").await.0, StatusCode::OK);
    let (status, export) = ben.client.get("/api/me/export").await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let reads: Vec<String> = export["my_reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["what"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reads, ["list of 1 shared entries", "entry"]);
    assert_eq!(export["my_reads"][1]["entry_id"], id.as_str());
    // No read receipts: nothing Ana can reach mentions Ben's reads.
    let (status, a_export) = ana.client.get("/api/me/export").await;
    assert_eq!(status, StatusCode::OK, "{a_export}");
    assert_eq!(a_export["my_reads"], json!([]));
    let (status, entry) = ana.client.get(&format!("/api/entries/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    let mut keys: Vec<&str> = entry["entry"].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "author",
            "body",
            "consent",
            "created_at",
            "id",
            "kind",
            "mine",
            "reply_to",
            "updated_at"
        ]
    );
}

async fn drafts_follow_their_writer_to_a_new_couple(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    let (status, body) = ana.client.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["invite"]["code"].is_string());
    // Written while waiting for a partner who never came.
    let draft = ana.create("check_in", check_in(3)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = ana.client.post("/api/couple/unpair", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ben = app.partner("Ben").await;
    let (status, body) = ben.client.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = body["invite"]["code"].as_str().unwrap();
    assert_eq!(
        ana.client.post("/api/couple/join", json!({ "code": code })).await.0,
        StatusCode::OK
    );
    ana.share(&draft, &["partner"]).await;
    assert_eq!(ben.listed_ids().await, vec![draft]);
}

async fn exporting_is_not_a_read_and_every_recorded_read_is_documented(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let couple_id = ben.client.get("/api/me").await.1["couple"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = ana.create("check_in", check_in(3)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.share(&id, &["partner", "therapist"]).await;
    // Every kind of read a partner makes, and exports in between (each answered, so an
    // export missing from the record below is one that was made and not recorded).
    let export_ok = |(status, body): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::OK, "export: {body}");
        body
    };
    export_ok(ben.client.get("/api/me/export").await);
    assert_eq!(ben.client.get(&format!("/api/entries/{id}")).await.0, StatusCode::OK);
    assert_eq!(ben.client.get("/api/entries").await.0, StatusCode::OK);
    for path in ["", "/export.json", "/export.csv"] {
        let (status, _) = ben.client.get(&format!("/api/summary/{couple_id}{path}")).await;
        assert_eq!(status, StatusCode::OK, "summary{path}");
    }
    export_ok(ben.client.get("/api/me/export").await);
    let export = export_ok(ben.client.get("/api/me/export").await);
    let reads: Vec<&str> = export["my_reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["what"].as_str().unwrap())
        .collect();
    // The export itself is not recorded (protocol.md, section 8, rule 8).
    assert_eq!(
        reads,
        [
            "summary (exported_csv)",
            "summary (exported_json)",
            "summary (viewed)",
            "list of 1 shared entries",
            "entry"
        ]
    );
    // The API document names every value the server records.
    let doc: Value = serde_json::from_str(include_str!("../../docs/openapi.json")).unwrap();
    let what = &doc["components"]["schemas"]["AccessRecord"]["properties"]["what"];
    let documented = what["description"].as_str().unwrap();
    for read in reads {
        let shape = read.replace(|c: char| c.is_ascii_digit(), "N");
        assert!(
            documented.contains(&format!("`{shape}`")),
            "AccessRecord.what does not document {read:?}: {documented}"
        );
    }
}

async fn replies_forget_what_they_answered_when_its_writer_deletes_their_account(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let request = ana
        .create(
            "request",
            json!({ "about": "ANA-REQUEST", "options": ["a walk", "a film"] }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.share(&request, &["partner"]).await;
    let setback = ana
        .create(
            "setback",
            json!({ "what_happened": "ANA-SETBACK", "how_hard": 2, "would_help": "some_space" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.share(&setback, &["partner"]).await;
    let answer = ben
        .create("reply", json!({ "to": request, "choice": { "option": 1 } }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let comfort = ben.create("reply", json!({ "to": setback, "note": "I'm here" })).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Ana deletes the setback herself first, then her account.
    let (status, body) = ana
        .client
        .delete(
            &format!("/api/entries/{setback}"),
            json!({ "request_id": crate::helpers::new_id() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ben_ws = ben.ws(None).await;
    let (status, _) = ana.client.delete("/api/me", json!({ "password": ana.password })).await;
    assert_eq!(status, StatusCode::OK);

    let forgotten = |view: &Value| {
        assert_eq!(view["reply_to"], Value::Null, "{view}");
        assert!(view["body"].get("to").is_none(), "{view}");
    };
    // Live: Ben's open screens get his replies as they are now.
    let mut updated = Vec::new();
    while updated.len() < 2 {
        let ev = ben_ws.next_event().await;
        let id = ev["entry"]["id"].as_str().unwrap_or_default().to_string();
        if ev["event"] == "entry" && (id == answer || id == comfort) {
            forgotten(&ev["entry"]);
            updated.push(id);
        }
    }
    // Everywhere a reply is shown: his list, each entry, his stream from the start and his export.
    let (status, list) = ben.client.get("/api/entries").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let entries = list["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{list}");
    entries.iter().for_each(forgotten);
    let mut shown = vec![list.clone()];
    for id in [&answer, &comfort] {
        let (status, one) = ben.client.get(&format!("/api/entries/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{one}");
        forgotten(&one["entry"]);
        shown.push(one);
    }
    let (status, events) = ben.client.get("/api/events?since=0").await;
    assert_eq!(status, StatusCode::OK, "{events}");
    for ev in events["events"].as_array().unwrap() {
        if ev["entry"]["kind"] == "reply" {
            forgotten(&ev["entry"]);
        }
    }
    let (status, export) = ben.client.get("/api/me/export").await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let written = export["entries_written"].as_array().unwrap();
    assert_eq!(written.len(), 2, "{export}");
    written.iter().for_each(forgotten);
    shown.push(export);
    // What Ben wrote stays his; what it answered is not named anywhere.
    let answered = entries.iter().find(|e| e["id"] == answer.as_str()).unwrap();
    assert_eq!(answered["body"]["choice"], json!({ "option": 1 }));
    let noted = entries.iter().find(|e| e["id"] == comfort.as_str()).unwrap();
    assert_eq!(noted["body"]["note"], "I'm here");
    for page in shown {
        let text = page.to_string();
        assert!(!text.contains(&request) && !text.contains(&setback), "{text}");
        assert!(!text.contains("ANA-"), "{text}");
    }
}

async fn the_export_keeps_the_therapists_view_log_after_the_couple_ends(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben, dr, couple_id) = app.couple_with_therapist().await;
    // A partner's own reading is not in the log; the therapist's readings are.
    let (status, _) = ben.client.get(&format!("/api/summary/{couple_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = dr.client.get(&format!("/api/summary/{couple_id}?period=90d")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = dr.client.get(&format!("/api/summary/{couple_id}/export.csv")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, log) = ana.client.get(&format!("/api/summary/{couple_id}/views")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!(log["views"].as_array().unwrap().len(), 2, "{log}");
    // The export renders each row as the view log does, with the couple it belongs to.
    let expected: Vec<Value> = log["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let mut row = v.clone();
            row["couple_id"] = json!(couple_id);
            row
        })
        .collect();
    assert_eq!(expected[0]["action"], "exported_csv");
    assert_eq!(expected[1]["action"], "viewed");

    let (status, body) = ana.client.post("/api/couple/unpair", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for p in [&ana, &ben] {
        let (status, export) = p.client.get("/api/me/export").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(export["couple"], Value::Null, "{export}");
        assert_eq!(export["therapist_view_log"], json!(expected), "{}: {export}", p.email);
    }
    // The same after the other partner deletes their account.
    let (cat, dan) = app.couple().await;
    let (status, body) = cat
        .client
        .post("/api/couple/therapist", json!({ "email": dr.email }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = dan.client.post("/api/couple/therapist/approve", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let couple2 = dan.client.get("/api/me").await.1["couple"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = dr.client.get(&format!("/api/summary/{couple2}?period=7d")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = cat.client.delete("/api/me", json!({ "password": cat.password })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, export) = dan.client.get("/api/me/export").await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let rows = export["therapist_view_log"].as_array().expect("therapist_view_log");
    assert_eq!(rows.len(), 1, "{export}");
    assert_eq!(
        (&rows[0]["couple_id"], &rows[0]["viewer"], &rows[0]["action"]),
        (&json!(couple2), &json!("Dr Lee"), &json!("viewed"))
    );
    // Someone never paired in that couple finds nothing of it in their export.
    let eve = app.partner("Eve").await;
    for p in [&eve, &dr] {
        let (status, export) = p.client.get("/api/me/export").await;
        assert_eq!(status, StatusCode::OK, "{export}");
        assert_eq!(export["therapist_view_log"], json!([]), "{export}");
    }
}
