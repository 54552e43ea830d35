//! Pairing: a partner's couple, the invite that starts one, joining it and unpairing.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::ApiJson;
use super::route::{route, Route};
use crate::account::AuthUser;
use crate::error::ApiError;
use crate::pairing;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};
use crate::views::couple_json;

pub(crate) const ROUTES: &[Route] = &[
    route!(GET "/api/couple" => couple),
    route!(POST "/api/couple" => create_couple),
    route!(POST "/api/couple/join" => join_couple),
    route!(POST "/api/couple/unpair" => unpair),
];

async fn couple(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let couple = state.store.couple_of(&auth.user.id).await?;
    Ok(Json(json!({ "couple": couple_json(couple.as_ref(), &auth.user.id) })))
}

fn partners_only(auth: &AuthUser) -> Result<(), ApiError> {
    if auth.user.role == "partner" {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only partners pair up"))
    }
}

async fn create_couple(State(state): State<AppState>, auth: AuthUser) -> Result<impl IntoResponse, ApiError> {
    partners_only(&auth)?;
    let code = pairing::new_code();
    let hash = pairing::code_hash(&pairing::normalize(&code)?);
    let now = now_ms();
    let expires_at = now + state.config.invite_minutes * 60_000;
    let new_id = uuid::Uuid::new_v4().to_string();
    state
        .store
        .create_invite(&auth.user.id, &new_id, &hash, now, expires_at)
        .await?;
    // The user's other open devices learn of the waiting couple.
    state.hub.notify(std::slice::from_ref(&auth.user.id));
    let couple = state.store.couple_of(&auth.user.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "couple": couple_json(couple.as_ref(), &auth.user.id),
            "invite": { "code": code, "link": format!("{}/join#{code}", state.base_url), "expires_at": rfc3339(expires_at) },
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinForm {
    code: String,
}

async fn join_couple(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    auth: AuthUser,
    ApiJson(form): ApiJson<JoinForm>,
) -> Result<Json<Value>, ApiError> {
    partners_only(&auth)?;
    state.limits.address(state.limits.client_ip(peer, &headers))?;
    state.limits.invite_attempt(&auth.user.id)?;
    let code = pairing::normalize(&form.code)?;
    let couple = state
        .store
        .join_couple(&auth.user.id, &pairing::code_hash(&code), now_ms())
        .await?;
    let mut members = vec![couple.partner_a.clone()];
    members.extend(couple.partner_b.clone());
    state.hub.notify(&members);
    let info = state.store.couple_of(&auth.user.id).await?;
    Ok(Json(json!({ "couple": couple_json(info.as_ref(), &auth.user.id) })))
}

async fn unpair(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let members = state.store.unpair(&auth.user.id, now_ms()).await?;
    state.hub.notify(&members);
    Ok(Json(json!({ "couple": null })))
}
