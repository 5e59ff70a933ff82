//! The live origin: one [`LiveStream`] per stream being published, found through the
//! [`Registry`]. Segments and parts are `Bytes` inside the segmenter, so every viewer gets a
//! reference-counted view and nothing is copied per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ferrocast_media::flv::MediaItem;
use ferrocast_media::hls::{Segmenter, SegmenterConfig};

use subtle::ConstantTimeEq;

use super::recording::Recorder;
use super::transcode::Ladder;
use super::viewers::Viewers;
use super::window::Window;
use crate::signing;

/// A poisoned lock only means another request panicked mid-update; the segmenter's state is still
/// usable for serving, and taking the server down with it would be worse.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Private streams' playback tokens are issued per period of this length (their expiry is the
/// period's start plus the token lifetime), so all viewers of a period share one.
const TOKEN_PERIOD_SECS: u64 = 600;

/// Gap put between the last timestamp of a dropped connection and the first of its reconnect,
/// about one frame, so decode times keep rising across the two.
const RECONNECT_GAP_MS: u64 = 40;

/// Who may watch a live stream, as its row says.
#[derive(Clone, Copy)]
pub struct Access<'a> {
    pub private: bool,
    pub max_viewers: i64,
    pub password_hash: Option<&'a str>,
}

impl<'a> Access<'a> {
    pub fn of(row: &'a crate::streams::store::StreamRow) -> Self {
        Self {
            private: row.is_private(),
            max_viewers: row.max_viewers,
            password_hash: row.password_hash.as_deref(),
        }
    }
}

/// What a stream's playback tokens are signed for (never sent: only the MAC over it is).
pub fn token_subject(stream_id: &str, password_hash: Option<&str>) -> String {
    match password_hash {
        Some(hash) => format!("{stream_id}\0{hash}"),
        None => stream_id.to_string(),
    }
}

/// One live stream's in-memory HLS window and who is publishing and watching it.
pub struct LiveStream {
    pub stream_id: String,
    /// The source rendition's window.
    window: Window,
    publisher: Mutex<Publisher>,
    /// Highest media timestamp pushed, in ms (after the reconnect offset).
    last_ts: AtomicU64,
    private: AtomicBool,
    max_viewers: AtomicI64,
    pub(crate) viewers: Viewers,
    /// Bytes of playlists and media served to players, for the bandwidth in analytics.
    bytes_out: AtomicU64,
    /// What playback tokens are signed for: the stream and its password's hash, so that a new
    /// password ends the tokens handed out under the old one.
    token_subject: Mutex<String>,
    /// The playback token of the current period, for private streams: (period start, token).
    token: Mutex<Option<(u64, Arc<str>)>>,
    /// Someone asked for the live thumbnail since it was last refreshed.
    pub(crate) thumbnail_requested: AtomicBool,
    /// Set right after the origin is created when the stream records.
    recorder: OnceLock<Recorder>,
    /// The ABR renditions, when transcoding is on (set on the first publish).
    pub(crate) ladder: OnceLock<Arc<Ladder>>,
    /// When the first publisher claimed the origin; a reconnect within the grace period keeps it.
    created: Instant,
}

struct Publisher {
    generation: u64,
    connected: bool,
}

/// What a publisher got when it claimed a stream.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// Identifies this publisher; a later one for the same stream gets a higher number.
    pub generation: u64,
    /// Added to the connection's timestamps so a reconnect continues the same timeline.
    pub ts_offset_ms: u64,
}

/// Someone else is publishing the stream right now.
#[derive(Debug)]
pub struct AlreadyPublishing;

impl LiveStream {
    fn new(stream_id: &str, config: SegmenterConfig, access: Access<'_>) -> Self {
        Self {
            stream_id: stream_id.to_string(),
            window: Window::new(config),
            publisher: Mutex::new(Publisher {
                generation: 0,
                connected: false,
            }),
            last_ts: AtomicU64::new(0),
            private: AtomicBool::new(access.private),
            max_viewers: AtomicI64::new(access.max_viewers),
            viewers: Viewers::default(),
            bytes_out: AtomicU64::new(0),
            token_subject: Mutex::new(token_subject(stream_id, access.password_hash)),
            token: Mutex::new(None),
            thumbnail_requested: AtomicBool::new(false),
            recorder: OnceLock::new(),
            ladder: OnceLock::new(),
            created: Instant::now(),
        }
    }

    pub(crate) fn set_recorder(&self, recorder: Recorder) {
        let _ = self.recorder.set(recorder);
    }

    /// The source rendition's LL-HLS window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// The source's segmenter, for reading; hold the guard only briefly, never across an await.
    pub fn segmenter(&self) -> MutexGuard<'_, Segmenter> {
        self.window.segmenter()
    }

    /// Feeds one demuxed item and wakes waiting requests when it produced something.
    pub fn push(&self, item: MediaItem, timestamp_ms: u64) {
        self.last_ts.fetch_max(timestamp_ms, Ordering::Relaxed);
        self.window.update(|seg| {
            let produced = seg.push(item);
            if let Some(r) = self.recorder.get() {
                r.produced(seg, &produced);
            }
            ((), !produced.is_empty())
        });
    }

    pub fn ladder(&self) -> Option<&Arc<Ladder>> {
        self.ladder.get()
    }

    /// Ends the playlist (`EXT-X-ENDLIST`) and wakes everyone waiting.
    fn finish(&self) {
        if let Some(ladder) = self.ladder.get() {
            ladder.stop();
        }
        self.window.update(|seg| {
            let last = seg.finish();
            if let Some(r) = self.recorder.get() {
                r.produced(seg, &last);
                r.finish();
            }
            ((), true)
        });
    }

    pub fn is_private(&self) -> bool {
        self.private.load(Ordering::Relaxed)
    }

    pub fn max_viewers(&self) -> i64 {
        self.max_viewers.load(Ordering::Relaxed)
    }

    /// Refreshes the access settings cached from the stream row (they can be edited while live).
    pub fn set_access(&self, access: Access<'_>) {
        self.private.store(access.private, Ordering::Relaxed);
        self.max_viewers
            .store(access.max_viewers, Ordering::Relaxed);
        let subject = token_subject(&self.stream_id, access.password_hash);
        let mut current = lock(&self.token_subject);
        if *current != subject {
            *current = subject;
            *lock(&self.token) = None;
        }
    }

    /// The playback token handed out now for this private stream. Every viewer of a period gets
    /// the same one, so that the media playlists carrying it are the same text for all and can be
    /// rendered once; it is still signed with the server's secret and expires like any other.
    pub fn playback_token(&self, secret: &str, now: u64) -> Arc<str> {
        let period = now - now % TOKEN_PERIOD_SECS;
        let mut t = lock(&self.token);
        match &*t {
            Some((p, token)) if *p == period => token.clone(),
            _ => {
                let subject = lock(&self.token_subject).clone();
                let token: Arc<str> = signing::LIVE_PLAYBACK.sign(secret, &subject, period).into();
                *t = Some((period, token.clone()));
                token
            }
        }
    }

    /// Whether `token` lets a request read this stream at `now`. The token of the current
    /// period, which nearly every request carries, is recognised without recomputing the MAC.
    pub fn token_valid(&self, secret: &str, token: &str, now: u64) -> bool {
        let current = self.playback_token(secret, now);
        bool::from(current.as_bytes().ct_eq(token.as_bytes())) || {
            let subject = lock(&self.token_subject).clone();
            signing::LIVE_PLAYBACK.verify(secret, &subject, token, now)
        }
    }

    /// Counts a response sent to a player.
    pub fn count_out(&self, bytes: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes served to players since the origin was created.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    /// HLS playback sessions seen recently.
    pub fn viewer_count(&self) -> usize {
        self.viewers.count()
    }

    /// Whether a publisher is connected, rather than the origin waiting out the grace period
    /// for one to come back.
    pub fn is_publishing(&self) -> bool {
        lock(&self.publisher).connected
    }

    /// Time since the origin was created by the stream's first publisher.
    pub fn age(&self) -> Duration {
        self.created.elapsed()
    }

    /// The publisher of `generation` left; a reconnect may take over until the grace period ends.
    pub fn disconnect(&self, generation: u64) {
        let mut p = lock(&self.publisher);
        if p.generation == generation {
            p.connected = false;
        }
    }
}

/// Settings every new live stream's segmenter gets.
#[derive(Debug, Clone)]
pub struct OriginSettings {
    pub segment_ms: u64,
    pub part_ms: u64,
}

/// Every stream currently served live, by stream id.
#[derive(Default)]
pub struct Registry {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    /// Shared by every stream's ABR ladder.
    pub(crate) ladder_slots: Arc<super::transcode::LadderSlots>,
}

impl Registry {
    pub fn get(&self, stream_id: &str) -> Option<Arc<LiveStream>> {
        lock(&self.streams).get(stream_id).cloned()
    }

    pub fn ids(&self) -> Vec<String> {
        lock(&self.streams).keys().cloned().collect()
    }

    /// HLS viewers of a stream (0 when it is not served live).
    pub fn viewers(&self, stream_id: &str) -> usize {
        self.get(stream_id).map_or(0, |s| s.viewer_count())
    }

    /// Makes the caller the stream's publisher: a new origin, or the existing one if its previous
    /// publisher dropped and the grace period is still running.
    pub fn claim(
        &self,
        stream_id: &str,
        settings: &OriginSettings,
        access: Access<'_>,
    ) -> Result<(Arc<LiveStream>, Claim), AlreadyPublishing> {
        let mut streams = lock(&self.streams);
        let live = streams
            .entry(stream_id.to_string())
            .or_insert_with(|| {
                let config = SegmenterConfig {
                    target_duration_ms: settings.segment_ms,
                    part_target_ms: settings.part_ms,
                    program_date_time_ms: Some(unix_ms()),
                    store: segment_store,
                    ..SegmenterConfig::default()
                };
                Arc::new(LiveStream::new(stream_id, config, access))
            })
            .clone();
        let mut p = lock(&live.publisher);
        if p.connected {
            return Err(AlreadyPublishing);
        }
        let resumed = p.generation > 0;
        p.generation += 1;
        p.connected = true;
        let claim = Claim {
            generation: p.generation,
            ts_offset_ms: if resumed {
                live.last_ts.load(Ordering::Relaxed) + RECONNECT_GAP_MS
            } else {
                0
            },
        };
        drop(p);
        Ok((live, claim))
    }

    /// Ends and removes the stream's origin if `generation` is still its publisher and has not
    /// come back. Returns whether it did (the caller then ends the stream in the database).
    pub fn end_if_abandoned(&self, stream_id: &str, generation: u64) -> bool {
        self.remove_where(stream_id, |p| p.generation == generation && !p.connected)
    }

    /// Ends and removes the stream's origin now, if `generation` is still its publisher.
    pub fn end_now(&self, stream_id: &str, generation: u64) -> bool {
        self.remove_where(stream_id, |p| p.generation == generation)
    }

    fn remove_where(&self, stream_id: &str, cond: impl Fn(&Publisher) -> bool) -> bool {
        let mut streams = lock(&self.streams);
        let Some(live) = streams.get(stream_id).cloned() else {
            return false;
        };
        if !cond(&lock(&live.publisher)) {
            return false;
        }
        streams.remove(stream_id);
        drop(streams);
        // Requests already holding the stream see the end of the playlist.
        live.finish();
        true
    }
}

/// Where a closed segment is kept: a sealed memory file, so that viewers get it by splice rather
/// than a copy each; ordinary memory if no memory file could be made.
fn segment_store(chunks: &[&[u8]]) -> bytes::Bytes {
    ferrocast_splice::sealed(chunks)
        .unwrap_or_else(|_| ferrocast_media::hls::join_in_memory(chunks))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long a blocking request may wait: three target durations, as LL-HLS suggests.
pub fn block_limit(seg: &Segmenter) -> Duration {
    Duration::from_secs(seg.target_duration_secs().saturating_mul(3).max(1))
}
