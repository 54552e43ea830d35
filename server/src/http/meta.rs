//! The service's own routes: health, the OpenAPI document and the entry vocabulary.

use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::route::{route, Route};

pub(crate) const ROUTES: &[Route] = &[
    route!(GET "/api/health" => health),
    route!(GET "/api/openapi.json" => openapi),
    route!(GET "/api/vocabulary" => || async { Json(crate::entry::vocabulary()) }),
];

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../../docs/openapi.json"),
    )
}
