//! Playback tokens for private streams: `EXPIRY.MAC`, an HMAC-SHA256 over the stream id and the
//! expiry (Unix seconds) keyed with the JWT secret. Players get one inside the playlist URIs
//! after proving access once, so the stream password never travels in segment URLs or logs.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long a token is good for. A player keeps reusing the media playlist URL it got from the
/// master playlist, so this bounds one uninterrupted viewing.
pub const TTL_SECS: u64 = 12 * 3600;

fn mac(secret: &str, stream_id: &str, expires: u64) -> Option<HmacSha256> {
    // HMAC takes keys of any length, so this never fails in practice.
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    // Domain-separated so a MAC made here can never be mistaken for another use of the secret.
    m.update(b"ferrocast-playback\0");
    m.update(stream_id.as_bytes());
    m.update(b"\0");
    m.update(expires.to_string().as_bytes());
    Some(m)
}

pub fn sign(secret: &str, stream_id: &str, now: u64) -> Option<String> {
    let expires = now + TTL_SECS;
    let tag = mac(secret, stream_id, expires)?.finalize().into_bytes();
    Some(format!("{expires}.{}", hex::encode(tag)))
}

/// Whether `token` grants playback of `stream_id` at `now` (compared in constant time).
pub fn verify(secret: &str, stream_id: &str, token: &str, now: u64) -> bool {
    let Some((expires, tag)) = token.split_once('.') else {
        return false;
    };
    let (Ok(expires), Ok(tag)) = (expires.parse::<u64>(), hex::decode(tag)) else {
        return false;
    };
    expires > now && mac(secret, stream_id, expires).is_some_and(|m| m.verify_slice(&tag).is_ok())
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_binds_stream_secret_and_time() {
        let t = sign("secret", "stream_a", 1000).unwrap_or_default();
        assert!(verify("secret", "stream_a", &t, 1000));
        assert!(!verify("secret", "stream_b", &t, 1000));
        assert!(!verify("other", "stream_a", &t, 1000));
        assert!(!verify("secret", "stream_a", &t, 1000 + TTL_SECS));
        let forged = t.replacen(
            &(1000 + TTL_SECS).to_string(),
            &(2000 + TTL_SECS).to_string(),
            1,
        );
        assert!(!verify("secret", "stream_a", &forged, 1000));
        assert!(!verify("secret", "stream_a", "garbage", 1000));
        assert!(!verify("secret", "stream_a", "1.zz", 0));
    }
}
