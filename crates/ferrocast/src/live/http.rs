//! HLS delivery of live streams.
//!
//! - `GET /hls/{stream_id}.m3u8` and `GET /api/stream/{stream_id}/hls/playlist.m3u8`: the master
//!   playlist (`?password=` or an owner token for private streams; `?low_latency=false` points it
//!   at the plain playlist). It opens a playback session (`s=` on the media playlist URLs it
//!   hands out) and, for a private stream, adds the playback token (`t=`).
//! - `GET /hls/{stream_id}/index.m3u8`: the LL-HLS media playlist, blocking on
//!   `_HLS_msn`/`_HLS_part`; `plain.m3u8`: the same window without parts. Players keep the
//!   master's query on every reload, which is where the session is counted; the URIs inside
//!   carry only the token, so one rendering serves every viewer.
//! - `GET /hls/{stream_id}/init.mp4`, `seg{msn}.m4s`, `part{msn}.{i}.m4s`: media, immutable,
//!   with single byte ranges. A part named by a preload hint is held until it exists.
//! - `GET /hls/{stream_id}/{rendition}/{file}`: the same files for an ABR rendition (`360p`, ...)
//!   when the stream has a ladder; the source keeps the paths above.
//!
//! The master playlist is a route of the API's router. The media playlists and media, which every
//! viewer polls several times a second, are answered by [`answer`] before the router (see
//! `front.rs`): their paths and queries are read in place, without the router's extractors.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use ferrocast_media::hls::{self, Segmenter, Variant};
use tokio::time::Instant;

use super::origin::{LiveStream, block_limit};
use super::window::{PlaylistKind, Window};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::models::Quality;
use crate::signing;
use crate::state::AppState;
use crate::streams::{self, AccessQuery};

pub fn router() -> Router<AppState> {
    Router::new().route("/hls/{file}", get(master_by_file))
}

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const MEDIA_TYPE: &str = "video/mp4";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A private stream's media: kept by the viewer's browser, never by a shared cache (a CDN that
/// keys on the path alone would hand it out without the token).
const IMMUTABLE_PRIVATE: &str = "private, max-age=31536000, immutable";
/// How long a master playlist request waits for a just-started stream's first part.
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn not_live() -> ApiError {
    ApiError::NotFound("Stream is not live".into())
}

async fn master_by_file(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(file): Path<String>,
    query: Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let stream_id = file
        .strip_suffix(".m3u8")
        .ok_or_else(|| ApiError::NotFound("Not Found".into()))?;
    master(state, caller, headers, Path(stream_id.to_string()), query).await
}

/// The master playlist of live stream `stream_id`. Public so that a handler sharing
/// `/api/stream/{id}/hls/playlist.m3u8` with video-on-demand can hand stream ids over to it.
pub async fn master(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(stream_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let access = AccessQuery {
        password: q.get("password").cloned(),
    };
    let password = streams::password_from(&headers, &access);
    let row = streams::visible_stream(&state, &caller, &stream_id, password.as_deref()).await?;
    let live = state.live.get(&row.id).ok_or_else(not_live)?;
    live.set_access(super::origin::Access::of(&row));

    let low_latency = !matches!(
        q.get("low_latency").map(String::as_str),
        Some("false" | "0" | "no")
    );
    // Held until the media playlist it points at lists something to play.
    let started = live
        .window()
        .wait_until(Instant::now() + START_WAIT, |s| {
            s.init_segment().is_some() && s.codecs().is_some() && s.has_media(low_latency)
        })
        .await;
    if !started {
        return Err(ApiError::Unavailable(
            "the stream has no media to play yet; retry shortly".into(),
        ));
    }
    let max = usize::try_from(row.max_viewers).unwrap_or(usize::MAX);
    let session = live.viewers.admit(max).map_err(|_| {
        ApiError::TooManyRequests(format!(
            "this stream has reached its limit of {max} viewers; try again later"
        ))
    })?;
    let mut query = format!("s={session}");
    if row.is_private() {
        let t = live.playback_token(&state.config.jwt_secret, signing::unix_now());
        query.push_str("&t=");
        query.push_str(&t);
    }
    let file = if low_latency {
        "index.m3u8"
    } else {
        "plain.m3u8"
    };
    // Absolute, because the same master is served under /hls/ and /api/stream/; on the CDN when
    // there is one, whose base URL may have a path of its own.
    let base = format!("{}/hls/{}", state.config.cdn_base().unwrap_or(""), row.id);
    let source = {
        let seg = live.segmenter();
        let (peak, avg) = seg.bandwidth().unwrap_or((2_000_000, 2_000_000));
        Variant {
            uri: format!("{base}/{file}?{query}"),
            bandwidth: peak,
            average_bandwidth: Some(avg),
            codecs: seg.codecs().unwrap_or_default(),
            resolution: seg.resolution(),
            frame_rate: None,
        }
    };
    let variants = match live.ladder() {
        Some(ladder) => {
            let quality = Quality::parse(&row.quality).unwrap_or(Quality::Auto);
            ladder.variants(source, quality, &base, file, &query).await
        }
        None => vec![source],
    };
    Ok(playlist_response(hls::master_playlist(&variants).into()))
}

fn playlist_response(body: Bytes) -> Response {
    let mut headers = response_headers();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PLAYLIST_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let mut resp = Response::new(Body::from(body));
    *resp.headers_mut() = headers;
    resp
}

/// A header map with room for what a response here carries and the CORS headers added to it
/// (see `front.rs`), so that none of the inserts grows it.
fn response_headers() -> HeaderMap {
    HeaderMap::with_capacity(8)
}

/// What a file name under `/hls/{stream_id}/` refers to.
enum File {
    LowLatency,
    Plain,
    Init,
    Segment(u64),
    Part(u64, usize),
}

fn parse_file(name: &str) -> Option<File> {
    match name {
        "index.m3u8" => return Some(File::LowLatency),
        "plain.m3u8" => return Some(File::Plain),
        hls::INIT_URI => return Some(File::Init),
        _ => {}
    }
    let stem = name.strip_suffix(".m4s")?;
    if let Some(msn) = stem.strip_prefix("seg") {
        return msn.parse().ok().map(File::Segment);
    }
    let (msn, index) = stem.strip_prefix("part")?.split_once('.')?;
    Some(File::Part(msn.parse().ok()?, index.parse().ok()?))
}

/// Where a media request under `/hls/` points: the stream, the rendition (`None` for the
/// source) and the file name, percent-decoded.
struct MediaPath<'a> {
    stream_id: Cow<'a, str>,
    rendition: Option<Cow<'a, str>>,
    file: Cow<'a, str>,
}

impl<'a> MediaPath<'a> {
    /// `/hls/{stream_id}/{file}` or `/hls/{stream_id}/{rendition}/{file}`; anything else (the
    /// master playlist `/hls/{stream_id}.m3u8` among them) is not a media path.
    fn parse(path: &'a str) -> Option<Self> {
        let mut parts = path.strip_prefix("/hls/")?.split('/').map(decode);
        let stream_id = parts.next()?.filter(|s| !s.is_empty())?;
        let second = parts.next()?.filter(|s| !s.is_empty())?;
        let third = match parts.next() {
            None => None,
            Some(t) => Some(t.filter(|s| !s.is_empty())?),
        };
        if parts.next().is_some() {
            return None;
        }
        Some(match third {
            None => Self {
                stream_id,
                rendition: None,
                file: second,
            },
            Some(file) => Self {
                stream_id,
                rendition: Some(second),
                file,
            },
        })
    }
}

/// One path segment, percent-decoded as the router would; `None` when it does not decode to
/// UTF-8 (no stream or file has such a name).
fn decode(segment: &str) -> Option<Cow<'_, str>> {
    if segment.contains('%') {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()
    } else {
        Some(Cow::Borrowed(segment))
    }
}

/// What a media request's query may carry: the playback session (`s`), a private stream's
/// playback token (`t`) and the blocking reload's `_HLS_msn` and `_HLS_part`. Anything else
/// (a player's cache buster, say) is ignored.
#[derive(Default)]
struct MediaQuery<'a> {
    session: Option<Cow<'a, str>>,
    token: Option<Cow<'a, str>>,
    msn: Option<Cow<'a, str>>,
    part: Option<Cow<'a, str>>,
}

impl<'a> MediaQuery<'a> {
    fn parse(query: Option<&'a str>) -> Self {
        let mut q = Self::default();
        for (key, value) in query_pairs(query.unwrap_or("")) {
            let slot = match key.as_ref() {
                "s" => &mut q.session,
                "t" => &mut q.token,
                "_HLS_msn" => &mut q.msn,
                "_HLS_part" => &mut q.part,
                _ => continue,
            };
            // The last of repeated keys counts, as everywhere else in the API.
            *slot = Some(value);
        }
        q
    }
}

/// A query's pairs, decoded only where they need it: players send ours unescaped.
fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        if pair.contains(['%', '+']) {
            form_urlencoded::parse(pair.as_bytes())
                .next()
                .unwrap_or_default()
        } else {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (Cow::Borrowed(key), Cow::Borrowed(value))
        }
    })
}

/// Whether `path` is for [`answer`] rather than the router: `/hls/{stream_id}/...`.
pub(crate) fn is_media_path(path: &str) -> bool {
    path.strip_prefix("/hls/")
        .is_some_and(|rest| rest.contains('/'))
}

/// Any other method on a media path: 405 naming the two there are, as the router answers a
/// method it has no route for.
pub(crate) fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static("GET,HEAD"))],
    )
        .into_response()
}

/// Answers a GET or HEAD whose path [`is_media_path`]; 404 unless it is a [`MediaPath`].
pub(crate) async fn answer(state: AppState, request: Request) -> Response {
    let Some(path) = MediaPath::parse(request.uri().path()) else {
        return ApiError::NotFound("Not Found".into()).into_response();
    };
    let q = MediaQuery::parse(request.uri().query());
    let headers = request.headers();
    let result = async {
        let file =
            parse_file(&path.file).ok_or_else(|| ApiError::NotFound("Unknown HLS file".into()))?;
        let (live, token) = open_live(&state, &path.stream_id, &q)?;
        match &path.rendition {
            None => counted(&live, serve(live.window(), file, &q, token, headers).await),
            Some(name) => {
                let rendition = live
                    .ladder()
                    .and_then(|l| l.rendition(name))
                    .ok_or_else(|| ApiError::NotFound("Unknown rendition".into()))?;
                counted(
                    &live,
                    serve(rendition.window(), file, &q, token, headers).await,
                )
            }
        }
    };
    result.await.into_response()
}

/// Adds what a response carries to the stream's bytes served (the bodies are in memory, so their
/// size is exact before sending).
fn counted(live: &LiveStream, resp: ApiResult<Response>) -> ApiResult<Response> {
    if let Ok(r) = &resp
        && let Some(n) = axum::body::HttpBody::size_hint(r.body()).exact()
    {
        live.count_out(n);
    }
    resp
}

/// The live stream `stream_id`, if the request may read it, and for a private stream the query
/// its media playlists put on their URIs (the current playback token); counts the playback
/// session.
fn open_live(
    state: &AppState,
    stream_id: &str,
    q: &MediaQuery<'_>,
) -> ApiResult<(std::sync::Arc<LiveStream>, Option<String>)> {
    let live = state.live.get(stream_id).ok_or_else(not_live)?;
    let mut token = None;
    if live.is_private() {
        let secret = &state.config.jwt_secret;
        let now = signing::unix_now();
        let ok = q
            .token
            .as_deref()
            .is_some_and(|t| live.token_valid(secret, t, now));
        if !ok {
            // Same answer as a stream that is not live, so a private stream's being on the air
            // is not revealed.
            return Err(not_live());
        }
        token = Some(format!("t={}", live.playback_token(secret, now)));
    }
    if let Some(s) = &q.session {
        live.viewers.touch(s);
    }
    Ok((live, token))
}

async fn serve(
    live: &Window,
    file: File,
    q: &MediaQuery<'_>,
    token: Option<String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let private = token.is_some();
    match file {
        File::LowLatency => ll_playlist(live, q, token.as_deref()).await,
        File::Plain => Ok(playlist_response(
            live.playlist(PlaylistKind::Plain, token.as_deref()),
        )),
        File::Init => {
            let init = live.segmenter().init_segment().cloned();
            init.map(|b| media_response(b, headers, private))
                .ok_or_else(|| ApiError::NotFound("Init segment not available yet".into()))
        }
        File::Segment(msn) => {
            let data = live.segmenter().segment(msn).map(|s| s.data.clone());
            data.map(|b| media_response(b, headers, private))
                .ok_or_else(|| ApiError::NotFound("Segment not available".into()))
        }
        File::Part(msn, index) => part(live, msn, index, headers, private).await,
    }
}

async fn ll_playlist(
    live: &Window,
    q: &MediaQuery<'_>,
    token: Option<&str>,
) -> ApiResult<Response> {
    let parse = |key: &str, value: &Option<Cow<'_, str>>| -> ApiResult<Option<u64>> {
        value
            .as_deref()
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!("{key} must be a non-negative integer"))
                })
            })
            .transpose()
    };
    let msn = parse("_HLS_msn", &q.msn)?;
    let part = parse("_HLS_part", &q.part)?;
    if let Some(msn) = msn {
        let part = match part {
            Some(p) => Some(
                usize::try_from(p)
                    .map_err(|_| ApiError::BadRequest("_HLS_part too large".into()))?,
            ),
            None => None,
        };
        let (limit, too_far) = {
            let seg = live.segmenter();
            let next = next_msn(&seg);
            // LL-HLS: a request more than two segments ahead of the live edge is an error.
            (block_limit(&seg), msn > next.saturating_add(2))
        };
        if too_far {
            return Err(ApiError::BadRequest(
                "_HLS_msn is more than two segments beyond the live edge".into(),
            ));
        }
        let ready = live
            .wait_until(Instant::now() + limit, |s| s.is_ready(msn, part))
            .await;
        if !ready && !live.segmenter().is_finished() {
            return Err(ApiError::Unavailable(
                "the requested segment or part did not appear in time".into(),
            ));
        }
    } else if part.is_some() {
        return Err(ApiError::BadRequest("_HLS_part requires _HLS_msn".into()));
    }
    Ok(playlist_response(
        live.playlist(PlaylistKind::LowLatency, token),
    ))
}

/// The sequence number of the segment being built (or the next one).
fn next_msn(seg: &Segmenter) -> u64 {
    seg.segments()
        .back()
        .map_or(seg.first_msn(), |s| s.msn.saturating_add(1))
}

async fn part(
    live: &Window,
    msn: u64,
    index: usize,
    headers: &HeaderMap,
    private: bool,
) -> ApiResult<Response> {
    let (found, near, limit) = {
        let seg = live.segmenter();
        let next = next_msn(&seg);
        (
            seg.part(msn, index).cloned(),
            // Only parts at the live edge are worth waiting for (a preload hint or the one
            // after); anything else is simply missing.
            msn >= next && msn <= next.saturating_add(1),
            block_limit(&seg),
        )
    };
    let data = match found {
        Some(d) => Some(d),
        None if near => {
            live.wait_until(Instant::now() + limit, |s| s.part(msn, index).is_some())
                .await;
            live.segmenter().part(msn, index).cloned()
        }
        None => None,
    };
    data.map(|b| media_response(b, headers, private))
        .ok_or_else(|| ApiError::NotFound("Part not available".into()))
}

/// A media object, whole or one byte range of it.
fn media_response(data: Bytes, headers: &HeaderMap, private: bool) -> Response {
    let len = data.len() as u64;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| crate::http_range::parse_range(r, len));
    let (status, body, content_range) = match range {
        None => (StatusCode::OK, data, None),
        Some(Ok((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            data.slice(start as usize..=end as usize),
            Some(format!("bytes {start}-{end}/{len}")),
        ),
        Some(Err(())) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            Bytes::new(),
            Some(format!("bytes */{len}")),
        ),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = response_headers();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    let cache = if private {
        IMMUTABLE_PRIVATE
    } else {
        IMMUTABLE
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(cr) = content_range.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_RANGE, cr);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert!(matches!(parse_file("index.m3u8"), Some(File::LowLatency)));
        assert!(matches!(parse_file("seg12.m4s"), Some(File::Segment(12))));
        assert!(matches!(parse_file("part3.2.m4s"), Some(File::Part(3, 2))));
        assert!(parse_file("part3.m4s").is_none());
        assert!(parse_file("seg-1.m4s").is_none());
        assert!(parse_file("../etc").is_none());
    }

    #[test]
    fn media_paths() {
        let p = MediaPath::parse("/hls/stream_a/index.m3u8").expect("source");
        assert_eq!(
            (&*p.stream_id, p.rendition, &*p.file),
            ("stream_a", None, "index.m3u8")
        );
        let p = MediaPath::parse("/hls/stream_a/720p/part3.1.m4s").expect("rendition");
        assert_eq!(p.rendition.as_deref(), Some("720p"));
        assert_eq!(&*p.file, "part3.1.m4s");
        // Decoded as the router decodes path parameters.
        let p = MediaPath::parse("/hls/stream_a/seg%31.m4s").expect("escaped");
        assert_eq!(&*p.file, "seg1.m4s");
        for other in [
            "/hls/stream_a.m3u8",
            "/hls/stream_a/",
            "/hls//index.m3u8",
            "/hls/stream_a//index.m3u8",
            "/hls/a/b/c/d",
            "/hls/stream_a/%FF.m4s",
            "/api/hls/stream_a/index.m3u8",
        ] {
            assert!(MediaPath::parse(other).is_none(), "{other}");
        }
        assert!(is_media_path("/hls/stream_a/index.m3u8"));
        assert!(!is_media_path("/hls/stream_a.m3u8"));
    }

    #[test]
    fn media_queries() {
        let q = MediaQuery::parse(Some("s=abc&_HLS_msn=12&_HLS_part=3&t=x.y"));
        assert_eq!(q.session.as_deref(), Some("abc"));
        assert_eq!(q.token.as_deref(), Some("x.y"));
        assert_eq!(
            (q.msn.as_deref(), q.part.as_deref()),
            (Some("12"), Some("3"))
        );
        // Escaped keys and values decode; the last of a repeated key counts; others are ignored.
        let q = MediaQuery::parse(Some("_HLS%5Fmsn=1&_HLS_msn=%32&t=a%2Bb+c&&x=1&s"));
        assert_eq!(q.msn.as_deref(), Some("2"));
        assert_eq!(q.token.as_deref(), Some("a+b c"));
        assert_eq!(q.session.as_deref(), Some(""));
        let q = MediaQuery::parse(None);
        assert!(q.session.is_none() && q.token.is_none() && q.msn.is_none() && q.part.is_none());
    }
}
