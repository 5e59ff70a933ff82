//! When a publisher's socket is next worth reading. What a publisher sends reaches viewers only
//! when a part closes, and a part (or segment) closes on the first video frame past its end:
//! reading in between only moves bytes sooner into a part nobody can fetch yet, at a wake-up of
//! the thread and two system calls each time. So after a read the connection waits for the grid
//! tick at which the frame that closes the open part is due, and from then reads on every tick
//! until that frame has come.
//!
//! When a frame is due comes from how far the publisher's timestamps run behind the wall clock:
//! the smallest gap seen over the last reads (a frame read late only makes its gap larger), so
//! the estimate errs early, costing a tick rather than latency. It follows a publisher whose
//! timestamps jump, since old gaps leave the window.

use std::time::Duration;

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
}

impl ReadPlan {
    pub fn new(base: Instant) -> Self {
        Self {
            base,
            gaps: [0; WINDOW],
            seen: 0,
        }
    }

    fn millis(&self, t: Instant) -> i64 {
        i64::try_from(t.saturating_duration_since(self.base).as_millis()).unwrap_or(i64::MAX)
    }

    /// A read at `now` brought video up to timestamp `ts_ms`.
    pub fn saw_video(&mut self, now: Instant, ts_ms: u64) {
        let gap = self
            .millis(now)
            .saturating_sub(i64::try_from(ts_ms).unwrap_or(i64::MAX));
        if let Some(slot) = self.gaps.get_mut(self.seen % WINDOW) {
            *slot = gap;
        }
        self.seen = self.seen.wrapping_add(1);
    }

    /// When to read next, after a read at `now`: when a frame with timestamp `cut_ms` (the one
    /// that closes the open part) is due, at once if that cannot be told or has passed.
    pub fn next_read(&self, now: Instant, cut_ms: Option<u64>) -> Instant {
        let Some(cut_ms) = cut_ms else {
            return now;
        };
        let Some(&gap) = self
            .gaps
            .get(..self.seen.min(WINDOW))
            .and_then(|g| g.iter().min())
        else {
            return now;
        };
        let due_ms = i64::try_from(cut_ms)
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

    #[test]
    fn waits_until_the_cutting_frame_is_due() {
        let base = Instant::now();
        let mut plan = ReadPlan::new(base);
        // Nothing seen yet: read at once.
        assert_eq!(plan.next_read(base, Some(300)), base);
        // Frames stamped 1000 ms behind the clock, some read later than they came.
        plan.saw_video(base + ms(1_040), 33);
        plan.saw_video(base + ms(1_100), 66);
        plan.saw_video(base + ms(1_190), 100);
        // The smallest gap (1007 ms) wins: the frame stamped 333 is due at 1340.
        let now = base + ms(1_190);
        assert_eq!(plan.next_read(now, Some(333)), base + ms(1_340));
        // Due already, or nothing to wait for: at once.
        assert_eq!(plan.next_read(now, Some(150)), now);
        assert_eq!(plan.next_read(now, None), now);
        // Never longer than MAX_WAIT.
        assert_eq!(plan.next_read(now, Some(5_000)), now + MAX_WAIT);
    }

    #[test]
    fn follows_timestamps_that_jump() {
        let base = Instant::now();
        let mut plan = ReadPlan::new(base);
        for i in 0..WINDOW as u64 {
            plan.saw_video(base + ms(100 + 33 * i), 33 * i);
        }
        // The publisher's timestamps jump back: until the old, smaller gaps leave the window every
        // read is due at once; after that, reads are timed by the new ones.
        let mut now = base;
        for i in 0..WINDOW as u64 {
            now = base + ms(700 + 33 * i);
            plan.saw_video(now, 33 * i);
        }
        assert_eq!(
            plan.next_read(now, Some(33 * WINDOW as u64 + 100)),
            now + ms(133)
        );
    }
}
