//! Therapist access (granted only when both partners approve, revocable by either) and
//! the shared summary with its exports and view log.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::macros::format_description;

use super::extract::{ApiJson, ApiQuery};
use super::route::{route, Route};
use crate::account::{parse_email, AuthUser};
use crate::error::ApiError;
use crate::state::AppState;
use crate::summary::{self, Period};
use crate::time::{now_ms, rfc3339};
use crate::views::couple_json;

const DAY: i64 = 24 * 60 * 60 * 1000;

pub(crate) const ROUTES: &[Route] = &[
    route!(POST "/api/couple/therapist" => propose),
    route!(POST "/api/couple/therapist/approve" => approve),
    route!(POST "/api/couple/therapist/revoke" => revoke),
    route!(GET "/api/therapist/couples" => couples),
    route!(GET "/api/summary/{couple_id}" => summary_json),
    route!(GET "/api/summary/{couple_id}/export.json" => export_json),
    route!(GET "/api/summary/{couple_id}/export.csv" => export_csv),
    route!(GET "/api/summary/{couple_id}/views" => views),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Propose {
    email: String,
}

async fn couple_reply(state: &AppState, auth: &AuthUser, status: StatusCode) -> Result<Response, ApiError> {
    let couple = state.store.couple_of(&auth.user.id).await?;
    Ok((
        status,
        Json(json!({ "couple": couple_json(couple.as_ref(), &auth.user.id) })),
    )
        .into_response())
}

async fn propose(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(form): ApiJson<Propose>,
) -> Result<Response, ApiError> {
    if auth.user.role != "partner" {
        return Err(ApiError::Forbidden("only partners invite a therapist"));
    }
    let email = parse_email(&form.email)?;
    let link_id = uuid::Uuid::new_v4().to_string();
    let notify = state
        .store
        .propose_therapist(&auth.user.id, &email, &link_id, now_ms())
        .await?;
    state.hub.notify(&notify);
    couple_reply(&state, &auth, StatusCode::CREATED).await
}

async fn approve(State(state): State<AppState>, auth: AuthUser) -> Result<Response, ApiError> {
    let notify = state.store.approve_therapist(&auth.user.id, now_ms()).await?;
    state.hub.notify(&notify);
    couple_reply(&state, &auth, StatusCode::OK).await
}

async fn revoke(State(state): State<AppState>, auth: AuthUser) -> Result<Response, ApiError> {
    let notify = state.store.revoke_therapist(&auth.user.id, now_ms()).await?;
    state.hub.notify(&notify);
    couple_reply(&state, &auth, StatusCode::OK).await
}

/// A therapist's couples, with when each last shared something new with them: the latest
/// time an entry the summary counts was shared with the therapist.
async fn couples(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    if auth.user.role != "therapist" {
        return Err(ApiError::Forbidden("only therapists have a list of couples"));
    }
    let mut rows = state.store.therapist_couples(&auth.user.id).await?;
    // When the couple last shared something the summary counts: consent decides what
    // that is, so a reply the summary leaves out does not move it.
    for c in &mut rows {
        let entries = state.store.therapist_entries(&c.couple_id).await?;
        c.last_shared_at = crate::consent::in_summary(&entries, &auth.user.id, true)
            .iter()
            .filter_map(|e| e.shared_therapist_at)
            .max();
    }
    // Most recent first; couples that shared nothing yet last (names, then ids, keep it stable).
    rows.sort_by_key(|c| std::cmp::Reverse(c.last_shared_at));
    let couples: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "couple_id": c.couple_id,
                "partners": [c.partner_a_name, c.partner_b_name],
                "active_since": rfc3339(c.active_at),
                "last_shared_at": c.last_shared_at.map(rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({ "couples": couples })))
}

/// Who is reading: the couple's active therapist, or one of its partners.
enum Reader {
    Therapist,
    Partner,
}

/// Checks the caller may read this couple's summary; anything else is "not found".
async fn reader(
    state: &AppState,
    auth: &AuthUser,
    couple_id: &str,
) -> Result<(Reader, Vec<(String, String)>), ApiError> {
    let not_found = ApiError::NotFound("summary");
    let couple_id = uuid::Uuid::parse_str(couple_id)
        .map_err(|_| ApiError::NotFound("summary"))?
        .to_string();
    let (couple, members) = state
        .store
        .couple_members(&couple_id)
        .await?
        .ok_or(ApiError::NotFound("summary"))?;
    if couple.ended_at.is_some() || couple.partner_b.is_none() {
        return Err(not_found);
    }
    match auth.user.role.as_str() {
        "therapist" => {
            let link = state.store.therapist_link(&couple_id).await?;
            match link {
                Some(l) if l.therapist_id == auth.user.id && l.active_at.is_some() => Ok((Reader::Therapist, members)),
                _ => Err(not_found),
            }
        }
        _ if couple.partner_a == auth.user.id || couple.partner_b.as_deref() == Some(auth.user.id.as_str()) => {
            Ok((Reader::Partner, members))
        }
        _ => Err(not_found),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    /// 7d, 30d (default), 90d, since_last_view, or custom (with from and to).
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A custom period bound: a calendar day (UTC; `to` includes the whole day) or an exact
/// RFC 3339 time (so a page can keep "since the last view" as it first loaded; an exact
/// `to` is excluded). Also says whether it was an exact time.
fn parse_bound(field: &str, value: Option<&str>, end: bool) -> Result<(i64, bool), ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid(field, "a custom period needs from and to, like 2026-11-01"))?;
    if value.contains('T') {
        let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).map_err(|_| {
            ApiError::invalid(
                field,
                "must be a date like 2026-11-01 or a time like 2026-11-01T09:30:00Z",
            )
        })?;
        return Ok(((t.unix_timestamp_nanos() / 1_000_000) as i64, true));
    }
    let date = time::Date::parse(value, format_description!("[year]-[month]-[day]"))
        .map_err(|_| ApiError::invalid(field, "must be a date like 2026-11-01"))?;
    Ok((
        date.midnight().assume_utc().unix_timestamp() * 1000 + if end { DAY } else { 0 },
        false,
    ))
}

async fn period(state: &AppState, couple_id: &str, q: &PeriodQuery, now: i64) -> Result<Period, ApiError> {
    let days = |n: i64, label: &str| Period {
        from: now - n * DAY,
        to: now + 1,
        label: label.to_string(),
    };
    Ok(match q.period.as_deref().unwrap_or("30d") {
        "7d" => days(7, "last 7 days"),
        "30d" => days(30, "last 30 days"),
        "90d" => days(90, "last 90 days"),
        "since_last_view" => {
            let views = state.store.summary_views(couple_id).await?;
            match views.iter().find(|v| v.action == "viewed") {
                Some(v) => Period {
                    from: v.viewed_at,
                    to: now + 1,
                    label: "since the therapist last viewed".into(),
                },
                None => days(30, "last 30 days (the therapist has not viewed it yet)"),
            }
        }
        "custom" => {
            let (from, _) = parse_bound("from", q.from.as_deref(), false)?;
            let (to, exact) = parse_bound("to", q.to.as_deref(), true)?;
            // A date `to` covers its whole day, so `from` == `to` is one day; an exact `to`
            // is excluded, so the same exact time at both ends would be an empty period.
            if to <= from {
                let why = if exact {
                    "must be after from"
                } else {
                    "must not be before from"
                };
                return Err(ApiError::invalid("to", why));
            }
            Period {
                from,
                to,
                label: format!(
                    "{} to {}",
                    q.from.as_deref().unwrap_or(""),
                    q.to.as_deref().unwrap_or("")
                ),
            }
        }
        _ => {
            return Err(ApiError::invalid(
                "period",
                "use 7d, 30d, 90d, since_last_view or custom",
            ))
        }
    })
}

/// Builds the summary for the caller and logs the therapist's reading of it.
async fn build(
    state: &AppState,
    auth: &AuthUser,
    couple_id: &str,
    q: &PeriodQuery,
    action: &str,
) -> Result<Value, ApiError> {
    let (reader, members) = reader(state, auth, couple_id).await?;
    let couple_id = uuid::Uuid::parse_str(couple_id)
        .map_err(|_| ApiError::NotFound("summary"))?
        .to_string();
    let now = now_ms();
    let period = period(state, &couple_id, q, now).await?;
    let entries = state.store.therapist_entries(&couple_id).await?;
    let therapist = matches!(reader, Reader::Therapist);
    let summary = summary::build(&couple_id, &members, &entries, &auth.user.id, therapist, &period, now);
    match reader {
        Reader::Therapist => {
            state
                .store
                .record_summary_view(&couple_id, &auth.user.id, action, period.from, period.to, now)
                .await?
        }
        Reader::Partner => {
            let what = format!("summary ({action})");
            state
                .store
                .log_access(&auth.user, Some(&couple_id), &what, None, now)
                .await?
        }
    }
    Ok(summary)
}

async fn summary_json(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(couple_id): Path<String>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(build(&state, &auth, &couple_id, &q, "viewed").await?))
}

fn attachment(name: &str, content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, &format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

async fn export_json(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(couple_id): Path<String>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Response, ApiError> {
    let mut summary = build(&state, &auth, &couple_id, &q, "exported_json").await?;
    if let Some(o) = summary.as_object_mut() {
        o.remove("charts");
    }
    let body = serde_json::to_string_pretty(&summary).map_err(ApiError::internal)?;
    Ok(attachment("tandem-summary.json", "application/json", body))
}

async fn export_csv(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(couple_id): Path<String>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Response, ApiError> {
    let summary = build(&state, &auth, &couple_id, &q, "exported_csv").await?;
    let body = summary::csv(&summary).map_err(ApiError::internal)?;
    Ok(attachment("tandem-summary.csv", "text/csv; charset=utf-8", body))
}

/// The log of the therapist's readings, for the partners, who stay its readers after the
/// couple ends (unpaired, or the other partner's account deleted).
async fn views(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(couple_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = uuid::Uuid::parse_str(&couple_id)
        .map_err(|_| ApiError::NotFound("summary"))?
        .to_string();
    let couple = state.store.couple_members(&id).await?.map(|(c, _)| c);
    let partner = couple.as_ref().is_some_and(|c| {
        c.partner_b.is_some() && (c.partner_a == auth.user.id || c.partner_b.as_deref() == Some(auth.user.id.as_str()))
    });
    if !partner {
        // The couple's active therapist is told the log is not theirs; anyone else, 404.
        reader(&state, &auth, &couple_id).await?;
        return Err(ApiError::Forbidden("the view log is for the partners"));
    }
    let views = state.store.summary_views(&id).await?;
    let views: Vec<Value> = views
        .iter()
        .map(|v| {
            json!({
                "viewer": v.viewer_name, "action": v.action, "at": rfc3339(v.viewed_at),
                "period": { "from": rfc3339(v.period_from), "to": rfc3339(v.period_to) },
            })
        })
        .collect();
    Ok(Json(json!({ "views": views })))
}
