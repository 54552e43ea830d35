//! Rate limits on guessable things: log-ins, sign-ups, invite codes.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

pub struct Limits {
    /// Attempts per client address (log-in, sign-up, join), per minute.
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Log-in attempts per account: at most 100 an hour (OWASP ASVS 2.2.1).
    per_account: DefaultKeyedRateLimiter<String>,
    /// Invite-code attempts per user, per minute.
    per_user: DefaultKeyedRateLimiter<String>,
    trusted_proxies: Vec<IpAddr>,
}

fn too_many(e: governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    let wait = e.wait_time_from(DefaultClock::default().now());
    ApiError::TooManyRequests {
        retry_after: wait.as_secs().max(1),
    }
}

impl Limits {
    pub fn new(attempts_per_minute: u32, trusted_proxies: Vec<IpAddr>) -> Self {
        let per_minute = Quota::per_minute(NonZeroU32::new(attempts_per_minute.max(1)).expect("non-zero"));
        let hundred_an_hour = Quota::per_hour(NonZeroU32::new(100).expect("non-zero"));
        Limits {
            per_address: RateLimiter::keyed(per_minute),
            per_account: RateLimiter::keyed(hundred_an_hour),
            per_user: RateLimiter::keyed(per_minute),
            trusted_proxies,
        }
    }

    pub fn address(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_address.check_key(&ip).map_err(too_many)
    }

    pub fn account(&self, email: &str) -> Result<(), ApiError> {
        self.per_account.check_key(&email.to_string()).map_err(too_many)
    }

    pub fn invite_attempt(&self, user_id: &str) -> Result<(), ApiError> {
        self.per_user.check_key(&user_id.to_string()).map_err(too_many)
    }

    /// Forgets keys whose limits have fully replenished (call periodically).
    pub fn sweep(&self) {
        self.per_address.retain_recent();
        self.per_account.retain_recent();
        self.per_user.retain_recent();
    }

    /// The client's address: the peer, or the last X-Forwarded-For hop when the peer is
    /// a trusted proxy (a client can write any X-Forwarded-For it likes).
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer.ip()) {
            return peer.ip();
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .unwrap_or(peer.ip())
    }
}
