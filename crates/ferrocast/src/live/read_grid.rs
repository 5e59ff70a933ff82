//! The ingest thread's shared read grid. While publishing, a connection reads only on the grid's
//! ticks (its socket off the event loop, `polled_socket`), and only on the ticks it asks for
//! (`read_plan` decides which): connections that want the same tick share one wake-up of the
//! thread, and a tick nobody asked for does not happen. Media reaches the packager at most a
//! tick after it was wanted, a small share of an LL-HLS part.
//!
//! One task keeps the ticks, and connections wait on it rather than on timers of their own: a
//! timer set for sooner than anything else the event loop waits for makes tokio interrupt the
//! loop's sleep to recompute it (an eventfd write and an extra wake-up), which a timer per
//! connection per read paid every read.
//!
//! Ticks fall on whole multiples of `TICK` from the moment the event loop's clock started. Tokio's
//! timer wheel keeps timers due in a later 64 ms block of its clock on a coarser level, and wakes
//! the loop at each block's start to move them down; with ticks on the blocks' starts those
//! wake-ups are ticks too, where 30 ms ticks off the grid cost some sixteen more wake-ups a second.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// At 20 ms a lone stream read on every tick cost a fifth more CPU; at 40 ms a browser player
/// sat a tenth of a second further behind (docs/BENCHMARKS.md). Half of tokio's 64 ms
/// timer-wheel block.
pub const TICK: Duration = Duration::from_millis(32);

pub struct ReadGrid {
    /// Taken just before the event loop was built. Its clock starts within a millisecond after
    /// (six server starts out of six, counted by the thread's wake-ups), and tokio rounds
    /// deadlines up to its next millisecond, so `origin + n * TICK` is due exactly on the loop's
    /// clock; were the build slower, the ticks would only miss the blocks' starts.
    origin: Instant,
    /// The ticks someone waits for, by number, each with its waiters.
    wanted: Mutex<BTreeMap<u64, Arc<Notify>>>,
    /// Told when a tick earlier than every other wanted one is asked for.
    sooner: Notify,
}

impl ReadGrid {
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            wanted: Mutex::new(BTreeMap::new()),
            sooner: Notify::new(),
        }
    }

    /// The number of the first tick at or after `t`.
    fn tick_at_or_after(&self, t: Instant) -> u64 {
        let step = TICK.as_nanos();
        let since = t.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since.div_ceil(step)).unwrap_or(u64::MAX)
    }

    /// The number of the last tick at or before `t`.
    fn tick_at_or_before(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since / TICK.as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant_of(&self, tick: u64) -> Instant {
        let nanos = u64::try_from(TICK.as_nanos()).unwrap_or(u64::MAX);
        self.origin + Duration::from_nanos(tick.saturating_mul(nanos))
    }

    /// Completes on the first tick after now that is not before `due`.
    pub async fn tick_at(&self, due: Instant) {
        let tick = self
            .tick_at_or_after(due)
            .max(self.tick_at_or_before(Instant::now()) + 1);
        let (notify, soonest) = {
            let mut wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
            let soonest = wanted
                .first_key_value()
                .is_none_or(|(&first, _)| tick < first);
            (Arc::clone(wanted.entry(tick).or_default()), soonest)
        };
        let notified = notify.notified();
        tokio::pin!(notified);
        // Registered before the ticker can hear of it, so the tick cannot pass unseen.
        notified.as_mut().enable();
        if soonest {
            self.sooner.notify_one();
        }
        notified.await;
    }

    /// Ticks on the current event loop for as long as the loop runs.
    pub async fn run(self: Arc<Self>) {
        let sleep = tokio::time::sleep_until(self.origin);
        tokio::pin!(sleep);
        loop {
            let first = {
                let wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
                wanted.first_key_value().map(|(&tick, _)| tick)
            };
            let Some(first) = first else {
                self.sooner.notified().await;
                continue;
            };
            let at = self.instant_of(first);
            if sleep.deadline() != at {
                sleep.as_mut().reset(at);
            }
            tokio::select! {
                () = sleep.as_mut() => {}
                () = self.sooner.notified() => continue,
            }
            let due = {
                let mut wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
                let later = wanted.split_off(&(self.tick_at_or_before(Instant::now()) + 1));
                std::mem::replace(&mut *wanted, later)
            };
            for notify in due.values() {
                notify.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticks_when_asked_on_the_grid() {
        let origin = Instant::now();
        let grid = Arc::new(ReadGrid::new(origin));
        tokio::spawn(Arc::clone(&grid).run());

        // Asked for a moment between ticks: the tick after it.
        grid.tick_at(origin + TICK * 3 + Duration::from_millis(5))
            .await;
        assert_eq!(Instant::now(), origin + TICK * 4);
        // Asked for a moment already past: the next tick.
        grid.tick_at(origin).await;
        assert_eq!(Instant::now(), origin + TICK * 5);
        // Exactly on a tick: that tick.
        grid.tick_at(origin + TICK * 9).await;
        assert_eq!(Instant::now(), origin + TICK * 9);

        // Two waiters: each gets its own tick, the sooner one first even when asked last.
        let later = {
            let grid = Arc::clone(&grid);
            tokio::spawn(async move {
                grid.tick_at(origin + TICK * 20).await;
                Instant::now()
            })
        };
        tokio::task::yield_now().await;
        grid.tick_at(origin + TICK * 12).await;
        assert_eq!(Instant::now(), origin + TICK * 12);
        assert_eq!(later.await.unwrap(), origin + TICK * 20);

        // Two waiters of one tick wake on it together.
        let a = grid.tick_at(origin + TICK * 30);
        let b = grid.tick_at(origin + TICK * 30);
        tokio::join!(a, b);
        assert_eq!(Instant::now(), origin + TICK * 30);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_gives_up_leaves_nothing_behind() {
        let origin = Instant::now();
        let grid = Arc::new(ReadGrid::new(origin));
        tokio::spawn(Arc::clone(&grid).run());
        // A waiter that gave up leaves its tick behind; it passes harmlessly.
        let gave_up = tokio::time::timeout(TICK, grid.tick_at(origin + TICK * 5)).await;
        assert!(gave_up.is_err());
        grid.tick_at(origin + TICK * 100).await;
        assert_eq!(Instant::now(), origin + TICK * 100);
        assert!(
            grid.wanted.lock().unwrap().is_empty(),
            "every wanted tick was served"
        );
    }
}
