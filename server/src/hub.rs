//! The hub of open websockets: which connections each user has, to wake them when a
//! committed write concerns that user (here or, through the store's signals, on another
//! instance), and to close those of an ended session. It holds no events: a woken
//! connection reads its stream from the store (`stream.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct Conn {
    id: u64,
    session: String,
    mailbox: Arc<Mailbox>,
    kick: CancellationToken,
}

/// How the hub wakes a connection: a wake-up that finds the connection busy is kept
/// (one permit), so nothing committed meanwhile is missed.
#[derive(Default)]
struct Mailbox {
    wake: Notify,
}

impl Mailbox {
    fn deliver(&self) {
        self.wake.notify_one();
    }
}

#[derive(Default)]
pub struct Hub {
    conns: Mutex<HashMap<String, Vec<Conn>>>,
    next_id: AtomicU64,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// A connection's place in the hub; unregisters on drop, however the task ends.
pub struct Registration {
    hub: Arc<Hub>,
    user: String,
    id: u64,
    mailbox: Arc<Mailbox>,
    kick: CancellationToken,
}

impl Registration {
    /// Resolves when the hub wakes this connection (a wake-up while busy is kept).
    pub async fn woken(&self) {
        self.mailbox.wake.notified().await
    }

    /// Resolves when the connection's session ended or the server shuts down.
    pub async fn ended(&self) {
        self.kick.cancelled().await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut conns = self.hub.conns.lock().expect("hub lock");
        if let Some(list) = conns.get_mut(&self.user) {
            list.retain(|c| c.id != self.id);
            if list.is_empty() {
                conns.remove(&self.user);
            }
        }
    }
}

impl Hub {
    pub fn register(self: &Arc<Self>, user: &str, session: &str) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mailbox = Arc::new(Mailbox::default());
        let kick = self.shutdown.child_token();
        let conn = Conn {
            id,
            session: session.to_string(),
            mailbox: mailbox.clone(),
            kick: kick.clone(),
        };
        self.conns
            .lock()
            .expect("hub lock")
            .entry(user.to_string())
            .or_default()
            .push(conn);
        Registration {
            hub: self.clone(),
            user: user.to_string(),
            id,
            mailbox,
            kick,
        }
    }

    /// Wakes every open connection of these users to read their new events from the store.
    pub fn notify(&self, users: &[String]) {
        let conns = self.conns.lock().expect("hub lock");
        for user in users {
            for c in conns.get(user).into_iter().flatten() {
                c.mailbox.deliver();
            }
        }
    }

    /// Wakes the open connections of the users a committed write concerns.
    pub fn publish(&self, changes: &[crate::store::Published]) {
        self.notify(&crate::store::Published::users(changes));
    }

    /// Wakes every open connection (after notifications may have been missed).
    pub fn notify_all(&self) {
        for c in self.conns.lock().expect("hub lock").values().flatten() {
            c.mailbox.deliver();
        }
    }

    /// Applies another instance's change to this instance's connections.
    pub fn apply(&self, signal: crate::store::Signal) {
        match signal {
            crate::store::Signal::Events(user) => self.notify(&[user]),
            crate::store::Signal::SessionEnded(session) => self.end_session(&session),
            crate::store::Signal::Resync => self.notify_all(),
        }
    }

    /// Closes the connections opened with this session (log-out, revocation).
    pub fn end_session(&self, session: &str) {
        let conns = self.conns.lock().expect("hub lock");
        for c in conns.values().flatten().filter(|c| c.session == session) {
            c.kick.cancel();
        }
    }

    /// Asks every connection to close with a close frame, then waits for them (bounded).
    /// Whether the server is shutting down (rather than one session ending).
    pub fn shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        let _ = timeout(Duration::from_secs(5), self.tasks.wait()).await;
    }

    /// Tracks a connection's task so shutdown can wait for its close frame to go out.
    pub fn track<F: std::future::Future<Output = ()>>(&self, f: F) -> impl std::future::Future<Output = ()> {
        self.tasks.track_future(f)
    }
}
