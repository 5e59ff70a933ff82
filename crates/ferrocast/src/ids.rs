//! Identifiers, secrets and timestamps.

use rand::distributions::Alphanumeric;
use rand::{Rng, rngs::OsRng};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An id as the seeds show them: a prefix naming the kind, then a random suffix (`stream_…`).
pub fn new_id(prefix: &str) -> String {
    let suffix: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect();
    format!("{prefix}_{suffix}")
}

/// A publish secret from the operating system's generator.
pub fn secret(len: usize) -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Compares secrets without leaking, through timing, how many leading bytes matched.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Now, in UTC, in the one text form the database stores (sorts chronologically as text).
pub fn now() -> String {
    format_time(chrono::Utc::now())
}

pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_are_random_and_shaped() {
        let a = new_id("stream");
        assert!(a.starts_with("stream_"));
        assert_eq!(a.len(), "stream_".len() + 16);
        assert_ne!(a, new_id("stream"));
        let k = secret(24);
        assert_eq!(k.len(), 24);
        assert!(k.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }

    #[test]
    fn times_round_trip_and_sort() {
        let t = now();
        assert!(parse_time(&t).is_some());
        assert!(format_time(chrono::DateTime::UNIX_EPOCH) < t);
    }
}
