//! HTTP routes: accounts, pairing, entries, the event catch-up, the websocket upgrade,
//! privacy, the therapist's summary, the OpenAPI document and the web app's static files.
//!
//! Each route module holds its slice of the route table (`ROUTES`); `routes` chains them
//! and `router` serves exactly those rows.

mod auth;
mod cookies;
mod couple;
mod entries;
mod extract;
mod meta;
mod middleware;
mod privacy;
mod route;
mod therapist;
mod ws;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;
use crate::state::AppState;

pub use extract::MAX_BODY;
pub use route::{Route, API_PREFIX};

/// Every route of the API, in the order `router` adds them.
pub fn routes() -> impl Iterator<Item = &'static Route> {
    [
        meta::ROUTES,
        auth::ROUTES,
        couple::ROUTES,
        entries::ROUTES,
        ws::ROUTES,
        therapist::ROUTES,
        privacy::ROUTES,
    ]
    .into_iter()
    .flatten()
}

pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for route in routes() {
        let path = route.api_path();
        api = api.route(path, route.method_router(&state));
    }
    let api = api
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::same_origin_writes,
        ));

    let web = &state.config.web_dir;
    let static_files = ServeDir::new(web).fallback(ServeFile::new(web.join("index.html")));
    Router::new()
        .nest("/api", api)
        .fallback_service(static_files)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .with_state(state)
}
