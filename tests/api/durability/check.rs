//! The end state after the last crash and the final retries, against the model of every
//! acknowledged write: each applied once, none lost, and each reader seeing exactly what
//! consent allows now.

use std::collections::{BTreeMap, HashMap, HashSet};

use reqwest::StatusCode;
use serde_json::Value;

use super::load::list_all;
use super::model::{check_writer_view, Entry, Via};
use super::writer::{replay_http, EventKey, Writer};
use crate::helpers::Client;

/// The writes every run must have acknowledged over both transports.
const REQUIRED: [&str; 7] = [
    "create",
    "share partner",
    "share therapist",
    "withdraw partner",
    "withdraw therapist",
    "set_outcome",
    "delete",
];

/// The stream of `w` (live, replayed over the websocket and over HTTP) against both
/// partners' writes; returns its length.
pub async fn stream(w: &Writer, partner: &Writer) -> i64 {
    let who = &w.name;
    let (head, replay) = w.replay_ws().await;
    let seqs: Vec<i64> = replay.iter().map(|e| e.0).collect();
    same(
        who,
        "seqs are 1..=head, no gap, no repeat",
        &seqs,
        &(1..=head).collect::<Vec<_>>(),
    );
    same(
        who,
        "the stream over HTTP is the stream over the websocket",
        &replay_http(&w.client).await,
        &replay,
    );
    // Live and replayed, each position names the same entry (rendered as it was then and
    // as it is now: an entry shared then may be withdrawn or deleted now).
    let subject = |e: &EventKey| (e.0, e.2.clone());
    let live: Vec<_> = w.live.iter().map(subject).collect();
    let replayed: Vec<_> = replay.iter().filter(|e| e.0 > w.first_cursor).map(subject).collect();
    same(
        who,
        "what arrived live across the crashes is the stream",
        &live,
        &replayed,
    );

    // An entry takes one position per read of the stream that finds it changed, so at
    // most one per write that told this reader. Positions render the entry as it is now
    // (`entry_removed` if this reader may not see it); a position that said it was
    // removed says so for good, but the last one of an entry they see now is that entry.
    let mut own: HashMap<&str, usize> = HashMap::new();
    let mut theirs: HashMap<&str, usize> = HashMap::new();
    let mut last: HashMap<&str, &str> = HashMap::new();
    for (seq, event, entry) in &replay {
        let Some(id) = entry.as_deref() else {
            assert_eq!(event, "couple", "{who}: event {seq}");
            continue;
        };
        let (e, count, visible) = if let Some(e) = w.entries.by_id.get(id) {
            (e, &mut own, !e.deleted)
        } else if let Some(e) = partner.entries.by_id.get(id) {
            (e, &mut theirs, e.shared())
        } else {
            panic!("{who}: event {seq} ({event}) for {id}, an entry neither partner wrote");
        };
        assert!(
            visible || event == "entry_removed",
            "{who}: event {seq} shows {id}, which they may not see now ({e:?})"
        );
        *count.entry(id).or_insert(0) += 1;
        last.insert(id, event);
    }
    for (id, event) in &last {
        let visible = w
            .entries
            .by_id
            .get(*id)
            .map_or_else(|| partner.entries.by_id[*id].shared(), |e| !e.deleted);
        assert!(
            !visible || *event == "entry",
            "{who}: the last event for {id}, which they see, is {event}"
        );
    }
    for (id, e) in &w.entries.by_id {
        let n = own.get(id.as_str()).copied().unwrap_or(0);
        assert!(
            (usize::from(!e.deleted)..=e.writes).contains(&n),
            "{who}: {n} positions for own entry {id}, after {} writes ({e:?})",
            e.writes
        );
    }
    for (id, e) in &partner.entries.by_id {
        let n = theirs.get(id.as_str()).copied().unwrap_or(0);
        assert!(
            n <= e.partner_writes && (n > 0 || !e.shared()),
            "{who}: {n} positions for the partner's entry {id}, after {} writes that concern this reader ({e:?})",
            e.partner_writes
        );
    }
    head
}

/// Fails, naming the first difference, unless `got` is `want`.
fn same<T: PartialEq + std::fmt::Debug>(who: &str, what: &str, got: &[T], want: &[T]) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{who}: {what}: {} items, {} wanted; first difference at {at}: {:?} / {:?}",
            got.len(),
            want.len(),
            got.get(at),
            want.get(at)
        );
    }
}

/// What `w` lists: every own entry not deleted, as its writes left it, and exactly the
/// partner's entries shared with them now (withdrawn and deleted ones gone, outcomes kept).
pub async fn lists(w: &Writer, partner: &Writer) {
    let who = &w.name;
    let listed = list_all(w).await.expect("list at the end");
    let mut seen = HashSet::new();
    let (mut own, mut theirs) = (HashSet::new(), HashSet::new());
    for v in &listed {
        let id = v["id"].as_str().unwrap().to_string();
        assert!(seen.insert(id.clone()), "{who}: {id} listed twice");
        if let Some(e) = w.entries.by_id.get(&id) {
            check_writer_view(&format!("{who} (list)"), v, &id, e);
            own.insert(id);
        } else if let Some(e) = partner.entries.by_id.get(&id) {
            check_partner_view(who, v, &id, e);
            theirs.insert(id);
        } else {
            panic!("{who}: listed {id}, which no acknowledged write made: {v}");
        }
    }
    let want_own = ids(w, |e| !e.deleted);
    let want_theirs = ids(partner, Entry::shared);
    let lost: Vec<_> = want_own.difference(&own).collect();
    assert!(
        lost.is_empty(),
        "{who}: acknowledged entries missing from the list: {lost:?}"
    );
    let missing: Vec<_> = want_theirs.difference(&theirs).collect();
    assert!(
        missing.is_empty(),
        "{who}: the partner's shared entries missing: {missing:?}"
    );

    // Gone by id as well: own deleted entries, and the partner's once shared, no longer.
    let gone = w.entries.by_id.iter().filter(|(_, e)| e.deleted);
    let hidden = partner
        .entries
        .by_id
        .iter()
        .filter(|(_, e)| !e.shared() && e.partner_writes > 0);
    for (id, e) in gone.chain(hidden) {
        let (status, body) = w.client.get(&format!("/api/entries/{id}")).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{who}: {id} ({e:?}) still readable: {body}"
        );
    }
}

/// An entry as the partner sees it: no consent details, the outcome its writer set.
fn check_partner_view(who: &str, v: &Value, id: &str, e: &Entry) {
    assert!(
        e.shared(),
        "{who}: sees the partner's {id}, not shared with them now ({e:?}): {v}"
    );
    assert!(
        v.get("consent").is_none(),
        "{who}: consent details of the partner's entry: {v}"
    );
    assert_eq!(
        (v["kind"].as_str(), v["body"]["outcome"].as_str()),
        (Some(e.kind), e.outcome),
        "{who}: {v}"
    );
}

fn ids(w: &Writer, keep: impl Fn(&Entry) -> bool) -> HashSet<String> {
    w.entries
        .by_id
        .iter()
        .filter(|(_, e)| keep(e))
        .map(|(id, _)| id.clone())
        .collect()
}

/// The data export: the entries written and shared, and each entry's consent history,
/// one row per applied share or withdrawal (a share applied twice would show twice).
pub async fn export(w: &Writer, partner: &Writer) {
    let who = &w.name;
    let (status, export) = w.client.get("/api/me/export").await;
    assert_eq!(status, StatusCode::OK, "{who}: export: {export}");
    let listed = |key: &str| -> HashSet<String> {
        export[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        listed("entries_written"),
        ids(w, |e| !e.deleted),
        "{who}: entries_written"
    );
    assert_eq!(
        listed("entries_shared_with_me"),
        ids(partner, Entry::shared),
        "{who}: shared with me"
    );
    let mut history: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for row in export["consent_history"].as_array().unwrap() {
        let s = |k: &str| row[k].as_str().unwrap().to_string();
        history
            .entry(s("entry_id"))
            .or_default()
            .push((s("scope"), s("action")));
    }
    for (id, e) in &w.entries.by_id {
        let want: Vec<(String, String)> = if e.deleted {
            Vec::new()
        } else {
            e.consent.iter().map(|(s, a)| (s.to_string(), a.to_string())).collect()
        };
        let got = history.remove(id).unwrap_or_default();
        assert_eq!(got, want, "{who}: consent history of {id} ({e:?})");
    }
    assert!(
        history.is_empty(),
        "{who}: consent history of unknown entries: {history:?}"
    );
}

/// The therapist's summary of a couple holds exactly the entries shared with them now,
/// outcomes included; their stream holds only summary changes, numbered without gaps.
pub async fn therapist(dr: &Client, couple_id: &str, a: &Writer, b: &Writer) -> usize {
    let (status, summary) = dr.get(&format!("/api/summary/{couple_id}?period=7d")).await;
    assert_eq!(status, StatusCode::OK, "therapist summary: {summary}");
    let mut seen = HashSet::new();
    for v in summary["entries"].as_array().unwrap() {
        let id = v["id"].as_str().unwrap().to_string();
        let e = a.entries.by_id.get(&id).or_else(|| b.entries.by_id.get(&id));
        let e = e.unwrap_or_else(|| panic!("the summary of {couple_id} shows an unknown entry: {v}"));
        assert!(
            e.for_therapist(),
            "the summary shows {id}, not shared with the therapist now ({e:?})"
        );
        assert_eq!(v["body"]["outcome"].as_str(), e.outcome, "summary: {v}");
        seen.insert(id);
    }
    let want: HashSet<String> = ids(a, Entry::for_therapist)
        .union(&ids(b, Entry::for_therapist))
        .cloned()
        .collect();
    assert_eq!(
        seen, want,
        "the summary of {couple_id} holds what both shared with the therapist"
    );
    let events = replay_http(dr).await;
    for (i, (seq, event, _)) in events.iter().enumerate() {
        assert_eq!((*seq, event.as_str()), (i as i64 + 1, "summary"), "therapist stream");
    }
    seen.len()
}

/// Every kind of write was acknowledged over both transports; returns the counts.
pub fn coverage(writers: &[Writer]) -> BTreeMap<(String, Via), usize> {
    let mut all = BTreeMap::new();
    for w in writers {
        for (k, n) in &w.stats.acks {
            *all.entry(k.clone()).or_insert(0) += n;
        }
    }
    for label in REQUIRED {
        for via in [Via::Ws, Via::Http] {
            assert!(
                all.get(&(label.to_string(), via)).copied().unwrap_or(0) > 0,
                "no `{label}` was acknowledged over {via:?}: {all:?}"
            );
        }
    }
    all
}
