//! Server-Sent Events over the same hub as the WebSocket, for clients that only listen
//! (dashboards, upload progress, `EventSource` in a browser). Each hub event becomes one SSE event
//! named by its `type`, with the event's JSON as data. A listener that falls a whole queue behind
//! is ended, like a slow WebSocket client.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::hub::{SubscribeError, Subscription};
use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::state::AppState;
use crate::streams::{AccessQuery, password_from, visible_stream};

fn subscribe(state: &AppState, channel: &str) -> ApiResult<Subscription> {
    state
        .hub
        .subscribe(
            channel,
            state.config.max_websocket_connections_per_stream,
            true,
        )
        .map_err(|SubscribeError::Full(n)| {
            ApiError::Unavailable(format!(
                "this channel already has the maximum of {n} listeners"
            ))
        })
}

/// The `type` field of a serialized hub event, used as the SSE event name.
fn event_name(json: &str) -> &str {
    // Events are serialized with `type` first (serde's internally tagged enums put it first).
    json.strip_prefix("{\"type\":\"")
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("message")
}

fn events(sub: Subscription) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    // The subscription lives in the stream's state, so it ends when the client goes away.
    futures_util::stream::unfold(Some(sub), |sub| async move {
        let mut sub = sub?;
        match sub.rx.recv().await {
            Ok(text) => {
                let ev = SseEvent::default()
                    .event(event_name(text.as_str()))
                    .data(text.as_str());
                Some((Ok(ev), Some(sub)))
            }
            Err(RecvError::Lagged(_)) => {
                let ev = SseEvent::default()
                    .event("error")
                    .data(r#"{"type":"error","detail":"listener too slow: events dropped"}"#);
                Some((Ok(ev), None))
            }
            Err(RecvError::Closed) => None,
        }
    })
}

fn respond(sub: Subscription) -> Response {
    Sse::new(events(sub))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `GET /api/streams/{id}/events`: the stream's channel (chat, start/end, viewer counts).
pub async fn stream_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<AccessQuery>,
) -> ApiResult<Response> {
    let pw = password_from(&headers, &q);
    let stream = visible_stream(&state, &caller, &stream_id, pw.as_deref()).await?;
    Ok(respond(subscribe(&state, &stream.id)?))
}

/// `GET /api/videos/{id}/events`: the video's channel (upload and processing progress).
pub async fn video_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
) -> ApiResult<Response> {
    let channel = crate::videos::video_channel(&state, &caller, &video_id).await?;
    Ok(respond(subscribe(&state, &channel)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::Event;

    #[test]
    fn event_names_come_from_the_type() {
        let t = Event::Pong.to_text();
        assert_eq!(event_name(t.as_str()), "pong");
        let t = Event::ViewerCountUpdate {
            viewer_count: 3,
            timestamp: "x".into(),
        }
        .to_text();
        assert_eq!(event_name(t.as_str()), "viewer_count_update");
    }
}
