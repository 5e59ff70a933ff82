//! `/ws/{video_id}`: the events of a video for whoever may see it: its resumable upload
//! (`upload_progress`, `upload_completed`, `upload_failed`, `upload_cancelled`) and its processing
//! (`transcode_started`, `transcode_progress`, `transcode_completed`, `transcode_failed`,
//! `transcode_cancelled`). The socket only listens; a client's `{"type": "ping"}` gets a `pong`.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::realtime::{Event, SubscribeError, Subscription};
use crate::state::AppState;

const MAX_CLIENT_FRAME: usize = 4 * 1024;

pub async fn video_socket(
    state: AppState,
    caller: Caller,
    video_id: String,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let channel = crate::videos::video_channel(&state, &caller, &video_id).await?;
    let sub = state
        .hub
        .subscribe(
            &channel,
            state.config.max_websocket_connections_per_stream,
            true,
        )
        .map_err(|SubscribeError::Full(n)| {
            ApiError::Unavailable(format!(
                "this video already has the maximum of {n} WebSocket clients"
            ))
        })?;
    let limit = Duration::from_secs(state.config.websocket_ping_timeout);
    Ok(upgrade
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| listen(socket, sub, limit)))
}

async fn listen(socket: WebSocket, mut sub: Subscription, limit: Duration) {
    let (mut tx, mut rx) = socket.split();
    loop {
        let out = tokio::select! {
            event = sub.rx.recv() => match event {
                Ok(text) => Message::Text(text),
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
            },
            incoming = rx.next() => match incoming {
                Some(Ok(Message::Text(t))) if t.as_str().contains("\"ping\"") => {
                    Message::Text(Event::Pong.to_text())
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
        };
        // A reader that stopped reading is dropped rather than allowed to hold its place.
        match tokio::time::timeout(limit, tx.send(out)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
}
