//! The websocket: resume without loss or duplicates, idempotent retries, limits,
//! origin and session checks, and closing properly.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::Interest;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

use crate::both_backends;
use crate::helpers::{check_in, new_id, spawn_app, spawn_app_with, Backend, Ws};

both_backends!(
    resume_delivers_every_missed_event_once_in_order,
    retried_writes_apply_once,
    upgrade_checks_origin_and_session,
    logout_closes_the_sessions_sockets,
    oversize_messages_are_refused,
    shutdown_sends_a_close_frame,
    a_stalled_reader_holds_up_no_one,
    a_busy_live_stream_stays_in_order,
    pings_find_silent_peers,
    message_floods_are_refused,
);

/// Sends `msgs` pipelined in windows (a client that never reads would stall its own
/// socket) and returns the acks' entry ids in order.
async fn pipeline(ws: &mut Ws, msgs: Vec<Value>) -> Vec<String> {
    let mut ids = Vec::with_capacity(msgs.len());
    for window in msgs.chunks(100) {
        for m in window {
            ws.send(m.clone()).await;
        }
        let mut acked = 0;
        while acked < window.len() {
            let msg = ws.next().await;
            assert_ne!(msg["type"], "error", "{msg}");
            if msg["type"] == "ack" {
                assert_eq!(
                    msg["request_id"], window[acked]["request_id"],
                    "acks come in request order"
                );
                ids.push(msg["entry_id"].as_str().unwrap().to_string());
                acked += 1;
            }
        }
    }
    ids
}

/// Creates and shares `n` check-ins over Ana's websocket; returns their ids.
async fn share_many(ws: &mut Ws, n: usize) -> Vec<String> {
    let creates = (0..n)
        .map(|i| json!({ "type": "create_entry", "request_id": new_id(), "kind": "check_in", "body": check_in(1 + (i % 5) as i64) }))
        .collect();
    let ids = pipeline(ws, creates).await;
    let shares = ids
        .iter()
        .map(|id| json!({ "type": "share", "request_id": new_id(), "entry_id": id, "scopes": ["partner"] }))
        .collect();
    pipeline(ws, shares).await;
    ids
}

async fn resume_delivers_every_missed_event_once_in_order(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let mut ana_ws = ana.ws(None).await;

    // One missed event.
    let mut ben_ws = ben.ws(None).await;
    let first = share_many(&mut ana_ws, 1).await;
    let ev = ben_ws.next_event().await;
    assert_eq!(ev["entry"]["id"], first[0].as_str());
    let mut last = ev["seq"].as_i64().unwrap();
    drop(ben_ws);
    let one = share_many(&mut ana_ws, 1).await;
    let mut ben_ws = ben.ws(Some(last)).await;
    let ev = ben_ws.next_event().await;
    assert_eq!(
        (ev["seq"].as_i64(), ev["entry"]["id"].as_str()),
        (Some(last + 1), Some(one[0].as_str()))
    );
    // Nothing more, up to Ben's own marker (whose events move his cursor on).
    last = ben_ws.expect_nothing_before_marker().await;
    drop(ben_ws);

    // Many missed events, with a second drop half-way through the catch-up.
    let n = 2_000;
    let ids = share_many(&mut ana_ws, n).await;
    let mut received = Vec::new();
    let mut ben_ws = ben.ws(Some(last)).await;
    while received.len() < n / 2 {
        let ev = ben_ws.next_event().await;
        assert_eq!(ev["seq"].as_i64(), Some(last + 1), "no gap, no repeat");
        last += 1;
        received.push(ev["entry"]["id"].as_str().unwrap().to_string());
    }
    drop(ben_ws);
    let mut ben_ws = ben.ws(Some(last)).await;
    while received.len() < n {
        let ev = ben_ws.next_event().await;
        assert_eq!(ev["seq"].as_i64(), Some(last + 1), "no gap, no repeat");
        last += 1;
        received.push(ev["entry"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(received, ids, "every share, in the order it was made");
    let shared_up_to = last;
    last = ben_ws.expect_nothing_before_marker().await;
    assert_eq!(last, shared_up_to + 2, "the marker's two events came next");

    // The same catch-up over HTTP, and a cursor from the future resets.
    let (status, page) = ben
        .client
        .get(&format!("/api/events?since={}&limit=5", shared_up_to - 5))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let got: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[n - 5..].iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(page["head"].as_i64(), Some(last));
    let url = format!("{}/api/ws?since={}", app.base.replace("http", "ws"), last + 100);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Origin", app.origin.parse().unwrap());
    req.headers_mut()
        .insert("Cookie", ben.client.cookie().unwrap().parse().unwrap());
    let (mut raw, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let Some(Ok(Message::Text(ready))) = raw.next().await else {
        panic!("ready expected")
    };
    let ready: Value = serde_json::from_str(ready.as_str()).unwrap();
    assert_eq!(
        (ready["reset"].as_bool(), ready["head"].as_i64()),
        (Some(true), Some(last))
    );
}

async fn retried_writes_apply_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let mut ben_ws = ben.ws(None).await;

    // The same create twice over HTTP: one entry, the second answer says replayed.
    let create = json!({ "request_id": "retry-1", "kind": "check_in", "body": check_in(3) });
    let (s1, r1) = ana.client.post("/api/entries", create.clone()).await;
    let (s2, r2) = ana.client.post("/api/entries", create.clone()).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(r1["entry_id"], r2["entry_id"]);
    assert_eq!(
        (r1["replayed"].as_bool(), r2["replayed"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(ana.listed_ids().await.len(), 1);
    let id = r1["entry_id"].as_str().unwrap().to_string();

    // The same id for something else is refused.
    let mut other = create.clone();
    other["body"]["mood"] = json!(5);
    let (status, body) = ana.client.post("/api/entries", other).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("request_id_reused"))
    );

    // Over the websocket: share, withdraw, then a late retry of the share changes nothing.
    let mut ana_ws = ana.ws(None).await;
    let share = json!({ "type": "share", "request_id": "share-1", "entry_id": id, "scopes": ["partner"] });
    let ack = ana_ws.call(share.clone()).await;
    assert_eq!(
        (ack["type"].as_str(), ack["replayed"].as_bool()),
        (Some("ack"), Some(false))
    );
    assert_eq!(ben_ws.next_event().await["entry"]["id"], id.as_str());
    let ack = ana_ws
        .call(json!({ "type": "withdraw", "request_id": "withdraw-1", "entry_id": id, "scopes": ["partner"] }))
        .await;
    assert_eq!(ack["entry"]["consent"]["partner"], Value::Null);
    assert_eq!(ben_ws.next_event().await["event"], "entry_removed");
    let ack = ana_ws.call(share).await;
    assert_eq!(
        (ack["type"].as_str(), ack["replayed"].as_bool()),
        (Some("ack"), Some(true))
    );
    assert_eq!(
        ack["entry"]["consent"]["partner"],
        Value::Null,
        "the replay did not share again"
    );
    ben_ws.expect_nothing_before_marker().await;
    assert!(ben.listed_ids().await.is_empty());

    // Request ids are per user: Ben may use the same one.
    let (status, _) = ben.client.post("/api/entries", create).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn upgrade_checks_origin_and_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    let url = format!("{}/api/ws", app.base.replace("http", "ws"));
    let attempt = |origin: Option<&str>, cookie: Option<String>| {
        let mut req = url.clone().into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("Origin", o.parse().unwrap());
        }
        if let Some(c) = cookie {
            req.headers_mut().insert("Cookie", c.parse().unwrap());
        }
        async move {
            match tokio_tungstenite::connect_async(req).await {
                Ok(_) => 101,
                Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(attempt(Some("https://evil.example"), ana.client.cookie()).await, 403);
    assert_eq!(attempt(None, ana.client.cookie()).await, 403);
    assert_eq!(attempt(Some(&app.origin), None).await, 401);
    assert_eq!(
        attempt(Some(&app.origin), Some("tandem_session=nope".into())).await,
        401
    );
    assert_eq!(attempt(Some(&app.origin), ana.client.cookie()).await, 101);
}

async fn expect_close(ws: &mut Ws, code: u16) {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.stream.next())
            .await
            .expect("closed within 5 s");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), code, "{frame:?}");
                return;
            }
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close frame {code}, got {other:?}"),
        }
    }
}

async fn logout_closes_the_sessions_sockets(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    let phone = app.anonymous();
    let (status, _) = phone
        .post("/api/login", json!({ "email": ana.email, "password": ana.password }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut laptop_ws = ana.ws(None).await;
    let mut phone_ws = phone.ws(None).await;

    assert_eq!(phone.post("/api/logout", json!({})).await.0, StatusCode::NO_CONTENT);
    expect_close(&mut phone_ws, 4001).await;
    // The other session's socket lives on: it gets nothing but its own writes' events.
    laptop_ws.expect_nothing_before_marker().await;
    ana.create("check_in", check_in(3)).await;
    assert_eq!(laptop_ws.next_event().await["event"], "entry");
}

async fn oversize_messages_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    let mut ws = ana.ws(None).await;
    // Over the message limit: an error, nothing stored, the socket stays.
    let big = json!({ "type": "create_entry", "request_id": "big", "kind": "check_in", "body": { "note": "x".repeat(20 * 1024) } });
    ws.send(big).await;
    let err = ws.next().await;
    assert_eq!(
        (err["type"].as_str(), err["error"]["code"].as_str()),
        (Some("error"), Some("too_large"))
    );
    let ack = ws
        .call(json!({ "type": "create_entry", "request_id": "ok", "kind": "check_in", "body": check_in(2) }))
        .await;
    assert_eq!(ack["type"], "ack");
    // Over the frame limit: the server hangs up, with 1009 when the close frame gets
    // through before the unread rest of the frame resets the connection.
    let huge = "y".repeat(100 * 1024);
    // (The send itself may fail: the server may hang up before the frame is all out.)
    let _ = ws.stream.send(Message::Text(huge.into())).await;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.stream.next())
            .await
            .expect("hung up within 5 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => break assert_eq!(u16::from(frame.code), 1009),
            Some(Err(_)) | None => break,
            // Events sent before the oversized frame arrived.
            Some(Ok(Message::Text(_) | Message::Ping(_))) => continue,
            other => panic!("expected the socket to close, got {other:?}"),
        }
    }
    assert_eq!(ana.listed_ids().await.len(), 1);
}

async fn shutdown_sends_a_close_frame(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let ana = app.partner("Ana").await;
    let mut ws = ana.ws(None).await;
    let stopping = tokio::spawn(app.stop());
    expect_close(&mut ws, 1001).await;
    stopping.await.unwrap();
}

async fn a_stalled_reader_holds_up_no_one(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let (cat, dan) = app.couple().await;
    // Ben connects and then never reads again.
    let _stalled = ben.ws(None).await;
    let mut ana_ws = ana.ws(None).await;
    let mut dan_ws = dan.ws(None).await;
    // Enough events with long notes to fill Ben's socket buffers many times over.
    let note = "n".repeat(900);
    for i in 0..300 {
        let mut body = check_in(3);
        body["note"] = json!(note);
        let ack = ana_ws
            .call(json!({ "type": "create_entry", "request_id": format!("c{i}"), "kind": "check_in", "body": body }))
            .await;
        let id = ack["entry_id"].as_str().unwrap();
        let ack = ana_ws
            .call(json!({ "type": "share", "request_id": format!("s{i}"), "entry_id": id, "scopes": ["partner"] }))
            .await;
        assert_eq!(ack["type"], "ack");
    }
    // Another couple's delivery is live all along.
    let id = cat.create("check_in", check_in(4)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    cat.share(&id, &["partner"]).await;
    assert_eq!(dan_ws.next_event().await["entry"]["id"], id.as_str());
}

/// Live delivery hands committed events straight to open sockets. Ana writes from two
/// devices at once, so commits (and, on PostgreSQL, their hand-overs) interleave and may
/// arrive out of order, which sends Ben's socket to the store for the gap. Either way he
/// gets every event once, with no gap in the sequence.
async fn a_busy_live_stream_stays_in_order(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (ana, ben) = app.couple().await;
    let mut phone = ana.ws(None).await;
    let mut laptop = ana.ws(None).await;
    let mut ben_ws = ben.ws(None).await;
    let n = 600;
    let (a, b) = tokio::join!(share_many(&mut phone, n), share_many(&mut laptop, n));
    let mut expected: Vec<String> = a.into_iter().chain(b).collect();
    let mut received = Vec::new();
    let mut last = None;
    while received.len() < 2 * n {
        let ev = ben_ws.next_event().await;
        let seq = ev["seq"].as_i64().unwrap();
        if let Some(last) = last {
            assert_eq!(seq, last + 1, "no gap, no repeat");
        }
        last = Some(seq);
        received.push(ev["entry"]["id"].as_str().unwrap().to_string());
    }
    ben_ws.expect_nothing_before_marker().await;
    received.sort();
    expected.sort();
    assert_eq!(received, expected, "every share exactly once");
}

async fn pings_find_silent_peers(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &["--ws-ping-seconds", "1"]).await else {
        return;
    };
    let ana = app.partner("Ana").await;
    let mut ws = ana.ws(None).await;
    // Reading answers pings (tungstenite replies with pongs): a peer that reads outlives
    // the three silent intervals after which one that does not is dropped. Five pings,
    // each answered, span four intervals, and the socket is open after them.
    for i in 1..=5 {
        match tokio::time::timeout(Duration::from_secs(5), ws.stream.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => {}
            other => panic!("ping {i}: expected a ping, got {other:?}"),
        }
    }
    ws.expect_nothing_before_marker().await;
    // A peer that stops answering is dropped after three silent intervals. Not reading
    // the socket (which would answer the pings), wait for the server to close the
    // connection: its end of the TCP stream shows as closed.
    let MaybeTlsStream::Plain(tcp) = ws.stream.get_ref() else {
        panic!("a plain TCP websocket")
    };
    let hung_up = tokio::time::timeout(Duration::from_secs(15), async {
        while !tcp
            .ready(Interest::READABLE)
            .await
            .expect("socket readiness")
            .is_read_closed()
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(hung_up.is_ok(), "the silent peer was not dropped within 15 s");
    // What it sent before hanging up: pings, then a close frame saying why, unless
    // reading them (which answers each ping, into a connection closed at the other
    // end) got the connection reset first.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.stream.next())
            .await
            .expect("the rest of what the server sent")
        {
            Some(Ok(Message::Ping(_))) => continue,
            Some(Ok(Message::Close(Some(frame)))) => break assert_eq!(u16::from(frame.code), 1001, "{frame:?}"),
            Some(Err(_)) | None => break,
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn message_floods_are_refused(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &["--ws-messages-per-second", "5"]).await else {
        return;
    };
    let ana = app.partner("Ana").await;
    let mut ws = ana.ws(None).await;
    // A burst of 20 over a limit of 5/s (bursts of 20): the 21st onwards is refused.
    let n = 40;
    for i in 0..n {
        ws.send(
            json!({ "type": "create_entry", "request_id": format!("f{i}"), "kind": "check_in", "body": check_in(3) }),
        )
        .await;
    }
    let (mut acks, mut limited) = (0, 0);
    while acks + limited < n {
        let msg = ws.next().await;
        match msg["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => {
                assert_eq!(msg["error"]["code"], "rate_limited", "{msg}");
                assert!(msg["request_id"].as_str().unwrap().starts_with('f'));
                limited += 1;
            }
            _ => {}
        }
    }
    assert!(limited > 0 && acks >= 20, "{acks} applied, {limited} refused");
    assert_eq!(ana.listed_ids().await.len(), acks, "refused messages changed nothing");
    // After a pause, writes go through again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ack = ws
        .call(json!({ "type": "create_entry", "request_id": "late", "kind": "check_in", "body": check_in(3) }))
        .await;
    assert_eq!(ack["type"], "ack");
}

/// The marker check fails on an event that has not arrived yet when the check starts:
/// Ana's share is committed (its answer is back) before Ben's marker is written, so it
/// reaches Ben's socket first, however late, and the check must see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "expected nothing before the marker")]
async fn the_marker_check_catches_a_late_event() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let (ana, ben) = app.couple().await;
    let mut ben_ws = ben.ws(None).await;
    let id = ana.create("check_in", check_in(3)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.share(&id, &["partner"]).await;
    ben_ws.expect_nothing_before_marker().await;
}
