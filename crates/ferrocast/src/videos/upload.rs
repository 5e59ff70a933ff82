//! `POST /api/videos/upload`: the seed's multipart form, streamed to disk chunk by chunk. The
//! size limit is enforced while the bytes arrive; the rest (format from the bytes, ffprobe, the
//! row) is `intake`'s, shared with resumable uploads. Any failure removes the partial file.

use std::path::Path;

use axum::Json;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::intake::{self, PartialFile, RawDetails, Received, accept, check_details};
use super::sniff::SNIFF_LEN;
use super::spool::Spool;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::models::Video;
use crate::state::AppState;

/// Largest text field of the form (title, description, tags, ...).
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// Room for the form's text fields and boundaries on top of the file itself.
const FORM_OVERHEAD: u64 = 1024 * 1024;
/// Received bytes between two background syncs.
const SYNC_EVERY: u64 = 32 * 1024 * 1024;

struct ReceivedFile {
    received: Received,
    client_name: String,
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

async fn receive_file(mut field: Field<'_>, dir: &Path, max: u64) -> ApiResult<ReceivedFile> {
    let client_name = field.file_name().unwrap_or("").to_string();
    let path = dir.join(format!(".incoming-{}", crate::ids::secret(20)));
    let file = tokio::fs::File::create(&path).await?;
    let partial = PartialFile::new(path);
    let mut file = Spool::new(file, 0, SYNC_EVERY).await?;
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
        file.write(&chunk).await?;
    }
    file.finish().await?;
    Ok(ReceivedFile {
        received: Received {
            partial,
            size,
            head,
        },
        client_name,
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
    let _slot = intake::upload_slot(&state)?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::field(
            &["body"],
            format!("expected a multipart/form-data body: {}", e.body_text()),
        )
    })?;
    tokio::fs::create_dir_all(&cfg.upload_dir).await?;

    let mut form = RawDetails::default();
    let mut received: Option<ReceivedFile> = None;
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
    let details = check_details(&state, &caller, &form, &received.client_name, "body")?;
    let id = crate::ids::new_id("video");
    let row = accept(&state, &id, received.received, &details).await?;
    Ok((StatusCode::CREATED, Json(row.to_api(&state.config))))
}
