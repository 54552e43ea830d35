//! Pairing and a therapist's access to a couple, written once over `CoupleTx` like the
//! entry writes are over `WriteTx`: the rules here, the statements in each backend.
//!
//! - A couple has exactly two partners; an invite is used once, never by its own writer,
//!   and a new code retires the old one.
//! - Ending a couple ends its therapist's access.
//! - A therapist reads a couple's summary only once both partners approved (P1 in
//!   docs/product.md: nothing involving both is decided by one); either can revoke.
//!
//! Every function runs inside the caller's write transaction, with the acting user's
//! couple locked first (`WriteTx::lock_writers`), and returns the users whose streams got
//! a change.

use async_trait::async_trait;

use super::contract::{EventKind, Published, Result};
use super::write::{emit, tell_couple, WriteTx};
use crate::error::ApiError;
use crate::records::{CoupleRow, TherapistLink};

pub(crate) const INSERT_COUPLE: &str = "INSERT INTO couples (id, partner_a, created_at) VALUES ($1, $2, $3)";
pub(crate) const SET_USERS_COUPLE: &str = "UPDATE users SET couple_id = $1 WHERE id = $2";
pub(crate) const DELETE_INVITES: &str = "DELETE FROM invites WHERE couple_id = $1";
pub(crate) const INSERT_INVITE: &str =
    "INSERT INTO invites (code_hash, couple_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub(crate) const INVITE: &str = "SELECT couple_id, expires_at, used_at FROM invites WHERE code_hash = $1";
pub(crate) const COUPLE: &str =
    "SELECT id, partner_a, partner_b, created_at, paired_at, ended_at FROM couples WHERE id = $1";
/// Takes the second place only if it is free and the couple has not ended.
pub(crate) const JOIN: &str = "UPDATE couples SET partner_b = $1, paired_at = $2 \
     WHERE id = $3 AND partner_b IS NULL AND ended_at IS NULL";
pub(crate) const USE_INVITE: &str = "UPDATE invites SET used_at = $1 WHERE code_hash = $2";
pub(crate) const END_COUPLE: &str = "UPDATE couples SET ended_at = $1 WHERE id = $2";
pub(crate) const LEAVE_COUPLE: &str = "UPDATE users SET couple_id = NULL WHERE couple_id = $1";
pub(crate) const REVOKE_LINKS: &str = "UPDATE therapist_links SET revoked_at = $1, revoked_by = $2 \
     WHERE couple_id = $3 AND revoked_at IS NULL";
pub(crate) const THERAPIST_BY_EMAIL: &str = "SELECT id FROM users WHERE email = $1 AND role = 'therapist'";
pub(crate) const INSERT_LINK: &str = "INSERT INTO therapist_links \
     (id, couple_id, therapist_id, proposed_by, approved_a_at, approved_b_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// The couple's link, proposed or active (one at most: revoked links stay for the log).
pub(crate) const LINK: &str = "SELECT l.id, l.couple_id, l.therapist_id, u.display_name AS therapist_name, \
     l.proposed_by, l.approved_a_at, l.approved_b_at, l.created_at, l.active_at \
     FROM therapist_links l JOIN users u ON u.id = l.therapist_id \
     WHERE l.couple_id = $1 AND l.revoked_at IS NULL";
pub(crate) const APPROVE_AS_A: &str =
    "UPDATE therapist_links SET approved_a_at = $1 WHERE id = $2 AND approved_a_at IS NULL";
pub(crate) const APPROVE_AS_B: &str =
    "UPDATE therapist_links SET approved_b_at = $1 WHERE id = $2 AND approved_b_at IS NULL";
/// Active only when both approved.
pub(crate) const ACTIVATE_LINK: &str = "UPDATE therapist_links SET active_at = $1 WHERE id = $2 \
     AND active_at IS NULL AND approved_a_at IS NOT NULL AND approved_b_at IS NOT NULL";
pub(crate) const REVOKE_LINK: &str = "UPDATE therapist_links SET revoked_at = $1, revoked_by = $2 WHERE id = $3";

/// The statements pairing and therapist links need, inside a write transaction. Each
/// runs the constant of the same name; `bool` results say whether a row changed.
#[async_trait]
pub trait CoupleTx: WriteTx {
    async fn insert_couple(&mut self, id: &str, partner_a: &str, now: i64) -> Result<()>;
    async fn set_users_couple(&mut self, couple_id: &str, user_id: &str) -> Result<()>;
    async fn delete_invites(&mut self, couple_id: &str) -> Result<()>;
    async fn insert_invite(&mut self, code_hash: &str, couple_id: &str, now: i64, expires_at: i64) -> Result<()>;
    /// (couple id, expires at, used at) of the invite with this code.
    async fn invite(&mut self, code_hash: &str) -> Result<Option<(String, i64, Option<i64>)>>;
    async fn couple(&mut self, id: &str) -> Result<Option<CoupleRow>>;
    async fn join(&mut self, user_id: &str, now: i64, couple_id: &str) -> Result<bool>;
    async fn use_invite(&mut self, now: i64, code_hash: &str) -> Result<()>;
    async fn end_couple(&mut self, now: i64, couple_id: &str) -> Result<()>;
    async fn leave_couple(&mut self, couple_id: &str) -> Result<()>;
    async fn revoke_links(&mut self, now: i64, by: &str, couple_id: &str) -> Result<()>;
    async fn therapist_by_email(&mut self, email: &str) -> Result<Option<String>>;
    async fn insert_link(&mut self, link: &NewLink<'_>) -> Result<()>;
    async fn link(&mut self, couple_id: &str) -> Result<Option<TherapistLink>>;
    async fn approve(&mut self, as_partner_a: bool, now: i64, link_id: &str) -> Result<bool>;
    async fn activate_link(&mut self, now: i64, link_id: &str) -> Result<bool>;
    async fn revoke_link(&mut self, now: i64, by: &str, link_id: &str) -> Result<()>;
}

/// A proposed link, as `INSERT_LINK` takes it.
pub struct NewLink<'a> {
    pub id: &'a str,
    pub couple_id: &'a str,
    pub therapist_id: &'a str,
    pub proposed_by: &'a str,
    pub approved_a_at: Option<i64>,
    pub approved_b_at: Option<i64>,
    pub now: i64,
}

/// A fresh invite for the user's couple, starting one if they have none yet.
pub async fn create_invite_in<T: CoupleTx>(
    tx: &mut T,
    user_id: &str,
    new_couple_id: &str,
    code_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<CoupleRow> {
    tx.lock_writers(user_id, None).await?;
    let couple = match tx.current_couple(user_id).await? {
        Some(c) if c.partner_b.is_some() => {
            return Err(ApiError::conflict(
                "already_paired",
                "you are already paired; unpair first",
            ))
        }
        Some(c) => c,
        None => {
            tx.insert_couple(new_couple_id, user_id, now).await?;
            tx.set_users_couple(new_couple_id, user_id).await?;
            tx.current_couple(user_id).await?.ok_or(ApiError::NotFound("couple"))?
        }
    };
    // One live invite per couple: a new code retires the old one.
    tx.delete_invites(&couple.id).await?;
    tx.insert_invite(code_hash, &couple.id, now, expires_at).await?;
    // The user's other devices learn of the waiting couple.
    emit(tx, user_id, EventKind::Couple, None, now, &mut Vec::new()).await?;
    Ok(couple)
}

/// Joins the couple whose invite this is, as its second partner.
pub async fn join_in<T: CoupleTx>(tx: &mut T, user_id: &str, code_hash: &str, now: i64) -> Result<CoupleRow> {
    tx.lock_writers(user_id, None).await?;
    let Some((couple_id, expires_at, used_at)) = tx.invite(code_hash).await? else {
        return Err(ApiError::NotFound("invite code"));
    };
    if used_at.is_some() {
        return Err(ApiError::conflict(
            "couple_full",
            "this invite was used already: a couple has exactly two partners",
        ));
    }
    if expires_at <= now {
        return Err(ApiError::NotFound("invite code"));
    }
    let couple = tx.couple(&couple_id).await?.ok_or(ApiError::NotFound("invite code"))?;
    if couple.partner_a == user_id {
        return Err(ApiError::conflict(
            "own_invite",
            "this is your own invite: give it to your partner",
        ));
    }
    if couple.ended_at.is_some() {
        return Err(ApiError::NotFound("invite code"));
    }
    if tx.current_couple(user_id).await?.is_some() {
        return Err(ApiError::conflict(
            "already_in_couple",
            "you are already in a couple; unpair first",
        ));
    }
    if !tx.join(user_id, now, &couple_id).await? {
        return Err(ApiError::conflict(
            "couple_full",
            "this couple has two partners already",
        ));
    }
    tx.set_users_couple(&couple_id, user_id).await?;
    tx.use_invite(now, code_hash).await?;
    let mut out = Vec::new();
    emit(tx, &couple.partner_a, EventKind::Couple, None, now, &mut out).await?;
    emit(tx, user_id, EventKind::Couple, None, now, &mut out).await?;
    tx.current_couple(user_id).await?.ok_or(ApiError::NotFound("couple"))
}

/// Ends the user's couple, and with it any therapist's access.
pub async fn unpair_in<T: CoupleTx>(tx: &mut T, user_id: &str, now: i64) -> Result<Vec<String>> {
    tx.lock_writers(user_id, None).await?;
    let Some(couple) = tx.current_couple(user_id).await? else {
        return Err(ApiError::conflict("not_paired", "you are not in a couple"));
    };
    let mut out = Vec::new();
    end_couple_in(tx, &couple.id, user_id, now, &mut out).await?;
    tell_couple(tx, &couple, now, &mut out).await?;
    Ok(Published::users(&out))
}

/// Ends a couple on `by`'s word (unpairing, or deleting their account): its therapist is
/// told while they still have access, then the couple ends, its members are free to pair
/// again, its invite is retired and its therapist links are revoked. Telling the members
/// is the caller's.
pub async fn end_couple_in<T: CoupleTx>(
    tx: &mut T,
    couple_id: &str,
    by: &str,
    now: i64,
    out: &mut Vec<Published>,
) -> Result<()> {
    super::write::emit_to_therapist(tx, Some(couple_id), now, out).await?;
    tx.end_couple(now, couple_id).await?;
    tx.leave_couple(couple_id).await?;
    tx.delete_invites(couple_id).await?;
    tx.revoke_links(now, by, couple_id).await
}

/// Proposes a therapist (by their account's e-mail); the proposer's approval comes with it.
pub async fn propose_in<T: CoupleTx>(
    tx: &mut T,
    user_id: &str,
    email: &str,
    link_id: &str,
    now: i64,
) -> Result<Vec<String>> {
    tx.lock_writers(user_id, None).await?;
    let couple = tx
        .current_couple(user_id)
        .await?
        .filter(|c| c.partner_b.is_some())
        .ok_or_else(|| ApiError::conflict("not_paired", "pair with your partner before inviting a therapist"))?;
    if tx.link(&couple.id).await?.is_some() {
        return Err(ApiError::conflict(
            "therapist_exists",
            "your couple already has a therapist; revoke first",
        ));
    }
    let therapist = tx
        .therapist_by_email(email)
        .await?
        .ok_or(ApiError::NotFound("therapist account with that email"))?;
    let by_a = couple.partner_a == user_id;
    tx.insert_link(&NewLink {
        id: link_id,
        couple_id: &couple.id,
        therapist_id: &therapist,
        proposed_by: user_id,
        approved_a_at: by_a.then_some(now),
        approved_b_at: (!by_a).then_some(now),
        now,
    })
    .await?;
    let mut out = Vec::new();
    tell_couple(tx, &couple, now, &mut out).await?;
    Ok(Published::users(&out))
}

/// The user's approval of the proposed therapist; with both, the therapist's access begins.
pub async fn approve_in<T: CoupleTx>(tx: &mut T, user_id: &str, now: i64) -> Result<Vec<String>> {
    tx.lock_writers(user_id, None).await?;
    let couple = tx
        .current_couple(user_id)
        .await?
        .ok_or(ApiError::NotFound("therapist proposal"))?;
    let link = tx
        .link(&couple.id)
        .await?
        .ok_or(ApiError::NotFound("therapist proposal"))?;
    if !tx.approve(couple.partner_a == user_id, now, &link.id).await? {
        // Approved already: nothing changes, nobody is told anything.
        return Ok(Vec::new());
    }
    let activated = tx.activate_link(now, &link.id).await?;
    let mut out = Vec::new();
    tell_couple(tx, &couple, now, &mut out).await?;
    if activated {
        emit(
            tx,
            &link.therapist_id,
            EventKind::Summary,
            Some(&couple.id),
            now,
            &mut out,
        )
        .await?;
    }
    Ok(Published::users(&out))
}

/// Ends the couple's therapist link, proposed or active.
pub async fn revoke_in<T: CoupleTx>(tx: &mut T, user_id: &str, now: i64) -> Result<Vec<String>> {
    tx.lock_writers(user_id, None).await?;
    let couple = tx
        .current_couple(user_id)
        .await?
        .ok_or(ApiError::NotFound("therapist link"))?;
    let link = tx.link(&couple.id).await?.ok_or(ApiError::NotFound("therapist link"))?;
    tx.revoke_link(now, user_id, &link.id).await?;
    let mut out = Vec::new();
    tell_couple(tx, &couple, now, &mut out).await?;
    // A therapist who never had access is not told of a proposal withdrawn.
    if link.active_at.is_some() {
        emit(
            tx,
            &link.therapist_id,
            EventKind::Summary,
            Some(&couple.id),
            now,
            &mut out,
        )
        .await?;
    }
    Ok(Published::users(&out))
}
