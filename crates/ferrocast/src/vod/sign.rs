//! Signed media URLs for videos that are not public. A player cannot send an Authorization header
//! for every segment (a `<video>` element sends none), so the owner's playlists carry `?sig=` on
//! every URI: an expiry and an HMAC-SHA256 over the video id and that expiry, keyed with the JWT
//! secret. Anyone holding the URL can play until it expires, which is what a share link is.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a signed URL plays.
pub const VALID_SECONDS: i64 = 6 * 3600;

fn mac(secret: &str, video_id: &str, expires: i64) -> Option<Hmac<Sha256>> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    m.update(b"ferrocast-media\n");
    m.update(video_id.as_bytes());
    m.update(b"\n");
    m.update(expires.to_string().as_bytes());
    Some(m)
}

/// `<expiry>.<hex hmac>`.
pub fn sign(secret: &str, video_id: &str, now: i64) -> String {
    let expires = now.saturating_add(VALID_SECONDS);
    match mac(secret, video_id, expires) {
        Some(m) => format!("{expires}.{}", hex::encode(m.finalize().into_bytes())),
        None => String::new(),
    }
}

pub fn verify(secret: &str, video_id: &str, token: &str, now: i64) -> bool {
    let Some((exp, sig)) = token.split_once('.') else {
        return false;
    };
    let (Ok(expires), Ok(sig)) = (exp.parse::<i64>(), hex::decode(sig)) else {
        return false;
    };
    if expires < now || expires > now.saturating_add(VALID_SECONDS + 60) {
        return false;
    }
    // `verify_slice` compares in constant time.
    mac(secret, video_id, expires).is_some_and(|m| m.verify_slice(&sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_video_and_time() {
        let t = sign("k", "video_a", 1000);
        assert!(verify("k", "video_a", &t, 1000));
        assert!(!verify("k", "video_b", &t, 1000));
        assert!(!verify("other", "video_a", &t, 1000));
        assert!(!verify("k", "video_a", &t, 1000 + VALID_SECONDS + 1));
        assert!(!verify("k", "video_a", "garbage", 1000));
        let tampered = t.replacen(&(1000 + VALID_SECONDS).to_string(), "99999999", 1);
        assert!(!verify("k", "video_a", &tampered, 1000));
    }
}
