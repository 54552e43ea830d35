//! The test harness: a real server on a random port, with a fresh database per test,
//! driven over real HTTP and websocket connections.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tandem::{serve, AppState, Config};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn(Backend)` as two tests: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
    };
}

/// Base URL of the PostgreSQL server tests create their databases on.
fn postgres_admin_url() -> String {
    std::env::var("TANDEM_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// PostgreSQL tests are skipped when no server answers, unless CI or
/// TANDEM_REQUIRE_POSTGRES says they must run.
fn postgres_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("TANDEM_REQUIRE_POSTGRES").is_some()
}

/// A fresh, empty database for one test; `None` when PostgreSQL is absent and optional.
pub async fn fresh_database(backend: Backend) -> Option<(String, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
            Some((url, Some(dir)))
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let admin = postgres_admin_url();
            let mut conn = match sqlx::PgConnection::connect(&admin).await {
                Ok(c) => c,
                Err(e) if !postgres_required() => {
                    eprintln!("skipped: PostgreSQL not reachable at {admin} ({e}); set TANDEM_REQUIRE_POSTGRES=1 to fail instead");
                    return None;
                }
                Err(e) => panic!("PostgreSQL not reachable at {admin}: {e}"),
            };
            let name = format!("tandem_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create database");
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
            Some((format!("{base}/{name}"), None))
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub origin: String,
    pub database_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// Starts the server on port 0 with a fresh database; `None` if the backend is unavailable.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

pub async fn spawn_app_with(backend: Backend, args: &[&str]) -> Option<TestApp> {
    let (url, dir) = fresh_database(backend).await?;
    Some(spawn_on(&url, dir, args).await)
}

/// Starts a server on an existing database (a restart, or a second instance).
pub async fn spawn_on(url: &str, dir: Option<tempfile::TempDir>, args: &[&str]) -> TestApp {
    // Port 0, and the bound listener handed to the server: no port is picked, released
    // and bound again, so none can be taken in between.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    spawn_on_listener(url, dir, args, listener).await
}

/// Starts a server on an existing database that accepts on `listener` (already bound):
/// how a test restarts a server at the same address (see `HeldPort`).
pub async fn spawn_on_listener(
    url: &str,
    dir: Option<tempfile::TempDir>,
    args: &[&str],
    listener: std::net::TcpListener,
) -> TestApp {
    listener.set_nonblocking(true).expect("non-blocking listener");
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    let addr = listener.local_addr().expect("addr");
    let listen = addr.to_string();
    let mut argv = vec!["tandem", "--listen", &listen, "--database-url", url];
    // Tests sign up many users from one address; the limit test sets its own.
    if !args.contains(&"--attempts-per-minute") {
        argv.extend(["--attempts-per-minute", "1000"]);
    }
    // Tests pipeline thousands of messages on one socket; the limit test sets its own.
    if !args.contains(&"--ws-messages-per-second") {
        argv.extend(["--ws-messages-per-second", "100000"]);
    }
    argv.extend_from_slice(args);
    let config = test_config(&argv);
    let state = AppState::new(config, addr).await.expect("server state");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        origin: format!("http://127.0.0.1:{}", addr.port()),
        database_url: url.to_string(),
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

/// The server's configuration from these flags alone.
///
/// `Config` gives every flag an environment variable (`TANDEM_LISTEN`, …), so parsing the
/// usual way would let a developer's shell change what the tests run against. Each
/// argument's variable is unset on the parser before it parses: nothing global is
/// touched (changing the process environment while test threads run is not safe), and a
/// flag the test leaves out gets its default, never a value from the environment.
pub fn test_config(argv: &[&str]) -> Config {
    let command = Config::command().mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command
        .try_get_matches_from(argv)
        .unwrap_or_else(|e| panic!("test server flags {argv:?}: {e}"));
    Config::from_arg_matches(&matches).unwrap_or_else(|e| panic!("test server flags {argv:?}: {e}"))
}

/// The environment for a child `tandem` process: the caller's, minus every `TANDEM_*`
/// variable, so only the flags the test passes configure it.
pub fn without_tandem_env(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TANDEM_") {
            command.env_remove(&key);
        }
    }
    command
}

/// An HTTP client whose every request ends within a bound: a server that hangs fails
/// the test (after the timeout) instead of hanging it.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// A listening socket the test keeps for its whole length, so a server can stop and start
/// again at the same address (the page in a browser keeps its origin) without the port
/// ever being released, which another process could then take.
pub struct HeldPort {
    listener: std::net::TcpListener,
}

impl HeldPort {
    pub fn new() -> HeldPort {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking listener");
        HeldPort { listener }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("addr")
    }

    /// The same listening socket, for a server to accept on (`spawn_on_listener`).
    pub fn share(&self) -> std::net::TcpListener {
        self.listener.try_clone().expect("share the listener")
    }

    /// While no server runs: accepts each connection and resets it at once, as a
    /// stopped server's refused connection would fail, until `Refusing::stop`.
    pub fn refuse(&self) -> Refusing {
        let listener = tokio::net::TcpListener::from_std(self.share()).expect("listener");
        Refusing {
            task: tokio::spawn(async move {
                loop {
                    if let Ok((conn, _)) = listener.accept().await {
                        let _ = conn.set_zero_linger();
                        drop(conn);
                    }
                }
            }),
        }
    }
}

pub struct Refusing {
    task: tokio::task::JoinHandle<()>,
}

impl Refusing {
    /// Stops accepting; once this returns, only a server started now accepts.
    pub async fn stop(self) {
        self.task.abort();
        // Cancelled, as asked: the task and its listener are gone.
        let _ = self.task.await;
    }
}

impl TestApp {
    /// Stops the server and waits until it has closed every socket.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
        self._dir.take()
    }

    pub fn anonymous(&self) -> Client {
        Client {
            http: http_client(),
            base: self.base.clone(),
            origin: self.origin.clone(),
            cookie: Default::default(),
        }
    }

    /// Signs up a partner with a unique email.
    pub async fn partner(&self, name: &str) -> Partner {
        self.signup(name, "partner").await
    }

    pub async fn signup(&self, name: &str, role: &str) -> Partner {
        let email = format!(
            "{}-{}@example.org",
            name.to_lowercase().replace(" ", "."),
            uuid::Uuid::new_v4().simple()
        );
        let password = "a long enough password".to_string();
        let client = self.anonymous();
        let (status, body) = client
            .post(
                "/api/signup",
                json!({ "email": email, "password": password, "display_name": name, "role": role }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "signup: {body}");
        Partner {
            id: body["user"]["id"].as_str().unwrap().to_string(),
            email,
            password,
            client,
        }
    }

    /// Two partners, paired.
    pub async fn couple(&self) -> (Partner, Partner) {
        let a = self.partner("Ana").await;
        let b = self.partner("Ben").await;
        let (status, body) = a.client.post("/api/couple", json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let code = body["invite"]["code"].as_str().unwrap().to_string();
        let (status, body) = b.client.post("/api/couple/join", json!({ "code": code })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (a, b)
    }

    /// Ana and Ben, paired, with Dr Lee as their active therapist (proposed by Ana,
    /// approved by Ben); the couple's id last.
    pub async fn couple_with_therapist(&self) -> (Partner, Partner, Partner, String) {
        let (ana, ben) = self.couple().await;
        let dr = self.signup("Dr Lee", "therapist").await;
        let (status, body) = ana
            .client
            .post("/api/couple/therapist", json!({ "email": dr.email }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = ben.client.post("/api/couple/therapist/approve", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let id = ana.couple_id().await;
        (ana, ben, dr, id)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// An HTTP client that keeps one session cookie and sends the app's Origin.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub origin: String,
    cookie: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Client {
    /// The same session, talking to another instance.
    pub fn via(&self, app: &TestApp) -> Client {
        Client {
            base: app.base.clone(),
            origin: app.origin.clone(),
            ..self.clone()
        }
    }

    /// The session cookie (`name=value`), if any.
    pub fn cookie(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    pub fn set_cookie(&self, cookie: Option<String>) {
        *self.cookie.lock().unwrap() = cookie;
    }

    fn remember_cookie(&self, res: &reqwest::Response) {
        for v in res.headers().get_all(reqwest::header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            if v.contains("Max-Age=0") || pair.ends_with('=') {
                self.set_cookie(None);
            } else {
                self.set_cookie(Some(pair.to_string()));
            }
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Origin", &self.origin);
        if let Some(c) = self.cookie() {
            req = req.header("Cookie", c);
        }
        req
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let res = req.send().await.expect("request");
        self.remember_cookie(&res);
        let status = res.status();
        let text = res.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.finish(self.request(reqwest::Method::GET, path)).await
    }

    /// POST with a JSON body; keeps any cookie the server sets.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let req = self.request(reqwest::Method::POST, path).json(&body);
        self.finish(req).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let req = self
            .request(reqwest::Method::POST, path)
            .header("Content-Type", content_type)
            .body(body);
        self.finish(req).await
    }

    pub async fn delete(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.finish(self.request(reqwest::Method::DELETE, path).json(&body))
            .await
    }

    /// Opens the event stream, resuming after `since` when given.
    pub async fn ws(&self, since: Option<i64>) -> Ws {
        let url = match since {
            Some(s) => format!("{}/api/ws?since={s}", self.base.replace("http://", "ws://")),
            None => format!("{}/api/ws", self.base.replace("http://", "ws://")),
        };
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("Origin", self.origin.parse().unwrap());
        if let Some(c) = self.cookie() {
            req.headers_mut().insert("Cookie", c.parse().unwrap());
        }
        let (stream, _) = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(req))
            .await
            .expect("websocket connects within 10 s")
            .expect("websocket connects");
        let mut ws = Ws { stream };
        let ready = ws.next().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        ws
    }
}

pub struct Partner {
    pub id: String,
    pub email: String,
    pub password: String,
    pub client: Client,
}

impl Partner {
    /// The id of this partner's current couple.
    pub async fn couple_id(&self) -> String {
        let (status, me) = self.client.get("/api/me").await;
        assert_eq!(status, StatusCode::OK, "{me}");
        me["couple"]["id"].as_str().expect("in a couple").to_string()
    }

    /// Creates an entry over HTTP and returns the writer's view of it.
    pub async fn create(&self, kind: &str, body: Value) -> Value {
        let (status, res) = self
            .client
            .post(
                "/api/entries",
                json!({ "request_id": new_id(), "kind": kind, "body": body }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create {kind}: {res}");
        res["entry"].clone()
    }

    pub async fn share(&self, entry_id: &str, scopes: &[&str]) -> Value {
        let (status, res) = self
            .client
            .post(
                &format!("/api/entries/{entry_id}/share"),
                json!({ "request_id": new_id(), "scopes": scopes }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "share: {res}");
        res["entry"].clone()
    }

    pub async fn withdraw(&self, entry_id: &str, scopes: &[&str]) -> Value {
        let (status, res) = self
            .client
            .post(
                &format!("/api/entries/{entry_id}/withdraw"),
                json!({ "request_id": new_id(), "scopes": scopes }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "withdraw: {res}");
        res["entry"].clone()
    }

    /// Ids of the entries this partner can list.
    pub async fn listed_ids(&self) -> Vec<String> {
        let (status, body) = self.client.get("/api/entries?limit=200").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn ws(&self, since: Option<i64>) -> Ws {
        self.client.ws(since).await
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn check_in(mood: i64) -> Value {
    json!({ "mood": mood, "emotions": ["hopeful", "anxious"], "closeness": -1, "felt_appreciated": "somewhat", "ready_to_talk": "later", "note": "long day" })
}

pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// The next JSON message (pings skipped); fails after 5 s of nothing.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.stream.next())
                .await
                .expect("a message within 5 s")
                .expect("stream open")
                .expect("message");
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next `event` message.
    pub async fn next_event(&mut self) -> Value {
        let msg = self.next().await;
        assert_eq!(msg["type"], "event", "{msg}");
        msg
    }

    /// Asserts that nothing reached this socket since the last message read, by an
    /// ordered marker rather than a time window: the socket's own user writes a draft
    /// through it and waits for the draft's `entry` event. The stream delivers a user's
    /// changes in the order they were committed, so whatever an earlier action could have
    /// sent this user (committed before the draft was) must arrive before that event; any
    /// message other than the marker's own ack fails the test. The draft is then deleted
    /// the same way (its `entry_removed` event is the second marker), so the user's
    /// listing, export and partner are as before; only their cursor moves on.
    ///
    /// Returns the seq of the last marker event: the cursor after the check. Needs a user
    /// who can write entries (not a therapist).
    pub async fn expect_nothing_before_marker(&mut self) -> i64 {
        let step = format!("marker {}", uuid::Uuid::new_v4().simple());
        let request_id = new_id();
        self.send(json!({ "type": "create_entry", "request_id": request_id, "kind": "small_step", "body": { "step": step, "intimacy": "experiential" } }))
            .await;
        let (entry_id, _) = self
            .until_marker(&request_id, "entry", |ev| ev["entry"]["body"]["step"] == step.as_str())
            .await;
        let request_id = new_id();
        self.send(json!({ "type": "delete_entry", "request_id": request_id, "entry_id": entry_id }))
            .await;
        let (_, seq) = self
            .until_marker(&request_id, "entry_removed", |ev| ev["entry_id"] == entry_id.as_str())
            .await;
        seq
    }

    /// Reads the ack of `request_id` and the `event` the marker is (told by `is_marker`);
    /// anything else fails. Returns the ack's entry id and the marker event's seq.
    async fn until_marker(
        &mut self,
        request_id: &str,
        event: &str,
        is_marker: impl Fn(&Value) -> bool,
    ) -> (String, i64) {
        let (mut ack, mut seq) = (None, None);
        let mut read = Vec::new();
        while ack.is_none() || seq.is_none() {
            let msg = self.next().await;
            read.push(msg.clone());
            match msg["type"].as_str() {
                Some("ack") if msg["request_id"] == request_id && ack.is_none() => {
                    ack = Some(msg["entry_id"].as_str().expect("the ack names the entry").to_string());
                }
                Some("event") if msg["event"] == event && is_marker(&msg) && seq.is_none() => {
                    seq = Some(msg["seq"].as_i64().expect("an event has a seq"));
                }
                _ => panic!(
                    "expected nothing before the marker ({event} for request {request_id}), got {msg}; read so far: {read:?}"
                ),
            }
        }
        (ack.unwrap(), seq.unwrap())
    }

    pub async fn send(&mut self, value: Value) {
        self.stream
            .send(Message::Text(value.to_string().into()))
            .await
            .expect("send");
    }

    /// Sends a command and returns the `ack` or `error` answering it (events are skipped).
    pub async fn call(&mut self, value: Value) -> Value {
        let request_id = value["request_id"].clone();
        self.send(value).await;
        loop {
            let msg = self.next().await;
            if (msg["type"] == "ack" || msg["type"] == "error") && msg["request_id"] == request_id {
                return msg;
            }
        }
    }
}

impl Client {
    /// A client without a session for a server this process did not start (a child
    /// process, say), at `base` (`http://HOST:PORT`), sending `origin`.
    pub fn to(base: &str, origin: &str) -> Client {
        Client {
            http: http_client(),
            base: base.to_string(),
            origin: origin.to_string(),
            cookie: Default::default(),
        }
    }
}
