//! Entries: the list, one entry, the partner's preview, the commands that write them,
//! and the event catch-up over plain HTTP.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{ApiJson, ApiQuery};
use super::route::{route, Route};
use crate::account::AuthUser;
use crate::commands::{self, Ack, ChangeConsent, Command, CreateEntry, DeleteEntry, SetOutcome};
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};
use crate::{consent, stream};

pub(crate) const ROUTES: &[Route] = &[
    route!(GET "/api/entries" => list_entries),
    route!(POST "/api/entries" => create_entry),
    route!(GET "/api/entries/{id}" => get_entry),
    route!(DELETE "/api/entries/{id}" => delete_entry),
    route!(GET "/api/entries/{id}/preview" => preview_entry),
    route!(POST "/api/entries/{id}/share" => share_entry),
    route!(POST "/api/entries/{id}/withdraw" => withdraw_entry),
    route!(POST "/api/entries/{id}/outcome" => set_outcome),
    route!(GET "/api/events" => events),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    before: Option<String>,
    before_id: Option<String>,
    limit: Option<i64>,
}

async fn list_entries(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let before = match q.before.as_deref() {
        None => i64::MAX,
        Some(s) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::invalid("before", "must be an RFC 3339 time, like 2026-11-25T10:00:00Z"))?;
            (t.unix_timestamp_nanos() / 1_000_000) as i64
        }
    };
    let before_id = match q.before_id.as_deref() {
        Some(id) => commands::entry_id(id).map_err(|_| ApiError::invalid("before_id", "must be an entry id"))?,
        None => String::new(),
    };
    let rows = state
        .store
        .entries_visible_to(&auth.user.id, (before, &before_id), limit)
        .await?;
    let last = rows.last().filter(|_| rows.len() as i64 == limit);
    let (next_before, next_before_id) = (last.map(|e| rfc3339(e.created_at)), last.map(|e| e.id.clone()));
    let entries: Vec<Value> = rows
        .iter()
        .filter_map(|e| consent::view_for(e, &auth.user.id))
        .collect();
    let partners: Vec<&crate::store::EntryRecord> = rows
        .iter()
        .filter(|e| consent::access(e, &auth.user.id) == Some(consent::Access::Partner))
        .collect();
    if let Some(first) = partners.first() {
        let shown: Vec<&str> = partners.iter().map(|e| e.id.as_str()).collect();
        state.store.mark_shown(&auth.user.id, &shown).await?;
        let what = format!("list of {} shared entries", partners.len());
        state
            .store
            .log_access(&auth.user, first.couple_id.as_deref(), &what, None, now_ms())
            .await?;
    }
    Ok(Json(
        json!({ "entries": entries, "next_before": next_before, "next_before_id": next_before_id }),
    ))
}

async fn get_entry(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = commands::entry_id(&id)?;
    let entry = state.store.entry(&id).await?.ok_or(ApiError::NotFound("entry"))?;
    let view = consent::view_for(&entry, &auth.user.id).ok_or(ApiError::NotFound("entry"))?;
    if consent::access(&entry, &auth.user.id) == Some(consent::Access::Partner) {
        state.store.mark_shown(&auth.user.id, &[&entry.id]).await?;
        state
            .store
            .log_access(
                &auth.user,
                entry.couple_id.as_deref(),
                "entry",
                Some(&entry.id),
                now_ms(),
            )
            .await?;
    }
    Ok(Json(json!({ "entry": view })))
}

/// Exactly what the partner would receive if the writer shared this entry now.
async fn preview_entry(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = commands::entry_id(&id)?;
    let entry = state
        .store
        .entry(&id)
        .await?
        .filter(|e| e.author_id == auth.user.id)
        .ok_or(ApiError::NotFound("entry"))?;
    let shared_at = entry.shared_partner_at.unwrap_or_else(now_ms);
    Ok(Json(
        json!({ "partner_view": consent::partner_view(&entry, shared_at) }),
    ))
}

fn ack_response(ack: Ack, created: bool) -> Response {
    let status = if created && !ack.replayed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(json!({ "entry_id": ack.entry_id, "entry": ack.entry, "replayed": ack.replayed })),
    )
        .into_response()
}

async fn create_entry(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(form): ApiJson<CreateEntry>,
) -> Result<Response, ApiError> {
    Ok(ack_response(
        commands::execute(&*state.store, &state.hub, &auth.user, Command::Create(form)).await?,
        true,
    ))
}

async fn share_entry(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(form): ApiJson<ChangeConsent>,
) -> Result<Response, ApiError> {
    Ok(ack_response(
        commands::execute(&*state.store, &state.hub, &auth.user, Command::Share(id, form)).await?,
        false,
    ))
}

async fn withdraw_entry(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(form): ApiJson<ChangeConsent>,
) -> Result<Response, ApiError> {
    Ok(ack_response(
        commands::execute(&*state.store, &state.hub, &auth.user, Command::Withdraw(id, form)).await?,
        false,
    ))
}

async fn set_outcome(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(form): ApiJson<SetOutcome>,
) -> Result<Response, ApiError> {
    Ok(ack_response(
        commands::execute(&*state.store, &state.hub, &auth.user, Command::SetOutcome(id, form)).await?,
        false,
    ))
}

async fn delete_entry(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(form): ApiJson<DeleteEntry>,
) -> Result<Response, ApiError> {
    Ok(ack_response(
        commands::execute(&*state.store, &state.hub, &auth.user, Command::Delete(id, form)).await?,
        false,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    since: Option<i64>,
    limit: Option<i64>,
}

/// The stream over plain HTTP, for clients that cannot hold a websocket.
async fn events(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let since = q.since.unwrap_or(0);
    if since < 0 {
        return Err(ApiError::invalid("since", "must be 0 or more"));
    }
    let head = state.store.advance(&auth.user.id).await?;
    // A cursor ahead of the head was kept from elsewhere: nothing follows it.
    let stored = state.store.stream_after(&auth.user.id, since, limit).await?;
    let events = stream::render_events(&state, &auth.user.id, &stored).await?;
    let next_since = stored.last().map_or(since, |e| e.pos);
    Ok(Json(
        json!({ "head": head, "events": events, "next_since": next_since }),
    ))
}
