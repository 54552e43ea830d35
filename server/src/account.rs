//! Accounts, passwords and sessions.

use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Session, User};

/// Sign-up fields. No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub display_name: String,
    #[serde(default = "partner_role")]
    pub role: Role,
}

fn partner_role() -> Role {
    Role::Partner
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Partner,
    Therapist,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Partner => "partner",
            Role::Therapist => "therapist",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogIn {
    pub email: String,
    pub password: String,
}

/// Lower-cased, trimmed, and shaped like an address.
pub fn parse_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(ApiError::invalid("email", "must be an email address"))
    }
}

pub fn check_password(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < 10 {
        return Err(ApiError::invalid("password", "must be at least 10 characters"));
    }
    if n > 256 {
        return Err(ApiError::invalid("password", "must be at most 256 characters"));
    }
    Ok(())
}

pub fn parse_display_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 || n > 60 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("display_name", "must be 1 to 60 characters"));
    }
    Ok(name.to_string())
}

/// A new session token (256 random bits, URL-safe) and the hash that is stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// Only hashes of tokens are stored, so a leaked database holds no usable session.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tandem_session"
    } else {
        "tandem_session"
    }
}

/// The logged-in user of a request, from the session cookie.
pub struct AuthUser {
    pub user: User,
    pub session: Session,
    pub token_hash: String,
}

impl AuthUser {
    pub async fn from_headers(state: &AppState, headers: &axum::http::HeaderMap) -> Result<AuthUser, ApiError> {
        let jar = CookieJar::from_headers(headers);
        let token = jar
            .get(cookie_name(state.config.secure_cookies()))
            .ok_or(ApiError::Unauthorized)?;
        Self::from_token_hash(state, &token_hash(token.value()))
            .await?
            .ok_or(ApiError::Unauthorized)
    }

    /// The session's user while the session is live (not idle too long, not too old).
    pub async fn from_token_hash(state: &AppState, token_hash: &str) -> Result<Option<AuthUser>, ApiError> {
        let now = crate::time::now_ms();
        let idle_after = now - state.config.session_idle_minutes * 60_000;
        let found = state.store.session_user(token_hash, now, idle_after).await?;
        Ok(found.map(|(user, session)| AuthUser {
            user,
            session,
            token_hash: token_hash.to_string(),
        }))
    }
}
