//! Resumable uploads over tus 1.0 (core, creation, creation-with-upload, termination,
//! expiration) at `/api/uploads`. The upload's id is the id of the video it becomes, so progress
//! goes out on that video's channel (`/ws/{id}`, `/api/videos/{id}/events`) from the first byte.
//!
//! Bytes are appended to `UPLOAD_DIR/.tus/{id}.part`. The row's offset only ever names bytes that
//! were synced to disk, and a PATCH first cuts the file back to it, so a crash mid-request costs
//! the unsynced tail and never leaves garbage in the middle. A dropped connection keeps what
//! arrived: the client asks `HEAD` for the offset and sends the rest.

pub mod store;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::intake::{self, PartialFile, RawDetails, Received, VideoDetails};
use super::sniff::SNIFF_LEN;
use super::spool::Spool;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::models::Video;
use crate::realtime::Event;
use crate::state::AppState;
use store::{COMPLETED, FAILED, UPLOADING, UploadRow};

pub const TUS_VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// Bytes between two background syncs, each of which records the offset, during one long PATCH.
const CHECKPOINT_BYTES: u64 = 32 * 1024 * 1024;
/// Progress events at most this often per upload.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Unfinished uploads one account may hold at once.
const MAX_UNFINISHED_PER_UPLOADER: i64 = 20;
/// Largest `Upload-Metadata` header accepted.
const MAX_METADATA: usize = 16 * 1024;

pub static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
static TUS_VERSION_H: HeaderName = HeaderName::from_static("tus-version");
static TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
static TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
pub static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub static UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub static UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");

/// Headers a browser client must be allowed to send and to read (for CORS).
pub const REQUEST_HEADERS: [&HeaderName; 5] = [
    &TUS_RESUMABLE,
    &UPLOAD_OFFSET,
    &UPLOAD_LENGTH,
    &UPLOAD_METADATA,
    &UPLOAD_DEFER_LENGTH,
];
pub const RESPONSE_HEADERS: [&HeaderName; 8] = [
    &TUS_RESUMABLE,
    &TUS_VERSION_H,
    &TUS_EXTENSION,
    &TUS_MAX_SIZE,
    &UPLOAD_OFFSET,
    &UPLOAD_LENGTH,
    &UPLOAD_EXPIRES,
    &header::LOCATION,
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/uploads",
            // Upload bodies are bounded by the upload's declared length, checked while streaming.
            post(create).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/uploads/{upload_id}",
            axum::routing::patch(patch)
                .head(head)
                .get(status)
                .delete(terminate)
                .layer(DefaultBodyLimit::disable()),
        )
}

/// Uploads a request is writing to right now: one writer per upload.
#[derive(Default)]
pub struct Writers(Mutex<HashSet<String>>);

pub struct WriterGuard {
    writers: Arc<Writers>,
    id: String,
}

impl Writers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_claim(self: &Arc<Self>, id: &str) -> Option<WriterGuard> {
        self.lock().insert(id.to_string()).then(|| WriterGuard {
            writers: self.clone(),
            id: id.to_string(),
        })
    }

    fn busy(&self, id: &str) -> bool {
        self.lock().contains(id)
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.writers.lock().remove(&self.id);
    }
}

fn data_dir(state: &AppState) -> PathBuf {
    state.config.upload_dir.join(".tus")
}

fn data_path(state: &AppState, id: &str) -> PathBuf {
    data_dir(state).join(format!("{id}.part"))
}

fn expiry_from_now(state: &AppState) -> String {
    let secs = i64::try_from(state.config.upload_expiration).unwrap_or(i64::MAX / 2);
    crate::ids::format_time(chrono::Utc::now() + chrono::Duration::seconds(secs))
}

/// RFC 9110's HTTP date, which `Upload-Expires` uses.
fn http_date(stored: &str) -> Option<HeaderValue> {
    let t = crate::ids::parse_time(stored)?;
    HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

fn is_expired(row: &UploadRow) -> bool {
    row.state == UPLOADING && row.expires_at.as_str() < crate::ids::now().as_str()
}

/// Every tus answer, error or not, says which protocol version the server speaks.
fn tus(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
    resp
}

/// An error on a request whose body may be unread: the connection cannot carry another request.
fn refuse(e: ApiError) -> Response {
    let mut resp = e.into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    if resp.status() == StatusCode::PRECONDITION_FAILED {
        resp.headers_mut()
            .insert(TUS_VERSION_H.clone(), HeaderValue::from_static(TUS_VERSION));
    }
    tus(resp)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn require_tus(headers: &HeaderMap) -> ApiResult<()> {
    match header_str(headers, &TUS_RESUMABLE) {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(ApiError::PreconditionFailed(format!(
            "Tus-Resumable {other} is not supported; this server speaks {TUS_VERSION}"
        ))),
        None => Err(ApiError::PreconditionFailed(format!(
            "send 'Tus-Resumable: {TUS_VERSION}' with every tus request"
        ))),
    }
}

fn missing(loc: &[&str]) -> ApiError {
    ApiError::Validation(vec![FieldError {
        loc: loc.iter().map(|s| s.to_string()).collect(),
        msg: "field required".into(),
        kind: "missing".into(),
    }])
}

fn number_header(headers: &HeaderMap, name: &HeaderName, label: &str) -> ApiResult<u64> {
    let raw = header_str(headers, name).ok_or_else(|| missing(&["header", label]))?;
    // Digits only: tus forbids signs, spaces and the like.
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field(
            &["header", label],
            "expected a non-negative whole number of bytes",
        ));
    }
    raw.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| ApiError::field(&["header", label], "too large"))
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (a key alone means an empty value).
fn parse_metadata(raw: &str) -> ApiResult<Vec<(String, String)>> {
    let loc = |k: &str| {
        vec![
            "header".to_string(),
            "Upload-Metadata".into(),
            k.to_string(),
        ]
    };
    let mut pairs = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut it = item.splitn(2, ' ');
        let key = it.next().unwrap_or("").trim();
        let value = it.next().map(str::trim).unwrap_or("");
        let bad = |msg: &str| {
            ApiError::Validation(vec![FieldError {
                loc: loc(key),
                msg: msg.into(),
                kind: "value_error".into(),
            }])
        };
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(bad("keys must be non-empty and free of spaces and commas"));
        }
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(bad("key given twice"));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| bad("value is not valid base64"))?;
        let text = String::from_utf8(bytes).map_err(|_| bad("value is not valid UTF-8"))?;
        pairs.push((key.to_string(), text));
    }
    Ok(pairs)
}

fn raw_details(meta: &[(String, String)]) -> (RawDetails, String) {
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    // tus clients name the file `filename` (tus-js-client) or `name` (Uppy).
    let client_name = get("filename").or_else(|| get("name")).unwrap_or_default();
    (
        RawDetails {
            title: get("title"),
            description: get("description"),
            uploader_id: get("uploader_id"),
            category: get("category"),
            tags: get("tags"),
            is_public: get("is_public"),
        },
        client_name,
    )
}

/// The upload if the caller may touch it: uploads made with a token belong to that account (and
/// admins); anonymous ones (development mode only) to whoever holds the unguessable id.
async fn visible_upload(state: &AppState, caller: &Caller, id: &str) -> ApiResult<UploadRow> {
    let row = store::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Upload"))?;
    match &row.owner_user_id {
        Some(owner) if !caller.owns(owner) => Err(ApiError::not_found("Upload")),
        None if caller.user.is_none() && state.config.requires_tokens() => {
            Err(ApiError::Unauthorized(
                "authentication required: send 'Authorization: Bearer <token>'".into(),
            ))
        }
        _ => Ok(row),
    }
}

/// Whether `id` names an unfinished upload the caller may follow (its events channel).
pub async fn followable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<bool> {
    match visible_upload(state, caller, id).await {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

fn describe_server(state: &AppState, resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(TUS_VERSION_H.clone(), HeaderValue::from_static(TUS_VERSION));
    h.insert(TUS_EXTENSION.clone(), HeaderValue::from_static(EXTENSIONS));
    h.insert(
        TUS_MAX_SIZE.clone(),
        HeaderValue::from(state.config.max_file_size),
    );
    h.insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
}

/// The CORS layer answers every `OPTIONS` itself, so tus discovery is added to its answer here
/// (layered on the upload routes only): a plain `OPTIONS` (not a browser's preflight) gets 204 and
/// the server's tus capabilities.
pub async fn discovery(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_options = req.method() == axum::http::Method::OPTIONS;
    let preflight = req
        .headers()
        .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = next.run(req).await;
    if is_options {
        if !preflight && resp.status().is_success() {
            *resp.status_mut() = StatusCode::NO_CONTENT;
        }
        describe_server(&state, &mut resp);
    }
    resp
}

/// `POST /api/uploads`: creates an upload of `Upload-Length` bytes, with the video's details in
/// `Upload-Metadata`; a body of `application/offset+octet-stream` is its first bytes.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match create_upload(&state, &caller, &headers, body).await {
        Ok(resp) => tus(resp),
        Err(e) => refuse(e),
    }
}

async fn create_upload(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    require_tus(headers)?;
    if state.config.requires_tokens() && caller.user.is_none() {
        return Err(ApiError::Unauthorized(
            "authentication required: send 'Authorization: Bearer <token>'".into(),
        ));
    }
    if headers.contains_key(&UPLOAD_DEFER_LENGTH) && !headers.contains_key(&UPLOAD_LENGTH) {
        return Err(ApiError::BadRequest(
            "Upload-Defer-Length is not supported: send Upload-Length".into(),
        ));
    }
    let length = number_header(headers, &UPLOAD_LENGTH, "Upload-Length")?;
    let max = state.config.max_file_size;
    if length > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "file too large: the limit is {max} bytes"
        )));
    }
    if length == 0 {
        return Err(ApiError::field(
            &["header", "Upload-Length"],
            "the file is empty",
        ));
    }
    let metadata = header_str(headers, &UPLOAD_METADATA).map(str::to_string);
    if metadata.as_ref().is_some_and(|m| m.len() > MAX_METADATA) {
        return Err(ApiError::field(
            &["header", "Upload-Metadata"],
            format!("at most {MAX_METADATA} bytes"),
        ));
    }
    let pairs = parse_metadata(metadata.as_deref().unwrap_or(""))?;
    let (raw, client_name) = raw_details(&pairs);
    let details = intake::check_details(state, caller, &raw, &client_name, "Upload-Metadata")?;
    if store::unfinished(&state.db, &details.uploader_id).await? >= MAX_UNFINISHED_PER_UPLOADER {
        return Err(ApiError::TooManyRequests(format!(
            "at most {MAX_UNFINISHED_PER_UPLOADER} unfinished uploads per account: finish or \
             delete one first"
        )));
    }

    let with_body = header_str(headers, &header::CONTENT_TYPE) == Some(OFFSET_OCTET_STREAM);
    // Taken before the upload exists, so a busy server creates nothing.
    let _slot = with_body.then(|| intake::upload_slot(state)).transpose()?;

    let id = crate::ids::new_id("video");
    tokio::fs::create_dir_all(data_dir(state)).await?;
    tokio::fs::File::create(data_path(state, &id)).await?;
    let now = crate::ids::now();
    let row = UploadRow {
        id: id.clone(),
        owner_user_id: caller.user.as_ref().map(|u| u.id.clone()),
        uploader_id: details.uploader_id.clone(),
        upload_length: length as i64,
        upload_offset: 0,
        details: serde_json::to_string(&details).map_err(anyhow::Error::from)?,
        metadata,
        state: UPLOADING.into(),
        error: None,
        created_at: now.clone(),
        updated_at: now,
        expires_at: expiry_from_now(state),
    };
    if let Err(e) = store::insert(&state.db, &row).await {
        let _ = tokio::fs::remove_file(data_path(state, &id)).await;
        return Err(e);
    }
    tracing::info!(upload_id = %id, bytes = length, "resumable upload created");

    let mut resp = StatusCode::CREATED.into_response();
    let location = format!("/api/uploads/{id}");
    let row = if with_body {
        let writer = state
            .uploads
            .try_claim(&id)
            .ok_or_else(|| ApiError::Locked("upload busy".into()))?;
        let row = write_and_finish(state, row, headers, body).await?;
        drop(writer);
        resp.headers_mut()
            .insert(UPLOAD_OFFSET.clone(), HeaderValue::from(row.upload_offset));
        row
    } else {
        row
    };
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(anyhow::Error::from)?,
    );
    if let Some(v) = http_date(&row.expires_at).filter(|_| row.state == UPLOADING) {
        h.insert(UPLOAD_EXPIRES.clone(), v);
    }
    Ok(resp)
}

/// `HEAD /api/uploads/{id}`: how many bytes the server has.
async fn head(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        require_tus(&headers)?;
        let row = visible_upload(&state, &caller, &id).await?;
        live_row(&row)?;
        let mut resp = StatusCode::OK.into_response();
        let h = resp.headers_mut();
        h.insert(UPLOAD_OFFSET.clone(), HeaderValue::from(row.upload_offset));
        h.insert(UPLOAD_LENGTH.clone(), HeaderValue::from(row.upload_length));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(m) = row
            .metadata
            .as_deref()
            .and_then(|m| HeaderValue::from_str(m).ok())
        {
            h.insert(UPLOAD_METADATA.clone(), m);
        }
        if row.state == UPLOADING
            && let Some(v) = http_date(&row.expires_at)
        {
            h.insert(UPLOAD_EXPIRES.clone(), v);
        }
        Ok::<_, ApiError>(resp)
    }
    .await;
    match result {
        Ok(resp) => tus(resp),
        // A HEAD answer has no body: the status says it all.
        Err(e) => tus(e.status().into_response()),
    }
}

/// Failed and expired uploads are gone for the protocol (their bytes are deleted).
fn live_row(row: &UploadRow) -> ApiResult<()> {
    if row.state == FAILED {
        return Err(ApiError::Gone(format!(
            "this upload failed: {}",
            row.error.as_deref().unwrap_or("unknown reason")
        )));
    }
    if is_expired(row) {
        return Err(ApiError::Gone("this upload expired".into()));
    }
    Ok(())
}

/// `PATCH /api/uploads/{id}`: bytes at `Upload-Offset`.
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    match patch_upload(&state, &caller, &headers, &id, body).await {
        Ok(row) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            let h = resp.headers_mut();
            h.insert(UPLOAD_OFFSET.clone(), HeaderValue::from(row.upload_offset));
            if row.state == UPLOADING
                && let Some(v) = http_date(&row.expires_at)
            {
                h.insert(UPLOAD_EXPIRES.clone(), v);
            }
            tus(resp)
        }
        Err(e) => refuse(e),
    }
}

async fn patch_upload(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
    body: Body,
) -> ApiResult<UploadRow> {
    require_tus(headers)?;
    if header_str(headers, &header::CONTENT_TYPE) != Some(OFFSET_OCTET_STREAM) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "PATCH bodies must be sent as Content-Type: {OFFSET_OCTET_STREAM}"
        )));
    }
    let client_offset = number_header(headers, &UPLOAD_OFFSET, "Upload-Offset")?;
    visible_upload(state, caller, id).await?;
    let _slot = intake::upload_slot(state)?;
    let _writer = state.uploads.try_claim(id).ok_or_else(|| {
        ApiError::Locked(
            "another request is writing to this upload; retry when it has finished".into(),
        )
    })?;
    // Read again under the claim: a request that just ended may have moved the offset.
    let row = store::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Upload"))?;
    live_row(&row)?;
    if client_offset != row.upload_offset as u64 {
        return Err(ApiError::Conflict(format!(
            "Upload-Offset {client_offset} does not match the {} bytes the server has; ask with \
             HEAD and resume from there",
            row.upload_offset
        )));
    }
    if row.state == COMPLETED {
        return Ok(row);
    }
    write_and_finish(state, row, headers, body).await
}

/// Appends the body, then turns the upload into a video if that was its last byte.
async fn write_and_finish(
    state: &AppState,
    row: UploadRow,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<UploadRow> {
    let remaining = (row.upload_length - row.upload_offset) as u64;
    if let Some(declared) =
        header_str(headers, &header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok())
        && declared > remaining
    {
        return Err(ApiError::PayloadTooLarge(format!(
            "{declared} bytes sent but only {remaining} remain of the declared Upload-Length"
        )));
    }
    let mut row = row;
    let written = write_body(state, &mut row, body).await;
    if let Err(e) = written {
        if matches!(e, ApiError::UnsupportedMediaType(_)) {
            fail(state, &row, &e).await;
        }
        return Err(e);
    }
    if row.upload_offset == row.upload_length {
        finish(state, &mut row).await?;
    }
    Ok(row)
}

/// Streams the body to the end of the data file, recording synced progress as it goes. An
/// interrupted body keeps what arrived.
async fn write_body(state: &AppState, row: &mut UploadRow, body: Body) -> ApiResult<()> {
    let path = data_path(state, &row.id);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ApiError::Gone("this upload's data is gone".into())
            } else {
                e.into()
            }
        })?;
    // Bytes past the recorded offset were never confirmed to anyone: drop them.
    file.set_len(row.upload_offset as u64).await?;
    file.seek(std::io::SeekFrom::End(0)).await?;
    let start = row.upload_offset as u64;
    let mut out = Spool::new(file, start, CHECKPOINT_BYTES).await?;

    let length = row.upload_length as u64;
    let sniff_at = (SNIFF_LEN as u64).min(length);
    let mut offset = start;
    let mut last_event = Instant::now();
    let mut stream = body.into_data_stream();
    let mut outcome = Ok(());
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            durable = out.synced() => {
                record_offset(state, row, durable?).await?;
                continue;
            }
        };
        let Some(chunk) = next else { break };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                outcome = Err(ApiError::BadRequest(format!(
                    "the request body broke off after {} bytes ({e}); ask with HEAD and resume",
                    offset - start
                )));
                break;
            }
        };
        if offset + chunk.len() as u64 > length {
            outcome = Err(ApiError::PayloadTooLarge(format!(
                "the body goes past the declared Upload-Length of {length} bytes"
            )));
            break;
        }
        out.write(&chunk).await?;
        offset += chunk.len() as u64;
        if start < sniff_at && offset >= sniff_at {
            out.flush().await?;
            let head = read_head(&path).await?;
            intake::accepted_format(state, &head)?;
        }
        if last_event.elapsed() >= PROGRESS_EVERY {
            last_event = Instant::now();
            progress(state, &row.id, offset, length);
        }
    }
    out.finish().await?;
    record_offset(state, row, offset).await?;
    progress(state, &row.id, offset, length);
    outcome
}

/// Records bytes up to `offset` as on disk, and pushes the expiry back.
async fn record_offset(state: &AppState, row: &mut UploadRow, offset: u64) -> ApiResult<()> {
    row.upload_offset = offset as i64;
    row.expires_at = expiry_from_now(state);
    store::set_offset(&state.db, &row.id, row.upload_offset, &row.expires_at).await
}

async fn read_head(path: &std::path::Path) -> ApiResult<Vec<u8>> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut f)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .await?;
    Ok(head)
}

fn progress(state: &AppState, id: &str, received: u64, total: u64) {
    state.hub.publish(
        id,
        &Event::UploadProgress {
            video_id: id.to_string(),
            bytes_received: received,
            total_bytes: total,
            progress: if total == 0 {
                100.0
            } else {
                (received as f64 * 1000.0 / total as f64).floor() / 10.0
            },
            timestamp: crate::ids::now(),
        },
    );
}

/// The last byte is in: the file becomes the video `row.id`.
async fn finish(state: &AppState, row: &mut UploadRow) -> ApiResult<()> {
    // A crash after the video was made but before the upload was marked leaves both: finishing
    // again only marks it.
    if let Some(video) = super::store::find(&state.db, &row.id).await? {
        return completed(state, row, video.to_api(&state.config)).await;
    }
    let details: VideoDetails = serde_json::from_str(&row.details)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("upload details unreadable: {e}")))?;
    let path = data_path(state, &row.id);
    let head = read_head(&path).await?;
    let received = Received {
        partial: PartialFile::new(path),
        size: row.upload_length as u64,
        head,
    };
    match intake::accept(state, &row.id, received, &details).await {
        Ok(video) => completed(state, row, video.to_api(&state.config)).await,
        Err(e) => {
            fail(state, row, &e).await;
            Err(e)
        }
    }
}

async fn completed(state: &AppState, row: &mut UploadRow, video: Video) -> ApiResult<()> {
    store::set_state(&state.db, &row.id, COMPLETED, None).await?;
    row.state = COMPLETED.into();
    state.hub.publish(
        &row.id,
        &Event::UploadCompleted {
            video_id: row.id.clone(),
            video: Box::new(video),
            timestamp: crate::ids::now(),
        },
    );
    Ok(())
}

/// The upload cannot become a video: its bytes go, the reason stays for `GET` until it expires.
async fn fail(state: &AppState, row: &UploadRow, e: &ApiError) {
    let reason = e.to_string();
    let _ = tokio::fs::remove_file(data_path(state, &row.id)).await;
    if let Err(err) = store::set_state(&state.db, &row.id, FAILED, Some(&reason)).await {
        tracing::warn!(upload_id = %row.id, error = %err, "could not mark the upload failed");
    }
    tracing::info!(upload_id = %row.id, %reason, "resumable upload refused");
    state.hub.publish(
        &row.id,
        &Event::UploadFailed {
            video_id: row.id.clone(),
            error: reason,
            timestamp: crate::ids::now(),
        },
    );
}

/// `DELETE /api/uploads/{id}` (termination): the bytes and the upload go; a finished upload's
/// video stays (it is deleted as a video).
async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        require_tus(&headers)?;
        let row = visible_upload(&state, &caller, &id).await?;
        let _writer = state.uploads.try_claim(&id).ok_or_else(|| {
            ApiError::Locked("a request is writing to this upload; retry when it has ended".into())
        })?;
        remove(&state, &row, "deleted by the uploader").await?;
        Ok::<_, ApiError>(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    match result {
        Ok(resp) => tus(resp),
        Err(e) => refuse(e),
    }
}

async fn remove(state: &AppState, row: &UploadRow, reason: &str) -> ApiResult<()> {
    if let Err(e) = tokio::fs::remove_file(data_path(state, &row.id)).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(e.into());
    }
    store::delete(&state.db, &row.id).await?;
    if row.state == UPLOADING {
        tracing::info!(upload_id = %row.id, %reason, "resumable upload removed");
        state.hub.publish(
            &row.id,
            &Event::UploadCancelled {
                video_id: row.id.clone(),
                reason: reason.to_string(),
                timestamp: crate::ids::now(),
            },
        );
    }
    Ok(())
}

#[derive(Serialize)]
pub struct UploadStatus {
    pub id: String,
    pub video_id: String,
    pub state: String,
    pub filename: String,
    pub bytes_received: i64,
    pub total_bytes: i64,
    pub progress: f64,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
    pub error: Option<String>,
    /// The video, once the upload became one.
    pub video: Option<Video>,
}

/// `GET /api/uploads/{id}`: the upload's progress as JSON, for clients that poll.
async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadStatus>> {
    let row = visible_upload(&state, &caller, &id).await?;
    let filename = serde_json::from_str::<VideoDetails>(&row.details)
        .map(|d| d.filename)
        .unwrap_or_default();
    let video = if row.state == COMPLETED {
        super::store::find(&state.db, &row.id).await?.map(|v| {
            let mut v = v.to_api(&state.config);
            crate::vod::sign_urls(&state, &mut v);
            v
        })
    } else {
        None
    };
    let state_name = if is_expired(&row) {
        "expired".to_string()
    } else {
        row.state.clone()
    };
    Ok(Json(UploadStatus {
        video_id: row.id.clone(),
        id: row.id,
        state: state_name,
        filename,
        bytes_received: row.upload_offset,
        total_bytes: row.upload_length,
        progress: (row.upload_offset as f64 * 1000.0 / row.upload_length.max(1) as f64).floor()
            / 10.0,
        created_at: row.created_at,
        updated_at: row.updated_at,
        expires_at: (row.state == UPLOADING).then_some(row.expires_at),
        error: row.error,
        video,
    }))
}

/// Deletes expired uploads (unfinished ones with their bytes; finished and failed ones are only
/// records by then) and data files no upload names: every minute, or twice per expiry period
/// when that is shorter.
pub async fn janitor(state: AppState) {
    let every = (state.config.upload_expiration / 2).clamp(1, 60);
    let mut tick = tokio::time::interval(Duration::from_secs(every));
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "could not sweep expired uploads");
        }
    }
}

pub async fn sweep(state: &AppState) -> ApiResult<usize> {
    let mut removed = 0;
    loop {
        let batch = store::expired(&state.db, &crate::ids::now(), 100).await?;
        let mut progressed = false;
        for row in &batch {
            let Some(_writer) = state.uploads.try_claim(&row.id) else {
                continue;
            };
            remove(state, row, "expired").await?;
            removed += 1;
            progressed = true;
        }
        if batch.len() < 100 || !progressed {
            break;
        }
    }
    // A crash between creating a data file and its row leaves a file nobody will ask for.
    let grace = Duration::from_secs(state.config.upload_expiration);
    let Ok(mut dir) = tokio::fs::read_dir(data_dir(state)).await else {
        return Ok(removed);
    };
    while let Ok(Some(entry)) = dir.next_entry().await {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".part")) else {
            continue;
        };
        let old = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > grace);
        if old && !state.uploads.busy(id) && !store::exists(&state.db, id).await? {
            let _ = tokio::fs::remove_file(entry.path()).await;
            removed += 1;
        }
    }
    Ok(removed)
}
