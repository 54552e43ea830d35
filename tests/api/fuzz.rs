//! Fuzzing of the HTTP body and websocket message decoding, with proptest so it
//! runs on the stable toolchain, in bounded time, in CI.
//!
//! Inputs are arbitrary JSON and mutations of the seeds in `tests/corpus/` (valid and
//! near-valid bodies and messages of every kind): a subtree replaced, removed or added, a
//! string padded past its limit, bytes flipped, inserted or cut off.
//!
//! - Unit level: the public decoders (`entry::Body::parse`, `json::from_value` for every
//!   command and account form, `entry::check_reply`, the pairing-code, email, name and
//!   password checks) never panic and answer `Ok` or an `ApiError` with a 4xx status; a
//!   body that parses re-parses to itself from its stored JSON.
//! - End to end: a real server, on SQLite and on PostgreSQL, gets mutated bodies on
//!   `/api/entries`, `/api/entries/{id}/…`, `/api/signup`, `/api/login`,
//!   `/api/couple/join` and `/api/couple/therapist`, random query strings, and mutated text frames (plus binary and oversize frames) on the
//!   websocket. Every request gets a JSON success or a 4xx JSON error, never a 5xx or a
//!   dropped connection; every frame gets an `ack` or a 4xx `error`, and only a frame
//!   over 64 KiB closes the socket (1009). The server is healthy afterwards.
//!
//! `PROPTEST_CASES` sets the number of cases (default 64 at unit level, 24 end to end);
//! `FUZZ_STATS=1` prints what the end-to-end inputs got.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{json, Map, Value};
use tandem::account::{LogIn, SignUp};
use tandem::commands::{ChangeConsent, CreateEntry, DeleteEntry, SetOutcome};
use tandem::entry::{check_reply, Body, Kind};
use tandem::error::ApiError;
use tandem::json::from_value;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{check_in, new_id, spawn_app, Backend, Client, Partner, TestApp, Ws};

// ---------------------------------------------------------------------------------------
// The corpus.

#[derive(Debug, Clone)]
struct Seed {
    name: String,
    /// The route family (`entries`, `share`, …) or the websocket message type.
    route: String,
    text: String,
}

fn corpus(dir: &str) -> Vec<Seed> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut seeds: Vec<Seed> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|f| f.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let route = name.split('-').next().unwrap().to_string();
            let text = std::fs::read_to_string(&p).expect("corpus file");
            Seed { name, route, text }
        })
        .collect();
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(seeds.len() >= 10, "corpus {dir} is nearly empty");
    seeds
}

/// Every placeholder a seed may hold; the unit tests put plausible values in.
fn fill(text: &str, values: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    // Longest first: "@entry" must not eat the start of another name.
    let mut values: Vec<&(&str, String)> = values.iter().collect();
    values.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (key, value) in values {
        out = out.replace(&format!("\"{key}\""), &serde_json::to_string(value).unwrap());
    }
    out
}

fn unit_values() -> Vec<(&'static str, String)> {
    let id = new_id();
    vec![
        ("@rid", new_id()),
        ("@entry", id.clone()),
        ("@step", id.clone()),
        ("@request", id.clone()),
        ("@setback", id.clone()),
        ("@note_target", id),
        ("@email", "eve@example.org".into()),
        ("@dr_email", "dr@example.org".into()),
        ("@code", "ABCD-EFGH".into()),
    ]
}

// ---------------------------------------------------------------------------------------
// Arbitrary JSON, biased towards the API's own vocabulary.

const FIELDS: &[&str] = &[
    "type",
    "request_id",
    "entry_id",
    "kind",
    "body",
    "scopes",
    "outcome",
    "mood",
    "emotions",
    "closeness",
    "felt_appreciated",
    "ready_to_talk",
    "note",
    "text",
    "shown_by",
    "about",
    "options",
    "by_when",
    "what_happened",
    "how_hard",
    "would_help",
    "step",
    "intimacy",
    "to",
    "choice",
    "option",
    "support",
    "email",
    "password",
    "display_name",
    "role",
    "code",
];

const WORDS: &[&str] = &[
    "check_in",
    "appreciation",
    "request",
    "setback",
    "small_step",
    "reply",
    "partner",
    "therapist",
    "calm",
    "anxious",
    "yes",
    "not_really",
    "now",
    "not_yet",
    "words",
    "gift",
    "some_space",
    "emotional",
    "tried",
    "went_well",
    "was_hard",
    "none_of_these",
    "im_here_when_ready",
    "create_entry",
    "share",
    "withdraw",
    "set_outcome",
    "delete_entry",
    "2030-12-31",
    "2030-02-30",
    "00000000-0000-0000-0000-000000000000",
    "ABCD-EFGH",
    "",
    "   ",
    "\n",
    "\u{0}",
    "\u{7}",
    "é",
    "🙂",
    "\u{202e}",
    "a@b.c",
    "NaN",
    "-0",
    "null",
];

fn arb_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(WORDS).prop_map(String::from),
        3 => "\\PC{0,24}",
        1 => ".{0,8}",
        1 => (0usize..1500, prop::sample::select(vec!['a', ' ', 'é', '\u{0}'])).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
    .boxed()
}

fn arb_number() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => (-4i64..8).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => prop::sample::select(vec![1.5, -0.0, 1e300, -1e-300, 3.0]).prop_map(Value::from),
    ]
    .boxed()
}

fn arb_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => arb_number(),
        4 => arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        let key = prop_oneof![3 => prop::sample::select(FIELDS).prop_map(String::from), 1 => arb_string()];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..7)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Mutations.

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the n-th node (preorder) with a value.
    Replace(usize, Value),
    /// Remove the n-th node from its object or array.
    Remove(usize),
    /// Add a field (or array element) to the n-th node.
    Add(usize, String, Value),
    /// Make the n-th string node this many characters long.
    Pad(usize, usize),
}

#[derive(Debug, Clone)]
enum ByteMutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let key = prop_oneof![3 => prop::sample::select(FIELDS).prop_map(String::from), 1 => arb_string()];
    prop_oneof![
        4 => (any::<usize>(), arb_json()).prop_map(|(n, v)| Mutation::Replace(n, v)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        2 => (any::<usize>(), key, arb_json()).prop_map(|(n, k, v)| Mutation::Add(n, k, v)),
        1 => (any::<usize>(), prop::sample::select(vec![0usize, 201, 1001, 5000, 17_000])).prop_map(|(n, l)| Mutation::Pad(n, l)),
    ]
}

/// Byte-level damage in about a quarter of the inputs (the rest stay JSON).
fn arb_bytes() -> impl Strategy<Value = Vec<ByteMutation>> {
    let some = prop::collection::vec(
        prop_oneof![
            any::<usize>().prop_map(ByteMutation::Truncate),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteMutation::Flip(i, b)),
            (any::<usize>(), prop::sample::select(b"{}[]\",:\\\x00\xff0e-".to_vec()))
                .prop_map(|(i, b)| ByteMutation::Insert(i, b)),
        ],
        1..3,
    );
    prop_oneof![3 => Just(Vec::new()), 1 => some]
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// JSON pointers of every node, in preorder.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(c, format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn mutate(mut v: Value, mutations: &[Mutation]) -> Value {
    for m in mutations {
        let mut all = Vec::new();
        pointers(&v, String::new(), &mut all);
        let pick = |n: usize| all[n % all.len()].clone();
        match m {
            Mutation::Replace(n, new) => {
                if let Some(node) = v.pointer_mut(&pick(*n)) {
                    *node = new.clone();
                }
            }
            Mutation::Remove(n) => {
                let p = pick(*n);
                if let Some((parent, last)) = p.rsplit_once('/') {
                    let last = last.replace("~1", "/").replace("~0", "~");
                    match v.pointer_mut(parent) {
                        Some(Value::Object(o)) => {
                            o.remove(&last);
                        }
                        Some(Value::Array(a)) => {
                            if let Ok(i) = last.parse::<usize>() {
                                if i < a.len() {
                                    a.remove(i);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            Mutation::Add(n, key, new) => match v.pointer_mut(&pick(*n)) {
                Some(Value::Object(o)) => {
                    o.insert(key.clone(), new.clone());
                }
                Some(Value::Array(a)) => a.push(new.clone()),
                Some(other) => *other = json!({ key.clone(): new.clone() }),
                None => {}
            },
            Mutation::Pad(n, len) => {
                let strings: Vec<String> = all
                    .iter()
                    .filter(|p| v.pointer(p).is_some_and(Value::is_string))
                    .cloned()
                    .collect();
                if !strings.is_empty() {
                    if let Some(node) = v.pointer_mut(&strings[n % strings.len()]) {
                        *node = Value::String("x".repeat(*len));
                    }
                }
            }
        }
    }
    v
}

fn mutate_bytes(mut bytes: Vec<u8>, mutations: &[ByteMutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len().max(1);
        match *m {
            ByteMutation::Truncate(i) => bytes.truncate(i % n),
            ByteMutation::Flip(i, b) => {
                if !bytes.is_empty() {
                    bytes[i % n] ^= b.max(1);
                }
            }
            ByteMutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        }
    }
    bytes
}

/// A seed with its placeholders filled, then mutated at JSON and byte level.
fn build_input(seed: &Seed, values: &[(&str, String)], muts: &[Mutation], bytes: &[ByteMutation]) -> Vec<u8> {
    let filled = fill(&seed.text, values);
    let value: Value = serde_json::from_str(&filled).unwrap_or_else(|e| panic!("seed {}: {e}", seed.name));
    let text = if muts.is_empty() {
        filled
    } else {
        mutate(value, muts).to_string()
    };
    mutate_bytes(text.into_bytes(), bytes)
}

// ---------------------------------------------------------------------------------------
// Unit level: the decoders themselves.

fn client_error(what: &str, e: &ApiError) -> Result<(), TestCaseError> {
    prop_assert!(
        e.status().is_client_error(),
        "{what}: {e} answered with status {}",
        e.status()
    );
    let body = serde_json::to_value(e.body()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(
        body["code"].is_string() && body["message"].is_string(),
        "{what}: error body {body}"
    );
    Ok(())
}

fn check<T>(what: &str, r: Result<T, ApiError>) -> Result<Option<T>, TestCaseError> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(e) => client_error(what, &e).map(|_| None),
    }
}

fn kind(name: &str) -> Kind {
    serde_json::from_value(json!(name)).expect("a kind")
}

/// A body of `kind`: parsed, then re-parsed from what would be stored, it is the same.
fn body_roundtrip(kind: Kind, value: Value) -> Result<(), TestCaseError> {
    if let Some(body) = check("Body::parse", Body::parse(kind, value))? {
        prop_assert_eq!(body.kind(), kind);
        let again = Body::parse(kind, body.to_json());
        prop_assert!(
            again.as_ref().is_ok_and(|b| *b == body),
            "re-parsing {} gave {:?}",
            body.to_json(),
            again
        );
        if let Body::Reply(reply) = &body {
            for target in Kind::ALL {
                check(
                    "check_reply",
                    check_reply(reply, self::kind(target), &json!({ "options": ["a", "b"] })),
                )?;
                check("check_reply", check_reply(reply, self::kind(target), &Value::Null))?;
            }
        }
    }
    Ok(())
}

/// Runs `value` through every public decoder.
fn decode_everything(value: &Value) -> Result<(), TestCaseError> {
    for k in Kind::ALL {
        body_roundtrip(kind(k), value.clone())?;
    }
    if let Some(c) = check("CreateEntry", from_value::<CreateEntry>("", value.clone()))? {
        body_roundtrip(c.kind, c.body)?;
    }
    check("ChangeConsent", from_value::<ChangeConsent>("", value.clone()))?;
    check("SetOutcome", from_value::<SetOutcome>("", value.clone()))?;
    check("DeleteEntry", from_value::<DeleteEntry>("", value.clone()))?;
    if let Some(form) = check("SignUp", from_value::<SignUp>("", value.clone()))? {
        check("email", tandem::account::parse_email(&form.email))?;
        check("display_name", tandem::account::parse_display_name(&form.display_name))?;
        check("password", tandem::account::check_password(&form.password))?;
    }
    check("LogIn", from_value::<LogIn>("", value.clone()))?;
    let mut strings = Vec::new();
    collect_strings(value, &mut strings);
    for s in strings {
        check("invite code", tandem::pairing::normalize(s))?;
        check("entry id", tandem::commands::entry_id(s))?;
        check("email", tandem::account::parse_email(s))?;
    }
    Ok(())
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|c| collect_strings(c, out)),
        Value::Object(o) => o.iter().for_each(|(k, c)| {
            out.push(k);
            collect_strings(c, out)
        }),
        _ => {}
    }
}

/// What the websocket does with a message before running it (`stream::parse_command` is
/// private; this mirrors its steps on the public decoders).
fn decode_ws(value: &Value) -> Result<(), TestCaseError> {
    let Some(obj) = value.as_object() else { return Ok(()) };
    let mut rest = obj.clone();
    let kind = rest.remove("type");
    rest.remove("entry_id");
    let rest = Value::Object(rest);
    match kind.as_ref().and_then(Value::as_str) {
        Some("create_entry") => {
            if let Some(c) = check("create_entry", from_value::<CreateEntry>("", rest))? {
                body_roundtrip(c.kind, c.body)?;
            }
        }
        Some("share" | "withdraw") => {
            check("share", from_value::<ChangeConsent>("", rest))?;
        }
        Some("set_outcome") => {
            check("set_outcome", from_value::<SetOutcome>("", rest))?;
        }
        Some("delete_entry") => {
            check("delete_entry", from_value::<DeleteEntry>("", rest))?;
        }
        _ => {}
    }
    Ok(())
}

fn unit_config() -> Config {
    Config {
        cases: cases(64),
        failure_persistence: None,
        ..Config::default()
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn run<S: Strategy>(config: Config, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

#[test]
fn decoders_answer_arbitrary_json_without_panicking() {
    run(unit_config(), arb_json(), |value| decode_everything(&value));
}

#[test]
fn decoders_answer_mutated_corpus_seeds_without_panicking() {
    let http = corpus("http");
    let ws = corpus("ws");
    let seeds: Vec<Seed> = http.into_iter().chain(ws).collect();
    let n = seeds.len();
    let strategy = (0..n, prop::collection::vec(arb_mutation(), 0..4), arb_bytes());
    run(unit_config(), strategy, |(i, muts, bytes)| {
        let seed = &seeds[i];
        let input = build_input(seed, &unit_values(), &muts, &bytes);
        // Bytes that are not JSON are refused before any decoder (400 "not valid JSON").
        let Ok(value) = serde_json::from_slice::<Value>(&input) else {
            return Ok(());
        };
        decode_everything(&value)?;
        decode_ws(&value)
    });
}

/// Every seed, unmutated, goes through the decoders cleanly (`Ok` or a 4xx error).
#[test]
fn corpus_seeds_decode() {
    for seed in corpus("http").iter().chain(corpus("ws").iter()) {
        let value: Value = serde_json::from_str(&fill(&seed.text, &unit_values())).expect("seed is JSON");
        let result = decode_everything(&value).and_then(|_| decode_ws(&value));
        assert!(result.is_ok(), "{}: {result:?}", seed.name);
    }
}

// ---------------------------------------------------------------------------------------
// End to end: a real server.

struct Fixture {
    app: TestApp,
    ana: Partner,
    cat: Partner,
    dan: Partner,
    dr: Partner,
    request: String,
    setback: String,
    note_target: String,
    couple: String,
    ws: Option<Ws>,
    /// Answers seen, by input and status (printed at the end, to see what was reached).
    stats: std::collections::BTreeMap<String, usize>,
    /// The last websocket input and its answer: a socket found dead is its doing.
    last_ws: String,
}

impl Fixture {
    /// `None` when the backend is unavailable (PostgreSQL, when optional).
    async fn start(backend: Backend) -> Option<Fixture> {
        let app = spawn_app(backend).await?;
        let (ana, ben) = app.couple().await;
        let cat = app.partner("Cat").await;
        let dan = app.partner("Dan").await;
        let dr = app.signup("Dr Lee", "therapist").await;
        let mut shared = Vec::new();
        for (kind, body) in [
            (
                "request",
                json!({ "about": "the weekend", "options": ["walk", "film"] }),
            ),
            ("setback", json!({ "how_hard": 3, "would_help": "reassurance" })),
            ("appreciation", json!({ "text": "thank you", "shown_by": "words" })),
        ] {
            let id = ben.create(kind, body).await["id"].as_str().unwrap().to_string();
            ben.share(&id, &["partner", "therapist"]).await;
            shared.push(id);
        }
        let couple = ana.client.get("/api/me").await.1["couple"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let ws = Some(ana.ws(None).await);
        Some(Fixture {
            app,
            ana,
            cat,
            dan,
            dr,
            request: shared[0].clone(),
            setback: shared[1].clone(),
            note_target: shared[2].clone(),
            couple,
            ws,
            stats: Default::default(),
            last_ws: "none".into(),
        })
    }

    /// Fresh values for a seed's placeholders.
    async fn values(&self) -> Vec<(&'static str, String)> {
        let entry = self.ana.create("check_in", check_in(3)).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let step = self
            .ana
            .create("small_step", json!({ "step": "a walk", "intimacy": "physical" }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, invite) = self.cat.client.post("/api/couple", json!({})).await;
        let code = match status.as_u16() {
            201 => invite["invite"]["code"].as_str().unwrap().to_string(),
            _ => "ABCD-EFGH".to_string(),
        };
        vec![
            ("@rid", new_id()),
            ("@entry", entry),
            ("@step", step),
            ("@request", self.request.clone()),
            ("@setback", self.setback.clone()),
            ("@note_target", self.note_target.clone()),
            ("@email", format!("fuzz-{}@example.org", uuid::Uuid::new_v4().simple())),
            ("@dr_email", self.dr.email.clone()),
            ("@code", code),
        ]
    }
}

#[derive(Debug, Clone)]
enum E2e {
    Http {
        seed: usize,
        muts: Vec<Mutation>,
        bytes: Vec<ByteMutation>,
        /// Replaces the entry id in the path (percent-encoded).
        path_id: Option<String>,
        /// Sends another content type.
        content_type: Option<&'static str>,
    },
    Ws {
        seed: usize,
        muts: Vec<Mutation>,
        bytes: Vec<ByteMutation>,
    },
    Query {
        path: usize,
        query: String,
    },
    Binary(Vec<u8>),
    Oversize(usize),
}

fn e2e_strategy(http: usize, ws: usize) -> impl Strategy<Value = E2e> {
    prop_oneof![
        6 => (
            0..http,
            prop::collection::vec(arb_mutation(), 0..3),
            arb_bytes(),
            prop::option::weighted(0.15, arb_string()),
            prop::option::weighted(0.05, prop::sample::select(vec!["text/plain", "application/json; charset=utf-8", "application/jsonx"])),
        )
            .prop_map(|(seed, muts, bytes, path_id, content_type)| E2e::Http { seed, muts, bytes, path_id, content_type }),
        6 => (0..ws, prop::collection::vec(arb_mutation(), 0..3), arb_bytes())
            .prop_map(|(seed, muts, bytes)| E2e::Ws { seed, muts, bytes }),
        2 => (0usize..4, prop_oneof![
            "(limit|since|before|before_id|period|from|to|x)=[-0-9a-zA-Z:%+._]{0,30}(&(limit|since|before|period|from|to)=[-0-9a-z:%]{0,12}){0,2}",
            "\\PC{0,20}",
        ]).prop_map(|(path, query)| E2e::Query { path, query }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(E2e::Binary),
        1 => prop::sample::select(vec![tandem::stream::MAX_MESSAGE + 1, 40_000, tandem::stream::MAX_FRAME + 10, 100_000]).prop_map(E2e::Oversize),
    ]
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends one request; any answer but a 2xx or 4xx with a JSON body is a failure.
async fn send(
    client: &Client,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(u16, Value), String> {
    let mut req = client
        .http
        .request(method.clone(), format!("{}{path}", client.base))
        .header("Origin", &client.origin)
        .header("Content-Type", content_type)
        .body(body);
    if let Some(c) = client.cookie() {
        req = req.header("Cookie", c);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("{method} {path}: no answer: {e}"))?;
    let status = res.status();
    let text = res
        .text()
        .await
        .map_err(|e| format!("{method} {path}: body cut off: {e}"))?;
    if !(status.is_success() || status.is_client_error()) {
        return Err(format!("{method} {path}: {status} {text}"));
    }
    let value: Value = if text.is_empty() && status.as_u16() == 204 {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {status}, not JSON ({e}): {text}"))?
    };
    if status.is_client_error() && !(value["error"]["code"].is_string() && value["error"]["message"].is_string()) {
        return Err(format!("{method} {path}: {status} without a JSON error: {text}"));
    }
    Ok((status.as_u16(), value))
}

/// The next message that is not an event (events of Ana's own writes come and go).
async fn answer(ws: &mut Ws, oversize: bool) -> Result<Option<Value>, String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.stream.next()).await {
            Err(_) => return Err("no answer within 10 s".into()),
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).map_err(|e| format!("answer is not JSON: {e}"))?;
                if v["type"] != "event" {
                    return Ok(Some(v));
                }
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            // Only an oversize frame may close the socket (1009): `None` says so.
            Ok(Some(Ok(Message::Close(Some(frame))))) if u16::from(frame.code) == 1009 => return Ok(None),
            // The server hangs up on an oversize frame without reading its rest, so the
            // connection may be reset before its close frame gets through.
            Ok(Some(Err(_)) | None) if oversize => return Ok(None),
            Ok(other) => return Err(format!("socket ended: {other:?}")),
        }
    }
}

/// Sends a frame on Ana's socket and waits for its answer (`None`: closed with 1009).
async fn ws_call(f: &mut Fixture, msg: Message, what: String) -> Result<Option<Value>, String> {
    let oversize = msg.len() > tandem::stream::MAX_FRAME;
    let ws = f.ws.as_mut().expect("socket");
    if let Err(e) = ws.stream.send(msg).await {
        return Err(format!(
            "{what}: send failed ({e}): the socket was dead after {}",
            f.last_ws
        ));
    }
    let reply = answer(ws, oversize).await.map_err(|e| format!("{what}: {e}"));
    f.last_ws = format!("{what} -> {reply:?}");
    let reply = reply?;
    let outcome = reply
        .as_ref()
        .map_or("closed 1009".into(), |v| format!("{} {}", v["type"], v["status"]));
    let kind = what.split(':').next().unwrap_or_default().to_string();
    *f.stats.entry(format!("ws {kind} {outcome}")).or_default() += 1;
    if reply.is_none() {
        f.ws = Some(f.ana.ws(None).await);
    }
    Ok(reply)
}

fn ws_reply_ok(v: &Value) -> Result<(), String> {
    match v["type"].as_str() {
        Some("ack") => Ok(()),
        Some("error") if (400..500).contains(&v["status"].as_u64().unwrap_or(0)) && v["error"]["code"].is_string() => {
            Ok(())
        }
        _ => Err(format!("not an ack or a 4xx error: {v}")),
    }
}

async fn e2e_case(f: &mut Fixture, http: &[Seed], ws_seeds: &[Seed], case: E2e) -> Result<(), String> {
    match case {
        E2e::Http {
            seed,
            muts,
            bytes,
            path_id,
            content_type,
        } => {
            let seed = &http[seed];
            let values = f.values().await;
            let input = build_input(seed, &values, &muts, &bytes);
            let value_of = |k: &str| values.iter().find(|(n, _)| *n == k).unwrap().1.clone();
            let id = |k: &str| path_id.as_deref().map(encode).unwrap_or_else(|| value_of(k));
            let (client, method, path) = match seed.route.as_str() {
                "entries" => (&f.ana.client, Method::POST, "/api/entries".to_string()),
                "share" | "withdraw" => (
                    &f.ana.client,
                    Method::POST,
                    format!("/api/entries/{}/{}", id("@entry"), seed.route),
                ),
                "outcome" => (
                    &f.ana.client,
                    Method::POST,
                    format!("/api/entries/{}/outcome", id("@step")),
                ),
                "delete" => (&f.ana.client, Method::DELETE, format!("/api/entries/{}", id("@entry"))),
                "signup" => (&f.app.anonymous(), Method::POST, "/api/signup".into()),
                "login" => (&f.app.anonymous(), Method::POST, "/api/login".into()),
                "join" => (&f.dan.client, Method::POST, "/api/couple/join".into()),
                "therapist" => (&f.ana.client, Method::POST, "/api/couple/therapist".into()),
                other => return Err(format!("seed {}: no route for {other}", seed.name)),
            };
            let client = client.clone();
            let (status, _) = send(
                &client,
                method,
                &path,
                content_type.unwrap_or("application/json"),
                input,
            )
            .await
            .map_err(|e| format!("seed {}: {e}", seed.name))?;
            *f.stats.entry(format!("http {} {status}", seed.route)).or_default() += 1;
            Ok(())
        }
        E2e::Ws { seed, muts, bytes } => {
            let seed = &ws_seeds[seed];
            let values = f.values().await;
            let input = build_input(seed, &values, &muts, &bytes);
            // A text frame must be UTF-8: what is not goes as a (lossy) text anyway.
            let text = String::from_utf8_lossy(&input).to_string();
            let what = format!("{}: {text:.300}", seed.name);
            match ws_call(f, Message::Text(text.clone().into()), what.clone()).await? {
                Some(v) => ws_reply_ok(&v).map_err(|e| format!("{what}: {e}")),
                None if text.len() > tandem::stream::MAX_FRAME => Ok(()),
                None => Err(format!("{what}: closed 1009 for {} bytes", text.len())),
            }
        }
        E2e::Query { path, query } => {
            let path = match path {
                0 => "/api/entries".to_string(),
                1 => "/api/events".to_string(),
                2 => format!("/api/summary/{}", f.couple),
                _ => format!("/api/summary/{}/export.csv", f.couple),
            };
            // Only the characters a URL cannot carry are encoded; `&`, `=` and `%` stay.
            let query: String = query
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() && c != '#' {
                        c.to_string()
                    } else {
                        encode(&c.to_string())
                    }
                })
                .collect();
            let url = format!("{path}?{query}");
            let client = &f.ana.client;
            let res = client
                .http
                .get(format!("{}{url}", client.base))
                .header("Origin", &client.origin)
                .header("Cookie", client.cookie().unwrap_or_default())
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = res.status();
            let text = res.text().await.map_err(|e| format!("GET {url}: {e}"))?;
            if status.is_server_error() || (status.is_client_error() && !text.contains("\"error\"")) {
                return Err(format!("GET {url}: {status} {text}"));
            }
            *f.stats.entry(format!("query {path} {}", status.as_u16())).or_default() += 1;
            Ok(())
        }
        E2e::Binary(bytes) => {
            let what = format!("binary: {bytes:?}");
            let reply = ws_call(f, Message::Binary(bytes.into()), what.clone())
                .await?
                .ok_or(format!("{what}: closed the socket"))?;
            ws_reply_ok(&reply)
        }
        E2e::Oversize(n) => {
            let text = json!({ "type": "create_entry", "request_id": new_id(), "pad": "x".repeat(n) }).to_string();
            let len = text.len();
            match ws_call(f, Message::Text(text.into()), format!("oversize: {len} bytes")).await? {
                Some(v) if len <= tandem::stream::MAX_FRAME => {
                    ws_reply_ok(&v)?;
                    if v["error"]["code"] != "too_large" {
                        return Err(format!("{len} bytes: expected too_large, got {v}"));
                    }
                    Ok(())
                }
                Some(v) => Err(format!("{len} bytes: expected close 1009, got {v}")),
                None if len > tandem::stream::MAX_FRAME => Ok(()),
                None => Err(format!("{len} bytes closed the socket")),
            }
        }
    }
}

/// The end-to-end run, on each backend: the store's errors (constraint violations,
/// encodings, sizes) differ between SQLite and PostgreSQL, and must become 4xx on both.
mod sqlite {
    #[test]
    fn server_answers_mutated_requests_and_frames_without_failing() {
        super::server_answers_mutated_requests_and_frames_without_failing(crate::helpers::Backend::Sqlite)
    }
}

mod postgres {
    #[test]
    fn server_answers_mutated_requests_and_frames_without_failing() {
        super::server_answers_mutated_requests_and_frames_without_failing(crate::helpers::Backend::Postgres)
    }
}

fn server_answers_mutated_requests_and_frames_without_failing(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let http = corpus("http");
    let ws = corpus("ws");
    let Some(fixture) = rt.block_on(Fixture::start(backend)) else {
        return;
    };
    let fixture = std::sync::Mutex::new(fixture);
    let config = Config {
        cases: cases(24),
        failure_persistence: None,
        // Shrinking re-runs cases against the same server: keep it bounded.
        max_shrink_iters: 200,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    run(config, e2e_strategy(http.len(), ws.len()), |case| {
        let mut f = fixture.lock().unwrap_or_else(|p| p.into_inner());
        rt.block_on(e2e_case(&mut f, &http, &ws, case))
            .map_err(TestCaseError::fail)
    });
    // Still healthy: HTTP answers, the open socket and a new one work.
    let mut f = fixture.lock().unwrap();
    rt.block_on(async {
        let (status, body) = f.app.anonymous().get("/api/health").await;
        assert_eq!((status.as_u16(), &body["status"]), (200, &json!("ok")));
        let ws = f.ws.as_mut().unwrap();
        ws.send(json!({ "type": "share", "request_id": new_id(), "entry_id": new_id(), "scopes": ["partner"] }))
            .await;
        let reply = answer(ws, false).await.unwrap().unwrap();
        assert_eq!(reply["error"]["code"], "not_found", "{reply}");
        let mut fresh = f.ana.ws(None).await;
        fresh
            .send(json!({ "type": "create_entry", "request_id": new_id(), "kind": "appreciation", "body": { "text": "still here", "shown_by": "words" } }))
            .await;
        let reply = answer(&mut fresh, false).await.unwrap().unwrap();
        assert_eq!(reply["type"], "ack", "{reply}");
    });
    eprintln!(
        "fuzz end to end ({backend:?}): {} cases in {:.1?}",
        cases(24),
        started.elapsed()
    );
    if std::env::var_os("FUZZ_STATS").is_some() {
        eprintln!("{:#?}", fixture.lock().unwrap().stats);
    }
}
