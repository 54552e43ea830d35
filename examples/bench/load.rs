//! Open-loop load: shares issued on a fixed schedule whatever the responses, each
//! latency measured from the share's intended send time (no coordinated omission).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Client sockets use a 4 KiB read buffer (tungstenite's default is 128 KiB each).
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

/// Opens a websocket; `cookie`/`origin` only for Tandem.
pub async fn connect(url: &str, origin: Option<&str>, cookie: Option<&str>) -> Result<Ws, String> {
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    if let Some(c) = cookie {
        req.headers_mut()
            .insert("Cookie", format!("tandem_session={c}").parse().unwrap());
    }
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(req, Some(client_config()), true),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Next text frame as JSON (pings answered by tungstenite, skipped here).
pub async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// What one step of load is: the schedule and where results go.
pub struct Step {
    pub id: u32,
    pub t0: Instant,
    pub interval: Duration,
    pub n: usize,
    /// Shares scheduled before t0 + warmup are not recorded in the histograms.
    pub warmup_k: usize,
    /// Partner index of the writer of share k.
    pub writer_of: Vec<u32>,
    /// Entry id → k (Tandem events name the entry, not the request).
    pub by_entry: HashMap<String, u32>,
    pub delivered: Vec<AtomicU8>,
    pub acked: Vec<AtomicU8>,
    pub deliveries: AtomicU64,
    pub acks: AtomicU64,
    pub dups: AtomicU64,
    pub errors: AtomicU64,
    pub delivery: Mutex<Histogram<u64>>,
    pub ack: Mutex<Histogram<u64>>,
    pub first_error: Mutex<Option<String>>,
}

impl Step {
    pub fn new(
        id: u32,
        rate: f64,
        n: usize,
        warmup: Duration,
        writer_of: Vec<u32>,
        by_entry: HashMap<String, u32>,
    ) -> Step {
        let hist = || Histogram::new_with_bounds(1, 120_000_000, 3).unwrap();
        Step {
            id,
            t0: Instant::now() + Duration::from_millis(200),
            interval: Duration::from_secs_f64(1.0 / rate),
            n,
            warmup_k: ((warmup.as_secs_f64() * rate) as usize).min(n / 2),
            writer_of,
            by_entry,
            delivered: (0..n).map(|_| AtomicU8::new(0)).collect(),
            acked: (0..n).map(|_| AtomicU8::new(0)).collect(),
            deliveries: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            dups: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            delivery: Mutex::new(hist()),
            ack: Mutex::new(hist()),
            first_error: Mutex::new(None),
        }
    }

    fn intended(&self, k: usize) -> Instant {
        self.t0 + self.interval.mul_f64(k as f64)
    }

    fn record(&self, k: usize, delivery: bool) {
        let now = Instant::now();
        let (flags, count, hist) = if delivery {
            (&self.delivered, &self.deliveries, &self.delivery)
        } else {
            (&self.acked, &self.acks, &self.ack)
        };
        if flags[k].fetch_add(1, Ordering::Relaxed) > 0 {
            self.dups.fetch_add(1, Ordering::Relaxed);
            return;
        }
        count.fetch_add(1, Ordering::Relaxed);
        if k >= self.warmup_k {
            let us = now.saturating_duration_since(self.intended(k)).as_micros() as u64;
            hist.lock().unwrap().saturating_record(us.max(1));
        }
    }
}

pub type Current = Arc<RwLock<Option<Arc<Step>>>>;

/// The sockets of every partner, by partner index (couple c: 2c and 2c+1).
pub struct Fleet {
    pub senders: Vec<mpsc::UnboundedSender<Message>>,
    pub current: Current,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Tandem,
    Relay,
}

/// Opens one socket per partner and starts its reader and writer tasks.
pub async fn fleet(target: Target, urls: Vec<(String, Option<String>)>, origin: Option<String>) -> Fleet {
    let current: Current = Arc::new(RwLock::new(None));
    let sem = Arc::new(tokio::sync::Semaphore::new(200));
    let mut handles = Vec::new();
    for (i, (url, cookie)) in urls.into_iter().enumerate() {
        let sem = sem.clone();
        let origin = origin.clone();
        handles.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let mut ws = connect(&url, origin.as_deref(), cookie.as_deref())
                .await
                .expect("bench socket connects");
            if target == Target::Tandem {
                let ready = next_json(&mut ws, Duration::from_secs(30)).await.expect("ready");
                assert_eq!(ready["type"], "ready", "{ready}");
            }
            (i, ws)
        }));
    }
    let mut senders = Vec::with_capacity(handles.len());
    let mut socks = Vec::new();
    for h in handles {
        socks.push(h.await.unwrap());
    }
    socks.sort_by_key(|(i, _)| *i);
    for (i, ws) in socks {
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        senders.push(tx);
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let current = current.clone();
        let me = i as u32;
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let Some(step) = current.read().unwrap().clone() else {
                    continue;
                };
                handle(target, &step, me, text.as_str());
            }
        });
    }
    Fleet { senders, current }
}

fn parse_k(step: &Step, request_id: &str) -> Option<usize> {
    let (s, k) = request_id.strip_prefix('s')?.split_once('-')?;
    (s.parse::<u32>().ok()? == step.id).then_some(k.parse().ok()?)
}

fn handle(target: Target, step: &Step, me: u32, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    match target {
        Target::Relay => {
            if let Some(k) = v["request_id"].as_str().and_then(|r| parse_k(step, r)) {
                if k < step.n {
                    step.record(k, true);
                }
            }
        }
        Target::Tandem => match v["type"].as_str() {
            Some("ack") => {
                if let Some(k) = v["request_id"].as_str().and_then(|r| parse_k(step, r)) {
                    step.record(k, false);
                }
            }
            Some("event") => {
                if let Some(&k) = v["entry"]["id"].as_str().and_then(|id| step.by_entry.get(id)) {
                    if step.writer_of[k as usize] != me {
                        step.record(k as usize, true);
                    }
                }
            }
            Some("error") => {
                step.errors.fetch_add(1, Ordering::Relaxed);
                let mut e = step.first_error.lock().unwrap();
                if e.is_none() {
                    *e = Some(text.to_string());
                }
            }
            _ => {}
        },
    }
}

pub struct StepResult {
    pub rate: f64,
    pub n: usize,
    pub seconds: f64,
    pub delivered: u64,
    pub acked: u64,
    pub dups: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub d: [f64; 5],
    pub a: [f64; 5],
    pub server_cpu: f64,
    pub client_cpu: f64,
    pub server_rss_mib: f64,
}

impl StepResult {
    pub fn sustained(&self, target: Target) -> bool {
        let all = self.delivered as usize == self.n && (target == Target::Relay || self.acked as usize == self.n);
        all && self.errors == 0 && self.dups == 0 && self.d[2] <= 1000.0
    }
    pub fn cpu_per_1000(&self) -> (f64, f64) {
        let per = 1000.0 / self.delivered.max(1) as f64;
        (self.server_cpu * per, self.client_cpu * per)
    }
}

fn pcts(h: &Histogram<u64>) -> [f64; 5] {
    let ms = |v: u64| v as f64 / 1000.0;
    if h.is_empty() {
        return [f64::NAN; 5];
    }
    [
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
    ]
}

/// Runs one open-loop step: `messages[k]` goes out on partner `step.writer_of[k]`'s socket
/// at t0 + k/rate; waits for deliveries (and acks) to drain, at most `drain`.
pub async fn run_step(
    fleet: &Fleet,
    step: Arc<Step>,
    messages: Vec<String>,
    server_pid: u32,
    drain: Duration,
) -> StepResult {
    // A previous overloaded step may still be working through its backlog: start only
    // once the server has been quiet (< 5% of a core) for half a second, at most 3 min.
    let quiet_by = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let c0 = crate::sys::cpu_secs(server_pid);
        tokio::time::sleep(Duration::from_millis(500)).await;
        if crate::sys::cpu_secs(server_pid) - c0 < 0.025 || std::time::Instant::now() > quiet_by {
            break;
        }
    }
    let step = {
        let mut s = Arc::try_unwrap(step).ok().expect("step not shared yet");
        s.t0 = Instant::now() + Duration::from_millis(200);
        Arc::new(s)
    };
    *fleet.current.write().unwrap() = Some(step.clone());
    tokio::time::sleep_until(step.t0).await;
    let m0 = crate::sys::Meter::take(server_pid);
    for (k, msg) in messages.into_iter().enumerate() {
        let due = step.intended(k);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let _ = fleet.senders[step.writer_of[k] as usize].send(Message::Text(msg.into()));
    }
    let deadline = Instant::now() + drain;
    let want_acks = !step.by_entry.is_empty();
    while Instant::now() < deadline {
        let d = step.deliveries.load(Ordering::Relaxed) as usize;
        let a = step.acks.load(Ordering::Relaxed) as usize;
        if d + (step.errors.load(Ordering::Relaxed) as usize) >= step.n && (!want_acks || a >= step.n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let m1 = crate::sys::Meter::take(server_pid);
    // Late stragglers would be counted as lost; give the pipeline a beat before clearing.
    *fleet.current.write().unwrap() = None;
    let rate = 1.0 / step.interval.as_secs_f64();
    let result = StepResult {
        rate,
        n: step.n,
        seconds: (m1.at - m0.at).as_secs_f64(),
        delivered: step.deliveries.load(Ordering::Relaxed),
        acked: step.acks.load(Ordering::Relaxed),
        dups: step.dups.load(Ordering::Relaxed),
        errors: step.errors.load(Ordering::Relaxed),
        first_error: step.first_error.lock().unwrap().clone(),
        d: pcts(&step.delivery.lock().unwrap()),
        a: pcts(&step.ack.lock().unwrap()),
        server_cpu: m1.server - m0.server,
        client_cpu: m1.client - m0.client,
        server_rss_mib: crate::sys::rss_kib(server_pid) as f64 / 1024.0,
    };
    result
}

pub fn describe(label: &str, r: &StepResult, target: Target) -> String {
    let (s, c) = r.cpu_per_1000();
    let acks = if target == Target::Tandem {
        format!(
            " | ack p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.1} ms",
            r.a[0], r.a[2], r.a[3], r.a[4]
        )
    } else {
        String::new()
    };
    format!(
        "{label}: offered {:.0}/s for {:.1}s, {} sent, {} delivered (achieved {:.0}/s incl. drain), {} not delivered within the drain, {} dup, {} errors | delivery p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.1} ms{acks} | CPU s/1000 deliveries: server {:.3}, load generator {:.3} | server RSS {:.0} MiB{}",
        r.rate,
        r.n as f64 / r.rate,
        r.n,
        r.delivered,
        r.delivered as f64 / r.seconds.max(1e-9),
        r.n as u64 - r.delivered.min(r.n as u64),
        r.dups,
        r.errors,
        r.d[0],
        r.d[2],
        r.d[3],
        r.d[4],
        s,
        c,
        r.server_rss_mib,
        if r.sustained(target) { " | sustained" } else { " | NOT sustained" }
    ) + &r.first_error.as_ref().map(|e| format!("\n    first error: {e}")).unwrap_or_default()
}
