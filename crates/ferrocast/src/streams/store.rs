//! Stream rows in the database.

use crate::config::Config;
use crate::db::{Db, Select, flag, tags_from_db, tags_to_db};
use crate::error::ApiResult;
use crate::models::{ContentType, Quality, Stream, StreamStatus};
use crate::state::AppState;

#[derive(sqlx::FromRow, Clone)]
pub struct StreamRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub streamer_id: String,
    pub content_type: String,
    pub status: String,
    pub stream_key: String,
    pub thumbnail_url: Option<String>,
    pub viewer_count: i64,
    pub max_viewers: i64,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub duration: Option<i64>,
    pub quality: String,
    pub is_private: i64,
    pub password_hash: Option<String>,
    pub tags: String,
    pub category: Option<String>,
    pub language: String,
    pub created_at: String,
    pub updated_at: String,
    /// Whether to record: NULL follows ENABLE_STREAM_RECORDING.
    pub record: Option<i64>,
    pub recording_video_id: Option<String>,
}

pub const COLUMNS: &str = "id, title, description, streamer_id, content_type, status, stream_key, \
    thumbnail_url, viewer_count, max_viewers, start_time, end_time, duration, quality, is_private, \
    password_hash, tags, category, language, created_at, updated_at, record, recording_video_id";

impl StreamRow {
    pub fn status(&self) -> StreamStatus {
        StreamStatus::parse(&self.status).unwrap_or(StreamStatus::Ended)
    }

    pub fn is_private(&self) -> bool {
        self.is_private != 0
    }

    /// Whether publishing this stream records it (its own choice, else the server's setting).
    pub fn records(&self, state: &AppState) -> bool {
        self.record
            .map_or(state.config.enable_stream_recording, |r| r != 0)
    }

    /// The API view. The stream key (and the `rtmp_url` that embeds it) only when `reveal_key`.
    pub fn to_api(&self, state: &AppState, reveal_key: bool) -> Stream {
        let c = &state.config;
        let status = self.status();
        Stream {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            streamer_id: self.streamer_id.clone(),
            content_type: ContentType::parse(&self.content_type).unwrap_or(ContentType::LiveStream),
            status,
            stream_key: reveal_key.then(|| self.stream_key.clone()),
            rtmp_url: reveal_key.then(|| {
                format!(
                    "rtmp://{}:{}/live/{}",
                    c.rtmp_server_host, c.rtmp_server_port, self.stream_key
                )
            }),
            hls_url: match c.cdn_base() {
                Some(cdn) => format!("{cdn}/hls/{}.m3u8", self.id),
                None => format!(
                    "http://{}:{}/hls/{}.m3u8",
                    c.hls_server_host, c.hls_server_port, self.id
                ),
            },
            websocket_url: format!(
                "{}/ws/{}",
                c.public_base_url()
                    .replacen("https://", "wss://", 1)
                    .replacen("http://", "ws://", 1),
                self.id
            ),
            // Built here rather than read back, so that it follows the server's base URLs.
            thumbnail_url: self
                .thumbnail_url
                .as_ref()
                .map(|_| crate::live::thumbnails::stream_thumbnail_url(state, &self.id)),
            viewer_count: if status == StreamStatus::Live {
                state.live_viewers(&self.id)
            } else {
                0
            },
            max_viewers: self.max_viewers,
            start_time: self.start_time.clone(),
            end_time: self.end_time.clone(),
            duration: self.duration,
            quality: Quality::parse(&self.quality).unwrap_or(Quality::Auto),
            is_private: self.is_private(),
            password: None,
            tags: tags_from_db(&self.tags),
            category: self.category.clone(),
            language: self.language.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            record: self.records(state),
            recording_video_id: self.recording_video_id.clone(),
        }
    }
}

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<StreamRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM streams WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// The stream a publisher's key belongs to: looked up by the key's hash, then compared in
/// constant time.
pub async fn find_by_key(db: &Db, key: &str) -> ApiResult<Option<StreamRow>> {
    let row: Option<StreamRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM streams WHERE stream_key_hash = $1"
    ))
    .bind(crate::ids::sha256_hex(key))
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.filter(|r| crate::ids::secrets_equal(&r.stream_key, key)))
}

pub struct NewStream {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub streamer_id: String,
    pub content_type: ContentType,
    pub stream_key: String,
    pub max_viewers: i64,
    pub quality: Quality,
    pub is_private: bool,
    pub password_hash: Option<String>,
    pub tags: Vec<String>,
    pub category: Option<String>,
    pub language: String,
    pub record: Option<bool>,
}

pub async fn insert(db: &Db, s: &NewStream) -> ApiResult<()> {
    let now = crate::ids::now();
    sqlx::query(
        "INSERT INTO streams (id, title, description, streamer_id, content_type, status, stream_key,
            stream_key_hash, max_viewers, quality, is_private, password_hash, tags, category, language,
            created_at, updated_at, record)
         VALUES ($1, $2, $3, $4, $5, 'scheduled', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15,
            $16)",
    )
    .bind(&s.id)
    .bind(&s.title)
    .bind(&s.description)
    .bind(&s.streamer_id)
    .bind(s.content_type.as_str())
    .bind(&s.stream_key)
    .bind(crate::ids::sha256_hex(&s.stream_key))
    .bind(s.max_viewers)
    .bind(s.quality.as_str())
    .bind(flag(s.is_private))
    .bind(&s.password_hash)
    .bind(tags_to_db(&s.tags))
    .bind(&s.category)
    .bind(&s.language)
    .bind(&now)
    .bind(s.record.map(flag))
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub struct ListFilter<'a> {
    pub status: Option<StreamStatus>,
    pub content_type: Option<ContentType>,
    pub category: Option<&'a str>,
    pub streamer_id: Option<&'a str>,
    /// Private streams of this account are included; `None` with `all_private` false hides them.
    pub viewer_id: Option<&'a str>,
    pub all_private: bool,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list(db: &Db, f: &ListFilter<'_>) -> ApiResult<Vec<StreamRow>> {
    let mut q = Select::from("streams", COLUMNS);
    if let Some(s) = f.status {
        q.and("status = ?", s.as_str());
    }
    if let Some(c) = f.content_type {
        q.and("content_type = ?", c.as_str());
    }
    if let Some(c) = f.category {
        q.and("LOWER(category) = LOWER(?)", c);
    }
    if let Some(s) = f.streamer_id {
        q.and("streamer_id = ?", s);
    }
    q.visible_to("is_private = 1", "streamer_id", f.viewer_id, f.all_private);
    Ok(q.page(db, f.limit, f.offset).await?)
}

/// scheduled -> live, atomically: `false` if the stream was not scheduled.
pub async fn mark_live(db: &Db, id: &str) -> ApiResult<bool> {
    let now = crate::ids::now();
    let r = sqlx::query(
        "UPDATE streams SET status = 'live', start_time = $1, updated_at = $1
         WHERE id = $2 AND status = 'scheduled'",
    )
    .bind(&now)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// live -> ended with the duration in whole seconds: `false` if the stream was not live.
pub async fn mark_ended(db: &Db, row: &StreamRow) -> ApiResult<bool> {
    let end = chrono::Utc::now();
    let duration = row
        .start_time
        .as_deref()
        .and_then(crate::ids::parse_time)
        .map(|start| (end - start).num_seconds().max(0));
    let end = crate::ids::format_time(end);
    let r = sqlx::query(
        "UPDATE streams SET status = 'ended', end_time = $1, duration = $2, viewer_count = 0,
            updated_at = $1
         WHERE id = $3 AND status = 'live'",
    )
    .bind(&end)
    .bind(duration)
    .bind(&row.id)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_key(db: &Db, id: &str, key: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE streams SET stream_key = $1, stream_key_hash = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(key)
    .bind(crate::ids::sha256_hex(key))
    .bind(crate::ids::now())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Deletes the stream with its chat and analytics (cascading) and its thumbnail. A recording made
/// of it is a video of its own and stays.
pub async fn delete(db: &Db, config: &Config, id: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM streams WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    crate::live::thumbnails::remove(config, id).await;
    Ok(())
}

/// Writes every column an owner can edit.
pub async fn update(db: &Db, r: &StreamRow) -> ApiResult<()> {
    sqlx::query(
        "UPDATE streams SET title = $1, description = $2, content_type = $3, max_viewers = $4,
            quality = $5, is_private = $6, password_hash = $7, tags = $8, category = $9,
            language = $10, updated_at = $11, record = $12
         WHERE id = $13",
    )
    .bind(&r.title)
    .bind(&r.description)
    .bind(&r.content_type)
    .bind(r.max_viewers)
    .bind(&r.quality)
    .bind(r.is_private)
    .bind(&r.password_hash)
    .bind(&r.tags)
    .bind(&r.category)
    .bind(&r.language)
    .bind(crate::ids::now())
    .bind(r.record)
    .bind(&r.id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn record_viewers(db: &Db, id: &str, viewers: i64) -> ApiResult<()> {
    sqlx::query(
        "UPDATE streams SET viewer_count = $1,
            peak_viewers = CASE WHEN peak_viewers < $1 THEN $1 ELSE peak_viewers END
         WHERE id = $2 AND status = 'live'",
    )
    .bind(viewers)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}
