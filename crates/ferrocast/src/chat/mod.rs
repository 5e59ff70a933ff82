//! Stream chat: messages over REST and WebSocket go through one `post_message`, which checks,
//! stores, prunes the history and publishes to the stream's channel.

pub mod moderation;
mod rate_limit;

pub use rate_limit::RateLimiter;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;

use crate::auth::Caller;
use crate::db::Db;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::models::{ChatMessage, StreamStatus};
use crate::realtime::Event;
use crate::state::AppState;
use crate::streams::{self, AccessQuery, password_from, visible_stream};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/streams/{stream_id}/chat", get(history).post(send))
        .route("/api/streams/{stream_id}/chat/{message_id}", delete(remove))
}

const MAX_USERNAME: usize = 50;

#[derive(sqlx::FromRow)]
struct ChatRow {
    id: String,
    stream_id: String,
    user_id: Option<String>,
    username: String,
    message: String,
    timestamp: String,
    is_deleted: i64,
}

impl From<ChatRow> for ChatMessage {
    fn from(r: ChatRow) -> Self {
        ChatMessage {
            id: r.id,
            stream_id: r.stream_id,
            user_id: r.user_id,
            username: r.username,
            message: r.message,
            timestamp: r.timestamp,
            is_deleted: r.is_deleted != 0,
        }
    }
}

/// Who is speaking: the signed-in account, or in development the name and id the client gives.
pub struct Sender {
    pub user_id: Option<String>,
    pub username: String,
    /// What the rate limit counts by: the account, else the client's address.
    pub rate_key: String,
}

impl Sender {
    pub fn resolve(
        state: &AppState,
        caller: &Caller,
        username: Option<&str>,
        user_id: Option<&str>,
        addr: SocketAddr,
        loc_root: &str,
    ) -> ApiResult<Sender> {
        if let Some(u) = &caller.user {
            return Ok(Sender {
                user_id: Some(u.id.clone()),
                username: u.username.clone(),
                rate_key: format!("user:{}", u.id),
            });
        }
        if state.config.requires_tokens() {
            return Err(ApiError::Unauthorized(
                "sign in to chat: send 'Authorization: Bearer <token>'".into(),
            ));
        }
        let username = username.map(str::trim).unwrap_or("");
        let n = username.chars().count();
        if n == 0 || n > MAX_USERNAME {
            return Err(ApiError::field(
                &[loc_root, "username"],
                format!("1 to {MAX_USERNAME} characters"),
            ));
        }
        let user_id = user_id
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(128).collect::<String>());
        Ok(Sender {
            rate_key: format!("ip:{}", addr.ip()),
            user_id,
            username: username.to_string(),
        })
    }
}

/// Checks, stores and broadcasts one chat message.
pub async fn post_message(
    state: &AppState,
    stream: &streams::store::StreamRow,
    sender: Sender,
    text: &str,
    loc_root: &str,
) -> ApiResult<ChatMessage> {
    if !state.config.enable_chat {
        return Err(ApiError::Forbidden(
            "chat is disabled on this server".into(),
        ));
    }
    if stream.status() == StreamStatus::Ended {
        return Err(ApiError::Conflict(
            "the stream has ended; its chat is closed".into(),
        ));
    }
    let text = text.trim();
    let n = text.chars().count();
    let max = state.config.max_chat_message_length;
    if n == 0 {
        return Err(ApiError::field(&[loc_root, "message"], "must not be empty"));
    }
    if n > max {
        return Err(ApiError::field(
            &[loc_root, "message"],
            format!("at most {max} characters (got {n})"),
        ));
    }
    let text = if state.config.chat_profanity_filter {
        moderation::mask(text)
    } else {
        if state.config.enable_content_moderation {
            moderation::check_text(&[loc_root, "message"], text)?;
        }
        text.to_string()
    };
    if !state
        .chat_limiter
        .allow(&format!("{}|{}", stream.id, sender.rate_key))
    {
        return Err(ApiError::TooManyRequests(format!(
            "slow down: at most {} messages per minute",
            state.config.chat_rate_limit
        )));
    }
    let msg = ChatMessage {
        id: crate::ids::new_id("msg"),
        stream_id: stream.id.clone(),
        user_id: sender.user_id,
        username: sender.username,
        message: text,
        timestamp: crate::ids::now(),
        is_deleted: false,
    };
    insert(&state.db, &msg, state.config.chat_history_limit).await?;
    state.hub.publish(
        &stream.id,
        &Event::ChatMessage {
            message: msg.clone(),
        },
    );
    Ok(msg)
}

async fn insert(db: &Db, m: &ChatMessage, history_limit: u32) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO chat_messages (id, stream_id, user_id, username, message, timestamp, is_deleted)
         VALUES ($1, $2, $3, $4, $5, $6, 0)",
    )
    .bind(&m.id)
    .bind(&m.stream_id)
    .bind(&m.user_id)
    .bind(&m.username)
    .bind(&m.message)
    .bind(&m.timestamp)
    .execute(&db.pool)
    .await?;
    // Keep the newest `history_limit` messages of the stream.
    sqlx::query(
        "DELETE FROM chat_messages WHERE stream_id = $1 AND timestamp < (
            SELECT timestamp FROM chat_messages WHERE stream_id = $1
            ORDER BY timestamp DESC LIMIT 1 OFFSET $2)",
    )
    .bind(&m.stream_id)
    .bind(i64::from(history_limit) - 1)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<i64>,
    password: Option<String>,
}

/// The newest `limit` messages, oldest first (the order a chat pane shows them).
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Vec<ChatMessage>>> {
    let pw = password_from(
        &headers,
        &AccessQuery {
            password: q.password,
        },
    );
    let stream = visible_stream(&state, &caller, &stream_id, pw.as_deref()).await?;
    let mut c = crate::validate::Checks::default();
    let limit = c.range(
        &["query", "limit"],
        q.limit.unwrap_or(100),
        1,
        i64::from(state.config.chat_history_limit),
    );
    c.finish()?;
    let mut rows: Vec<ChatRow> = sqlx::query_as(
        "SELECT id, stream_id, user_id, username, message, timestamp, is_deleted
         FROM chat_messages WHERE stream_id = $1 AND is_deleted = 0
         ORDER BY timestamp DESC, id DESC LIMIT $2",
    )
    .bind(&stream.id)
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    rows.reverse();
    Ok(Json(rows.into_iter().map(ChatMessage::from).collect()))
}

#[derive(Deserialize)]
struct SendBody {
    #[serde(default)]
    username: Option<String>,
    message: String,
    #[serde(default)]
    user_id: Option<String>,
}

async fn send(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<AccessQuery>,
    ApiJson(body): ApiJson<SendBody>,
) -> ApiResult<(StatusCode, Json<ChatMessage>)> {
    let pw = password_from(&headers, &q);
    let stream = visible_stream(&state, &caller, &stream_id, pw.as_deref()).await?;
    let sender = Sender::resolve(
        &state,
        &caller,
        body.username.as_deref(),
        body.user_id.as_deref(),
        addr,
        "body",
    )?;
    let msg = post_message(&state, &stream, sender, &body.message, "body").await?;
    Ok((StatusCode::CREATED, Json(msg)))
}

/// Moderators, admins and the stream's own streamer may remove a message; viewers see it vanish.
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((stream_id, message_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let Some(user) = &caller.user else {
        return Err(ApiError::Unauthorized("sign in to moderate chat".into()));
    };
    let stream = visible_stream(&state, &caller, &stream_id, None).await?;
    if !(user.can_moderate() || user.id == stream.streamer_id) {
        return Err(ApiError::Forbidden(
            "only moderators and the streamer can delete messages".into(),
        ));
    }
    let done = sqlx::query(
        "UPDATE chat_messages SET is_deleted = 1 WHERE id = $1 AND stream_id = $2 AND is_deleted = 0",
    )
    .bind(&message_id)
    .bind(&stream.id)
    .execute(&state.db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("Message"));
    }
    state.hub.publish(
        &stream.id,
        &Event::ChatMessageDeleted {
            message_id,
            stream_id: stream.id.clone(),
            timestamp: crate::ids::now(),
        },
    );
    Ok(StatusCode::NO_CONTENT)
}
