//! Routes for processing: start a transcode (seed 004's body), read and cancel jobs, and the
//! whole queue for admins.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::jobs::{self, Job, TranscodeParams};
use super::ladder;
use crate::auth::Caller;
use crate::auth::admin::require_admin;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::realtime::Event;
use crate::state::AppState;
use crate::validate::page;
use crate::videos::store;
use crate::videos::{OwnerQuery, owned_video, visible_video};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscodeRequest {
    profiles: Option<Vec<String>>,
    #[serde(rename = "generateHLS")]
    generate_hls: Option<bool>,
    #[serde(rename = "generateDASH")]
    generate_dash: Option<bool>,
    #[serde(rename = "generateThumbnails")]
    generate_thumbnails: Option<bool>,
}

fn default_params() -> TranscodeParams {
    TranscodeParams {
        profiles: ladder::PROFILES
            .iter()
            .map(|p| p.name.to_string())
            .collect(),
        hls: true,
        dash: true,
        thumbnails: true,
    }
}

fn check_ready(state: &AppState) -> ApiResult<()> {
    if !state.config.enable_transcoding {
        return Err(ApiError::Unavailable(
            "transcoding is switched off (ENABLE_TRANSCODING=false)".into(),
        ));
    }
    if state.tools.ffmpeg.is_none() || state.tools.ffprobe.is_none() {
        return Err(ApiError::Unavailable(
            "ffmpeg and ffprobe must be installed to transcode".into(),
        ));
    }
    Ok(())
}

/// Queues processing of a fresh upload with the default ladder, when transcoding is on. A queue
/// failure does not fail the upload: the owner can start processing later.
pub async fn enqueue_upload(state: &AppState, video_id: &str) {
    if check_ready(state).is_err() {
        return;
    }
    match queue(state, video_id, &default_params()).await {
        Ok(job) => tracing::info!(%video_id, job_id = %job.id, "transcode queued"),
        Err(e) => tracing::warn!(%video_id, error = %e, "could not queue the transcode"),
    }
}

/// Queues a job and wakes the idle workers: every job this process queues goes through here, so
/// none waits for a worker's own look at the queue.
async fn queue(
    state: &AppState,
    video_id: &str,
    params: &TranscodeParams,
) -> ApiResult<jobs::JobRow> {
    let job = jobs::enqueue(&state.db, video_id, params, state.config.job_max_attempts).await?;
    state.job_queued.notify_waiters();
    Ok(job)
}

pub async fn transcode(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
    ApiJson(body): ApiJson<TranscodeRequest>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let row = owned_video(&state, &caller, &video_id, q.uploader_id.as_deref()).await?;
    let mut params = default_params();
    if let Some(list) = body.profiles {
        if list.is_empty() {
            return Err(ApiError::field(
                &["body", "profiles"],
                format!("list at least one of {}", ladder::profile_names()),
            ));
        }
        if list.len() > 16 {
            return Err(ApiError::field(&["body", "profiles"], "at most 16 entries"));
        }
        let mut errors = Vec::new();
        let mut names = Vec::new();
        for (i, name) in list.iter().enumerate() {
            match ladder::profile(name) {
                Some(p) if !names.contains(&p.name.to_string()) => names.push(p.name.to_string()),
                Some(_) => {}
                None => errors.push(crate::error::FieldError::new(
                    &["body", "profiles", &i.to_string()],
                    format!(
                        "unknown profile {:?}: expected one of {}",
                        name.chars().take(40).collect::<String>(),
                        ladder::profile_names()
                    ),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        params.profiles = names;
    }
    params.hls = body.generate_hls.unwrap_or(true);
    params.dash = body.generate_dash.unwrap_or(true);
    params.thumbnails = body.generate_thumbnails.unwrap_or(true);
    check_ready(&state)?;
    if let Some(active) = jobs::active_for_video(&state.db, &row.id).await? {
        return Err(ApiError::Conflict(format!(
            "job {} is already {} for this video; cancel it first",
            active.id, active.state
        )));
    }
    let job = queue(&state, &row.id, &params).await?;
    Ok((StatusCode::ACCEPTED, Json(job.to_api())))
}

async fn visible_job(state: &AppState, caller: &Caller, job_id: &str) -> ApiResult<jobs::JobRow> {
    let job = jobs::find(&state.db, job_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Job"))?;
    // A job is as visible as its video.
    visible_video(state, caller, &job.video_id)
        .await
        .map_err(|_| ApiError::not_found("Job"))?;
    Ok(job)
}

pub async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(job_id): Path<String>,
) -> ApiResult<Json<Job>> {
    Ok(Json(visible_job(&state, &caller, &job_id).await?.to_api()))
}

pub async fn video_jobs(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
) -> ApiResult<Json<Vec<Job>>> {
    let row = visible_video(&state, &caller, &video_id).await?;
    let list = jobs::for_video(&state.db, &row.id, 50).await?;
    Ok(Json(list.iter().map(jobs::JobRow::to_api).collect()))
}

#[derive(Deserialize)]
pub struct QueueQuery {
    state: Option<jobs::JobState>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The whole job queue, for admins. The query is checked only after the caller, as for the list
/// of accounts.
pub async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ApiQuery<QueueQuery>, ApiError>,
) -> ApiResult<Json<Vec<jobs::QueuedJob>>> {
    require_admin(&caller)?;
    let ApiQuery(q) = query?;
    let (limit, offset) = page(q.limit, q.offset)?;
    let list = jobs::list(&state.db, q.state, limit, offset).await?;
    Ok(Json(list.iter().map(jobs::QueueRow::to_api).collect()))
}

/// Cancels a job; a running ffmpeg is stopped at the worker's next lease renewal (within a
/// second).
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(job_id): Path<String>,
    ApiQuery(q): ApiQuery<OwnerQuery>,
) -> ApiResult<Json<Job>> {
    let job = visible_job(&state, &caller, &job_id).await?;
    owned_video(&state, &caller, &job.video_id, q.uploader_id.as_deref()).await?;
    if !jobs::cancel(&state.db, &job.id).await? {
        return Err(ApiError::Conflict(format!(
            "the job is already {}",
            jobs::find(&state.db, &job.id)
                .await?
                .map(|j| j.state)
                .unwrap_or_else(|| "gone".into())
        )));
    }
    store::mark_unfinished(&state.db, &job.video_id, false, "processing was cancelled").await?;
    state.hub.publish(
        &job.video_id,
        &Event::TranscodeCancelled {
            video_id: job.video_id.clone(),
            job_id: job.id.clone(),
            timestamp: crate::ids::now(),
        },
    );
    let job = jobs::find(&state.db, &job.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Job"))?;
    Ok(Json(job.to_api()))
}
