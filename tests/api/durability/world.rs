//! What every test of this module shares: the accounts, paired, with their therapist; the
//! state of what the test crashes, as the clients learn it; and the load, started and
//! stopped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use super::churn::{self, Churn};
use super::load;
use super::writer::Writer;
use crate::helpers::Client;

/// Couples under load; both partners of each write, share and read.
pub const COUPLES: usize = 6;

/// What the test crashes (the server, or its database), as the driver announces it:
/// `up` is false from just before each crash until it answers again; `epoch` counts the
/// crashes done (the process is gone), so it names the generation a request was sent to.
#[derive(Clone, Copy, Debug)]
pub struct Health {
    pub epoch: u64,
    pub up: bool,
}

/// Writes sent and not yet answered, across every client.
#[derive(Default)]
pub struct InFlight {
    count: AtomicUsize,
    changed: Notify,
}

impl InFlight {
    pub fn begin(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    pub fn end(&self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn now(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until some write is in flight, for at most `limit`; whether one is.
    pub async fn some(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.now() > 0 {
                return true;
            }
            if timeout_at(deadline, changed).await.is_err() {
                return self.now() > 0;
            }
        }
    }
}

/// What every client shares.
#[derive(Clone)]
pub struct Env {
    pub port: u16,
    pub health: watch::Receiver<Health>,
    pub in_flight: Arc<InFlight>,
    /// How long a client waits for an answer before it calls the connection dead.
    pub message_wait: Duration,
    /// The crashes kill the server (a request in flight dies with it); otherwise they hit
    /// the database under a server that keeps running.
    pub server_dies: bool,
}

impl Env {
    pub fn epoch(&self) -> u64 {
        self.health.borrow().epoch
    }
}

/// The accounts, paired, each couple with a therapist both partners approved; and one
/// more couple, for the churn.
pub struct World {
    pub partners: Vec<(String, String, Client)>,
    pub churners: Vec<(String, String, Client)>,
    pub therapist: Client,
    pub couples: Vec<String>,
}

async fn signup(base: &str, name: &str, role: &str) -> (String, String, Client) {
    let client = Client::to(base, base);
    let email = format!(
        "{}-{}@example.org",
        name.to_lowercase().replace(' ', "."),
        uuid::Uuid::new_v4().simple()
    );
    let (status, body) = client
        .post(
            "/api/signup",
            json!({ "email": email, "password": "a long enough password", "display_name": name, "role": role }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "signup: {body}");
    (body["user"]["id"].as_str().unwrap().to_string(), email, client)
}

pub async fn setup(base: &str) -> World {
    let mut names: Vec<String> = (0..2 * COUPLES)
        .map(|i| format!("{}{}", if i % 2 == 0 { "Ana" } else { "Ben" }, i / 2))
        .collect();
    names.extend(["Cy".to_string(), "Di".to_string()]);
    let mut accounts = futures_util::future::join_all(names.iter().map(|n| signup(base, n, "partner"))).await;
    let (_, dr_email, therapist) = signup(base, "Dr Lee", "therapist").await;
    let mut couples = Vec::new();
    for (i, pair) in accounts.chunks(2).enumerate() {
        let (a, b) = (&pair[0].2, &pair[1].2);
        let (status, body) = a.post("/api/couple", json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let code = body["invite"]["code"].as_str().unwrap();
        let (status, body) = b.post("/api/couple/join", json!({ "code": code })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if i == COUPLES {
            break;
        }
        let (status, body) = a.post("/api/couple/therapist", json!({ "email": dr_email })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = b.post("/api/couple/therapist/approve", json!({})).await;
        assert_eq!(body["couple"]["therapist"]["status"], "active", "{status}: {body}");
        couples.push(body["couple"]["id"].as_str().unwrap().to_string());
    }
    let mut partners: Vec<_> = accounts
        .drain(..)
        .zip(names)
        .map(|((id, _, client), name)| (name, id, client))
        .collect();
    let churners = partners.split_off(2 * COUPLES);
    World {
        partners,
        churners,
        therapist,
        couples,
    }
}

pub fn shared_env(port: u16, message_wait: Duration, server_dies: bool) -> (watch::Sender<Health>, Env) {
    let (health, rx) = watch::channel(Health { epoch: 0, up: true });
    let env = Env {
        port,
        health: rx,
        in_flight: Arc::new(InFlight::default()),
        message_wait,
        server_dies,
    };
    (health, env)
}

/// The load under way: every partner's writes, and the churn.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<Writer>>,
    churn: JoinHandle<(Writer, Writer, Churn)>,
}

/// Starts every partner's load, and the churn.
pub fn start_load(world: &World, env: &Env, rng: &mut StdRng) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = |(name, id, client): &(String, String, Client)| Writer::new(name, id, client.clone(), env.clone());
    let tasks = world
        .partners
        .iter()
        .map(|p| tokio::spawn(load::run(writer(p), stop.clone(), rng.gen())))
        .collect();
    let (a, b) = (writer(&world.churners[0]), writer(&world.churners[1]));
    let churn = tokio::spawn(churn::run(a, b, stop.clone()));
    Load { stop, tasks, churn }
}

fn unwind<T>(joined: Result<T, tokio::task::JoinError>) -> T {
    match joined {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("load task: {e}"),
    }
}

/// Stops the load; every client finishes the write in hand. Checks the churned couple.
pub async fn stop_load(load: Load) -> (Vec<Writer>, Churn) {
    load.stop.store(true, Ordering::SeqCst);
    let mut writers = Vec::new();
    for task in load.tasks {
        writers.push(unwind(task.await));
    }
    let (a, b, churned) = unwind(load.churn.await);
    assert!(churned.rounds > 0, "the churned couple never paired again");
    churn::check(&a, &b).await;
    (writers, churned)
}
