//! Ferrocast: a live and on-demand video streaming platform in one binary.
//!
//! `serve` builds the whole service on [`Listeners`] the caller provides, so the binary binds the
//! configured ports and the tests bind port 0.

#![forbid(unsafe_code)]

pub mod analytics;
pub mod auth;
pub mod chat;
pub mod config;
mod cors;
pub mod db;
pub mod error;
mod front;
pub mod http_range;
pub mod ids;
pub mod listen;
pub mod live;
pub mod media_tools;
pub mod models;
pub mod openapi;
pub mod playlists;
pub mod realtime;
pub mod signing;
pub mod state;
pub mod storage;
pub mod streams;
mod validate;
pub mod videos;
pub mod vod;
mod web;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use config::Config;
use db::Db;
use state::AppState;

/// The API's router: every HTTP route except live HLS media, which [`front::Front`] answers
/// before it, and the web app for every path no route matches.
fn app(state: AppState) -> Router {
    // The CORS layer answers every OPTIONS itself; tus discovery is added to those answers on the
    // upload routes only, so no other request pays for the extra middleware.
    let uploads = videos::resumable::router()
        .layer(cors::layer(&state.config))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            videos::resumable::discovery,
        ));
    let site = web::Site::new(&state.config);
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
        .merge(live::router())
        .fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap| {
                let site = site.clone();
                async move { site.answer(&method, &uri, &headers) }
            },
        )
        .layer(cors::layer(&state.config))
        .merge(uploads)
        .with_state(state)
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

/// The sockets the service answers on.
pub struct Listeners {
    /// The HTTP API (PORT).
    pub http: TcpListener,
    /// RTMP ingest (RTMP_SERVER_PORT); without it there is no live ingest.
    pub rtmp: Option<TcpListener>,
    /// A second socket serving the same HTTP app, for HLS_SERVER_PORT when it differs from PORT.
    pub hls: Option<TcpListener>,
}

impl Listeners {
    /// Binds HOST:PORT, HOST:RTMP_SERVER_PORT and, when it differs from PORT, HOST:HLS_SERVER_PORT.
    /// A port of 0 binds an ephemeral port (see [`Listeners::rtmp_port`]).
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        fn open(host: std::net::IpAddr, port: u16, what: &str) -> anyhow::Result<TcpListener> {
            let addr = SocketAddr::new(host, port);
            listen::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({what}): {e}"))
        }
        let http = open(config.host, config.port, "HOST/PORT")?;
        let rtmp = open(config.host, config.rtmp_server_port, "RTMP_SERVER_PORT")?;
        let hls = if config.hls_server_port != config.port && config.hls_server_port != 0 {
            Some(open(
                config.host,
                config.hls_server_port,
                "HLS_SERVER_PORT",
            )?)
        } else {
            None
        };
        Ok(Self {
            http,
            rtmp: Some(rtmp),
            hls,
        })
    }

    /// The port RTMP ingest actually listens on.
    pub fn rtmp_port(&self) -> Option<u16> {
        self.rtmp
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }
}

/// The HTTP listener, on whose connections live segments are spliced (see
/// [`ferrocast_splice`]) and everything else as usual.
struct MediaListener(TcpListener);

impl axum::serve::Listener for MediaListener {
    type Io = ferrocast_splice::Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((tcp, addr)) => return (ferrocast_splice::Stream::new(tcp), addr),
                // A peer that gave up before we took its connection: nothing to wait for.
                Err(e) if is_connection_error(&e) => {}
                // Out of file descriptors, most likely: retrying at once would spin.
                Err(e) => {
                    tracing::error!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Serves HTTP only (no RTMP ingest) on `listener` until `shutdown` completes; see [`serve`].
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listeners = Listeners {
        http: listener,
        rtmp: None,
        hls: None,
    };
    serve(config, listeners, shutdown).await
}

/// Connects the database, starts the background tasks and RTMP ingest, and serves HTTP on every
/// HTTP listener until `shutdown` completes.
pub async fn serve(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    let storage = storage::Storage::open(&config).await?;
    let state = AppState::new(config, db, storage);
    if state.tools.ffprobe.is_none() {
        tracing::warn!("ffprobe not found on PATH: uploads will have no metadata");
    }
    let mut tasks = vec![
        tokio::spawn(realtime::viewer_count_task(state.clone())),
        tokio::spawn(analytics::sampler_task(state.clone())),
        tokio::spawn(live::recovery::run(state.clone())),
        tokio::spawn(videos::resumable::janitor(state.clone())),
    ];
    if let Some(rtmp) = listeners.rtmp {
        tracing::info!(addr = %rtmp.local_addr()?, "RTMP ingest listening");
        tasks.push(tokio::spawn(live::ingest::serve(state.clone(), rtmp)));
    }
    // Stopping the workers with the server kills their ffmpeg; their jobs' leases then run out
    // and the next start (or another instance) takes the jobs again.
    tasks.extend(vod::worker::spawn(&state));
    // One shutdown signal fans out to every HTTP server.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let http_server = |listener: TcpListener| {
        let mut stop = stop_rx.clone();
        let app = front::Front::new(state.clone());
        async move {
            // Responses go out whole at once; without this a segment's last small write could
            // wait for the peer's delayed acknowledgement.
            let listener = axum::serve::ListenerExt::tap_io(
                MediaListener(listener),
                |io: &mut ferrocast_splice::Stream| {
                    let _ = io.get_ref().set_nodelay(true);
                },
            );
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }
    };
    let hls_server = match listeners.hls {
        Some(l) => {
            tracing::info!(addr = %l.local_addr()?, "HLS listening (same app as the API)");
            Some(tokio::spawn(http_server(l)))
        }
        None => None,
    };
    tracing::info!(addr = %listeners.http.local_addr()?, "ferrocast listening");
    let result = http_server(listeners.http).await;
    if let Some(h) = hls_server {
        match h.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "HLS listener failed"),
            Err(e) => tracing::warn!(error = %e, "HLS listener task failed"),
            Ok(Ok(())) => {}
        }
    }
    for t in tasks {
        t.abort();
    }
    Ok(result?)
}
