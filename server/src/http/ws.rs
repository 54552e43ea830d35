//! The websocket upgrade to the event stream.

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::ApiQuery;
use super::route::{route, Route};
use crate::account::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::stream;

pub(crate) const ROUTES: &[Route] = &[route!(GET "/api/ws" => websocket)];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsQuery {
    since: Option<i64>,
}

/// Upgrades to the event stream: the Origin must be allowed (browsers send cookies on
/// cross-site websocket handshakes) and the session cookie valid.
async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    match headers.get(header::ORIGIN) {
        Some(origin) if state.origin_allowed(origin) => {}
        _ => return Err(ApiError::Forbidden("websocket origin not allowed")),
    }
    let auth = AuthUser::from_headers(&state, &headers).await?;
    if q.since.is_some_and(|s| s < 0) {
        return Err(ApiError::invalid("since", "must be 0 or more"));
    }
    let ws = ws.map_err(|_| ApiError::BadRequest("this route expects a websocket upgrade".into()))?;
    let hub = state.hub.clone();
    Ok(ws
        .max_message_size(stream::MAX_FRAME)
        .max_frame_size(stream::MAX_FRAME)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| hub.track(stream::run(socket, state, auth, q.since)))
        .into_response())
}
