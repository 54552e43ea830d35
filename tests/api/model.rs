//! A model-based test of consent (ISSUE 6).
//!
//! proptest draws random sequences of what people do — write drafts, share, withdraw,
//! reply, delete entries, pair and unpair, propose / approve / revoke a therapist, delete
//! accounts — and runs each against a real server (SQLite, fresh per case). Beside it
//! runs a small pure model of what consent allows. After every step, for every person
//! (four partners in two couples to start with, and a therapist), the test compares the
//! server with the model:
//!
//! - `GET /api/entries` lists exactly the entries the model says they may see, with the
//!   writer's consent state right;
//! - `GET /api/entries/{id}` for every entry ever written is 200 if visible, otherwise a
//!   404 identical to the one for an id that never existed;
//! - `GET /api/events?since=0`, the live websocket and `GET /api/me/export` carry no text
//!   of an entry the person may not see now, and no id of one they could never see;
//! - `GET /api/summary/{couple}?period=7d` answers 200 exactly to the couple's partners
//!   and its active therapist while the couple lasts, lists exactly the entries shared
//!   with scope `therapist` (and their replies) — for a partner, only those of the other's
//!   that are shared with them too — and carries no text of any other;
//! - `GET /api/therapist/couples` lists exactly the couples with an active link.
//!
//! Every entry carries a unique marker (`MK007Z`) in its text, so a leak anywhere in a
//! response is a substring match. A failure is shrunk to a minimal sequence of steps.
//! `PROPTEST_CASES` sets the number of cases (default 12); `MODEL_TRACE=1` prints every
//! passing case's steps and the server's answers.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{new_id, spawn_app, Backend, Partner, TestApp, Ws};

const NAMES: [&str; 5] = ["Ana", "Ben", "Cat", "Dan", "Dr Lee"];
const PEOPLE: usize = 5;
const DR: usize = 4;
const KINDS: [&str; 5] = ["check_in", "appreciation", "request", "setback", "small_step"];

/// A person, printed by name in a failing sequence.
#[derive(Clone, Copy, PartialEq, Eq)]
struct U(usize);

impl fmt::Debug for U {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAMES[self.0])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scopes {
    Partner,
    Therapist,
    Both,
}

impl Scopes {
    fn names(self) -> &'static [&'static str] {
        match self {
            Scopes::Partner => &["partner"],
            Scopes::Therapist => &["therapist"],
            Scopes::Both => &["partner", "therapist"],
        }
    }
    fn partner(self) -> bool {
        self != Scopes::Therapist
    }
    fn therapist(self) -> bool {
        self != Scopes::Partner
    }
}

/// Who acts on a chosen entry: its writer, or someone else (who gets "not found").
#[derive(Debug, Clone, Copy)]
enum By {
    Writer,
    Other(U),
}

/// One step. `pick` chooses among the candidates at that moment (modulo their number).
#[derive(Debug, Clone)]
enum Op {
    Draft {
        who: U,
        kind: &'static str,
    },
    /// On an entry not deleted (for `Writer`), or on any entry.
    Share {
        by: By,
        pick: usize,
        scopes: Scopes,
    },
    Withdraw {
        by: By,
        pick: usize,
        scopes: Scopes,
    },
    DeleteEntry {
        by: By,
        pick: usize,
    },
    /// `Shared`: someone replies to an entry shared with them; `Any(who)`: `who` replies
    /// to any entry of another (mostly refused).
    Reply {
        to: ReplyTo,
        pick: usize,
    },
    Unpair {
        who: U,
    },
    Pair {
        inviter: U,
        joiner: U,
    },
    ProposeTherapist {
        who: U,
    },
    /// `None`: the first partner whose couple awaits their approval (if any).
    ApproveTherapist {
        who: Option<U>,
    },
    RevokeTherapist {
        who: U,
    },
    DeleteAccount {
        who: U,
    },
}

#[derive(Debug, Clone, Copy)]
enum ReplyTo {
    Shared,
    Any(U),
}

fn partner() -> impl Strategy<Value = U> {
    (0usize..4).prop_map(U)
}

fn scopes() -> impl Strategy<Value = Scopes> {
    prop_oneof![Just(Scopes::Partner), Just(Scopes::Therapist), Just(Scopes::Both)]
}

fn by() -> impl Strategy<Value = By> {
    prop_oneof![6 => Just(By::Writer), 1 => partner().prop_map(By::Other)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (partner(), 0usize..KINDS.len()).prop_map(|(who, k)| Op::Draft { who, kind: KINDS[k] }),
        6 => (by(), 0usize..16, scopes()).prop_map(|(by, pick, scopes)| Op::Share { by, pick, scopes }),
        3 => (by(), 0usize..16, scopes()).prop_map(|(by, pick, scopes)| Op::Withdraw { by, pick, scopes }),
        1 => (by(), 0usize..16).prop_map(|(by, pick)| Op::DeleteEntry { by, pick }),
        3 => (prop_oneof![4 => Just(ReplyTo::Shared), 1 => partner().prop_map(ReplyTo::Any)], 0usize..16)
            .prop_map(|(to, pick)| Op::Reply { to, pick }),
        2 => partner().prop_map(|who| Op::Unpair { who }),
        2 => (partner(), 1usize..4).prop_map(|(a, d)| Op::Pair { inviter: a, joiner: U((a.0 + d) % 4) }),
        2 => partner().prop_map(|who| Op::ProposeTherapist { who }),
        3 => prop::option::weighted(0.3, partner()).prop_map(|who| Op::ApproveTherapist { who }),
        1 => partner().prop_map(|who| Op::RevokeTherapist { who }),
        1 => (0usize..PEOPLE).prop_map(|w| Op::DeleteAccount { who: U(w) }),
    ]
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Debug)]
struct Couple {
    sid: String,
    a: usize,
    b: Option<usize>,
    ended: bool,
    /// A therapist link that is not revoked: who of (a, b) approved it.
    link: Option<[bool; 2]>,
}

impl Couple {
    fn has(&self, v: usize) -> bool {
        self.a == v || self.b == Some(v)
    }
    fn link_active(&self) -> bool {
        !self.ended && self.link == Some([true, true])
    }
}

#[derive(Debug)]
struct Entry {
    sid: String,
    author: usize,
    kind: &'static str,
    marker: String,
    couple: Option<usize>,
    partner: bool,
    therapist: bool,
    /// Ever shared (the server keeps a consent log): it can no longer follow its writer.
    ever_shared: bool,
    reply_to: Option<usize>,
    deleted: bool,
}

#[derive(Default)]
struct Model {
    couples: Vec<Couple>,
    entries: Vec<Entry>,
    /// The current (not ended) couple of each person, waiting or paired.
    couple_of: [Option<usize>; PEOPLE],
    deleted: [bool; PEOPLE],
    /// Entries each person could see at some moment: only these ids may ever reach them.
    ever_seen: [BTreeSet<usize>; PEOPLE],
}

impl Model {
    fn visible(&self, e: usize, v: usize) -> bool {
        let e = &self.entries[e];
        !e.deleted
            && !self.deleted[v]
            && (e.author == v || (e.partner && e.couple.is_some_and(|c| self.couples[c].has(v))))
    }

    fn visible_set(&self, v: usize) -> BTreeSet<usize> {
        (0..self.entries.len()).filter(|&e| self.visible(e, v)).collect()
    }

    fn paired_couple(&self, v: usize) -> Option<usize> {
        self.couple_of[v].filter(|&c| self.couples[c].b.is_some())
    }

    /// What `v` gets from the summary of couple `c`: `None` for 404, else the entries.
    fn summary(&self, c: usize, v: usize) -> Option<BTreeSet<usize>> {
        let k = &self.couples[c];
        if k.ended || k.b.is_none() || self.deleted[v] {
            return None;
        }
        if !(k.has(v) || (v == DR && k.link_active())) {
            return None;
        }
        // A partner's summary leaves out what the other shared with the therapist alone.
        let counted =
            |e: &Entry| e.couple == Some(c) && !e.deleted && e.therapist && (v == DR || e.author == v || e.partner);
        Some(
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| counted(e) && e.reply_to.is_none_or(|t| counted(&self.entries[t])))
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn end_couple(&mut self, c: usize) {
        let k = &mut self.couples[c];
        k.ended = true;
        k.link = None;
        let members = [Some(k.a), k.b];
        for m in members.into_iter().flatten() {
            if self.couple_of[m] == Some(c) {
                self.couple_of[m] = None;
            }
        }
    }

    /// The entry an op acts on, and who acts.
    fn pick_entry(&self, by: By, pick: usize) -> Option<(usize, usize)> {
        let n = self.entries.len();
        let live: Vec<usize> = (0..n).filter(|&e| !self.entries[e].deleted).collect();
        let list: Vec<usize> = match by {
            By::Writer if !live.is_empty() => live,
            _ => (0..n).collect(),
        };
        let e = *list.get(pick % list.len().max(1))?;
        Some(match by {
            By::Writer => (e, self.entries[e].author),
            By::Other(U(who)) => (e, who),
        })
    }

    /// The entry a reply answers, and who replies.
    fn pick_reply(&self, to: ReplyTo, pick: usize) -> Option<(usize, usize)> {
        let n = self.entries.len();
        let shared: Vec<(usize, usize)> = (0..n)
            .flat_map(|e| (0..PEOPLE).map(move |v| (e, v)))
            .filter(|&(e, v)| self.entries[e].author != v && self.visible(e, v))
            .collect();
        let list: Vec<(usize, usize)> = match to {
            ReplyTo::Shared if !shared.is_empty() => shared,
            ReplyTo::Shared => return None,
            ReplyTo::Any(U(who)) => (0..n)
                .filter(|&e| self.entries[e].author != who)
                .map(|e| (e, who))
                .collect(),
        };
        list.get(pick % list.len().max(1)).copied()
    }
}

fn body_for(kind: &str, marker: &str) -> Value {
    match kind {
        "check_in" => {
            json!({ "mood": 3, "closeness": 0, "emotions": ["calm"], "felt_appreciated": "yes", "ready_to_talk": "later", "note": marker })
        }
        "appreciation" => json!({ "text": marker, "shown_by": "words" }),
        "request" => json!({ "about": marker, "options": [format!("walk {marker}"), format!("talk {marker}")] }),
        "setback" => json!({ "what_happened": marker, "how_hard": 2, "would_help": "reassurance" }),
        "small_step" => json!({ "step": marker, "intimacy": "emotional" }),
        other => unreachable!("{other}"),
    }
}

fn reply_body(target_sid: &str, target_kind: &str, marker: &str) -> Value {
    match target_kind {
        "request" => json!({ "to": target_sid, "choice": { "option": 0 }, "note": marker }),
        "setback" => json!({ "to": target_sid, "choice": { "support": "im_here_when_ready" }, "note": marker }),
        _ => json!({ "to": target_sid, "note": marker }),
    }
}

// ---------------------------------------------------------------------------------------
// The real server, driven step by step.

struct World {
    app: TestApp,
    users: Vec<Partner>,
    ws: Vec<Option<Ws>>,
    m: Model,
    trace: Vec<String>,
    syncs: u64,
}

type Check = Result<(), String>;

fn expect(what: &str, got: StatusCode, want: u16, body: &Value) -> Check {
    if got.as_u16() == want {
        Ok(())
    } else {
        Err(format!("{what}: expected {want}, got {got}: {body}"))
    }
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

impl World {
    async fn start() -> World {
        let app = spawn_app(Backend::Sqlite).await.expect("sqlite is always available");
        let mut users = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            users.push(app.signup(name, if i == DR { "therapist" } else { "partner" }).await);
        }
        let mut ws = Vec::new();
        for u in &users {
            ws.push(Some(u.ws(None).await));
        }
        let mut w = World {
            app,
            users,
            ws,
            m: Model::default(),
            trace: Vec::new(),
            syncs: 0,
        };
        w.pair(0, 1).await.expect("Ana and Ben pair");
        w.pair(2, 3).await.expect("Cat and Dan pair");
        w
    }

    fn sid(&self, e: usize) -> &str {
        &self.m.entries[e].sid
    }

    /// Applies one step to the server and the model; checks the server's answer.
    async fn step(&mut self, op: &Op) -> Result<String, String> {
        let m = &self.m;
        match *op {
            Op::Draft { who: U(who), kind } => {
                let marker = format!("MK{:03}Z", m.entries.len());
                let (s, b) = self.users[who]
                    .client
                    .post(
                        "/api/entries",
                        json!({ "request_id": new_id(), "kind": kind, "body": body_for(kind, &marker) }),
                    )
                    .await;
                let want = if m.deleted[who] { 401 } else { 201 };
                expect("create", s, want, &b)?;
                if want == 201 {
                    let sid = b["entry_id"].as_str().ok_or("no entry_id")?.to_string();
                    let couple = m.couple_of[who];
                    self.m.entries.push(Entry {
                        sid,
                        author: who,
                        kind,
                        marker: marker.clone(),
                        couple,
                        partner: false,
                        therapist: false,
                        ever_shared: false,
                        reply_to: None,
                        deleted: false,
                    });
                }
                if want == 201 {
                    return Ok(format!("{s} entry #{} {marker}", self.m.entries.len() - 1));
                }
                Ok(s.to_string())
            }
            Op::Share { by, pick, scopes } | Op::Withdraw { by, pick, scopes } => {
                let share = matches!(op, Op::Share { .. });
                let Some((e, who)) = m.pick_entry(by, pick) else {
                    return Ok("skipped: no entry".into());
                };
                let entry = &m.entries[e];
                let action = if share { "share" } else { "withdraw" };
                let cur = m.paired_couple(who);
                let want = if m.deleted[who] {
                    401
                } else if entry.author != who || entry.deleted {
                    404
                } else if !share {
                    200
                } else if cur.is_none() {
                    409
                } else if entry.ever_shared && entry.couple.is_some_and(|c| Some(c) != cur) {
                    409
                } else {
                    200
                };
                let (s, b) = self.users[who]
                    .client
                    .post(
                        &format!("/api/entries/{}/{action}", self.sid(e)),
                        json!({ "request_id": new_id(), "scopes": scopes.names() }),
                    )
                    .await;
                expect(action, s, want, &b)?;
                if want == 200 {
                    let entry = &mut self.m.entries[e];
                    let mut changed = false;
                    if scopes.partner() && entry.partner != share {
                        entry.partner = share;
                        changed = true;
                    }
                    if scopes.therapist() && entry.therapist != share {
                        entry.therapist = share;
                        changed = true;
                    }
                    if share && changed {
                        entry.couple = cur;
                        entry.ever_shared = true;
                    }
                    let consent = &b["entry"]["consent"];
                    if consent["partner"].is_string() != entry.partner
                        || consent["therapist"].is_string() != entry.therapist
                    {
                        return Err(format!("{action} answered consent {consent}, model has {entry:?}"));
                    }
                }
                Ok(format!("{} {s} on entry #{e}", NAMES[who]))
            }
            Op::Reply { to, pick } => {
                let Some((t, who)) = m.pick_reply(to, pick) else {
                    return Ok("skipped: no entry".into());
                };
                let target = &m.entries[t];
                let marker = format!("MK{:03}Z", m.entries.len());
                let want = if m.deleted[who] {
                    401
                } else if !m.visible(t, who) || target.kind == "reply" {
                    422
                } else if m.couple_of[who] != target.couple {
                    409
                } else {
                    201
                };
                let (s, b) = self.users[who]
                    .client
                    .post(
                        "/api/entries",
                        json!({ "request_id": new_id(), "kind": "reply", "body": reply_body(&target.sid, target.kind, &marker) }),
                    )
                    .await;
                expect("reply", s, want, &b)?;
                if want == 201 {
                    let sid = b["entry_id"].as_str().ok_or("no entry_id")?.to_string();
                    let couple = target.couple;
                    self.m.entries.push(Entry {
                        sid,
                        author: who,
                        kind: "reply",
                        marker: marker.clone(),
                        couple,
                        partner: true,
                        therapist: false,
                        ever_shared: true,
                        reply_to: Some(t),
                        deleted: false,
                    });
                    return Ok(format!(
                        "{} {s} to entry #{t}: entry #{} {marker}",
                        NAMES[who],
                        self.m.entries.len() - 1
                    ));
                }
                Ok(format!("{} {s} to entry #{t}", NAMES[who]))
            }
            Op::DeleteEntry { by, pick } => {
                let Some((e, who)) = m.pick_entry(by, pick) else {
                    return Ok("skipped: no entry".into());
                };
                let entry = &m.entries[e];
                let want = if m.deleted[who] {
                    401
                } else if entry.author != who || entry.deleted {
                    404
                } else {
                    200
                };
                let (s, b) = self.users[who]
                    .client
                    .delete(
                        &format!("/api/entries/{}", entry.sid),
                        json!({ "request_id": new_id() }),
                    )
                    .await;
                expect("delete entry", s, want, &b)?;
                if want == 200 {
                    self.m.entries[e].deleted = true;
                }
                Ok(format!("{} {s} on entry #{e}", NAMES[who]))
            }
            Op::Unpair { who: U(who) } => {
                let want = if m.deleted[who] {
                    401
                } else if m.couple_of[who].is_none() {
                    409
                } else {
                    200
                };
                let (s, b) = self.users[who].client.post("/api/couple/unpair", json!({})).await;
                expect("unpair", s, want, &b)?;
                if let (200, Some(c)) = (want, m.couple_of[who]) {
                    self.m.end_couple(c);
                }
                Ok(s.to_string())
            }
            Op::Pair {
                inviter: U(x),
                joiner: U(y),
            } => self.pair(x, y).await,
            Op::ProposeTherapist { who: U(who) } => {
                let cur = m.paired_couple(who);
                let want = if m.deleted[who] {
                    401
                } else if cur.is_none() || m.couples[cur.unwrap()].link.is_some() {
                    409
                } else if m.deleted[DR] {
                    404
                } else {
                    201
                };
                let (s, b) = self.users[who]
                    .client
                    .post("/api/couple/therapist", json!({ "email": self.users[DR].email }))
                    .await;
                expect("propose therapist", s, want, &b)?;
                if let (201, Some(c)) = (want, cur) {
                    let k = &mut self.m.couples[c];
                    k.link = Some([k.a == who, k.b == Some(who)]);
                }
                Ok(s.to_string())
            }
            Op::ApproveTherapist { .. } | Op::RevokeTherapist { .. } => {
                let (approve, who) = match *op {
                    Op::ApproveTherapist { who: Some(U(who)) } => (true, who),
                    Op::ApproveTherapist { who: None } => {
                        let pending = (0..4).find(|&v| {
                            m.couple_of[v].is_some_and(|c| {
                                let k = &m.couples[c];
                                k.link.is_some_and(|l| !l[usize::from(k.a != v)])
                            })
                        });
                        match pending {
                            Some(v) => (true, v),
                            None => return Ok("skipped: nobody to approve".into()),
                        }
                    }
                    Op::RevokeTherapist { who: U(who) } => (false, who),
                    _ => unreachable!(),
                };
                let cur = m.couple_of[who];
                let want = if m.deleted[who] {
                    401
                } else if cur.is_none_or(|c| m.couples[c].link.is_none()) {
                    404
                } else {
                    200
                };
                let path = if approve { "approve" } else { "revoke" };
                let (s, b) = self.users[who]
                    .client
                    .post(&format!("/api/couple/therapist/{path}"), json!({}))
                    .await;
                expect(path, s, want, &b)?;
                if let (200, Some(c)) = (want, cur) {
                    let k = &mut self.m.couples[c];
                    if approve {
                        let mut link = k.link.unwrap();
                        link[usize::from(k.a != who)] = true;
                        k.link = Some(link);
                    } else {
                        k.link = None;
                    }
                    let status = &b["couple"]["therapist"]["status"];
                    let want_status = match k.link {
                        None => Value::Null,
                        Some(_) if k.link_active() => json!("active"),
                        Some(_) => json!("proposed"),
                    };
                    if *status != want_status {
                        return Err(format!("{path}: link status {status}, model {want_status}"));
                    }
                }
                Ok(format!("{} {s}", NAMES[who]))
            }
            Op::DeleteAccount { who: U(who) } => {
                let want = if m.deleted[who] { 401 } else { 200 };
                let password = self.users[who].password.clone();
                let (s, b) = self.users[who]
                    .client
                    .delete("/api/me", json!({ "password": password }))
                    .await;
                expect("delete account", s, want, &b)?;
                if want == 200 {
                    for e in self.m.entries.iter_mut().filter(|e| e.author == who) {
                        e.deleted = true;
                    }
                    if let Some(c) = self.m.couple_of[who] {
                        self.m.end_couple(c);
                    }
                    if who == DR {
                        for k in &mut self.m.couples {
                            k.link = None;
                        }
                    }
                    self.m.deleted[who] = true;
                    // Its sockets are closed by the server.
                    self.ws[who] = None;
                }
                Ok(s.to_string())
            }
        }
    }

    /// `x` invites, `y` joins with the code.
    async fn pair(&mut self, x: usize, y: usize) -> Result<String, String> {
        let want = if self.m.deleted[x] {
            401
        } else if self.m.paired_couple(x).is_some() {
            409
        } else {
            201
        };
        let (s, b) = self.users[x].client.post("/api/couple", json!({})).await;
        expect("invite", s, want, &b)?;
        if want != 201 {
            return Ok(format!("invite {s}"));
        }
        let sid = b["couple"]["id"].as_str().ok_or("no couple id")?.to_string();
        let c = match self.m.couple_of[x] {
            Some(c) => c,
            None => {
                self.m.couples.push(Couple {
                    sid: sid.clone(),
                    a: x,
                    b: None,
                    ended: false,
                    link: None,
                });
                self.m.couple_of[x] = Some(self.m.couples.len() - 1);
                self.m.couples.len() - 1
            }
        };
        if self.m.couples[c].sid != sid {
            return Err(format!(
                "invite answered couple {sid}, model has {:?}",
                self.m.couples[c]
            ));
        }
        let code = b["invite"]["code"].clone();
        let want = if self.m.deleted[y] {
            401
        } else if self.m.couple_of[y].is_some() {
            409
        } else {
            200
        };
        let (s, b) = self.users[y]
            .client
            .post("/api/couple/join", json!({ "code": code }))
            .await;
        expect("join", s, want, &b)?;
        if want == 200 {
            self.m.couples[c].b = Some(y);
            self.m.couple_of[y] = Some(c);
        }
        Ok(format!("invite 201 (couple #{c}), join {s}"))
    }

    /// Reads everything the websocket delivered up to now: two sync messages (unknown
    /// type, answered with an error naming the request) bracket every event committed
    /// before the first one was sent.
    async fn drain(&mut self, v: usize) -> Result<Vec<Value>, String> {
        self.syncs += 1;
        let tag = format!("sync-{}", self.syncs);
        let Some(ws) = self.ws[v].as_mut() else {
            return Ok(Vec::new());
        };
        let mut got = Vec::new();
        for round in 0..2 {
            let rid = format!("{tag}-{round}");
            ws.stream
                .send(Message::Text(
                    json!({ "type": "sync", "request_id": rid }).to_string().into(),
                ))
                .await
                .map_err(|e| format!("{}'s websocket: send failed: {e}", NAMES[v]))?;
            loop {
                let msg = tokio::time::timeout(Duration::from_secs(10), ws.stream.next())
                    .await
                    .map_err(|_| format!("{}'s websocket: no answer to {rid}", NAMES[v]))?;
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        let value: Value =
                            serde_json::from_str(t.as_str()).map_err(|e| format!("websocket JSON: {e}"))?;
                        if value["type"] == "error" && value["request_id"] == rid.as_str() {
                            break;
                        }
                        got.push(value);
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => return Err(format!("{}'s websocket ended: {other:?}", NAMES[v])),
                }
            }
        }
        Ok(got)
    }

    /// Markers of entries outside `allowed`, and ids of entries `v` could never see,
    /// found in `text`.
    fn leaks(&self, v: usize, text: &str, allowed: &BTreeSet<usize>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, e) in self.m.entries.iter().enumerate() {
            if !allowed.contains(&i) && text.contains(&e.marker) {
                out.push(format!("text of entry #{i} ({})", e.marker));
            }
            if !self.m.ever_seen[v].contains(&i) && text.contains(&e.sid) {
                out.push(format!("id of entry #{i}, never visible to {}", NAMES[v]));
            }
        }
        out
    }

    /// Everything `v` can read, against the model.
    async fn check_reads(&self, v: usize, visible: &BTreeSet<usize>) -> Check {
        let who = NAMES[v];
        let client = &self.users[v].client;
        let fail = |what: &str, detail: String| Err(format!("{who}: {what}: {detail}"));

        // The listing.
        let (s, list) = client.get("/api/entries?limit=200").await;
        expect(&format!("{who}: list"), s, 200, &list)?;
        let listed: BTreeSet<String> = ids_of(&list["entries"]).into_iter().collect();
        let want: BTreeSet<String> = visible.iter().map(|&e| self.sid(e).to_string()).collect();
        if listed != want {
            return fail("GET /api/entries", format!("listed {listed:?}, model {want:?}"));
        }
        for item in list["entries"].as_array().into_iter().flatten() {
            let e = self.m.entries.iter().find(|e| item["id"] == e.sid.as_str()).unwrap();
            let mine = e.author == v;
            let consent = &item["consent"];
            let ok = item["mine"] == mine
                && if mine {
                    consent["partner"].is_string() == e.partner && consent["therapist"].is_string() == e.therapist
                } else {
                    item.get("consent").is_none()
                };
            if !ok {
                return fail("GET /api/entries", format!("entry {item} vs model {e:?}"));
            }
        }
        let leaks = self.leaks(v, &list.to_string(), visible);
        if !leaks.is_empty() {
            return fail("GET /api/entries leaks", format!("{leaks:?}"));
        }

        // Each entry by id: 200 iff visible, else the very 404 of an unknown id.
        let (_, unknown) = client.get(&format!("/api/entries/{}", new_id())).await;
        for (i, e) in self.m.entries.iter().enumerate() {
            let (s, b) = client.get(&format!("/api/entries/{}", e.sid)).await;
            if visible.contains(&i) {
                if s != StatusCode::OK || !b.to_string().contains(&e.marker) {
                    return fail(&format!("GET entry #{i}"), format!("visible, got {s} {b}"));
                }
            } else if s != StatusCode::NOT_FOUND || b != unknown {
                return fail(
                    &format!("GET entry #{i}"),
                    format!("not visible, got {s} {b} (unknown id: {unknown})"),
                );
            }
        }

        // The event catch-up from the start.
        let (s, events) = client.get("/api/events?since=0&limit=1000").await;
        expect(&format!("{who}: events"), s, 200, &events)?;
        let leaks = self.leaks(v, &events.to_string(), visible);
        if !leaks.is_empty() {
            return fail("GET /api/events?since=0 leaks", format!("{leaks:?}"));
        }
        for ev in events["events"].as_array().into_iter().flatten() {
            if ev["event"] == "entry" {
                let id = &ev["entry"]["id"];
                if !visible.iter().any(|&e| *id == self.sid(e)) {
                    return fail(
                        "GET /api/events?since=0",
                        format!("event for an entry not visible now: {ev}"),
                    );
                }
            }
        }

        // The data export.
        let (s, export) = client.get("/api/me/export").await;
        expect(&format!("{who}: export"), s, 200, &export)?;
        let leaks = self.leaks(v, &export.to_string(), visible);
        if !leaks.is_empty() {
            return fail("GET /api/me/export leaks", format!("{leaks:?}"));
        }
        let written: BTreeSet<String> = ids_of(&export["entries_written"]).into_iter().collect();
        let shared: BTreeSet<String> = ids_of(&export["entries_shared_with_me"]).into_iter().collect();
        let (own, others): (BTreeSet<String>, BTreeSet<String>) = want
            .iter()
            .cloned()
            .partition(|id| self.m.entries.iter().any(|e| e.sid == *id && e.author == v));
        if written != own || shared != others {
            return fail(
                "GET /api/me/export",
                format!("written {written:?} shared {shared:?}, model {own:?} / {others:?}"),
            );
        }

        // Every couple's summary.
        let (_, unknown) = client.get(&format!("/api/summary/{}?period=7d", new_id())).await;
        for (c, k) in self.m.couples.iter().enumerate() {
            let (s, b) = client.get(&format!("/api/summary/{}?period=7d", k.sid)).await;
            match self.m.summary(c, v) {
                None => {
                    if s != StatusCode::NOT_FOUND || b != unknown {
                        return fail(&format!("summary of couple #{c}"), format!("expected 404, got {s} {b}"));
                    }
                }
                Some(expected) => {
                    if s != StatusCode::OK {
                        return fail(&format!("summary of couple #{c}"), format!("expected 200, got {s} {b}"));
                    }
                    let got: BTreeSet<String> = ids_of(&b["entries"]).into_iter().collect();
                    let want: BTreeSet<String> = expected.iter().map(|&e| self.sid(e).to_string()).collect();
                    if got != want {
                        return fail(
                            &format!("summary of couple #{c}"),
                            format!("entries {got:?}, model {want:?}"),
                        );
                    }
                    let text = b.to_string();
                    let leaked: Vec<usize> = (0..self.m.entries.len())
                        .filter(|e| !expected.contains(e) && text.contains(&self.m.entries[*e].marker))
                        .collect();
                    if !leaked.is_empty() {
                        return fail(
                            &format!("summary of couple #{c}"),
                            format!("text of entries {leaked:?}"),
                        );
                    }
                }
            }
        }
        if v == DR {
            let (s, b) = client.get("/api/therapist/couples").await;
            expect("Dr: couples", s, 200, &b)?;
            let got: BTreeSet<String> = b["couples"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["couple_id"].as_str().map(str::to_string))
                .collect();
            let want: BTreeSet<String> = self
                .m
                .couples
                .iter()
                .filter(|k| k.link_active() && k.b.is_some())
                .map(|k| k.sid.clone())
                .collect();
            if got != want {
                return fail("GET /api/therapist/couples", format!("{got:?}, model {want:?}"));
            }
        }
        Ok(())
    }

    /// The consent invariants, for everyone, now.
    async fn check(&mut self) -> Check {
        let visible: Vec<BTreeSet<usize>> = (0..PEOPLE).map(|v| self.m.visible_set(v)).collect();
        for v in 0..PEOPLE {
            self.m.ever_seen[v].extend(visible[v].iter().copied());
        }
        // Live: what each open websocket received since the last step.
        for v in 0..PEOPLE {
            if self.m.deleted[v] {
                continue;
            }
            let msgs = self.drain(v).await?;
            for msg in &msgs {
                let text = msg.to_string();
                let leaks = self.leaks(v, &text, &visible[v]);
                if !leaks.is_empty() {
                    return Err(format!("{}'s websocket leaks {leaks:?} in {msg}", NAMES[v]));
                }
                if msg["type"] != "event" {
                    return Err(format!("{}'s websocket: unexpected message {msg}", NAMES[v]));
                }
                if msg["event"] == "entry" && !visible[v].iter().any(|&e| msg["entry"]["id"] == self.sid(e)) {
                    return Err(format!("{}'s websocket: entry not visible now: {msg}", NAMES[v]));
                }
            }
        }
        let this = &*self;
        let results = futures_util::future::join_all(
            (0..PEOPLE)
                .filter(|&v| !this.m.deleted[v])
                .map(|v| this.check_reads(v, &visible[v])),
        )
        .await;
        results.into_iter().collect()
    }
}

async fn run_case(ops: Vec<Op>) -> Result<(), String> {
    let mut w = World::start().await;
    let describe = |w: &World, i: usize, err: String| {
        format!(
            "consent model violated at step {i}: {err}\nsteps:\n{}\nentries: {:#?}\ncouples: {:#?}",
            w.trace.join("\n"),
            w.m.entries,
            w.m.couples
        )
    };
    w.check().await.map_err(|e| describe(&w, 0, e))?;
    for (i, op) in ops.iter().enumerate() {
        let outcome = w.step(op).await;
        let line = format!("  {:>2}. {op:?} -> {}", i + 1, outcome.as_deref().unwrap_or_else(|e| e));
        w.trace.push(line);
        if let Err(e) = outcome {
            return Err(describe(&w, i + 1, e));
        }
        w.check().await.map_err(|e| describe(&w, i + 1, e))?;
    }
    if std::env::var_os("MODEL_TRACE").is_some() {
        eprintln!("case passed:\n{}", w.trace.join("\n"));
    }
    w.app.stop().await;
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

#[test]
fn consent_model() {
    let config = Config {
        cases: cases(),
        max_shrink_iters: 400,
        max_shrink_time: 300_000,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    // Steps are optional so that shrinking can drop any of them (None) while a random
    // case still has some 10 to 25 real steps.
    let steps = prop::collection::vec(prop::option::weighted(0.9, op()), 12..=28);
    let result = runner.run(&steps, |ops| {
        let ops: Vec<Op> = ops.into_iter().flatten().collect();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run_case(ops)).map_err(TestCaseError::fail)
    });
    eprintln!("consent model: {} cases in {:.1?}", cases(), started.elapsed());
    if let Err(e) = result {
        panic!("{e}");
    }
}
