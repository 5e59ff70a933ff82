//! Ferrocast: a live and on-demand video streaming platform in one binary.
//!
//! `run` builds the whole service on listeners the caller provides, so the binary binds the
//! configured ports and the tests bind port 0.

#![forbid(unsafe_code)]

pub mod analytics;
pub mod auth;
pub mod chat;
pub mod config;
pub mod db;
pub mod error;
pub mod ids;
pub mod media_tools;
pub mod models;
pub mod openapi;
pub mod playlists;
pub mod realtime;
pub mod state;
pub mod streams;
mod validate;
pub mod videos;
pub mod vod;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use config::{AllowedOrigins, Config};
use db::Db;
use error::ApiError;
use state::AppState;

/// The whole HTTP application for a state.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .merge(auth::router())
        .merge(streams::router())
        .merge(chat::router())
        .merge(videos::router())
        .merge(vod::router())
        .merge(playlists::router())
        .merge(analytics::router())
        .merge(realtime::router())
        .fallback(|| async { ApiError::NotFound("Not Found".into()) })
        .layer(cors(&state.config))
        .with_state(state)
}

fn cors(config: &Config) -> CorsLayer {
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
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::RANGE,
            header::HeaderName::from_static("x-stream-password"),
        ])
        .expose_headers([header::CONTENT_LENGTH, header::CONTENT_RANGE]);
    match &config.allowed_origins {
        AllowedOrigins::Any => layer.allow_origin(Any),
        AllowedOrigins::List(list) => layer.allow_origin(AllowOrigin::list(
            list.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
        )),
    }
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db_ok = state.db.ping().await;
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if db_ok { "healthy" } else { "unhealthy" },
            "database": if db_ok { "ok" } else { "unreachable" },
            "database_backend": match state.db.backend {
                db::Backend::Sqlite => "sqlite",
                db::Backend::Postgres => "postgres",
            },
            "ffmpeg": state.tools.ffmpeg.is_some(),
            "ffprobe": state.tools.ffprobe.is_some(),
            "version": env!("CARGO_PKG_VERSION"),
            "timestamp": ids::now(),
        })),
    )
}

/// Connects the database, starts the background tasks and serves HTTP on `listener` until
/// `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    tokio::fs::create_dir_all(&config.upload_dir).await?;
    let state = AppState::new(config, db);
    if state.tools.ffprobe.is_none() {
        tracing::warn!("ffprobe not found on PATH: uploads will have no metadata");
    }
    let mut tasks = vec![
        tokio::spawn(realtime::viewer_count_task(state.clone())),
        tokio::spawn(analytics::sampler_task(state.clone())),
    ];
    // Stopping the workers with the server kills their ffmpeg; their jobs' leases then run out
    // and the next start (or another instance) takes the jobs again.
    tasks.extend(vod::worker::spawn(&state));
    tracing::info!(addr = %listener.local_addr()?, "ferrocast listening");
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    for t in tasks {
        t.abort();
    }
    Ok(result?)
}
