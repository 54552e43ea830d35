//! Several instances sharing one PostgreSQL: partners connected to different instances
//! get each other's events live, in order, once; resume works on any instance.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{check_in, fresh_database, spawn_on, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_on_different_instances() {
    let Some((url, _)) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let one = spawn_on(&url, None, &[]).await;
    let two = spawn_on(&url, None, &[]).await;
    let (ana, ben) = one.couple().await;
    let ben_two = ben.client.via(&two);

    // Live across instances, in order, once.
    let mut ben_ws = ben_two.ws(None).await;
    let mut ids = Vec::new();
    for mood in 1..=5 {
        let id = ana.create("check_in", check_in(mood)).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        ana.share(&id, &["partner"]).await;
        ids.push(id);
    }
    let mut last = 0;
    for id in &ids {
        let ev = ben_ws.next_event().await;
        assert_eq!(ev["entry"]["id"], id.as_str());
        assert!(ev["seq"].as_i64().unwrap() > last);
        last = ev["seq"].as_i64().unwrap();
    }
    ben_ws.expect_nothing_before_marker().await;

    // Withdrawal, live across instances.
    ana.withdraw(&ids[0], &["partner"]).await;
    let ev = ben_ws.next_event().await;
    assert_eq!(
        (ev["event"].as_str(), ev["entry_id"].as_str()),
        (Some("entry_removed"), Some(ids[0].as_str()))
    );
    last = ev["seq"].as_i64().unwrap();
    drop(ben_ws);

    // Missed while away; resumed on the other instance.
    let mut missed = Vec::new();
    for mood in 1..=3 {
        let id = ana.create("check_in", check_in(mood)).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        ana.share(&id, &["partner"]).await;
        missed.push(id);
    }
    let mut ben_ws = ben.ws(Some(last)).await;
    for id in &missed {
        let ev = ben_ws.next_event().await;
        assert_eq!(
            (ev["seq"].as_i64(), ev["entry"]["id"].as_str()),
            (Some(last + 1), Some(id.as_str()))
        );
        last += 1;
    }
    ben_ws.expect_nothing_before_marker().await;

    // Logging out on one instance closes the session's sockets on the other.
    let mut ben_ws = ben_two.ws(None).await;
    assert_eq!(
        ben.client.post("/api/logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), ben_ws.stream.next())
            .await
            .expect("closed within 5 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(closed, 4001);
    one.stop().await;
    two.stop().await;
}
