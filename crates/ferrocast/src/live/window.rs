//! One rendition's LL-HLS window (the source's, or an ABR rendition's) that requests can wait on:
//! the segmenter behind a lock, and a counter bumped whenever it produced something, so a
//! blocking playlist or part request wakes as soon as what it asked for exists.
//!
//! Media playlists are rendered at most once per change of the window and shared as `Bytes`:
//! every viewer of a rendition asks for the same text (no per-viewer data is in it), and a part
//! wakes all the blocking reloads at once, so rendering per request would repeat the same work
//! for each of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use ferrocast_media::hls::{Segmenter, SegmenterConfig};
use tokio::sync::watch;
use tokio::time::Instant;

pub struct Window {
    segmenter: Mutex<Segmenter>,
    /// Bumped while the segmenter is still locked after each change, so a reader that saw a
    /// state (under the lock) never sees an older version number than that state's.
    version: AtomicU64,
    changes: watch::Sender<u64>,
    playlists: Mutex<[Option<Rendered>; 2]>,
}

/// Which media playlist of a rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistKind {
    LowLatency = 0,
    Plain = 1,
}

struct Rendered {
    version: u64,
    /// The query its URIs carry (a private stream's playback token), if any.
    query: Option<String>,
    body: Bytes,
}

impl Window {
    pub fn new(config: SegmenterConfig) -> Self {
        Self {
            segmenter: Mutex::new(Segmenter::new(config)),
            version: AtomicU64::new(0),
            changes: watch::channel(0).0,
            playlists: Mutex::new([None, None]),
        }
    }

    /// The segmenter; hold the guard only briefly and never across an await. A panic while it
    /// was held leaves a consistent segmenter (each push is applied whole or not at all), so a
    /// poisoned lock is used as is rather than taking every viewer down with it.
    pub fn segmenter(&self) -> MutexGuard<'_, Segmenter> {
        self.segmenter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the segmenter and wakes the waiting requests when it reports that it
    /// produced something.
    pub fn update<R>(&self, change: impl FnOnce(&mut Segmenter) -> (R, bool)) -> R {
        let mut seg = self.segmenter();
        let (result, changed) = change(&mut seg);
        if changed {
            self.version.fetch_add(1, Ordering::Release);
            drop(seg);
            self.changes.send_modify(|v| *v = v.wrapping_add(1));
        }
        result
    }

    /// The media playlist of `kind` with `query` appended to its URIs, rendered once per change
    /// of the window (and of `query`) and shared by every request.
    pub fn playlist(&self, kind: PlaylistKind, query: Option<&str>) -> Bytes {
        let slot = kind as usize;
        let current = self.version.load(Ordering::Acquire);
        if let Some(r) = lock(&self.playlists)[slot].as_ref()
            && r.version == current
            && r.query.as_deref() == query
        {
            return r.body.clone();
        }
        let (version, body) = {
            let seg = self.segmenter();
            // Read under the lock: the text below is exactly this version's.
            let version = self.version.load(Ordering::Acquire);
            let text = match kind {
                PlaylistKind::LowLatency => seg.ll_playlist(query),
                PlaylistKind::Plain => seg.plain_playlist(query),
            };
            (version, Bytes::from(text))
        };
        let mut cache = lock(&self.playlists);
        // Two requests may render concurrently; keep the newer text.
        if cache[slot].as_ref().is_none_or(|r| r.version <= version) {
            cache[slot] = Some(Rendered {
                version,
                query: query.map(str::to_owned),
                body: body.clone(),
            });
        }
        body
    }

    /// Waits until `ready` holds for the segmenter (or the window finished), up to `deadline`.
    /// Returns whether it became ready.
    pub async fn wait_until(&self, deadline: Instant, ready: impl Fn(&Segmenter) -> bool) -> bool {
        // Subscribing before the check means a change between the check and the wait still
        // wakes us.
        let mut rx = self.changes.subscribe();
        loop {
            {
                let seg = self.segmenter();
                if ready(&seg) {
                    return true;
                }
                if seg.is_finished() {
                    return false;
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return ready(&self.segmenter()),
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_media::flv::{Frame, MediaItem, Track, VideoCodec, VideoConfig};

    fn video_config() -> MediaItem {
        MediaItem::VideoConfig(VideoConfig {
            codec: VideoCodec::Avc,
            record: Bytes::from_static(&[1, 0x64, 0, 0x1F, 0xFF, 0xE0, 0]),
            width: 640,
            height: 360,
            codec_string: "avc1.64001F".into(),
        })
    }

    fn frame(dts_ms: u64, keyframe: bool) -> MediaItem {
        MediaItem::Frame(Frame {
            track: Track::Video,
            dts_ms,
            cts_ms: 0,
            keyframe,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        })
    }

    fn push(w: &Window, item: MediaItem) {
        w.update(|s| ((), !s.push(item).is_empty()));
    }

    #[test]
    fn playlist_is_shared_until_the_window_changes() {
        let w = Window::new(SegmenterConfig {
            target_duration_ms: 1000,
            part_target_ms: 200,
            ..SegmenterConfig::default()
        });
        push(&w, video_config());
        for i in 0..10 {
            push(&w, frame(i * 40, i == 0));
        }
        let a = w.playlist(PlaylistKind::LowLatency, None);
        let b = w.playlist(PlaylistKind::LowLatency, None);
        // The same allocation: the second request did not render.
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert!(String::from_utf8_lossy(&a).contains("#EXT-X-PART:"));

        let plain = w.playlist(PlaylistKind::Plain, None);
        assert!(!String::from_utf8_lossy(&plain).contains("#EXT-X-PART:"));

        let signed = w.playlist(PlaylistKind::LowLatency, Some("t=1.ab"));
        assert!(String::from_utf8_lossy(&signed).contains("?t=1.ab\""));

        for i in 10..20 {
            push(&w, frame(i * 40, false));
        }
        let c = w.playlist(PlaylistKind::LowLatency, None);
        assert_ne!(
            a, c,
            "a change of the window must show in the next playlist"
        );
        assert_eq!(c, Bytes::from(w.segmenter().ll_playlist(None)));
    }
}
