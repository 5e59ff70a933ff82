//! Serving processed videos: the HLS and DASH manifests and the CMAF segments both point at, the
//! pictures, the preview and the original. Segments never change under a name (each run names
//! them anew), so they are cached for a year; manifests briefly. A video that is not public is
//! served to its owner (bearer token) or to a request carrying a valid `sig`, and the manifests
//! then carry that signature on every URI so a player can follow them. The manifests a player
//! starts from also open a playback session (`s=`, see `views`) carried the same way.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Outputs;
use super::pipeline::{pictures_prefix, renditions_prefix};
use super::views::{self, Session};
use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::state::AppState;
use crate::videos::store::{self, VideoRow};

const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";
const PRIVATE_SEGMENT_CACHE: &str = "private, max-age=31536000, immutable";
const MANIFEST_CACHE: &str = "public, max-age=10";
const PRIVATE_MANIFEST_CACHE: &str = "private, max-age=10";

#[derive(Deserialize)]
pub struct SigQuery {
    sig: Option<String>,
    /// The playback session, on HLS and DASH files.
    s: Option<String>,
}

struct Access {
    row: VideoRow,
    /// The signature to carry in rewritten URIs; `None` for a public video.
    sig: Option<String>,
    /// The playback session to carry in rewritten URIs.
    session: Option<Session>,
}

impl Access {
    fn public(&self) -> bool {
        self.sig.is_none()
    }

    fn cache(&self, public: &'static str, private: &'static str) -> &'static str {
        if self.public() { public } else { private }
    }

    /// What the URIs of a manifest get: the signature and the session on playlists and init
    /// segments; on media segments too, unless a CDN serves them. Through a CDN every viewer then
    /// asks for the same segment URLs and the CDN keeps one copy of each (views are counted at
    /// the init segment instead: `views::delivered`).
    fn uri_queries(&self, cdn: bool) -> UriQueries {
        let sig = self.sig.as_ref().map(|s| format!("sig={s}"));
        let session = self.session.as_ref().map(|s| format!("s={}", s.token));
        let join = |a: Option<String>, b: Option<String>| match (a, b) {
            (Some(a), Some(b)) => Some(format!("{a}&{b}")),
            (a, b) => a.or(b),
        };
        let segments = if cdn {
            sig.clone()
        } else {
            join(sig.clone(), session.clone())
        };
        UriQueries {
            others: join(sig, session),
            segments,
        }
    }

    /// Manifests naming a session are one viewer's, not for shared caches.
    fn manifest_cache(&self) -> &'static str {
        if self.public() && self.session.is_none() {
            MANIFEST_CACHE
        } else {
            PRIVATE_MANIFEST_CACHE
        }
    }

    fn outputs(&self) -> ApiResult<Outputs> {
        self.row
            .outputs()
            .ok_or_else(|| ApiError::NotFound("Video not processed yet".into()))
    }
}

async fn access(
    state: &AppState,
    caller: &Caller,
    video_id: &str,
    sig: Option<&str>,
) -> ApiResult<Access> {
    let row = store::find(&state.db, video_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Video"))?;
    let session = None;
    if row.is_public() {
        let sig = None;
        return Ok(Access { row, sig, session });
    }
    let now = crate::signing::unix_now();
    let secret = &state.config.jwt_secret;
    if let Some(s) = sig
        && crate::signing::VIDEO_MEDIA.verify(secret, &row.id, s, now)
    {
        let sig = Some(s.to_string());
        return Ok(Access { row, sig, session });
    }
    if caller.owns(&row.uploader_id) {
        let sig = Some(crate::signing::VIDEO_MEDIA.sign(secret, &row.id, now));
        return Ok(Access { row, sig, session });
    }
    Err(ApiError::not_found("Video"))
}

/// A name ffmpeg wrote: letters, digits, `-`, `_` and one extension; nothing that walks paths.
fn safe_name(file: &str) -> Option<&str> {
    let ok = !file.is_empty()
        && file.len() <= 128
        && !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !file.contains("..");
    ok.then_some(file)
}

fn extension(file: &str) -> &str {
    file.rsplit_once('.').map_or("", |(_, e)| e)
}

/// The queries `uri_queries` hands out for one manifest.
struct UriQueries {
    /// For playlists and init segments.
    others: Option<String>,
    /// For media segments.
    segments: Option<String>,
}

impl UriQueries {
    fn any(&self) -> bool {
        self.others.is_some() || self.segments.is_some()
    }

    /// `uri` with the query its kind gets.
    fn apply(&self, uri: &str, init: bool) -> String {
        let media_segment = uri.ends_with(".m4s") && !init;
        let q = if media_segment {
            &self.segments
        } else {
            &self.others
        };
        match q {
            Some(q) => format!("{uri}?{q}"),
            None => uri.to_string(),
        }
    }
}

/// Adds the queries (`sig=...&s=...`) to the URIs of an HLS playlist: the URI lines and the
/// `URI="..."` attributes (init segments, other playlists).
fn sign_m3u8(text: &str, q: &UriQueries) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            out.push_str(line);
        } else if trimmed.starts_with('#') {
            out.push_str(&quote_attributes(line, "URI", q, true));
        } else {
            out.push_str(&q.apply(trimmed, false));
        }
        out.push('\n');
    }
    out
}

/// Adds the queries to the segment templates of a DASH manifest (the only URLs ffmpeg writes in
/// it): `initialization` gets the init segments' query, `media` the media segments'.
fn sign_mpd(text: &str, q: &UriQueries) -> String {
    // Attributes of XML: `&` must be escaped there.
    let escape = |q: &Option<String>| q.as_ref().map(|q| q.replace('&', "&amp;"));
    let q = UriQueries {
        others: escape(&q.others),
        segments: escape(&q.segments),
    };
    let text = quote_attributes(text, "initialization", &q, true);
    quote_attributes(&text, "media", &q, false)
}

/// `text` with the query applied to the value of every `name="..."` attribute naming a `.m4s` or
/// `.m3u8` file.
fn quote_attributes(text: &str, name: &str, q: &UriQueries, init: bool) -> String {
    let key = format!("{name}=\"");
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find(&key) {
        // Only the whole attribute name: `URI="` but not `XURI="`.
        let whole = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-');
        let start = at + key.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find('"') else { break };
        let value = &rest[..end];
        if whole && (value.ends_with(".m4s") || value.ends_with(".m3u8")) {
            out.push_str(&q.apply(value, init || value.ends_with(".m3u8")));
        } else {
            out.push_str(value);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn text_response(body: String, content_type: &str, cache: &str) -> Response {
    let mut headers = HeaderMap::new();
    if let (Ok(ct), Ok(cc)) = (
        HeaderValue::from_str(content_type),
        HeaderValue::from_str(cache),
    ) {
        headers.insert(header::CONTENT_TYPE, ct);
        headers.insert(header::CACHE_CONTROL, cc);
    }
    (StatusCode::OK, headers, body).into_response()
}

async fn stream_file(
    state: &AppState,
    a: &Access,
    file: &str,
    request: &HeaderMap,
) -> ApiResult<Response> {
    let shelf = &state.storage.videos;
    let cdn = state.config.cdn_base().is_some();
    let name = format!("{}/{file}", renditions_prefix(&a.row.id));
    match extension(file) {
        "m4s" => {
            shelf
                .serve(
                    &name,
                    "video/mp4",
                    a.cache(SEGMENT_CACHE, PRIVATE_SEGMENT_CACHE),
                    request,
                    "Segment",
                )
                .await
        }
        "m3u8" => {
            let text = shelf.read_text(&name, "Playlist").await?;
            let q = a.uri_queries(cdn);
            let text = if q.any() { sign_m3u8(&text, &q) } else { text };
            Ok(text_response(
                text,
                "application/vnd.apple.mpegurl",
                a.manifest_cache(),
            ))
        }
        "mpd" => {
            let text = shelf.read_text(&name, "Manifest").await?;
            let q = a.uri_queries(cdn);
            let text = if q.any() { sign_mpd(&text, &q) } else { text };
            Ok(text_response(
                text,
                "application/dash+xml",
                a.manifest_cache(),
            ))
        }
        _ => Err(ApiError::not_found("File")),
    }
}

/// `GET /api/stream/{id}/hls/{file}`: `playlist.m3u8` (the master), the media playlists and the
/// segments. The seed names one route for both kinds of stream, so a live stream's id gets the
/// live master playlist.
pub async fn hls_file(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path((video_id, file)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<SigQuery>,
    raw: Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if video_id.starts_with("stream_") && file == "playlist.m3u8" {
        return crate::live::http::master(State(state), caller, headers, Path(video_id), raw).await;
    }
    let req = FileRequest {
        method: &method,
        query: &q,
        headers: &headers,
    };
    adaptive_file(&state, &caller, &video_id, &file, req, Format::Hls).await
}

/// `GET /api/stream/{id}/dash/{file}`: `manifest.mpd` and the same segments HLS uses.
pub async fn dash_file(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    Path((video_id, file)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<SigQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let req = FileRequest {
        method: &method,
        query: &q,
        headers: &headers,
    };
    adaptive_file(&state, &caller, &video_id, &file, req, Format::Dash).await
}

/// What `adaptive_file` needs of the request besides the ids.
struct FileRequest<'a> {
    method: &'a Method,
    query: &'a SigQuery,
    headers: &'a HeaderMap,
}

#[derive(Clone, Copy)]
enum Format {
    Hls,
    Dash,
}

/// A file of the video's HLS or DASH output: its own manifest type, or a shared segment, and only
/// when that output was made.
async fn adaptive_file(
    state: &AppState,
    caller: &Caller,
    video_id: &str,
    file: &str,
    req: FileRequest<'_>,
    format: Format,
) -> ApiResult<Response> {
    let mut a = access(state, caller, video_id, req.query.sig.as_deref()).await?;
    let o = a.outputs()?;
    let file = safe_name(file).ok_or_else(|| ApiError::not_found("File"))?;
    let (made, manifest) = match format {
        Format::Hls => (o.hls, "m3u8"),
        Format::Dash => (o.dash, "mpd"),
    };
    let ext = extension(file);
    if !made || !(ext == manifest || ext == "m4s") {
        return Err(ApiError::not_found("File"));
    }
    a.session = views::session_for(state, &a.row.id, file, req.query.s.as_deref());
    let resp = stream_file(state, &a, file, req.headers).await?;
    let session = a.session.as_ref();
    views::delivered(state, &a.row, file, session, req.method, resp.status()).await;
    Ok(resp)
}

/// `GET /api/videos/{id}/thumbnails/{file}`: `card.jpg`, `player.jpg`, `storyboard.jpg`,
/// `storyboard.vtt` (`poster.jpg` is the player-sized picture).
pub async fn thumbnail(
    State(state): State<AppState>,
    caller: Caller,
    Path((video_id, file)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<SigQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = access(&state, &caller, &video_id, q.sig.as_deref()).await?;
    let file = match file.as_str() {
        "poster.jpg" | "player.jpg" => "player.jpg",
        "card.jpg" => "card.jpg",
        "storyboard.jpg" => "storyboard.jpg",
        "storyboard.vtt" => "storyboard.vtt",
        _ => return Err(ApiError::not_found("Thumbnail")),
    };
    let shelf = &state.storage.pictures;
    let name = format!("{}/{file}", pictures_prefix(&a.row.id));
    let cache = a.cache("public, max-age=3600", "private, max-age=3600");
    if file == "storyboard.vtt" {
        let text = shelf.read_text(&name, "Thumbnail").await?;
        let text = match &a.sig {
            Some(sig) => text.replace("storyboard.jpg#", &format!("storyboard.jpg?sig={sig}#")),
            None => text,
        };
        return Ok(text_response(text, "text/vtt; charset=utf-8", cache));
    }
    shelf
        .serve(&name, "image/jpeg", cache, &headers, "Thumbnail")
        .await
}

/// `GET /api/videos/{id}/preview.mp4`: the 30-second clip.
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    ApiQuery(q): ApiQuery<SigQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = access(&state, &caller, &video_id, q.sig.as_deref()).await?;
    let name = format!("{}/preview.mp4", renditions_prefix(&a.row.id));
    let cache = a.cache("public, max-age=3600", "private, max-age=3600");
    state
        .storage
        .videos
        .serve(&name, "video/mp4", cache, &headers, "Preview")
        .await
}

fn original_type(format: &str) -> &'static str {
    match format.to_ascii_lowercase().as_str() {
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "flv" => "video/x-flv",
        "wmv" => "video/x-ms-wmv",
        _ => "application/octet-stream",
    }
}

/// `GET /api/videos/{id}/file`: the original upload, with byte ranges.
pub async fn original(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    ApiQuery(q): ApiQuery<SigQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = access(&state, &caller, &video_id, q.sig.as_deref()).await?;
    let cache = a.cache("public, max-age=3600", "private, max-age=3600");
    let name = crate::storage::original_name(&a.row.file_path)
        .ok_or_else(|| ApiError::not_found("Video file"))?;
    state
        .storage
        .videos
        .serve(
            name,
            original_type(&a.row.format),
            cache,
            &headers,
            "Video file",
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_signing() {
        assert!(safe_name("seg-ab1-0-00001.m4s").is_some());
        assert!(safe_name("../x.m4s").is_none());
        assert!(safe_name(".hidden").is_none());
        assert!(safe_name("a/b.m4s").is_none());
        let sig = |q: &str| UriQueries {
            others: Some(q.to_string()),
            segments: Some(q.to_string()),
        };
        let m = "#EXTM3U\n#EXT-X-MAP:URI=\"init-v-0.m4s\"\n#EXTINF:4.0,\nseg-v-0-00001.m4s\n";
        let s = sign_m3u8(m, &sig("sig=9.ab"));
        assert!(s.contains("URI=\"init-v-0.m4s?sig=9.ab\""));
        assert!(s.contains("\nseg-v-0-00001.m4s?sig=9.ab\n"));
        let master = "#EXT-X-MEDIA:TYPE=AUDIO,URI=\"media_2.m3u8\"\nmedia_0.m3u8\n";
        let s = sign_m3u8(master, &sig("sig=1.f"));
        assert!(s.contains("URI=\"media_2.m3u8?sig=1.f\"") && s.contains("media_0.m3u8?sig=1.f"));
        let mpd = "<SegmentTemplate initialization=\"init-$RepresentationID$.m4s\" \
                   media=\"seg-$Number%05d$.m4s\" startNumber=\"1\"/>";
        assert!(sign_mpd(mpd, &sig("sig=1.f")).contains(".m4s?sig=1.f\" startNumber"));
        let both = sign_mpd(mpd, &sig("sig=1.f&s=a.2.b"));
        assert!(
            both.contains("$.m4s?sig=1.f&amp;s=a.2.b\" startNumber"),
            "{both}"
        );
        // Behind a CDN: the session on playlists and init segments only.
        let split = UriQueries {
            others: Some("s=a.2.b".into()),
            segments: None,
        };
        let s = sign_m3u8(m, &split);
        assert!(s.contains("URI=\"init-v-0.m4s?s=a.2.b\"") && s.contains("\nseg-v-0-00001.m4s\n"));
        let s = sign_m3u8(master, &split);
        assert!(s.contains("URI=\"media_2.m3u8?s=a.2.b\"") && s.contains("media_0.m3u8?s=a.2.b"));
        let d = sign_mpd(mpd, &split);
        assert!(d.contains("$RepresentationID$.m4s?s=a.2.b\" media"), "{d}");
        assert!(d.contains("%05d$.m4s\" startNumber"), "{d}");
    }
}
