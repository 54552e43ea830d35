//! SQLite in a local file: the default backend, nothing to install.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Acquire, Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::sql::impl_store;
use super::{Result, WriteRequest, WriteResult};
use crate::error::ApiError;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Entry writes go through one writer task that commits them in groups.
    writes: mpsc::Sender<(WriteRequest, oneshot::Sender<Result<WriteResult>>)>,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(ApiError::internal)?;
        let (writes, queue) = mpsc::channel(4 * GROUP);
        tokio::spawn(group_commit(pool.clone(), queue));
        Ok(SqliteStore { pool, writes })
    }

    /// Write transactions take the write lock up front: a deferred `BEGIN` that later
    /// upgrades can fail with "database is locked" instead of waiting its turn.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn commit_write(&self, req: &WriteRequest) -> Result<WriteResult> {
        let (tx, rx) = oneshot::channel();
        self.writes
            .send((req.clone(), tx))
            .await
            .map_err(|_| ApiError::internal("the writer task stopped"))?;
        rx.await.map_err(|_| ApiError::internal("the writer task stopped"))?
    }

    /// Only one instance uses a SQLite file: nothing to tell others.
    async fn announce(_tx: &mut Transaction<'_, Sqlite>, _channel: &str, _payload: &str) -> Result<()> {
        Ok(())
    }

    async fn signals(&self) -> Result<Option<futures_util::stream::BoxStream<'static, super::Signal>>> {
        Ok(None)
    }

    /// SQLite's own consistency check; `ok` when the file is sound.
    pub async fn integrity_check(&self) -> Result<String> {
        Ok(sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await?)
    }
}

impl_store!(SqliteStore, Sqlite);

/// The single writer: takes every write waiting in the queue (up to `GROUP`), applies
/// each in its own savepoint, and commits them with one fsync. A write that fails rolls
/// back alone; a commit that fails fails them all, and none is acknowledged.
async fn group_commit(
    pool: SqlitePool,
    mut queue: mpsc::Receiver<(WriteRequest, oneshot::Sender<Result<WriteResult>>)>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < GROUP {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(e) => {
                let message = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(ApiError::internal(message.clone())));
                }
                continue;
            }
        };
        let mut results = Vec::with_capacity(batch.len());
        for (req, reply) in batch {
            let result = match tx.begin().await {
                Ok(mut savepoint) => match SqliteStore::write_in(&mut savepoint, &req).await {
                    Ok(r) => savepoint.commit().await.map(|_| r).map_err(ApiError::from),
                    // Dropping the savepoint rolls this write back, and only this one.
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.into()),
            };
            results.push((reply, result));
        }
        match tx.commit().await {
            Ok(()) => {
                for (reply, result) in results {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for (reply, _) in results {
                    let _ = reply.send(Err(ApiError::internal(message.clone())));
                }
            }
        }
    }
}
