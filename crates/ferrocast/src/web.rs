//! The web app: the built files of `web/dist`, embedded in the binary so a fresh clone serves the
//! app with no Node installed.
//!
//! Everything the router does not match comes here. A built file is served as it is, in the
//! precompressed form the client accepts (the build writes `.br` and `.gz` beside each file);
//! content-hashed names under `/assets/` are cached for good, everything else is revalidated. A
//! path that is one of the app's own pages (`/live/…`, `/studio`, …) gets `index.html` and the app
//! routes it in the browser; another path a browser navigates to gets it with 404, and the app
//! shows its "not found" page. Everything else keeps the API's JSON 404: a client that misspells a
//! route must not be handed a web page.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, File, include_dir};

use crate::config::Config;
use crate::error::ApiError;

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../web/dist");

/// Paths that belong to the API, the media and the sockets, never to the app.
const NOT_APP: &[&str] = &["/api", "/hls", "/ws", "/assets"];

/// The app's responses and the headers prepared once for them.
pub struct Site {
    csp: HeaderValue,
}

impl Site {
    pub fn new(config: &Config) -> Arc<Self> {
        Arc::new(Self {
            csp: HeaderValue::from_str(&content_security_policy(config))
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
        })
    }

    /// Answers a request the router matched no route for.
    pub fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return ApiError::NotFound("Not Found".into()).into_response();
        }
        let path = uri.path();
        if let Some(file) = asset(path) {
            return self.file(file, headers, method == Method::HEAD);
        }
        let status = if is_app_route(path) {
            StatusCode::OK
        } else if is_app_page(path) && wants_html(headers) {
            // A browser that followed a dead link: the app shows its "not found" page, and the
            // status says so too.
            StatusCode::NOT_FOUND
        } else {
            return ApiError::NotFound("Not Found".into()).into_response();
        };
        match DIST.get_file("index.html") {
            Some(index) => {
                let mut response = self.file(index, headers, method == Method::HEAD);
                *response.status_mut() = status;
                response
            }
            None => ApiError::NotFound("Not Found".into()).into_response(),
        }
    }

    fn file(&self, file: &'static File<'static>, headers: &HeaderMap, head: bool) -> Response {
        let name = file.path().to_string_lossy();
        let accepted = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (body, encoding) = [("br", ".br"), ("gzip", ".gz")]
            .iter()
            .filter(|(coding, _)| accepts(accepted, coding))
            .find_map(|(coding, ext)| {
                DIST.get_file(format!("{name}{ext}"))
                    .map(|f| (f.contents(), Some(*coding)))
            })
            .unwrap_or((file.contents(), None));

        let mime = mime_guess::from_path(file.path()).first_or_octet_stream();
        let mut response = Response::new(if head {
            Body::empty()
        } else {
            Body::from(body)
        });
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if let Some(coding) = encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        let cache = if name.starts_with("assets/") {
            // Vite puts a hash of the content in every name under assets/.
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if name.ends_with(".html") {
            h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        *response.status_mut() = StatusCode::OK;
        response
    }
}

/// The built file at `path`, if there is one (never a precompressed copy asked for by name, and
/// never `index.html` under another name).
fn asset(path: &str) -> Option<&'static File<'static>> {
    let name = path.strip_prefix('/')?;
    if name.is_empty() || name.ends_with(".br") || name.ends_with(".gz") || name.contains("..") {
        return None;
    }
    DIST.get_file(name)
}

/// The app's routes (web/src/main.tsx): each a first path segment, and whether more segments
/// may follow it.
const APP_ROUTES: &[(&str, bool)] = &[
    ("", false),
    ("live", true),
    ("videos", true),
    ("upload", false),
    ("signin", false),
    ("register", false),
    ("studio", true),
    ("channel", true),
    ("admin", false),
];

/// Whether `path` is one of the app's own pages.
fn is_app_route(path: &str) -> bool {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (first, more) = match rest.split_once('/') {
        Some((first, more)) => (first, !more.is_empty()),
        None => (rest, false),
    };
    APP_ROUTES
        .iter()
        .any(|(name, nested)| *name == first && (!more || *nested))
}

/// Whether the client asked for a web page (a browser's navigation does), rather than data.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Whether `path` could be a page of the app: anything outside the API, media and socket paths
/// that does not look like a file.
fn is_app_page(path: &str) -> bool {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if NOT_APP.iter().any(|p| under(p)) || path == "/openapi.json" || path == "/health" {
        return false;
    }
    let last = path.rsplit('/').next().unwrap_or("");
    !last.contains('.')
}

/// Whether an `Accept-Encoding` value accepts `coding` (a `q=0` refuses it).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        name.eq_ignore_ascii_case(coding) && !refused
    })
}

/// Scripts and styles from the app's own origin only, so text a user wrote can never run even if
/// it reached the page as markup. Media may come from a CDN in front of this server; players
/// feed video through `blob:` URLs and run their demuxer in a `blob:` worker.
fn content_security_policy(config: &Config) -> String {
    let cdn = config
        .cdn_base()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: blob:{cdn}; media-src 'self' blob:{cdn}; \
         connect-src 'self'{cdn}; worker-src 'self' blob:; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_pages_are_not_api_or_files() {
        assert!(is_app_page("/"));
        assert!(is_app_page("/live/stream_abc"));
        assert!(is_app_page("/studio/videos"));
        assert!(!is_app_page("/api/streams/nope"));
        assert!(!is_app_page("/api"));
        assert!(!is_app_page("/hls/stream_x/index.m3u8"));
        assert!(!is_app_page("/ws/stream_x"));
        assert!(!is_app_page("/assets/missing-123.js"));
        assert!(!is_app_page("/robots.txt"));
        assert!(!is_app_page("/health"));
    }

    #[test]
    fn the_apps_routes_are_known() {
        assert!(is_app_route("/"));
        assert!(is_app_route("/live/stream_abc"));
        assert!(is_app_route("/studio"));
        assert!(is_app_route("/studio/videos"));
        assert!(is_app_route("/upload"));
        assert!(!is_app_route("/upload/more"));
        assert!(!is_app_route("/no/such/route"));
        assert!(!is_app_route("/api/streams"));
    }

    #[test]
    fn encodings_are_read_with_their_weights() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip;q=0.5", "gzip"));
        assert!(!accepts("gzip;q=0", "gzip"));
        assert!(!accepts("identity", "br"));
        assert!(!accepts("", "gzip"));
    }

    #[test]
    fn compressed_copies_are_not_served_by_name() {
        assert!(asset("/index.html.gz").is_none());
        assert!(asset("/../Cargo.toml").is_none());
        assert!(asset("/").is_none());
        assert!(asset("/index.html").is_some());
    }
}
