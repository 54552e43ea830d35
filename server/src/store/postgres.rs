//! PostgreSQL: the scale-out backend, shared by several instances.

use futures_util::stream::{BoxStream, StreamExt};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::contract::{Result, Signal, WriteRequest, WriteResult, EVENTS_CHANNEL, SESSIONS_CHANNEL};
use super::sql::impl_store;
use crate::error::ApiError;

pub struct PgStore {
    pool: PgPool,
    /// Names this instance in its event announcements: its own writes reach its
    /// connections directly, so it skips them when they come back from the database.
    origin: String,
}

impl PgStore {
    /// Concurrent writers order themselves by locking user rows.
    const ROW_LOCKS: bool = true;

    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(16).connect(url).await?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(ApiError::internal)?;
        Ok(PgStore {
            pool,
            origin: uuid::Uuid::new_v4().simple().to_string(),
        })
    }

    fn origin(&self) -> &str {
        &self.origin
    }

    /// Row locks (the user row bumped by each event) order concurrent writers.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

impl PgStore {
    /// Concurrent transactions on several connections: PostgreSQL groups their WAL flushes.
    async fn commit_write(&self, req: &WriteRequest) -> Result<WriteResult> {
        let mut tx = self.begin_write().await?;
        let result = super::write::write_in(&mut self.w(&mut tx), req).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Readers of one user on several connections or instances wait for each other on
    /// the user's row (`STREAM_MARKS_LOCKED`).
    async fn commit_advance(&self, user_id: &str) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let head = super::delivery::advance_in(&mut self.w(&mut tx), user_id).await?;
        tx.commit().await?;
        Ok(head)
    }

    /// NOTIFY is transactional: other instances hear of the change only once it commits.
    async fn announce(tx: &mut Transaction<'_, Postgres>, channel: &str, payload: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// LISTENs for other instances' changes. The database stays the source of truth:
    /// a notification only wakes connections, which then read their streams, so a
    /// notification lost while the listener reconnects costs a resync, not an event.
    async fn signals(&self) -> Result<Option<BoxStream<'static, Signal>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen_all([EVENTS_CHANNEL, SESSIONS_CHANNEL]).await?;
        let origin = self.origin.clone();
        let stream = futures_util::stream::unfold(listener, move |mut listener| {
            let origin = origin.clone();
            async move {
                let signal = loop {
                    break match listener.try_recv().await {
                        Ok(Some(n)) if n.channel() == SESSIONS_CHANNEL => Signal::SessionEnded(n.payload().to_string()),
                        Ok(Some(n)) => match n.payload().split_once(' ') {
                            // This instance's own write: its connections have it already.
                            Some((from, _)) if from == origin => continue,
                            Some((_, user)) => Signal::Events(user.to_string()),
                            None => Signal::Events(n.payload().to_string()),
                        },
                        // The connection dropped; the next call reconnects and re-listens.
                        Ok(None) => Signal::Resync,
                        Err(e) => {
                            tracing::warn!(error = %e, "notification listener failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            Signal::Resync
                        }
                    };
                };
                Some((signal, listener))
            }
        });
        Ok(Some(stream.boxed()))
    }
}

impl_store!(PgStore, Postgres);
