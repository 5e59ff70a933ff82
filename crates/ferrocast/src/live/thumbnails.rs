//! Thumbnails: a live stream's is taken from its first segment, then refreshed from its latest
//! segment (segments start at a keyframe, so the first frame decodes on its own) at most every
//! LIVE_THUMBNAIL_INTERVAL and only if it was requested since the last refresh: each refresh is
//! an ffmpeg run (about 0.15 s of CPU and 70 MB of memory while it lasts), which for a stream
//! nobody browses would cost more than the stream's whole ingest. It is written to
//! `THUMBNAIL_DIR/live/{stream_id}.jpg` and kept after the stream ends. A recording's is made
//! once when it becomes a video.
//!
//! - `GET /api/streams/{stream_id}/thumbnail.jpg`: private streams need what playback needs
//!   (the password, an owner or admin token, or a playback token `t`).
//! - `GET /api/videos/{video_id}/thumbnail.jpg`: private videos only for their owner.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use super::origin::LiveStream;
use super::recording::{thumbnail_filter, video_thumbnail_name};
use crate::auth::Caller;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::streams::{self, AccessQuery, store};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/streams/{stream_id}/thumbnail.jpg",
            get(stream_thumbnail),
        )
        .route("/api/videos/{video_id}/thumbnail.jpg", get(video_thumbnail))
}

/// Thumbnail decodes at once, server-wide: each is a short ffmpeg run, and a machine with many
/// live streams should not spend more than a core or two on them.
static JOBS: Semaphore = Semaphore::const_new(2);

/// One decode of one frame takes well under a second; anything longer is stuck.
const JOB_TIMEOUT: Duration = Duration::from_secs(10);

/// A JPEG bigger than this is not a thumbnail.
const MAX_JPEG: u64 = 4 << 20;

/// How soon to look again while the stream has no segment yet.
const FIRST_POLL: Duration = Duration::from_secs(1);

/// Browsers refetch a live thumbnail soon, and an ended stream's no longer changes much.
const CACHE: &str = "max-age=5";

fn live_thumbnail_path(config: &Config, stream_id: &str) -> PathBuf {
    config
        .thumbnail_dir
        .join("live")
        .join(format!("{stream_id}.jpg"))
}

/// Removes a deleted stream's thumbnail, if it had one.
pub async fn remove(config: &Config, stream_id: &str) {
    let path = live_thumbnail_path(config, stream_id);
    match tokio::fs::remove_file(&path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a live thumbnail");
        }
        _ => {}
    }
}

pub fn stream_thumbnail_url(state: &AppState, stream_id: &str) -> String {
    let c = &state.config;
    let base = c
        .cdn_base()
        .map_or_else(|| c.public_base_url(), str::to_string);
    format!("{base}/api/streams/{stream_id}/thumbnail.jpg")
}

/// Starts refreshing a newly created origin's thumbnail until the stream finishes.
pub fn start(state: &AppState, live: &Arc<LiveStream>) {
    if state.config.live_thumbnail_interval == 0 || state.tools.ffmpeg.is_none() {
        return;
    }
    let state = state.clone();
    let weak = Arc::downgrade(live);
    let stream_id = live.stream_id.clone();
    tokio::spawn(async move { refresh(state, weak, stream_id).await });
}

async fn refresh(state: AppState, live: Weak<LiveStream>, stream_id: String) {
    let interval = Duration::from_secs(state.config.live_thumbnail_interval);
    let mut last_msn = None;
    let mut url_set = false;
    loop {
        // Only a weak reference between rounds, so this task never keeps an ended origin alive.
        let latest = {
            let Some(live) = live.upgrade() else { return };
            let seg = live.segmenter();
            if seg.is_finished() {
                return;
            }
            seg.init_segment()
                .cloned()
                .zip(seg.segments().back().map(|s| (s.msn, s.data.clone())))
        };
        let Some((init, (msn, segment))) = latest else {
            tokio::time::sleep(FIRST_POLL).await;
            continue;
        };
        let wanted = || {
            last_msn.is_none()
                || live
                    .upgrade()
                    .is_some_and(|l| l.thumbnail_requested.swap(false, Ordering::Relaxed))
        };
        if last_msn != Some(msn) && wanted() {
            last_msn = Some(msn);
            match grab(&state, &stream_id, init, segment).await {
                Ok(()) if !url_set => {
                    url_set = set_url(&state, &stream_id).await;
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::debug!(%stream_id, error = format!("{e:#}"), "live thumbnail failed")
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

async fn set_url(state: &AppState, stream_id: &str) -> bool {
    let url = stream_thumbnail_url(state, stream_id);
    let r = sqlx::query("UPDATE streams SET thumbnail_url = $1, updated_at = $2 WHERE id = $3")
        .bind(&url)
        .bind(crate::ids::now())
        .bind(stream_id)
        .execute(&state.db.pool)
        .await;
    match r {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(%stream_id, error = %e, "could not record the thumbnail URL");
            false
        }
    }
}

/// Decodes the first frame of `init` + `segment` (piped in, no temporary file) to a JPEG and
/// replaces the stream's thumbnail with it atomically.
async fn grab(
    state: &AppState,
    stream_id: &str,
    init: Bytes,
    segment: Bytes,
) -> anyhow::Result<()> {
    let ffmpeg = state
        .tools
        .ffmpeg
        .as_ref()
        .context("ffmpeg is not installed")?;
    let _job = JOBS.acquire().await?;
    let mut child = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-f", "mp4", "-i", "pipe:0"])
        .args(["-frames:v", "1", "-an", "-vf", &thumbnail_filter()])
        .args(["-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run ffmpeg")?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let work = async {
        let feed = async {
            // ffmpeg stops reading once it has its frame; a broken pipe then is expected.
            let _ = stdin.write_all(&init).await;
            let _ = stdin.write_all(&segment).await;
            drop(stdin);
        };
        let read = async {
            let mut jpeg = Vec::new();
            (&mut stdout)
                .take(MAX_JPEG)
                .read_to_end(&mut jpeg)
                .await
                .map(|_| jpeg)
        };
        let ((), jpeg) = tokio::join!(feed, read);
        let status = child.wait().await?;
        anyhow::Ok((status, jpeg?))
    };
    let (status, jpeg) = tokio::time::timeout(JOB_TIMEOUT, work)
        .await
        .context("ffmpeg took too long")??;
    if !status.success() || !jpeg.starts_with(&[0xFF, 0xD8]) {
        anyhow::bail!("ffmpeg could not decode a frame");
    }
    let path = live_thumbnail_path(&state.config, stream_id);
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let partial = path.with_extension("jpg.part");
    tokio::fs::write(&partial, &jpeg).await?;
    tokio::fs::rename(&partial, &path).await?;
    Ok(())
}

async fn jpeg_response(path: PathBuf, private: bool) -> ApiResult<Response> {
    let data = match tokio::fs::read(&path).await {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotFound("Thumbnail not available yet".into()));
        }
        Err(e) => return Err(ApiError::Internal(e.into())),
    };
    Ok(jpeg(data.into(), private))
}

fn jpeg(data: bytes::Bytes, private: bool) -> Response {
    let cache = if private {
        format!("private, {CACHE}")
    } else {
        format!("public, {CACHE}")
    };
    (
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CACHE_CONTROL, cache),
        ],
        data,
    )
        .into_response()
}

async fn stream_thumbnail(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(stream_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let by_token = match q.get("t") {
        Some(t) => match store::find(&state.db, &stream_id).await? {
            Some(row)
                if crate::signing::LIVE_PLAYBACK.verify(
                    &state.config.jwt_secret,
                    &super::origin::token_subject(&row.id, row.password_hash.as_deref()),
                    t,
                    crate::signing::unix_now(),
                ) =>
            {
                Some(row)
            }
            _ => None,
        },
        None => None,
    };
    let row = match by_token {
        Some(row) => row,
        None => {
            let access = AccessQuery {
                password: q.get("password").cloned(),
            };
            let password = streams::password_from(&headers, &access);
            streams::visible_stream(&state, &caller, &stream_id, password.as_deref()).await?
        }
    };
    if let Some(live) = state.live.get(&row.id) {
        live.thumbnail_requested.store(true, Ordering::Relaxed);
    }
    jpeg_response(
        live_thumbnail_path(&state.config, &row.id),
        row.is_private(),
    )
    .await
}

async fn video_thumbnail(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
) -> ApiResult<Response> {
    let row = crate::videos::visible_video(&state, &caller, &video_id).await?;
    let data = state
        .storage
        .pictures
        .read_small(&video_thumbnail_name(&row.id), MAX_JPEG)
        .await?
        .ok_or_else(|| ApiError::NotFound("Thumbnail not available yet".into()))?;
    Ok(jpeg(data, !row.is_public()))
}
