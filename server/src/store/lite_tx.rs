//! SQLite's writer thread's connection (rusqlite) seen as the statements of a write
//! (`WriteTx`) and of numbering a stream (`StreamTx`): the same SQL as the sqlx side, run
//! without a thread hop per statement.

use rusqlite::{params, OptionalExtension};

use super::contract::{EventKind, Result, StreamKind, WriteRequest};
use super::delivery::{self, StreamTx};
use super::write::{self, NewEntry, WriteTx};
use crate::records::{CoupleRow, EntryRecord, Scope};

/// Runs a future that never waits: `LiteTx`'s statements are plain blocking calls, so the
/// shared async write logic completes in one poll on the writer thread.
pub(crate) fn run_ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("SQLite write statements never wait"),
    }
}

/// The writer thread's connection seen as the statements of a write.
pub(crate) struct LiteTx<'a>(pub(crate) &'a mut rusqlite::Connection);

fn entry_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRecord> {
    Ok(EntryRecord {
        id: row.get(0)?,
        couple_id: row.get(1)?,
        author_id: row.get(2)?,
        author_name: row.get(3)?,
        kind: row.get(4)?,
        body: row.get(5)?,
        reply_to: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        shared_partner_at: row.get(9)?,
        shared_therapist_at: row.get(10)?,
        partner_a: row.get(11)?,
        partner_b: row.get(12)?,
    })
}

#[async_trait::async_trait]
impl WriteTx for LiteTx<'_> {
    /// One writer at a time (`BEGIN IMMEDIATE`): no row locks needed.
    async fn lock_writers(&mut self, _user_id: &str, _entry_id: Option<&str>) -> Result<()> {
        Ok(())
    }

    async fn claim_request(&mut self, req: &WriteRequest, entry_id: &str) -> Result<bool> {
        let mut stmt = self.0.prepare_cached(write::CLAIM_REQUEST)?;
        let claimed = stmt.execute(params![req.user_id, req.request_id, req.fingerprint, entry_id, req.now])?;
        Ok(claimed == 1)
    }

    async fn request(&mut self, user_id: &str, request_id: &str) -> Result<(String, String)> {
        let mut stmt = self.0.prepare_cached(write::REQUEST)?;
        Ok(stmt.query_row(params![user_id, request_id], |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    async fn entry(&mut self, id: &str) -> Result<Option<EntryRecord>> {
        let mut stmt = self.0.prepare_cached(write::ENTRY)?;
        Ok(stmt.query_row(params![id], entry_row).optional()?)
    }

    async fn current_couple(&mut self, user_id: &str) -> Result<Option<CoupleRow>> {
        let mut stmt = self.0.prepare_cached(write::CURRENT_COUPLE)?;
        Ok(stmt
            .query_row(params![user_id], |r| {
                Ok(CoupleRow {
                    id: r.get(0)?,
                    partner_a: r.get(1)?,
                    partner_b: r.get(2)?,
                    created_at: r.get(3)?,
                    paired_at: r.get(4)?,
                    ended_at: r.get(5)?,
                })
            })
            .optional()?)
    }

    async fn ever_shared(&mut self, entry_id: &str) -> Result<bool> {
        let mut stmt = self.0.prepare_cached(write::EVER_SHARED)?;
        Ok(stmt.exists(params![entry_id])?)
    }

    async fn insert_entry(&mut self, e: &NewEntry<'_>) -> Result<()> {
        let mut stmt = self.0.prepare_cached(write::INSERT_ENTRY)?;
        stmt.execute(params![
            e.id,
            e.couple_id,
            e.author_id,
            e.kind,
            e.body,
            e.reply_to,
            e.now,
            e.shared_partner_at
        ])?;
        Ok(())
    }

    async fn share(&mut self, entry_id: &str, scope: Scope, now: i64, couple_id: &str) -> Result<()> {
        let sql = match scope {
            Scope::Partner => write::SHARE_PARTNER,
            Scope::Therapist => write::SHARE_THERAPIST,
        };
        self.0.prepare_cached(sql)?.execute(params![now, couple_id, entry_id])?;
        Ok(())
    }

    async fn withdraw(&mut self, entry_id: &str, scope: Scope) -> Result<()> {
        let sql = match scope {
            Scope::Partner => write::WITHDRAW_PARTNER,
            Scope::Therapist => write::WITHDRAW_THERAPIST,
        };
        self.0.prepare_cached(sql)?.execute(params![entry_id])?;
        Ok(())
    }

    async fn set_body(&mut self, entry_id: &str, body: &str, now: i64) -> Result<()> {
        self.0
            .prepare_cached(write::SET_BODY)?
            .execute(params![body, now, entry_id])?;
        Ok(())
    }

    async fn delete_entry(&mut self, entry_id: &str) -> Result<()> {
        self.0
            .prepare_cached(write::DELETE_CONSENT)?
            .execute(params![entry_id])?;
        self.0.prepare_cached(write::DELETE_ENTRY)?.execute(params![entry_id])?;
        Ok(())
    }

    async fn log_consent(&mut self, entry_id: &str, actor: &str, scope: Scope, action: &str, now: i64) -> Result<()> {
        let mut stmt = self.0.prepare_cached(write::LOG_CONSENT)?;
        stmt.execute(params![entry_id, actor, scope.as_str(), action, now])?;
        Ok(())
    }

    async fn append_event(&mut self, user_id: &str, kind: EventKind, subject: Option<&str>, now: i64) -> Result<i64> {
        let seq: i64 = self
            .0
            .prepare_cached(write::NEXT_SEQ)?
            .query_row(params![user_id], |r| r.get(0))?;
        let mut stmt = self.0.prepare_cached(write::INSERT_EVENT)?;
        stmt.execute(params![user_id, seq, kind.as_str(), subject, now])?;
        Ok(seq)
    }

    async fn active_therapist(&mut self, couple_id: &str) -> Result<Option<String>> {
        let mut stmt = self.0.prepare_cached(write::ACTIVE_THERAPIST)?;
        Ok(stmt.query_row(params![couple_id], |r| r.get(0)).optional()?)
    }
}

#[async_trait::async_trait]
impl StreamTx for LiteTx<'_> {
    /// One writer at a time: no row lock needed.
    async fn stream_marks(&mut self, user_id: &str) -> Result<Option<(i64, i64, i64)>> {
        let mut stmt = self.0.prepare_cached(delivery::STREAM_MARKS)?;
        Ok(stmt
            .query_row(params![user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?)
    }

    async fn set_stream_marks(&mut self, read: i64, pos: i64, user_id: &str) -> Result<()> {
        let mut stmt = self.0.prepare_cached(delivery::SET_STREAM_MARKS)?;
        stmt.execute(params![read, pos, user_id])?;
        Ok(())
    }

    async fn changes_after(
        &mut self,
        user_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, Option<String>)>> {
        let mut stmt = self.0.prepare_cached(delivery::CHANGES_AFTER)?;
        let rows = stmt.query_map(params![user_id, after, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    async fn drop_changes(&mut self, user_id: &str, upto: i64) -> Result<()> {
        self.0
            .prepare_cached(delivery::DROP_CHANGES)?
            .execute(params![user_id, upto])?;
        Ok(())
    }

    async fn stream_state(&mut self, user_id: &str, subject: &str) -> Result<Option<String>> {
        let mut stmt = self.0.prepare_cached(delivery::STREAM_STATE)?;
        Ok(stmt.query_row(params![user_id, subject], |r| r.get(0)).optional()?)
    }

    async fn set_stream_state(&mut self, user_id: &str, subject: &str, state: Option<&str>) -> Result<()> {
        match state {
            Some(state) => self
                .0
                .prepare_cached(delivery::SET_STREAM_STATE)?
                .execute(params![user_id, subject, state])?,
            None => self
                .0
                .prepare_cached(delivery::CLEAR_STREAM_STATE)?
                .execute(params![user_id, subject])?,
        };
        Ok(())
    }

    async fn append_stream(&mut self, user_id: &str, pos: i64, kind: StreamKind, subject: Option<&str>) -> Result<()> {
        let mut stmt = self.0.prepare_cached(delivery::APPEND_STREAM)?;
        stmt.execute(params![user_id, pos, kind.as_str(), subject])?;
        Ok(())
    }

    async fn therapist_reads(&mut self, therapist_id: &str, couple_id: &str) -> Result<bool> {
        let mut stmt = self.0.prepare_cached(delivery::THERAPIST_READS)?;
        Ok(stmt.exists(params![couple_id, therapist_id])?)
    }

    async fn therapist_shared(&mut self, couple_id: &str) -> Result<Vec<EntryRecord>> {
        let mut stmt = self.0.prepare_cached(delivery::THERAPIST_SHARED)?;
        let rows = stmt.query_map(params![couple_id], entry_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
