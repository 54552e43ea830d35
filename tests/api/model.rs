//! A model-based test of consent, on SQLite and on PostgreSQL.
//!
//! proptest draws random sequences of what people do — write drafts, share, withdraw,
//! share and withdraw again while nobody else reads, reply, delete entries, pair and
//! unpair, propose / approve / revoke a therapist, delete accounts — and runs each against
//! a real server (one per backend, shared by every case; each case signs up its own five
//! people: four partners in two couples to start with, the first with its therapist's
//! access active, and that therapist). Beside it runs a
//! small pure model of what consent allows. After every step, for every person, the test
//! compares the server with the model:
//!
//! - `GET /api/entries` lists exactly the entries the model says they may see, each one
//!   exactly as the model renders it (body, writer, reply link, creation time, the
//!   writer's consent times or the partner's `shared_at`), and paging it with `limit`
//!   1 to 3 along `next_before` / `next_before_id` gives the same entries as one page;
//! - `GET /api/entries/{id}` for every entry ever written is that same view if visible,
//!   otherwise a 404 identical to the one for an id that never existed;
//! - `GET /api/events?since=0` holds exactly `head` events numbered 1..=head, every
//!   `entry` event showing the model's view; paging it with `limit` 1 to 3 gives the same
//!   events; the live websocket delivers the same events, in order, without gaps, and a
//!   websocket opened with `since` reports `ready.head` equal to the HTTP `head` and
//!   replays exactly the events after `since`;
//! - **cursors never move on hidden activity**: the model keeps, per person, what they
//!   may see (their entries with consent times, the other partner's shared entries, their
//!   couple and its therapist link; for the therapist, each couple's summary as it counts
//!   for them). A person's `head` moves across a step exactly when that changed (the
//!   actor of an invite or of a share-and-withdraw excepted). So a draft, a share with
//!   the therapist alone seen from the partner, a share with the partner alone seen from
//!   the therapist, anything of another couple, and a share withdrawn again before anyone
//!   read their stream (their websockets closed meanwhile) leave it where it was;
//! - events, websocket messages and `GET /api/me/export` carry no text of an entry the
//!   person may not see now, and no id of one they could never see;
//! - `GET /api/summary/{couple}?period=7d` answers 200 exactly to the couple's partners
//!   and its active therapist while the couple lasts, lists exactly the entries the model
//!   counts for that reader (a partner's is the therapist's minus what the other shared
//!   with the therapist alone, replies only with what they answer), each as the model
//!   renders it, and **every figure** (counts, mood and closeness averages and points,
//!   emotions, appreciation, requests answered, setbacks, small steps; for each partner
//!   and the couple) equals the one computed from the model's entries for that reader;
//! - `GET /api/therapist/couples` lists exactly the couples with an active link, each with
//!   `last_shared_at` the latest share-with-therapist time of what its summary counts.
//!
//! Every entry has its own body (mood, emotions, closeness, appreciation felt, options,
//! how hard, intimacy… drawn from its index and a generated salt) and a unique marker
//! (`MK007Z`) in its text, so a figure counting the wrong entry differs and a leak anywhere
//! in a response is a substring match. A failure is shrunk to a minimal sequence of steps
//! and its seed saved in `tests/api/model.proptest-regressions` (commit it: saved seeds
//! run first). `MODEL_CASES` sets the number of cases per backend (default 12),
//! `MODEL_SEED` the seed (printed at start), `MODEL_TRACE=1` prints every passing case.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tandem::entry::{Emotion, FeltAppreciated, Intimacy, Outcome, ReadyToTalk, ShownBy, Support, WouldHelp};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::both_backends;
use crate::helpers::{fresh_database, new_id, spawn_on, Backend, Client, Partner, TestApp, Ws};

both_backends!(consent_model);

/// Failing seeds, replayed before new cases (relative to the crate, like `cargo test`).
const REGRESSIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/model.proptest-regressions");

const NAMES: [&str; 5] = ["Ana", "Ben", "Cat", "Dan", "Dr Lee"];
const PEOPLE: usize = 5;
const DR: usize = 4;
const KINDS: [&str; 5] = ["check_in", "appreciation", "request", "setback", "small_step"];
/// How long the websocket may take to deliver what `GET /api/events` already numbered.
const WS_WAIT: Duration = Duration::from_secs(10);

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

/// One step. `pick` chooses among the candidates at that moment (modulo their number);
/// `salt` varies bodies and reply choices.
#[derive(Debug, Clone)]
enum Op {
    Draft {
        who: U,
        kind: &'static str,
        salt: u8,
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
    /// The writer of a live entry shares it and withdraws the same scopes at once, while
    /// nobody else reads their stream (their websockets are closed meanwhile).
    ShareWithdraw {
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
        salt: u8,
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
        8 => (partner(), 0usize..KINDS.len(), any::<u8>())
            .prop_map(|(who, k, salt)| Op::Draft { who, kind: KINDS[k], salt }),
        8 => (by(), 0usize..16, scopes()).prop_map(|(by, pick, scopes)| Op::Share { by, pick, scopes }),
        3 => (by(), 0usize..16, scopes()).prop_map(|(by, pick, scopes)| Op::Withdraw { by, pick, scopes }),
        3 => (0usize..16, scopes()).prop_map(|(pick, scopes)| Op::ShareWithdraw { pick, scopes }),
        1 => (by(), 0usize..16).prop_map(|(by, pick)| Op::DeleteEntry { by, pick }),
        4 => (prop_oneof![4 => Just(ReplyTo::Shared), 1 => partner().prop_map(ReplyTo::Any)], 0usize..16, any::<u8>())
            .prop_map(|(to, pick, salt)| Op::Reply { to, pick, salt }),
        1 => partner().prop_map(|who| Op::Unpair { who }),
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
    /// The body as the server keeps it.
    body: Value,
    created_at: String,
    couple: Option<usize>,
    /// When it was shared with the partner / the therapist, as the server answered.
    partner_at: Option<String>,
    therapist_at: Option<String>,
    /// Ever shared (the server keeps a consent log): it can no longer follow its writer.
    ever_shared: bool,
    reply_to: Option<usize>,
    /// A reply that no longer says what it answered (that entry's writer deleted their account).
    orphaned: bool,
    /// Bumped when the entry itself changes after it was written (not its consent).
    version: u32,
    deleted: bool,
}

impl Entry {
    fn partner(&self) -> bool {
        self.partner_at.is_some()
    }
    fn therapist(&self) -> bool {
        self.therapist_at.is_some()
    }
    /// The entry it answers, as the server says it.
    fn answers(&self) -> Option<usize> {
        self.reply_to.filter(|_| !self.orphaned)
    }
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
    /// The server's user ids.
    ids: Vec<String>,
}

impl Model {
    fn visible(&self, e: usize, v: usize) -> bool {
        let e = &self.entries[e];
        !e.deleted
            && !self.deleted[v]
            && (e.author == v || (e.partner() && e.couple.is_some_and(|c| self.couples[c].has(v))))
    }

    fn visible_set(&self, v: usize) -> BTreeSet<usize> {
        (0..self.entries.len()).filter(|&e| self.visible(e, v)).collect()
    }

    fn paired_couple(&self, v: usize) -> Option<usize> {
        self.couple_of[v].filter(|&c| self.couples[c].b.is_some())
    }

    /// Whether `v` reads couple `c`'s summary (else 404).
    fn reads_summary(&self, c: usize, v: usize) -> bool {
        let k = &self.couples[c];
        !k.ended && k.b.is_some() && !self.deleted[v] && (k.has(v) || (v == DR && k.link_active()))
    }

    /// The entries couple `c`'s summary counts for `v` (all time), oldest first: shared
    /// with the therapist; for a partner, their own or the other's shared with them too; a
    /// reply only with the entry it answers.
    fn summary_set(&self, c: usize, v: usize) -> Vec<usize> {
        let counted =
            |e: &Entry| e.couple == Some(c) && !e.deleted && e.therapist() && (v == DR || e.author == v || e.partner());
        let mut set: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                counted(e)
                    && (e.kind != "reply"
                        || e.answers().is_some_and(|t| {
                            let t = &self.entries[t];
                            t.kind != "reply" && counted(t)
                        }))
            })
            .collect();
        set.sort_by(|&x, &y| {
            let (x, y) = (&self.entries[x], &self.entries[y]);
            (&x.created_at, &x.sid).cmp(&(&y.created_at, &y.sid))
        });
        set
    }

    /// What `v` may see, as one comparable value: their couple as shown to them, the
    /// entries they see with what of them is shown; for the therapist, each couple's
    /// summary as it counts for them. Their stream moves exactly when this changes.
    fn fingerprint(&self, v: usize) -> String {
        if self.deleted[v] {
            return "deleted".into();
        }
        if v == DR {
            let per: Vec<_> = (0..self.couples.len())
                .filter(|&c| self.couples[c].link_active())
                .map(|c| {
                    let counted: Vec<_> = self
                        .summary_set(c, DR)
                        .into_iter()
                        .map(|e| (e, self.entries[e].therapist_at.clone(), self.entries[e].version))
                        .collect();
                    (c, counted)
                })
                .collect();
            return format!("{per:?}");
        }
        let couple = self.couple_of[v].map(|c| {
            let k = &self.couples[c];
            let me = usize::from(k.a != v);
            (c, k.b.is_some(), k.link.map(|l| (l[me], l[1 - me], k.link_active())))
        });
        let entries: Vec<_> = self
            .visible_set(v)
            .into_iter()
            .map(|e| {
                let x = &self.entries[e];
                let own = (x.author == v).then(|| x.therapist_at.clone());
                (e, x.partner_at.clone(), own, x.version)
            })
            .collect();
        format!("{couple:?} {entries:?}")
    }

    fn author_json(&self, e: &Entry) -> Value {
        json!({ "id": self.ids[e.author], "display_name": NAMES[e.author] })
    }

    /// Entry `e` as `v` sees it (writer or partner view), without `updated_at`.
    fn view(&self, e: usize, v: usize) -> Value {
        let x = &self.entries[e];
        let mut view = json!({
            "id": x.sid,
            "kind": x.kind,
            "body": x.body,
            "author": self.author_json(x),
            "mine": x.author == v,
            "reply_to": x.answers().map(|t| self.entries[t].sid.clone()),
            "created_at": x.created_at,
        });
        if x.author == v {
            view["consent"] = json!({ "partner": x.partner_at, "therapist": x.therapist_at });
        } else {
            view["shared_at"] = json!(x.partner_at);
        }
        view
    }

    /// Entry `e` as the summary lists it.
    fn summary_view(&self, e: usize) -> Value {
        let x = &self.entries[e];
        json!({
            "id": x.sid,
            "kind": x.kind,
            "body": x.body,
            "author": self.author_json(x),
            "reply_to": x.answers().map(|t| self.entries[t].sid.clone()),
            "created_at": x.created_at,
            "shared_at": x.therapist_at,
        })
    }

    /// The summary's figures for the entries `set` (as counted for its reader), of one
    /// writer or (`None`) both.
    fn figures(&self, set: &[usize], writer: Option<usize>) -> Value {
        fn zeros(names: &[&str]) -> BTreeMap<String, i64> {
            names.iter().map(|n| (n.to_string(), 0)).collect()
        }
        fn bump(map: &mut BTreeMap<String, i64>, key: &str) {
            *map.entry(key.to_string()).or_insert(0) += 1;
        }
        fn average(values: &[i64]) -> Value {
            if values.is_empty() {
                return Value::Null;
            }
            let avg = values.iter().sum::<i64>() as f64 / values.len() as f64;
            json!((avg * 10.0).round() / 10.0)
        }
        let answers = |i: usize| -> Vec<usize> {
            set.iter()
                .copied()
                .filter(|&r| self.entries[r].kind == "reply" && self.entries[r].answers() == Some(i))
                .collect()
        };
        let (mut moods, mut closeness, mut mood_points, mut closeness_points) = (vec![], vec![], vec![], vec![]);
        let mut emotions = BTreeMap::new();
        let mut felt = zeros(FeltAppreciated::ALL);
        let mut balance = zeros(&["more_closeness", "just_right", "more_space"]);
        let mut shown_by = zeros(ShownBy::ALL);
        let mut would_help = zeros(WouldHelp::ALL);
        let mut by_intimacy = zeros(Intimacy::ALL);
        let mut outcomes = zeros(Outcome::ALL);
        outcomes.insert("not_marked".into(), 0);
        let (mut count, mut check_ins, mut given, mut made, mut answered, mut chosen, mut lets_talk) =
            (0, 0, 0, 0, 0, 0, 0);
        let (mut setbacks, mut replied_to, mut how_hard, mut steps, mut replies) = (0, 0, vec![], 0, 0);
        for &i in set {
            let e = &self.entries[i];
            if writer.is_some_and(|w| e.author != w) {
                continue;
            }
            count += 1;
            let b = &e.body;
            match e.kind {
                "check_in" => {
                    check_ins += 1;
                    let (mood, close) = (b["mood"].as_i64().unwrap(), b["closeness"].as_i64().unwrap());
                    moods.push(mood);
                    closeness.push(close);
                    let author = &self.ids[e.author];
                    mood_points.push(json!({ "at": e.created_at, "value": mood, "author_id": author }));
                    closeness_points.push(json!({ "at": e.created_at, "value": close, "author_id": author }));
                    for em in b["emotions"].as_array().unwrap() {
                        bump(&mut emotions, em.as_str().unwrap());
                    }
                    bump(&mut felt, b["felt_appreciated"].as_str().unwrap());
                    let side = if close < 0 {
                        "more_closeness"
                    } else if close > 0 {
                        "more_space"
                    } else {
                        "just_right"
                    };
                    bump(&mut balance, side);
                }
                "appreciation" => {
                    given += 1;
                    bump(&mut shown_by, b["shown_by"].as_str().unwrap());
                }
                "request" => {
                    made += 1;
                    let rs = answers(i);
                    if !rs.is_empty() {
                        answered += 1;
                    }
                    for r in rs {
                        match &self.entries[r].body["choice"] {
                            Value::String(s) if s == "none_of_these" => lets_talk += 1,
                            Value::Object(o) if o.contains_key("option") => chosen += 1,
                            _ => {}
                        }
                    }
                }
                "setback" => {
                    setbacks += 1;
                    how_hard.push(b["how_hard"].as_i64().unwrap());
                    bump(&mut would_help, b["would_help"].as_str().unwrap());
                    if !answers(i).is_empty() {
                        replied_to += 1;
                    }
                }
                "small_step" => {
                    steps += 1;
                    bump(&mut by_intimacy, b["intimacy"].as_str().unwrap());
                    bump(&mut outcomes, "not_marked");
                }
                "reply" => replies += 1,
                other => unreachable!("{other}"),
            }
        }
        json!({
            "entries": count,
            "check_ins": check_ins,
            "mood": { "average": average(&moods), "points": mood_points },
            "emotions": emotions,
            "closeness": { "average": average(&closeness), "balance": balance, "points": closeness_points },
            "appreciation": { "given": given, "shown_by": shown_by, "felt": felt },
            "requests": { "made": made, "answered": answered, "option_chosen": chosen, "lets_talk": lets_talk },
            "setbacks": { "shared": setbacks, "replied_to": replied_to, "average_how_hard": average(&how_hard), "would_help": would_help },
            "small_steps": { "total": steps, "by_intimacy": by_intimacy, "outcomes": outcomes },
            "replies": replies,
        })
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

/// A body of its own for entry number `i`: every figure it feeds differs from its neighbours'.
fn body_for(kind: &str, i: usize, salt: u8, marker: &str) -> Value {
    let n = i + salt as usize;
    match kind {
        "check_in" => {
            let emotions: Vec<&str> = (0..n % 4)
                .map(|k| Emotion::ALL[(n * 7 + k * 5) % Emotion::ALL.len()])
                .collect();
            json!({
                "mood": 1 + (n % 5) as i64,
                "closeness": ((n / 2 + i) % 5) as i64 - 2,
                "emotions": emotions,
                "felt_appreciated": FeltAppreciated::ALL[(n / 3) % FeltAppreciated::ALL.len()],
                "ready_to_talk": ReadyToTalk::ALL[n % ReadyToTalk::ALL.len()],
                "note": marker,
            })
        }
        "appreciation" => json!({ "text": marker, "shown_by": ShownBy::ALL[n % ShownBy::ALL.len()] }),
        "request" => {
            let options: Vec<String> = (0..2 + n % 3).map(|k| format!("option {k} {marker}")).collect();
            json!({ "about": marker, "options": options })
        }
        "setback" => json!({
            "what_happened": marker,
            "how_hard": 1 + (n % 5) as i64,
            "would_help": WouldHelp::ALL[(n / 2) % WouldHelp::ALL.len()],
        }),
        "small_step" => json!({ "step": marker, "intimacy": Intimacy::ALL[n % Intimacy::ALL.len()] }),
        other => unreachable!("{other}"),
    }
}

/// A reply to `target`: an option or "let's talk" for a request, a supportive choice (or
/// just a note) for a setback, a note otherwise.
fn reply_body(target: &Entry, salt: u8, marker: &str) -> Value {
    let choice = match target.kind {
        "request" => {
            let n = target.body["options"].as_array().map_or(2, Vec::len);
            if salt % 3 == 0 {
                Some(json!("none_of_these"))
            } else {
                Some(json!({ "option": salt as usize % n }))
            }
        }
        "setback" if salt % 4 != 0 => Some(json!({ "support": Support::ALL[salt as usize % Support::ALL.len()] })),
        _ => None,
    };
    let mut body = json!({ "to": target.sid, "note": marker });
    if let Some(c) = choice {
        body["choice"] = c;
    }
    body
}

// ---------------------------------------------------------------------------------------
// The real server, driven step by step.

struct World {
    users: Vec<Partner>,
    ws: Vec<Option<Ws>>,
    m: Model,
    trace: Vec<String>,
    /// The step being checked (0: the start).
    step_no: usize,
    /// The last `seq` each person's websocket delivered.
    ws_seq: [i64; PEOPLE],
    /// `ready.head` of websockets reopened during the step, to compare with the HTTP head.
    ready_head: [Option<i64>; PEOPLE],
    /// Each person's head and fingerprint at the last check.
    head: [i64; PEOPLE],
    seen: Vec<String>,
    /// How far each person's stream was paged with small limits.
    paged: [i64; PEOPLE],
    /// Who may get an event this step without what they may see changing: the actor of an
    /// invite (a new code) or of a share-and-withdraw (their own two writes).
    exempt: Vec<usize>,
    /// This step's websocket messages are rendered between its writes (pairing, or a
    /// share-and-withdraw): compare them with the HTTP events by position and subject only.
    multi_write: bool,
    /// The 404s of an entry and of a summary that do not exist, as each person gets them.
    unknown: Vec<(Value, Value)>,
    /// Entries this step wrote or acted on, and what each person saw at the last check:
    /// these are read by id at every check (every entry in a deep check).
    touched: BTreeSet<usize>,
    prev_visible: Vec<BTreeSet<usize>>,
}

type Check = Result<(), String>;

fn expect(what: &str, got: StatusCode, want: u16, body: &Value) -> Check {
    if got.as_u16() == want {
        Ok(())
    } else {
        Err(format!("{what}: expected {want}, got {got}: {body}"))
    }
}

async fn get_ok(client: &Client, path: &str) -> Result<Value, String> {
    let (s, b) = client.get(path).await;
    if s == StatusCode::OK {
        Ok(b)
    } else {
        Err(format!("GET {path}: expected 200, got {s}: {b}"))
    }
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
    v
}

/// Figures with their chart points in a fixed order (entries created in the same
/// millisecond may come in either order).
fn normalized(figures: &Value) -> Value {
    let mut f = figures.clone();
    for key in ["mood", "closeness"] {
        if let Some(points) = f[key]["points"].as_array_mut() {
            points.sort_by_key(|p| p.to_string());
        }
    }
    f
}

/// The next JSON message of a websocket (pings skipped), within `WS_WAIT`.
async fn recv(ws: &mut Ws, who: &str) -> Result<Value, String> {
    loop {
        let msg = tokio::time::timeout(WS_WAIT, ws.stream.next())
            .await
            .map_err(|_| format!("{who}'s websocket: nothing within {WS_WAIT:?}"))?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str()).map_err(|e| format!("{who}'s websocket: JSON: {e}"))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return Err(format!("{who}'s websocket ended: {other:?}")),
        }
    }
}

/// Opens a websocket (from `since`, if given) and returns it with its `ready` message.
async fn connect(client: &Client, since: Option<i64>, who: &str) -> Result<(Ws, Value), String> {
    let base = client.base.replace("http://", "ws://");
    let url = match since {
        Some(s) => format!("{base}/api/ws?since={s}"),
        None => format!("{base}/api/ws"),
    };
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    req.headers_mut().insert("Origin", client.origin.parse().unwrap());
    if let Some(c) = client.cookie() {
        req.headers_mut().insert("Cookie", c.parse().unwrap());
    }
    let (stream, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| format!("{who}'s websocket does not connect: {e}"))?;
    let mut ws = Ws { stream };
    let ready = recv(&mut ws, who).await?;
    if ready["type"] != "ready" {
        return Err(format!("{who}'s websocket: first message {ready}"));
    }
    Ok((ws, ready))
}

/// Closes a websocket and waits until the server has read the close (it reads nothing
/// after it: no change is numbered for this connection from then on).
async fn close(mut ws: Ws, who: &str) -> Check {
    let _ = ws.stream.close(None).await;
    loop {
        match tokio::time::timeout(WS_WAIT, ws.stream.next()).await {
            Err(_) => {
                return Err(format!(
                    "{who}'s websocket: the server did not close within {WS_WAIT:?}"
                ))
            }
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return Ok(()),
            Ok(Some(Ok(Message::Text(t)))) => {
                return Err(format!("{who}'s websocket: unexpected message while closing: {t}"));
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// What one person's reads came to.
struct Read {
    head: i64,
    events: Vec<Value>,
    paged: i64,
}

impl World {
    async fn start(app: &TestApp) -> Result<World, String> {
        // Fresh people for each case, signed up at once (each sign-up hashes a password).
        let users = futures_util::future::join_all(
            NAMES
                .iter()
                .enumerate()
                .map(|(i, name)| app.signup(name, if i == DR { "therapist" } else { "partner" })),
        )
        .await;
        let mut ws = Vec::new();
        let mut ws_seq = [0; PEOPLE];
        for (i, u) in users.iter().enumerate() {
            let (socket, ready) = connect(&u.client, None, NAMES[i]).await?;
            ws_seq[i] = ready["head"].as_i64().ok_or("ready without head")?;
            ws.push(Some(socket));
        }
        let mut unknown = Vec::new();
        for u in &users {
            let (_, entry) = u.client.get(&format!("/api/entries/{}", new_id())).await;
            let (_, summary) = u.client.get(&format!("/api/summary/{}?period=7d", new_id())).await;
            unknown.push((entry, summary));
        }
        let m = Model {
            ids: users.iter().map(|u| u.id.clone()).collect(),
            ..Model::default()
        };
        let mut w = World {
            users,
            ws,
            m,
            trace: Vec::new(),
            step_no: 0,
            ws_seq,
            ready_head: [None; PEOPLE],
            head: [0; PEOPLE],
            seen: Vec::new(),
            paged: [0; PEOPLE],
            exempt: Vec::new(),
            // The inviters' websockets render their couple between invite and join.
            multi_write: true,
            unknown,
            touched: BTreeSet::new(),
            prev_visible: vec![BTreeSet::new(); PEOPLE],
        };
        w.pair(0, 1).await.map_err(|e| format!("Ana and Ben pair: {e}"))?;
        w.pair(2, 3).await.map_err(|e| format!("Cat and Dan pair: {e}"))?;
        // Ana and Ben start with the therapist's access active; Cat and Dan without.
        for op in [
            Op::ProposeTherapist { who: U(0) },
            Op::ApproveTherapist { who: Some(U(1)) },
        ] {
            w.step(&op).await.map_err(|e| format!("{op:?}: {e}"))?;
        }
        w.multi_write = true;
        Ok(w)
    }

    fn sid(&self, e: usize) -> &str {
        &self.m.entries[e].sid
    }

    /// Applies one step to the server and the model; checks the server's answer.
    async fn step(&mut self, op: &Op) -> Result<String, String> {
        self.exempt.clear();
        self.multi_write = false;
        self.touched.clear();
        let m = &self.m;
        match *op {
            Op::Draft {
                who: U(who),
                kind,
                salt,
            } => {
                let i = m.entries.len();
                let marker = format!("MK{i:03}Z");
                let body = body_for(kind, i, salt, &marker);
                let (s, b) = self.users[who]
                    .client
                    .post(
                        "/api/entries",
                        json!({ "request_id": new_id(), "kind": kind, "body": body }),
                    )
                    .await;
                let want = if m.deleted[who] { 401 } else { 201 };
                expect("create", s, want, &b)?;
                if want != 201 {
                    return Ok(s.to_string());
                }
                let sid = b["entry_id"].as_str().ok_or("no entry_id")?.to_string();
                let created_at = b["entry"]["created_at"].as_str().ok_or("no created_at")?.to_string();
                let couple = m.couple_of[who];
                self.m.entries.push(Entry {
                    sid,
                    author: who,
                    kind,
                    marker: marker.clone(),
                    body,
                    created_at,
                    couple,
                    partner_at: None,
                    therapist_at: None,
                    ever_shared: false,
                    reply_to: None,
                    orphaned: false,
                    version: 0,
                    deleted: false,
                });
                self.touched.insert(i);
                let view = self.m.view(i, who);
                if without(&b["entry"], "updated_at") != view {
                    return Err(format!("create answered {}, model {view}", b["entry"]));
                }
                Ok(format!("{s} entry #{i} {marker}"))
            }
            Op::Share { by, pick, scopes } | Op::Withdraw { by, pick, scopes } => {
                let share = matches!(op, Op::Share { .. });
                let Some((e, who)) = m.pick_entry(by, pick) else {
                    return Ok("skipped: no entry".into());
                };
                self.consent(e, who, scopes, share).await
            }
            Op::ShareWithdraw { pick, scopes } => {
                let Some((e, who)) = m.pick_entry(By::Writer, pick) else {
                    return Ok("skipped: no entry".into());
                };
                self.exempt.push(who);
                self.multi_write = true;
                // Nobody else reads their stream meanwhile: what was shared and withdrawn
                // again before anyone read it takes no position in their streams.
                let others: Vec<usize> = (0..PEOPLE).filter(|&v| v != who).collect();
                for &v in &others {
                    if let Some(ws) = self.ws[v].take() {
                        close(ws, NAMES[v]).await?;
                    }
                }
                let shared = self.consent(e, who, scopes, true).await?;
                let withdrawn = self.consent(e, who, scopes, false).await?;
                for &v in &others {
                    if self.m.deleted[v] {
                        continue;
                    }
                    let (ws, ready) = connect(&self.users[v].client, Some(self.ws_seq[v]), NAMES[v]).await?;
                    if ready["since"] != self.ws_seq[v] || ready["reset"] != false {
                        return Err(format!("{} reconnects from {}: {ready}", NAMES[v], self.ws_seq[v]));
                    }
                    self.ready_head[v] = ready["head"].as_i64();
                    self.ws[v] = Some(ws);
                }
                Ok(format!("{shared}; {withdrawn}"))
            }
            Op::Reply { to, pick, salt } => {
                let Some((t, who)) = m.pick_reply(to, pick) else {
                    return Ok("skipped: no entry".into());
                };
                self.touched.insert(t);
                let target = &m.entries[t];
                let i = m.entries.len();
                let marker = format!("MK{i:03}Z");
                let want = if m.deleted[who] {
                    401
                } else if !m.visible(t, who) || target.kind == "reply" {
                    422
                } else if m.couple_of[who] != target.couple {
                    409
                } else {
                    201
                };
                let body = reply_body(target, salt, &marker);
                let (s, b) = self.users[who]
                    .client
                    .post(
                        "/api/entries",
                        json!({ "request_id": new_id(), "kind": "reply", "body": body }),
                    )
                    .await;
                expect("reply", s, want, &b)?;
                if want != 201 {
                    return Ok(format!("{} {s} to entry #{t}", NAMES[who]));
                }
                let sid = b["entry_id"].as_str().ok_or("no entry_id")?.to_string();
                let created_at = b["entry"]["created_at"].as_str().ok_or("no created_at")?.to_string();
                let partner_at = b["entry"]["consent"]["partner"].as_str().map(str::to_string);
                let couple = target.couple;
                self.m.entries.push(Entry {
                    sid,
                    author: who,
                    kind: "reply",
                    marker: marker.clone(),
                    body,
                    created_at,
                    couple,
                    partner_at,
                    therapist_at: None,
                    ever_shared: true,
                    reply_to: Some(t),
                    orphaned: false,
                    version: 0,
                    deleted: false,
                });
                self.touched.insert(i);
                if self.m.entries[i].partner_at.is_none() {
                    return Err(format!("a reply is shared with the partner as it is sent: {b}"));
                }
                let view = self.m.view(i, who);
                if without(&b["entry"], "updated_at") != view {
                    return Err(format!("reply answered {}, model {view}", b["entry"]));
                }
                Ok(format!("{} {s} to entry #{t}: entry #{i} {marker}", NAMES[who]))
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
                self.touched.insert(e);
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
            } => {
                self.multi_write = true;
                self.pair(x, y).await
            }
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
                    let m = &mut self.m;
                    for e in m.entries.iter_mut().filter(|e| e.author == who) {
                        e.deleted = true;
                    }
                    // Replies to them, in any of their couples, no longer say what they answered.
                    for e in m.entries.iter_mut() {
                        let in_their_couple = e.couple.is_some_and(|c| m.couples[c].has(who));
                        if !e.deleted && e.kind == "reply" && !e.orphaned && in_their_couple {
                            e.orphaned = true;
                            e.version += 1;
                            if let Some(o) = e.body.as_object_mut() {
                                o.remove("to");
                            }
                        }
                    }
                    if let Some(c) = m.couple_of[who] {
                        m.end_couple(c);
                    }
                    if who == DR {
                        for k in &mut m.couples {
                            k.link = None;
                        }
                    }
                    m.deleted[who] = true;
                    // Its sockets are closed by the server.
                    self.ws[who] = None;
                }
                Ok(s.to_string())
            }
        }
    }

    /// `who` shares (or withdraws) `scopes` of entry `e`.
    async fn consent(&mut self, e: usize, who: usize, scopes: Scopes, share: bool) -> Result<String, String> {
        self.touched.insert(e);
        let m = &self.m;
        let entry = &m.entries[e];
        let action = if share { "share" } else { "withdraw" };
        let cur = m.paired_couple(who);
        let want = if m.deleted[who] {
            401
        } else if entry.author != who || entry.deleted {
            404
        } else if !share {
            200
        } else if cur.is_none() || (entry.ever_shared && entry.couple.is_some_and(|c| Some(c) != cur)) {
            // Not paired, or shared in an earlier pairing.
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
            let consent = &b["entry"]["consent"];
            let at = |scope: &str| -> Result<Option<String>, String> {
                if !share {
                    return Ok(None);
                }
                match consent[scope].as_str() {
                    Some(t) => Ok(Some(t.to_string())),
                    None => Err(format!("share answered no {scope} time: {consent}")),
                }
            };
            let entry = &mut self.m.entries[e];
            let mut changed = false;
            if scopes.partner() && entry.partner() != share {
                entry.partner_at = at("partner")?;
                changed = true;
            }
            if scopes.therapist() && entry.therapist() != share {
                entry.therapist_at = at("therapist")?;
                changed = true;
            }
            if share && changed {
                entry.couple = cur;
                entry.ever_shared = true;
            }
            let view = self.m.view(e, who);
            if without(&b["entry"], "updated_at") != view {
                return Err(format!("{action} answered {}, model {view}", b["entry"]));
            }
        }
        Ok(format!("{} {action} {s} on entry #{e}", NAMES[who]))
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
        // A new code: the inviter's stream says so, whatever else changes.
        self.exempt.push(x);
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

    fn entry_index(&self, sid: &Value) -> Option<usize> {
        self.m.entries.iter().position(|e| *sid == e.sid.as_str())
    }

    /// Checks one event as rendered now for `v` against the model.
    fn check_event(&self, v: usize, ev: &Value, visible: &BTreeSet<usize>) -> Check {
        let leaks = self.leaks(v, &ev.to_string(), visible);
        if !leaks.is_empty() {
            return Err(format!("leaks {leaks:?} in {ev}"));
        }
        if ev["type"] != "event" {
            return Err(format!("not an event: {ev}"));
        }
        let kind = ev["event"].as_str().unwrap_or_default();
        let allowed: &[&str] = if v == DR {
            &["summary"]
        } else {
            &["entry", "entry_removed", "couple"]
        };
        if !allowed.contains(&kind) {
            return Err(format!("{} may not get this event: {ev}", NAMES[v]));
        }
        if kind == "entry" {
            let e = self
                .entry_index(&ev["entry"]["id"])
                .filter(|e| visible.contains(e))
                .ok_or_else(|| format!("event for an entry not visible now: {ev}"))?;
            let view = self.m.view(e, v);
            if without(&ev["entry"], "updated_at") != view {
                return Err(format!("event {ev}, model {view}"));
            }
        }
        Ok(())
    }

    /// Everything `v` can read over HTTP, against the model; `deep` adds paging from the
    /// start, every entry by id and a websocket resume.
    async fn check_reads(&self, v: usize, visible: &BTreeSet<usize>, deep: bool) -> Result<Read, String> {
        let who = NAMES[v];
        let client = &self.users[v].client;
        let fail = |what: &str, detail: String| format!("{who}: {what}: {detail}");
        let small = 1 + (self.step_no + v) % 3;

        // The stream from the start: exactly `head` events, numbered 1..=head.
        let all = get_ok(client, "/api/events?since=0&limit=1000").await?;
        let head = all["head"]
            .as_i64()
            .ok_or_else(|| format!("{who}: events without head: {all}"))?;
        let events: Vec<Value> = all["events"].as_array().cloned().unwrap_or_default();
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap_or(-1)).collect();
        if seqs != (1..=head).collect::<Vec<_>>() || all["next_since"] != head {
            return Err(fail(
                "GET /api/events?since=0",
                format!("head {head}, next_since {}, seqs {seqs:?}", all["next_since"]),
            ));
        }
        for ev in &events {
            if let Err(e) = self.check_event(v, ev, visible) {
                return Err(fail("GET /api/events?since=0", e));
            }
        }
        // The same events, paged with a small limit (from the start, or from where the
        // last check stopped).
        let mut since = if deep { 0 } else { self.paged[v] };
        while since < head {
            let page = get_ok(client, &format!("/api/events?since={since}&limit={small}")).await?;
            let end = (since + small as i64).min(head);
            let want = &events[since as usize..end as usize];
            if page["head"] != head
                || page["next_since"] != end
                || page["events"].as_array().map(Vec::as_slice) != Some(want)
            {
                return Err(fail(
                    &format!("GET /api/events?since={since}&limit={small}"),
                    format!("{page}, expected events {since}+1..={end} of head {head}"),
                ));
            }
            since = end;
        }
        if deep {
            let page = get_ok(client, &format!("/api/events?since={head}&limit={small}")).await?;
            if page != json!({ "events": [], "head": head, "next_since": head }) {
                return Err(fail(&format!("GET /api/events?since={head}"), format!("{page}")));
            }
        }

        // The listing, each entry as the model renders it.
        let list = get_ok(client, "/api/entries?limit=200").await?;
        let items: Vec<Value> = list["entries"].as_array().cloned().unwrap_or_default();
        let listed: BTreeSet<String> = ids_of(&list["entries"]).into_iter().collect();
        let want: BTreeSet<String> = visible.iter().map(|&e| self.sid(e).to_string()).collect();
        if listed != want || items.len() != want.len() {
            return Err(fail("GET /api/entries", format!("listed {listed:?}, model {want:?}")));
        }
        for item in &items {
            let e = self.entry_index(&item["id"]).unwrap();
            let view = self.m.view(e, v);
            if without(item, "updated_at") != view {
                return Err(fail("GET /api/entries", format!("entry {item}, model {view}")));
            }
        }
        let leaks = self.leaks(v, &list.to_string(), visible);
        if !leaks.is_empty() {
            return Err(fail("GET /api/entries leaks", format!("{leaks:?}")));
        }
        if deep {
            // Paged with a small limit along the cursor, the same entries.
            let mut paged = Vec::new();
            let mut path = format!("/api/entries?limit={small}");
            for _ in 0..=items.len() + 1 {
                let page = get_ok(client, &path).await?;
                let got = page["entries"].as_array().cloned().unwrap_or_default();
                let cursor = (page["next_before"].clone(), page["next_before_id"].clone());
                let want_cursor = match got.last() {
                    Some(last) if got.len() == small => (last["created_at"].clone(), last["id"].clone()),
                    _ => (Value::Null, Value::Null),
                };
                if cursor != want_cursor {
                    return Err(fail(
                        &format!("GET {path}"),
                        format!("cursor {cursor:?} after {} entries", got.len()),
                    ));
                }
                paged.extend(got);
                match cursor {
                    (Value::String(before), Value::String(id)) => {
                        path = format!("/api/entries?limit={small}&before={before}&before_id={id}")
                    }
                    _ => break,
                }
            }
            if paged != items {
                return Err(fail(
                    &format!("GET /api/entries paged by {small}"),
                    format!("{:?}, one page {:?}", ids_of(&json!(paged)), ids_of(&json!(items))),
                ));
            }
        }

        // Entries by id: the same view if visible, else the very 404 of an unknown id;
        // every entry when deep, else those the step touched.
        let unknown = &self.unknown[v].0;
        for (i, e) in self.m.entries.iter().enumerate() {
            if !deep && !self.touched.contains(&i) && self.prev_visible[v].contains(&i) == visible.contains(&i) {
                continue;
            }
            let (s, b) = client.get(&format!("/api/entries/{}", e.sid)).await;
            if visible.contains(&i) {
                let view = self.m.view(i, v);
                if s != StatusCode::OK || without(&b["entry"], "updated_at") != view {
                    return Err(fail(
                        &format!("GET entry #{i}"),
                        format!("visible, got {s} {b}, model {view}"),
                    ));
                }
            } else if s != StatusCode::NOT_FOUND || b != *unknown {
                return Err(fail(
                    &format!("GET entry #{i}"),
                    format!("not visible, got {s} {b} (unknown id: {unknown})"),
                ));
            }
        }

        // The data export.
        let export = get_ok(client, "/api/me/export").await?;
        let leaks = self.leaks(v, &export.to_string(), visible);
        if !leaks.is_empty() {
            return Err(fail("GET /api/me/export leaks", format!("{leaks:?}")));
        }
        let written: BTreeSet<String> = ids_of(&export["entries_written"]).into_iter().collect();
        let shared: BTreeSet<String> = ids_of(&export["entries_shared_with_me"]).into_iter().collect();
        let (own, others): (BTreeSet<String>, BTreeSet<String>) = want
            .iter()
            .cloned()
            .partition(|id| self.m.entries.iter().any(|e| e.sid == *id && e.author == v));
        if written != own || shared != others {
            return Err(fail(
                "GET /api/me/export",
                format!("written {written:?} shared {shared:?}, model {own:?} / {others:?}"),
            ));
        }

        // Every couple's summary: who reads it, what it lists and every figure.
        let unknown = &self.unknown[v].1;
        for (c, k) in self.m.couples.iter().enumerate() {
            let (s, b) = client.get(&format!("/api/summary/{}?period=7d", k.sid)).await;
            let what = format!("summary of couple #{c}");
            if !self.m.reads_summary(c, v) {
                if s != StatusCode::NOT_FOUND || b != *unknown {
                    return Err(fail(
                        &what,
                        format!("expected the 404 of an unknown couple, got {s} {b}"),
                    ));
                }
                continue;
            }
            if s != StatusCode::OK {
                return Err(fail(&what, format!("expected 200, got {s} {b}")));
            }
            self.check_summary(v, c, &b).map_err(|e| fail(&what, e))?;
        }
        if v == DR {
            self.check_couples_list(client)
                .await
                .map_err(|e| fail("GET /api/therapist/couples", e))?;
        }

        // A websocket opened from a position: its head is the HTTP head, and it replays
        // exactly the events after that position.
        if deep {
            let from = head / 2;
            let (mut ws, ready) = connect(client, Some(from), who).await?;
            if ready["head"] != head || ready["since"] != from || ready["reset"] != false {
                return Err(fail(
                    &format!("websocket from {from}"),
                    format!("{ready}, HTTP head {head}"),
                ));
            }
            for want in &events[from as usize..] {
                let got = recv(&mut ws, who).await?;
                if got != *want {
                    return Err(fail(
                        &format!("websocket from {from}"),
                        format!("{got}, HTTP had {want}"),
                    ));
                }
            }
            close(ws, who).await?;
        }
        Ok(Read {
            head,
            events,
            paged: head,
        })
    }

    /// A 200 summary of couple `c` as `v` reads it, against the model.
    fn check_summary(&self, v: usize, c: usize, b: &Value) -> Check {
        let set = self.m.summary_set(c, v);
        let k = &self.m.couples[c];
        let got: BTreeSet<String> = ids_of(&b["entries"]).into_iter().collect();
        let want: BTreeSet<String> = set.iter().map(|&e| self.sid(e).to_string()).collect();
        if got != want {
            return Err(format!("entries {got:?}, model {want:?}"));
        }
        for item in b["entries"].as_array().into_iter().flatten() {
            let e = self.entry_index(&item["id"]).unwrap();
            let view = self.m.summary_view(e);
            if *item != view {
                return Err(format!("entry {item}, model {view}"));
            }
        }
        let text = b.to_string();
        let leaked: Vec<usize> = (0..self.m.entries.len())
            .filter(|e| !set.contains(e) && text.contains(&self.m.entries[*e].marker))
            .collect();
        if !leaked.is_empty() {
            return Err(format!("text of entries {leaked:?}"));
        }
        // Every figure, for each partner and for the couple.
        let members = [Some(k.a), k.b];
        let partners = b["partners"].as_array().cloned().unwrap_or_default();
        if partners.len() != 2 {
            return Err(format!("partners {}", b["partners"]));
        }
        for (p, m) in partners.iter().zip(members.into_iter().flatten()) {
            if p["id"] != self.m.ids[m].as_str() || p["display_name"] != NAMES[m] {
                return Err(format!("partner {} {}, model {}", p["id"], p["display_name"], NAMES[m]));
            }
            let want = self.m.figures(&set, Some(m));
            if normalized(&p["figures"]) != normalized(&want) {
                return Err(format!("{}'s figures {}, model {want}", NAMES[m], p["figures"]));
            }
        }
        let want = self.m.figures(&set, None);
        if normalized(&b["couple"]) != normalized(&want) {
            return Err(format!("the couple's figures {}, model {want}", b["couple"]));
        }
        // The lists of requests, setbacks and small steps, each with its replies.
        for (list, kind) in [
            ("requests", "request"),
            ("setbacks", "setback"),
            ("small_steps", "small_step"),
        ] {
            let got: BTreeMap<String, BTreeSet<String>> = b[list]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    (
                        x["id"].as_str().unwrap_or_default().to_string(),
                        ids_of(&x["replies"]).into_iter().collect(),
                    )
                })
                .collect();
            let want: BTreeMap<String, BTreeSet<String>> = set
                .iter()
                .filter(|&&e| self.m.entries[e].kind == kind)
                .map(|&e| {
                    let replies = set
                        .iter()
                        .filter(|&&r| self.m.entries[r].answers() == Some(e))
                        .map(|&r| self.sid(r).to_string())
                        .collect();
                    (self.sid(e).to_string(), replies)
                })
                .collect();
            if got != want {
                return Err(format!("{list} {got:?}, model {want:?}"));
            }
        }
        Ok(())
    }

    /// The therapist's couples, each with when its summary last counted something shared.
    async fn check_couples_list(&self, client: &Client) -> Check {
        let b = get_ok(client, "/api/therapist/couples").await?;
        let got: BTreeMap<String, Value> = b["couples"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["couple_id"].as_str().unwrap_or_default().to_string(),
                    c["last_shared_at"].clone(),
                )
            })
            .collect();
        let want: BTreeMap<String, Value> = (0..self.m.couples.len())
            .filter(|&c| self.m.couples[c].link_active())
            .map(|c| {
                let last = self
                    .m
                    .summary_set(c, DR)
                    .into_iter()
                    .filter_map(|e| self.m.entries[e].therapist_at.clone())
                    .max();
                (self.m.couples[c].sid.clone(), json!(last))
            })
            .collect();
        if got != want {
            return Err(format!("couples with last_shared_at {got:?}, model {want:?}"));
        }
        // Most recently shared first, those with nothing shared last.
        let order: Vec<Value> = b["couples"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["last_shared_at"].clone())
            .collect();
        let key = |v: &Value| v.as_str().map(str::to_string);
        if order.windows(2).any(|w| key(&w[0]) < key(&w[1])) {
            return Err(format!("not most recent first: {order:?}"));
        }
        Ok(())
    }

    /// The consent invariants, for everyone, now; `deep` checks everyone in depth (else
    /// one person per step, in turn).
    async fn check(&mut self, deep: bool) -> Check {
        let visible: Vec<BTreeSet<usize>> = (0..PEOPLE).map(|v| self.m.visible_set(v)).collect();
        for (seen, now) in self.m.ever_seen.iter_mut().zip(&visible) {
            seen.extend(now.iter().copied());
        }
        let seen: Vec<String> = (0..PEOPLE).map(|v| self.m.fingerprint(v)).collect();
        let live: Vec<usize> = (0..PEOPLE).filter(|&v| !self.m.deleted[v]).collect();
        let this = &*self;
        let reads = futures_util::future::join_all(
            live.iter()
                .map(|&v| this.check_reads(v, &visible[v], deep || v == this.step_no % PEOPLE)),
        )
        .await;
        for (&v, read) in live.iter().zip(reads) {
            let read = read?;
            let who = NAMES[v];
            // Cursors move exactly when what the person may see changed.
            if !self.seen.is_empty() {
                let changed = seen[v] != self.seen[v];
                let moved = read.head != self.head[v];
                if read.head < self.head[v] || (changed != moved && !self.exempt.contains(&v)) {
                    return Err(format!(
                        "{who}'s head went from {} to {} while what {who} may see {}:\n    before {}\n    after  {}",
                        self.head[v],
                        read.head,
                        if changed { "changed" } else { "did not change" },
                        self.seen[v],
                        seen[v]
                    ));
                }
            }
            if let Some(h) = self.ready_head[v].take() {
                if h != read.head {
                    return Err(format!(
                        "{who}'s websocket reopened with ready.head {h}, HTTP head {}",
                        read.head
                    ));
                }
            }
            // The live websocket delivers the same events, in order, up to the head.
            if let Some(mut ws) = self.ws[v].take() {
                let delivered = self.deliver(v, &mut ws, &read, &visible[v]).await;
                self.ws[v] = Some(ws);
                delivered?;
            }
            self.head[v] = read.head;
            self.paged[v] = read.paged;
        }
        self.seen = seen;
        self.prev_visible = visible;
        Ok(())
    }

    /// Receives on `v`'s websocket every event up to the HTTP head: the same events, in
    /// order, without gaps. Messages rendered between the writes of a step may show an
    /// earlier state of the same subject.
    async fn deliver(&mut self, v: usize, ws: &mut Ws, read: &Read, visible: &BTreeSet<usize>) -> Check {
        let who = NAMES[v];
        let subject = |e: &Value| {
            [&e["entry"]["id"], &e["entry_id"], &e["couple_id"]]
                .into_iter()
                .find(|s| s.is_string())
                .cloned()
        };
        while self.ws_seq[v] < read.head {
            let next = self.ws_seq[v] + 1;
            let msg = recv(ws, who)
                .await
                .map_err(|e| format!("{e} (waiting for event {next})"))?;
            let want = &read.events[self.ws_seq[v] as usize];
            let same = msg == *want
                || (self.multi_write
                    && msg["type"] == "event"
                    && msg["seq"] == want["seq"]
                    && subject(&msg) == subject(want)
                    && (msg["event"] == want["event"]
                        || (msg["event"] == "entry" && want["event"] == "entry_removed")));
            if !same {
                return Err(format!("{who}'s websocket: {msg}, HTTP had {want}"));
            }
            let leaks = self.leaks(v, &msg.to_string(), visible);
            if !leaks.is_empty() {
                return Err(format!("{who}'s websocket leaks {leaks:?} in {msg}"));
            }
            self.ws_seq[v] = next;
        }
        Ok(())
    }

    async fn close_all(&mut self) {
        for (ws, who) in self.ws.iter_mut().zip(NAMES) {
            if let Some(ws) = ws.take() {
                let _ = close(ws, who).await;
            }
        }
    }
}

async fn run_case(app: &TestApp, ops: Vec<Op>) -> Result<(), String> {
    let mut w = World::start(app).await?;
    let describe = |w: &World, i: usize, err: String| {
        format!(
            "consent model violated at step {i}: {err}\nsteps:\n{}\nentries: {:#?}\ncouples: {:#?}",
            w.trace.join("\n"),
            w.m.entries,
            w.m.couples
        )
    };
    w.check(false).await.map_err(|e| describe(&w, 0, e))?;
    for (i, op) in ops.iter().enumerate() {
        w.step_no = i + 1;
        let outcome = w.step(op).await;
        let line = format!("  {:>2}. {op:?} -> {}", i + 1, outcome.as_deref().unwrap_or_else(|e| e));
        w.trace.push(line);
        if let Err(e) = outcome {
            return Err(describe(&w, i + 1, e));
        }
        w.check(false).await.map_err(|e| describe(&w, i + 1, e))?;
    }
    // Everything once more, in depth, for everyone; nothing happened, so no cursor moves.
    w.exempt.clear();
    w.multi_write = false;
    w.step_no += 1;
    w.check(true)
        .await
        .map_err(|e| describe(&w, ops.len() + 1, format!("final check: {e}")))?;
    if std::env::var_os("MODEL_TRACE").is_some() {
        eprintln!("case passed:\n{}", w.trace.join("\n"));
    }
    w.close_all().await;
    Ok(())
}

fn cases() -> u32 {
    std::env::var("MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

/// `MODEL_SEED` (decimal or 0x-hex), or a fresh one.
fn seed() -> u64 {
    let parsed = std::env::var("MODEL_SEED")
        .ok()
        .and_then(|s| match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        });
    parsed.unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0)
}

/// The 32 bytes of a ChaCha seed, spread from `seed` (splitmix64).
fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut x = seed;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// One server per backend for every case (each case signs up its own people).
async fn consent_model(backend: Backend) {
    let Some((url, dir)) = fresh_database(backend).await else {
        return;
    };
    if backend == Backend::Postgres {
        // Nothing here is about surviving a crash: commits need not wait for the disk.
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
        let db = url.rsplit('/').next().unwrap();
        sqlx::query(&format!("ALTER DATABASE {db} SET synchronous_commit = off"))
            .execute(&mut conn)
            .await
            .expect("ALTER DATABASE");
    }
    let app = spawn_on(&url, dir, &["--attempts-per-minute", "1000000"]).await;
    let app = Arc::new(app);
    let (cases, seed) = (cases(), seed());
    eprintln!(
        "consent model on {backend:?}: seed {seed:#x} (MODEL_SEED={seed:#x} reruns it), {cases} cases (MODEL_CASES); \
         failing seeds are saved in and replayed first from {REGRESSIONS}"
    );
    let handle = tokio::runtime::Handle::current();
    let runs = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (app2, runs2) = (app.clone(), runs.clone());
    let result = tokio::task::spawn_blocking(move || {
        let config = Config {
            cases,
            max_shrink_iters: 400,
            max_shrink_time: 300_000,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
            ..Config::default()
        };
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed));
        let mut runner = TestRunner::new_with_rng(config, rng);
        // Steps are optional so that shrinking can drop any of them (None) while a random
        // case still has some 10 to 25 real steps.
        let steps = prop::collection::vec(prop::option::weighted(0.9, op()), 12..=28);
        runner
            .run(&steps, |ops| {
                runs2.fetch_add(1, Ordering::Relaxed);
                let ops: Vec<Op> = ops.into_iter().flatten().collect();
                handle.block_on(run_case(&app2, ops)).map_err(TestCaseError::fail)
            })
            .map_err(|e| e.to_string())
    })
    .await
    .expect("the proptest runner");
    let (runs, elapsed) = (runs.load(Ordering::Relaxed), started.elapsed());
    eprintln!(
        "consent model on {backend:?}: {runs} cases run in {elapsed:.1?}, {} ms per case",
        elapsed.as_millis() / runs.max(1) as u128
    );
    if let Ok(app) = Arc::try_unwrap(app) {
        app.stop().await;
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
