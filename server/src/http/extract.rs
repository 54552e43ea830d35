//! Extractors: JSON bodies and query strings with the failing field named in the error,
//! and the logged-in user from the session cookie.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::account::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest HTTP request body accepted.
pub const MAX_BODY: usize = 16 * 1024;

/// A JSON body, parsed with the failing field named in the error.
pub(crate) struct ApiJson<T>(pub(crate) T);

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
            crate::json::parse_json(&bytes).map_err(|e| ApiError::BadRequest(format!("not valid JSON: {e}")))?;
        Ok(ApiJson(crate::json::from_value("", value)?))
    }
}

/// Query parameters, parsed with the failing parameter named in a JSON error.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
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

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        AuthUser::from_headers(state, &parts.headers).await
    }
}
