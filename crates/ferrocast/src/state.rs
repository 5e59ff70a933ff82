//! What every handler can reach: settings, database, event hub, and shared limiters.

use std::sync::Arc;

use crate::chat::RateLimiter;
use crate::config::Config;
use crate::db::Db;
use crate::live::Registry;
use crate::realtime::Hub;
use crate::storage::Storage;

/// Cloned for every request (each route holds its own copy), so it is one shared pointer: a
/// clone is one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    pub db: Db,
    pub hub: Hub,
    pub chat_limiter: Arc<RateLimiter>,
    pub tools: Arc<crate::media_tools::MediaTools>,
    /// Streams being served live over HLS.
    pub live: Arc<Registry>,
    /// Originals, streams and pictures (local folders or a bucket).
    pub storage: Arc<Storage>,
    /// Resumable uploads a request is writing to.
    pub uploads: Arc<crate::videos::resumable::Writers>,
    /// One permit per upload body being received (MAX_CONCURRENT_UPLOADS).
    pub upload_slots: Arc<tokio::sync::Semaphore>,
    /// Playback sessions of videos on their way to counting as a view.
    pub views: Arc<crate::vod::views::ViewSessions>,
    /// Told when this process queues a transcoding job, so idle workers need not poll for it.
    pub job_queued: tokio::sync::Notify,
}

impl AppState {
    pub fn new(config: Config, db: Db, storage: Storage) -> Self {
        let hub = Hub::new(config.websocket_message_queue_size);
        let chat_limiter = Arc::new(RateLimiter::new(config.chat_rate_limit));
        let views = Arc::new(crate::vod::views::ViewSessions::new(
            config.view_count_seconds,
            crate::vod::views::MAX_SESSIONS,
        ));
        let upload_slots = Arc::new(tokio::sync::Semaphore::new(
            config.max_concurrent_uploads as usize,
        ));
        Self(Arc::new(Shared {
            config: Arc::new(config),
            db,
            hub,
            chat_limiter,
            tools: Arc::new(crate::media_tools::MediaTools::detect()),
            live: Arc::new(Registry::default()),
            storage: Arc::new(storage),
            uploads: Arc::default(),
            upload_slots,
            views,
            job_queued: tokio::sync::Notify::new(),
        }))
    }

    /// People watching a stream right now: WebSocket and event-stream viewers plus recent HLS
    /// playback sessions. A client that has both a socket and a player counts twice unless its
    /// socket said it is not a viewer of its own (`?counted=false`, as the web app's page does).
    pub fn live_viewers(&self, stream_id: &str) -> i64 {
        (self.hub.viewers(stream_id) + self.live.viewers(stream_id)) as i64
    }
}
