//! Idle connections: many authenticated sockets held open, opened from child processes
//! (`bench __idle-client`) so no client process needs more than its file limit.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

/// Child: opens sockets [start, end) and holds them (answering pings) until stdin closes.
pub fn child_main(args: &[String]) {
    crate::sys::raise_nofile();
    let [tokens_file, start, end, base, origin, mode] = args else {
        panic!("__idle-client TOKENS START END BASE ORIGIN MODE")
    };
    let tokens: Vec<String> = std::fs::read_to_string(tokens_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let ok = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicUsize::new(0));
        let sem = Arc::new(tokio::sync::Semaphore::new(256));
        let mut handles = Vec::new();
        // `i` also numbers the relay's pairs, and the relay mode has no tokens.
        #[allow(clippy::needless_range_loop)]
        for i in start..end {
            let (sem, ok, fail) = (sem.clone(), ok.clone(), fail.clone());
            let (url, cookie, origin) = if mode == "tandem" {
                (format!("{base}/api/ws"), Some(tokens[i].clone()), Some(origin.clone()))
            } else {
                (format!("{base}/pair/{}", i / 2), None, None)
            };
            let tandem = mode == "tandem";
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            handles.push(done_rx);
            tokio::spawn(async move {
                let permit = sem.acquire().await.unwrap();
                let mut ws = None;
                for attempt in 0..5 {
                    match crate::load::connect(&url, origin.as_deref(), cookie.as_deref()).await {
                        Ok(mut s) => {
                            if tandem {
                                match crate::load::next_json(&mut s, Duration::from_secs(30)).await {
                                    Some(v) if v["type"] == "ready" => {}
                                    _ => continue,
                                }
                            }
                            ws = Some(s);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await,
                    }
                }
                drop(permit);
                let Some(mut ws) = ws else {
                    fail.fetch_add(1, Ordering::Relaxed);
                    let _ = done_tx.send(());
                    return;
                };
                ok.fetch_add(1, Ordering::Relaxed);
                let _ = done_tx.send(());
                // Reading answers the server's pings; nothing else arrives.
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
        for h in handles {
            let _ = h.await;
        }
        println!(
            "CONNECTED {} {}",
            ok.load(Ordering::Relaxed),
            fail.load(Ordering::Relaxed)
        );
        let _ = std::io::stdout().flush();
        // Hold until the parent closes our stdin.
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
    });
}

pub struct IdleResult {
    pub n: usize,
    pub ok: usize,
    pub fail: usize,
    pub rss0_kib: u64,
    pub rssn_kib: u64,
    pub connect_secs: f64,
    pub processes: usize,
}

impl IdleResult {
    pub fn per_conn_kib(&self) -> f64 {
        (self.rssn_kib as f64 - self.rss0_kib as f64) / self.ok.max(1) as f64
    }
}

/// Opens `n` sockets against `pid`'s server from child processes of ≤ `per_child` each.
pub fn run(
    pid: u32,
    tokens: &[String],
    n: usize,
    base: &str,
    origin: &str,
    mode: &str,
    per_child: usize,
) -> IdleResult {
    let rss0 = crate::sys::settled_rss(pid);
    let file = std::env::temp_dir().join(format!("tandem-bench-tokens-{}", std::process::id()));
    std::fs::write(&file, tokens.join("\n")).unwrap();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut children = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + per_child).min(n);
        let child = Command::new(&exe)
            .args([
                "__idle-client",
                file.to_str().unwrap(),
                &start.to_string(),
                &end.to_string(),
                base,
                origin,
                mode,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn idle client");
        children.push(child);
        start = end;
    }
    let (mut ok, mut fail) = (0, 0);
    for c in children.iter_mut() {
        let mut line = String::new();
        BufReader::new(c.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let parts: Vec<usize> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
        ok += parts.first().copied().unwrap_or(0);
        fail += parts.get(1).copied().unwrap_or(0);
    }
    let connect_secs = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let rssn = crate::sys::settled_rss(pid);
    let processes = children.len();
    for mut c in children {
        drop(c.stdin.take());
        let _ = c.wait();
    }
    let _ = std::fs::remove_file(&file);
    // Let the server notice the closes before anything else runs.
    std::thread::sleep(Duration::from_secs(2));
    IdleResult {
        n,
        ok,
        fail,
        rss0_kib: rss0,
        rssn_kib: rssn,
        connect_secs,
        processes,
    }
}
