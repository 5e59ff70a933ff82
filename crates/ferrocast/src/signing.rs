//! Signed, expiring access tokens for media URLs: `EXPIRY.MAC`, an HMAC-SHA256 over a purpose, an
//! id and the expiry (Unix seconds), keyed with the JWT secret. A player cannot send an
//! Authorization header with every segment request (a `<video>` element sends none), so after
//! access is proven once the playlists carry such a token instead of a password or a bearer
//! token. Anyone holding the URL can play until it expires, which is what a share link is.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a token is for, and for how long it is good. The purpose is part of the MAC, so a token
/// made for one use can never be taken for another use of the same secret.
pub struct Scope {
    purpose: &'static str,
    pub ttl_secs: u64,
}

/// A private live stream's playlists, segments and thumbnail (`?t=`). A player keeps reusing the
/// media playlist URL it got from the master, so this bounds one uninterrupted viewing.
pub const LIVE_PLAYBACK: Scope = Scope {
    purpose: "ferrocast-playback",
    ttl_secs: 12 * 3600,
};

/// A non-public video's manifests, segments, pictures and preview (`?sig=`).
pub const VIDEO_MEDIA: Scope = Scope {
    purpose: "ferrocast-media",
    ttl_secs: 6 * 3600,
};

/// A video playback session (`?s=`): names whose media requests add up to one view. It grants
/// nothing; it only proves the session was handed out here, for this video, so made-up ids cannot
/// occupy the server's table of sessions.
pub const VIEW_SESSION: Scope = Scope {
    purpose: "ferrocast-view-session",
    ttl_secs: 12 * 3600,
};

impl Scope {
    fn mac(&self, secret: &str, id: &str, expires: u64) -> Option<HmacSha256> {
        // HMAC takes keys of any length, so this never fails in practice.
        let mut m = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
        m.update(self.purpose.as_bytes());
        m.update(b"\0");
        m.update(id.as_bytes());
        m.update(b"\0");
        m.update(expires.to_string().as_bytes());
        Some(m)
    }

    pub fn sign(&self, secret: &str, id: &str, now: u64) -> String {
        let expires = now.saturating_add(self.ttl_secs);
        match self.mac(secret, id, expires) {
            Some(m) => format!("{expires}.{}", hex::encode(m.finalize().into_bytes())),
            None => String::new(),
        }
    }

    /// Whether `token` grants access to `id` at `now`; the MAC is compared in constant time.
    pub fn verify(&self, secret: &str, id: &str, token: &str, now: u64) -> bool {
        let Some((expires, tag)) = token.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(tag)) = (expires.parse::<u64>(), hex::decode(tag)) else {
            return false;
        };
        // An expiry further out than this scope ever signs was not made here.
        if expires <= now || expires > now.saturating_add(self.ttl_secs + 60) {
            return false;
        }
        self.mac(secret, id, expires)
            .is_some_and(|m| m.verify_slice(&tag).is_ok())
    }
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
    fn tokens_bind_scope_id_secret_and_time() {
        let s = &LIVE_PLAYBACK;
        let t = s.sign("secret", "stream_a", 1000);
        assert!(s.verify("secret", "stream_a", &t, 1000));
        assert!(!s.verify("secret", "stream_b", &t, 1000));
        assert!(!s.verify("other", "stream_a", &t, 1000));
        assert!(!s.verify("secret", "stream_a", &t, 1000 + s.ttl_secs));
        assert!(!VIDEO_MEDIA.verify("secret", "stream_a", &t, 1000));
        let forged = t.replacen(
            &(1000 + s.ttl_secs).to_string(),
            &(1500 + s.ttl_secs).to_string(),
            1,
        );
        assert!(!s.verify("secret", "stream_a", &forged, 1000));
        assert!(!s.verify("secret", "stream_a", "garbage", 1000));
        assert!(!s.verify("secret", "stream_a", "1.zz", 0));
    }
}
