//! The people of a world, signed up ahead of time.
//!
//! Sign-up hashes a password (Argon2id, 19 MiB), by far the costliest thing a case does,
//! and the server has no setting to make it cheaper. So a background task signs up and
//! pairs the next worlds' people while the current case runs. This is the only thing that
//! runs beside a world, and it touches no one in it: new accounts get nothing from anyone
//! else, and their pairing only writes to their own streams.

use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::{mpsc, Mutex};

use super::plan::{C, D, NAMES, S, T};
use crate::helpers::{Client, TestApp};

/// Ana and Ben paired (couple 1), Cat and Dan paired (couple 2), and Dr Lee, a therapist.
pub struct Accounts {
    /// Indexed like `plan::NAMES`, up to Dr Lee.
    pub people: Vec<Client>,
    pub therapist_email: String,
    pub couples: [String; 2],
}

pub async fn signup(base: &str, origin: &str, name: &str, role: &str) -> (Client, String) {
    let email = format!(
        "{}-{}@example.org",
        name.to_lowercase().replace(' ', "."),
        uuid::Uuid::new_v4()
    );
    let client = Client::to(base, origin);
    let (status, body) = client
        .post(
            "/api/signup",
            json!({ "email": email, "password": "a long enough password", "display_name": name, "role": role }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "signup: {body}");
    (client, email)
}

async fn pair(a: &Client, b: &Client) -> String {
    let (status, body) = a.post("/api/couple", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = body["invite"]["code"].as_str().unwrap().to_string();
    let (status, body) = b.post("/api/couple/join", json!({ "code": code })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["couple"]["id"].as_str().unwrap().to_string()
}

impl Accounts {
    async fn new(base: &str, origin: &str) -> Accounts {
        let accounts = futures_util::future::join_all((0..S).map(|i| {
            let role = if i == T { "therapist" } else { "partner" };
            signup(base, origin, NAMES[i], role)
        }))
        .await;
        let therapist_email = accounts[T].1.clone();
        let people: Vec<Client> = accounts.into_iter().map(|(c, _)| c).collect();
        let (c1, c2) = futures_util::join!(pair(&people[0], &people[1]), pair(&people[C], &people[D]));
        Accounts {
            people,
            therapist_email,
            couples: [c1, c2],
        }
    }
}

/// Account sets made in the background, a couple of worlds ahead.
pub struct Pool {
    ready: Mutex<mpsc::Receiver<Accounts>>,
    task: tokio::task::JoinHandle<()>,
}

impl Pool {
    pub fn start(app: &TestApp) -> Pool {
        let (tx, rx) = mpsc::channel(2);
        let (base, origin) = (app.base.clone(), app.origin.clone());
        let task = tokio::spawn(async move {
            loop {
                let accounts = Accounts::new(&base, &origin).await;
                if tx.send(accounts).await.is_err() {
                    break;
                }
            }
        });
        Pool {
            ready: Mutex::new(rx),
            task,
        }
    }

    pub async fn take(&self) -> Accounts {
        self.ready.lock().await.recv().await.expect("the sign-up task runs")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.task.abort();
    }
}
