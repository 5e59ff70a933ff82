//! Views counted from playback. A player sends no signal when someone watches, and counting
//! requests would count every reload, seek and parallel byte range. So the manifest a player
//! starts from (the HLS master playlist, the DASH manifest) hands out a playback session, `s=`,
//! which rides along in every URI the player is given; each segment delivered to that session
//! adds the stretch of media it holds, counted once per segment number whatever the rendition or
//! the number of requests; and the session counts as one view the first time that total reaches
//! `VIEW_COUNT_SECONDS` (or the whole video, for shorter ones). Behind a CDN (`CDN_BASE_URL`)
//! media segments are shared by every viewer and served by the CDN, so the session rides on the
//! playlists and init segments only and counts when its player fetches its first init segment.
//!
//! The session id is signed rather than remembered when it is handed out: manifests fetched by
//! crawlers or players that never play cost no memory, a made-up id is ignored, and a session
//! survives a restart. The in-memory table only holds sessions that are receiving media, is
//! bounded, and forgets idle ones. "Exactly once" rests on the database: a counted session is a
//! row of `video_views` (actor `session:<id>`), so a session forgotten by the table, or fed by
//! two instances, still counts once.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use tokio::time::Instant;

use super::ladder::SEGMENT_SECONDS;
use crate::signing::{self, VIEW_SESSION};
use crate::state::AppState;
use crate::videos::store::{self, VideoRow};

/// A session not heard from for this long is dropped from the table. A paused player that comes
/// back later only has to play the threshold again; a counted one cannot count twice (the row).
const IDLE: Duration = Duration::from_secs(10 * 60);

/// Sessions receiving media at once that the table follows; beyond it new sessions are not
/// counted until idle ones leave, so a flood of sessions costs a bounded amount of memory.
pub const MAX_SESSIONS: usize = 50_000;

const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Session rows outlive their tokens by this much before they are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

const ID_LEN: usize = 16;

/// A verified playback session: its id and the UTC day it was opened (part of its row's key, so
/// the same session always maps to the same row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token: String,
    id: String,
    day: String,
}

enum Progress {
    /// Distinct segment numbers delivered so far and the media they hold.
    Watching {
        segments: Vec<u32>,
        ms: u64,
    },
    Counted,
}

struct Tracked {
    last_seen: Instant,
    progress: Progress,
}

struct Table {
    sessions: HashMap<String, Tracked>,
    last_sweep: Instant,
    last_prune: Option<Instant>,
    warned_full: bool,
}

pub struct ViewSessions {
    /// 0: views are not counted from playback and no session is handed out.
    threshold_ms: u64,
    max: usize,
    table: Mutex<Table>,
}

impl ViewSessions {
    pub fn new(threshold_secs: u64, max: usize) -> Self {
        Self {
            threshold_ms: threshold_secs.saturating_mul(1000),
            max,
            table: Mutex::new(Table {
                sessions: HashMap::new(),
                last_sweep: Instant::now(),
                last_prune: None,
                warned_full: false,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.threshold_ms > 0
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic elsewhere mid-update leaves at worst one session's progress off.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How much of a video a session must receive to count.
    fn threshold_for(&self, duration_ms: Option<u64>) -> u64 {
        match duration_ms {
            Some(d) => self.threshold_ms.min(d),
            None => self.threshold_ms,
        }
    }

    /// Adds segment `number` (holding `ms` of media) to session `id`. True exactly once per
    /// session: when its total first reaches `threshold_ms`.
    fn record(&self, id: &str, number: u32, ms: u64, threshold_ms: u64, now: Instant) -> bool {
        let mut t = self.lock();
        if now.duration_since(t.last_sweep) >= SWEEP_EVERY {
            sweep(&mut t, now);
        }
        if !t.sessions.contains_key(id) && t.sessions.len() >= self.max {
            // Sweeping is a pass over the whole table, so a full one is swept at most once a
            // second however many new sessions knock.
            if now.duration_since(t.last_sweep) >= Duration::from_secs(1) {
                sweep(&mut t, now);
            }
            if t.sessions.len() >= self.max {
                if !t.warned_full {
                    t.warned_full = true;
                    tracing::warn!(
                        sessions = t.sessions.len(),
                        "the table of playback sessions is full; new sessions are not counted \
                         as views until idle ones leave"
                    );
                }
                return false;
            }
        }
        let entry = t.sessions.entry(id.to_string()).or_insert_with(|| Tracked {
            last_seen: now,
            progress: Progress::Watching {
                segments: Vec::new(),
                ms: 0,
            },
        });
        entry.last_seen = now;
        let Progress::Watching {
            segments,
            ms: total,
        } = &mut entry.progress
        else {
            return false;
        };
        // Linear, but bounded: a session stops collecting at the threshold, which every segment
        // but the last fills by SEGMENT_SECONDS.
        if !segments.contains(&number) {
            segments.push(number);
            *total += ms;
        }
        if *total >= threshold_ms {
            entry.progress = Progress::Counted;
            return true;
        }
        false
    }

    /// Whether the deletion of expired session rows is due (and, if so, marks it done).
    fn prune_due(&self, now: Instant) -> bool {
        let mut t = self.lock();
        let due = t
            .last_prune
            .is_none_or(|last| now.duration_since(last) >= PRUNE_EVERY);
        if due {
            t.last_prune = Some(now);
        }
        due
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().sessions.len()
    }
}

fn sweep(t: &mut Table, now: Instant) {
    t.sessions
        .retain(|_, s| now.duration_since(s.last_seen) < IDLE);
    t.last_sweep = now;
    t.warned_full = false;
}

fn subject(video_id: &str, id: &str) -> String {
    format!("{video_id}/{id}")
}

/// A new session token for `video_id`: `<id>.<expiry>.<mac>`.
fn mint(secret: &str, video_id: &str, now: u64) -> String {
    let id = crate::ids::secret(ID_LEN);
    let sig = VIEW_SESSION.sign(secret, &subject(video_id, &id), now);
    format!("{id}.{sig}")
}

/// The session a token names, if it was handed out here for `video_id` and has not expired.
fn verify(secret: &str, video_id: &str, token: &str, now: u64) -> Option<Session> {
    let (id, sig) = token.split_once('.')?;
    if id.len() != ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    if !VIEW_SESSION.verify(secret, &subject(video_id, id), sig, now) {
        return None;
    }
    let expires: i64 = sig.split_once('.')?.0.parse().ok()?;
    let opened = expires.checked_sub(i64::try_from(VIEW_SESSION.ttl_secs).ok()?)?;
    let day = chrono::DateTime::from_timestamp(opened, 0)?
        .format("%Y-%m-%d")
        .to_string();
    Some(Session {
        token: token.to_string(),
        id: id.to_string(),
        day,
    })
}

/// Whether a player starts from this file: the HLS master playlist or the DASH manifest.
fn starts_playback(file: &str) -> bool {
    file == "playlist.m3u8" || file.ends_with(".mpd")
}

/// The number of a media segment (`seg-<run>-<representation>-<number>.m4s`); `None` for init
/// segments and anything else.
fn segment_number(file: &str) -> Option<u32> {
    file.strip_prefix("seg-")?
        .strip_suffix(".m4s")?
        .rsplit('-')
        .next()?
        .parse()
        .ok()
}

fn is_init_segment(file: &str) -> bool {
    file.starts_with("init-") && file.ends_with(".m4s")
}

fn duration_ms(row: &VideoRow) -> Option<u64> {
    row.duration
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| (d * 1000.0).round() as u64)
}

/// The media segment `number` holds. The ladder puts a keyframe on every SEGMENT_SECONDS boundary
/// and numbers segments from 1, so segment n is [(n-1)·S, n·S) cut at the video's end.
fn segment_ms(number: u32, duration_ms: Option<u64>) -> u64 {
    let len = u64::from(SEGMENT_SECONDS) * 1000;
    if number == 0 {
        return 0;
    }
    let start = u64::from(number - 1) * len;
    match duration_ms {
        Some(d) => d.saturating_sub(start).min(len),
        None => len,
    }
}

/// The session the URIs served with `file` carry: a starting manifest opens one (or keeps the
/// valid one it was asked with, so reloading it stays one session); any other file keeps the
/// valid one it was asked with. `None` when views are not counted from playback.
pub fn session_for(
    state: &AppState,
    video_id: &str,
    file: &str,
    given: Option<&str>,
) -> Option<Session> {
    if !state.views.enabled() {
        return None;
    }
    let secret = &state.config.jwt_secret;
    let now = signing::unix_now();
    let valid = given.and_then(|t| verify(secret, video_id, t, now));
    if valid.is_some() || !starts_playback(file) {
        return valid;
    }
    verify(secret, video_id, &mint(secret, video_id, now), now)
}

/// Called after `file` was answered to `session`: a media segment read in full or in part adds to
/// the session, and the view is counted when the session reaches the threshold. Behind a CDN
/// media segments do not reach this server, so the session's first init segment, which a player
/// fetches when it starts playing, counts instead. Other requests (HEAD, errors, manifests) add
/// nothing.
pub async fn delivered(
    state: &AppState,
    row: &VideoRow,
    file: &str,
    session: Option<&Session>,
    method: &Method,
    status: StatusCode,
) {
    let Some(session) = session else { return };
    if method != Method::GET || !status.is_success() {
        return;
    }
    let views = &state.views;
    let now = Instant::now();
    let duration = duration_ms(row);
    let threshold = views.threshold_for(duration);
    let reached = if state.config.cdn_base().is_some() {
        // Number 0 is no media segment's: the first init segment fills the threshold at once.
        is_init_segment(file) && views.record(&session.id, 0, threshold, threshold, now)
    } else {
        let Some(number) = segment_number(file) else {
            return;
        };
        let ms = segment_ms(number, duration);
        ms > 0 && views.record(&session.id, number, ms, threshold, now)
    };
    if !reached {
        return;
    }
    let actor = format!("session:{}", session.id);
    // Awaited rather than spawned: one request per session waits for one small write, and the
    // count is visible as soon as the segment that earned it has been answered.
    match store::count_view_on(&state.db, &row.id, &actor, &session.day).await {
        Ok(true) => tracing::debug!(video_id = %row.id, "view counted from playback"),
        Ok(false) => {}
        Err(e) => tracing::warn!(video_id = %row.id, error = %e, "could not count a view"),
    }
    if views.prune_due(now) {
        let db = state.db.clone();
        tokio::spawn(async move {
            if let Err(e) = prune(&db).await {
                tracing::warn!(error = %e, "could not prune old playback session views");
            }
        });
    }
}

/// Deletes session rows no token can name any more (tokens live 12 hours; two days is ample).
async fn prune(db: &crate::db::Db) -> Result<(), sqlx::Error> {
    let before = (chrono::Utc::now() - chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    sqlx::query("DELETE FROM video_views WHERE actor LIKE 'session:%' AND day < $1")
        .bind(before)
        .execute(&db.pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_the_video_and_the_secret() {
        let t = mint("secret", "video_a", 1_000_000);
        let s = verify("secret", "video_a", &t, 1_000_000).expect("valid");
        assert_eq!(s.id.len(), ID_LEN);
        assert_eq!(s.day, "1970-01-12");
        assert!(verify("secret", "video_b", &t, 1_000_000).is_none());
        assert!(verify("other", "video_a", &t, 1_000_000).is_none());
        assert!(verify("secret", "video_a", &t, 1_000_000 + 13 * 3600).is_none());
        let (id, rest) = t.split_once('.').unwrap();
        let other_id = if id.starts_with('A') { "B" } else { "A" };
        let swapped = format!("{other_id}{}.{rest}", &id[1..]);
        assert!(verify("secret", "video_a", &swapped, 1_000_000).is_none());
        assert!(verify("secret", "video_a", "x", 1_000_000).is_none());
        assert_ne!(t, mint("secret", "video_a", 1_000_000));
    }

    #[test]
    fn segments_and_their_media() {
        assert_eq!(segment_number("seg-ab12-0-00003.m4s"), Some(3));
        assert_eq!(segment_number("seg-ab-12-2-00010.m4s"), Some(10));
        assert_eq!(segment_number("init-ab12-0.m4s"), None);
        assert_eq!(segment_number("media_0.m3u8"), None);
        assert_eq!(segment_ms(1, Some(10_000)), 4000);
        assert_eq!(segment_ms(3, Some(10_000)), 2000);
        assert_eq!(segment_ms(4, Some(10_000)), 0);
        assert_eq!(segment_ms(0, Some(10_000)), 0);
        assert_eq!(segment_ms(7, None), 4000);
        assert!(starts_playback("playlist.m3u8") && starts_playback("manifest.mpd"));
        assert!(!starts_playback("media_0.m3u8"));
    }

    #[test]
    fn a_session_counts_once_at_the_threshold() {
        let v = ViewSessions::new(10, 10);
        let now = Instant::now();
        let threshold = v.threshold_for(Some(60_000));
        assert_eq!(threshold, 10_000);
        assert!(!v.record("a", 1, 4000, threshold, now));
        // The same stretch again (another rendition, a retry, a range) adds nothing.
        assert!(!v.record("a", 1, 4000, threshold, now));
        assert!(!v.record("a", 2, 4000, threshold, now));
        assert!(v.record("a", 3, 4000, threshold, now));
        assert!(!v.record("a", 4, 4000, threshold, now));
        assert!(!v.record("a", 3, 4000, threshold, now));
        assert!(!v.record("b", 9, 4000, threshold, now));
        // A clip shorter than the threshold counts when all of it was delivered.
        assert_eq!(v.threshold_for(Some(3000)), 3000);
        assert!(v.record("c", 1, 3000, 3000, now));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_idle_sessions() {
        let v = ViewSessions::new(10, 3);
        let start = Instant::now();
        for id in ["a", "b", "c"] {
            assert!(!v.record(id, 1, 4000, 10_000, start));
        }
        // Full: a fourth session is not followed, the others still are.
        assert!(!v.record("d", 1, 4000, 10_000, start));
        assert!(!v.record("d", 2, 4000, 10_000, start));
        assert!(!v.record("d", 3, 4000, 10_000, start));
        assert_eq!(v.tracked(), 3);
        assert!(!v.record("a", 2, 4000, 10_000, start));
        assert!(v.record("a", 3, 4000, 10_000, start));
        // Once the others have been idle long enough, a new session takes their place.
        let later = start + IDLE + Duration::from_secs(1);
        assert!(!v.record("d", 1, 4000, 10_000, later));
        assert_eq!(v.tracked(), 1);
    }

    #[test]
    fn zero_turns_counting_off() {
        assert!(!ViewSessions::new(0, 10).enabled());
        assert!(ViewSessions::new(1, 10).enabled());
    }
}
