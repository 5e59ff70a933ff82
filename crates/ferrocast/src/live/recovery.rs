//! Start-up recovery. A crash or restart leaves streams `live` in the database with no publisher
//! in this process, and recordings in RECORDING_DIR that never became videos. Each such stream
//! gets LIVE_GRACE_PERIOD for its publisher to reconnect (a reconnect continues it, recording a
//! new take); after that it is ended as if its publisher had left, and every recording left
//! behind becomes a video.
//!
//! This assumes one server per database: another server's live streams would look abandoned.

use std::time::Duration;

use super::recording;
use crate::models::StreamStatus;
use crate::state::AppState;
use crate::streams::{self, store};

pub async fn run(state: AppState) {
    let live: Vec<String> = match sqlx::query_scalar("SELECT id FROM streams WHERE status = 'live'")
        .fetch_all(&state.db.pool)
        .await
    {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "recovery: cannot list live streams");
            Vec::new()
        }
    };
    let mut pending = recording::leftovers(&state).await;
    for id in &live {
        if !pending.contains(id) {
            pending.push(id.clone());
        }
    }
    if pending.is_empty() {
        return;
    }
    if !live.is_empty() {
        tracing::info!(
            streams = live.len(),
            "streams left live by a previous run; waiting LIVE_GRACE_PERIOD for their publishers"
        );
        tokio::time::sleep(Duration::from_secs(state.config.live_grace_period)).await;
    }
    for stream_id in pending {
        // Back on the air: its origin finalizes everything when it ends.
        if state.live.get(&stream_id).is_some() {
            continue;
        }
        if live.contains(&stream_id) {
            end(&state, &stream_id).await;
        }
        recording::finalize(&state, &stream_id).await;
    }
}

async fn end(state: &AppState, stream_id: &str) {
    match store::find(&state.db, stream_id).await {
        Ok(Some(row)) if row.status() == StreamStatus::Live => {
            match streams::finish(state, &row).await {
                Ok(_) => tracing::info!(%stream_id, "stream left live by a previous run ended"),
                Err(e) => {
                    tracing::warn!(%stream_id, error = %e, "recovery: could not end the stream")
                }
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(%stream_id, error = %e, "recovery: could not end the stream"),
    }
}
