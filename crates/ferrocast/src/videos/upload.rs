//! `POST /api/videos/upload`: the seed's multipart form, streamed to disk chunk by chunk. The
//! size limit is enforced while the bytes arrive, the container is judged from the bytes, and
//! ffprobe reads the metadata. Any failure removes the partial file.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;

use super::sniff::{SNIFF_LEN, safe_file_name, sniff};
use super::store::{self, NewVideo};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::media_tools::{ProbeError, probe};
use crate::models::Video;
use crate::state::AppState;
use crate::validate::Checks;

/// Largest text field of the form (title, description, tags, ...).
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// Room for the form's text fields and boundaries on top of the file itself.
const FORM_OVERHEAD: u64 = 1024 * 1024;

/// Deletes the file when dropped unless `keep` was called, so every early return cleans up.
struct PartialFile {
    path: Option<PathBuf>,
}

impl PartialFile {
    fn keep(mut self) -> PathBuf {
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

struct Received {
    partial: PartialFile,
    client_name: String,
    size: u64,
    head: Vec<u8>,
}

#[derive(Default)]
struct Form {
    title: Option<String>,
    description: Option<String>,
    uploader_id: Option<String>,
    category: Option<String>,
    tags: Option<String>,
    is_public: Option<String>,
}

fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("file too large: the limit is {max} bytes"))
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(e.body_text())
    } else {
        ApiError::field(
            &["body"],
            format!("malformed multipart body: {}", e.body_text()),
        )
    }
}

async fn read_text(mut field: Field<'_>, name: &str) -> ApiResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(ApiError::field(
                &["body", name],
                format!("at most {MAX_TEXT_FIELD} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ApiError::field(&["body", name], "not valid UTF-8"))
}

async fn receive_file(mut field: Field<'_>, dir: &Path, max: u64) -> ApiResult<Received> {
    let client_name = field.file_name().unwrap_or("").to_string();
    let path = dir.join(format!(".incoming-{}", crate::ids::secret(20)));
    let mut file = tokio::fs::File::create(&path).await?;
    let partial = PartialFile { path: Some(path) };
    let mut size: u64 = 0;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        if head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok(Received {
        partial,
        client_name,
        size,
        head,
    })
}

pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    match receive(state, caller, headers, multipart).await {
        Ok(created) => created.into_response(),
        Err(e) => {
            // A refusal may leave the rest of the body unread, so this connection cannot carry
            // another request: say so, or the client would reuse it and fail.
            let mut resp = e.into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    }
}

async fn receive(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Video>)> {
    let cfg = &state.config;
    // Refuse before reading a byte when the answer cannot be yes.
    if cfg.requires_tokens() && caller.user.is_none() {
        return Err(ApiError::Unauthorized(
            "authentication required: send 'Authorization: Bearer <token>'".into(),
        ));
    }
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > cfg.max_file_size.saturating_add(FORM_OVERHEAD)
    {
        return Err(too_large(cfg.max_file_size));
    }
    let mut multipart = multipart.map_err(|e| {
        ApiError::field(
            &["body"],
            format!("expected a multipart/form-data body: {}", e.body_text()),
        )
    })?;
    tokio::fs::create_dir_all(&cfg.upload_dir).await?;

    let mut form = Form::default();
    let mut received: Option<Received> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            // `file` is the seed's name; `video` is what the second seed's service calls it.
            "file" | "video" => {
                if received.is_some() {
                    return Err(ApiError::field(
                        &["body", "file"],
                        "only one file per upload",
                    ));
                }
                received = Some(receive_file(field, &cfg.upload_dir, cfg.max_file_size).await?);
            }
            "title" => form.title = Some(read_text(field, "title").await?),
            "description" => form.description = Some(read_text(field, "description").await?),
            "uploader_id" => form.uploader_id = Some(read_text(field, "uploader_id").await?),
            "category" => form.category = Some(read_text(field, "category").await?),
            "tags" => form.tags = Some(read_text(field, "tags").await?),
            "is_public" => form.is_public = Some(read_text(field, "is_public").await?),
            // Unknown fields are read and dropped (bounded), like a form handler would.
            other => {
                let other = other.to_string();
                read_text(field, &other).await?;
            }
        }
    }
    let Some(received) = received else {
        return Err(ApiError::Validation(vec![crate::error::FieldError {
            loc: vec!["body".into(), "file".into()],
            msg: "field required".into(),
            kind: "missing".into(),
        }]));
    };
    if received.size == 0 {
        return Err(ApiError::field(&["body", "file"], "the file is empty"));
    }

    let uploader_id = caller.acting_as(
        &state,
        form.uploader_id.as_deref(),
        &["body", "uploader_id"],
    )?;
    let mut c = Checks::default();
    let fallback_title = Path::new(&received.client_name)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("Untitled video")
        .to_string();
    let title = c.text(
        &["body", "title"],
        form.title.as_deref().unwrap_or(&fallback_title),
        1,
        200,
    );
    let description = c.opt_text(&["body", "description"], form.description.as_deref(), 5000);
    let category = c.opt_text(&["body", "category"], form.category.as_deref(), 100);
    let tags = c.tags(
        &["body", "tags"],
        form.tags.as_deref().unwrap_or("").split(','),
    );
    let is_public = match form.is_public.as_deref().map(str::trim) {
        None | Some("") => true,
        Some(v) => crate::config::parse_bool(v).unwrap_or_else(|| {
            c.fail(&["body", "is_public"], "expected true or false");
            true
        }),
    };
    c.finish()?;

    let accepted = cfg
        .supported_formats
        .iter()
        .map(|f| f.extension())
        .collect::<Vec<_>>()
        .join(", ");
    let format = sniff(&received.head)
        .filter(|f| cfg.supported_formats.contains(f))
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(format!(
                "the file is not a supported video; accepted formats: {accepted}"
            ))
        })?;

    let id = crate::ids::new_id("video");
    let mut name = safe_file_name(&received.client_name);
    let ext_matches = Path::new(&name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(format.extension()));
    if !ext_matches {
        // The stored name says what the file really is.
        name = format!("{name}.{}", format.extension());
    }
    let final_path = cfg.upload_dir.join(format!("{id}_{name}"));
    let incoming = received.partial.keep();
    if let Err(e) = tokio::fs::rename(&incoming, &final_path).await {
        let _ = tokio::fs::remove_file(&incoming).await;
        return Err(e.into());
    }
    let stored = PartialFile {
        path: Some(final_path.clone()),
    };

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

    let file_path = final_path
        .to_string_lossy()
        .trim_start_matches("./")
        .to_string();
    store::insert(
        &state.db,
        &NewVideo {
            id: id.clone(),
            title,
            description,
            uploader_id,
            filename: received.client_name.chars().take(255).collect(),
            file_path,
            file_size: received.size as i64,
            format: format.label(),
            probe: meta,
            category,
            tags,
            is_public,
        },
    )
    .await?;
    stored.keep();
    let row = store::find(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("video vanished after insert")))?;
    tracing::info!(video_id = %id, bytes = received.size, "video uploaded");
    if probed {
        crate::vod::enqueue_upload(&state, &id).await;
    }
    Ok((StatusCode::CREATED, Json(row.to_api())))
}
