//! HLS playback sessions. A player has no connection to count, so each master playlist request
//! opens a session whose id rides along on the media playlist URLs it is given (players keep
//! that query on every reload); a session counts as watching while its reloads keep arriving.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::origin::lock;

/// A session not heard from for this long has stopped watching. Players reload a live playlist
/// at least every target duration, so this leaves room for a few missed reloads.
pub const SESSION_WINDOW: Duration = Duration::from_secs(30);

/// The stream is at its viewer limit.
#[derive(Debug)]
pub struct Full;

#[derive(Default)]
pub struct Viewers {
    sessions: Mutex<HashMap<String, Instant>>,
}

impl Viewers {
    /// Opens a new session, unless `max` sessions are already active.
    pub fn admit(&self, max: usize) -> Result<String, Full> {
        let now = Instant::now();
        let mut s = lock(&self.sessions);
        s.retain(|_, seen| now.duration_since(*seen) < SESSION_WINDOW);
        if s.len() >= max {
            return Err(Full);
        }
        let id = crate::ids::secret(16);
        s.insert(id.clone(), now);
        Ok(id)
    }

    /// Marks a known session as still watching; unknown ids are ignored so that made-up ids
    /// cannot grow the table.
    pub fn touch(&self, id: &str) {
        if let Some(seen) = lock(&self.sessions).get_mut(id) {
            *seen = Instant::now();
        }
    }

    pub fn count(&self) -> usize {
        let now = Instant::now();
        let mut s = lock(&self.sessions);
        s.retain(|_, seen| now.duration_since(*seen) < SESSION_WINDOW);
        s.len()
    }
}
