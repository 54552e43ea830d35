//! The state every request handler and socket shares.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::HeaderValue;

use crate::config::Config;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::passwords::Passwords;
use crate::store::{self, Store};

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    pub passwords: Arc<Passwords>,
    pub limits: Arc<Limits>,
    pub origins: Arc<[String]>,
    pub base_url: Arc<str>,
}

impl AppState {
    /// Opens the database (running migrations) for a server bound to `bound`.
    pub async fn new(config: Config, bound: SocketAddr) -> Result<AppState, ApiError> {
        let store = store::connect(&config.database_url).await?;
        Ok(AppState {
            store,
            hub: Arc::new(Hub::default()),
            passwords: Arc::new(Passwords::new(config.hash_concurrency)),
            limits: Arc::new(Limits::new(config.attempts_per_minute, config.trusted_proxies.clone())),
            origins: config.origins(bound).into(),
            base_url: config.base_url(bound).into(),
            config: Arc::new(config),
        })
    }

    pub fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        origin.to_str().is_ok_and(|o| self.origins.iter().any(|a| a == o))
    }
}
