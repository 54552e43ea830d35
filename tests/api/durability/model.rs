//! The writes partners make, and the model of what each acknowledged write leaves behind:
//! the end state is checked against it.
//!
//! Every write changes something (a share names only scopes not yet shared, an outcome
//! differs from the current one), so each applied write leaves exactly one trace: one
//! change in the writer's stream, one consent-log row per scope. An entry is only ever
//! written by its author, one request at a time, so what a write's ack shows (the entry
//! as it is now, also when replayed) is the model right after that write.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{check_in, new_id};

pub const OUTCOMES: [&str; 3] = ["tried", "went_well", "was_hard"];
const INTIMACY: [&str; 5] = ["intellectual", "emotional", "experiential", "physical", "spiritual"];

/// How a write is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Via {
    Ws,
    Http,
}

#[derive(Clone, Debug)]
pub enum Action {
    Create { kind: &'static str, body: Value },
    Share(Vec<&'static str>),
    Withdraw(Vec<&'static str>),
    Outcome(&'static str),
    Delete,
}

/// One write, with the request id every attempt of it carries.
#[derive(Clone, Debug)]
pub struct Op {
    pub request_id: String,
    /// The entry written (all but creates).
    pub entry_id: Option<String>,
    pub action: Action,
}

impl Op {
    fn on(entry_id: &str, action: Action) -> Op {
        Op {
            request_id: new_id(),
            entry_id: Some(entry_id.to_string()),
            action,
        }
    }

    /// The kind of write, for the coverage count: shares and withdrawals by scope.
    pub fn label(&self) -> String {
        match &self.action {
            Action::Create { .. } => "create".into(),
            Action::Share(s) => format!("share {}", s.join("+")),
            Action::Withdraw(s) => format!("withdraw {}", s.join("+")),
            Action::Outcome(_) => "set_outcome".into(),
            Action::Delete => "delete".into(),
        }
    }

    pub fn is_create(&self) -> bool {
        matches!(self.action, Action::Create { .. })
    }

    /// The websocket message.
    pub fn ws_message(&self) -> Value {
        let rid = &self.request_id;
        let id = self.entry_id.as_deref();
        match &self.action {
            Action::Create { kind, body } => {
                json!({ "type": "create_entry", "request_id": rid, "kind": kind, "body": body })
            }
            Action::Share(s) => json!({ "type": "share", "request_id": rid, "entry_id": id, "scopes": s }),
            Action::Withdraw(s) => json!({ "type": "withdraw", "request_id": rid, "entry_id": id, "scopes": s }),
            Action::Outcome(o) => json!({ "type": "set_outcome", "request_id": rid, "entry_id": id, "outcome": o }),
            Action::Delete => json!({ "type": "delete_entry", "request_id": rid, "entry_id": id }),
        }
    }

    /// The HTTP request: method, path and JSON body.
    pub fn http_request(&self) -> (Method, String, Value) {
        let rid = &self.request_id;
        let path = |tail: &str| format!("/api/entries/{}{tail}", self.entry_id.as_deref().unwrap_or_default());
        match &self.action {
            Action::Create { kind, body } => (
                Method::POST,
                "/api/entries".into(),
                json!({ "request_id": rid, "kind": kind, "body": body }),
            ),
            Action::Share(s) => (Method::POST, path("/share"), json!({ "request_id": rid, "scopes": s })),
            Action::Withdraw(s) => (
                Method::POST,
                path("/withdraw"),
                json!({ "request_id": rid, "scopes": s }),
            ),
            Action::Outcome(o) => (
                Method::POST,
                path("/outcome"),
                json!({ "request_id": rid, "outcome": o }),
            ),
            Action::Delete => (Method::DELETE, path(""), json!({ "request_id": rid })),
        }
    }
}

/// One of a writer's entries, as its acknowledged writes left it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub kind: &'static str,
    pub partner: bool,
    pub therapist: bool,
    pub outcome: Option<&'static str>,
    pub deleted: bool,
    /// A write on it was given up on and awaits the final retry: nothing else touches it
    /// till then, so that retry finds it as the write found it.
    pub frozen: bool,
    /// Writes applied to it: each puts one change in the writer's stream.
    pub writes: usize,
    /// Of those, the ones that put a change in the partner's stream.
    pub partner_writes: usize,
    /// Its consent log: (scope, action), in order.
    pub consent: Vec<(&'static str, &'static str)>,
}

impl Entry {
    fn new(kind: &'static str) -> Entry {
        Entry {
            kind,
            partner: false,
            therapist: false,
            outcome: None,
            deleted: false,
            frozen: false,
            writes: 1,
            partner_writes: 0,
            consent: Vec::new(),
        }
    }

    /// Visible to the partner now.
    pub fn shared(&self) -> bool {
        self.partner && !self.deleted
    }

    /// In the therapist's summary now.
    pub fn for_therapist(&self) -> bool {
        self.therapist && !self.deleted
    }

    /// The entry after `action` (not a create).
    pub fn after(&self, action: &Action) -> Entry {
        let mut e = self.clone();
        e.writes += 1;
        let set = |scopes: &[&'static str], on: bool, e: &mut Entry| {
            for &s in scopes {
                let flag = if s == "partner" {
                    &mut e.partner
                } else {
                    &mut e.therapist
                };
                assert_ne!(*flag, on, "the model only asks for writes that change something");
                *flag = on;
                e.consent.push((s, if on { "share" } else { "withdraw" }));
            }
            if scopes.contains(&"partner") {
                e.partner_writes += 1;
            }
        };
        match action {
            Action::Create { .. } => unreachable!("a create makes a new entry"),
            Action::Share(s) => set(s, true, &mut e),
            Action::Withdraw(s) => set(s, false, &mut e),
            Action::Outcome(o) => {
                e.partner_writes += usize::from(e.partner);
                e.outcome = Some(o);
            }
            Action::Delete => {
                e.partner_writes += usize::from(e.partner);
                e.deleted = true;
            }
        }
        e
    }
}

/// A writer's entries, in the order they were acknowledged.
#[derive(Default)]
pub struct Entries {
    pub by_id: HashMap<String, Entry>,
    pub order: Vec<String>,
}

impl Entries {
    /// Applies an acknowledged write.
    pub fn apply(&mut self, op: &Op, entry_id: &str) {
        match &op.action {
            Action::Create { kind, .. } => {
                let before = self.by_id.insert(entry_id.to_string(), Entry::new(kind));
                assert!(before.is_none(), "a create acknowledged twice with {entry_id}");
                self.order.push(entry_id.to_string());
            }
            action => {
                let e = self.by_id.get_mut(entry_id).expect("a write on a known entry");
                *e = e.after(action);
                e.frozen = false;
            }
        }
    }

    /// The next write: mostly changes to live entries, else a new entry.
    pub fn choose(&self, rng: &mut StdRng) -> Op {
        let live: Vec<&String> = self
            .order
            .iter()
            .filter(|id| !self.by_id[*id].deleted && !self.by_id[*id].frozen)
            .collect();
        if live.len() < 3 || rng.gen_bool(0.3) {
            let (kind, body) = if rng.gen_bool(0.4) {
                let intimacy = INTIMACY.choose(rng).unwrap();
                (
                    "small_step",
                    json!({ "step": "a walk after dinner", "intimacy": intimacy }),
                )
            } else {
                ("check_in", check_in(rng.gen_range(1..=5)))
            };
            return Op {
                request_id: new_id(),
                entry_id: None,
                action: Action::Create { kind, body },
            };
        }
        let id = *live.choose(rng).unwrap();
        let e = &self.by_id[id];
        if rng.gen_bool(0.08) {
            return Op::on(id, Action::Delete);
        }
        let mut options = Vec::new();
        match (e.partner, e.therapist) {
            (false, false) => {
                options.push(Action::Share(vec!["partner"]));
                options.push(Action::Share(vec!["partner"]));
                options.push(Action::Share(vec!["therapist"]));
                options.push(Action::Share(vec!["partner", "therapist"]));
            }
            (true, true) => {
                options.push(Action::Withdraw(vec!["partner"]));
                options.push(Action::Withdraw(vec!["therapist"]));
                options.push(Action::Withdraw(vec!["partner", "therapist"]));
            }
            (true, false) => {
                options.push(Action::Share(vec!["therapist"]));
                options.push(Action::Withdraw(vec!["partner"]));
            }
            (false, true) => {
                options.push(Action::Share(vec!["partner"]));
                options.push(Action::Withdraw(vec!["therapist"]));
            }
        }
        if e.kind == "small_step" {
            let other: Vec<&&str> = OUTCOMES.iter().filter(|o| Some(**o) != e.outcome).collect();
            options.push(Action::Outcome(other.choose(rng).unwrap()));
            options.push(Action::Outcome(other.choose(rng).unwrap()));
        }
        let action = options.swap_remove(rng.gen_range(0..options.len()));
        Op::on(id, action)
    }
}

/// Checks an entry as its writer sees it (an ack's `entry`, a listing, a GET) against
/// the model.
pub fn check_writer_view(who: &str, view: &Value, id: &str, e: &Entry) {
    assert!(!e.deleted, "{who}: {id} is deleted in the model but shown: {view}");
    assert_eq!(view["id"], id, "{who}: {view}");
    assert_eq!(view["kind"], e.kind, "{who}: {view}");
    assert!(view["author"]["id"].is_string(), "{who}: {view}");
    let seen = (
        view["consent"]["partner"].is_string(),
        view["consent"]["therapist"].is_string(),
        view["body"]["outcome"].as_str(),
    );
    assert_eq!(
        seen,
        (e.partner, e.therapist, e.outcome),
        "{who}: entry {id} (partner shared, therapist shared, outcome) differs from what its acknowledged writes left: {view}"
    );
}

/// Whether `op` had been applied, from its entry as the writer sees it now (`None`: gone)
/// and the model before it. A write half applied (one of two scopes) fails the test.
pub fn was_applied(who: &str, op: &Op, before: &Entry, now: Option<&Value>) -> bool {
    let after = before.after(&op.action);
    let Some(view) = now else {
        assert!(after.deleted, "{who}: entry of {op:?} is gone, yet it was not deleted");
        return true;
    };
    if after.deleted {
        return false;
    }
    let seen = (
        view["consent"]["partner"].is_string(),
        view["consent"]["therapist"].is_string(),
        view["body"]["outcome"].as_str(),
    );
    let state = |e: &Entry| (e.partner, e.therapist, e.outcome);
    match (seen == state(before), seen == state(&after)) {
        (true, false) => false,
        (false, true) => true,
        _ => panic!(
            "{who}: after a crash, the entry of {op:?} is neither as before the write nor as after it \
             (partly applied?): {view}"
        ),
    }
}
