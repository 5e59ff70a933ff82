//! The ingest thread's shared read grid. While publishing, a connection reads only on the grid's
//! ticks (its socket off the event loop, `polled_socket`), and every connection waits for the
//! same tick: the thread then wakes once per tick for all its publishers instead of once per RTMP
//! message of each (audio and video frames arrive some eighty times a second per stream). Media
//! reaches the packager at most a tick later, a small share of an LL-HLS part.
//!
//! One task keeps the ticks, and connections wait on it rather than on timers of their own: a
//! timer set for sooner than anything else the event loop waits for makes tokio interrupt the
//! loop's sleep to recompute it (an eventfd write and an extra wake-up), which a timer per
//! connection per tick paid every tick. The ticker keeps the next two ticks armed, so re-arming
//! one is never the soonest. With no publisher it does not tick at all.
//!
//! Ticks fall on whole multiples of `TICK` from the moment the event loop's clock started. Tokio's
//! timer wheel keeps timers due in a later 64 ms block of its clock on a coarser level, and wakes
//! the loop at each block's start to move them down; with ticks on the blocks' starts those
//! wake-ups are ticks too, where 30 ms ticks off the grid cost some sixteen more wake-ups a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::Instant;

/// At 20 ms a lone stream cost a fifth more CPU; at 40 ms a browser player sat a tenth of a
/// second further behind (docs/BENCHMARKS.md). Half of tokio's 64 ms timer-wheel block.
pub const TICK: Duration = Duration::from_millis(32);

pub struct ReadGrid {
    /// Taken just before the event loop was built. Its clock starts within a millisecond after
    /// (six server starts out of six, counted by the thread's wake-ups), and tokio rounds
    /// deadlines up to its next millisecond, so `origin + n * TICK` is due exactly on the loop's
    /// clock; were the build slower, the ticks would only miss the blocks' starts.
    origin: Instant,
    tick: Notify,
    publishers: AtomicUsize,
    /// Told when the first publisher arrives, so an idle ticker wakes up.
    busy: Notify,
}

/// Held by a connection while it publishes; the grid ticks while any is held.
pub struct Publisher(Arc<ReadGrid>);

impl Drop for Publisher {
    fn drop(&mut self) {
        self.0.publishers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ReadGrid {
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            tick: Notify::new(),
            publishers: AtomicUsize::new(0),
            busy: Notify::new(),
        }
    }

    /// The first tick after `t`.
    fn tick_after(&self, t: Instant) -> Instant {
        let step = TICK.as_nanos();
        let since = t.saturating_duration_since(self.origin).as_nanos();
        let next = (since / step + 1) * step;
        self.origin + Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
    }

    pub fn publisher(self: &Arc<Self>) -> Publisher {
        if self.publishers.fetch_add(1, Ordering::AcqRel) == 0 {
            // A stored permit if the ticker is not waiting yet: the wake-up cannot be lost.
            self.busy.notify_one();
        }
        Publisher(Arc::clone(self))
    }

    /// Completes at the next tick (counted from when this is called).
    pub fn next_tick(&self) -> Notified<'_> {
        self.tick.notified()
    }

    /// Ticks on the current event loop for as long as the loop runs.
    pub async fn run(self: Arc<Self>) {
        loop {
            while self.publishers.load(Ordering::Acquire) == 0 {
                self.busy.notified().await;
            }
            let first = self.tick_after(Instant::now());
            let mut due = Box::pin(tokio::time::sleep_until(first));
            let mut after = Box::pin(tokio::time::sleep_until(first + TICK));
            while self.publishers.load(Ordering::Acquire) > 0 {
                due.as_mut().await;
                self.tick.notify_waiters();
                // Two ticks on from this one, or the next but one if the loop fell behind.
                let again = (due.deadline() + TICK * 2).max(self.tick_after(Instant::now()) + TICK);
                due.as_mut().reset(again);
                std::mem::swap(&mut due, &mut after);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticks_only_while_someone_publishes() {
        let origin = Instant::now();
        let grid = Arc::new(ReadGrid::new(origin));
        tokio::spawn(Arc::clone(&grid).run());
        // Nobody publishes: no tick comes.
        let idle = tokio::time::timeout(TICK * 10, grid.next_tick()).await;
        assert!(idle.is_err());

        let publisher = grid.publisher();
        let first = grid.tick_after(Instant::now());
        for n in 0..5u32 {
            grid.next_tick().await;
            // On the grid from the origin, one tick after another.
            assert_eq!(Instant::now(), first + TICK * n);
            assert_eq!((Instant::now() - origin).as_millis() % TICK.as_millis(), 0);
        }
        drop(publisher);
        // The tick already armed may still come; then they stop.
        let _ = tokio::time::timeout(TICK * 3, grid.next_tick()).await;
        let after = tokio::time::timeout(TICK * 10, grid.next_tick()).await;
        assert!(after.is_err(), "no ticks without publishers");
    }
}
