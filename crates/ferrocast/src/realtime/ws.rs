//! `/ws/{stream_id}`: the seed's WebSocket. The client receives the stream's channel and may send
//! `ping`, `chat_message` and `quality_change`. The server pings every
//! WEBSOCKET_HEARTBEAT_INTERVAL and drops a client that stays silent for WEBSOCKET_PING_TIMEOUT
//! after a ping, or that falls more than WEBSOCKET_MESSAGE_QUEUE_SIZE events behind.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, interval_at, sleep_until};

use super::hub::{Event, SubscribeError, Subscription};
use crate::auth::Caller;
use crate::chat::{Sender, post_message};
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::models::{Quality, lenient_bool};
use crate::state::AppState;
use crate::streams::{AccessQuery, password_from, visible_stream};

/// Largest frame a client may send; chat messages are far smaller.
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Per-connection buffers stay small so ten thousand viewers cost megabytes, not gigabytes; the
/// write side is capped so a stalled client cannot grow it without bound.
const READ_BUFFER: usize = 4 * 1024;
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

#[derive(Deserialize)]
pub struct SocketQuery {
    password: Option<String>,
    /// `false` from a client that also plays the stream, whose player's playback session is
    /// already counted, so it is not counted twice in `viewer_count`.
    #[serde(default, deserialize_with = "lenient_bool")]
    counted: Option<bool>,
}

pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    // A video's id names its processing-events channel.
    if stream_id.starts_with("video_") {
        return crate::vod::events::video_socket(state, caller, stream_id, upgrade).await;
    }
    let pw = password_from(
        &headers,
        &AccessQuery {
            password: q.password,
        },
    );
    let stream = visible_stream(&state, &caller, &stream_id, pw.as_deref()).await?;
    let sub = state
        .hub
        .subscribe(
            &stream.id,
            state.config.max_websocket_connections_per_stream,
            q.counted.unwrap_or(true),
        )
        .map_err(|SubscribeError::Full(n)| {
            ApiError::Unavailable(format!(
                "this stream already has the maximum of {n} WebSocket clients"
            ))
        })?;
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| {
            Session {
                state,
                caller,
                addr,
                stream_id: stream.id,
                password: pw,
            }
            .run(socket, sub)
        }))
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    quality: Option<String>,
}

struct Session {
    state: AppState,
    caller: Caller,
    addr: SocketAddr,
    stream_id: String,
    password: Option<String>,
}

enum Flow {
    Continue,
    Close(u16, &'static str),
}

impl Session {
    async fn run(self, socket: WebSocket, mut sub: Subscription) {
        let (mut tx, mut rx) = socket.split();
        let cfg = &self.state.config;
        let heartbeat = Duration::from_secs(cfg.websocket_heartbeat_interval);
        let ping_timeout = Duration::from_secs(cfg.websocket_ping_timeout);
        let mut ticker = interval_at(Instant::now() + heartbeat, heartbeat);
        let mut pong_deadline: Option<Instant> = None;

        // A fresh viewer sees the current count at once instead of after the next tick.
        let hello = Event::ViewerCountUpdate {
            viewer_count: self.state.live_viewers(&self.stream_id),
            timestamp: crate::ids::now(),
        };
        let mut outcome = Flow::Continue;
        if send(&mut tx, Message::Text(hello.to_text()), ping_timeout)
            .await
            .is_err()
        {
            return;
        }
        loop {
            let deadline = pong_deadline;
            let out = tokio::select! {
                event = sub.rx.recv() => match event {
                    Ok(text) => Some(Message::Text(text)),
                    Err(RecvError::Lagged(_)) => {
                        outcome = Flow::Close(close_code::POLICY, "client too slow: events dropped");
                        break;
                    }
                    Err(RecvError::Closed) => {
                        // The channel was closed because who may listen narrowed.
                        outcome = Flow::Close(close_code::POLICY, "access to this stream changed");
                        break;
                    }
                },
                incoming = rx.next() => {
                    pong_deadline = None;
                    match incoming {
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
                        Some(Ok(Message::Binary(_))) => Some(error_message("binary frames are not supported")),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    }
                }
                _ = ticker.tick() => {
                    if pong_deadline.is_none() {
                        pong_deadline = Some(Instant::now() + ping_timeout);
                    }
                    Some(Message::Ping(Default::default()))
                }
                _ = async { sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                    outcome = Flow::Close(close_code::AWAY, "no answer to ping");
                    break;
                }
            };
            if let Some(msg) = out
                && send(&mut tx, msg, ping_timeout).await.is_err()
            {
                return;
            }
        }
        if let Flow::Close(code, reason) = outcome {
            let _ = send(
                &mut tx,
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                ping_timeout,
            )
            .await;
        }
    }

    async fn on_text(&self, text: &str) -> Option<Message> {
        let Ok(msg) = serde_json::from_str::<Incoming>(text) else {
            return Some(error_message("expected JSON like {\"type\": \"ping\"}"));
        };
        match msg.kind.as_str() {
            "ping" => Some(Message::Text(Event::Pong.to_text())),
            "pong" => None,
            "chat_message" => match self.chat(&msg).await {
                Ok(()) => None,
                Err(e) => Some(error_message(&api_error_text(&e))),
            },
            "quality_change" => match msg.quality.as_deref().and_then(Quality::parse) {
                Some(quality) => Some(Message::Text(Event::QualityChange { quality }.to_text())),
                None => Some(error_message(&format!(
                    "quality must be one of {}",
                    Quality::expected()
                ))),
            },
            other => Some(error_message(&format!(
                "unknown message type {other:?}: expected ping, chat_message or quality_change"
            ))),
        }
    }

    async fn chat(&self, msg: &Incoming) -> ApiResult<()> {
        // Re-read the stream: it may have ended or changed since the socket opened.
        let stream = visible_stream(
            &self.state,
            &self.caller,
            &self.stream_id,
            self.password.as_deref(),
        )
        .await?;
        let sender = Sender::resolve(
            &self.state,
            &self.caller,
            msg.username.as_deref(),
            msg.user_id.as_deref(),
            self.addr,
            "message",
        )?;
        // The sender sees its own message through the channel, like everyone else.
        post_message(
            &self.state,
            &stream,
            sender,
            msg.message.as_deref().unwrap_or(""),
            "message",
        )
        .await
        .map(|_| ())
    }
}

fn error_message(detail: &str) -> Message {
    Message::Text(
        Event::Error {
            detail: detail.to_string(),
        }
        .to_text(),
    )
}

fn api_error_text(e: &ApiError) -> String {
    match e {
        ApiError::Validation(errors) => errors
            .iter()
            .map(|f| format!("{}: {}", f.loc.join("."), f.msg))
            .collect::<Vec<_>>()
            .join("; "),
        ApiError::Internal(_) => "internal server error".into(),
        other => other.to_string(),
    }
}

/// A send that gives up on a client whose socket stays full, so a reader that stopped reading
/// cannot hold its session (and its place on the channel) forever.
async fn send<S>(tx: &mut S, msg: Message, limit: Duration) -> Result<(), ()>
where
    S: SinkExt<Message> + Unpin,
{
    match tokio::time::timeout(limit, tx.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
