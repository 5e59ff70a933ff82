//! The delivery rate of each live stream, averaged over BANDWIDTH_CALCULATION_INTERVAL from the
//! byte counters read at each analytics sample.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub struct Bandwidth {
    window: Duration,
    /// Per stream, the counter at recent samples, oldest first: the newest reading at or before
    /// the window's start and every later one.
    readings: HashMap<String, VecDeque<(Instant, u64)>>,
}

impl Bandwidth {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            readings: HashMap::new(),
        }
    }

    /// Records `bytes` (the stream's counter, which starts at zero when it goes live) read at
    /// `now`, and returns kbit/s sent over the window ending now. Samples come every
    /// VIEWER_UPDATE_INTERVAL, so a window shorter than that spans one sample period. A stream
    /// never read before started after `previous_sample`, from zero.
    pub fn kbps(
        &mut self,
        stream_id: &str,
        now: Instant,
        bytes: u64,
        previous_sample: Instant,
    ) -> f64 {
        let readings = self.readings.entry(stream_id.to_string()).or_default();
        // A smaller counter is a new session of the stream: its old readings say nothing.
        if readings.back().is_some_and(|&(_, b)| b > bytes) {
            readings.clear();
        }
        if readings.is_empty() {
            readings.push_back((previous_sample.min(now), 0));
        }
        while readings
            .get(1)
            .is_some_and(|&(t, _)| now.saturating_duration_since(t) >= self.window)
        {
            readings.pop_front();
        }
        let rate = match readings.front() {
            Some(&(t, b)) if now > t => {
                bytes.saturating_sub(b) as f64 * 8.0 / 1000.0 / now.duration_since(t).as_secs_f64()
            }
            _ => 0.0,
        };
        readings.push_back((now, bytes));
        rate
    }

    /// Forgets streams that are no longer live.
    pub fn retain(&mut self, live: impl Fn(&str) -> bool) {
        self.readings.retain(|id, _| live(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn averages_over_the_window_not_the_last_sample() {
        let t0 = Instant::now();
        let mut b = Bandwidth::new(60 * S);
        // 125 kB in the first 30 s (33.3 kbit/s), then nothing for 30 s, then 250 kB.
        assert_eq!(b.kbps("s", t0 + 30 * S, 125_000, t0), 1000.0 / 30.0);
        assert_eq!(
            b.kbps("s", t0 + 60 * S, 125_000, t0 + 30 * S),
            1000.0 / 60.0
        );
        // The window now reaches back to the reading at 30 s: 250 kB over 60 s.
        assert_eq!(
            b.kbps("s", t0 + 90 * S, 375_000, t0 + 60 * S),
            2000.0 / 60.0
        );
    }

    #[test]
    fn a_short_window_spans_one_sample_period() {
        let t0 = Instant::now();
        let mut b = Bandwidth::new(5 * S);
        b.kbps("s", t0 + 30 * S, 1_000_000, t0);
        assert_eq!(b.kbps("s", t0 + 60 * S, 1_375_000, t0 + 30 * S), 100.0);
    }

    #[test]
    fn a_new_session_starts_over() {
        let t0 = Instant::now();
        let mut b = Bandwidth::new(60 * S);
        b.kbps("s", t0 + 30 * S, 9_000_000, t0);
        // The counter went back to zero: the stream was published again after 30 s.
        assert_eq!(b.kbps("s", t0 + 60 * S, 375_000, t0 + 30 * S), 100.0);
        b.retain(|_| false);
        assert_eq!(b.kbps("s", t0 + 90 * S, 0, t0 + 60 * S), 0.0);
    }
}
