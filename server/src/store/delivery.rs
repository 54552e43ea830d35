//! What each user's stream delivers, written once over `StreamTx` like the writes are.
//!
//! A write records every change that may concern a user in `events`, as it commits. A
//! change gets a position in the user's stream only later, when a reader of that user
//! (an open socket, a resume, `GET /api/events`) reads past it: `advance_in` then looks
//! at each change as things stand and numbers only what the user may see. An entry
//! shared and withdrawn while the user was away, a therapist-only share seen from the
//! partner's side, a change that leaves a therapist's summary as it was: none of them
//! takes a position, so two histories that differ only in such changes give the user the
//! same stream, positions included. A cursor is a position in what the user received,
//! never a count of what happened.

use std::collections::BTreeSet;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::contract::{EventKind, Result, StreamKind};
use super::write::WriteTx;
use crate::records::EntryRecord;

/// The user's stream marks: changes written (`event_seq`), changes numbered, last position.
pub(crate) const STREAM_MARKS: &str = "SELECT event_seq, stream_read, stream_pos FROM users WHERE id = $1";
/// The same, locking the user's row where readers on several connections may advance the
/// same stream at once (PostgreSQL): the second waits, then finds nothing left to number.
pub(crate) const STREAM_MARKS_LOCKED: &str =
    "SELECT event_seq, stream_read, stream_pos FROM users WHERE id = $1 FOR NO KEY UPDATE";
/// (SQLite numbers `$N` parameters in the order they appear: keep them in order.)
pub(crate) const SET_STREAM_MARKS: &str = "UPDATE users SET stream_read = $1, stream_pos = $2 WHERE id = $3";
pub(crate) const CHANGES_AFTER: &str =
    "SELECT seq, kind, entry_id FROM events WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
/// Numbered changes are not needed again: the stream holds what they came to.
pub(crate) const DROP_CHANGES: &str = "DELETE FROM events WHERE user_id = $1 AND seq <= $2";
pub(crate) const STREAM_STATE: &str = "SELECT state FROM stream_state WHERE user_id = $1 AND subject = $2";
pub(crate) const SET_STREAM_STATE: &str = "INSERT INTO stream_state (user_id, subject, state) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id, subject) DO UPDATE SET state = excluded.state";
/// A listing showed the user this entry (see `Store::mark_shown`).
pub(crate) const MARK_SHOWN: &str = "INSERT INTO stream_state (user_id, subject, state) VALUES ($1, $2, 'shown') \
     ON CONFLICT (user_id, subject) DO NOTHING";
pub(crate) const CLEAR_STREAM_STATE: &str = "DELETE FROM stream_state WHERE user_id = $1 AND subject = $2";
pub(crate) const APPEND_STREAM: &str = "INSERT INTO stream (user_id, pos, kind, subject) VALUES ($1, $2, $3, $4)";
/// Whether this therapist reads this couple's summary now.
pub(crate) const THERAPIST_READS: &str = "SELECT 1 FROM therapist_links l JOIN couples c ON c.id = l.couple_id \
     WHERE l.couple_id = $1 AND l.therapist_id = $2 AND l.active_at IS NOT NULL AND l.revoked_at IS NULL \
     AND c.ended_at IS NULL";
pub(crate) const THERAPIST_SHARED: &str =
    super::columns::entry_select!("WHERE en.couple_id = $1 AND en.shared_therapist_at IS NOT NULL ORDER BY en.id");
/// A stream's positions after a cursor, with each entry as it is now.
pub(crate) const STREAM_AFTER: &str = "SELECT s.pos, s.kind AS ev_kind, s.subject AS ev_entry_id, \
     en.id, en.couple_id, en.author_id, u.display_name AS author_name, en.kind, en.body, en.reply_to, \
     en.created_at, en.updated_at, en.shared_partner_at, en.shared_therapist_at, c.partner_a, c.partner_b \
     FROM stream s LEFT JOIN entries en ON s.kind = 'entry' AND en.id = s.subject \
     LEFT JOIN users u ON u.id = en.author_id LEFT JOIN couples c ON c.id = en.couple_id \
     WHERE s.user_id = $1 AND s.pos > $2 ORDER BY s.pos LIMIT $3";

/// Changes looked at per round while numbering.
const ROUND: i64 = 500;

/// The statements numbering a stream needs, inside a write transaction.
#[async_trait]
pub trait StreamTx: WriteTx {
    /// (changes written, changes numbered, last position), or `None` for no such user;
    /// where readers run concurrently, locks the user's row.
    async fn stream_marks(&mut self, user_id: &str) -> Result<Option<(i64, i64, i64)>>;
    async fn set_stream_marks(&mut self, read: i64, pos: i64, user_id: &str) -> Result<()>;
    /// Changes after `after`: (seq, kind, subject), oldest first.
    async fn changes_after(
        &mut self,
        user_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, Option<String>)>>;
    /// Forgets the changes up to `upto` (numbered already).
    async fn drop_changes(&mut self, user_id: &str, upto: i64) -> Result<()>;
    async fn stream_state(&mut self, user_id: &str, subject: &str) -> Result<Option<String>>;
    /// Sets (or with `None`, forgets) what the stream last told the user about `subject`.
    async fn set_stream_state(&mut self, user_id: &str, subject: &str, state: Option<&str>) -> Result<()>;
    async fn append_stream(&mut self, user_id: &str, pos: i64, kind: StreamKind, subject: Option<&str>) -> Result<()>;
    async fn therapist_reads(&mut self, therapist_id: &str, couple_id: &str) -> Result<bool>;
    /// The couple's entries currently shared with scope `therapist`.
    async fn therapist_shared(&mut self, couple_id: &str) -> Result<Vec<EntryRecord>>;
}

const SHOWN: &str = "shown";

/// A subject of a user's stream, in the order one numbering gives positions: the couple,
/// then therapists' summaries by couple, then entries by id (ids are time-ordered UUIDs,
/// so that is the order they were written in).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Subject {
    Couple,
    Summary(String),
    Entry(String),
}

/// Numbers the user's changes not numbered yet, as things stand now; returns the user's
/// head (last position). Each subject changed since the last numbering gets at most one
/// position (an entry is rendered as it is when read anyway).
///
/// The positions one numbering gives follow the subjects' own order, not the order of
/// the changes: a change may be one the user was never to see (an entry shared and
/// withdrawn while they were away), and letting it decide where the subject lands would
/// let the order of the rest tell of it. Which subjects changed, and how they stand now,
/// is all that counts.
pub async fn advance_in<T: StreamTx>(tx: &mut T, user: &str) -> Result<i64> {
    let Some((written, mut read, mut pos)) = tx.stream_marks(user).await? else {
        return Ok(0);
    };
    if read >= written {
        return Ok(pos);
    }
    let mut changed: BTreeSet<Subject> = BTreeSet::new();
    while read < written {
        let changes = tx.changes_after(user, read, ROUND).await?;
        let Some(last) = changes.last().map(|c| c.0) else { break };
        for (_, kind, subject) in changes {
            let subject = match (EventKind::parse(&kind), subject) {
                (EventKind::Couple, _) => Subject::Couple,
                (EventKind::Summary, Some(couple)) => Subject::Summary(couple),
                (EventKind::Entry, Some(id)) => Subject::Entry(id),
                _ => continue,
            };
            changed.insert(subject);
        }
        read = last;
    }
    for subject in changed {
        let next = match subject {
            Subject::Couple => Some((StreamKind::Couple, None)),
            Subject::Summary(couple) => summary_change(tx, user, &couple)
                .await?
                .then_some((StreamKind::Summary, Some(couple))),
            Subject::Entry(id) => entry_change(tx, user, &id).await?.map(|k| (k, Some(id))),
        };
        if let Some((kind, subject)) = next {
            pos += 1;
            tx.append_stream(user, pos, kind, subject.as_deref()).await?;
        }
    }
    tx.set_stream_marks(read, pos, user).await?;
    tx.drop_changes(user, read).await?;
    Ok(pos)
}

/// What a change to an entry means for the user now: the entry (visible), its removal
/// (no longer visible, and shown before), or nothing.
async fn entry_change<T: StreamTx>(tx: &mut T, user: &str, id: &str) -> Result<Option<StreamKind>> {
    let entry = tx.entry(id).await?;
    let visible = entry
        .as_ref()
        .is_some_and(|e| crate::consent::access(e, user).is_some());
    let shown = tx.stream_state(user, id).await?.is_some();
    Ok(match (visible, shown) {
        (true, was_shown) => {
            if !was_shown {
                tx.set_stream_state(user, id, Some(SHOWN)).await?;
            }
            Some(StreamKind::Entry)
        }
        (false, true) => {
            tx.set_stream_state(user, id, None).await?;
            Some(StreamKind::EntryRemoved)
        }
        (false, false) => None,
    })
}

/// Whether what the couple's summary shows this therapist changed since the stream last
/// said so (nothing at all while they have no access).
async fn summary_change<T: StreamTx>(tx: &mut T, therapist: &str, couple: &str) -> Result<bool> {
    let digest = if tx.therapist_reads(therapist, couple).await? {
        let shared = tx.therapist_shared(couple).await?;
        let mut hash = Sha256::new();
        for e in crate::consent::in_summary(&shared, therapist, true) {
            hash.update(format!("{} {} {:?}\n", e.id, e.updated_at, e.shared_therapist_at));
        }
        Some(format!("active {:x}", hash.finalize()))
    } else {
        None
    };
    let key = format!("summary {couple}");
    let before = tx.stream_state(therapist, &key).await?;
    if before == digest {
        return Ok(false);
    }
    tx.set_stream_state(therapist, &key, digest.as_deref()).await?;
    Ok(true)
}
