//! Durability: the real server binary, under continuous load from six couples (every
//! kind of write: create, share with the partner and with the therapist, withdraw, set a
//! small step's outcome, delete; over the websocket and over HTTP) and one couple that
//! unpairs and pairs again, is crashed again and again, each crash aimed at writes in
//! flight:
//!
//! - `{sqlite,postgres}::acknowledged_writes_survive_sigkill`: the server is SIGKILLed and
//!   started again on the same port and database (SQLite's integrity check passes after
//!   every kill and every start);
//! - `acknowledged_writes_survive_a_postgres_crash`: a PostgreSQL cluster of the test's own
//!   (initdb in a temporary directory, a free port) is crashed (`pg_ctl stop -m
//!   immediate`) and started again under a server that keeps running.
//!
//! Clients behave as the protocol asks: on a lost connection they reconnect with `?since=`
//! their cursor and retry the write in hand with the same `request_id`, over either
//! transport. Some give up on it instead; those are retried once at the very end.
//!
//! Asserted: enough writes were in flight at the crashes (sent to the process a crash
//! killed, their reply lost: at least one per crash, over a third of the crashes at least,
//! and after a SIGKILL some already committed); before each retry of a write that may
//! have been applied, the entry showed whether it was (never half), and the retry said
//! `replayed` exactly then. At the end every acknowledged write is there and was applied
//! once (entries, consent history, streams); deleted entries are gone, withdrawn ones
//! hidden from the partner, outcomes kept everywhere, the therapist's summary holds
//! exactly what is shared with them; every kind of write was acknowledged over both
//! transports; the churned couple is paired; and the server's log, read from its pipes
//! while it runs, holds no panic and no error (while the database is down: only errors
//! of its lost connections).
//!
//! `TANDEM_CHAOS_SEED` replays the crash schedule and the clients' choices of a run;
//! `TANDEM_CHAOS_KILLS` sets how many times the server or database is crashed.

mod check;
mod churn;
mod load;
mod model;
mod pg_cluster;
mod server;
mod world;
mod writer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::{sleep, timeout, Instant};

use self::churn::Churn;
use self::model::Via;
use self::pg_cluster::PgCluster;
use self::server::{free_port, integrity_check, read_log, Server};
use self::world::{setup, shared_env, start_load, stop_load, Env, World};
use self::writer::Writer;
use crate::both_backends;
use crate::helpers::{fresh_database, Backend};

both_backends!(acknowledged_writes_survive_sigkill);

/// Each durability test, setup to last check (the bound is ~3 minutes per run).
const TEST_LIMIT: Duration = Duration::from_secs(180);
/// One durability test at a time: each wants both cores, and its timings mean something
/// only alone.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn seeded(what: &str) -> StdRng {
    let seed: u64 = std::env::var("TANDEM_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("durability ({what}): seed {seed} (set TANDEM_CHAOS_SEED to replay)");
    StdRng::seed_from_u64(seed)
}

fn crashes(default: usize) -> usize {
    std::env::var("TANDEM_CHAOS_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Before a crash: waits (up to 2 s) for a write in flight, then lets it go on for 0 to 4
/// ms (so some crashes land before the commit, some between commit and reply). Returns
/// how many writes were in flight.
async fn aim(env: &Env, rng: &mut StdRng) -> usize {
    env.in_flight.some(Duration::from_secs(2)).await;
    let jitter = rng.gen_range(0..=4);
    if jitter > 0 {
        sleep(Duration::from_millis(jitter)).await;
    }
    env.in_flight.now()
}

/// Sums of what the clients saw.
#[derive(Debug, Default)]
struct Totals {
    acks: usize,
    replayed: usize,
    lost_at_crash: usize,
    lost_at_crash_replayed: usize,
    crashes_hit: usize,
    predicted: usize,
    final_replays: usize,
    connection_errors: usize,
    server_errors: usize,
    events: i64,
    therapist_entries: usize,
    coverage: BTreeMap<(String, Via), usize>,
    errors: HashMap<String, usize>,
}

/// The final retries, then every check of the end state.
async fn settle_and_check(writers: &mut [Writer], world: &World) -> Totals {
    let mut t = Totals::default();
    for w in writers.iter_mut() {
        t.final_replays += load::final_retries(w).await;
    }
    for w in writers.iter_mut() {
        w.drain().await;
    }
    for i in 0..writers.len() {
        let (w, partner) = (&writers[i], &writers[i ^ 1]);
        t.events += check::stream(w, partner).await;
        check::lists(w, partner).await;
        check::export(w, partner).await;
    }
    for (c, couple) in world.couples.iter().enumerate() {
        t.therapist_entries += check::therapist(&world.therapist, couple, &writers[2 * c], &writers[2 * c + 1]).await;
    }
    t.coverage = check::coverage(writers);
    let mut hit = HashSet::new();
    for w in writers.iter() {
        let s = &w.stats;
        t.acks += s.acks.values().sum::<usize>();
        t.replayed += s.replayed;
        t.lost_at_crash += s.lost_at_crash;
        t.lost_at_crash_replayed += s.lost_at_crash_replayed;
        t.predicted += s.predicted;
        t.connection_errors += s.connection_errors;
        t.server_errors += s.server_errors;
        hit.extend(s.crashes_hit.iter().copied());
        for (e, n) in &s.errors {
            *t.errors.entry(e.clone()).or_insert(0) += n;
        }
    }
    t.crashes_hit = hit.len();
    t
}

/// The crashes landed mid-write: writes whose reply a crash took (sent to the process it
/// killed, unanswered; each then acknowledged by a retry that said whether it had been
/// applied): at least as many as crashes (and 3), over at least a third of the crashes.
fn assert_mid_write(what: &str, t: &Totals, crashes: usize) {
    let want = crashes.max(3);
    assert!(
        t.lost_at_crash >= want,
        "{what}: only {} writes lost their reply at a crash, {want} wanted: the crashes missed the writes",
        t.lost_at_crash
    );
    assert!(
        t.crashes_hit * 3 >= crashes,
        "{what}: only {} of {crashes} crashes took a write's reply",
        t.crashes_hit
    );
}

fn report(what: &str, t: &Totals, churned: &Churn, in_flight_at_crashes: &[usize]) {
    println!(
        "durability ({what}): {} writes acknowledged ({} replays, {} in the final retries), {} events and {} \
         therapist-shared entries checked; {} writes lost their reply at a crash ({} retries said replayed, {} \
         applied then), over {} crashes; in flight as each crash began: {in_flight_at_crashes:?}; {} retries \
         predicted from the entry's state; {} connection errors, {} 5xx",
        t.acks,
        t.replayed,
        t.final_replays,
        t.events,
        t.therapist_entries,
        t.lost_at_crash,
        t.lost_at_crash_replayed,
        t.lost_at_crash - t.lost_at_crash_replayed,
        t.crashes_hit,
        t.predicted,
        t.connection_errors,
        t.server_errors
    );
    println!(
        "durability ({what}): acknowledged by kind and transport: {:?}",
        t.coverage
    );
    println!("durability ({what}): errors clients saw: {:?}", t.errors);
    println!("durability ({what}): unpaired and paired again: {churned:?}");
}

// ---------------------------------------------------------------------------------
// The server, SIGKILLed

async fn acknowledged_writes_survive_sigkill(backend: Backend) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some((url, dir)) = fresh_database(backend).await else {
        return;
    };
    timeout(TEST_LIMIT, sigkill(backend, url, dir))
        .await
        .expect("the durability test finishes in time");
}

async fn sigkill(backend: Backend, url: String, dir: Option<tempfile::TempDir>) {
    let started = Instant::now();
    let what = format!("{backend:?}, SIGKILL");
    let mut rng = seeded(&what);
    let kills = crashes(15);
    let logs = tempfile::tempdir().expect("temp dir");
    let sqlite_file = dir.as_ref().map(|d| d.path().join("tandem.db"));
    let port = free_port(&mut rng);
    let mut server = Server::start(port, &url, logs.path().join("server.log")).await;
    let world = setup(&format!("http://127.0.0.1:{port}")).await;
    println!(
        "durability ({what}): ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (health, env) = shared_env(port, Duration::from_secs(10), true);
    let load_started = Instant::now();
    let load = start_load(&world, &env, &mut rng);
    let mut in_flight = Vec::new();
    for k in 1..=kills {
        sleep(Duration::from_millis(rng.gen_range(100..=700))).await;
        in_flight.push(aim(&env, &mut rng).await);
        health.send_modify(|h| h.up = false);
        server.kill();
        health.send_modify(|h| h.epoch += 1);
        if let Some(file) = &sqlite_file {
            integrity_check(file, &format!("after kill {k}")).await;
        }
        server.spawn().await;
        if let Some(file) = &sqlite_file {
            integrity_check(file, &format!("after restart {k}")).await;
        }
        health.send_modify(|h| h.up = true);
    }
    sleep(Duration::from_millis(500)).await;
    let (mut writers, churned) = stop_load(load).await;
    let load_time = load_started.elapsed();
    let totals = settle_and_check(&mut writers, &world).await;

    server.kill();
    if let Some(file) = &sqlite_file {
        integrity_check(file, "at the end").await;
    }
    let log = read_log(&server.log);
    report(&what, &totals, &churned, &in_flight);
    let starts = &server.start_times;
    println!(
        "durability ({what}): {kills} kills over {:.1} s of load, {} starts ({:?} on average, {:?} at most); \
         server warnings: {:?}; {:.1} s in all",
        load_time.as_secs_f64(),
        server.starts,
        starts.iter().sum::<Duration>() / starts.len() as u32,
        starts.iter().max().unwrap(),
        log.warnings,
        started.elapsed().as_secs_f64()
    );
    assert!(log.panics.is_empty(), "the server panicked: {:#?}", log.panics);
    assert!(log.errors.is_empty(), "the server logged errors: {:#?}", log.errors);
    // Crashes cost connections, never a server error (a deadlock would show up here).
    assert_eq!(totals.server_errors, 0, "5xx answers: {:?}", totals.errors);
    assert_mid_write(&what, &totals, kills);
    // Some kill landed after a write committed and before its reply went out.
    assert!(
        totals.lost_at_crash_replayed > 0,
        "{what}: no kill landed between a commit and its reply (no lost reply was replayed)"
    );
}

// ---------------------------------------------------------------------------------
// PostgreSQL, crashed under a running server

/// Whether a PostgreSQL test must run rather than be skipped (as in `helpers`).
fn postgres_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("TANDEM_REQUIRE_POSTGRES").is_some()
}

/// What the server may log while its database is down: a request failing on a lost or
/// refused database connection (sqlx's I/O error, or PostgreSQL refusing connections
/// while it stops or recovers); it answers 500 and the client retries.
const OUTAGE_ERRORS: [&str; 4] = [
    "internal error error=error communicating with database: ",
    "internal error error=pool timed out while waiting for an open connection",
    "internal error error=error returned from database: terminating connection due to administrator command",
    "internal error error=error returned from database: the database system is ",
];
/// How long after the database answers again a request may still fail on a connection
/// lost in the crash.
const OUTAGE_GRACE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_postgres_crash() {
    let _alone = ONE_AT_A_TIME.lock().await;
    timeout(TEST_LIMIT, postgres_crash())
        .await
        .expect("the durability test finishes in time");
}

async fn postgres_crash() {
    let started = Instant::now();
    let what = "PostgreSQL crash";
    let mut rng = seeded(what);
    let crashes = crashes(5);
    let mut cluster = match PgCluster::create(free_port(&mut rng)) {
        Ok(c) => c,
        Err(why) if !postgres_required() => {
            eprintln!("skipped: cannot run a PostgreSQL cluster of the test's own: {why}");
            return;
        }
        Err(why) => panic!("cannot run a PostgreSQL cluster of the test's own: {why}"),
    };
    tokio::task::block_in_place(|| cluster.start()).expect("start the cluster");
    let port = free_port(&mut rng);
    let mut server = Server::start(port, &cluster.url(), cluster.dir().join("server.log")).await;
    let world = setup(&format!("http://127.0.0.1:{port}")).await;
    println!(
        "durability ({what}): cluster on port {}, ready after {:.1} s",
        cluster.port,
        started.elapsed().as_secs_f64()
    );

    // Longer than the server's wait for a database connection (30 s): a request waiting
    // out the outage is answered, never abandoned while still running.
    let (health, env) = shared_env(port, Duration::from_secs(45), false);
    let load_started = Instant::now();
    let load = start_load(&world, &env, &mut rng);
    let mut in_flight = Vec::new();
    let mut outages = Vec::new();
    for _ in 1..=crashes {
        sleep(Duration::from_millis(rng.gen_range(300..=900))).await;
        in_flight.push(aim(&env, &mut rng).await);
        health.send_modify(|h| h.up = false);
        let down = SystemTime::now();
        tokio::task::block_in_place(|| cluster.crash()).expect("crash the cluster");
        health.send_modify(|h| h.epoch += 1);
        sleep(Duration::from_millis(rng.gen_range(100..=500))).await;
        tokio::task::block_in_place(|| cluster.start()).expect("start the cluster after the crash");
        outages.push((down, SystemTime::now()));
        health.send_modify(|h| h.up = true);
    }
    sleep(Duration::from_millis(1000)).await;
    let (mut writers, churned) = stop_load(load).await;
    let load_time = load_started.elapsed();
    let totals = settle_and_check(&mut writers, &world).await;

    assert!(server.running(), "the server exited while its database crashed");
    server.kill();
    let log = read_log(&server.log);
    report(what, &totals, &churned, &in_flight);
    println!(
        "durability ({what}): {crashes} crashes over {:.1} s of load, down for {:?}; server errors logged: \
         {:#?}; server warnings: {:?}; {:.1} s in all",
        load_time.as_secs_f64(),
        outages
            .iter()
            .map(|(down, up)| up.duration_since(*down).unwrap_or_default())
            .collect::<Vec<_>>(),
        log.errors_counted(),
        log.warnings,
        started.elapsed().as_secs_f64()
    );
    assert!(log.panics.is_empty(), "the server panicked: {:#?}", log.panics);
    // Errors only while the database was down (or just after), each of a lost connection;
    // and the log is read: each 5xx answer logged one.
    let during = |line: &str| {
        server::line_time(line).is_some_and(|t| outages.iter().any(|(down, up)| *down <= t && t <= *up + OUTAGE_GRACE))
    };
    let other: Vec<&String> = log
        .errors
        .iter()
        .filter(|l| !(OUTAGE_ERRORS.iter().any(|e| l.contains(e)) && during(l)))
        .collect();
    assert!(
        other.is_empty(),
        "the server logged errors other than lost database connections during the outages {outages:?}: {other:#?}"
    );
    assert!(
        log.errors.len() >= totals.server_errors,
        "{} 5xx answers, {} errors in the log: is the log read?",
        totals.server_errors,
        log.errors.len()
    );
    assert_eq!(
        server.starts, 1,
        "the server was started once and survived every crash of its database"
    );
    assert_mid_write(what, &totals, crashes);
}
