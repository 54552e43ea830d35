//! The session cookie: setting it at the start of a session, removing it at the end.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::account::{cookie_name, new_token};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::User;
use crate::time::now_ms;

/// The session cookie: HttpOnly, SameSite=Strict, Path=/, Secure behind TLS.
fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let secure = state.config.secure_cookies();
    Cookie::build((cookie_name(secure), token))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::minutes(state.config.session_max_minutes))
        .build()
}

pub(crate) fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let secure = state.config.secure_cookies();
    let mut c = Cookie::build((cookie_name(secure), ""))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .build();
    c.make_removal();
    c
}

pub(crate) async fn start_session(state: &AppState, jar: CookieJar, user: &User) -> Result<CookieJar, ApiError> {
    let (token, hash) = new_token();
    let now = now_ms();
    state
        .store
        .create_session(&hash, &user.id, now, now + state.config.session_max_minutes * 60_000)
        .await?;
    Ok(jar.add(session_cookie(state, token)))
}
