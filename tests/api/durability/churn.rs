//! One more couple unpairs and pairs again over HTTP, round after round, through the
//! crashes. These writes carry no request id: a retry after a lost reply (or a 5xx) finds
//! the change made (`409`: not paired, invite used) or makes it; either way, after each round both
//! partners see each other in one new couple.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::load::recover;
use super::writer::{replay_http, Fail, Writer};

/// What the churn did.
#[derive(Debug, Default)]
pub struct Churn {
    /// Rounds completed (unpaired, invited, joined, checked).
    pub rounds: usize,
    /// Steps whose reply was lost (or a 5xx), whose retry found the change made already.
    pub found_made: usize,
    /// Steps whose reply a crash took, whose retry made the change.
    pub made_on_retry: usize,
}

/// One step, retried until it answers `ok`, or (after a reply was lost) `409`.
async fn step(w: &Writer, path: &str, body: Value, ok: StatusCode, churn: &mut Churn) -> Value {
    let mut lost = false;
    loop {
        let sent = w.env.epoch();
        match w.http(Method::POST, path, Some(&body)).await {
            Ok((status, answer)) if status == ok => {
                churn.made_on_retry += usize::from(lost);
                return answer;
            }
            Ok((StatusCode::CONFLICT, answer)) if lost => {
                churn.found_made += 1;
                return answer;
            }
            // Nothing promised: it may have been made (these routes read the couple back
            // after the change commits).
            Ok((status, _)) if status.is_server_error() => {
                lost = true;
                recover(&w.env, sent).await
            }
            Ok((status, answer)) => panic!("{}: POST {path}: {status} {answer}", w.name),
            Err(fail) => {
                lost |= !matches!(fail, Fail::NotSent(_));
                recover(&w.env, sent).await;
            }
        }
    }
}

/// Both partners' view of their couple, read until the server answers.
async fn couple_of(w: &Writer) -> Value {
    loop {
        let sent = w.env.epoch();
        match w.http(Method::GET, "/api/couple", None).await {
            Ok((StatusCode::OK, body)) => return body["couple"].clone(),
            Ok((status, body)) if !status.is_server_error() => panic!("{}: GET /api/couple: {status} {body}", w.name),
            _ => recover(&w.env, sent).await,
        }
    }
}

async fn check_paired(a: &Writer, b: &Writer) -> String {
    let (ca, cb) = (couple_of(a).await, couple_of(b).await);
    assert_eq!(ca["status"], "paired", "{}: {ca}", a.name);
    assert_eq!(
        (&ca["id"], &ca["partner"]["id"]),
        (&cb["id"], &json!(b.id)),
        "{}: {ca} / {cb}",
        a.name
    );
    assert_eq!(cb["partner"]["id"], a.id.as_str(), "{}: {cb}", b.name);
    ca["id"].as_str().unwrap().to_string()
}

/// Rounds until `stop`; `a` and `b` start paired.
pub async fn run(a: Writer, b: Writer, stop: Arc<AtomicBool>) -> (Writer, Writer, Churn) {
    let mut churn = Churn::default();
    let mut couple = check_paired(&a, &b).await;
    while !stop.load(Ordering::SeqCst) {
        step(&a, "/api/couple/unpair", json!({}), StatusCode::OK, &mut churn).await;
        assert!(
            couple_of(&a).await.is_null(),
            "{}: still in a couple after unpairing",
            a.name
        );
        assert!(
            couple_of(&b).await.is_null(),
            "{}: still in a couple after the partner unpaired",
            b.name
        );
        let invite = step(&a, "/api/couple", json!({}), StatusCode::CREATED, &mut churn).await;
        let code = invite["invite"]["code"].as_str().expect("an invite code");
        step(
            &b,
            "/api/couple/join",
            json!({ "code": code }),
            StatusCode::OK,
            &mut churn,
        )
        .await;
        let next = check_paired(&a, &b).await;
        assert_ne!(next, couple, "{}: paired again in the couple that ended", a.name);
        couple = next;
        churn.rounds += 1;
    }
    (a, b, churn)
}

/// After the crashes: paired, and each partner's stream is only couple changes, numbered
/// without gaps.
pub async fn check(a: &Writer, b: &Writer) {
    check_paired(a, b).await;
    for w in [a, b] {
        let events = replay_http(&w.client).await;
        for (i, (seq, event, _)) in events.iter().enumerate() {
            assert_eq!((*seq, event.as_str()), (i as i64 + 1, "couple"), "{}: stream", w.name);
        }
    }
}
