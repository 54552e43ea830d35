//! One world: fresh accounts and couples on the shared server, the steps of a plan run
//! one after the other, and everything each person receives written to their transcript.
//!
//! Observers are offline between their looks: a look opens a websocket at the cursor,
//! reads up to an end marker (the answer to a message the server handles only after
//! sending the backlog), closes it and waits until the server let go of it; or pages
//! through `GET /api/events`. Nothing runs concurrently with a write, so nothing depends
//! on timing.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::accounts::Accounts;
use super::plan::{Act, Channel, Step, C, D, E, KINDS, NAMES, OUTCOMES, PEOPLE, T};
use super::resolve::Plan;
use crate::helpers::{new_id, Client, Ws};

const EMOTIONS: [&str; 18] = [
    "calm",
    "hopeful",
    "grateful",
    "loved",
    "content",
    "relieved",
    "joyful",
    "anxious",
    "overwhelmed",
    "lonely",
    "crowded",
    "hurt",
    "frustrated",
    "sad",
    "ashamed",
    "unsure",
    "tired",
    "angry",
];
const FELT: [&str; 4] = ["yes", "somewhat", "not_really", "rather_not_say"];
const READY: [&str; 3] = ["now", "later", "not_yet"];
const SHOWN_BY: [&str; 6] = ["words", "time_together", "help", "touch", "gift", "support"];
const WOULD_HELP: [&str; 5] = [
    "some_space",
    "reassurance",
    "talk_later",
    "being_close",
    "nothing_right_now",
];
const INTIMACY: [&str; 5] = ["intellectual", "emotional", "experiential", "physical", "spiritual"];
const SUPPORT: [&str; 3] = [
    "thank_you_for_telling_me",
    "im_here_when_ready",
    "take_the_time_you_need",
];

/// The body of entry number `n`: every figure and text differs from entry to entry.
pub fn body(kind: usize, n: usize) -> Value {
    match KINDS[kind] {
        "check_in" => json!({
            "mood": 1 + n % 5, "emotions": [EMOTIONS[n % 18], EMOTIONS[(n + 7) % 18]], "closeness": (n % 5) as i64 - 2,
            "felt_appreciated": FELT[n % 4], "ready_to_talk": READY[n % 3], "note": format!("check-in {n}"),
        }),
        "appreciation" => json!({ "text": format!("thank you {n}"), "shown_by": SHOWN_BY[n % 6] }),
        "request" => json!({ "about": format!("request {n}"), "options": [format!("a{n}"), format!("b{n}")] }),
        "setback" => {
            json!({ "what_happened": format!("setback {n}"), "how_hard": 1 + n % 5, "would_help": WOULD_HELP[n % 5] })
        }
        _ => json!({ "step": format!("step {n}"), "intimacy": INTIMACY[n % 5] }),
    }
}

/// A reply of number `n` to an entry of kind `to_kind`.
pub fn reply_body(to_kind: usize, n: usize, to: &str) -> Value {
    match KINDS[to_kind] {
        "request" => json!({ "to": to, "choice": { "option": n % 2 }, "note": format!("reply {n}") }),
        "setback" => json!({ "to": to, "choice": { "support": SUPPORT[n % 3] }, "note": format!("reply {n}") }),
        _ => json!({ "to": to, "note": format!("reply {n}") }),
    }
}

pub struct World {
    people: Vec<Client>,
    therapist_email: String,
    couples: [String; 2],
    base: Vec<Option<String>>,
    hidden: Vec<Option<String>>,
    /// An id that never existed, per hidden entry: what is asked for instead of it when
    /// it does not exist (in the first world, or before it is written).
    guesses: Vec<String>,
    cursor: [i64; PEOPLE],
    /// Everything each person received, one line per answer or message.
    pub log: Vec<Vec<String>>,
}

impl World {
    /// A world of `accounts` (and the stranger, who never receives anything, signed up
    /// once per server), with couple 1's therapist if the plan says so; none of this setup
    /// is written to the transcripts.
    pub async fn start(accounts: Accounts, plan: &Plan, stranger: &Client) -> World {
        let Accounts {
            mut people,
            therapist_email,
            couples,
        } = accounts;
        people.extend([stranger.clone(), Client::to(&stranger.base, &stranger.origin)]);
        if plan.active {
            let (status, body) = people[0]
                .post("/api/couple/therapist", json!({ "email": therapist_email }))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let (status, body) = people[1].post("/api/couple/therapist/approve", json!({})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        World {
            people,
            therapist_email,
            couples,
            base: Vec::new(),
            hidden: vec![None; plan.hidden_entries],
            guesses: (0..plan.hidden_entries)
                .map(|_| uuid::Uuid::now_v7().to_string())
                .collect(),
            cursor: [0; PEOPLE],
            log: vec![Vec::new(); PEOPLE],
        }
    }

    fn note(&mut self, who: usize, label: &str, status: StatusCode, body: &Value) {
        self.log[who].push(format!("{label} -> {} {body}", status.as_u16()));
    }

    fn id(&self, e: E) -> String {
        let slot = match e {
            E::Base(i) => self.base.get(i).cloned().flatten(),
            E::Hidden(i) => self.hidden[i].clone(),
        };
        slot.unwrap_or_else(|| panic!("{e:?} was never written"))
    }

    fn set_id(&mut self, e: E, id: String) {
        match e {
            E::Base(i) => {
                self.base.resize(self.base.len().max(i + 1), None);
                self.base[i] = Some(id);
            }
            E::Hidden(i) => self.hidden[i] = Some(id),
        }
    }

    pub async fn run<'s>(&mut self, steps: impl Iterator<Item = &'s Step>) -> Result<(), String> {
        for step in steps {
            self.step(step).await?;
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        let rid = new_id();
        let (who, res) = match *step {
            Step::Look { who, how, wide } => {
                self.look(who, how, wide).await;
                return Ok(());
            }
            Step::Create { who, e, kind } => {
                let req = json!({ "request_id": rid, "kind": KINDS[kind], "body": body(kind, e.serial()) });
                (who, self.people[who].post("/api/entries", req).await)
            }
            Step::Reply { who, e, to, to_kind } => {
                let body = reply_body(to_kind, e.serial(), &self.id(to));
                let req = json!({ "request_id": rid, "kind": "reply", "body": body });
                (who, self.people[who].post("/api/entries", req).await)
            }
            Step::Share { who, e, scopes } | Step::Withdraw { who, e, scopes } => {
                let action = if matches!(step, Step::Share { .. }) {
                    "share"
                } else {
                    "withdraw"
                };
                let path = format!("/api/entries/{}/{action}", self.id(e));
                let req = json!({ "request_id": rid, "scopes": scopes.names() });
                (who, self.people[who].post(&path, req).await)
            }
            Step::Delete { who, e } => {
                let path = format!("/api/entries/{}", self.id(e));
                (who, self.people[who].delete(&path, json!({ "request_id": rid })).await)
            }
            Step::Outcome { who, e, outcome } => {
                let path = format!("/api/entries/{}/outcome", self.id(e));
                let req = json!({ "request_id": rid, "outcome": OUTCOMES[outcome] });
                (who, self.people[who].post(&path, req).await)
            }
            Step::Therapist { who, act } => {
                let c = &self.people[who];
                let res = match act {
                    Act::Propose => {
                        c.post("/api/couple/therapist", json!({ "email": self.therapist_email }))
                            .await
                    }
                    Act::Approve => c.post("/api/couple/therapist/approve", json!({})).await,
                    Act::Revoke => c.post("/api/couple/therapist/revoke", json!({})).await,
                };
                // Refusals (nothing to approve, a therapist already proposed) are fine.
                self.note(who, &step.to_string(), res.0, &res.1);
                return Ok(());
            }
        };
        let (status, body) = res;
        self.note(who, &step.to_string(), status, &body);
        if !status.is_success() {
            return Err(format!("{step}: unexpected {status} {body}"));
        }
        if let Step::Create { e, .. } | Step::Reply { e, .. } = *step {
            self.set_id(e, body["entry_id"].as_str().unwrap_or_default().to_string());
        }
        Ok(())
    }

    async fn look(&mut self, who: usize, how: Channel, wide: bool) {
        let start = self.cursor[who];
        match how {
            Channel::Ws => {
                if let Some(seq) = self.ws_read(who, start).await {
                    self.cursor[who] = seq;
                }
            }
            Channel::Http(limit) => self.cursor[who] = self.http_read(who, start, limit).await,
            Channel::Both(limit) => {
                self.ws_read(who, start).await;
                self.cursor[who] = self.http_read(who, start, limit).await;
            }
        }
        if wide {
            self.wide(who).await;
        }
    }

    /// Pages through `GET /api/events` from `since` until `next_since` stops; the new cursor.
    async fn http_read(&mut self, who: usize, mut since: i64, limit: i64) -> i64 {
        for _ in 0..500 {
            let path = format!("/api/events?since={since}&limit={limit}");
            let (status, body) = self.people[who].get(&path).await;
            self.note(who, &format!("GET {path}"), status, &body);
            let (Some(next), Some(head)) = (body["next_since"].as_i64(), body["head"].as_i64()) else {
                break;
            };
            let moved = next > since;
            since = next;
            if !moved || next >= head {
                break;
            }
        }
        since
    }

    /// Resumes a websocket at `since` and reads its backlog; the last `seq` received.
    async fn ws_read(&mut self, who: usize, since: i64) -> Option<i64> {
        let c = &self.people[who];
        let label = format!("ws since={since}");
        let mut req = format!("{}/api/ws?since={since}", c.base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("Origin", c.origin.parse().unwrap());
        if let Some(cookie) = c.cookie() {
            req.headers_mut().insert("Cookie", cookie.parse().unwrap());
        }
        let mut ws = match tokio_tungstenite::connect_async(req).await {
            Ok((stream, _)) => Ws { stream },
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
                self.note(who, &format!("{label} refused"), status, &Value::Null);
                return None;
            }
            Err(e) => panic!("websocket of {}: {e}", NAMES[who]),
        };
        // The server reads messages only once it has sent the backlog: the answer to this
        // one (an unknown message type) marks its end.
        ws.send(json!({ "type": "end_of_backlog", "request_id": "end" })).await;
        let mut last = None;
        loop {
            quick_ack(&ws);
            let msg = ws.next().await;
            self.log[who].push(format!("{label} <- {msg}"));
            if msg["request_id"] == "end" {
                break;
            }
            last = msg["seq"].as_i64().or(last);
        }
        // Hang up, and wait until the server has closed its side: the connection is gone
        // before anything else happens.
        let _ = ws.stream.close(None).await;
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = ws.stream.next().await {}
        })
        .await
        .expect("the server closes the websocket");
        last
    }

    /// Every other read: account, list, each entry (known or guessed), summaries.
    async fn wide(&mut self, who: usize) {
        let c = self.people[who].clone();
        for path in ["/api/me", "/api/entries?limit=50"] {
            let (status, body) = c.get(path).await;
            self.note(who, &format!("GET {path}"), status, &body);
        }
        // Every entry of the shared history, and every hidden one (or an id that never
        // existed in its place): the answers must not depend on which.
        let mut probes: Vec<(String, String)> = (0..self.base.len())
            .filter_map(|i| self.base[i].clone().map(|id| (format!("e{i}"), id)))
            .collect();
        for (h, guess) in self.guesses.iter().enumerate() {
            probes.push((format!("h{h}"), self.hidden[h].clone().unwrap_or_else(|| guess.clone())));
        }
        let answers = futures_util::future::join_all(probes.iter().map(|(_, id)| {
            let c = &c;
            async move { c.get(&format!("/api/entries/{id}")).await }
        }))
        .await;
        for ((label, _), (status, body)) in probes.iter().zip(answers) {
            self.note(who, &format!("GET entry {label}"), status, &body);
        }
        // Summaries: read one after the other (a therapist's readings are logged in order).
        let own = if who == C || who == D { 1 } else { 0 };
        let own_id = self.couples[own].clone();
        let mut shared_at: Option<Vec<String>> = None;
        for route in ["", "/export.json", "/export.csv"] {
            let (status, body) = c.get(&format!("/api/summary/{own_id}{route}")).await;
            if route.is_empty() && status == StatusCode::OK {
                let times = body["entries"].as_array().into_iter().flatten();
                shared_at = Some(
                    times
                        .filter_map(|e| e["shared_at"].as_str().map(str::to_string))
                        .collect(),
                );
            }
            self.note(who, &format!("GET summary of couple {}{route}", own + 1), status, &body);
        }
        if who < T {
            let (status, body) = c.get(&format!("/api/summary/{own_id}/views")).await;
            self.note(who, &format!("GET summary views of couple {}", own + 1), status, &body);
        }
        let other = self.couples[1 - own].clone();
        let (status, body) = c.get(&format!("/api/summary/{other}")).await;
        self.note(who, &format!("GET summary of couple {}", 2 - own), status, &body);
        let (status, mut body) = c.get("/api/therapist/couples").await;
        if let Some(list) = body["couples"].as_array_mut() {
            for couple in list {
                let last = couple["last_shared_at"].clone();
                couple["last_shared_at"] = last_shared(&last, shared_at.as_deref());
            }
        }
        self.note(who, "GET /api/therapist/couples", status, &body);
    }
}

/// `last_shared_at` as the therapist can account for it: the latest `shared_at` of the
/// summary read just before, another one of them, or a time the summary does not show
/// (times themselves are not comparable between worlds).
fn last_shared(last: &Value, shared_at: Option<&[String]>) -> Value {
    let Some(last) = last.as_str() else { return last.clone() };
    let times = shared_at.unwrap_or_default();
    let label = if times.iter().max().map(String::as_str) == Some(last) {
        "the latest shared_at of the summary"
    } else if times.iter().any(|t| t == last) {
        "an earlier shared_at of the summary"
    } else {
        "a time the summary does not show"
    };
    json!(label)
}

/// Acknowledges what arrives at once: the server writes each websocket message on its own
/// (with Nagle's algorithm on), so a reader that delays its acknowledgements, as Linux
/// does, would wait some 40 ms for the second message of every look.
fn quick_ack(ws: &Ws) {
    #[cfg(target_os = "linux")]
    if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.stream.get_ref() {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and an int-sized option value that outlives the call.
        unsafe {
            libc::setsockopt(
                tcp.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}
