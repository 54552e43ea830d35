//! Command-line flags and their environment variables.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "tandem", version, about = "Tandem: consent-first check-ins for couples")]
pub struct Config {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "TANDEM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Database URL: sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "TANDEM_DATABASE_URL", default_value = "sqlite://tandem.db")]
    pub database_url: String,

    /// The address people open in their browser, e.g. https://tandem.example.org.
    /// Used for invite links and as the default allowed origin.
    #[arg(long, env = "TANDEM_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Origins allowed to open the websocket and send state-changing requests,
    /// comma-separated. Default: the public URL, or http://localhost:PORT,
    /// http://127.0.0.1:PORT and http://[::1]:PORT of the listening port.
    #[arg(long, env = "TANDEM_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Mark cookies Secure and name them with the __Host- prefix (needs HTTPS in front).
    /// On by default when the public URL is https.
    #[arg(long, env = "TANDEM_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,

    /// A session ends after this many minutes without use. Its "last seen" is refreshed
    /// once older than a quarter of this (at most a minute), so use more often than every
    /// three quarters of it, an open websocket's pings included, keeps it alive.
    #[arg(long, env = "TANDEM_SESSION_IDLE_MINUTES", default_value_t = 7 * 24 * 60)]
    pub session_idle_minutes: i64,

    /// A session ends this many minutes after log-in, however active.
    #[arg(long, env = "TANDEM_SESSION_MAX_MINUTES", default_value_t = 30 * 24 * 60)]
    pub session_max_minutes: i64,

    /// Invite codes expire after this many minutes.
    #[arg(long, env = "TANDEM_INVITE_MINUTES", default_value_t = 24 * 60)]
    pub invite_minutes: i64,

    /// Peer addresses of reverse proxies whose X-Forwarded-For is believed.
    #[arg(long, env = "TANDEM_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,

    /// Password hashes computed at once (each takes 19 MiB).
    #[arg(long, env = "TANDEM_HASH_CONCURRENCY", default_value_t = 2)]
    pub hash_concurrency: usize,

    /// Log-in, sign-up and invite attempts allowed per client address per minute.
    #[arg(long, env = "TANDEM_ATTEMPTS_PER_MINUTE", default_value_t = 10)]
    pub attempts_per_minute: u32,

    /// Messages one websocket may send per second (bursts of four times that are allowed);
    /// more get a `rate_limited` error and are not applied.
    #[arg(long, env = "TANDEM_WS_MESSAGES_PER_SECOND", default_value_t = 50)]
    pub ws_messages_per_second: u32,

    /// Seconds between websocket pings; a peer silent for three intervals is dropped.
    /// Each ping counts as use of the session: keep this under three quarters of the
    /// session idle time, or an open websocket's session idles out.
    #[arg(long, env = "TANDEM_WS_PING_SECONDS", default_value_t = 20)]
    pub ws_ping_seconds: u64,

    /// Directory of the web app's static files.
    #[arg(long, env = "TANDEM_WEB_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/web"))]
    pub web_dir: PathBuf,
}

impl Config {
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
            .unwrap_or_else(|| self.public_url.as_deref().is_some_and(|u| u.starts_with("https://")))
    }

    /// The allowed origins, defaulting from the public URL or the bound address.
    pub fn origins(&self, bound: SocketAddr) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect();
        }
        if let Some(url) = &self.public_url {
            return vec![origin_of(url)];
        }
        let port = bound.port();
        vec![
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
            format!("http://[::1]:{port}"),
        ]
    }

    /// Base URL for links (invite links).
    pub fn base_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://localhost:{}", bound.port()),
        }
    }
}

/// scheme://host[:port] of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}
