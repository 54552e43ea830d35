//! Storage: one `Store` trait (`contract.rs`), one implementation per backend, chosen by
//! URL scheme.
//!
//! Both backends run the same SQL (written once: `sql.rs` for what goes through sqlx,
//! `write.rs` for the entry writes, whose statements SQLite's writer thread runs through
//! rusqlite, `delivery.rs` for numbering streams; `$N` placeholders work everywhere),
//! differing only in how they connect, migrate and commit. The database is the source of
//! truth for each user's event stream: a write and the changes it causes commit together.

mod accounts;
mod columns;
mod contract;
mod couples;
mod delivery;
mod lite_tx;
mod postgres;
mod sql;
mod sqlite;
mod write;

use std::sync::Arc;

pub use crate::records::{
    AccessRow, ConsentRow, CoupleInfo, CoupleRow, DeletedAccount, EntryRecord, NewUser, Scope, Session, SummaryView,
    TherapistCouple, TherapistLink, User,
};
pub use contract::{
    EventKind, Published, Result, Signal, Store, StreamEvent, StreamKind, WriteOp, WriteRequest, WriteResult,
    EVENTS_CHANNEL, SESSIONS_CHANNEL,
};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::error::ApiError;

/// Opens the backend the URL names (`sqlite:` or `postgres:`), running its migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(ApiError::BadRequest(format!(
            "unsupported database URL scheme in {:?}: use sqlite:… or postgres:…",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
