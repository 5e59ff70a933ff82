//! Cross-origin access: players and apps served from other origins call the API and play HLS.
//!
//! The router answers preflights and adds the headers through tower-http's layer. The HLS media
//! answered before the router (see `front.rs`) get the same headers from [`SimpleCors`], built
//! from the same lists: the layer builds its header map anew for every request, which is more
//! work than the rest of a media playlist request's handler.

use axum::http::Method;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::config::{AllowedOrigins, Config};
use crate::videos::resumable;

/// Request headers a cross-origin caller may send.
fn allowed_headers() -> Vec<HeaderName> {
    [
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::RANGE,
        HeaderName::from_static("x-stream-password"),
    ]
    .into_iter()
    .chain(resumable::REQUEST_HEADERS.map(Clone::clone))
    .collect()
}

/// Response headers a cross-origin caller may read.
fn exposed_headers() -> Vec<HeaderName> {
    [header::CONTENT_LENGTH, header::CONTENT_RANGE]
        .into_iter()
        .chain(resumable::RESPONSE_HEADERS.map(Clone::clone))
        .collect()
}

/// Request headers a response varies with, as the layer announces them.
const VARY: &str = "origin, access-control-request-method, access-control-request-headers";

/// The layer over the API's router.
pub fn layer(config: &Config) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ])
        .allow_headers(allowed_headers())
        .expose_headers(exposed_headers())
        .vary(
            VARY.split(", ")
                .map(HeaderName::from_static)
                .collect::<Vec<_>>(),
        );
    match &config.allowed_origins {
        AllowedOrigins::Any => layer.allow_origin(Any),
        AllowedOrigins::List(list) => layer.allow_origin(AllowOrigin::list(origins(list))),
    }
}

fn origins(list: &[String]) -> impl Iterator<Item = HeaderValue> + '_ {
    list.iter().filter_map(|o| HeaderValue::from_str(o).ok())
}

/// The headers the layer puts on a response to a simple (not preflight) request, prepared once.
pub struct SimpleCors {
    /// `None`: any origin.
    origins: Option<Vec<HeaderValue>>,
    vary: HeaderValue,
    expose: HeaderValue,
}

impl SimpleCors {
    pub fn new(config: &Config) -> Self {
        let expose = exposed_headers()
            .iter()
            .map(HeaderName::as_str)
            .collect::<Vec<_>>()
            .join(",");
        Self {
            origins: match &config.allowed_origins {
                AllowedOrigins::Any => None,
                AllowedOrigins::List(list) => Some(origins(list).collect()),
            },
            vary: HeaderValue::from_static(VARY),
            expose: HeaderValue::from_str(&expose).expect("header names are valid header values"),
        }
    }

    /// Adds to `headers` what the layer would for a request from `origin`.
    pub fn apply(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        let allow = match (&self.origins, origin) {
            (None, _) => Some(HeaderValue::from_static("*")),
            (Some(list), Some(o)) if list.contains(o) => Some(o.clone()),
            _ => None,
        };
        if let Some(allow) = allow {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        }
        headers.append(header::VARY, self.vary.clone());
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, self.expose.clone());
    }
}
