//! Password hashing (argon2id), bounded so a burst of log-ins cannot exhaust memory or
//! starve the async runtime.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Argon2id at OWASP's minimum: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"),
    )
}

/// Hashes and checks passwords on the blocking pool, a bounded number at a time, so a
/// burst of log-ins can neither exhaust memory nor starve the async runtime.
pub struct Passwords {
    permits: Semaphore,
    /// Verified against when the user is unknown, so both cases cost the same.
    dummy_hash: String,
}

impl Passwords {
    pub fn new(concurrency: usize) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2()
            .hash_password(b"not a real password", &salt)
            .expect("hashing works")
            .to_string();
        Passwords {
            permits: Semaphore::new(concurrency.max(1)),
            dummy_hash,
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// True if `password` matches `hash`; with no hash, spends the same time and fails.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(ok && known)
    }
}
