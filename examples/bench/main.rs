//! Tandem's load benchmark: starts the release server as a child process and drives it
//! over loopback with many simulated couples, beside a bare tungstenite relay and a
//! socket.io relay measured in the same run.
//!
//!   cargo build --release --bin tandem && cargo run --release --example bench
//!   cargo run --release --example bench -- --backend sqlite --scenarios latency,relay --duration 10
//!
//! See docs/performance.md for the method and the figures.

mod idle;
mod load;
mod relay;
mod seed;
mod storm;
mod sys;

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use load::{Fleet, Step, StepResult, Target};

#[derive(Parser, Debug, Clone)]
#[command(about = "Tandem load benchmark (see docs/performance.md)")]
struct Args {
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Couples whose partners' sockets carry the latency and throughput load.
    #[arg(long, default_value_t = 1000)]
    couples: usize,
    /// Offered share rate of the latency run, per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds of the latency run.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Offered rates of the throughput ramp (stops at the first rate not sustained).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250,500,1000,2000,3000,5000,7500,10000,15000,20000"
    )]
    rates: Vec<f64>,
    /// Extra ramp rates for the relays (they go further).
    #[arg(long, value_delimiter = ',', default_value = "30000,40000,60000")]
    relay_extra_rates: Vec<f64>,
    /// Seconds per ramp step.
    #[arg(long, default_value_t = 8.0)]
    step_seconds: f64,
    /// Seconds at the start of each run not recorded in the histograms.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Idle authenticated partner connections to hold.
    #[arg(long, default_value_t = 15000)]
    idle: usize,
    /// Sockets per idle client process.
    #[arg(long, default_value_t = 8000)]
    per_process: usize,
    /// Partners in the reconnect storm.
    #[arg(long, default_value_t = 10000)]
    storm: usize,
    /// Events each partner misses before the storm.
    #[arg(long, default_value_t = 3)]
    missed: usize,
    /// Comma-separated: latency,throughput,idle,storm,relay,socketio.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "latency,throughput,idle,storm,relay,socketio"
    )]
    scenarios: Vec<String>,
    /// PostgreSQL server (a fresh database is created on it and dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_url: String,
    /// The server binary (built with `cargo build --release --bin tandem` unless --no-build).
    #[arg(long, default_value = "target/release/tandem")]
    server_bin: PathBuf,
    #[arg(long)]
    no_build: bool,
    /// Record a perf profile of the server during the latency run into this file.
    #[arg(long)]
    perf: Option<PathBuf>,
    /// Record a perf profile of the server during this throughput-ramp rate instead.
    #[arg(long)]
    perf_rate: Option<f64>,
}

impl Args {
    fn has(&self, s: &str) -> bool {
        self.scenarios.iter().any(|x| x == s)
    }
}

struct Server {
    proc: sys::Spawned,
    port: u16,
}

impl Server {
    fn start(bin: &PathBuf, db_url: &str) -> Server {
        let mut cmd = Command::new(bin);
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db_url,
            "--attempts-per-minute",
            "1000000",
        ])
        .env("RUST_LOG", "warn");
        let mut proc = sys::Spawned::start(cmd, "listening on", Duration::from_secs(60)).expect("server starts");
        proc.drain_stdout();
        let port = proc
            .ready_line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .expect("port in the start-up line");
        Server { proc, port }
    }
    fn pid(&self) -> u32 {
        self.proc.pid
    }
    fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
    fn origin(&self) -> String {
        self.http()
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    match argv.get(1).map(String::as_str) {
        Some("__relay-server") => return relay::main(argv[2].parse().unwrap()),
        Some("__idle-client") => return idle::child_main(&argv[2..]),
        _ => {}
    }
    let args = Args::parse();
    let nofile = sys::raise_nofile();
    if !args.no_build {
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--bin", "tandem"])
            .status()
            .expect("cargo build");
        assert!(st.success(), "building the server failed");
    }
    println!("# Tandem benchmark");
    println!(
        "date: {}",
        Command::new("date")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    );
    println!("commit: {}", sys::git_describe());
    println!("machine: {}", sys::machine());
    println!("open-file limit per process: {nofile}");
    println!(
        "conditions: server = {} (release, child process, RUST_LOG=warn, default ping 20 s); load generator = this process (tokio multi-thread) on the same cores; \
         {} couples ({} sockets) for latency/throughput; shares open-loop at fixed intervals spread round-robin over couples, writers alternating; \
         latency from each share's intended send time, HDR histograms, first {:.0} s of each run not recorded; \
         users, couples, sessions and draft entries SEEDED DIRECTLY into the database (setup only); every measured share goes through the server's websocket",
        args.server_bin.display(),
        args.couples,
        args.couples * 2,
        args.warmup
    );
    println!("args: {}", argv[1..].join(" "));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let backends: Vec<&str> = match args.backend.as_str() {
        "both" => vec!["sqlite", "postgres"],
        b => vec![b],
    };
    let mut summary: Vec<String> = Vec::new();
    for b in backends {
        tandem_backend(&args, b, &mut summary).await;
    }
    if args.has("relay") {
        bare_relay(&args, &mut summary).await;
    }
    if args.has("socketio") {
        socketio(&args, &mut summary);
    }
    println!("\n## Summary");
    for s in summary {
        println!("{s}");
    }
}

/// A fresh database URL for a backend; the PostgreSQL database is created here.
async fn fresh_db(args: &Args, backend: &str) -> (String, Option<tempfile::TempDir>) {
    if backend == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        (format!("sqlite://{}", dir.path().join("bench.db").display()), Some(dir))
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&args.pg_url)
            .await
            .expect("PostgreSQL reachable");
        let name = format!("tandem_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        let base = args.pg_url.rsplit_once('/').unwrap().0;
        (format!("{base}/{name}"), None)
    }
}

async fn drop_db(args: &Args, url: &str) {
    if let Some(name) = url.strip_prefix(&format!("{}/", args.pg_url.rsplit_once('/').unwrap().0)) {
        if name.starts_with("tandem_bench_") {
            use sqlx::Connection;
            if let Ok(mut c) = sqlx::PgConnection::connect(&args.pg_url).await {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await;
            }
        }
    }
}

/// Creates one entry through the server to learn the exact stored body of a check-in.
async fn stored_body(server: &Server, db: &seed::Db, token: &str) -> String {
    let mut ws = load::connect(&format!("{}/api/ws", server.ws()), Some(&server.origin()), Some(token))
        .await
        .unwrap();
    load::next_json(&mut ws, Duration::from_secs(10)).await.unwrap();
    let msg = serde_json::json!({ "type": "create_entry", "request_id": "body-probe", "kind": "check_in",
        "body": { "mood": 3, "emotions": ["hopeful", "anxious"], "closeness": -1, "felt_appreciated": "somewhat", "ready_to_talk": "later", "note": "long day" } });
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(msg.to_string().into()))
        .await
        .unwrap();
    let id = loop {
        let v = load::next_json(&mut ws, Duration::from_secs(10)).await.expect("ack");
        if v["type"] == "ack" {
            break v["entry_id"].as_str().unwrap().to_string();
        }
        assert_ne!(v["type"], "error", "{v}");
    };
    let _ = ws.close(None).await;
    db.scalar_text(&format!("SELECT body FROM entries WHERE id = '{id}'"))
        .await
        .expect("probe entry stored")
}

/// Builds the messages and plan for one step of `n` shares over `couples`.
fn plan(step_id: u32, couples: &[seed::Couple], n: usize) -> (Vec<u32>, Vec<String>, Vec<(String, usize)>) {
    let c = couples.len();
    let mut writer_of = Vec::with_capacity(n);
    let mut msgs = Vec::with_capacity(n);
    let mut entries = Vec::with_capacity(n);
    for k in 0..n {
        let couple = k % c;
        let w = 2 * couple + (k / c) % 2;
        let id = uuid::Uuid::new_v4().to_string();
        writer_of.push(w as u32);
        msgs.push(format!(
            r#"{{"type":"share","request_id":"s{step_id}-{k}","entry_id":"{id}","scopes":["partner"]}}"#
        ));
        entries.push((id, w));
    }
    (writer_of, msgs, entries)
}

// The step's whole setting, as the scenarios pass it: a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn tandem_step(
    server: &Server,
    db: &seed::Db,
    fleet: &Fleet,
    couples: &[seed::Couple],
    body: &str,
    step_id: u32,
    rate: f64,
    seconds: f64,
    warmup: f64,
) -> StepResult {
    let n = (rate * seconds).round() as usize;
    let (writer_of, msgs, entries) = plan(step_id, couples, n);
    let drafts: Vec<seed::Draft> = entries
        .iter()
        .map(|(id, w)| {
            let cp = &couples[w / 2];
            let p = if w % 2 == 0 { &cp.a } else { &cp.b };
            seed::Draft {
                id: id.clone(),
                author: &p.id,
                couple: &cp.id,
            }
        })
        .collect();
    seed::drafts(db, &drafts, body).await;
    let by_entry: HashMap<String, u32> = entries
        .into_iter()
        .enumerate()
        .map(|(k, (id, _))| (id, k as u32))
        .collect();
    // Let the database settle after the seeding write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let step = Arc::new(Step::new(
        step_id,
        rate,
        n,
        Duration::from_secs_f64(warmup),
        writer_of,
        by_entry,
    ));
    load::run_step(fleet, step, msgs, server.pid(), Duration::from_secs(15)).await
}

fn perf_start(pid: u32, out: &Path, secs: f64) -> Option<std::process::Child> {
    Command::new("perf")
        .args([
            "record",
            "-F",
            "499",
            "-g",
            "-p",
            &pid.to_string(),
            "-o",
            out.to_str().unwrap(),
            "--",
            "sleep",
            &format!("{secs:.0}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

async fn tandem_backend(args: &Args, backend: &str, summary: &mut Vec<String>) {
    println!("\n## Tandem on {backend}");
    let (url, _dir) = fresh_db(args, backend).await;
    let mut server = Server::start(&args.server_bin, &url);
    let db = seed::Db::open(&url).await;
    let need = args.couples.max(args.idle.div_ceil(2)).max(args.storm / 2);
    let t = std::time::Instant::now();
    let couples = seed::couples(&db, need, backend).await;
    println!(
        "seeded {} couples ({} partners with sessions) directly in {:.1}s",
        need,
        need * 2,
        t.elapsed().as_secs_f64()
    );
    let body = stored_body(&server, &db, &couples[0].a.token).await;

    if args.has("idle") {
        // A fresh process, so RSS at 0 is not inflated by earlier load.
        server.proc.stop();
        server = Server::start(&args.server_bin, &url);
        let tokens: Vec<String> = couples
            .iter()
            .flat_map(|c| [c.a.token.clone(), c.b.token.clone()])
            .collect();
        let r = idle::run(
            server.pid(),
            &tokens,
            args.idle,
            &server.ws(),
            &server.origin(),
            "tandem",
            args.per_process,
        );
        let line = format!(
            "idle [{backend}]: {} of {} authenticated partner sockets held ({} failed) from {} client processes, opened in {:.1}s; server RSS {:.1} MiB at 0 → {:.1} MiB at {} = {:.1} KiB per connection",
            r.ok, r.n, r.fail, r.processes, r.connect_secs, r.rss0_kib as f64 / 1024.0, r.rssn_kib as f64 / 1024.0, r.ok, r.per_conn_kib()
        );
        println!("{line}");
        summary.push(line);
        server.proc.stop();
        server = Server::start(&args.server_bin, &url);
    }

    let mut step_id = 0u32;
    if args.has("latency") || args.has("throughput") {
        let cs = &couples[..args.couples];
        let urls = cs
            .iter()
            .flat_map(|c| [c.a.token.clone(), c.b.token.clone()])
            .map(|t| (format!("{}/api/ws", server.ws()), Some(t)))
            .collect();
        let fleet = load::fleet(Target::Tandem, urls, Some(server.origin())).await;
        if args.has("latency") {
            step_id += 1;
            let perf = args
                .perf
                .as_ref()
                .and_then(|p| perf_start(server.pid(), p, args.duration));
            let r = tandem_step(
                &server,
                &db,
                &fleet,
                cs,
                &body,
                step_id,
                args.rate,
                args.duration,
                args.warmup,
            )
            .await;
            if let Some(mut p) = perf {
                let _ = p.wait();
            }
            let line = load::describe(&format!("latency [tandem {backend}]"), &r, Target::Tandem);
            tokio::time::sleep(Duration::from_secs(3)).await;
            println!("{line}");
            summary.push(line);
        }
        if args.has("throughput") {
            let mut best = 0.0;
            for &rate in &args.rates {
                step_id += 1;
                let perf = match (&args.perf, args.perf_rate) {
                    (Some(p), Some(pr)) if pr == rate => perf_start(
                        server.pid(),
                        &p.with_extension(format!("{backend}.{rate}")),
                        args.step_seconds,
                    ),
                    _ => None,
                };
                let r = tandem_step(
                    &server,
                    &db,
                    &fleet,
                    cs,
                    &body,
                    step_id,
                    rate,
                    args.step_seconds,
                    args.warmup,
                )
                .await;
                if let Some(mut p) = perf {
                    let _ = p.wait();
                }
                println!(
                    "{}",
                    load::describe(&format!("  ramp [tandem {backend}]"), &r, Target::Tandem)
                );
                if !r.sustained(Target::Tandem) {
                    break;
                }
                best = rate;
                // Let stragglers of this step finish before the next.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let line = format!("throughput [tandem {backend}]: highest sustained durable share rate {best:.0}/s (every share acked after commit and delivered, p99 delivery ≤ 1 s, within steps of {:.0} s)", args.step_seconds);
            println!("{line}");
            summary.push(line);
        }
        drop(fleet);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    if args.has("storm") {
        let n = args.storm / 2;
        let cs = &couples[..n];
        let mut all = Vec::new();
        let drafts: Vec<Vec<String>> = cs
            .iter()
            .map(|_| (0..args.missed).map(|_| uuid::Uuid::new_v4().to_string()).collect())
            .collect();
        for (c, cp) in cs.iter().enumerate() {
            for (j, id) in drafts[c].iter().enumerate() {
                let p = if j % 2 == 0 { &cp.a } else { &cp.b };
                all.push(seed::Draft {
                    id: id.clone(),
                    author: &p.id,
                    couple: &cp.id,
                });
            }
        }
        seed::drafts(&db, &all, &body).await;
        let r = storm::run(
            server.pid(),
            &server.http(),
            &server.ws(),
            &server.origin(),
            cs,
            &drafts,
        )
        .await;
        let line = format!(
            "storm [tandem {backend}]: {} partners each missed {} events, all resumed at once: {} caught up, all within {:.2}s (p50 {:.2}s, p99 {:.2}s); lost {}, duplicated {}, events of other entries {}, connect retries {}, failed {}; server CPU {:.1}s, load generator CPU {:.1}s, server RSS after {:.0} MiB (missed shares made over HTTP in {:.1}s beforehand)",
            r.partners, r.missed_each, r.caught_up, r.all_caught_up_secs, r.p50_secs, r.p99_secs, r.lost, r.duplicated, r.stray, r.connect_retries, r.failed,
            r.server_cpu, r.client_cpu, r.server_rss_mib, r.share_setup_secs
        );
        println!("{line}");
        summary.push(line);
    }
    db.close().await;
    server.proc.stop();
    if backend == "postgres" {
        drop_db(args, &url).await;
    }
}

fn relay_rates(args: &Args) -> Vec<f64> {
    let mut r = args.rates.clone();
    let last = r.last().copied().unwrap_or(0.0);
    r.extend(args.relay_extra_rates.iter().copied().filter(|x| *x > last));
    r
}

async fn bare_relay(args: &Args, summary: &mut Vec<String>) {
    println!("\n## Bare relay (tokio-tungstenite, 4 KiB read buffer, no auth, no storage)");
    let exe = std::env::current_exe().unwrap();
    let start = |rb: usize| {
        let mut cmd = Command::new(&exe);
        cmd.args(["__relay-server", &rb.to_string()]);
        let mut p = sys::Spawned::start(cmd, "LISTENING", Duration::from_secs(10)).expect("relay starts");
        p.drain_stdout();
        let port: u16 = p.ready_line.split_whitespace().nth(1).unwrap().parse().unwrap();
        (p, port)
    };
    if args.has("idle") {
        for rb in [4096usize, 128 * 1024] {
            let (p, port) = start(rb);
            let r = idle::run(
                p.pid,
                &[],
                args.idle,
                &format!("ws://127.0.0.1:{port}"),
                "-",
                "relay",
                args.per_process,
            );
            let line = format!(
                "idle [bare relay, read buffer {} KiB]: {} of {} sockets held; RSS {:.1} MiB at 0 → {:.1} MiB = {:.1} KiB per connection",
                rb / 1024, r.ok, r.n, r.rss0_kib as f64 / 1024.0, r.rssn_kib as f64 / 1024.0, r.per_conn_kib()
            );
            println!("{line}");
            summary.push(line);
            p.stop();
        }
    }
    if !(args.has("latency") || args.has("throughput")) {
        return;
    }
    let (p, port) = start(4096);
    let urls = (0..args.couples * 2)
        .map(|i| (format!("ws://127.0.0.1:{port}/pair/{}", i / 2), None))
        .collect();
    let fleet = load::fleet(Target::Relay, urls, None).await;
    let couples: Vec<seed::Couple> = (0..args.couples)
        .map(|_| {
            let p = || seed::Partner {
                id: String::new(),
                token: String::new(),
            };
            seed::Couple {
                id: String::new(),
                a: p(),
                b: p(),
            }
        })
        .collect();
    let mut step_id = 1000;
    let mut relay_step = |rate: f64, secs: f64| {
        step_id += 1;
        let n = (rate * secs).round() as usize;
        let (writer_of, msgs, _) = plan(step_id, &couples, n);
        let step = Arc::new(Step::new(
            step_id,
            rate,
            n,
            Duration::from_secs_f64(args.warmup),
            writer_of,
            HashMap::new(),
        ));
        load::run_step(&fleet, step, msgs, p.pid, Duration::from_secs(15))
    };
    if args.has("latency") {
        let r = relay_step(args.rate, args.duration).await;
        let line = load::describe("latency [bare relay]", &r, Target::Relay);
        println!("{line}");
        summary.push(line);
    }
    if args.has("throughput") {
        let mut best = 0.0;
        for rate in relay_rates(args) {
            let r = relay_step(rate, args.step_seconds).await;
            println!("{}", load::describe("  ramp [bare relay]", &r, Target::Relay));
            if !r.sustained(Target::Relay) {
                break;
            }
            best = rate;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let line = format!("throughput [bare relay]: highest sustained forward rate {best:.0}/s");
        println!("{line}");
        summary.push(line);
    }
    drop(fleet);
    p.stop();
}

fn socketio(args: &Args, summary: &mut Vec<String>) {
    println!(
        "\n## socket.io relay (Node {}, connection state recovery on; Node load client)",
        Command::new("node")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    );
    let dir = PathBuf::from("bench/socketio");
    if !dir.join("node_modules/socket.io").exists() {
        let st = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status();
        if !st.map(|s| s.success()).unwrap_or(false) {
            println!("socket.io: npm install failed; skipped");
            return;
        }
    }
    let start = || {
        let mut cmd = Command::new("node");
        cmd.arg("relay.js").current_dir(&dir);
        let mut p = sys::Spawned::start(cmd, "LISTENING", Duration::from_secs(20)).expect("socket.io relay starts");
        p.drain_stdout();
        let port: u16 = p.ready_line.split_whitespace().nth(1).unwrap().parse().unwrap();
        (p, port)
    };
    if args.has("idle") {
        let (p, port) = start();
        std::thread::sleep(Duration::from_secs(1));
        let rss0 = sys::settled_rss(p.pid);
        let mut kids = Vec::new();
        let mut s = 0;
        while s < args.idle {
            let e = (s + args.per_process).min(args.idle);
            let mut cmd = Command::new("node");
            cmd.args(["load.js", "idle", &port.to_string(), &s.to_string(), &e.to_string()])
                .current_dir(&dir)
                .stdin(std::process::Stdio::piped());
            kids.push(sys::Spawned::start(cmd, "CONNECTED", Duration::from_secs(300)).expect("node idle client"));
            s = e;
        }
        let ok: usize = kids
            .iter()
            .map(|k| {
                k.ready_line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0)
            })
            .sum();
        std::thread::sleep(Duration::from_secs(2));
        let rssn = sys::settled_rss(p.pid);
        let line = format!(
            "idle [socket.io relay]: {ok} of {} sockets held; RSS {:.1} MiB at 0 → {:.1} MiB = {:.1} KiB per connection",
            args.idle, rss0 as f64 / 1024.0, rssn as f64 / 1024.0, (rssn as f64 - rss0 as f64) / ok.max(1) as f64
        );
        println!("{line}");
        summary.push(line);
        for mut k in kids {
            drop(k.child.stdin.take());
            k.stop();
        }
        p.stop();
    }
    if !(args.has("latency") || args.has("throughput")) {
        return;
    }
    let (p, port) = start();
    let run = |rates: &[f64], secs: f64, label: &str, summary: &mut Vec<String>| -> f64 {
        let rates_s: Vec<String> = rates.iter().map(|r| format!("{r}")).collect();
        let mut cmd = Command::new("node");
        cmd.args([
            "load.js",
            "load",
            &port.to_string(),
            &args.couples.to_string(),
            &rates_s.join(","),
            &format!("{secs}"),
            &format!("{}", args.warmup),
        ])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("node load client");
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut m0 = sys::Meter::take(p.pid);
        let mut best = 0.0;
        for line in out.lines() {
            let Ok(line) = line else { break };
            if line.starts_with("STEP_START") {
                m0 = sys::Meter::take(p.pid);
            } else if let Some(js) = line.strip_prefix("STEP ") {
                let m1 = sys::Meter::take(p.pid);
                let v: serde_json::Value = serde_json::from_str(js).unwrap();
                let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
                let delivered = f("delivered");
                let ok = delivered == f("n") && f("dups") == 0.0 && f("p99") <= 1000.0;
                if ok {
                    best = f("rate");
                }
                let per = 1000.0 / delivered.max(1.0);
                let text = format!(
                    "{label}: offered {:.0}/s, {} sent, {} delivered, {} dup | delivery p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.1} ms | CPU s/1000 deliveries: relay {:.3}, load generator {:.3} | relay RSS {:.0} MiB | {}",
                    f("rate"), f("n"), delivered, f("dups"), f("p50"), f("p99"), f("p999"), f("max"),
                    (m1.server - m0.server) * per, f("client_cpu") * per, sys::rss_kib(p.pid) as f64 / 1024.0,
                    if ok { "sustained" } else { "NOT sustained" }
                );
                println!("{text}");
                if rates.len() == 1 {
                    summary.push(text);
                }
            }
        }
        let _ = child.wait();
        best
    };
    if args.has("latency") {
        run(&[args.rate], args.duration, "latency [socket.io]", summary);
    }
    if args.has("throughput") {
        let best = run(&relay_rates(args), args.step_seconds, "  ramp [socket.io]", summary);
        let line = format!(
            "throughput [socket.io]: highest sustained forward rate {best:.0}/s (one Node load-client process)"
        );
        println!("{line}");
        summary.push(line);
    }
    p.stop();
}
