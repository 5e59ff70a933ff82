//! Per-sender message budget: at most `per_minute` messages in any rolling minute.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked senders, idle ones are forgotten so the map stays bounded.
const SWEEP_ABOVE: usize = 10_000;

pub struct RateLimiter {
    per_minute: u32,
    senders: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// `per_minute == 0` turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            senders: Mutex::new(HashMap::new()),
        }
    }

    pub fn allow(&self, key: &str) -> bool {
        self.allow_at(key, Instant::now())
    }

    fn allow_at(&self, key: &str, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if senders.len() > SWEEP_ABOVE {
            senders.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
        }
        let times = senders.entry(key.to_string()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= self.per_minute as usize {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refills_after_a_minute() {
        let l = RateLimiter::new(2);
        let t = Instant::now();
        assert!(l.allow_at("a", t));
        assert!(l.allow_at("a", t));
        assert!(!l.allow_at("a", t + Duration::from_secs(30)));
        assert!(l.allow_at("b", t));
        assert!(l.allow_at("a", t + Duration::from_secs(61)));
        assert!(RateLimiter::new(0).allow("x"));
    }
}
