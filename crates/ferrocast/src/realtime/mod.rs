//! Real-time delivery: the hub every producer publishes to, the WebSocket adapter over it, and
//! the task that tells each live stream's channel how many people are watching.

mod hub;
pub mod sse;
pub mod ws;

pub use hub::{Event, Hub, SubscribeError, Subscription};

use std::time::Duration;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ws/{stream_id}", get(ws::handler))
        .route("/api/streams/{stream_id}/events", get(sse::stream_events))
        .route("/api/videos/{video_id}/events", get(sse::video_events))
}

/// Every VIEWER_UPDATE_INTERVAL: a `viewer_count_update` on each watched or live channel, and
/// the count (WebSocket plus HLS viewers, and the peak) written to the stream.
pub async fn viewer_count_task(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config.viewer_update_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let mut channels: Vec<String> =
            state.hub.snapshot().into_iter().map(|(id, _)| id).collect();
        channels.extend(state.live.ids());
        channels.sort_unstable();
        channels.dedup();
        for stream_id in channels {
            let viewers = state.live_viewers(&stream_id);
            state.hub.publish(
                &stream_id,
                &Event::ViewerCountUpdate {
                    viewer_count: viewers,
                    timestamp: crate::ids::now(),
                },
            );
            if let Err(e) =
                crate::streams::store::record_viewers(&state.db, &stream_id, viewers).await
            {
                tracing::warn!(%stream_id, error = %e, "could not record viewer count");
            }
        }
    }
}
