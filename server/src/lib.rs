//! Tandem: consent-first check-ins for couples.
//!
//! `serve` runs the whole service on a listener; `main` only parses flags and binds.

pub mod account;
pub mod commands;
pub mod config;
pub mod consent;
pub mod entry;
pub mod error;
pub mod http;
mod hub;
pub mod json;
pub mod limits;
pub mod pairing;
mod passwords;
pub mod records;
mod state;
pub mod store;
pub mod stream;
pub mod summary;
pub mod time;
mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::Config;
pub use state::AppState;

/// Serves until `shutdown` resolves, then closes every websocket with a close frame.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let sweeper = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            limits.sweep();
        }
    });
    // Other instances' changes (PostgreSQL LISTEN/NOTIFY) wake this instance's sockets.
    let listener_task = match state.store.listen().await {
        Ok(Some(mut signals)) => {
            let hub = state.hub.clone();
            Some(tokio::spawn(async move {
                use futures_util::StreamExt;
                while let Some(signal) = signals.next().await {
                    hub.apply(signal);
                }
            }))
        }
        Ok(None) => None,
        Err(e) => return Err(std::io::Error::other(format!("cannot listen for notifications: {e}"))),
    };
    let hub = state.hub.clone();
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let hub_for_signal = hub.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Upgraded sockets are not part of axum's graceful shutdown: close them here.
            hub_for_signal.shutdown().await;
        })
        .await;
    hub.shutdown().await;
    sweeper.abort();
    if let Some(t) = listener_task {
        t.abort();
    }
    result
}
