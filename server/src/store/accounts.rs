//! Deleting an account, written once over `AccountTx`: what goes, what stays, and who is
//! told (docs/privacy.md says the same in plain words).
//!
//! - Every entry the user wrote goes, with its consent log, and disappears live for
//!   whoever could read it.
//! - Replies others wrote to those entries stay their writers', but no longer say what
//!   they answered.
//! - The user's couple ends, and with it any therapist's access; as a therapist, their
//!   couples lose them.
//! - Sessions end everywhere; streams, request ids, logs of what they read go; the user
//!   row stays (couples refer to it) holding nothing personal.

use async_trait::async_trait;

use super::contract::{EventKind, Published, Result};
use super::couples::{end_couple_in, CoupleTx};
use super::write::{emit, emit_to_readers};
use crate::error::ApiError;
use crate::records::{DeletedAccount, EntryRecord};

pub(crate) const ENTRIES_BY: &str = super::columns::entry_select!("WHERE en.author_id = $1");
pub(crate) const DELETE_CONSENT_LOG_OF: &str =
    "DELETE FROM consent_log WHERE entry_id IN (SELECT id FROM entries WHERE author_id = $1)";
pub(crate) const DELETE_ENTRIES_OF: &str = "DELETE FROM entries WHERE author_id = $1";
/// A reply answers the other member of its own couple, so these are the replies others
/// wrote in this user's couples, current or earlier: that also covers entries this user
/// had deleted before.
pub(crate) const REPLIES_TO: &str = super::columns::entry_select!(
    "WHERE en.kind = 'reply' AND en.reply_to IS NOT NULL AND en.author_id <> $1 \
     AND (c.partner_a = $1 OR c.partner_b = $1)"
);
pub(crate) const UNLINK_REPLY: &str = "UPDATE entries SET body = $1, reply_to = NULL, updated_at = $2 WHERE id = $3";
pub(crate) const COUPLES_OF_THERAPIST: &str = "SELECT c.id, c.partner_a, c.partner_b \
     FROM therapist_links l JOIN couples c ON c.id = l.couple_id \
     WHERE l.therapist_id = $1 AND l.revoked_at IS NULL";
pub(crate) const REVOKE_LINKS_OF_THERAPIST: &str = "UPDATE therapist_links SET revoked_at = $1, revoked_by = $2 \
     WHERE therapist_id = $2 AND revoked_at IS NULL";
pub(crate) const SESSIONS_OF: &str = "SELECT token_hash FROM sessions WHERE user_id = $1";
/// What is kept per user and goes with them (each `DELETE FROM {table} WHERE user_id = $1`).
pub(crate) const PER_USER_TABLES: [&str; 5] = ["sessions", "events", "requests", "stream", "stream_state"];
pub(crate) const DELETE_ACCESS_LOG_OF: &str = "DELETE FROM access_log WHERE reader_id = $1";
pub(crate) const DELETE_SUMMARY_VIEWS_OF: &str = "DELETE FROM summary_views WHERE viewer_id = $1";
pub(crate) const ANONYMISE_USER: &str = "UPDATE users SET email = $1, display_name = 'Deleted account', \
     password_hash = '!', couple_id = NULL, deleted_at = $2 WHERE id = $3";

/// The statements deleting an account needs, beside pairing's.
#[async_trait]
pub trait AccountTx: CoupleTx {
    async fn entries_by(&mut self, user_id: &str) -> Result<Vec<EntryRecord>>;
    /// Deletes the user's entries and their consent log.
    async fn delete_entries_of(&mut self, user_id: &str) -> Result<()>;
    async fn replies_to(&mut self, user_id: &str) -> Result<Vec<EntryRecord>>;
    async fn unlink_reply(&mut self, body: &str, now: i64, reply_id: &str) -> Result<()>;
    /// (couple, partner a, partner b) of the couples this therapist has a link with.
    async fn couples_of_therapist(&mut self, user_id: &str) -> Result<Vec<(String, String, Option<String>)>>;
    async fn revoke_links_of_therapist(&mut self, now: i64, user_id: &str) -> Result<()>;
    async fn sessions_of(&mut self, user_id: &str) -> Result<Vec<String>>;
    /// Tells the other instances this session ended (at commit).
    async fn announce_session_end(&mut self, token_hash: &str) -> Result<()>;
    /// Deletes what is kept per user (`PER_USER_TABLES`, the logs of what they read) and
    /// leaves the user row holding nothing personal.
    async fn forget_user(&mut self, now: i64, user_id: &str) -> Result<()>;
}

/// Deletes the user's account (see the module's comment for what that means).
pub async fn delete_account_in<T: AccountTx>(tx: &mut T, user_id: &str, now: i64) -> Result<DeletedAccount> {
    tx.lock_writers(user_id, None).await?;
    let mut out = Vec::new();
    // Every entry disappears for whoever could read it, live.
    let entries = tx.entries_by(user_id).await?;
    tx.delete_entries_of(user_id).await?;
    for e in &entries {
        let (partner, therapist) = (e.shared_partner_at.is_some(), e.shared_therapist_at.is_some());
        emit_to_readers(tx, e, partner, therapist, now, &mut out).await?;
    }
    // Replies to them stay their writers' but no longer say what they answered.
    for reply in tx.replies_to(user_id).await? {
        let mut body: serde_json::Value = serde_json::from_str(&reply.body).map_err(ApiError::internal)?;
        if let Some(fields) = body.as_object_mut() {
            fields.remove("to");
        }
        tx.unlink_reply(&body.to_string(), now, &reply.id).await?;
        // Their writer's open screens drop the link too.
        emit(tx, &reply.author_id, EventKind::Entry, Some(&reply.id), now, &mut out).await?;
    }
    // The couple ends, and with it any therapist's access (told while they still have it).
    if let Some(couple) = tx.current_couple(user_id).await? {
        end_couple_in(tx, &couple.id, user_id, now, &mut out).await?;
        let other = if couple.partner_a == user_id {
            couple.partner_b.clone()
        } else {
            Some(couple.partner_a.clone())
        };
        if let Some(o) = other {
            emit(tx, &o, EventKind::Couple, None, now, &mut out).await?;
        }
    }
    // A therapist's couples lose access to them.
    let couples = tx.couples_of_therapist(user_id).await?;
    tx.revoke_links_of_therapist(now, user_id).await?;
    for (_, a, b) in couples {
        for m in std::iter::once(a).chain(b) {
            emit(tx, &m, EventKind::Couple, None, now, &mut out).await?;
        }
    }
    let sessions = tx.sessions_of(user_id).await?;
    for h in &sessions {
        tx.announce_session_end(h).await?;
    }
    tx.forget_user(now, user_id).await?;
    Ok(DeletedAccount {
        notify: Published::users(&out),
        sessions,
    })
}
