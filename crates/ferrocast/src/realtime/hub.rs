//! The in-process event hub: one fan-out channel per stream that every producer (REST chat, WS
//! chat, start/end, the viewer counter) publishes to. An event is serialized once and the same
//! bytes are shared by every subscriber; each channel is a bounded ring, so a producer never waits
//! and a subscriber that falls more than the ring's size behind is told it lagged and dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::models::{ChatMessage, Quality, Stream, Video};

/// Everything the hub carries, in the seed's JSON shapes (`{"type": ..., ...}`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    StreamStarted {
        stream: Box<Stream>,
        timestamp: String,
    },
    StreamEnded {
        stream: Box<Stream>,
        timestamp: String,
    },
    /// A stream's recording became a video.
    RecordingReady {
        stream_id: String,
        video_id: String,
        timestamp: String,
    },
    ViewerCountUpdate {
        viewer_count: i64,
        timestamp: String,
    },
    ChatMessage {
        message: ChatMessage,
    },
    ChatMessageDeleted {
        message_id: String,
        stream_id: String,
        timestamp: String,
    },
    Ping,
    Pong,
    QualityChange {
        quality: Quality,
    },
    Error {
        detail: String,
    },
    /// Video processing, on the channel named by the video id.
    TranscodeStarted {
        video_id: String,
        job_id: String,
        attempt: i64,
        timestamp: String,
    },
    TranscodeProgress {
        video_id: String,
        job_id: String,
        /// Percent of the whole job, 0-100.
        progress: f64,
        eta_seconds: Option<i64>,
        stage: String,
        timestamp: String,
    },
    TranscodeCompleted {
        video_id: String,
        job_id: String,
        video: Box<Video>,
        timestamp: String,
    },
    TranscodeFailed {
        video_id: String,
        job_id: String,
        error: String,
        timestamp: String,
    },
    TranscodeCancelled {
        video_id: String,
        job_id: String,
        timestamp: String,
    },
    /// A resumable upload, on the channel of the video it becomes.
    UploadProgress {
        video_id: String,
        bytes_received: u64,
        total_bytes: u64,
        /// Percent received, 0-100.
        progress: f64,
        timestamp: String,
    },
    UploadCompleted {
        video_id: String,
        video: Box<Video>,
        timestamp: String,
    },
    UploadFailed {
        video_id: String,
        error: String,
        timestamp: String,
    },
    UploadCancelled {
        video_id: String,
        reason: String,
        timestamp: String,
    },
}

impl Event {
    pub fn to_text(&self) -> Utf8Bytes {
        Utf8Bytes::from(serde_json::to_string(self).unwrap_or_else(|_| "{}".into()))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubscribeError {
    #[error("this stream already has the maximum of {0} connected clients")]
    Full(usize),
}

struct Channel {
    tx: broadcast::Sender<Utf8Bytes>,
    subscribers: usize,
    /// The subscribers counted as viewers of the stream (see [`Hub::subscribe`]).
    viewers: usize,
    /// Told apart from a later channel of the same name (one opened after `close`), so a
    /// subscription of the closed one leaving does not change the new one's count.
    generation: u64,
}

struct Inner {
    channels: Mutex<HashMap<String, Channel>>,
    queue_size: usize,
    generations: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// A client's place on a channel; leaving (drop) updates the count and frees an idle channel.
pub struct Subscription {
    pub rx: broadcast::Receiver<Utf8Bytes>,
    hub: Hub,
    channel: String,
    generation: u64,
    counted: bool,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = self.hub.lock();
        if let Some(c) = channels
            .get_mut(&self.channel)
            .filter(|c| c.generation == self.generation)
        {
            c.subscribers = c.subscribers.saturating_sub(1);
            if self.counted {
                c.viewers = c.viewers.saturating_sub(1);
            }
            if c.subscribers == 0 {
                channels.remove(&self.channel);
            }
        }
    }
}

impl Hub {
    pub fn new(queue_size: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                channels: Mutex::new(HashMap::new()),
                queue_size: queue_size.max(1),
                generations: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Channel>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every mutation is a
        // single insert/remove/counter change), so the poison flag can be ignored.
        self.inner
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Joins a channel, as one of its viewers when `counted`. A client that watches through a
    /// player as well (the web app's live page) is already counted by its HLS playback session,
    /// so its socket is not counted again.
    pub fn subscribe(
        &self,
        channel: &str,
        max: usize,
        counted: bool,
    ) -> Result<Subscription, SubscribeError> {
        let mut channels = self.lock();
        let entry = channels
            .entry(channel.to_string())
            .or_insert_with(|| Channel {
                tx: broadcast::channel(self.inner.queue_size).0,
                subscribers: 0,
                viewers: 0,
                generation: self
                    .inner
                    .generations
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            });
        if entry.subscribers >= max {
            return Err(SubscribeError::Full(max));
        }
        entry.subscribers += 1;
        entry.viewers += usize::from(counted);
        let rx = entry.tx.subscribe();
        Ok(Subscription {
            rx,
            hub: self.clone(),
            channel: channel.to_string(),
            generation: entry.generation,
            counted,
        })
    }

    /// Ends every subscription of the channel: each receives what was already sent, then
    /// `Closed`. For when who may listen has narrowed (content made private, a new password), so
    /// listeners admitted under the old rule must come back and be checked again.
    pub fn close(&self, channel: &str) {
        self.lock().remove(channel);
    }

    /// Sends to everyone on the channel; returns how many subscribers it reached.
    pub fn publish(&self, channel: &str, event: &Event) -> usize {
        let channels = self.lock();
        match channels.get(channel) {
            Some(c) => c.tx.send(event.to_text()).unwrap_or(0),
            None => 0,
        }
    }

    pub fn subscribers(&self, channel: &str) -> usize {
        self.lock().get(channel).map_or(0, |c| c.subscribers)
    }

    /// The channel's subscribers that count as viewers.
    pub fn viewers(&self, channel: &str) -> usize {
        self.lock().get(channel).map_or(0, |c| c.viewers)
    }

    /// (channel, subscribers) for every channel that has someone on it.
    pub fn snapshot(&self) -> Vec<(String, usize)> {
        self.lock()
            .iter()
            .map(|(k, c)| (k.clone(), c.subscribers))
            .collect()
    }

    pub fn total_subscribers(&self) -> usize {
        self.lock().values().map(|c| c.subscribers).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_counts_and_cleans_up() {
        let hub = Hub::new(4);
        let a = hub.subscribe("s", 2, true).unwrap();
        let _b = hub.subscribe("s", 2, true).unwrap();
        assert_eq!(
            hub.subscribe("s", 2, true).err(),
            Some(SubscribeError::Full(2))
        );
        assert_eq!(hub.subscribers("s"), 2);
        drop(a);
        assert_eq!(hub.subscribers("s"), 1);
        drop(_b);
        assert!(hub.snapshot().is_empty());
    }

    #[test]
    fn uncounted_subscribers_take_a_place_but_are_no_viewers() {
        let hub = Hub::new(4);
        let counted = hub.subscribe("s", 2, true).unwrap();
        let listener = hub.subscribe("s", 2, false).unwrap();
        assert_eq!(hub.subscribers("s"), 2);
        assert_eq!(hub.viewers("s"), 1);
        assert!(hub.subscribe("s", 2, false).is_err());
        drop(counted);
        assert_eq!(hub.viewers("s"), 0);
        assert_eq!(hub.subscribers("s"), 1);
        drop(listener);
        assert!(hub.snapshot().is_empty());
    }

    #[tokio::test]
    async fn closing_a_channel_ends_its_subscriptions_and_a_new_one_counts_afresh() {
        let hub = Hub::new(4);
        let mut old = hub.subscribe("s", 2, true).unwrap();
        let _other = hub.subscribe("t", 2, true).unwrap();
        hub.publish("s", &Event::Pong);
        hub.close("s");
        // What was sent before still arrives, then the end.
        assert!(old.rx.recv().await.is_ok());
        assert!(matches!(
            old.rx.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
        assert_eq!(hub.subscribers("t"), 1);
        let _new = hub.subscribe("s", 2, true).unwrap();
        assert_eq!(hub.publish("s", &Event::Pong), 1);
        // The old subscription leaving does not take the new one's place.
        drop(old);
        assert_eq!(hub.subscribers("s"), 1);
        assert!(hub.subscribe("s", 2, true).is_ok());
    }

    #[tokio::test]
    async fn slow_subscriber_lags_without_blocking_publisher() {
        let hub = Hub::new(2);
        let mut slow = hub.subscribe("s", 10, true).unwrap();
        for _ in 0..5 {
            assert_eq!(hub.publish("s", &Event::Pong), 1);
        }
        assert!(matches!(
            slow.rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(3))
        ));
    }
}
