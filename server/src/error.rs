//! One error type for every route and websocket message.
//!
//! Messages are written for people and never echo entry text, passwords or tokens. "Not
//! found" is also the answer for someone else's ids, so an error never tells a caller
//! that an entry they may not see exists.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field failed validation; `field` names it (`body.mood`).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("log in first")]
    Unauthorized,
    #[error("that email and password do not match an account")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// A state conflict; `code` is stable for clients.
    #[error("{message}")]
    Conflict { code: &'static str, message: &'static str },
    #[error("too many attempts; try again in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    #[error("the request is larger than {0} bytes")]
    TooLarge(usize),
    #[error("something went wrong on our side")]
    Internal(#[source] BoxError),
}

/// The source of an internal error (logged, never shown).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: &'static str) -> Self {
        ApiError::Conflict { code, message }
    }
    pub fn internal(e: impl Into<BoxError>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid { .. } => "invalid",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadCredentials => "bad_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict { code, .. } => code,
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body shared by HTTP responses and websocket `error` messages.
    pub fn body(&self) -> ErrorBody {
        if let ApiError::Internal(e) = self {
            // The source may quote SQL; it goes to the log, not to the client.
            tracing::error!(error = %e, "internal error");
        }
        ErrorBody {
            code: self.code(),
            field: match self {
                ApiError::Invalid { field, .. } => Some(field.clone()),
                _ => None,
            },
            message: match self {
                ApiError::Invalid { message, .. } => message.clone(),
                other => other.to_string(),
            },
            retry_after: match self {
                ApiError::TooManyRequests { retry_after } => Some(*retry_after),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.body();
        let mut res = (status, axum::Json(serde_json::json!({ "error": body }))).into_response();
        if let Some(s) = body.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}
