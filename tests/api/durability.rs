//! Durability: the real server binary, under continuous load from many partners over
//! websockets, is killed with SIGKILL at random moments and restarted on the same port
//! and database. Afterwards every acknowledged write is there, applied once, and
//! delivered once; SQLite's integrity check passes after every crash and restart.
//!
//! Clients behave as the protocol asks: on a lost connection they reconnect with
//! `?since=` their cursor and retry the request in flight with the same `request_id`.
//! Some give up on the request instead; those are retried once at the very end, where
//! each must report `replayed: true` exactly when its first attempt had been applied.
//!
//! `TANDEM_CHAOS_SEED` replays the kill schedule and the clients' choices of a run;
//! `TANDEM_CHAOS_KILLS` sets how many times the server is killed.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::both_backends;
use crate::helpers::{check_in, fresh_database, new_id, Backend, Client};

both_backends!(acknowledged_writes_survive_sigkill);

/// Couples under load; both partners of each write, share and read.
const COUPLES: usize = 6;
/// How long a client waits for any one message before it calls the connection dead.
const MESSAGE_WAIT: Duration = Duration::from_secs(10);
/// The whole test, setup to last check.
const TEST_LIMIT: Duration = Duration::from_secs(240);

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

// ---------------------------------------------------------------------------------
// The server as a child process

/// The `tandem` binary on a fixed port; SIGKILLed on drop, so none outlives the test.
struct Server {
    child: Option<Child>,
    port: u16,
    database_url: String,
    log: PathBuf,
    starts: usize,
    /// How long each start took until the server answered.
    start_times: Vec<Duration>,
}

impl Server {
    async fn start(port: u16, database_url: &str, log: PathBuf) -> Server {
        let mut server = Server {
            child: None,
            port,
            database_url: database_url.to_string(),
            log,
            starts: 0,
            start_times: Vec::new(),
        };
        server.spawn().await;
        server
    }

    /// Starts the binary and waits until it answers; retries if it exits at once
    /// (the port not yet free after a kill, say).
    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let health = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{}/api/health", self.port);
        let began = Instant::now();
        let deadline = began + Duration::from_secs(30);
        loop {
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .expect("server log");
            let child = Command::new(env!("CARGO_BIN_EXE_tandem"))
                .args(["--listen", &format!("127.0.0.1:{}", self.port)])
                .args(["--database-url", &self.database_url])
                .args(["--attempts-per-minute", "100000"])
                .env("RUST_LOG", "warn,sqlx=error")
                .env("NO_COLOR", "1")
                .env_remove("TANDEM_PUBLIC_URL")
                .env_remove("TANDEM_ALLOWED_ORIGINS")
                .env_remove("TANDEM_LISTEN")
                .env_remove("TANDEM_DATABASE_URL")
                .stdin(Stdio::null())
                // The server logs to stdout; panics go to stderr.
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .expect("spawn the tandem binary");
            self.child = Some(child);
            self.starts += 1;
            loop {
                let exited = self.child.as_mut().unwrap().try_wait().expect("try_wait");
                if let Some(status) = exited {
                    self.child = None;
                    assert!(
                        Instant::now() < deadline,
                        "the server keeps exiting ({status}); log:\n{}",
                        tail(&self.log)
                    );
                    sleep(Duration::from_millis(250)).await;
                    break;
                }
                if let Ok(res) = health.get(&url).send().await {
                    if res.status() == StatusCode::OK {
                        self.start_times.push(began.elapsed());
                        return;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "the server did not answer within 30 s; log:\n{}",
                    tail(&self.log)
                );
                sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// SIGKILL: no shutdown code runs, open transactions die mid-flight.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("server log ({}):\n{}", self.log.display(), tail(&self.log));
        }
    }
}

/// The last few KiB of a log file.
fn tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

/// The server log's warnings and errors, without timestamps, counted.
fn log_problems(path: &Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut problems = HashMap::new();
    for line in text.lines() {
        let line = strip_ansi(line);
        if let Some(at) = line.find(" WARN ").or_else(|| line.find("ERROR ")) {
            *problems.entry(line[at..].trim().to_string()).or_insert(0) += 1;
        }
    }
    problems
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A free port below the ephemeral range, so that no outgoing connection (ours or
/// another test's) takes it while the server is down, and a client can never connect
/// to itself on it.
fn free_port(rng: &mut StdRng) -> u16 {
    for _ in 0..1000 {
        let port = rng.gen_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}

/// SQLite's own check of the file, through a connection of our own (read-only: it
/// neither checkpoints nor changes what the next server start finds).
async fn integrity_check(path: &Path, when: &str) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{when}: cannot open the SQLite file: {e}"));
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{when}: integrity_check failed to run: {e}"));
    assert_eq!(rows, ["ok"], "{when}: PRAGMA integrity_check");
    let broken = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{when}: foreign_key_check failed to run: {e}"));
    assert!(broken.is_empty(), "{when}: {} foreign key violations", broken.len());
    let _ = conn.close().await;
}

// ---------------------------------------------------------------------------------
// Clients

struct Account {
    id: String,
    name: String,
    client: Client,
}

async fn signup(client: Client, name: String) -> Account {
    let email = format!("{}-{}@example.org", name.to_lowercase(), uuid::Uuid::new_v4().simple());
    let (status, body) = client
        .post(
            "/api/signup",
            json!({ "email": email, "password": "a long enough password", "display_name": name, "role": "partner" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "signup: {body}");
    Account {
        id: body["user"]["id"].as_str().unwrap().to_string(),
        name,
        client,
    }
}

async fn pair(a: &Account, b: &Account) {
    let (status, body) = a.client.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = body["invite"]["code"].as_str().unwrap().to_string();
    let (status, body) = b.client.post("/api/couple/join", json!({ "code": code })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Why a request got no answer.
#[derive(Debug)]
enum Fail {
    /// Could not connect, or the connection broke or went silent: reconnect and retry.
    Connection(String),
    /// A 5xx error: nothing promised, retry.
    Server(Value),
}

/// The next JSON text message (pings skipped, and answered by tungstenite).
async fn read_json(ws: &mut WsStream) -> Result<Value, String> {
    loop {
        match timeout(MESSAGE_WAIT, ws.next()).await {
            Err(_) => return Err("no message within the wait".into()),
            Ok(None) => return Err("connection closed".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(Message::Text(t)))) => {
                return serde_json::from_str(t.as_str()).map_err(|e| format!("bad JSON {t}: {e}"))
            }
            Ok(Some(Ok(Message::Close(frame)))) => return Err(format!("closed: {frame:?}")),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// One partner's websocket client and everything it saw and was promised.
struct Writer {
    name: String,
    id: String,
    client: Client,
    port: u16,
    ws: Option<WsStream>,
    /// The seq of the last event received; resumes use it.
    cursor: Option<i64>,
    /// Where the live stream started (the head at the first connection).
    first_cursor: i64,
    /// Events received live, across every reconnection: (seq, event, entry id).
    live: Vec<(i64, String, Option<String>)>,
    /// Acknowledged creates: request id → entry id.
    creates: HashMap<String, String>,
    /// Acknowledged shares: request id → entry id.
    shares: HashMap<String, String>,
    /// Requests given up on after a connection error, for the final retry.
    abandoned: Vec<Value>,
    /// Acks that said `replayed: true`: a retry of a write whose ack the crash ate.
    replayed: usize,
    connection_errors: usize,
    server_errors: usize,
    /// What went wrong, and how often (for the report).
    errors: HashMap<String, usize>,
}

impl Writer {
    fn new(account: &Account, port: u16) -> Writer {
        Writer {
            name: account.name.clone(),
            id: account.id.clone(),
            client: account.client.clone(),
            port,
            ws: None,
            cursor: None,
            first_cursor: 0,
            live: Vec::new(),
            creates: HashMap::new(),
            shares: HashMap::new(),
            abandoned: Vec::new(),
            replayed: 0,
            connection_errors: 0,
            server_errors: 0,
            errors: HashMap::new(),
        }
    }

    /// Opens the websocket at `since` (or at the head); returns it and its `ready`.
    async fn open(&self, since: Option<i64>) -> Result<(WsStream, Value), String> {
        let url = match since {
            Some(s) => format!("ws://127.0.0.1:{}/api/ws?since={s}", self.port),
            None => format!("ws://127.0.0.1:{}/api/ws", self.port),
        };
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("Origin", self.client.origin.parse().unwrap());
        req.headers_mut()
            .insert("Cookie", self.client.cookie().unwrap().parse().unwrap());
        let (mut ws, _) = timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(req))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let ready = read_json(&mut ws).await?;
        assert_eq!(ready["type"], "ready", "{}: first message {ready}", self.name);
        Ok((ws, ready))
    }

    /// Connects (resuming after the cursor) unless connected.
    async fn connect(&mut self) -> Result<(), String> {
        if self.ws.is_some() {
            return Ok(());
        }
        let (ws, ready) = self.open(self.cursor).await?;
        // A reset means the server's head is behind events it already delivered:
        // delivered events were lost.
        assert_eq!(
            ready["reset"],
            false,
            "{}: resumed at {:?} after a restart and the server reset the stream (events it delivered are gone): {ready}",
            self.name,
            self.cursor
        );
        let since = ready["since"].as_i64().unwrap();
        match self.cursor {
            Some(c) => assert_eq!(since, c, "{}: {ready}", self.name),
            None => {
                self.cursor = Some(since);
                self.first_cursor = since;
            }
        }
        self.ws = Some(ws);
        Ok(())
    }

    /// Records a live event; they must follow the cursor without gap or repeat.
    fn on_event(&mut self, msg: &Value) {
        let seq = msg["seq"].as_i64().expect("seq");
        let cursor = self.cursor.unwrap();
        assert_eq!(
            seq,
            cursor + 1,
            "{}: live event after {cursor} is not the next one: {msg}",
            self.name
        );
        self.cursor = Some(seq);
        self.live.push(event_key(msg));
    }

    /// Sends one command and waits for its ack; live events on the way are recorded.
    async fn call(&mut self, msg: &Value) -> Result<Value, Fail> {
        self.connect().await.map_err(Fail::Connection)?;
        let mut ws = self.ws.take().unwrap();
        let sent = timeout(Duration::from_secs(5), ws.send(Message::Text(msg.to_string().into()))).await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Fail::Connection(e.to_string())),
            Err(_) => return Err(Fail::Connection("send timed out".into())),
        }
        loop {
            let answer = read_json(&mut ws).await.map_err(Fail::Connection)?;
            match answer["type"].as_str() {
                Some("event") => self.on_event(&answer),
                Some("ack") if answer["request_id"] == msg["request_id"] => {
                    self.ws = Some(ws);
                    return Ok(answer);
                }
                Some("error") if answer["request_id"] == msg["request_id"] => {
                    self.ws = Some(ws);
                    let status = answer["status"].as_u64().unwrap_or(0);
                    assert!(
                        status >= 500,
                        "{}: refused {msg} (a retry must never be refused): {answer}",
                        self.name
                    );
                    return Err(Fail::Server(answer));
                }
                _ => panic!("{}: unexpected message {answer} while waiting for {msg}", self.name),
            }
        }
    }

    /// Checks an ack and records what it promises.
    fn acknowledged(&mut self, msg: &Value, ack: &Value) -> String {
        let rid = msg["request_id"].as_str().unwrap().to_string();
        let entry_id = ack["entry_id"].as_str().expect("entry_id").to_string();
        assert_eq!(ack["entry"]["id"], entry_id.as_str(), "{}: {ack}", self.name);
        if ack["replayed"] == true {
            self.replayed += 1;
        }
        if msg["type"] == "create_entry" {
            let before = self.creates.insert(rid, entry_id.clone());
            assert!(before.is_none());
        } else {
            assert_eq!(ack["entry_id"], msg["entry_id"], "{}: {ack}", self.name);
            assert!(
                ack["entry"]["consent"]["partner"].is_string(),
                "{}: share acknowledged but not shared: {ack}",
                self.name
            );
            let before = self.shares.insert(rid, entry_id.clone());
            assert!(before.is_none());
        }
        entry_id
    }

    /// The load: create, then (mostly) share, one request at a time, until `stop`.
    async fn run(mut self, stop: Arc<AtomicBool>, seed: u64) -> Writer {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pending: Option<Value> = None;
        let mut to_share: Option<String> = None;
        let mut backoff = Duration::from_millis(10);
        let mut finish_by: Option<Instant> = None;
        loop {
            if stop.load(Ordering::SeqCst) {
                let by = *finish_by.get_or_insert_with(|| Instant::now() + Duration::from_secs(30));
                assert!(
                    Instant::now() < by,
                    "{}: could not finish its last request within 30 s of the end",
                    self.name
                );
            }
            if pending.is_none() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                pending = Some(match to_share.take() {
                    Some(id) => {
                        json!({ "type": "share", "request_id": new_id(), "entry_id": id, "scopes": ["partner"] })
                    }
                    None => {
                        json!({ "type": "create_entry", "request_id": new_id(), "kind": "check_in", "body": check_in(rng.gen_range(1..=5)) })
                    }
                });
            }
            let msg = pending.clone().unwrap();
            match self.call(&msg).await {
                Ok(ack) => {
                    backoff = Duration::from_millis(10);
                    let entry_id = self.acknowledged(&msg, &ack);
                    // Most entries are shared; the rest must never reach the partner.
                    if msg["type"] == "create_entry" && rng.gen_bool(0.8) {
                        to_share = Some(entry_id);
                    }
                    pending = None;
                }
                Err(Fail::Connection(e)) => {
                    self.connection_errors += 1;
                    *self.errors.entry(e).or_insert(0) += 1;
                    if rng.gen_bool(0.2) {
                        self.abandoned.push(msg);
                        pending = None;
                    }
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                Err(Fail::Server(e)) => {
                    self.server_errors += 1;
                    *self.errors.entry(e["error"].to_string()).or_insert(0) += 1;
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
            }
        }
        self
    }

    /// Reads the rest of the live stream, up to the head.
    async fn drain(&mut self) {
        self.ws = None;
        let (mut ws, ready) = self.open(self.cursor).await.expect("reconnect at the end");
        assert_eq!(ready["reset"], false, "{}: {ready}", self.name);
        let head = ready["head"].as_i64().unwrap();
        while self.cursor.unwrap() < head {
            let msg = read_json(&mut ws).await.expect("catch up at the end");
            assert_eq!(msg["type"], "event", "{}: {msg}", self.name);
            self.on_event(&msg);
        }
    }

    /// The whole stream from the start over the websocket (`?since=0`).
    async fn replay_ws(&self) -> (i64, Vec<(i64, String, Option<String>)>) {
        let (mut ws, ready) = self.open(Some(0)).await.expect("connect with since=0");
        assert_eq!(
            (ready["reset"].as_bool(), ready["since"].as_i64()),
            (Some(false), Some(0)),
            "{ready}"
        );
        let head = ready["head"].as_i64().unwrap();
        let mut events = Vec::new();
        while (events.len() as i64) < head {
            let msg = read_json(&mut ws).await.expect("replay");
            assert_eq!(msg["type"], "event", "{}: {msg}", self.name);
            events.push(event_key(&msg));
        }
        (head, events)
    }

    /// The whole stream over HTTP, in pages.
    async fn replay_http(&self) -> Vec<(i64, String, Option<String>)> {
        let mut events = Vec::new();
        let mut since = 0;
        loop {
            let (status, page) = self.client.get(&format!("/api/events?since={since}&limit=1000")).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let batch = page["events"].as_array().unwrap();
            if batch.is_empty() {
                return events;
            }
            for ev in batch {
                events.push(event_key(ev));
            }
            since = page["next_since"].as_i64().unwrap();
        }
    }

    /// Every entry this partner can list, through every page, and the pages' `next_before`.
    async fn listed(&self) -> (Vec<Value>, Vec<String>) {
        let mut all = Vec::new();
        let mut boundaries = Vec::new();
        let mut path = "/api/entries?limit=200".to_string();
        loop {
            let (status, page) = self.client.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            all.extend(page["entries"].as_array().unwrap().iter().cloned());
            match (page["next_before"].as_str(), page["next_before_id"].as_str()) {
                (Some(before), Some(id)) => {
                    boundaries.push(before.to_string());
                    path = format!(
                        "/api/entries?limit=200&before={}&before_id={id}",
                        before.replace('+', "%2B").replace(':', "%3A")
                    )
                }
                _ => return (all, boundaries),
            }
        }
    }

    /// Why these entries are missing from the list: gone, or skipped by paging.
    async fn explain_missing<'a>(
        &self,
        missing: impl IntoIterator<Item = &'a String>,
        boundaries: &[String],
    ) -> String {
        let mut out = Vec::new();
        for id in missing {
            let (status, body) = self.client.get(&format!("/api/entries/{id}")).await;
            let created = body["entry"]["created_at"].as_str().unwrap_or_default().to_string();
            out.push(if status != StatusCode::OK {
                format!("{id}: {status} (lost)")
            } else if boundaries.contains(&created) {
                format!("{id}: exists, but paging skipped it (its created_at {created} equals a page's next_before)")
            } else {
                format!("{id}: exists (created {created}) but is not listed")
            });
        }
        out.join("; ")
    }
}

/// What identifies an event: (seq, kind, entry id).
fn event_key(msg: &Value) -> (i64, String, Option<String>) {
    let event = msg["event"].as_str().expect("event").to_string();
    let entry = match event.as_str() {
        "entry" => msg["entry"]["id"].as_str().map(str::to_string),
        "entry_removed" => msg["entry_id"].as_str().map(str::to_string),
        _ => None,
    };
    (msg["seq"].as_i64().expect("seq"), event, entry)
}

fn count<'a>(ids: impl IntoIterator<Item = &'a String>) -> HashMap<&'a String, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

// ---------------------------------------------------------------------------------
// The test

async fn acknowledged_writes_survive_sigkill(backend: Backend) {
    let Some((url, dir)) = fresh_database(backend).await else {
        return;
    };
    timeout(TEST_LIMIT, chaos(backend, url, dir))
        .await
        .expect("the durability test finishes in time");
}

async fn chaos(backend: Backend, url: String, dir: Option<tempfile::TempDir>) {
    let started = Instant::now();
    let seed: u64 = std::env::var("TANDEM_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("durability ({backend:?}): seed {seed} (set TANDEM_CHAOS_SEED to replay)");
    let mut rng = StdRng::seed_from_u64(seed);
    let kills = std::env::var("TANDEM_CHAOS_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(match backend {
            Backend::Sqlite => 10,
            Backend::Postgres => 6,
        });
    let logs = tempfile::tempdir().expect("temp dir");
    let sqlite_file = dir.as_ref().map(|d| d.path().join("tandem.db"));
    let port = free_port(&mut rng);
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server::start(port, &url, logs.path().join("server.log")).await;

    // Six couples, signed up and paired over HTTP.
    let accounts = futures_util::future::join_all((0..2 * COUPLES).map(|i| {
        let name = format!("{}{}", if i % 2 == 0 { "Ana" } else { "Ben" }, i / 2);
        signup(Client::to(&base, &base), name)
    }))
    .await;
    for couple in accounts.chunks(2) {
        pair(&couple[0], &couple[1]).await;
    }
    let partner_of = |i: usize| i ^ 1;
    println!(
        "durability ({backend:?}): {} partners ready after {:.1} s",
        accounts.len(),
        started.elapsed().as_secs_f64()
    );

    // Load from every partner, while the server is killed and restarted.
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let tasks: Vec<_> = accounts
        .iter()
        .map(|a| tokio::spawn(Writer::new(a, port).run(stop.clone(), rng.gen())))
        .collect();
    for k in 1..=kills {
        sleep(Duration::from_millis(rng.gen_range(100..=700))).await;
        server.kill();
        if let Some(file) = &sqlite_file {
            integrity_check(file, &format!("after kill {k}")).await;
        }
        server.spawn().await;
        if let Some(file) = &sqlite_file {
            integrity_check(file, &format!("after restart {k}")).await;
        }
    }
    sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut writers = Vec::new();
    for task in tasks {
        match task.await {
            Ok(w) => writers.push(w),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("writer task: {e}"),
        }
    }
    let load_time = load_started.elapsed();

    // Before the final retries: each acknowledged create is listed once, and of the
    // abandoned creates at most those applied before the crash.
    let mut applied_before: Vec<HashSet<String>> = Vec::new();
    for w in &writers {
        let (listed, boundaries) = w.listed().await;
        let own: Vec<String> = listed
            .iter()
            .filter(|e| e["author"]["id"] == w.id.as_str())
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        let counts = count(&own);
        let dup: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dup.is_empty(), "{}: entries listed twice: {dup:?}", w.name);
        let own: HashSet<String> = own.into_iter().collect();
        let acked: HashSet<String> = w.creates.values().cloned().collect();
        let lost: Vec<_> = acked.difference(&own).collect();
        if !lost.is_empty() {
            panic!(
                "{}: acknowledged creates missing from the list after the crashes: {}",
                w.name,
                w.explain_missing(lost, &boundaries).await
            );
        }
        let extra: HashSet<String> = own.difference(&acked).cloned().collect();
        let abandoned_creates = w.abandoned.iter().filter(|m| m["type"] == "create_entry").count();
        assert!(
            extra.len() <= abandoned_creates,
            "{}: {} entries nobody asked for ({} creates abandoned): duplicates of retried creates?",
            w.name,
            extra.len(),
            abandoned_creates
        );
        applied_before.push(extra);
    }

    // Every abandoned request, retried once with its request id: `replayed` exactly
    // when it had been applied, and never applied twice.
    let mut final_replays = 0;
    for (w, extra) in writers.iter_mut().zip(&applied_before) {
        let mut replayed_creates = HashSet::new();
        for msg in w.abandoned.clone() {
            let ack = w.call(&msg).await.expect("a retry after the last restart");
            let entry_id = w.acknowledged(&msg, &ack);
            if ack["replayed"] == true {
                final_replays += 1;
                if msg["type"] == "create_entry" {
                    replayed_creates.insert(entry_id);
                }
            } else if msg["type"] == "create_entry" {
                assert!(
                    !extra.contains(&entry_id),
                    "{}: a create applied before the crash was applied again: {ack}",
                    w.name
                );
            }
        }
        assert_eq!(
            &replayed_creates, extra,
            "{}: the creates found applied are those whose retry says replayed",
            w.name
        );
    }

    // Every stream, live (across every reconnection) and replayed from the start.
    for w in writers.iter_mut() {
        w.drain().await;
    }
    let mut events_total = 0;
    for (i, w) in writers.iter().enumerate() {
        let partner = &writers[partner_of(i)];
        let (head, replay) = w.replay_ws().await;
        events_total += head;
        let seqs: Vec<i64> = replay.iter().map(|e| e.0).collect();
        assert_eq!(
            seqs,
            (1..=head).collect::<Vec<_>>(),
            "{}: seqs are 1..=head, no gap, no repeat",
            w.name
        );
        assert_eq!(replay, w.replay_http().await, "{}: HTTP and websocket agree", w.name);
        let live_part: Vec<_> = replay.iter().filter(|e| e.0 > w.first_cursor).cloned().collect();
        assert_eq!(
            w.live, live_part,
            "{}: what arrived live across the restarts is the stream",
            w.name
        );

        let own: HashSet<&String> = w.creates.values().collect();
        let own_shared: HashSet<&String> = w.shares.values().collect();
        let partner_shared: HashSet<&String> = partner.shares.values().collect();
        assert!(own_shared.is_subset(&own));
        let mut own_events: HashMap<&String, usize> = HashMap::new();
        let mut partner_events: HashMap<&String, usize> = HashMap::new();
        for (seq, event, entry) in &replay {
            match (event.as_str(), entry) {
                ("couple", _) => {}
                ("entry", Some(id)) if own.contains(id) => *own_events.entry(id).or_insert(0) += 1,
                ("entry", Some(id)) if partner_shared.contains(id) => *partner_events.entry(id).or_insert(0) += 1,
                other => panic!("{}: unexpected event {seq} {other:?}", w.name),
            }
        }
        for id in &own {
            // One for the create and one for the share, or one for both when the stream
            // numbered them in the same read (an entry takes one position per read).
            let most = 1 + usize::from(own_shared.contains(id));
            let got = own_events.get(id).copied().unwrap_or(0);
            assert!(
                (1..=most).contains(&got),
                "{}: {got} events for own entry {id} (one per write, or one for both)",
                w.name
            );
        }
        for id in &partner_shared {
            assert_eq!(
                partner_events.get(id).copied().unwrap_or(0),
                1,
                "{}: the partner's acknowledged share {id} is delivered exactly once",
                w.name
            );
        }

        // The list: own entries and the partner's shares, each once, shares intact.
        let (listed, boundaries) = w.listed().await;
        let ids: Vec<String> = listed.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
        let counts = count(&ids);
        let dup: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dup.is_empty(), "{}: entries listed twice: {dup:?}", w.name);
        let listed_set: HashSet<&String> = ids.iter().collect();
        let expected: HashSet<&String> = own.union(&partner_shared).copied().collect();
        let missing: Vec<_> = expected.difference(&listed_set).collect();
        let unexpected: Vec<_> = listed_set.difference(&expected).collect();
        assert!(
            unexpected.is_empty(),
            "{}: listed but unexpected: {unexpected:?}",
            w.name
        );
        if !missing.is_empty() {
            panic!(
                "{}: listed {} entries, expected {}; missing: {}",
                w.name,
                ids.len(),
                expected.len(),
                w.explain_missing(missing.into_iter().copied(), &boundaries).await
            );
        }
        for e in &listed {
            let id = e["id"].as_str().unwrap().to_string();
            if own_shared.contains(&id) {
                assert!(e["consent"]["partner"].is_string(), "{}: {e}", w.name);
            } else if own.contains(&id) {
                assert!(e["consent"]["partner"].is_null(), "{}: {e}", w.name);
            }
        }
    }

    // The database after the last restart, as a whole.
    if let Some(file) = &sqlite_file {
        server.kill();
        integrity_check(file, "at the end").await;
    }

    let creates: usize = writers.iter().map(|w| w.creates.len()).sum();
    let shares: usize = writers.iter().map(|w| w.shares.len()).sum();
    let replayed: usize = writers.iter().map(|w| w.replayed).sum();
    let abandoned: usize = writers.iter().map(|w| w.abandoned.len()).sum();
    let conn_errors: usize = writers.iter().map(|w| w.connection_errors).sum();
    let server_errors: usize = writers.iter().map(|w| w.server_errors).sum();
    println!(
        "durability ({backend:?}): {kills} SIGKILLs over {:.1} s of load ({} server starts); \
         {creates} creates and {shares} shares acknowledged, {events_total} events checked; \
         {replayed} acks were replays ({final_replays} in the final retry of {abandoned} abandoned requests); \
         {conn_errors} connection errors, {server_errors} 5xx errors; {:.1} s in all",
        load_time.as_secs_f64(),
        server.starts,
        started.elapsed().as_secs_f64()
    );
    let mut errors: HashMap<&String, usize> = HashMap::new();
    for w in &writers {
        for (e, n) in &w.errors {
            *errors.entry(e).or_insert(0) += n;
        }
    }
    println!("durability ({backend:?}): errors clients saw: {errors:?}");
    // Crashes cost connections, never a server error (a deadlock would show up here).
    assert_eq!(server_errors, 0, "5xx answers: {errors:?}");
    let starts = &server.start_times;
    println!(
        "durability ({backend:?}): starts took {:?} on average, {:?} at most; server log: {:?}",
        starts.iter().sum::<Duration>() / starts.len() as u32,
        starts.iter().max().unwrap(),
        log_problems(&server.log)
    );
    drop(server);
}
