//! SQLite in a local file: the default backend, nothing to install.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::contract::{Result, Signal, WriteRequest, WriteResult};
use super::delivery;
use super::lite_tx::{run_ready, LiteTx};
use super::sql::impl_store;
use super::write;
use crate::error::ApiError;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Entry writes and stream numbering go through one writer thread that commits them in groups.
    writes: mpsc::Sender<Job>,
    /// Dropped with the store, which ends the checkpoint thread.
    _stop_checkpoints: std::sync::mpsc::Sender<()>,
}

/// Most writes one group commit holds.
const GROUP: usize = 256;

impl SqliteStore {
    /// Write transactions are serialized by `BEGIN IMMEDIATE`: no row locks needed.
    const ROW_LOCKS: bool = false;

    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| ApiError::BadRequest(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            // WAL lets readers run beside the writer; FULL syncs the WAL at every commit,
            // so an acknowledged write survives a power cut, not only a process crash.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let path = options.get_filename().to_path_buf();
        // The writer thread opens the file a second time: an in-memory database would be
        // a different, empty one there.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(ApiError::BadRequest(
                "SQLite needs a file (e.g. sqlite://tandem.db), not an in-memory database".into(),
            ));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(ApiError::internal)?;
        // The migrations made the file WAL (a setting the file keeps); the rest is per
        // connection. Savepoints journal in memory; a large page cache keeps the rows a
        // share touches (spread over the indexes by user and entry id) off the disk; and
        // checkpoints run on their own thread, so the writer only appends and syncs the WAL.
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0;",
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(32);
        let checkpointer = rusqlite::Connection::open(&path)?;
        checkpointer.execute_batch("PRAGMA synchronous = FULL;")?;
        checkpointer.busy_timeout(Duration::from_secs(10))?;
        let (writes, queue) = mpsc::channel(4 * GROUP);
        let (stop, stopped) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || group_commit(conn, queue))
            .map_err(ApiError::internal)?;
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoints(checkpointer, stopped))
            .map_err(ApiError::internal)?;
        Ok(SqliteStore {
            pool,
            writes,
            _stop_checkpoints: stop,
        })
    }

    /// Write transactions take the write lock up front: a deferred `BEGIN` that later
    /// upgrades can fail with "database is locked" instead of waiting its turn.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn commit_write(&self, req: &WriteRequest) -> Result<WriteResult> {
        let (tx, rx) = oneshot::channel();
        self.writes
            .send(Job::Write(req.clone(), tx))
            .await
            .map_err(|_| ApiError::internal("the writer thread stopped"))?;
        rx.await.map_err(|_| ApiError::internal("the writer thread stopped"))?
    }

    /// Numbering a stream writes too: it joins the writer thread's next group.
    async fn commit_advance(&self, user_id: &str) -> Result<i64> {
        let (tx, rx) = oneshot::channel();
        self.writes
            .send(Job::Advance(user_id.to_string(), tx))
            .await
            .map_err(|_| ApiError::internal("the writer thread stopped"))?;
        rx.await.map_err(|_| ApiError::internal("the writer thread stopped"))?
    }

    /// Only one instance uses a SQLite file: it announces nothing, so needs no name.
    fn origin(&self) -> &str {
        ""
    }

    /// Only one instance uses a SQLite file: nothing to tell others.
    async fn announce(_tx: &mut Transaction<'_, Sqlite>, _channel: &str, _payload: &str) -> Result<()> {
        Ok(())
    }

    async fn signals(&self) -> Result<Option<futures_util::stream::BoxStream<'static, Signal>>> {
        Ok(None)
    }
}

impl_store!(SqliteStore, Sqlite);

/// Work waiting for the writer thread, with where its answer goes.
enum Job {
    /// An entry write.
    Write(WriteRequest, oneshot::Sender<Result<WriteResult>>),
    /// Numbering a user's new changes (`delivery::advance_in`); answers the head.
    Advance(String, oneshot::Sender<Result<i64>>),
}

/// A job's answer, held until its group commits.
enum Answer {
    Write(oneshot::Sender<Result<WriteResult>>, Box<Result<WriteResult>>),
    Advance(oneshot::Sender<Result<i64>>, Result<i64>),
}

impl Answer {
    fn is_ok(&self) -> bool {
        match self {
            Answer::Write(_, r) => r.is_ok(),
            Answer::Advance(_, r) => r.is_ok(),
        }
    }

    fn send(self) {
        match self {
            Answer::Write(reply, r) => drop(reply.send(*r)),
            Answer::Advance(reply, r) => drop(reply.send(r)),
        }
    }

    fn fail(self, message: &str) {
        match self {
            Answer::Write(reply, _) => drop(reply.send(Err(ApiError::internal(message.to_string())))),
            Answer::Advance(reply, _) => drop(reply.send(Err(ApiError::internal(message.to_string())))),
        }
    }
}

impl Job {
    /// Runs the job on the writer's connection (inside the group's transaction).
    fn run(self, conn: &mut rusqlite::Connection) -> Answer {
        match self {
            Job::Write(req, reply) => {
                let result = run_ready(write::write_in(&mut LiteTx(conn), &req));
                Answer::Write(reply, Box::new(result))
            }
            Job::Advance(user, reply) => {
                let result = run_ready(delivery::advance_in(&mut LiteTx(conn), &user));
                Answer::Advance(reply, result)
            }
        }
    }

    fn fail(self, message: &str) {
        match self {
            Job::Write(_, reply) => drop(reply.send(Err(ApiError::internal(message.to_string())))),
            Job::Advance(_, reply) => drop(reply.send(Err(ApiError::internal(message.to_string())))),
        }
    }
}

/// The single writer: takes every write waiting in the queue (up to `GROUP`), applies
/// each in its own savepoint, and commits them with one fsync. A write that fails rolls
/// back alone; a commit that fails fails them all, and none is acknowledged. It runs on
/// its own thread with its own connection: through sqlx every statement would be a
/// round trip to a worker thread, and a share is about ten statements.
fn group_commit(mut conn: rusqlite::Connection, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let message = e.to_string();
            for job in batch {
                job.fail(&message);
            }
            continue;
        }
        let mut results = Vec::with_capacity(batch.len());
        // Set when a savepoint could not be ended: what it holds is unknown, so the whole
        // group is rolled back rather than committed.
        let mut broken: Option<String> = None;
        for job in batch {
            match conn.execute_batch("SAVEPOINT write") {
                Ok(()) => {
                    let answer = job.run(&mut conn);
                    let end = if answer.is_ok() {
                        "RELEASE write"
                    } else {
                        "ROLLBACK TO write; RELEASE write"
                    };
                    if let Err(e) = conn.execute_batch(end) {
                        broken = Some(e.to_string());
                    }
                    results.push(answer);
                }
                Err(e) => job.fail(&e.to_string()),
            }
        }
        let outcome = match broken {
            Some(message) => Err(message),
            None => conn.execute_batch("COMMIT").map_err(|e| e.to_string()),
        };
        match outcome {
            Ok(()) => {
                for answer in results {
                    answer.send();
                }
            }
            Err(message) => {
                let _ = conn.execute_batch("ROLLBACK");
                for answer in results {
                    answer.fail(&message);
                }
            }
        }
    }
}

/// Copies the WAL back into the database file every quarter second, beside the writer
/// (a passive checkpoint waits for no one), until the store is dropped.
fn checkpoints(conn: rusqlite::Connection, stop: std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_millis(250)) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
    }
}
