//! Byte ranges (`Range: bytes=a-b` -> 206) for everything served as media: files on disk (streamed
//! in chunks so a large original never sits in memory) and in-memory live segments and parts.

use std::io::SeekFrom;
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::error::{ApiError, ApiResult};

/// The one range a request asks for, as `start..=end` within `len`; `Err(())` when it cannot be
/// satisfied. Several ranges in one request are answered with the whole file, which RFC 9110
/// allows.
pub fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end: u64 = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            let end = b.parse::<u64>().ok()?;
            // `last < first` is not a valid range at all, so the header is ignored (RFC 9110).
            if end < start {
                return None;
            }
            end.min(len.saturating_sub(1))
        };
        if start >= len {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

/// The file at `path`, whole or the requested range. A missing file is a 404 naming `what`.
/// Sets a header whose value is known to be printable (a value that is not is left out).
pub fn set(h: &mut HeaderMap, k: header::HeaderName, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(k, v);
    }
}

/// The headers every ranged media answer starts with.
pub fn media_headers(content_type: &str, cache_control: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    set(&mut headers, header::CONTENT_TYPE, content_type);
    set(&mut headers, header::CACHE_CONTROL, cache_control);
    set(&mut headers, header::ACCEPT_RANGES, "bytes");
    headers
}

pub async fn serve(
    path: &Path,
    content_type: &str,
    cache_control: &str,
    request: &HeaderMap,
    what: &str,
) -> ApiResult<Response> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(what));
        }
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(ApiError::not_found(what));
    }
    let len = meta.len();
    let mut headers = media_headers(content_type, cache_control);
    let requested = request
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, len));
    let (status, start, count) = match requested {
        None => (StatusCode::OK, 0, len),
        Some(Ok((start, end))) => {
            set(
                &mut headers,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{len}"),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Some(Err(())) => {
            set(
                &mut headers,
                header::CONTENT_RANGE,
                &format!("bytes */{len}"),
            );
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response());
        }
    };
    set(&mut headers, header::CONTENT_LENGTH, &count.to_string());
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let body = Body::from_stream(ReaderStream::with_capacity(file.take(count), 64 * 1024));
    Ok((status, headers, body).into_response())
}

/// A small text file (playlist, manifest, WebVTT), read whole so it can be rewritten.
pub async fn read_text(path: &Path, what: &str) -> ApiResult<String> {
    const LIMIT: u64 = 8 * 1024 * 1024;
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() && m.len() <= LIMIT => {}
        Ok(m) if m.is_file() => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "{} is unexpectedly large",
                path.display()
            )));
        }
        _ => return Err(ApiError::not_found(what)),
    }
    match tokio::fs::read_to_string(path).await {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found(what)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some(Ok((0, 99))));
        assert_eq!(parse_range("bytes=900-", 1000), Some(Ok((900, 999))));
        assert_eq!(parse_range("bytes=-100", 1000), Some(Ok((900, 999))));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some(Ok((990, 999))));
        assert_eq!(parse_range("bytes=1000-", 1000), Some(Err(())));
        assert_eq!(parse_range("bytes=5-1", 1000), None);
        assert_eq!(parse_range("bytes=-1000", 100), Some(Ok((0, 99))));
        assert_eq!(parse_range("bytes=0-", 0), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
        assert_eq!(parse_range("bytes=-0", 1000), Some(Err(())));
    }
}
