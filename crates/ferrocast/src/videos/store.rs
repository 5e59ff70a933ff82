//! Video rows, reactions and views in the database.

use crate::config::Config;
use crate::db::{Db, Select, flag, tags_from_db, tags_to_db};
use crate::error::ApiResult;
use crate::media_tools::Probe;
use crate::models::{ProcessingStatus, Video};

#[derive(sqlx::FromRow, Clone)]
pub struct VideoRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub uploader_id: String,
    pub filename: String,
    pub file_path: String,
    pub file_size: i64,
    pub duration: Option<f64>,
    pub format: String,
    pub resolution: Option<String>,
    pub bitrate: Option<i64>,
    pub thumbnail_url: Option<String>,
    pub view_count: i64,
    pub like_count: i64,
    pub dislike_count: i64,
    pub category: Option<String>,
    pub tags: String,
    pub is_public: i64,
    pub is_processed: i64,
    pub processing_status: String,
    pub upload_date: String,
    pub created_at: String,
    pub updated_at: String,
    /// JSON of `vod::Outputs`: what processing produced.
    pub outputs: Option<String>,
    pub processing_error: Option<String>,
    pub content_type: Option<String>,
    pub stream_id: Option<String>,
}

const COLUMNS: &str = "id, title, description, uploader_id, filename, file_path, file_size, \
    duration, format, resolution, bitrate, thumbnail_url, view_count, like_count, dislike_count, \
    category, tags, is_public, is_processed, processing_status, upload_date, created_at, updated_at, \
    outputs, processing_error, content_type, stream_id";

impl VideoRow {
    pub fn is_public(&self) -> bool {
        self.is_public != 0
    }

    pub fn outputs(&self) -> Option<crate::vod::Outputs> {
        self.outputs
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
    }

    /// The API view; media URLs on the CDN when `config` has one.
    pub fn to_api(&self, config: &Config) -> Video {
        let mut video = Video {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            uploader_id: self.uploader_id.clone(),
            filename: self.filename.clone(),
            file_path: self.file_path.clone(),
            file_size: self.file_size,
            duration: self.duration,
            format: self.format.clone(),
            resolution: self.resolution.clone(),
            bitrate: self.bitrate,
            thumbnail_url: self.thumbnail_url.as_deref().map(|u| config.media_url(u)),
            view_count: self.view_count,
            like_count: self.like_count,
            dislike_count: self.dislike_count,
            category: self.category.clone(),
            tags: tags_from_db(&self.tags),
            is_public: self.is_public(),
            is_processed: self.is_processed != 0,
            processing_status: ProcessingStatus::parse(&self.processing_status)
                .unwrap_or(ProcessingStatus::Pending),
            upload_date: self.upload_date.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            content_type: self
                .content_type
                .as_deref()
                .and_then(crate::models::ContentType::parse),
            stream_id: self.stream_id.clone(),
            processing_error: self.processing_error.clone(),
            hls_url: None,
            dash_url: None,
            preview_url: None,
            thumbnails: None,
            renditions: Vec::new(),
        };
        if let Some(o) = self.outputs() {
            o.describe(&mut video, config);
        }
        video
    }
}

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<VideoRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM videos WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub struct NewVideo {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub uploader_id: String,
    pub filename: String,
    pub file_path: String,
    pub file_size: i64,
    pub format: String,
    pub probe: Option<Probe>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub is_public: bool,
}

pub async fn insert(db: &Db, v: &NewVideo) -> ApiResult<()> {
    let now = crate::ids::now();
    let p = v.probe.clone().unwrap_or_default();
    let resolution = p.display_size().map(|(w, h)| format!("{w}x{h}"));
    sqlx::query(
        "INSERT INTO videos (id, title, description, uploader_id, filename, file_path, file_size,
            duration, format, resolution, width, height, bitrate, fps, codec, category, tags,
            is_public, is_processed, processing_status, upload_date, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            0, 'pending', $19, $19, $19)",
    )
    .bind(&v.id)
    .bind(&v.title)
    .bind(&v.description)
    .bind(&v.uploader_id)
    .bind(&v.filename)
    .bind(&v.file_path)
    .bind(v.file_size)
    .bind(p.duration)
    .bind(&v.format)
    .bind(resolution)
    .bind(p.width)
    .bind(p.height)
    .bind(p.bitrate_kbps)
    .bind(p.fps)
    .bind(p.video_codec)
    .bind(&v.category)
    .bind(tags_to_db(&v.tags))
    .bind(flag(v.is_public))
    .bind(&now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub struct ListFilter<'a> {
    pub category: Option<&'a str>,
    pub uploader_id: Option<&'a str>,
    pub is_public: Option<bool>,
    pub viewer_id: Option<&'a str>,
    pub all_private: bool,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list(db: &Db, f: &ListFilter<'_>) -> ApiResult<Vec<VideoRow>> {
    let mut q = Select::from("videos", COLUMNS);
    if let Some(c) = f.category {
        q.and("LOWER(category) = LOWER(?)", c);
    }
    if let Some(u) = f.uploader_id {
        q.and("uploader_id = ?", u);
    }
    if let Some(p) = f.is_public {
        q.and_raw(if p { "is_public = 1" } else { "is_public = 0" });
    }
    q.visible_to("is_public = 0", "uploader_id", f.viewer_id, f.all_private);
    Ok(q.page(db, f.limit, f.offset).await?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Like,
    Dislike,
}

impl Reaction {
    fn as_str(self) -> &'static str {
        match self {
            Reaction::Like => "like",
            Reaction::Dislike => "dislike",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Reaction::Like => "like_count",
            Reaction::Dislike => "dislike_count",
        }
    }
}

/// One reaction per viewer: repeating it changes nothing, switching moves the count across.
pub async fn react(db: &Db, video_id: &str, actor: &str, reaction: Reaction) -> ApiResult<()> {
    let mut tx = db.begin_write().await?;
    let previous: Option<String> =
        sqlx::query_scalar("SELECT kind FROM video_reactions WHERE video_id = $1 AND actor = $2")
            .bind(video_id)
            .bind(actor)
            .fetch_optional(&mut *tx)
            .await?;
    let other = match reaction {
        Reaction::Like => Reaction::Dislike,
        Reaction::Dislike => Reaction::Like,
    };
    match previous.as_deref() {
        Some(k) if k == reaction.as_str() => return Ok(()),
        Some(_) => {
            sqlx::query("UPDATE video_reactions SET kind = $1, created_at = $2 WHERE video_id = $3 AND actor = $4")
                .bind(reaction.as_str())
                .bind(crate::ids::now())
                .bind(video_id)
                .bind(actor)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "UPDATE videos SET {c} = CASE WHEN {c} > 0 THEN {c} - 1 ELSE 0 END WHERE id = $1",
                c = other.column()
            ))
            .bind(video_id)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO video_reactions (video_id, actor, kind, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(video_id)
            .bind(actor)
            .bind(reaction.as_str())
            .bind(crate::ids::now())
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query(&format!(
        "UPDATE videos SET {c} = {c} + 1 WHERE id = $1",
        c = reaction.column()
    ))
    .bind(video_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Counts a view at most once per viewer per day; returns whether this one counted.
pub async fn count_view(db: &Db, video_id: &str, actor: &str) -> ApiResult<bool> {
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    count_view_on(db, video_id, actor, &day).await
}

/// Counts a view at most once per (actor, day); returns whether this one counted.
pub async fn count_view_on(db: &Db, video_id: &str, actor: &str, day: &str) -> ApiResult<bool> {
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO video_views (video_id, actor, day) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(video_id)
    .bind(actor)
    .bind(day)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        sqlx::query("UPDATE videos SET view_count = view_count + 1 WHERE id = $1")
            .bind(video_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

pub async fn update(db: &Db, v: &VideoRow) -> ApiResult<()> {
    sqlx::query(
        "UPDATE videos SET title = $1, description = $2, category = $3, tags = $4, is_public = $5,
            updated_at = $6 WHERE id = $7",
    )
    .bind(&v.title)
    .bind(&v.description)
    .bind(&v.category)
    .bind(&v.tags)
    .bind(v.is_public)
    .bind(crate::ids::now())
    .bind(&v.id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM videos WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Processing started (or restarted after a crash).
pub async fn mark_processing(db: &Db, id: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE videos SET processing_status = 'processing', processing_error = NULL, updated_at = $1
         WHERE id = $2",
    )
    .bind(crate::ids::now())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records what processing produced; runs inside the transaction that completes the job.
pub async fn mark_completed<'c, E>(
    ex: E,
    id: &str,
    outputs: &str,
    thumbnail_url: Option<&str>,
) -> ApiResult<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE videos SET processing_status = 'completed', is_processed = 1, outputs = $1,
            thumbnail_url = COALESCE($2, thumbnail_url), processing_error = NULL, updated_at = $3
         WHERE id = $4",
    )
    .bind(outputs)
    .bind(thumbnail_url)
    .bind(crate::ids::now())
    .bind(id)
    .execute(ex)
    .await?;
    Ok(())
}

/// Processing failed or was cancelled. A video that was processed before keeps its outputs and
/// stays playable; the reason is kept either way.
pub async fn mark_unfinished(db: &Db, id: &str, failed: bool, reason: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE videos SET
            processing_status = CASE WHEN is_processed = 1 THEN 'completed'
                WHEN $1 = 1 THEN 'failed' ELSE 'pending' END,
            processing_error = $2, updated_at = $3
         WHERE id = $4",
    )
    .bind(flag(failed))
    .bind(reason)
    .bind(crate::ids::now())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}
