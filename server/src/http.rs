//! HTTP routes: accounts, pairing, entries, the event catch-up, the websocket upgrade,
//! the OpenAPI document and the web app's static files.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_http::services::{ServeDir, ServeFile};

use crate::account::{self, AuthUser, LogIn, SignUp};
use crate::commands::{self, Ack, ChangeConsent, Command, CreateEntry, DeleteEntry, SetOutcome};
use crate::error::ApiError;
use crate::store::{CoupleInfo, NewUser};
use crate::time::{now_ms, rfc3339};
use crate::{consent, pairing, stream, AppState};

/// Largest HTTP request body accepted.
pub const MAX_BODY: usize = 16 * 1024;

/// One route of the API: its method, its full path (under `/api`) and the handler that
/// serves it. `router` is built from these rows only, and the tests compare the same rows
/// with docs/openapi.json, so a route cannot be served without being documented.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    handler: fn(MethodFilter, &AppState) -> MethodRouter<AppState>,
}

/// A row of a route table: `route!(GET "/api/me" => me)`.
macro_rules! route {
    ($method:ident $path:literal => $handler:expr) => {
        $crate::http::Route::new(::axum::http::Method::$method, $path, |filter, _| {
            ::axum::routing::on(filter, $handler)
        })
    };
}
pub(crate) use route;

impl Route {
    pub(crate) const fn new(
        method: Method,
        path: &'static str,
        handler: fn(MethodFilter, &AppState) -> MethodRouter<AppState>,
    ) -> Route {
        Route { method, path, handler }
    }
}

/// Where every API path lives.
pub const API_PREFIX: &str = "/api";

/// The routes served by this module.
const ROUTES: &[Route] = &[
    route!(GET "/api/health" => health),
    route!(GET "/api/openapi.json" => openapi),
    route!(GET "/api/vocabulary" => || async { Json(crate::entry::vocabulary()) }),
    route!(POST "/api/signup" => signup),
    route!(POST "/api/login" => login),
    route!(POST "/api/logout" => logout),
    route!(GET "/api/me" => me),
    route!(GET "/api/couple" => couple),
    route!(POST "/api/couple" => create_couple),
    route!(POST "/api/couple/join" => join_couple),
    route!(POST "/api/couple/unpair" => unpair),
    route!(GET "/api/entries" => list_entries),
    route!(POST "/api/entries" => create_entry),
    route!(GET "/api/entries/{id}" => get_entry),
    route!(DELETE "/api/entries/{id}" => delete_entry),
    route!(GET "/api/entries/{id}/preview" => preview_entry),
    route!(POST "/api/entries/{id}/share" => share_entry),
    route!(POST "/api/entries/{id}/withdraw" => withdraw_entry),
    route!(POST "/api/entries/{id}/outcome" => set_outcome),
    route!(GET "/api/events" => events),
    route!(GET "/api/ws" => websocket),
];

/// The routes of `privacy::routes()`. Its handlers are private to that module, so each row
/// hands its request to that router; a route it has but this table lacks is not served.
const PRIVACY_ROUTES: &[Route] = &[
    privacy_route(Method::POST, "/api/logout/all"),
    privacy_route(Method::POST, "/api/password"),
    privacy_route(Method::GET, "/api/me/export"),
    privacy_route(Method::DELETE, "/api/me"),
];

const fn privacy_route(method: Method, path: &'static str) -> Route {
    Route::new(method, path, |filter, state| {
        axum::routing::on_service(filter, crate::privacy::routes().with_state(state.clone()))
    })
}

/// Every route of the API, in the order `router` adds them: this module's, then
/// `therapist::routes()` and the privacy routes.
pub fn routes() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().chain(crate::therapist::routes()).chain(PRIVACY_ROUTES)
}

pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for route in routes() {
        let path = route
            .path
            .strip_prefix(API_PREFIX)
            .unwrap_or_else(|| panic!("{} is not under {API_PREFIX}", route.path));
        let filter = MethodFilter::try_from(route.method.clone())
            .unwrap_or_else(|_| panic!("no method filter for {} {}", route.method, route.path));
        api = api.route(path, (route.handler)(filter, &state));
    }
    let api = api
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), same_origin_writes));

    let web = &state.config.web_dir;
    let static_files = ServeDir::new(web).fallback(ServeFile::new(web.join("index.html")));
    Router::new()
        .nest("/api", api)
        .fallback_service(static_files)
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        .with_state(state)
}

/// Refuses state-changing requests from other sites. SameSite=Strict cookies already
/// keep the session off cross-site requests; this also stops cookie-less tricks such as
/// a cross-site sign-up or log-in (login CSRF).
async fn same_origin_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let headers = req.headers();
        let cross_site = match headers.get(header::ORIGIN) {
            Some(origin) => !state.origin_allowed(origin),
            None => headers
                .get("sec-fetch-site")
                .is_some_and(|v| v != "same-origin" && v != "none"),
        };
        if cross_site {
            return ApiError::Forbidden("cross-site request refused").into_response();
        }
    }
    next.run(req).await
}

async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             manifest-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if state.config.secure_cookies() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// A JSON body, parsed with the failing field named in the error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::BadRequest(
                "send a JSON body with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::TooLarge(MAX_BODY))?;
        // Strict: a key named twice is refused, not resolved to its last value.
        let value: Value =
            crate::entry::parse_json(&bytes).map_err(|e| ApiError::BadRequest(format!("not valid JSON: {e}")))?;
        Ok(ApiJson(crate::entry::from_value("", value)?))
    }
}

/// Query parameters, parsed with the failing parameter named in a JSON error.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let field = e.path().to_string();
            let message = e.inner().to_string();
            let field = if field == "." {
                message.split('`').nth(1).unwrap_or("query").to_string()
            } else {
                field
            };
            ApiError::invalid(&field, message)
        })
    }
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../docs/openapi.json"),
    )
}

pub fn user_json(user: &crate::store::User) -> Value {
    json!({ "id": user.id, "email": user.email, "display_name": user.display_name, "role": user.role })
}

/// A user's couple as `viewer` sees it (`null` when not in one).
pub fn couple_json(info: Option<&CoupleInfo>, viewer: &str) -> Value {
    let Some(info) = info else { return Value::Null };
    let therapist = info.therapist.as_ref().map(|l| {
        let mine_is_a = info.couple.partner_a == viewer;
        let (me, other) = if mine_is_a {
            (l.approved_a_at, l.approved_b_at)
        } else {
            (l.approved_b_at, l.approved_a_at)
        };
        json!({
            "id": l.therapist_id,
            "display_name": l.therapist_name,
            "status": if l.active_at.is_some() { "active" } else { "proposed" },
            "approved_by_me": me.is_some(),
            "approved_by_partner": other.is_some(),
            "active_since": l.active_at.map(rfc3339),
        })
    });
    json!({
        "therapist": therapist,
        "id": info.couple.id,
        "status": if info.couple.partner_b.is_some() { "paired" } else { "waiting" },
        "partner": info.partner.as_ref().map(|(id, name)| json!({ "id": id, "display_name": name })),
        "created_at": rfc3339(info.couple.created_at),
        "paired_at": info.couple.paired_at.map(rfc3339),
    })
}

pub async fn start_session(state: &AppState, jar: CookieJar, user: &crate::store::User) -> Result<CookieJar, ApiError> {
    let (token, hash) = account::new_token();
    let now = now_ms();
    state
        .store
        .create_session(&hash, &user.id, now, now + state.config.session_max_minutes * 60_000)
        .await?;
    Ok(jar.add(account::session_cookie(state, token)))
}

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
    Ok((StatusCode::NO_CONTENT, jar.add(account::removal_cookie(&state))))
}

async fn me(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let couple = state.store.couple_of(&auth.user.id).await?;
    Ok(Json(json!({
        "user": user_json(&auth.user),
        "couple": couple_json(couple.as_ref(), &auth.user.id),
        "session": { "expires_at": rfc3339(auth.session.expires_at.min(auth.session.last_seen_at.max(now_ms()) + state.config.session_idle_minutes * 60_000)) },
    })))
}

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
        commands::execute(&state, &auth.user, Command::Create(form)).await?,
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
        commands::execute(&state, &auth.user, Command::Share(id, form)).await?,
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
        commands::execute(&state, &auth.user, Command::Withdraw(id, form)).await?,
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
        commands::execute(&state, &auth.user, Command::SetOutcome(id, form)).await?,
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
        commands::execute(&state, &auth.user, Command::Delete(id, form)).await?,
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
