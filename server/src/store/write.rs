//! Entry writes and the events they append, written once over `WriteTx`: the handful of
//! statements a write needs, which each backend provides inside its own transaction
//! (sqlx on PostgreSQL, and for SQLite's pairing and account changes; rusqlite on
//! SQLite's writer thread, where a statement costs no thread hop). Both run the SQL
//! below, so the two backends cannot drift apart.

use async_trait::async_trait;

use super::contract::{EventKind, Published, Result, WriteOp, WriteRequest, WriteResult};
use crate::error::ApiError;
use crate::records::{CoupleRow, EntryRecord, Scope};

/// Locks, in id order, the rows of the writer and of everyone their change may notify:
/// their current partner and the partners of the entry's couple. `NO KEY`: the lock an
/// update of `event_seq` takes, which lets other writers' foreign-key checks through.
pub(crate) const LOCK_WRITERS: &str = "SELECT id FROM users WHERE id IN (\
     SELECT id FROM users WHERE id = $1 \
     UNION SELECT c.partner_a FROM users me JOIN couples c ON c.id = me.couple_id WHERE me.id = $1 \
     UNION SELECT c.partner_b FROM users me JOIN couples c ON c.id = me.couple_id WHERE me.id = $1 \
     UNION SELECT c.partner_a FROM entries e JOIN couples c ON c.id = e.couple_id WHERE e.id = $2 \
     UNION SELECT c.partner_b FROM entries e JOIN couples c ON c.id = e.couple_id WHERE e.id = $2) \
     ORDER BY id FOR NO KEY UPDATE";
pub(crate) const CLAIM_REQUEST: &str = "INSERT INTO requests (user_id, request_id, fingerprint, entry_id, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, request_id) DO NOTHING";
pub(crate) const REQUEST: &str = "SELECT fingerprint, entry_id FROM requests WHERE user_id = $1 AND request_id = $2";
pub(crate) const ENTRY: &str = super::columns::entry_select!("WHERE en.id = $1");
pub(crate) const CURRENT_COUPLE: &str = "SELECT c.id, c.partner_a, c.partner_b, c.created_at, c.paired_at, c.ended_at \
     FROM users u JOIN couples c ON c.id = u.couple_id WHERE u.id = $1";
pub(crate) const EVER_SHARED: &str = "SELECT 1 FROM consent_log WHERE entry_id = $1 LIMIT 1";
pub(crate) const INSERT_ENTRY: &str = "INSERT INTO entries \
     (id, couple_id, author_id, kind, body, reply_to, created_at, updated_at, shared_partner_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)";
pub(crate) const SHARE_PARTNER: &str = "UPDATE entries SET shared_partner_at = $1, couple_id = $2 WHERE id = $3";
pub(crate) const SHARE_THERAPIST: &str = "UPDATE entries SET shared_therapist_at = $1, couple_id = $2 WHERE id = $3";
pub(crate) const WITHDRAW_PARTNER: &str = "UPDATE entries SET shared_partner_at = NULL WHERE id = $1";
pub(crate) const WITHDRAW_THERAPIST: &str = "UPDATE entries SET shared_therapist_at = NULL WHERE id = $1";
pub(crate) const SET_BODY: &str = "UPDATE entries SET body = $1, updated_at = $2 WHERE id = $3";
pub(crate) const DELETE_CONSENT: &str = "DELETE FROM consent_log WHERE entry_id = $1";
pub(crate) const DELETE_ENTRY: &str = "DELETE FROM entries WHERE id = $1";
pub(crate) const LOG_CONSENT: &str =
    "INSERT INTO consent_log (entry_id, actor_id, scope, action, at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const NEXT_SEQ: &str = "UPDATE users SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq";
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO events (user_id, seq, kind, entry_id, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const ACTIVE_THERAPIST: &str =
    "SELECT therapist_id FROM therapist_links WHERE couple_id = $1 AND active_at IS NOT NULL AND revoked_at IS NULL";

/// A new entry row.
pub struct NewEntry<'a> {
    pub id: &'a str,
    pub couple_id: Option<&'a str>,
    pub author_id: &'a str,
    pub kind: &'a str,
    pub body: &'a str,
    pub reply_to: Option<String>,
    pub now: i64,
    pub shared_partner_at: Option<i64>,
}

/// The statements of a write, inside a transaction the backend began and will end.
#[async_trait]
pub trait WriteTx: Send {
    /// Where writers run concurrently (PostgreSQL), locks the rows of the writer and of
    /// everyone their change may notify, in id order: two partners writing at once would
    /// otherwise each hold their own row and wait for the other's (a deadlock). A backend
    /// with one writer at a time does nothing.
    async fn lock_writers(&mut self, user_id: &str, entry_id: Option<&str>) -> Result<()>;
    /// Records the request id; false when it was recorded already.
    async fn claim_request(&mut self, req: &WriteRequest, entry_id: &str) -> Result<bool>;
    /// The fingerprint and entry id recorded with a request id.
    async fn request(&mut self, user_id: &str, request_id: &str) -> Result<(String, String)>;
    async fn entry(&mut self, id: &str) -> Result<Option<EntryRecord>>;
    async fn current_couple(&mut self, user_id: &str) -> Result<Option<CoupleRow>>;
    async fn ever_shared(&mut self, entry_id: &str) -> Result<bool>;
    async fn insert_entry(&mut self, entry: &NewEntry<'_>) -> Result<()>;
    async fn share(&mut self, entry_id: &str, scope: Scope, now: i64, couple_id: &str) -> Result<()>;
    async fn withdraw(&mut self, entry_id: &str, scope: Scope) -> Result<()>;
    async fn set_body(&mut self, entry_id: &str, body: &str, now: i64) -> Result<()>;
    /// Deletes the entry and its consent log.
    async fn delete_entry(&mut self, entry_id: &str) -> Result<()>;
    async fn log_consent(&mut self, entry_id: &str, actor: &str, scope: Scope, action: &str, now: i64) -> Result<()>;
    /// Appends an event to the user's stream and returns its sequence number; a backend
    /// shared by several instances also announces it (delivered at commit).
    async fn append_event(&mut self, user_id: &str, kind: EventKind, subject: Option<&str>, now: i64) -> Result<i64>;
    async fn active_therapist(&mut self, couple_id: &str) -> Result<Option<String>>;
}

/// One entry write inside the caller's transaction (the caller ends it).
pub async fn write_in<T: WriteTx>(tx: &mut T, req: &WriteRequest) -> Result<WriteResult> {
    tx.lock_writers(&req.user_id, req.op.entry_id()).await?;
    // Claim the request id first: one statement in the usual case, and a failed write
    // rolls the claim back with everything else.
    let entry_id = match &req.op {
        WriteOp::Create { id, .. } => id.as_str(),
        op => op.entry_id().unwrap_or_default(),
    };
    if !tx.claim_request(req, entry_id).await? {
        let (fingerprint, entry_id) = tx.request(&req.user_id, &req.request_id).await?;
        if fingerprint != req.fingerprint {
            return Err(ApiError::conflict(
                "request_id_reused",
                "this request_id was already used for a different request",
            ));
        }
        let entry = tx.entry(&entry_id).await?.filter(|e| e.author_id == req.user_id);
        return Ok(WriteResult {
            entry_id,
            entry,
            replayed: true,
            events: Vec::new(),
        });
    }
    let mut events = Vec::new();
    let entry = apply(tx, req, &mut events).await?;
    Ok(WriteResult {
        entry_id: entry_id.to_string(),
        entry,
        replayed: false,
        events,
    })
}

/// Records a change that may concern one user (their row lock orders their changes) and
/// adds them to `out`, to wake their connections once the transaction commits. Whether
/// it reaches them is decided when a reader numbers it (`delivery::advance_in`), as
/// things stand then.
pub async fn emit<T: WriteTx>(
    tx: &mut T,
    user_id: &str,
    kind: EventKind,
    subject: Option<&str>,
    now: i64,
    out: &mut Vec<Published>,
) -> Result<()> {
    tx.append_event(user_id, kind, subject, now).await?;
    out.push(Published {
        user: user_id.to_string(),
    });
    Ok(())
}

/// Tells the couple's active therapist, if any, that the summary changed.
pub async fn emit_to_therapist<T: WriteTx>(
    tx: &mut T,
    couple_id: Option<&str>,
    now: i64,
    out: &mut Vec<Published>,
) -> Result<()> {
    let Some(couple_id) = couple_id else { return Ok(()) };
    if let Some(t) = tx.active_therapist(couple_id).await? {
        emit(tx, &t, EventKind::Summary, Some(couple_id), now, out).await?;
    }
    Ok(())
}

/// Puts a `couple` event in both partners' streams.
pub async fn tell_couple<T: WriteTx>(tx: &mut T, couple: &CoupleRow, now: i64, out: &mut Vec<Published>) -> Result<()> {
    for m in std::iter::once(&couple.partner_a).chain(couple.partner_b.as_ref()) {
        emit(tx, m, EventKind::Couple, None, now, out).await?;
    }
    Ok(())
}

/// Tells the entry's other readers (its partner, the couple's therapist) it changed
/// (or is gone).
pub async fn emit_to_readers<T: WriteTx>(
    tx: &mut T,
    entry: &EntryRecord,
    partner: bool,
    therapist: bool,
    now: i64,
    out: &mut Vec<Published>,
) -> Result<()> {
    if partner {
        if let Some(p) = crate::consent::partner_of(entry) {
            emit(tx, p, EventKind::Entry, Some(&entry.id), now, out).await?;
        }
    }
    if therapist {
        emit_to_therapist(tx, entry.couple_id.as_deref(), now, out).await?;
    }
    Ok(())
}

/// The writer's own entry, or "not found" (also for other people's ids).
async fn own_entry<T: WriteTx>(tx: &mut T, user_id: &str, id: &str) -> Result<EntryRecord> {
    match tx.entry(id).await? {
        Some(e) if e.author_id == user_id => Ok(e),
        _ => Err(ApiError::NotFound("entry")),
    }
}

/// Applies the write; returns the entry as it leaves it (`None` once deleted). Entries
/// changed here are updated in memory too, not read back.
async fn apply<T: WriteTx>(tx: &mut T, req: &WriteRequest, out: &mut Vec<Published>) -> Result<Option<EntryRecord>> {
    let me = req.user_id.as_str();
    let now = req.now;
    match &req.op {
        WriteOp::Create { id, kind, body, reply } => {
            let (couple_id, shared_at) = match reply {
                Some(reply) => {
                    let target = tx.entry(&reply.to.to_string()).await?;
                    let target = target
                        .filter(|t| crate::consent::access(t, me) == Some(crate::consent::Access::Partner))
                        .ok_or_else(|| ApiError::invalid("body.to", "no such entry shared with you"))?;
                    let body: serde_json::Value = serde_json::from_str(&target.body).map_err(ApiError::internal)?;
                    let kind: crate::entry::Kind =
                        serde_json::from_value(serde_json::Value::String(target.kind.clone()))
                            .map_err(ApiError::internal)?;
                    crate::entry::check_reply(reply, kind, &body)?;
                    let current = tx.current_couple(me).await?;
                    if current.as_ref().map(|c| &c.id) != target.couple_id.as_ref() {
                        return Err(ApiError::conflict(
                            "not_paired",
                            "you are no longer paired with the writer of that entry",
                        ));
                    }
                    // Replying is speaking to the partner: it is shared with them as it is sent.
                    (target.couple_id.clone(), Some(now))
                }
                None => (tx.current_couple(me).await?.map(|c| c.id), None),
            };
            tx.insert_entry(&NewEntry {
                id,
                couple_id: couple_id.as_deref(),
                author_id: me,
                kind,
                body,
                reply_to: reply.as_ref().map(|r| r.to.to_string()),
                now,
                shared_partner_at: shared_at,
            })
            .await?;
            if shared_at.is_some() {
                tx.log_consent(id, me, Scope::Partner, "share", now).await?;
            }
            // Read once: the writer's name and the couple come with it.
            let entry = tx.entry(id).await?.ok_or(ApiError::NotFound("entry"))?;
            emit(tx, me, EventKind::Entry, Some(id), now, out).await?;
            if shared_at.is_some() {
                emit_to_readers(tx, &entry, true, false, now, out).await?;
            }
            Ok(Some(entry))
        }
        WriteOp::Share { entry_id, scopes } => {
            let mut entry = own_entry(tx, me, entry_id).await?;
            let couple = tx
                .current_couple(me)
                .await?
                .filter(|c| c.partner_b.is_some() && c.ended_at.is_none())
                .ok_or_else(|| ApiError::conflict("not_paired", "pair with your partner before sharing"))?;
            // A draft never shared with anyone may follow its writer to a new couple;
            // anything once shared stays with the pairing it was shared in.
            if entry.couple_id.as_ref().is_some_and(|c| *c != couple.id) && tx.ever_shared(entry_id).await? {
                return Err(ApiError::conflict(
                    "other_couple",
                    "this entry was shared in an earlier pairing and cannot be shared now",
                ));
            }
            let mut changed = Vec::new();
            for scope in scopes {
                let shared_at = match scope {
                    Scope::Partner => &mut entry.shared_partner_at,
                    Scope::Therapist => &mut entry.shared_therapist_at,
                };
                if shared_at.is_some() {
                    continue;
                }
                *shared_at = Some(now);
                tx.share(entry_id, *scope, now, &couple.id).await?;
                tx.log_consent(entry_id, me, *scope, "share", now).await?;
                changed.push(*scope);
            }
            if !changed.is_empty() {
                // The entry now belongs to the couple it was shared in.
                entry.couple_id = Some(couple.id.clone());
                entry.partner_a = Some(couple.partner_a.clone());
                entry.partner_b = couple.partner_b.clone();
                emit(tx, me, EventKind::Entry, Some(entry_id), now, out).await?;
                let (p, t) = (changed.contains(&Scope::Partner), changed.contains(&Scope::Therapist));
                emit_to_readers(tx, &entry, p, t, now, out).await?;
            }
            Ok(Some(entry))
        }
        WriteOp::Withdraw { entry_id, scopes } => {
            let mut entry = own_entry(tx, me, entry_id).await?;
            let mut changed = Vec::new();
            for scope in scopes {
                let shared_at = match scope {
                    Scope::Partner => &mut entry.shared_partner_at,
                    Scope::Therapist => &mut entry.shared_therapist_at,
                };
                if shared_at.take().is_none() {
                    continue;
                }
                tx.withdraw(entry_id, *scope).await?;
                tx.log_consent(entry_id, me, *scope, "withdraw", now).await?;
                changed.push(*scope);
            }
            if !changed.is_empty() {
                emit(tx, me, EventKind::Entry, Some(entry_id), now, out).await?;
                let (p, t) = (changed.contains(&Scope::Partner), changed.contains(&Scope::Therapist));
                emit_to_readers(tx, &entry, p, t, now, out).await?;
            }
            Ok(Some(entry))
        }
        WriteOp::SetOutcome { entry_id, outcome } => {
            let mut entry = own_entry(tx, me, entry_id).await?;
            if entry.kind != "small_step" {
                return Err(ApiError::invalid("outcome", "only a small step has an outcome"));
            }
            let mut step: crate::entry::SmallStep = serde_json::from_str(&entry.body).map_err(ApiError::internal)?;
            step.outcome = Some(*outcome);
            entry.body = serde_json::to_string(&step).map_err(ApiError::internal)?;
            entry.updated_at = now;
            tx.set_body(entry_id, &entry.body, now).await?;
            emit(tx, me, EventKind::Entry, Some(entry_id), now, out).await?;
            let (p, t) = (entry.shared_partner_at.is_some(), entry.shared_therapist_at.is_some());
            emit_to_readers(tx, &entry, p, t, now, out).await?;
            Ok(Some(entry))
        }
        WriteOp::Delete { entry_id } => {
            let entry = own_entry(tx, me, entry_id).await?;
            tx.delete_entry(entry_id).await?;
            emit(tx, me, EventKind::Entry, Some(entry_id), now, out).await?;
            let (p, t) = (entry.shared_partner_at.is_some(), entry.shared_therapist_at.is_some());
            emit_to_readers(tx, &entry, p, t, now, out).await?;
            Ok(None)
        }
    }
}
