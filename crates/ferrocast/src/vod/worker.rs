//! The transcoding workers: TRANSCODING_CONCURRENCY tasks, each taking one job at a time from the
//! database queue. A worker that is stopped (shutdown, crash) simply stops renewing its lease;
//! the job is picked up again once the lease has run out.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::ffmpeg::{Ctl, Stop};
use super::jobs::{self, JobRow};
use super::pipeline;
use crate::realtime::Event;
use crate::state::AppState;
use crate::videos::store;

/// How long a worker waits before reading the queue again after the database failed.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);
/// Most an idle worker waits before reading the queue anyway. Jobs this process queues wake it at
/// once; the queue is read on its own only for jobs it cannot hear of: a lease that lapsed (a
/// worker that died, here or in an earlier run) or a job another server queued.
const MAX_IDLE: Duration = Duration::from_secs(5);
/// Ended jobs are kept this long (their error stays readable), then deleted, so the table does not
/// grow without bound.
const KEEP_ENDED_JOBS_DAYS: i64 = 30;

pub fn spawn(state: &AppState) -> Vec<JoinHandle<()>> {
    if !state.config.enable_transcoding {
        return Vec::new();
    }
    if state.tools.ffmpeg.is_none() {
        tracing::warn!("ffmpeg not found on PATH: uploaded videos will not be transcoded");
        return Vec::new();
    }
    // One name per process, so a lease held by an earlier run of this server is not mistaken
    // for this one's.
    let instance = crate::ids::secret(8);
    let mut tasks: Vec<JoinHandle<()>> = (0..state.config.transcoding_concurrency)
        .map(|n| {
            let state = state.clone();
            let owner = format!("worker-{instance}-{n}");
            tokio::spawn(async move { work(state, owner).await })
        })
        .collect();
    let db = state.db.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match jobs::prune(&db, KEEP_ENDED_JOBS_DAYS).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "pruned old jobs"),
                Err(e) => tracing::warn!(error = %e, "could not prune old jobs"),
            }
        }
    }));
    tasks
}

async fn work(state: AppState, owner: String) {
    // A lapsed lease is noticed within a sixth of a lease, and within MAX_IDLE.
    let idle = Duration::from_secs(state.config.job_lease_seconds)
        .div_f64(6.0)
        .min(MAX_IDLE);
    loop {
        // Listening before the queue is read, so a job queued in between still wakes this worker.
        let queued = state.job_queued.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        match jobs::has_work(&state.db).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = tokio::time::timeout(idle, queued).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the job queue");
                tokio::time::sleep(RETRY_AFTER_ERROR).await;
                continue;
            }
        }
        match jobs::fail_exhausted(&state.db).await {
            Ok(failed) => {
                for job in failed {
                    let why = job.error.clone().unwrap_or_default();
                    on_failed(&state, &job, &why).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not check for abandoned jobs"),
        }
        match jobs::claim(&state.db, &owner, state.config.job_lease_seconds).await {
            Ok(Some(job)) => run_job(&state, &owner, job).await,
            // Another worker took it, or only jobs out of attempts were left.
            Ok(None) => {
                let _ = tokio::time::timeout(idle, queued).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not take a job from the queue");
                tokio::time::sleep(RETRY_AFTER_ERROR).await;
            }
        }
    }
}

async fn on_failed(state: &AppState, job: &JobRow, why: &str) {
    if let Err(e) = store::mark_unfinished(&state.db, &job.video_id, true, why).await {
        tracing::warn!(video_id = %job.video_id, error = %e, "could not mark the video failed");
    }
    tracing::warn!(job_id = %job.id, video_id = %job.video_id, error = %why, "transcode failed");
    state.hub.publish(
        &job.video_id,
        &Event::TranscodeFailed {
            video_id: job.video_id.clone(),
            job_id: job.id.clone(),
            error: why.to_string(),
            timestamp: crate::ids::now(),
        },
    );
}

async fn run_job(state: &AppState, owner: &str, job: JobRow) {
    let mut ctl = Ctl::new(state.clone(), &job, owner);
    let video = match store::find(&state.db, &job.video_id).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            let _ = jobs::fail(&state.db, &job.id, owner, "the video was deleted").await;
            return;
        }
        Err(e) => {
            tracing::warn!(job_id = %job.id, error = %e, "could not read the job's video");
            // Leave the lease to run out; the job is retried.
            return;
        }
    };
    let Some(params) = job.params() else {
        let why = "the job's parameters are unreadable";
        if let Ok(true) = jobs::fail(&state.db, &job.id, owner, why).await {
            on_failed(state, &job, why).await;
        }
        return;
    };
    if let Err(e) = store::mark_processing(&state.db, &video.id).await {
        tracing::warn!(video_id = %video.id, error = %e, "could not mark the video processing");
    }
    tracing::info!(job_id = %job.id, video_id = %video.id, attempt = job.attempts, "transcode started");
    state.hub.publish(
        &video.id,
        &Event::TranscodeStarted {
            video_id: video.id.clone(),
            job_id: job.id.clone(),
            attempt: job.attempts,
            timestamp: crate::ids::now(),
        },
    );
    let started = std::time::Instant::now();
    match pipeline::process(&mut ctl, &video, &params, job.attempts).await {
        Ok(outputs) => {
            let json = serde_json::to_string(&outputs).unwrap_or_else(|_| "{}".into());
            let card = outputs
                .thumbnails
                .as_ref()
                .map(|_| super::thumbnail_url(&video.id, "card.jpg"));
            // The job is finished only if this worker still held it; a cancel that arrived in the
            // last moments wins.
            match jobs::complete(&state.db, &job, owner, &json, card.as_deref()).await {
                Ok(true) => {}
                Ok(false) => {
                    on_lost(state, &job).await;
                    return;
                }
                Err(e) => {
                    // The lease runs out and the job is done again.
                    tracing::warn!(job_id = %job.id, error = %e, "could not complete the job");
                    return;
                }
            }
            tracing::info!(job_id = %job.id, video_id = %video.id,
                seconds = started.elapsed().as_secs_f64(), "transcode completed");
            if let Ok(Some(row)) = store::find(&state.db, &video.id).await {
                state.hub.publish(
                    &video.id,
                    &Event::TranscodeCompleted {
                        video_id: video.id.clone(),
                        job_id: job.id.clone(),
                        video: Box::new(row.to_api(&state.config)),
                        timestamp: crate::ids::now(),
                    },
                );
            }
        }
        Err(Stop::Lost) => on_lost(state, &job).await,
        Err(Stop::Failed(why)) => {
            if let Ok(true) = jobs::fail(&state.db, &job.id, owner, &why).await {
                on_failed(state, &job, &why).await;
            }
        }
    }
}

/// The job was taken away: cancelled (whose handler tells the channel), re-leased elsewhere after
/// this worker stalled, or its video deleted, in which case outputs published in the last moment
/// are removed too.
async fn on_lost(state: &AppState, job: &JobRow) {
    tracing::info!(job_id = %job.id, "transcode stopped: the job is no longer this worker's");
    if let Ok(None) = store::find(&state.db, &job.video_id).await {
        super::remove_outputs(state, &job.video_id).await;
    }
}
