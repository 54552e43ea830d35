//! Data rights: a partner exports everything they wrote and everything shared with them,
//! and can delete their account. Also password change and "log out everywhere".

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::{json, Value};

use super::cookies::{removal_cookie, start_session};
use super::extract::ApiJson;
use super::route::{route, Route};
use crate::account::{self, AuthUser};
use crate::consent;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};
use crate::views::{couple_json, user_json};

pub(crate) const ROUTES: &[Route] = &[
    route!(POST "/api/logout/all" => logout_everywhere),
    route!(POST "/api/password" => change_password),
    route!(GET "/api/me/export" => export),
    route!(DELETE "/api/me" => delete_account),
];

/// Ends every session of the user (this one too) and closes their sockets.
async fn logout_everywhere(
    State(state): State<AppState>,
    auth: AuthUser,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    for h in state.store.end_sessions(&auth.user.id, None).await? {
        state.hub.end_session(&h);
    }
    Ok((StatusCode::NO_CONTENT, jar.add(removal_cookie(&state))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Asks for the password again before a sensitive change; `field` names it in the error.
async fn check_current(state: &AppState, auth: &AuthUser, password: String, field: &str) -> Result<(), ApiError> {
    let hash = state.store.password_hash(&auth.user.id).await?;
    if state.passwords.verify(password, hash).await? {
        Ok(())
    } else {
        Err(ApiError::invalid(field, "that is not your current password"))
    }
}

/// A new password ends every other session and rotates this one.
async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    jar: CookieJar,
    ApiJson(form): ApiJson<PasswordChange>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.account(&auth.user.email)?;
    check_current(&state, &auth, form.current_password, "current_password").await?;
    account::check_password(&form.new_password)
        .map_err(|_| ApiError::invalid("new_password", "must be 10 to 256 characters"))?;
    let hash = state.passwords.hash(form.new_password).await?;
    state.store.set_password(&auth.user.id, &hash).await?;
    for h in state.store.end_sessions(&auth.user.id, None).await? {
        state.hub.end_session(&h);
    }
    let jar = start_session(&state, jar, &auth.user).await?;
    Ok((jar, Json(json!({ "user": user_json(&auth.user) }))))
}

/// Everything the user wrote (with its consent history), everything shared with them, their
/// own reads, and the therapist's view log of every couple they were paired in.
async fn export(State(state): State<AppState>, auth: AuthUser) -> Result<Response, ApiError> {
    let me = &auth.user.id;
    let entries = state.store.entries_visible_to(me, (i64::MAX, ""), i64::MAX).await?;
    let (written, shared_with_me): (Vec<_>, Vec<_>) = entries.iter().partition(|e| e.author_id == *me);
    let history = state.store.consent_history(me).await?;
    let couple = state.store.couple_of(me).await?;
    let now = now_ms();
    // The export itself is not recorded as a read (protocol.md, section 8, rule 8): it
    // holds the record of reads, and recording it would grow that record at every look.
    let access = state.store.access_log_of(me).await?;
    // The therapist's view log of every couple the user was paired in: theirs to read even
    // after the couple ended (docs/privacy.md), rendered as `GET /api/summary/{id}/views`.
    let mut view_log = Vec::new();
    for couple_id in state.store.couples_paired_in(me).await?.iter().rev() {
        for v in state.store.summary_views(couple_id).await? {
            view_log.push((
                v.viewed_at,
                json!({
                    "couple_id": couple_id, "viewer": v.viewer_name, "action": v.action, "at": rfc3339(v.viewed_at),
                    "period": { "from": rfc3339(v.period_from), "to": rfc3339(v.period_to) },
                }),
            ));
        }
    }
    // Newest first across couples (stable: each couple's own order breaks ties).
    view_log.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let export = json!({
        "exported_at": rfc3339(now),
        "user": user_json(&auth.user),
        "couple": couple_json(couple.as_ref(), me),
        "entries_written": written.iter().map(|e| consent::writer_view(e)).collect::<Vec<_>>(),
        "consent_history": history.iter().map(|c| json!({ "entry_id": c.entry_id, "scope": c.scope, "action": c.action, "at": rfc3339(c.at) })).collect::<Vec<_>>(),
        "entries_shared_with_me": shared_with_me.iter().filter_map(|e| consent::view_for(e, me)).collect::<Vec<Value>>(),
        "my_reads": access.iter().map(|a| json!({ "what": a.what, "couple_id": a.couple_id, "entry_id": a.entry_id, "at": rfc3339(a.at) })).collect::<Vec<_>>(),
        "therapist_view_log": view_log.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    });
    let body = serde_json::to_string_pretty(&export).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tandem-export.json\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteAccount {
    password: String,
}

/// Deletes the account: entries vanish for partner and therapist, the couple ends,
/// sessions die. What remains is described in docs/privacy.md.
async fn delete_account(
    State(state): State<AppState>,
    auth: AuthUser,
    jar: CookieJar,
    ApiJson(form): ApiJson<DeleteAccount>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.account(&auth.user.email)?;
    check_current(&state, &auth, form.password, "password").await?;
    let deleted = state.store.delete_account(&auth.user.id, now_ms()).await?;
    state.hub.notify(&deleted.notify);
    for h in &deleted.sessions {
        state.hub.end_session(h);
    }
    Ok((jar.add(removal_cookie(&state)), Json(json!({ "deleted": true }))))
}
