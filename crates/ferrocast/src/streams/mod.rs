//! Live streams: create, list, read, edit, start/end, delete, and stream-key rotation.

pub mod store;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{Caller, hash_password, verify_password};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::models::{ContentType, Quality, Role, Stream, StreamStatus, lenient_bool, lenient_u32};
use crate::realtime::Event;
use crate::state::AppState;
use crate::validate::{Checks, page};
use store::{ListFilter, NewStream, StreamRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/streams", post(create).get(list))
        .route(
            "/api/streams/{stream_id}",
            get(get_one).patch(update).delete(remove),
        )
        .route("/api/streams/{stream_id}/start", post(start))
        .route("/api/streams/{stream_id}/end", post(end))
        .route("/api/streams/{stream_id}/key", post(regenerate_key))
}

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 5000;
const MAX_CATEGORY: usize = 100;
const MAX_VIEWERS_LIMIT: i64 = 1_000_000;

#[derive(Deserialize)]
struct CreateStream {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    streamer_id: Option<String>,
    #[serde(default)]
    content_type: Option<ContentType>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_u32")]
    max_viewers: Option<u32>,
    #[serde(default)]
    quality: Option<Quality>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_private: Option<bool>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    record: Option<bool>,
}

fn check_password(c: &mut Checks, password: Option<&str>) -> Option<String> {
    let p = password.filter(|p| !p.is_empty())?;
    let n = p.chars().count();
    if !(4..=256).contains(&n) {
        c.fail(&["body", "password"], "4 to 256 characters");
    }
    Some(p.to_string())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateStream>,
) -> ApiResult<(StatusCode, Json<Stream>)> {
    let streamer_id = caller.acting_as(
        &state,
        body.streamer_id.as_deref(),
        &["body", "streamer_id"],
    )?;
    caller.require_role(&state, &[Role::Streamer])?;
    let mut c = Checks::default();
    let title = c.text(&["body", "title"], &body.title, 1, MAX_TITLE);
    let description = c.opt_text(
        &["body", "description"],
        body.description.as_deref(),
        MAX_DESCRIPTION,
    );
    let category = c.opt_text(
        &["body", "category"],
        body.category.as_deref(),
        MAX_CATEGORY,
    );
    let tags = c.tags(
        &["body", "tags"],
        body.tags.iter().flatten().map(String::as_str),
    );
    let max_viewers = c.range(
        &["body", "max_viewers"],
        i64::from(body.max_viewers.unwrap_or(1000)),
        1,
        MAX_VIEWERS_LIMIT,
    );
    let language = c.text(
        &["body", "language"],
        body.language.as_deref().unwrap_or("en"),
        2,
        16,
    );
    let password = check_password(&mut c, body.password.as_deref());
    let is_private = body.is_private.unwrap_or(false) || password.is_some();
    c.finish()?;
    if state.config.enable_content_moderation {
        crate::chat::moderation::check_text(&["body", "title"], &title)?;
    }
    let password_hash = match password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let row = NewStream {
        id: crate::ids::new_id("stream"),
        title,
        description,
        streamer_id,
        content_type: body.content_type.unwrap_or(ContentType::LiveStream),
        stream_key: crate::ids::secret(state.config.stream_key_length),
        max_viewers,
        quality: body.quality.unwrap_or(state.config.default_quality),
        is_private,
        password_hash,
        tags,
        category,
        language,
        record: body.record,
    };
    store::insert(&state.db, &row).await?;
    let stored = store::find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stream vanished after insert")))?;
    if state.config.enable_stream_logging {
        tracing::info!(stream_id = %row.id, streamer_id = %row.streamer_id, "stream created");
    }
    // The creator gets the key once here; afterwards only a signed-in owner sees it.
    Ok((StatusCode::CREATED, Json(stored.to_api(&state, true))))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<StreamStatus>,
    content_type: Option<ContentType>,
    category: Option<String>,
    streamer_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Stream>>> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let viewer_id = caller.user.as_ref().map(|u| u.id.as_str());
    let rows = store::list(
        &state.db,
        &ListFilter {
            status: q.status,
            content_type: q.content_type,
            category: q.category.as_deref(),
            streamer_id: q.streamer_id.as_deref(),
            viewer_id,
            all_private: caller.is_admin(),
            limit,
            offset,
        },
    )
    .await?;
    Ok(Json(
        rows.iter()
            .map(|r| r.to_api(&state, caller.owns(&r.streamer_id)))
            .collect(),
    ))
}

#[derive(Deserialize)]
pub struct AccessQuery {
    pub password: Option<String>,
}

/// The stream if the caller may see it: public, or their own (or admin), or a private stream whose
/// password they give (`?password=` or the `X-Stream-Password` header). Anything else is 404, so
/// a private stream's existence is not revealed.
pub async fn visible_stream(
    state: &AppState,
    caller: &Caller,
    id: &str,
    password: Option<&str>,
) -> ApiResult<StreamRow> {
    let row = store::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Stream"))?;
    if !row.is_private() || caller.owns(&row.streamer_id) {
        return Ok(row);
    }
    if let (Some(given), Some(hash)) = (password, row.password_hash.clone())
        && verify_password(given.to_string(), hash).await
    {
        return Ok(row);
    }
    Err(ApiError::not_found("Stream"))
}

pub fn password_from(headers: &HeaderMap, q: &AccessQuery) -> Option<String> {
    q.password.clone().or_else(|| {
        headers
            .get("x-stream-password")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    })
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<AccessQuery>,
) -> ApiResult<Json<Stream>> {
    let pw = password_from(&headers, &q);
    let row = visible_stream(&state, &caller, &stream_id, pw.as_deref()).await?;
    Ok(Json(row.to_api(&state, caller.owns(&row.streamer_id))))
}

#[derive(Deserialize)]
struct OwnerQuery {
    streamer_id: Option<String>,
}

/// The stream, if the caller acts as its streamer (token, or `?streamer_id=` in development).
/// Another account's stream is 403; a private stream the caller cannot see is 404.
async fn owned_stream(
    state: &AppState,
    caller: &Caller,
    stream_id: &str,
    claimed: Option<&str>,
) -> ApiResult<StreamRow> {
    let row = store::find(&state.db, stream_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Stream"))?;
    caller.require_owner(
        state,
        claimed,
        &["query", "streamer_id"],
        &row.streamer_id,
        "Stream",
        row.is_private(),
    )?;
    Ok(row)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateStream {
    title: Option<String>,
    description: Option<String>,
    content_type: Option<ContentType>,
    category: Option<String>,
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_u32")]
    max_viewers: Option<u32>,
    quality: Option<Quality>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_private: Option<bool>,
    password: Option<String>,
    language: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    record: Option<bool>,
    /// Accepted (and checked) so clients can send the object they read back.
    streamer_id: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
    ApiJson(body): ApiJson<UpdateStream>,
) -> ApiResult<Json<Stream>> {
    let claimed = q.streamer_id.as_deref().or(body.streamer_id.as_deref());
    let mut row = owned_stream(&state, &caller, &stream_id, claimed).await?;
    let mut c = Checks::default();
    if let Some(t) = &body.title {
        row.title = c.text(&["body", "title"], t, 1, MAX_TITLE);
    }
    if let Some(d) = &body.description {
        row.description = c.opt_text(&["body", "description"], Some(d), MAX_DESCRIPTION);
    }
    if let Some(ct) = body.content_type {
        row.content_type = ct.as_str().into();
    }
    if let Some(cat) = &body.category {
        row.category = c.opt_text(&["body", "category"], Some(cat), MAX_CATEGORY);
    }
    if let Some(tags) = &body.tags {
        let t = c.tags(&["body", "tags"], tags.iter().map(String::as_str));
        row.tags = crate::db::tags_to_db(&t);
    }
    if let Some(m) = body.max_viewers {
        row.max_viewers = c.range(&["body", "max_viewers"], i64::from(m), 1, MAX_VIEWERS_LIMIT);
    }
    if let Some(qy) = body.quality {
        row.quality = qy.as_str().into();
    }
    if let Some(l) = &body.language {
        row.language = c.text(&["body", "language"], l, 2, 16);
    }
    let password = check_password(&mut c, body.password.as_deref());
    c.finish()?;
    let was_private = row.is_private();
    let new_password = password.is_some();
    if let Some(p) = password {
        row.password_hash = Some(hash_password(p).await?);
        row.is_private = 1;
    }
    if let Some(r) = body.record {
        row.record = Some(crate::db::flag(r));
    }
    if let Some(p) = body.is_private {
        row.is_private = crate::db::flag(p);
        if !p {
            row.password_hash = None;
        }
    }
    store::update(&state.db, &row).await?;
    if row.is_private() && (!was_private || new_password) {
        // Who may listen narrowed: everyone on the channel (chat, events) was let in under the
        // old rule and must come back with the password or the owner's token.
        state.hub.close(&row.id);
    }
    let row = store::find(&state.db, &stream_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Stream"))?;
    if let Some(live) = state.live.get(&row.id) {
        // At once rather than at the ingest's next look at the row: a new password ends the
        // playback tokens handed out under the old one.
        live.set_access(crate::live::origin::Access::of(&row));
    }
    Ok(Json(row.to_api(&state, caller.owns(&row.streamer_id))))
}

/// Moves a stream to live and tells its channel. Shared by the API and (later) RTMP ingest.
pub async fn go_live(state: &AppState, row: &StreamRow) -> ApiResult<StreamRow> {
    if !store::mark_live(&state.db, &row.id).await? {
        let current = store::find(&state.db, &row.id).await?.map(|r| r.status());
        return Err(ApiError::Conflict(match current {
            Some(StreamStatus::Live) => "stream is already live".into(),
            Some(StreamStatus::Ended) => {
                "stream has ended; create a new stream to go live again".into()
            }
            _ => "stream cannot be started from its current status".into(),
        }));
    }
    let row = store::find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Stream"))?;
    if state.config.enable_stream_logging {
        tracing::info!(stream_id = %row.id, "stream started");
    }
    state.hub.publish(
        &row.id,
        &Event::StreamStarted {
            stream: Box::new(row.to_api(state, false)),
            timestamp: crate::ids::now(),
        },
    );
    Ok(row)
}

/// Moves a live stream to ended (duration computed) and tells its channel.
pub async fn finish(state: &AppState, row: &StreamRow) -> ApiResult<StreamRow> {
    if !store::mark_ended(&state.db, row).await? {
        let current = store::find(&state.db, &row.id).await?.map(|r| r.status());
        return Err(ApiError::Conflict(match current {
            Some(StreamStatus::Scheduled) => "stream has not started yet".into(),
            Some(StreamStatus::Ended) => "stream has already ended".into(),
            _ => "stream cannot be ended from its current status".into(),
        }));
    }
    let row = store::find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Stream"))?;
    if state.config.enable_stream_logging {
        tracing::info!(stream_id = %row.id, duration = ?row.duration, "stream ended");
    }
    state.hub.publish(
        &row.id,
        &Event::StreamEnded {
            stream: Box::new(row.to_api(state, false)),
            timestamp: crate::ids::now(),
        },
    );
    Ok(row)
}

async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<Json<Stream>> {
    let row = owned_stream(&state, &caller, &stream_id, q.streamer_id.as_deref()).await?;
    let row = go_live(&state, &row).await?;
    Ok(Json(row.to_api(&state, caller.owns(&row.streamer_id))))
}

async fn end(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<Json<Stream>> {
    let row = owned_stream(&state, &caller, &stream_id, q.streamer_id.as_deref()).await?;
    let row = finish(&state, &row).await?;
    Ok(Json(row.to_api(&state, caller.owns(&row.streamer_id))))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<StatusCode> {
    let row = owned_stream(&state, &caller, &stream_id, q.streamer_id.as_deref()).await?;
    if row.status() == StreamStatus::Live {
        // Viewers learn the stream is over before it disappears.
        finish(&state, &row).await?;
    }
    store::delete(&state.db, &state.config, &row.id).await?;
    // Nobody may listen to a stream that is gone: chat and event listeners are closed.
    state.hub.close(&row.id);
    Ok(StatusCode::NO_CONTENT)
}

async fn regenerate_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<Json<Stream>> {
    let row = owned_stream(&state, &caller, &stream_id, q.streamer_id.as_deref()).await?;
    store::set_key(
        &state.db,
        &row.id,
        &crate::ids::secret(state.config.stream_key_length),
    )
    .await?;
    let row = store::find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Stream"))?;
    Ok(Json(row.to_api(&state, true)))
}
