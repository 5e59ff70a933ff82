//! Resumable upload rows. The offset in the row is the count of bytes known to be on disk (synced
//! before the row is updated), so after a crash the data file is cut back to it.

use crate::db::Db;
use crate::error::ApiResult;

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct UploadRow {
    pub id: String,
    pub owner_user_id: Option<String>,
    pub uploader_id: String,
    pub upload_length: i64,
    pub upload_offset: i64,
    /// JSON of `intake::VideoDetails`.
    pub details: String,
    /// `Upload-Metadata` as the client sent it, echoed on `HEAD`.
    pub metadata: Option<String>,
    pub state: String,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
}

pub const UPLOADING: &str = "uploading";
pub const COMPLETED: &str = "completed";
pub const FAILED: &str = "failed";

const COLUMNS: &str = "id, owner_user_id, uploader_id, upload_length, upload_offset, details, \
                       metadata, state, error, created_at, updated_at, expires_at";

pub async fn insert(db: &Db, row: &UploadRow) -> ApiResult<()> {
    sqlx::query(&format!(
        "INSERT INTO uploads ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&row.id)
    .bind(&row.owner_user_id)
    .bind(&row.uploader_id)
    .bind(row.upload_length)
    .bind(row.upload_offset)
    .bind(&row.details)
    .bind(&row.metadata)
    .bind(&row.state)
    .bind(&row.error)
    .bind(&row.created_at)
    .bind(&row.updated_at)
    .bind(&row.expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<UploadRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Records bytes that are on disk and pushes the expiry out from now.
pub async fn set_offset(db: &Db, id: &str, offset: i64, expires_at: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE uploads SET upload_offset = $1, updated_at = $2, expires_at = $3 WHERE id = $4",
    )
    .bind(offset)
    .bind(crate::ids::now())
    .bind(expires_at)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn set_state(db: &Db, id: &str, state: &str, error: Option<&str>) -> ApiResult<()> {
    sqlx::query("UPDATE uploads SET state = $1, error = $2, updated_at = $3 WHERE id = $4")
        .bind(state)
        .bind(error)
        .bind(crate::ids::now())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Uploads whose time is up, oldest first, a bounded batch at a time.
pub async fn expired(db: &Db, now: &str, limit: i64) -> ApiResult<Vec<UploadRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE expires_at < $1 ORDER BY expires_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// Unfinished uploads of one account, for the per-account cap.
pub async fn unfinished(db: &Db, uploader_id: &str) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM uploads WHERE uploader_id = $1 AND state = 'uploading'",
    )
    .bind(uploader_id)
    .fetch_one(&db.pool)
    .await?)
}

pub async fn exists(db: &Db, id: &str) -> ApiResult<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM uploads WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(found.is_some())
}
