//! Videos on demand: upload, list, read, edit, delete, reactions and views.

pub mod intake;
pub mod resumable;
mod sniff;
mod spool;
pub mod store;
mod upload;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::models::{Video, lenient_bool};
use crate::state::AppState;
use crate::validate::{Checks, page};
use store::{ListFilter, Reaction, VideoRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/videos/upload",
            // The upload enforces MAX_FILE_SIZE itself, while streaming.
            post(upload::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/videos", get(list))
        .route(
            "/api/videos/{video_id}",
            get(get_one).patch(update).delete(remove),
        )
        .route("/api/videos/{video_id}/like", post(like))
        .route("/api/videos/{video_id}/dislike", post(dislike))
        .route("/api/videos/{video_id}/view", post(view))
}

/// The video if the caller may see it: public, or their own (or admin); otherwise 404.
pub async fn visible_video(state: &AppState, caller: &Caller, id: &str) -> ApiResult<VideoRow> {
    let row = store::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Video"))?;
    if row.is_public() || caller.owns(&row.uploader_id) {
        Ok(row)
    } else {
        Err(ApiError::not_found("Video"))
    }
}

/// The events channel of a video the caller may follow: a video they may see, or an unfinished
/// resumable upload of theirs (named by the id of the video it becomes).
pub async fn video_channel(state: &AppState, caller: &Caller, id: &str) -> ApiResult<String> {
    match visible_video(state, caller, id).await {
        Ok(row) => Ok(row.id),
        Err(ApiError::NotFound(_)) if resumable::followable(state, caller, id).await? => {
            Ok(id.to_string())
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    category: Option<String>,
    uploader_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_public: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Video>>> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let rows = store::list(
        &state.db,
        &ListFilter {
            category: q.category.as_deref(),
            uploader_id: q.uploader_id.as_deref(),
            is_public: q.is_public,
            viewer_id: caller.user.as_ref().map(|u| u.id.as_str()),
            all_private: caller.is_admin(),
            limit,
            offset,
        },
    )
    .await?;
    Ok(Json(rows.iter().map(|r| r.to_api(&state.config)).collect()))
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
) -> ApiResult<Json<Video>> {
    let mut video = visible_video(&state, &caller, &video_id)
        .await?
        .to_api(&state.config);
    crate::vod::sign_urls(&state, &mut video);
    Ok(Json(video))
}

/// Who a reaction or view belongs to: the account, else the client's address.
fn actor(caller: &Caller, addr: SocketAddr) -> String {
    match &caller.user {
        Some(u) => format!("user:{}", u.id),
        None => format!("ip:{}", addr.ip()),
    }
}

async fn react(
    state: AppState,
    caller: Caller,
    addr: SocketAddr,
    video_id: String,
    reaction: Reaction,
) -> ApiResult<Json<Video>> {
    if state.config.requires_tokens() && caller.user.is_none() {
        return Err(ApiError::Unauthorized("sign in to rate videos".into()));
    }
    let row = visible_video(&state, &caller, &video_id).await?;
    store::react(&state.db, &row.id, &actor(&caller, addr), reaction).await?;
    let row = store::find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Video"))?;
    Ok(Json(row.to_api(&state.config)))
}

async fn like(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(video_id): Path<String>,
) -> ApiResult<Json<Video>> {
    react(state, caller, addr, video_id, Reaction::Like).await
}

async fn dislike(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(video_id): Path<String>,
) -> ApiResult<Json<Video>> {
    react(state, caller, addr, video_id, Reaction::Dislike).await
}

async fn view(
    State(state): State<AppState>,
    caller: Caller,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(video_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = visible_video(&state, &caller, &video_id).await?;
    let counted = store::count_view(&state.db, &row.id, &actor(&caller, addr)).await?;
    let row = store::find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Video"))?;
    Ok(Json(
        json!({ "video_id": row.id, "view_count": row.view_count, "counted": counted }),
    ))
}

#[derive(Deserialize)]
pub(crate) struct OwnerQuery {
    pub uploader_id: Option<String>,
}

/// The video if the caller may change it (its owner or an admin).
pub(crate) async fn owned_video(
    state: &AppState,
    caller: &Caller,
    video_id: &str,
    claimed: Option<&str>,
) -> ApiResult<VideoRow> {
    let row = store::find(&state.db, video_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Video"))?;
    caller.require_owner(
        state,
        claimed,
        &["query", "uploader_id"],
        &row.uploader_id,
        "Video",
        !row.is_public(),
    )?;
    Ok(row)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateVideo {
    title: Option<String>,
    description: Option<String>,
    category: Option<String>,
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_public: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
    ApiJson(body): ApiJson<UpdateVideo>,
) -> ApiResult<Json<Video>> {
    let mut row = owned_video(&state, &caller, &video_id, q.uploader_id.as_deref()).await?;
    let was_public = row.is_public();
    let mut c = Checks::default();
    if let Some(t) = &body.title {
        row.title = c.text(&["body", "title"], t, 1, 200);
    }
    if let Some(d) = &body.description {
        row.description = c.opt_text(&["body", "description"], Some(d), 5000);
    }
    if let Some(cat) = &body.category {
        row.category = c.opt_text(&["body", "category"], Some(cat), 100);
    }
    if let Some(tags) = &body.tags {
        row.tags =
            crate::db::tags_to_db(&c.tags(&["body", "tags"], tags.iter().map(String::as_str)));
    }
    if let Some(p) = body.is_public {
        row.is_public = crate::db::flag(p);
    }
    c.finish()?;
    store::update(&state.db, &row).await?;
    if was_public && !row.is_public() {
        // Strangers following its progress were let in while it was public.
        state.hub.close(&row.id);
    }
    let row = store::find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Video"))?;
    Ok(Json(row.to_api(&state.config)))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<StatusCode> {
    let row = owned_video(&state, &caller, &video_id, q.uploader_id.as_deref()).await?;
    store::delete(&state.db, &row.id).await?;
    // Nobody may listen to a video that is gone: its event listeners are closed.
    state.hub.close(&row.id);
    crate::vod::remove_outputs(&state, &row.id).await;
    let storage = &state.storage;
    if let Some(name) = crate::storage::original_name(&row.file_path)
        && let Err(e) = storage.videos.remove(name).await
    {
        tracing::warn!(video_id = %row.id, error = format!("{e:#}"), "could not remove the video file");
    }
    // Recordings have a thumbnail; uploads (so far) do not.
    let thumbnail = crate::live::recording::video_thumbnail_name(&row.id);
    if let Err(e) = storage.pictures.remove(&thumbnail).await {
        tracing::warn!(video_id = %row.id, error = format!("{e:#}"), "could not remove the thumbnail");
    }
    Ok(StatusCode::NO_CONTENT)
}
