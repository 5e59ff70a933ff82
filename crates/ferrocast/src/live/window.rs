//! One rendition's LL-HLS window (the source's, or an ABR rendition's) that requests can wait on:
//! the segmenter behind a lock, and a counter bumped whenever it produced something, so a
//! blocking playlist or part request wakes as soon as what it asked for exists.

use std::sync::{Mutex, MutexGuard, PoisonError};

use ferrocast_media::hls::{Segmenter, SegmenterConfig};
use tokio::sync::watch;
use tokio::time::Instant;

pub struct Window {
    segmenter: Mutex<Segmenter>,
    changes: watch::Sender<u64>,
}

impl Window {
    pub fn new(config: SegmenterConfig) -> Self {
        Self {
            segmenter: Mutex::new(Segmenter::new(config)),
            changes: watch::channel(0).0,
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
        let (result, changed) = change(&mut self.segmenter());
        if changed {
            self.changes.send_modify(|v| *v = v.wrapping_add(1));
        }
        result
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
