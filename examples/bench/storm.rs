//! Reconnect storm: every partner drops, misses `k` events, then all resume at once
//! with ?since=<last seq seen>. Counts lost and duplicated events by seq and entry id.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::load::{connect, next_json};
use crate::seed::Couple;

pub struct StormResult {
    pub partners: usize,
    pub missed_each: usize,
    pub all_caught_up_secs: f64,
    pub p50_secs: f64,
    pub p99_secs: f64,
    pub caught_up: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub connect_retries: usize,
    pub failed: usize,
    pub server_cpu: f64,
    pub client_cpu: f64,
    pub server_rss_mib: f64,
    pub share_setup_secs: f64,
    pub stray: usize,
}

/// `drafts[c]` are couple c's k draft ids; draft j is written by partner a if j is even.
pub async fn run(
    pid: u32,
    base_http: &str,
    base_ws: &str,
    origin: &str,
    couples: &[Couple],
    drafts: &[Vec<String>],
) -> StormResult {
    let k = drafts[0].len();
    let partners: Vec<(usize, &crate::seed::Partner)> = couples
        .iter()
        .enumerate()
        .flat_map(|(c, cp)| [(c, &cp.a), (c, &cp.b)])
        .collect();
    let n = partners.len();

    // 0. Start from a quiet server (no backlog of earlier load still being written).
    for _ in 0..360 {
        let c0 = crate::sys::cpu_secs(pid);
        tokio::time::sleep(Duration::from_millis(500)).await;
        if crate::sys::cpu_secs(pid) - c0 < 0.025 {
            break;
        }
    }
    let strays = Arc::new(AtomicUsize::new(0));
    // 1. Everyone connected; remember the head each was at.
    let sem = Arc::new(tokio::sync::Semaphore::new(300));
    let mut hs = Vec::new();
    for (_, p) in &partners {
        let (sem, url, origin, token) = (
            sem.clone(),
            format!("{base_ws}/api/ws"),
            origin.to_string(),
            p.token.clone(),
        );
        hs.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let mut ws = connect(&url, Some(&origin), Some(&token)).await.expect("connect");
            let ready = next_json(&mut ws, Duration::from_secs(30)).await.expect("ready");
            (ws, ready["head"].as_i64().unwrap())
        }));
    }
    let mut heads = Vec::with_capacity(n);
    let mut socks = Vec::with_capacity(n);
    for h in hs {
        let (ws, head) = h.await.unwrap();
        heads.push(head);
        socks.push(ws);
    }
    // 2. All drop.
    for mut ws in socks {
        let _ = ws.close(None).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 3. Each couple shares its k drafts over HTTP while nobody listens: every partner
    //    misses k events (the writer's own stream gets each share too).
    let http = reqwest::Client::new();
    let setup = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut hs = Vec::new();
    for (c, cp) in couples.iter().enumerate() {
        for (j, id) in drafts[c].iter().enumerate() {
            let writer = if j % 2 == 0 { &cp.a } else { &cp.b };
            let (sem, http, token) = (sem.clone(), http.clone(), writer.token.clone());
            let url = format!("{base_http}/api/entries/{id}/share");
            let origin = origin.to_string();
            hs.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                let res = http
                    .post(url)
                    .header("Origin", origin)
                    .header("Cookie", format!("tandem_session={token}"))
                    .json(&serde_json::json!({ "request_id": uuid::Uuid::new_v4().to_string(), "scopes": ["partner"] }))
                    .send()
                    .await
                    .expect("share request");
                assert!(res.status().is_success(), "share: {}", res.status());
            }));
        }
    }
    for h in hs {
        h.await.unwrap();
    }
    let share_setup_secs = setup.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 4. Everyone resumes at once.
    let retries = Arc::new(AtomicUsize::new(0));
    let m0 = crate::sys::Meter::take(pid);
    let t0 = Instant::now();
    let mut hs = Vec::new();
    for (i, (c, _)) in partners.iter().enumerate() {
        let p = partners[i].1;
        let url = format!("{base_ws}/api/ws?since={}", heads[i]);
        let (origin, token, retries) = (origin.to_string(), p.token.clone(), retries.clone());
        let expected: HashSet<String> = drafts[*c].iter().cloned().collect();
        let head = heads[i];
        let strays = strays.clone();
        hs.push(tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                let mut ws = match connect(&url, Some(&origin), Some(&token)).await {
                    Ok(ws) => ws,
                    Err(_) if attempt < 10 => {
                        attempt += 1;
                        retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                        continue;
                    }
                    Err(_) => return None,
                };
                let mut seqs = HashSet::new();
                let mut ids = HashSet::new();
                let mut dups = 0;
                let mut ready = false;
                while expected.iter().any(|id| !ids.contains(id)) {
                    let Some(v) = next_json(&mut ws, Duration::from_secs(30)).await else {
                        break;
                    };
                    match v["type"].as_str() {
                        Some("ready") => ready = true,
                        Some("event") => {
                            let seq = v["seq"].as_i64().unwrap_or(-1);
                            let id = v["entry"]["id"].as_str().unwrap_or("").to_string();
                            if seq <= head || !seqs.insert(seq) || !ids.insert(id) {
                                dups += 1;
                            }
                        }
                        _ => {}
                    }
                }
                let done = t0.elapsed();
                let lost = expected.iter().filter(|id| !ids.contains(*id)).count();
                // Events for other entries (none expected) are counted apart, not as duplicates.
                let stray = ids.iter().filter(|id| !expected.contains(*id)).count();
                strays.fetch_add(stray, Ordering::Relaxed);
                let _ = ready;
                // Stay a moment to catch any duplicate sent after the last expected event.
                if let Some(v) = next_json(&mut ws, Duration::from_millis(300)).await {
                    if v["type"] == "event" {
                        dups += 1;
                    }
                }
                let _ = ws.close(None).await;
                return Some((done, lost, dups));
            }
        }));
    }
    let mut times = Vec::new();
    let (mut lost, mut dup, mut failed) = (0, 0, 0);
    for h in hs {
        match h.await.unwrap() {
            Some((t, l, d)) => {
                if l == 0 {
                    times.push(t.as_secs_f64());
                }
                lost += l;
                dup += d;
            }
            None => {
                failed += 1;
                lost += k;
            }
        }
    }
    // The 300 ms duplicate watch runs after each catch-up; it is not in the times.
    let m1 = crate::sys::Meter::take(pid);
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| {
        times
            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    StormResult {
        partners: n,
        missed_each: k,
        all_caught_up_secs: times.last().copied().unwrap_or(f64::NAN),
        p50_secs: q(0.5),
        p99_secs: q(0.99),
        caught_up: times.len(),
        lost,
        duplicated: dup,
        connect_retries: retries.load(Ordering::Relaxed),
        failed,
        server_cpu: m1.server - m0.server,
        client_cpu: m1.client - m0.client,
        server_rss_mib: crate::sys::rss_kib(pid) as f64 / 1024.0,
        share_setup_secs,
        stray: strays.load(Ordering::Relaxed),
    }
}
