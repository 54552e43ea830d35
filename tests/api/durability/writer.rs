//! A partner's client: a websocket (its live stream, and writes) and plain HTTP (writes
//! and reads, a fresh connection per request), as the protocol asks: on a lost connection
//! it reconnects with `?since=` its cursor.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::load::Pending;
use super::model::{Entries, Op, Via};
use super::world::Env;
use crate::helpers::Client;

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// What identifies an event: (seq, kind, entry id).
pub type EventKey = (i64, String, Option<String>);

/// Why an attempt got no answer.
#[derive(Debug)]
pub enum Fail {
    /// It never reached a server (no connection, or the send itself failed).
    NotSent(String),
    /// Sent, then the connection broke.
    Lost(String),
    /// Sent, and no answer within the wait.
    TimedOut(String),
    /// A 5xx answer: nothing promised.
    Server(String),
}

impl Fail {
    pub fn text(&self) -> &str {
        match self {
            Fail::NotSent(s) | Fail::Lost(s) | Fail::TimedOut(s) | Fail::Server(s) => s,
        }
    }
}

/// What happened to the writes of one client, for the report and the assertions.
#[derive(Default, Debug)]
pub struct Stats {
    /// Acknowledged writes by kind and transport.
    pub acks: HashMap<(String, Via), usize>,
    /// Acks that said `replayed: true`.
    pub replayed: usize,
    /// Writes whose reply a crash took (sent to the process it killed, unanswered), each
    /// later acknowledged by a retry: how many, and how many of those retries said
    /// `replayed`.
    pub lost_at_crash: usize,
    pub lost_at_crash_replayed: usize,
    /// The crashes (epochs) that took some write's reply.
    pub crashes_hit: HashSet<u64>,
    /// Retries whose `replayed` was predicted from the entry's state before them.
    pub predicted: usize,
    pub connection_errors: usize,
    pub server_errors: usize,
    /// What went wrong, and how often.
    pub errors: HashMap<String, usize>,
}

/// One partner's client and everything it saw and was promised.
pub struct Writer {
    pub name: String,
    pub id: String,
    pub client: Client,
    pub env: Env,
    http: reqwest::Client,
    ws: Option<WsStream>,
    /// The epoch the websocket was opened in: one from before a kill is dead.
    ws_epoch: u64,
    /// The epoch the last attempt was sent in.
    pub sent_epoch: u64,
    /// The seq of the last event received; resumes use it.
    pub cursor: Option<i64>,
    /// Where the live stream started (the head at the first connection).
    pub first_cursor: i64,
    /// Events received live, across every reconnection.
    pub live: Vec<EventKey>,
    pub entries: Entries,
    /// Own entries found that no ack named yet: of creates given up on.
    pub orphans: HashSet<String>,
    /// Writes given up on after a failure, for the final retry.
    pub abandoned: Vec<Pending>,
    pub stats: Stats,
}

impl Writer {
    pub fn new(name: &str, id: &str, client: Client, env: Env) -> Writer {
        let http = reqwest::Client::builder()
            // A fresh connection per request: a connection error then means the request
            // never reached a server, any other error that it did.
            .pool_max_idle_per_host(0)
            .timeout(env.message_wait)
            .build()
            .unwrap();
        Writer {
            name: name.to_string(),
            id: id.to_string(),
            client,
            env,
            http,
            ws: None,
            ws_epoch: 0,
            sent_epoch: 0,
            cursor: None,
            first_cursor: 0,
            live: Vec::new(),
            entries: Entries::default(),
            orphans: HashSet::new(),
            abandoned: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// A request over HTTP with this partner's session.
    pub async fn http(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(StatusCode, Value), Fail> {
        let mut req = self
            .http
            .request(method, format!("http://127.0.0.1:{}{path}", self.env.port))
            .header("Origin", &self.client.origin)
            .header("Cookie", self.client.cookie().expect("signed in"));
        if let Some(b) = body {
            req = req.json(b);
        }
        let classify = |e: reqwest::Error| {
            // The innermost cause says what happened ("connection reset", …).
            let mut cause: &dyn std::error::Error = &e;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            if e.is_connect() {
                Fail::NotSent(format!("HTTP connect: {cause}"))
            } else if e.is_timeout() {
                Fail::TimedOut(format!("HTTP: {cause}"))
            } else {
                Fail::Lost(format!("HTTP: {cause}"))
            }
        };
        let res = req.send().await.map_err(classify)?;
        let status = res.status();
        let text = res.text().await.map_err(classify)?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }

    /// One attempt of a write; the ack (`entry_id`, `entry`, `replayed`) if answered.
    pub async fn attempt(&mut self, op: &Op, via: Via) -> Result<Value, Fail> {
        // Set again just before the write goes out.
        self.sent_epoch = self.env.epoch();
        match via {
            Via::Ws => {
                // Events queued meanwhile, or the server's close frame, are read first.
                self.read_pending_events();
                self.connect().await.map_err(Fail::NotSent)?;
                let mut ws = self.ws.take().unwrap();
                self.sent_epoch = self.env.epoch();
                self.env.in_flight.begin();
                let result = self.exchange(&mut ws, op).await;
                self.env.in_flight.end();
                if matches!(result, Ok(_) | Err(Fail::Server(_))) {
                    self.ws = Some(ws);
                }
                result
            }
            Via::Http => {
                let (method, path, body) = op.http_request();
                self.sent_epoch = self.env.epoch();
                self.env.in_flight.begin();
                let result = self.http(method, &path, Some(&body)).await;
                self.env.in_flight.end();
                self.read_pending_events();
                let (status, ack) = result?;
                if status.is_server_error() {
                    return Err(Fail::Server(format!("HTTP {status} {}", ack["error"]["code"])));
                }
                let replayed = ack["replayed"] == true;
                let want = if op.is_create() && !replayed {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                assert_eq!(
                    status,
                    want,
                    "{}: {} over HTTP was refused (a retry must never be): {ack}",
                    self.name,
                    op.label()
                );
                Ok(ack)
            }
        }
    }

    /// Sends a write on the websocket and waits for its answer, recording live events.
    async fn exchange(&mut self, ws: &mut WsStream, op: &Op) -> Result<Value, Fail> {
        let msg = op.ws_message();
        match timeout(Duration::from_secs(5), ws.send(Message::Text(msg.to_string().into()))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Fail::NotSent(format!("websocket send: {e}"))),
            Err(_) => return Err(Fail::NotSent("send timed out".into())),
        }
        loop {
            let answer = match timeout(self.env.message_wait, next_json(ws)).await {
                Err(_) => return Err(Fail::TimedOut("no answer on the websocket".into())),
                Ok(Err(e)) => return Err(Fail::Lost(format!("websocket: {e}"))),
                Ok(Ok(v)) => v,
            };
            match answer["type"].as_str() {
                Some("event") => self.on_event(&answer),
                Some("ack") if answer["request_id"] == msg["request_id"] => return Ok(answer),
                Some("error") if answer["request_id"] == msg["request_id"] => {
                    let status = answer["status"].as_u64().unwrap_or(0);
                    assert!(
                        status >= 500,
                        "{}: refused {msg} (a retry must never be refused): {answer}",
                        self.name
                    );
                    return Err(Fail::Server(format!("websocket {status} {}", answer["error"]["code"])));
                }
                _ => panic!("{}: unexpected message {answer} while waiting for {msg}", self.name),
            }
        }
    }

    /// Reads, without waiting, the events the websocket holds (while writes go over HTTP).
    fn read_pending_events(&mut self) {
        let Some(mut ws) = self.ws.take() else { return };
        loop {
            match ws.next().now_or_never() {
                None => break,
                Some(Some(Ok(Message::Text(t)))) => {
                    let msg: Value = serde_json::from_str(t.as_str()).expect("JSON");
                    assert_eq!(msg["type"], "event", "{}: unexpected message {msg}", self.name);
                    self.on_event(&msg);
                }
                Some(Some(Ok(Message::Close(_)))) | Some(Some(Err(_))) | Some(None) => return,
                Some(Some(Ok(_))) => continue,
            }
        }
        self.ws = Some(ws);
    }

    /// Opens the websocket at `since` (or at the head); returns it and its `ready`.
    pub async fn open(&self, since: Option<i64>) -> Result<(WsStream, Value), String> {
        let url = match since {
            Some(s) => format!("ws://127.0.0.1:{}/api/ws?since={s}", self.env.port),
            None => format!("ws://127.0.0.1:{}/api/ws", self.env.port),
        };
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("Origin", self.client.origin.parse().unwrap());
        req.headers_mut()
            .insert("Cookie", self.client.cookie().unwrap().parse().unwrap());
        let (mut ws, _) = timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(req))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let ready = timeout(self.env.message_wait, next_json(&mut ws))
            .await
            .map_err(|_| "no ready message".to_string())??;
        assert_eq!(ready["type"], "ready", "{}: first message {ready}", self.name);
        Ok((ws, ready))
    }

    /// Connects (resuming after the cursor) unless connected to the current server.
    pub async fn connect(&mut self) -> Result<(), String> {
        let epoch = self.env.epoch();
        if self.ws.is_some() && (!self.env.server_dies || self.ws_epoch == epoch) {
            return Ok(());
        }
        self.ws = None;
        let (ws, ready) = self.open(self.cursor).await?;
        // A reset means the server's head is behind events it already delivered:
        // delivered events were lost.
        assert_eq!(
            ready["reset"], false,
            "{}: resumed at {:?} after a crash and the server reset the stream (events it delivered are gone): {ready}",
            self.name, self.cursor
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
        self.ws_epoch = epoch;
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

    /// Reads the rest of the live stream, up to the head.
    pub async fn drain(&mut self) {
        self.ws = None;
        let (mut ws, ready) = self.open(self.cursor).await.expect("reconnect at the end");
        assert_eq!(ready["reset"], false, "{}: {ready}", self.name);
        let head = ready["head"].as_i64().unwrap();
        while self.cursor.unwrap() < head {
            let msg = timeout(self.env.message_wait, next_json(&mut ws))
                .await
                .expect("catch up at the end")
                .expect("catch up at the end");
            assert_eq!(msg["type"], "event", "{}: {msg}", self.name);
            self.on_event(&msg);
        }
    }

    /// The whole stream from the start over the websocket (`?since=0`).
    pub async fn replay_ws(&self) -> (i64, Vec<EventKey>) {
        let (mut ws, ready) = self.open(Some(0)).await.expect("connect with since=0");
        assert_eq!(
            (ready["reset"].as_bool(), ready["since"].as_i64()),
            (Some(false), Some(0)),
            "{ready}"
        );
        let head = ready["head"].as_i64().unwrap();
        let mut events = Vec::new();
        while (events.len() as i64) < head {
            let msg = timeout(self.env.message_wait, next_json(&mut ws))
                .await
                .expect("replay")
                .expect("replay");
            assert_eq!(msg["type"], "event", "{}: {msg}", self.name);
            events.push(event_key(&msg));
        }
        (head, events)
    }
}

/// The whole stream of `client` over HTTP, in pages.
pub async fn replay_http(client: &Client) -> Vec<EventKey> {
    let mut events = Vec::new();
    let mut since = 0;
    loop {
        let (status, page) = client.get(&format!("/api/events?since={since}&limit=1000")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let batch = page["events"].as_array().unwrap();
        if batch.is_empty() {
            return events;
        }
        events.extend(batch.iter().map(event_key));
        since = page["next_since"].as_i64().unwrap();
    }
}

/// The next JSON text message (pings skipped, and answered by tungstenite).
async fn next_json(ws: &mut WsStream) -> Result<Value, String> {
    loop {
        match ws.next().await {
            None => return Err("connection closed".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str()).map_err(|e| format!("bad JSON {t}: {e}"))
            }
            Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
            Some(Ok(_)) => continue,
        }
    }
}

pub fn event_key(msg: &Value) -> EventKey {
    let event = msg["event"].as_str().expect("event").to_string();
    let entry = match event.as_str() {
        "entry" => msg["entry"]["id"].as_str().map(str::to_string),
        "entry_removed" => msg["entry_id"].as_str().map(str::to_string),
        _ => None,
    };
    (msg["seq"].as_i64().expect("seq"), event, entry)
}
