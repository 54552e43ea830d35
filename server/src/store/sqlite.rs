//! SQLite in a local file: the default backend, nothing to install.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::sql::impl_store;
use super::Result;
use crate::error::ApiError;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
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
        Ok(SqliteStore { pool })
    }

    /// Write transactions take the write lock up front: a deferred `BEGIN` that later
    /// upgrades can fail with "database is locked" instead of waiting its turn.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
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
