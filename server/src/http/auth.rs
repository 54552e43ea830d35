//! Accounts: sign-up, log-in, log-out and who is logged in.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde_json::{json, Value};

use super::cookies::{removal_cookie, start_session};
use super::extract::ApiJson;
use super::route::{route, Route};
use crate::account::{self, AuthUser, LogIn, SignUp};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::NewUser;
use crate::time::{now_ms, rfc3339};
use crate::views::{couple_json, user_json};

pub(crate) const ROUTES: &[Route] = &[
    route!(POST "/api/signup" => signup),
    route!(POST "/api/login" => login),
    route!(POST "/api/logout" => logout),
    route!(GET "/api/me" => me),
];

async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(form): ApiJson<SignUp>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.address(state.limits.client_ip(peer, &headers))?;
    let email = account::parse_email(&form.email)?;
    let display_name = account::parse_display_name(&form.display_name)?;
    account::check_password(&form.password)?;
    let hash = state.passwords.hash(form.password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let user = state
        .store
        .create_user(NewUser {
            id: &id,
            email: &email,
            display_name: &display_name,
            role: form.role.as_str(),
            password_hash: &hash,
            now: now_ms(),
        })
        .await?;
    let jar = start_session(&state, jar, &user).await?;
    Ok((StatusCode::CREATED, jar, Json(json!({ "user": user_json(&user) }))))
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(form): ApiJson<LogIn>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.address(state.limits.client_ip(peer, &headers))?;
    let email = form.email.trim().to_lowercase();
    state.limits.account(&email)?;
    let found = state.store.user_by_email(&email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // Unknown users are checked against a dummy hash: same answer, same time.
    let ok = state.passwords.verify(form.password, hash).await?;
    let user = user.filter(|_| ok).ok_or(ApiError::BadCredentials)?;
    // A fresh token at every log-in (no session fixation); an old cookie is replaced.
    let jar = start_session(&state, jar, &user).await?;
    Ok((jar, Json(json!({ "user": user_json(&user) }))))
}

async fn logout(State(state): State<AppState>, auth: AuthUser, jar: CookieJar) -> Result<impl IntoResponse, ApiError> {
    state.store.delete_session(&auth.token_hash).await?;
    state.hub.end_session(&auth.token_hash);
    Ok((StatusCode::NO_CONTENT, jar.add(removal_cookie(&state))))
}

async fn me(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let couple = state.store.couple_of(&auth.user.id).await?;
    Ok(Json(json!({
        "user": user_json(&auth.user),
        "couple": couple_json(couple.as_ref(), &auth.user.id),
        "session": { "expires_at": rfc3339(auth.session.expires_at.min(auth.session.last_seen_at.max(now_ms()) + state.config.session_idle_minutes * 60_000)) },
    })))
}
