//! The load: each partner writes one request at a time, over the websocket or HTTP (each
//! attempt picks), retrying it with the same request id until it is acknowledged, or
//! giving up on it (it is retried once at the very end).
//!
//! Before retrying a write that may have reached a server, the client looks at what the
//! write would have changed, and so knows what the retry must answer: `replayed: true`
//! exactly when the write had been applied, and never a second application.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::time::{sleep, timeout, Instant};

use super::model::{check_writer_view, was_applied, Op, Via};
use super::world::Env;
use super::writer::{Fail, Writer};

/// A write not yet acknowledged.
pub struct Pending {
    pub op: Op,
    /// Some attempt may have reached a server.
    maybe_applied: bool,
    /// Every such attempt is over (answered, or its server died), so the entry shows
    /// whether it was applied; false once one timed out under a server still running.
    settled: bool,
    /// The crash (epoch) that took its reply: it reached the process that crash killed
    /// (the server, or the database), and its connection broke or it got a 5xx once the
    /// crash had begun.
    lost_at: Option<u64>,
    expect: Option<Expect>,
}

/// What the retry must answer, from the state found before it.
enum Expect {
    Replayed(bool),
    /// A create: the writer's entries it did not know of. Its own entry if it was
    /// applied; entries of creates given up on earlier otherwise (only when `sure` is
    /// false: there were such creates).
    Create {
        new: HashSet<String>,
        sure: bool,
    },
}

impl Pending {
    fn new(op: Op) -> Pending {
        Pending {
            op,
            maybe_applied: false,
            settled: true,
            lost_at: None,
            expect: None,
        }
    }

    /// Notes a failed attempt, sent in epoch `sent`.
    fn failed(&mut self, fail: &Fail, sent: u64, env: &Env) {
        if matches!(fail, Fail::NotSent(_)) {
            return;
        }
        self.maybe_applied = true;
        self.expect = None;
        let crashed = {
            let now = *env.health.borrow();
            !now.up || now.epoch > sent
        };
        if crashed && self.lost_at.is_none() {
            self.lost_at = Some(sent + 1);
        }
        self.settled &= match fail {
            Fail::Server(_) => true,
            // The server died with it.
            _ if env.server_dies => crashed,
            // The server closed the websocket (storage unavailable): it handles one
            // message at a time, so it was not handling this one.
            Fail::Lost(_) => true,
            _ => false,
        };
    }
}

impl Writer {
    fn note_failure(&mut self, fail: &Fail) {
        match fail {
            Fail::Server(_) => self.stats.server_errors += 1,
            _ => self.stats.connection_errors += 1,
        }
        let text: String = fail.text().chars().take(120).collect();
        *self.stats.errors.entry(text).or_insert(0) += 1;
    }
}

/// Waits until a crash that broke an attempt sent in epoch `sent` is over: the driver
/// says when the server (or database) answers again.
pub(super) async fn recover(env: &Env, sent: u64) {
    let mut health = env.health.clone();
    let now = *health.borrow();
    if now.up && now.epoch == sent {
        // No crash announced since it was sent: try again in a moment.
        sleep(Duration::from_millis(50)).await;
        return;
    }
    let _ = timeout(Duration::from_secs(60), health.wait_for(|h| h.up)).await;
}

/// Everything the writer can list, through every page.
pub async fn list_all(w: &Writer) -> Result<Vec<Value>, Fail> {
    let mut all = Vec::new();
    let mut path = "/api/entries?limit=200".to_string();
    loop {
        let (status, page) = w.http(Method::GET, &path, None).await?;
        if status.is_server_error() {
            return Err(Fail::Server(format!("{status} {page}")));
        }
        assert_eq!(status, StatusCode::OK, "{}: list: {page}", w.name);
        all.extend(page["entries"].as_array().unwrap().iter().cloned());
        match (page["next_before"].as_str(), page["next_before_id"].as_str()) {
            (Some(before), Some(id)) => {
                path = format!(
                    "/api/entries?limit=200&before={}&before_id={id}",
                    before.replace('+', "%2B").replace(':', "%3A")
                )
            }
            _ => return Ok(all),
        }
    }
}

/// The ids of the writer's own entries the server lists.
pub async fn own_ids(w: &Writer) -> Result<HashSet<String>, Fail> {
    Ok(list_all(w)
        .await?
        .iter()
        .filter(|e| e["author"]["id"] == w.id.as_str())
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect())
}

/// Finds out whether the pending write had been applied.
async fn probe(w: &Writer, p: &Pending) -> Result<Expect, Fail> {
    let Some(id) = &p.op.entry_id else {
        let new: HashSet<String> = own_ids(w)
            .await?
            .into_iter()
            .filter(|id| !w.entries.by_id.contains_key(id) && !w.orphans.contains(id))
            .collect();
        let sure = !w.abandoned.iter().any(|a| a.op.is_create());
        assert!(
            !sure || new.len() <= 1,
            "{}: one create in flight, yet {} entries nobody was told of: {new:?}",
            w.name,
            new.len()
        );
        return Ok(Expect::Create { new, sure });
    };
    let (status, body) = w.http(Method::GET, &format!("/api/entries/{id}"), None).await?;
    let now = match status {
        StatusCode::OK => Some(&body["entry"]),
        StatusCode::NOT_FOUND => None,
        s if s.is_server_error() => return Err(Fail::Server(format!("{s} {body}"))),
        s => panic!("{}: GET own entry {id}: {s} {body}", w.name),
    };
    Ok(Expect::Replayed(was_applied(&w.name, &p.op, &w.entries.by_id[id], now)))
}

/// Checks an ack against what was known of the write, and records what it promises.
fn acknowledged(w: &mut Writer, p: Pending, via: Via, ack: &Value) -> (String, bool) {
    let who = w.name.clone();
    let op = &p.op;
    let replayed = ack["replayed"]
        .as_bool()
        .unwrap_or_else(|| panic!("{who}: no `replayed` in {ack}"));
    let entry_id = ack["entry_id"].as_str().expect("entry_id").to_string();
    if let Some(id) = &op.entry_id {
        assert_eq!(&entry_id, id, "{who}: {ack}");
    }
    if !p.maybe_applied {
        assert!(!replayed, "{who}: no attempt of {op:?} reached a server, yet: {ack}");
    }
    match &p.expect {
        Some(Expect::Replayed(want)) => {
            assert_eq!(
                replayed,
                *want,
                "{who}: the entry showed {op:?} {} before its retry, whose ack says: {ack}",
                if *want { "applied" } else { "not applied" }
            );
            w.stats.predicted += 1;
        }
        Some(Expect::Create { new, sure }) => {
            if replayed {
                assert!(
                    new.contains(&entry_id),
                    "{who}: replayed create of an entry not found before: {ack}"
                );
            } else {
                assert!(
                    !sure || new.is_empty(),
                    "{who}: create applied as {new:?}, then again: {ack}"
                );
            }
            w.orphans.extend(new.iter().filter(|id| **id != entry_id).cloned());
            w.stats.predicted += 1;
        }
        None => {}
    }
    w.entries.apply(op, &entry_id);
    let e = &w.entries.by_id[&entry_id];
    if e.deleted {
        assert!(ack["entry"].is_null(), "{who}: a deleted entry in the ack: {ack}");
    } else {
        check_writer_view(&format!("{who} (ack of {})", op.label()), &ack["entry"], &entry_id, e);
    }
    *w.stats.acks.entry((op.label(), via)).or_insert(0) += 1;
    w.stats.replayed += usize::from(replayed);
    if let Some(crash) = p.lost_at {
        w.stats.lost_at_crash += 1;
        w.stats.lost_at_crash_replayed += usize::from(replayed);
        w.stats.crashes_hit.insert(crash);
    }
    (entry_id, replayed)
}

/// The load, until `stop`; then the write in hand is finished.
pub async fn run(mut w: Writer, stop: Arc<AtomicBool>, seed: u64) -> Writer {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pending: Option<Pending> = None;
    let mut finish_by: Option<Instant> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            let by = *finish_by.get_or_insert_with(|| Instant::now() + Duration::from_secs(45));
            assert!(
                Instant::now() < by,
                "{}: could not finish its last write within 45 s of the end",
                w.name
            );
            if pending.is_none() {
                break;
            }
        }
        let p = pending.get_or_insert_with(|| Pending::new(w.entries.choose(&mut rng)));
        if p.maybe_applied && p.settled && p.expect.is_none() {
            let sent = w.env.epoch();
            match probe(&w, p).await {
                Ok(expect) => p.expect = Some(expect),
                Err(fail) => {
                    w.note_failure(&fail);
                    recover(&w.env, sent).await;
                    continue;
                }
            }
        }
        let via = if rng.gen_bool(0.5) { Via::Ws } else { Via::Http };
        match w.attempt(&p.op, via).await {
            Ok(ack) => {
                let p = pending.take().unwrap();
                acknowledged(&mut w, p, via, &ack);
            }
            Err(fail) => {
                let sent = w.sent_epoch;
                w.note_failure(&fail);
                p.failed(&fail, sent, &w.env);
                if !matches!(fail, Fail::Server(_)) && rng.gen_bool(0.2) {
                    let p = pending.take().unwrap();
                    if let Some(id) = &p.op.entry_id {
                        w.entries.by_id.get_mut(id).unwrap().frozen = true;
                    }
                    w.abandoned.push(p);
                }
                recover(&w.env, sent).await;
            }
        }
    }
    w
}

/// Retries every write given up on, once, with its request id, after the last crash:
/// each says `replayed` exactly when it had been applied (for creates: the writer's
/// entries it was never told of are exactly those whose retry says replayed). Returns
/// how many said replayed.
pub async fn final_retries(w: &mut Writer) -> usize {
    let known: HashSet<String> = w.entries.by_id.keys().cloned().collect();
    let own = own_ids(w).await.expect("list after the last crash");
    let applied_before: HashSet<String> = own.difference(&known).cloned().collect();
    let abandoned = std::mem::take(&mut w.abandoned);
    let creates = abandoned.iter().filter(|p| p.op.is_create()).count();
    assert!(
        applied_before.len() <= creates,
        "{}: {} entries nobody was told of ({creates} creates given up on): a create applied twice?",
        w.name,
        applied_before.len()
    );
    let mut replayed_creates = HashSet::new();
    let mut replays = 0;
    for (i, mut p) in abandoned.into_iter().enumerate() {
        if !p.op.is_create() && p.maybe_applied && p.settled {
            p.expect = Some(probe(w, &p).await.expect("look at an entry after the last crash"));
        }
        let via = if i % 2 == 0 { Via::Http } else { Via::Ws };
        let create = p.op.is_create();
        let ack = w
            .attempt(&p.op, via)
            .await
            .unwrap_or_else(|f| panic!("{}: a retry after the last crash: {f:?}", w.name));
        let (entry_id, replayed) = acknowledged(w, p, via, &ack);
        replays += usize::from(replayed);
        if create && replayed {
            replayed_creates.insert(entry_id);
        } else if create {
            assert!(
                !applied_before.contains(&entry_id),
                "{}: a create applied before the crash was applied again: {ack}",
                w.name
            );
        }
    }
    assert_eq!(
        replayed_creates, applied_before,
        "{}: the creates found applied are those whose retry says replayed",
        w.name
    );
    replays
}
