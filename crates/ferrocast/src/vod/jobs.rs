//! The durable job queue: rows in the `jobs` table. A worker takes a job by writing its name and a
//! lease expiry into the row in one conditional UPDATE, so two workers (in this process or in
//! another instance on the same database) never run the same job; it renews the lease while it
//! works. A worker that dies stops renewing, the lease runs out, and the job is taken again, up to
//! `max_attempts` times.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::ApiResult;
use crate::ids;

pub const KIND_TRANSCODE: &str = "transcode";

/// What a transcode job was asked to produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscodeParams {
    pub profiles: Vec<String>,
    pub hls: bool,
    pub dash: bool,
    pub thumbnails: bool,
}

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct JobRow {
    pub id: String,
    pub video_id: String,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<String>,
    pub progress: f64,
    pub eta_seconds: Option<i64>,
    pub error: Option<String>,
    pub params: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub updated_at: String,
}

const COLUMNS: &str = "id, video_id, kind, state, attempts, max_attempts, lease_owner, \
    lease_expires_at, progress, eta_seconds, error, params, created_at, started_at, finished_at, \
    updated_at";

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: String,
    pub video_id: String,
    pub kind: String,
    pub state: String,
    pub progress: f64,
    pub eta_seconds: Option<i64>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub error: Option<String>,
    pub params: serde_json::Value,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub updated_at: String,
}

/// A job's state, as the queue's list filters on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// A job of the queue's list, with its video's title.
#[derive(sqlx::FromRow)]
pub struct QueueRow {
    #[sqlx(flatten)]
    pub job: JobRow,
    /// From a left join, so that a job is listed even without its video's row (the two are
    /// deleted together; only a race leaves one without the other).
    pub video_title: Option<String>,
}

/// A job as the queue's list shows it: the Job, plus its video's title.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedJob {
    #[serde(flatten)]
    pub job: Job,
    pub video_title: Option<String>,
}

impl QueueRow {
    pub fn to_api(&self) -> QueuedJob {
        QueuedJob {
            job: self.job.to_api(),
            video_title: self.video_title.clone(),
        }
    }
}

impl JobRow {
    pub fn params(&self) -> Option<TranscodeParams> {
        serde_json::from_str(&self.params).ok()
    }

    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "queued" | "running")
    }

    pub fn to_api(&self) -> Job {
        let p = self.params();
        Job {
            id: self.id.clone(),
            video_id: self.video_id.clone(),
            kind: self.kind.clone(),
            state: self.state.clone(),
            progress: (self.progress * 10.0).round() / 10.0,
            eta_seconds: self.eta_seconds,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            error: self.error.clone(),
            params: match p {
                Some(p) => serde_json::json!({
                    "profiles": p.profiles,
                    "generateHLS": p.hls,
                    "generateDASH": p.dash,
                    "generateThumbnails": p.thumbnails,
                }),
                None => serde_json::Value::Null,
            },
            created_at: self.created_at.clone(),
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

fn later(seconds: u64) -> String {
    ids::format_time(Utc::now() + chrono::Duration::seconds(seconds.min(86_400) as i64))
}

pub async fn enqueue(
    db: &Db,
    video_id: &str,
    params: &TranscodeParams,
    max_attempts: u32,
) -> ApiResult<JobRow> {
    let id = ids::new_id("job");
    let now = ids::now();
    sqlx::query(
        "INSERT INTO jobs (id, video_id, kind, state, attempts, max_attempts, progress, params,
            created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', 0, $4, 0.0, $5, $6, $6)",
    )
    .bind(&id)
    .bind(video_id)
    .bind(KIND_TRANSCODE)
    .bind(i64::from(max_attempts.max(1)))
    .bind(serde_json::to_string(params).unwrap_or_else(|_| "{}".into()))
    .bind(&now)
    .execute(&db.pool)
    .await?;
    find(db, &id)
        .await?
        .ok_or_else(|| crate::error::ApiError::Internal(anyhow::anyhow!("job vanished")))
}

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<JobRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn for_video(db: &Db, video_id: &str, limit: i64) -> ApiResult<Vec<JobRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE video_id = $1 ORDER BY created_at DESC, id DESC LIMIT {}",
        limit.clamp(1, 100)
    ))
    .bind(video_id)
    .fetch_all(&db.pool)
    .await?)
}

/// The whole queue, newest first, optionally in one state only, each job with its video's
/// title.
pub async fn list(
    db: &Db,
    state: Option<JobState>,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<QueueRow>> {
    // Qualified, since the videos joined in have columns of the same names.
    let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("jobs.{c}")).collect();
    let filter = if state.is_some() {
        "WHERE jobs.state = $1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {}, videos.title AS video_title FROM jobs
         LEFT JOIN videos ON videos.id = jobs.video_id {filter}
         ORDER BY jobs.created_at DESC, jobs.id DESC LIMIT {limit} OFFSET {offset}",
        columns.join(", ")
    );
    let mut q = sqlx::query_as(&sql);
    if let Some(s) = state {
        q = q.bind(s.as_str());
    }
    Ok(q.fetch_all(&db.pool).await?)
}

pub async fn active_for_video(db: &Db, video_id: &str) -> ApiResult<Option<JobRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE video_id = $1 AND state IN ('queued', 'running')
         ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(video_id)
    .fetch_optional(&db.pool)
    .await?)
}

/// Whether any job is waiting or has a lapsed lease: a read, so idle workers polling the queue
/// do not take the database's write lock (SQLite has one for the whole file).
pub async fn has_work(db: &Db) -> ApiResult<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_expires_at < $1)
         LIMIT 1",
    )
    .bind(ids::now())
    .fetch_optional(&db.pool)
    .await?;
    Ok(found.is_some())
}

/// Takes the oldest job that is waiting, or whose worker's lease ran out, for `owner`. The
/// condition is repeated in the outer UPDATE so that, when two workers race for the same row, the
/// second one's UPDATE (which re-reads the row after the first commits) matches nothing.
pub async fn claim(db: &Db, owner: &str, lease_seconds: u64) -> ApiResult<Option<JobRow>> {
    let now = ids::now();
    let takeable = "(state = 'queued' OR (state = 'running' AND lease_expires_at < $3))
        AND attempts < max_attempts";
    let sql = format!(
        "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2,
            attempts = attempts + 1, started_at = COALESCE(started_at, $3), updated_at = $3
         WHERE id = (SELECT id FROM jobs WHERE {takeable} ORDER BY created_at, id LIMIT 1)
           AND {takeable}
         RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(owner)
        .bind(later(lease_seconds))
        .bind(&now)
        .fetch_optional(&db.pool)
        .await?)
}

/// Extends the lease and records progress. `false` means the job is no longer this worker's:
/// cancelled, deleted, or taken by another worker after the lease lapsed. The worker must stop.
pub async fn heartbeat(
    db: &Db,
    id: &str,
    owner: &str,
    lease_seconds: u64,
    progress: f64,
    eta_seconds: Option<i64>,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET lease_expires_at = $1, progress = $2, eta_seconds = $3, updated_at = $4
         WHERE id = $5 AND lease_owner = $6 AND state = 'running'",
    )
    .bind(later(lease_seconds))
    .bind(progress.clamp(0.0, 100.0))
    .bind(eta_seconds)
    .bind(ids::now())
    .bind(id)
    .bind(owner)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Fails a job this worker holds, keeping why; `false` when it was no longer held (see
/// `heartbeat`).
pub async fn fail(db: &Db, id: &str, owner: &str, error: &str) -> ApiResult<bool> {
    let now = ids::now();
    let done = sqlx::query(
        "UPDATE jobs SET state = 'failed', error = $1, lease_owner = NULL, lease_expires_at = NULL,
            finished_at = $2, updated_at = $2, eta_seconds = NULL
         WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
    )
    .bind(error)
    .bind(&now)
    .bind(id)
    .bind(owner)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Completes a job this worker holds and records the video's outputs in one transaction, so
/// nobody sees a completed job beside an unprocessed video; `false` when the job was no longer
/// held (nothing is written then).
pub async fn complete(
    db: &Db,
    job: &JobRow,
    owner: &str,
    outputs: &str,
    thumbnail_url: Option<&str>,
) -> ApiResult<bool> {
    let mut tx = db.begin_write().await?;
    let now = ids::now();
    let done = sqlx::query(
        "UPDATE jobs SET state = 'completed', error = NULL, lease_owner = NULL,
            lease_expires_at = NULL, finished_at = $1, updated_at = $1, progress = 100.0,
            eta_seconds = 0
         WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
    )
    .bind(&now)
    .bind(&job.id)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    crate::videos::store::mark_completed(&mut *tx, &job.video_id, outputs, thumbnail_url).await?;
    tx.commit().await?;
    Ok(true)
}

/// Cancels a waiting or running job; the worker running it notices at its next heartbeat.
pub async fn cancel(db: &Db, id: &str) -> ApiResult<bool> {
    let now = ids::now();
    let done = sqlx::query(
        "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL,
            eta_seconds = NULL, finished_at = $1, updated_at = $1
         WHERE id = $2 AND state IN ('queued', 'running')",
    )
    .bind(&now)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Fails the jobs whose lease ran out on their last allowed attempt, keeping why.
pub async fn fail_exhausted(db: &Db) -> ApiResult<Vec<JobRow>> {
    let now = ids::now();
    Ok(sqlx::query_as(&format!(
        "UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_expires_at = NULL,
            eta_seconds = NULL, finished_at = $1, updated_at = $1,
            error = 'the worker stopped (crash or restart) on each of ' || CAST(attempts AS TEXT)
                || ' attempts; the lease expired'
         WHERE state = 'running' AND lease_expires_at < $1 AND attempts >= max_attempts
         RETURNING {COLUMNS}"
    ))
    .bind(&now)
    .fetch_all(&db.pool)
    .await?)
}

/// Deletes jobs that ended more than `days` ago; returns how many.
pub async fn prune(db: &Db, days: i64) -> ApiResult<u64> {
    let cutoff = ids::format_time(Utc::now() - chrono::Duration::days(days.max(1)));
    let done = sqlx::query(
        "DELETE FROM jobs WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at < $1",
    )
    .bind(cutoff)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}
