//! Playlists: ordered collections of videos.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::Caller;
use crate::db::{Db, Select, flag};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, FieldError};
use crate::models::{Playlist, lenient_bool};
use crate::state::AppState;
use crate::validate::{Checks, page};
use crate::videos::visible_video;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/playlists", post(create).get(list))
        .route("/api/playlists/{playlist_id}", get(get_one).delete(remove))
        .route(
            "/api/playlists/{playlist_id}/videos/{video_id}",
            post(add_video),
        )
        .route(
            "/api/playlists/{playlist_id}/videos/{video_id}",
            delete(remove_video),
        )
}

/// Most videos one playlist may hold.
const MAX_PLAYLIST_VIDEOS: usize = 5000;

#[derive(sqlx::FromRow)]
struct PlaylistRow {
    id: String,
    name: String,
    description: Option<String>,
    creator_id: String,
    is_public: i64,
    created_at: String,
    updated_at: String,
}

/// Every video in the playlist, in order, whoever may see them.
async fn all_video_ids(db: &Db, playlist_id: &str) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT video_id FROM playlist_videos WHERE playlist_id = $1 ORDER BY position, added_at",
    )
    .bind(playlist_id)
    .fetch_all(&db.pool)
    .await?)
}

/// The playlist's videos the caller may see: a public playlist does not make the private videos
/// in it (its owner's, or one made private after it was added) visible to strangers.
async fn video_ids(db: &Db, caller: &Caller, playlist_id: &str) -> ApiResult<Vec<String>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT pv.video_id, v.uploader_id, v.is_public FROM playlist_videos pv \
         JOIN videos v ON v.id = pv.video_id \
         WHERE pv.playlist_id = $1 ORDER BY pv.position, pv.added_at",
    )
    .bind(playlist_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, uploader, public)| *public != 0 || caller.owns(uploader))
        .map(|(id, _, _)| id)
        .collect())
}

async fn to_api(db: &Db, caller: &Caller, r: PlaylistRow) -> ApiResult<Playlist> {
    let ids = video_ids(db, caller, &r.id).await?;
    Ok(Playlist {
        video_count: ids.len(),
        video_ids: ids,
        id: r.id,
        name: r.name,
        description: r.description,
        creator_id: r.creator_id,
        is_public: r.is_public != 0,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

const COLUMNS: &str = "id, name, description, creator_id, is_public, created_at, updated_at";

async fn find(db: &Db, id: &str) -> ApiResult<Option<PlaylistRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM playlists WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

async fn visible(state: &AppState, caller: &Caller, id: &str) -> ApiResult<PlaylistRow> {
    let row = find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Playlist"))?;
    if row.is_public != 0 || caller.owns(&row.creator_id) {
        Ok(row)
    } else {
        Err(ApiError::not_found("Playlist"))
    }
}

#[derive(Deserialize)]
struct CreatePlaylist {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    creator_id: Option<String>,
    #[serde(default)]
    video_ids: Vec<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_public: Option<bool>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreatePlaylist>,
) -> ApiResult<(StatusCode, Json<Playlist>)> {
    let creator_id =
        caller.acting_as(&state, body.creator_id.as_deref(), &["body", "creator_id"])?;
    let mut c = Checks::default();
    let name = c.text(&["body", "name"], &body.name, 1, 200);
    let description = c.opt_text(&["body", "description"], body.description.as_deref(), 5000);
    if body.video_ids.len() > MAX_PLAYLIST_VIDEOS {
        c.fail(
            &["body", "video_ids"],
            format!("at most {MAX_PLAYLIST_VIDEOS} videos"),
        );
    }
    c.finish()?;
    // Every id must name a video the creator can see; the error lists each one that does not.
    let mut ids: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    for (i, id) in body.video_ids.iter().enumerate() {
        if ids.contains(id) {
            continue;
        }
        match visible_video(&state, &caller, id).await {
            Ok(_) => ids.push(id.clone()),
            Err(ApiError::NotFound(_)) => unknown.push(FieldError::new(
                &["body", "video_ids", &i.to_string()],
                format!("unknown video id {id:?}"),
            )),
            Err(e) => return Err(e),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::Validation(unknown));
    }
    let id = crate::ids::new_id("playlist");
    let now = crate::ids::now();
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO playlists (id, name, description, creator_id, is_public, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(&name)
    .bind(&description)
    .bind(&creator_id)
    .bind(flag(body.is_public.unwrap_or(true)))
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    for (pos, vid) in ids.iter().enumerate() {
        sqlx::query(
            "INSERT INTO playlist_videos (playlist_id, video_id, position, added_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(vid)
        .bind(pos as i64)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let row = find(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("playlist vanished after insert")))?;
    Ok((
        StatusCode::CREATED,
        Json(to_api(&state.db, &caller, row).await?),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    creator_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_public: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Playlist>>> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let mut select = Select::from("playlists", COLUMNS);
    if let Some(cid) = &q.creator_id {
        select.and("creator_id = ?", cid);
    }
    if let Some(p) = q.is_public {
        select.and_raw(if p { "is_public = 1" } else { "is_public = 0" });
    }
    select.visible_to(
        "is_public = 0",
        "creator_id",
        caller.user.as_ref().map(|u| u.id.as_str()),
        caller.is_admin(),
    );
    let rows: Vec<PlaylistRow> = select.page(&state.db, limit, offset).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(to_api(&state.db, &caller, r).await?);
    }
    Ok(Json(out))
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(playlist_id): Path<String>,
) -> ApiResult<Json<Playlist>> {
    let row = visible(&state, &caller, &playlist_id).await?;
    Ok(Json(to_api(&state.db, &caller, row).await?))
}

#[derive(Deserialize)]
struct OwnerQuery {
    creator_id: Option<String>,
}

async fn owned(
    state: &AppState,
    caller: &Caller,
    playlist_id: &str,
    claimed: Option<&str>,
) -> ApiResult<PlaylistRow> {
    let row = visible(state, caller, playlist_id).await?;
    // The seed's add call carries no id; in development the creator is then taken on trust.
    let claimed = claimed.or(
        if caller.user.is_none() && !state.config.requires_tokens() {
            Some(row.creator_id.as_str())
        } else {
            None
        },
    );
    caller.require_owner(
        state,
        claimed,
        &["query", "creator_id"],
        &row.creator_id,
        "Playlist",
        false,
    )?;
    Ok(row)
}

async fn add_video(
    State(state): State<AppState>,
    caller: Caller,
    Path((playlist_id, video_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<Json<Playlist>> {
    let row = owned(&state, &caller, &playlist_id, q.creator_id.as_deref()).await?;
    let video = visible_video(&state, &caller, &video_id).await?;
    let ids = all_video_ids(&state.db, &row.id).await?;
    if !ids.contains(&video.id) {
        if ids.len() >= MAX_PLAYLIST_VIDEOS {
            return Err(ApiError::Conflict(format!(
                "playlist is full: at most {MAX_PLAYLIST_VIDEOS} videos"
            )));
        }
        let now = crate::ids::now();
        sqlx::query(
            "INSERT INTO playlist_videos (playlist_id, video_id, position, added_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&row.id)
        .bind(&video.id)
        .bind(ids.len() as i64)
        .bind(&now)
        .execute(&state.db.pool)
        .await?;
        sqlx::query("UPDATE playlists SET updated_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(&row.id)
            .execute(&state.db.pool)
            .await?;
    }
    let row = find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Playlist"))?;
    Ok(Json(to_api(&state.db, &caller, row).await?))
}

async fn remove_video(
    State(state): State<AppState>,
    caller: Caller,
    Path((playlist_id, video_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<Json<Playlist>> {
    let row = owned(&state, &caller, &playlist_id, q.creator_id.as_deref()).await?;
    let done = sqlx::query("DELETE FROM playlist_videos WHERE playlist_id = $1 AND video_id = $2")
        .bind(&row.id)
        .bind(&video_id)
        .execute(&state.db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("Video is not in this playlist".into()));
    }
    let row = find(&state.db, &row.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Playlist"))?;
    Ok(Json(to_api(&state.db, &caller, row).await?))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(playlist_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<StatusCode> {
    let row = owned(&state, &caller, &playlist_id, q.creator_id.as_deref()).await?;
    sqlx::query("DELETE FROM playlists WHERE id = $1")
        .bind(&row.id)
        .execute(&state.db.pool)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
