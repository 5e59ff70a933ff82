//! When a publisher's socket is next worth reading. What a publisher sends reaches viewers only
//! when a part closes, and a part (or segment) closes on the first video frame past its end:
//! reading in between only moves bytes sooner into a part nobody can fetch yet, at a wake-up of
//! the thread and two system calls each time. So after a read the connection waits for the grid
//! tick at which the frame that closes the open part is due, and from then reads on every tick
//! until that frame has come.
//!
//! When a frame is due comes from how far the publisher's timestamps run behind the wall clock:
//! the smallest gap seen over the last reads that brought video (a frame read late only makes its
//! gap larger), so the estimate errs early, costing a tick rather than latency. It follows a
//! publisher whose timestamps jump, since old gaps leave the window.

use std::time::Duration;

use ferrocast_media::hls::Cut;
use tokio::time::Instant;

/// Reads whose gaps are remembered: a few seconds of a publisher's frames.
const WINDOW: usize = 16;

/// Longest wait between reads whatever the prediction: it bounds what a wrong one (a publisher
/// whose timestamps stopped moving, a part target of seconds) can delay, and keeps the
/// publisher's acknowledgements flowing.
pub const MAX_WAIT: Duration = Duration::from_millis(500);

pub struct ReadPlan {
    base: Instant,
    /// Milliseconds since `base` minus the newest video timestamp, per read that brought video.
    gaps: [i64; WINDOW],
    seen: usize,
    newest_ms: Option<u64>,
}

impl ReadPlan {
    pub fn new(base: Instant) -> Self {
        Self {
            base,
            gaps: [0; WINDOW],
            seen: 0,
            newest_ms: None,
        }
    }

    fn millis(&self, t: Instant) -> i64 {
        i64::try_from(t.saturating_duration_since(self.base).as_millis()).unwrap_or(i64::MAX)
    }

    /// When to read next, after a read at `now` left the source's open part at `cut`: when the
    /// frame that closes it is due, at once if that cannot be told or has passed.
    pub fn next_read(&mut self, now: Instant, cut: Option<Cut>) -> Instant {
        let Some(cut) = cut else {
            return now;
        };
        // A read that brought no new frame says nothing of the gap: its time only grew.
        if self.newest_ms != Some(cut.newest_ms) {
            self.newest_ms = Some(cut.newest_ms);
            let gap = self
                .millis(now)
                .saturating_sub(i64::try_from(cut.newest_ms).unwrap_or(i64::MAX));
            if let Some(slot) = self.gaps.get_mut(self.seen % WINDOW) {
                *slot = gap;
            }
            self.seen = self.seen.wrapping_add(1);
        }
        let Some(&gap) = self
            .gaps
            .get(..self.seen.min(WINDOW))
            .and_then(|g| g.iter().min())
        else {
            return now;
        };
        let due_ms = i64::try_from(cut.due_ms)
            .unwrap_or(i64::MAX)
            .saturating_add(gap);
        let wait_ms = due_ms.saturating_sub(self.millis(now));
        match u64::try_from(wait_ms) {
            Ok(ms) if ms > 0 => now + Duration::from_millis(ms).min(MAX_WAIT),
            _ => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn cut(newest_ms: u64, due_ms: u64) -> Option<Cut> {
        Some(Cut { newest_ms, due_ms })
    }

    #[test]
    fn waits_until_the_cutting_frame_is_due() {
        let base = Instant::now();
        let mut plan = ReadPlan::new(base);
        // Nothing to cut yet (before the first keyframe): read at once.
        assert_eq!(plan.next_read(base, None), base);
        // Frames stamped 1000 ms behind the clock, some read later than they came.
        plan.next_read(base + ms(1_040), cut(33, 300));
        plan.next_read(base + ms(1_100), cut(66, 300));
        // The smallest gap (1007 ms) wins: the frame stamped 333 is due at 1340.
        let now = base + ms(1_190);
        assert_eq!(plan.next_read(now, cut(100, 333)), base + ms(1_340));
        // A read that brought nothing new leaves the gap alone.
        let later = base + ms(1_250);
        assert_eq!(plan.next_read(later, cut(100, 333)), base + ms(1_340));
        // Due already: at once.
        assert_eq!(plan.next_read(later, cut(100, 150)), later);
        // Never longer than MAX_WAIT.
        assert_eq!(plan.next_read(later, cut(100, 5_000)), later + MAX_WAIT);
    }

    #[test]
    fn follows_timestamps_that_jump() {
        let base = Instant::now();
        let mut plan = ReadPlan::new(base);
        for i in 1..=WINDOW as u64 {
            plan.next_read(base + ms(100 + 33 * i), cut(33 * i, 10_000));
        }
        // The publisher's timestamps jump back: until the old, smaller gaps leave the window every
        // read is due at once; after that, reads are timed by the new ones.
        let mut now = base;
        let mut next = base;
        for i in 1..=WINDOW as u64 {
            now = base + ms(700 + 33 * i);
            next = plan.next_read(now, cut(33 * i, 33 * WINDOW as u64 + 100));
        }
        assert_eq!(next, now + ms(100));
    }
}
