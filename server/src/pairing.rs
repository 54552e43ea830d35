//! Invite codes: short, human-typeable, single-use, expiring.
//!
//! Eight characters of Crockford's base32 (no I, L, O, U) give 2^40 codes; with attempts
//! rate-limited per address and per account, guessing a live one is impractical.

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LEN: usize = 8;

/// A fresh code, shown as `ABCD-EFGH`.
pub fn new_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let raw: String = (0..LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &raw[..4], &raw[4..])
}

/// Reads a typed code leniently (case, dashes, spaces, O for 0, I/L for 1).
pub fn normalize(input: &str) -> Result<String, ApiError> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    if code.len() != LEN || !code.bytes().all(|b| ALPHABET.contains(&b)) {
        return Err(ApiError::invalid(
            "code",
            "an invite code is 8 letters and digits, like ABCD-EFGH",
        ));
    }
    Ok(code)
}

/// Codes are stored hashed, like session tokens.
pub fn code_hash(normalized: &str) -> String {
    Sha256::digest(normalized.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_codes_normalize_to_themselves() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(normalize(&code).unwrap(), code.replace('-', ""));
        }
    }

    #[test]
    fn typing_slips_are_forgiven_and_junk_refused() {
        assert_eq!(normalize("abcd efgo").unwrap(), "ABCDEFG0");
        assert_eq!(normalize("il00-0000").unwrap(), "11000000");
        assert!(normalize("ABCD-EFG").is_err());
        assert!(normalize("ABCD-EFGU").is_err());
    }
}
