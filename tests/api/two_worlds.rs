//! Consent as noninterference, tested with two worlds.
//!
//! For every observer (the other partner, the couple's therapist, a member of another
//! couple, a partner account in no couple, an anonymous caller) and any two histories
//! that differ only in actions whose results that observer may not see, everything the
//! observer receives must be the same: status codes and bodies, websocket messages,
//! cursors (`head`, `next_since`, `ready.head`, `ready.since`, event `seq`), counts,
//! summary figures and charts, CSV and JSON exports, errors, and `last_shared_at` — once
//! ids and times, which the observer cannot tie to anything, are renamed (`normalize`).
//!
//! proptest draws a short history of both couples' writes, shares, withdrawals, replies,
//! deletions, outcomes, therapist proposals / approvals / revocations, and "looks": an
//! observer reads its stream from its cursor (`GET /api/events` in pages of 1 to 3, or a
//! websocket read up to an end marker, or both), and maybe everything else (`GET /api/me`,
//! the list, every entry id it knows or guesses, both couples' summaries, the exports and
//! the view log of its own, its couples as a therapist). Observers are offline between
//! looks. The second world is the same history with hidden groups of actions inserted
//! (`plan`, `resolve`): drafts (given an outcome, or deleted), shares withdrawn (or
//! entries deleted) before anyone else looks, entries left shared with one scope only,
//! replies (also shared with the therapist, which the summary leaves out), by either
//! couple. The worlds run one after the other on one server, each with fresh accounts
//! (`accounts`), and the transcripts of the observers every inserted group is hidden from
//! must be identical (`diff` tells where they are not, also with cursors masked). A case
//! now and then inserts nothing and compares everyone: the harness itself must not tell
//! the worlds apart.
//!
//! `TWO_WORLDS_CASES` (or `PROPTEST_CASES`) sets the number of cases per backend (default
//! 100; CI runs 1,000); a failure is shrunk
//! and its seed saved in `tests/api/two_worlds.proptest-regressions`, replayed first on
//! later runs. `TWO_WORLDS_TRACE=1` prints each passing case's plan and time;
//! `TWO_WORLDS_SURVEY=1` prints every failing case as it comes (unshrunk) and goes on.

mod accounts;
mod diff;
mod known_leaks;
mod normalize;
mod plan;
mod resolve;
mod world;

use std::cell::Cell;
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, Client};
use accounts::Pool;
use plan::{RawCase, NAMES};
use resolve::Plan;
use world::World;

both_backends!(histories_differing_only_in_hidden_actions_look_the_same);

const REGRESSIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/two_worlds.proptest-regressions");

/// `TWO_WORLDS_CASES`, else `PROPTEST_CASES`: CI raises this test's count alone (the
/// other property tests read `PROPTEST_CASES` too, and are far dearer per case).
fn cases() -> u32 {
    std::env::var("TWO_WORLDS_CASES")
        .or_else(|_| std::env::var("PROPTEST_CASES"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
}

async fn run_case(pool: &Pool, stranger: &Client, raw: &RawCase) -> Result<Plan, String> {
    let plan = resolve::resolve(raw);
    let fail = |e: String| format!("{e}\nplan:\n{plan}");
    // One world after the other: nothing in them runs at the same time.
    let mut first = World::start(pool.take().await, &plan, stranger).await;
    first.run(plan.first.iter()).await.map_err(fail)?;
    let mut second = World::start(pool.take().await, &plan, stranger).await;
    second.run(plan.second.iter().map(|(s, _)| s)).await.map_err(fail)?;
    for &who in &plan.compared {
        let a = normalize::transcript(&first.log[who]);
        let b = normalize::transcript(&second.log[who]);
        if let Some(diff) = diff::report(NAMES[who], &a, &b) {
            return Err(format!(
                "{diff}plan (the second world; the first has no [hidden] steps):\n{plan}"
            ));
        }
    }
    Ok(plan)
}

async fn histories_differing_only_in_hidden_actions_look_the_same(backend: Backend) {
    // Every case signs up ten people: more than the default limit of attempts per address.
    let Some(app) = spawn_app_with(backend, &["--attempts-per-minute", "1000000"]).await else {
        return;
    };
    let (stranger, _) = accounts::signup(&app.base, &app.origin, NAMES[plan::S], "partner").await;
    let pool = Pool::start(&app);
    let config = Config {
        cases: cases(),
        max_shrink_iters: 200,
        max_shrink_time: 240_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..Config::default()
    };
    let trace = std::env::var_os("TWO_WORLDS_TRACE").is_some();
    let survey = std::env::var_os("TWO_WORLDS_SURVEY").is_some();
    let failed = Cell::new(0u32);
    let (runs, spent) = (Cell::new(0u32), Cell::new(Duration::ZERO));
    let started = Instant::now();
    let result = tokio::task::block_in_place(|| {
        let rt = tokio::runtime::Handle::current();
        let mut runner = TestRunner::new(config);
        runner.run(&plan::case(), |raw| {
            let t0 = Instant::now();
            let outcome = rt.block_on(run_case(&pool, &stranger, &raw));
            runs.set(runs.get() + 1);
            spent.set(spent.get() + t0.elapsed());
            match outcome {
                Ok(plan) => {
                    if trace {
                        eprintln!("case passed in {:.0?}:\n{plan}", t0.elapsed());
                    }
                    Ok(())
                }
                Err(e) if survey => {
                    eprintln!("case failed:\n{e}");
                    failed.set(failed.get() + 1);
                    Ok(())
                }
                Err(e) => Err(TestCaseError::fail(e)),
            }
        })
    });
    eprintln!(
        "two worlds ({backend:?}): {} runs in {:.1?}, {:.0?} per case",
        runs.get(),
        started.elapsed(),
        spent.get() / runs.get().max(1)
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(failed.get(), 0, "cases failed (TWO_WORLDS_SURVEY)");
}
