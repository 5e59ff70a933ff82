//! What every upload path shares: the checks on the video's details (made before the bytes are
//! taken, so a long upload is never refused at the end for its title) and the last step that
//! turns a received file into a video: format from the bytes, final name, ffprobe, the row, the
//! processing job.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;

use super::sniff::{safe_file_name, sniff};
use super::store::{self, NewVideo, VideoRow};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, RETRY_BUSY_AFTER_SECS};
use crate::media_tools::{ProbeError, probe};
use crate::models::VideoFormat;
use crate::state::AppState;
use crate::validate::Checks;

/// Deletes the file when dropped unless `keep` was called, so every early return cleans up.
pub struct PartialFile {
    path: Option<PathBuf>,
}

impl PartialFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path: Some(path) }
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    pub fn keep(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A place among the upload bodies the server receives at once (MAX_CONCURRENT_UPLOADS), held
/// until the body is in: past the limit the upload is refused before a byte is read.
pub fn upload_slot(state: &AppState) -> ApiResult<OwnedSemaphorePermit> {
    Arc::clone(&state.upload_slots)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::Busy(format!(
                "the server is taking as many uploads at once as it may (MAX_CONCURRENT_UPLOADS \
                 = {}); try again in {RETRY_BUSY_AFTER_SECS} s",
                state.config.max_concurrent_uploads
            ))
        })
}

/// The details as the client sent them (form fields or tus metadata), unchecked.
#[derive(Default)]
pub struct RawDetails {
    pub title: Option<String>,
    pub description: Option<String>,
    pub uploader_id: Option<String>,
    pub category: Option<String>,
    pub tags: Option<String>,
    pub is_public: Option<String>,
}

/// Checked details, kept with a resumable upload until its last byte arrives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoDetails {
    pub title: String,
    pub description: Option<String>,
    pub uploader_id: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub is_public: bool,
    /// The file's name on the client.
    pub filename: String,
}

/// Checks the details; `root` is where the fields live in the request (`body` for the form,
/// `Upload-Metadata` for tus), so a 422 names the field the client sent.
pub fn check_details(
    state: &AppState,
    caller: &Caller,
    raw: &RawDetails,
    client_name: &str,
    root: &str,
) -> ApiResult<VideoDetails> {
    let uploader_id =
        caller.acting_as(state, raw.uploader_id.as_deref(), &[root, "uploader_id"])?;
    let mut c = Checks::default();
    let fallback_title = Path::new(client_name)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("Untitled video")
        .to_string();
    let title = c.text(
        &[root, "title"],
        raw.title.as_deref().unwrap_or(&fallback_title),
        1,
        200,
    );
    let description = c.opt_text(&[root, "description"], raw.description.as_deref(), 5000);
    let category = c.opt_text(&[root, "category"], raw.category.as_deref(), 100);
    let tags = c.tags(
        &[root, "tags"],
        raw.tags.as_deref().unwrap_or("").split(','),
    );
    let is_public = match raw.is_public.as_deref().map(str::trim) {
        None | Some("") => true,
        Some(v) => crate::config::parse_bool(v).unwrap_or_else(|| {
            c.fail(&[root, "is_public"], "expected true or false");
            true
        }),
    };
    c.finish()?;
    Ok(VideoDetails {
        title,
        description,
        uploader_id,
        category,
        tags,
        is_public,
        filename: client_name.chars().take(255).collect(),
    })
}

/// The container named by the file's first bytes, if the server accepts it.
pub fn accepted_format(state: &AppState, head: &[u8]) -> ApiResult<VideoFormat> {
    let cfg = &state.config;
    sniff(head)
        .filter(|f| cfg.supported_formats.contains(f))
        .ok_or_else(|| {
            let accepted = cfg
                .supported_formats
                .iter()
                .map(|f| f.extension())
                .collect::<Vec<_>>()
                .join(", ");
            ApiError::UnsupportedMediaType(format!(
                "the file is not a supported video; accepted formats: {accepted}"
            ))
        })
}

/// A file received in full, not yet a video.
pub struct Received {
    pub partial: PartialFile,
    pub size: u64,
    /// At least the first `SNIFF_LEN` bytes (all of them for a smaller file).
    pub head: Vec<u8>,
}

/// Makes the video `id` of a received file: moves it to its final name in `UPLOAD_DIR`, reads
/// its metadata, stores it (see `storage`), inserts the row and queues processing. On any error
/// the file is removed.
pub async fn accept(
    state: &AppState,
    id: &str,
    received: Received,
    details: &VideoDetails,
) -> ApiResult<VideoRow> {
    if received.size == 0 {
        return Err(ApiError::field(&["body", "file"], "the file is empty"));
    }
    let format = accepted_format(state, &received.head)?;
    let mut name = safe_file_name(&details.filename);
    let ext_matches = Path::new(&name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(format.extension()));
    if !ext_matches {
        // The stored name says what the file really is.
        name = format!("{name}.{}", format.extension());
    }
    let final_path = state.config.upload_dir.join(format!("{id}_{name}"));
    let incoming = received.partial.keep();
    if let Err(e) = tokio::fs::rename(&incoming, &final_path).await {
        let _ = tokio::fs::remove_file(&incoming).await;
        return Err(e.into());
    }
    let stored = PartialFile::new(final_path.clone());

    let meta = match probe(&state.tools, &final_path).await {
        Ok(m) => Some(m),
        Err(ProbeError::Missing) => {
            tracing::warn!("ffprobe not found: video metadata left empty");
            None
        }
        Err(ProbeError::Unreadable(why)) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the file looks like {} but cannot be read as a video: {why}",
                format.label()
            )));
        }
    };
    let probed = meta.is_some();
    if meta.as_ref().is_some_and(|m| !m.has_video && !m.has_audio) {
        return Err(ApiError::UnsupportedMediaType(
            "the file has no audio or video streams".into(),
        ));
    }

    // Stored before the row is written, so a row never names a missing object. With the local
    // backend the file is already in place and this changes nothing.
    let shelf = &state.storage.videos;
    let stored_name = format!("{id}_{name}");
    shelf.store_file(&stored_name, &final_path).await?;
    let file_path = shelf.location(&stored_name);
    let inserted = store::insert(
        &state.db,
        &NewVideo {
            id: id.to_string(),
            title: details.title.clone(),
            description: details.description.clone(),
            uploader_id: details.uploader_id.clone(),
            filename: details.filename.clone(),
            file_path,
            file_size: received.size as i64,
            format: format.label(),
            probe: meta,
            category: details.category.clone(),
            tags: details.tags.clone(),
            is_public: details.is_public,
        },
    )
    .await;
    if let Err(e) = inserted {
        if let Err(gone) = shelf.remove(&stored_name).await {
            tracing::warn!(video_id = %id, error = format!("{gone:#}"), "stored upload left behind");
        }
        return Err(e);
    }
    stored.keep();
    let row = store::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("video vanished after insert")))?;
    tracing::info!(video_id = %id, bytes = received.size, "video uploaded");
    if probed {
        crate::vod::enqueue_upload(state, id).await;
    }
    Ok(row)
}
