//! Every setting of the platform. Each one is read from the environment under the name the seed
//! documents (`PORT`, `MAX_FILE_SIZE`, ...) and may be overridden by a flag (`--port 9000`). Values
//! are parsed and validated once at start so a typo stops the server with a message that names the
//! variable, instead of surfacing later as odd behaviour.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::models::{Quality, VideoFormat};

/// Where the platform runs; production turns on the safety checks that development relaxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub environment: Environment,
    pub allowed_origins: AllowedOrigins,

    pub rtmp_server_host: String,
    pub rtmp_server_port: u16,
    pub hls_server_host: String,
    pub hls_server_port: u16,
    pub max_stream_duration: u64,
    pub live_grace_period: u64,
    pub rtmp_read_timeout: u64,
    pub hls_segment_duration_ms: u64,
    pub hls_part_duration_ms: u64,
    pub live_thumbnail_interval: u64,

    pub max_file_size: u64,
    pub supported_formats: Vec<VideoFormat>,
    pub upload_dir: PathBuf,
    pub thumbnail_dir: PathBuf,
    pub storage: StorageBackend,
    /// Seconds an unfinished resumable upload is kept after its last bytes arrived.
    pub upload_expiration: u64,
    /// Upload bodies received at once, server-wide.
    pub max_concurrent_uploads: u32,

    pub enable_adaptive_bitrate: bool,
    pub default_quality: Quality,
    pub max_bitrate_4k: u32,
    pub max_bitrate_1080p: u32,
    pub max_bitrate_720p: u32,
    pub max_bitrate_360p: u32,

    pub enable_chat: bool,
    pub max_chat_message_length: usize,
    pub chat_history_limit: u32,
    pub chat_rate_limit: u32,

    pub enable_analytics: bool,
    pub analytics_retention_hours: u32,
    pub viewer_update_interval: u64,
    pub bandwidth_calculation_interval: u64,

    pub websocket_heartbeat_interval: u64,
    pub max_websocket_connections_per_stream: usize,
    pub websocket_message_queue_size: usize,
    pub websocket_ping_timeout: u64,

    pub database_url: String,
    pub enable_stream_recording: bool,
    pub recording_dir: PathBuf,
    pub metadata_retention_days: u32,

    pub enable_stream_authentication: bool,
    pub stream_key_length: usize,
    pub enable_content_moderation: bool,
    pub chat_profanity_filter: bool,

    pub enable_cdn_integration: bool,
    pub cdn_base_url: Option<String>,
    pub enable_transcoding: bool,
    pub transcoding_concurrency: u32,
    pub transcoding_preset: String,
    pub job_lease_seconds: u64,
    pub job_max_attempts: u32,
    pub view_count_seconds: u64,

    pub log_level: String,
    pub enable_stream_logging: bool,
    pub chat_log_retention_days: u32,
    pub analytics_log_retention_days: u32,

    pub jwt_secret: String,
    pub jwt_expire_minutes: u64,
    pub public_url: Option<String>,
}

/// Where originals, streams and pictures are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// Files in UPLOAD_DIR and THUMBNAIL_DIR.
    Local,
    /// An S3-compatible bucket; the folders then only hold files on their way in or out.
    S3(S3Settings),
}

#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    pub endpoint: Option<String>,
    /// Both keys, or neither (the AWS_* environment and instance credentials then apply).
    pub credentials: Option<(String, String)>,
    /// Key prefix inside the bucket, without leading or trailing `/`; empty for none.
    pub prefix: String,
    pub allow_http: bool,
}

// Hand-written so a logged configuration never shows the secret key.
impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field(
                "access_key_id",
                &self.credentials.as_ref().map(|(id, _)| id),
            )
            .field("prefix", &self.prefix)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// The JWT secret used when none is configured; production refuses to start with it.
pub const DEVELOPMENT_JWT_SECRET: &str = "ferrocast-development-secret-change-me";

/// A configuration value that could not be accepted, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Values by variable name, from the environment and from `--flag value` pairs (flags win).
pub struct Source {
    values: HashMap<String, String>,
}

impl Source {
    /// Reads the process environment and the command-line flags after the subcommand.
    pub fn from_env_and_args(args: &[String]) -> Result<Self, ConfigError> {
        let mut values: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| SETTINGS.iter().any(|s| s.name == k))
            .collect();
        values.extend(parse_flags(args)?);
        Ok(Self { values })
    }

    /// Only the given pairs: what tests use to start a server with exactly the settings they name.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    fn raw(&self, name: &str) -> String {
        if let Some(v) = self.values.get(name) {
            return v.trim().to_string();
        }
        SETTINGS
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.default.to_string())
            .unwrap_or_default()
    }

    fn parse<T: std::str::FromStr>(&self, name: &str, expected: &str) -> Result<T, ConfigError> {
        let raw = self.raw(name);
        raw.parse::<T>()
            .map_err(|_| err(name, format!("invalid value {raw:?}: expected {expected}")))
    }

    fn int<T>(&self, name: &str, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let v: T = self.parse(name, &format!("an integer from {min} to {max}"))?;
        if v < min || v > max {
            return Err(err(
                name,
                format!("{v} is out of range: expected {min} to {max}"),
            ));
        }
        Ok(v)
    }

    fn bool(&self, name: &str) -> Result<bool, ConfigError> {
        let raw = self.raw(name);
        parse_bool(&raw).ok_or_else(|| {
            err(
                name,
                format!("invalid value {raw:?}: expected true or false"),
            )
        })
    }

    fn string(&self, name: &str) -> String {
        self.raw(name)
    }

    fn non_empty(&self, name: &str) -> Result<String, ConfigError> {
        let v = self.raw(name);
        if v.is_empty() {
            return Err(err(name, "must not be empty".into()));
        }
        Ok(v)
    }
}

pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn err(variable: &str, message: String) -> ConfigError {
    ConfigError {
        variable: variable.to_string(),
        message,
    }
}

/// `--max-file-size 10` and `--max-file-size=10` both set `MAX_FILE_SIZE`.
fn parse_flags(args: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(err(
                arg,
                "unexpected argument (flags look like --port 8000)".into(),
            ));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let var = name.replace('-', "_").to_ascii_uppercase();
        if !SETTINGS.iter().any(|s| s.name == var) {
            return Err(err(
                &format!("--{name}"),
                "unknown flag; run `ferrocast --help` for the list".into(),
            ));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| err(&format!("--{name}"), "needs a value".into()))?,
        };
        out.push((var, value));
    }
    Ok(out)
}

/// One documented setting: its variable name, default, and what it does.
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

const fn s(name: &'static str, default: &'static str, help: &'static str) -> Setting {
    Setting {
        name,
        default,
        help,
    }
}

/// Every setting, in the order `--help` and docs/CONFIGURATION.md list them.
pub const SETTINGS: &[Setting] = &[
    s("HOST", "0.0.0.0", "Address the HTTP API listens on."),
    s(
        "PORT",
        "8000",
        "Port of the HTTP API and WebSocket endpoints.",
    ),
    s(
        "ENVIRONMENT",
        "development",
        "`development` or `production`. Production requires tokens for writes and a real JWT_SECRET.",
    ),
    s(
        "ALLOWED_ORIGINS",
        "*",
        "Comma-separated browser origins allowed by CORS, or `*` for any.",
    ),
    s(
        "RTMP_SERVER_HOST",
        "localhost",
        "Host name put in `rtmp_url` for publishers.",
    ),
    s(
        "RTMP_SERVER_PORT",
        "1935",
        "Port of the RTMP ingest server, also put in `rtmp_url`.",
    ),
    s(
        "HLS_SERVER_HOST",
        "localhost",
        "Host name put in `hls_url` for viewers.",
    ),
    s(
        "HLS_SERVER_PORT",
        "8080",
        "Port put in `hls_url`; when it differs from PORT the same HTTP app is served there too.",
    ),
    s(
        "MAX_STREAM_DURATION",
        "14400",
        "Longest a live stream may run, in seconds; the publisher is then disconnected and the \
         stream ended.",
    ),
    s(
        "LIVE_GRACE_PERIOD",
        "5",
        "Seconds a live stream waits for its publisher to reconnect before it ends.",
    ),
    s(
        "RTMP_READ_TIMEOUT",
        "10",
        "Seconds of silence after which an RTMP connection is closed (also the time allowed \
         from connecting to publishing).",
    ),
    s(
        "HLS_SEGMENT_DURATION_MS",
        "2000",
        "Target live HLS segment duration in milliseconds (segments are cut at keyframes).",
    ),
    s(
        "HLS_PART_DURATION_MS",
        "333",
        "Target LL-HLS part duration in milliseconds.",
    ),
    s(
        "LIVE_THUMBNAIL_INTERVAL",
        "10",
        "Seconds between refreshes of a live stream's thumbnail (a JPEG of its latest keyframe, \
         at most 640 wide): made from the first segment, then refreshed at this interval while \
         someone fetches it; 0 turns live thumbnails off.",
    ),
    s(
        "MAX_FILE_SIZE",
        "5368709120",
        "Largest accepted upload in bytes; larger uploads are cut off with 413 while streaming.",
    ),
    s(
        "SUPPORTED_FORMATS",
        "mp4,avi,mov,wmv,flv,webm,mkv",
        "Accepted upload containers, detected from the file's bytes.",
    ),
    s(
        "UPLOAD_DIR",
        "./uploads/videos",
        "Folder where uploaded originals are stored.",
    ),
    s(
        "UPLOAD_EXPIRATION",
        "86400",
        "Seconds a resumable (tus) upload is kept after its last bytes arrived; an unfinished \
         upload is then deleted.",
    ),
    s(
        "MAX_CONCURRENT_UPLOADS",
        "64",
        "Upload bodies (multipart, or tus requests carrying bytes) received at once; one more is answered 503 with Retry-After, so a crowd of slow senders cannot hold unbounded memory and open files.",
    ),
    s(
        "THUMBNAIL_DIR",
        "./uploads/thumbnails",
        "Folder for pictures: each video's thumbnails, storyboard and WebVTT (one folder per video), and live streams' thumbnails (`live/{stream_id}.jpg`).",
    ),
    s(
        "STORAGE_BACKEND",
        "local",
        "`local` keeps originals, streams and pictures in UPLOAD_DIR and THUMBNAIL_DIR; `s3` keeps them in an S3-compatible bucket (the S3_* settings), and the two folders then only stage files for ffmpeg and uploads.",
    ),
    s(
        "S3_BUCKET",
        "",
        "Bucket for STORAGE_BACKEND=s3 (required then).",
    ),
    s(
        "S3_REGION",
        "us-east-1",
        "Region of the bucket; S3-compatible servers usually accept the default.",
    ),
    s(
        "S3_ENDPOINT",
        "",
        "URL of an S3-compatible server (MinIO, Garage, Ceph, ...); empty for AWS S3 itself.",
    ),
    s(
        "S3_ACCESS_KEY_ID",
        "",
        "Access key for the bucket; with S3_SECRET_ACCESS_KEY, or neither to use the usual AWS_* variables or the instance's role.",
    ),
    s(
        "S3_SECRET_ACCESS_KEY",
        "",
        "Secret key going with S3_ACCESS_KEY_ID.",
    ),
    s(
        "S3_PREFIX",
        "",
        "Key prefix inside the bucket (for example `ferrocast`), so one bucket can hold several installations; videos go under `{prefix}/videos/`, pictures under `{prefix}/thumbnails/`.",
    ),
    s(
        "S3_ALLOW_HTTP",
        "false",
        "Allow a plain `http://` S3_ENDPOINT (a server on the same host or a private network).",
    ),
    s(
        "ENABLE_ADAPTIVE_BITRATE",
        "true",
        "Offer several renditions to players: with ENABLE_TRANSCODING, live streams get an ABR ladder and videos every requested profile that fits; false gives videos only the largest of them, live streams their source alone.",
    ),
    s(
        "DEFAULT_QUALITY",
        "auto",
        "Quality given to a stream created without one: auto, 360p, 720p, 1080p or 4K.",
    ),
    s(
        "MAX_BITRATE_4K",
        "15000",
        "Ceiling of the 4K rung's video bitrate in kbps (uploads' profile asks 12000; the live ladder encodes 8000-15000).",
    ),
    s(
        "MAX_BITRATE_1080P",
        "6000",
        "Ceiling of the 1080p rung's video bitrate in kbps (uploads' profile asks 5000; live ladder 4000-6000).",
    ),
    s(
        "MAX_BITRATE_720P",
        "3000",
        "Ceiling of the 720p and 480p rungs' video bitrate in kbps (uploads' profiles ask 2800, 1400; live 720p 2000-3000).",
    ),
    s(
        "MAX_BITRATE_360P",
        "1200",
        "Ceiling of the 360p rung's video bitrate in kbps (uploads' profile asks 800; live ladder 800-1200).",
    ),
    s(
        "ENABLE_CHAT",
        "true",
        "Chat over REST and WebSocket; when false, sending answers 403.",
    ),
    s(
        "MAX_CHAT_MESSAGE_LENGTH",
        "500",
        "Longest chat message in characters.",
    ),
    s(
        "CHAT_HISTORY_LIMIT",
        "1000",
        "Messages kept per stream; older ones are pruned.",
    ),
    s(
        "CHAT_RATE_LIMIT",
        "5",
        "Chat messages one sender may post per stream per minute (0 turns the limit off).",
    ),
    s(
        "ENABLE_ANALYTICS",
        "true",
        "Record per-stream analytics samples for live streams.",
    ),
    s(
        "ANALYTICS_RETENTION_HOURS",
        "24",
        "Hours of analytics samples kept.",
    ),
    s(
        "VIEWER_UPDATE_INTERVAL",
        "30",
        "Seconds between `viewer_count_update` events (and analytics samples).",
    ),
    s(
        "BANDWIDTH_CALCULATION_INTERVAL",
        "60",
        "Seconds over which the delivery rate in each analytics sample (`bandwidth_usage`) is averaged; at least one VIEWER_UPDATE_INTERVAL.",
    ),
    s(
        "WEBSOCKET_HEARTBEAT_INTERVAL",
        "30",
        "Seconds between WebSocket ping frames sent by the server.",
    ),
    s(
        "MAX_WEBSOCKET_CONNECTIONS_PER_STREAM",
        "1000",
        "WebSocket clients allowed on one stream; more are refused with 503.",
    ),
    s(
        "WEBSOCKET_MESSAGE_QUEUE_SIZE",
        "10000",
        "Events one WebSocket client may fall behind before it is disconnected.",
    ),
    s(
        "WEBSOCKET_PING_TIMEOUT",
        "10",
        "Seconds a WebSocket client has to answer a ping before it is disconnected.",
    ),
    s(
        "DATABASE_URL",
        "sqlite:///./video_streaming.db",
        "`sqlite:///path` (file created on start, WAL) or `postgres://user@host/db`.",
    ),
    s(
        "ENABLE_STREAM_RECORDING",
        "false",
        "Record live streams into videos (MP4 in UPLOAD_DIR when the stream ends); a stream's \
         own `record` field overrides it.",
    ),
    s(
        "RECORDING_DIR",
        "./recordings",
        "Folder for recordings in progress (one folder per stream, removed once it is a video).",
    ),
    s(
        "METADATA_RETENTION_DAYS",
        "365",
        "Days an ended stream is kept; then it is deleted with its chat and samples, hourly (its recording is a video and stays).",
    ),
    s(
        "ENABLE_STREAM_AUTHENTICATION",
        "false",
        "Require bearer tokens for writes even in development.",
    ),
    s(
        "STREAM_KEY_LENGTH",
        "16",
        "Characters in a generated stream key (16 to 128).",
    ),
    s(
        "ENABLE_CONTENT_MODERATION",
        "false",
        "Reject chat messages and titles that contain blocked words.",
    ),
    s(
        "CHAT_PROFANITY_FILTER",
        "false",
        "Mask blocked words in chat messages instead of rejecting them.",
    ),
    s(
        "ENABLE_CDN_INTEGRATION",
        "false",
        "Hand out media URLs (playlists, segments, pictures, previews) on CDN_BASE_URL.",
    ),
    s(
        "CDN_BASE_URL",
        "",
        "Base URL of a CDN (or caching proxy) whose origin is this server's HTTP port; it may have a path. See CDN above.",
    ),
    s(
        "ENABLE_TRANSCODING",
        "true",
        "Transcode uploads (queued automatically) into an adaptive HLS/DASH ladder, and live streams into an ABR ladder below the source's resolution (one ffmpeg per live stream).",
    ),
    s(
        "TRANSCODING_CONCURRENCY",
        "4",
        "Transcoding workers for uploads in this process; separately, live ABR ladders running at once (a stream beyond it plays its source alone until one frees).",
    ),
    s(
        "TRANSCODING_PRESET",
        "fast",
        "x264 preset for transcoding: ultrafast (fastest) to veryslow (smallest files); the live ladder adds -tune zerolatency.",
    ),
    s(
        "JOB_LEASE_SECONDS",
        "30",
        "How long a worker holds a job without renewing it; after that the job is retried.",
    ),
    s(
        "JOB_MAX_ATTEMPTS",
        "3",
        "Times a job is started before it fails for good when its workers keep dying.",
    ),
    s(
        "VIEW_COUNT_SECONDS",
        "10",
        "Seconds of a video's HLS/DASH media one playback session must receive to count as a view (at most the video's length; 0 counts no views from playback, up to 600).",
    ),
    s(
        "LOG_LEVEL",
        "info",
        "trace, debug, info, warn or error (or a tracing filter such as `ferrocast=debug`).",
    ),
    s(
        "ENABLE_STREAM_LOGGING",
        "true",
        "Log stream lifecycle events (created, started, ended).",
    ),
    s(
        "CHAT_LOG_RETENTION_DAYS",
        "30",
        "Days chat messages are kept; older ones are pruned hourly.",
    ),
    s(
        "ANALYTICS_LOG_RETENTION_DAYS",
        "90",
        "Days the log of who viewed which video (account or address, by day) is kept, pruned hourly; view counts stay. Samples follow ANALYTICS_RETENTION_HOURS.",
    ),
    s(
        "JWT_SECRET",
        "",
        "Secret that signs access tokens (at least 32 characters). Required in production.",
    ),
    s(
        "JWT_EXPIRE_MINUTES",
        "1440",
        "Lifetime of an access token in minutes.",
    ),
    s(
        "PUBLIC_URL",
        "",
        "Base URL clients reach the API at (for `websocket_url`); default http://localhost:PORT. An https:// URL also marks the web app's session cookie `Secure`.",
    ),
];

impl Config {
    pub fn load(src: &Source) -> Result<Self, ConfigError> {
        let environment = match src.raw("ENVIRONMENT").to_ascii_lowercase().as_str() {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => {
                return Err(err(
                    "ENVIRONMENT",
                    format!("invalid value {other:?}: expected development or production"),
                ));
            }
        };
        let allowed_origins = {
            let raw = src.string("ALLOWED_ORIGINS");
            let items: Vec<String> = raw
                .split(',')
                .map(|s| s.trim().trim_end_matches('/').to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if items.is_empty() || items.iter().any(|s| s == "*") {
                AllowedOrigins::Any
            } else {
                for o in &items {
                    if !(o.starts_with("http://") || o.starts_with("https://")) {
                        return Err(err(
                            "ALLOWED_ORIGINS",
                            format!("{o:?} is not an origin like https://example.com"),
                        ));
                    }
                }
                AllowedOrigins::List(items)
            }
        };
        let supported_formats = {
            let raw = src.string("SUPPORTED_FORMATS");
            let mut v = Vec::new();
            for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let f = VideoFormat::from_extension(item).ok_or_else(|| {
                    err(
                        "SUPPORTED_FORMATS",
                        format!(
                            "unknown format {item:?}: expected some of {}",
                            VideoFormat::ALL
                                .iter()
                                .map(|f| f.extension())
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                    )
                })?;
                if !v.contains(&f) {
                    v.push(f);
                }
            }
            if v.is_empty() {
                return Err(err(
                    "SUPPORTED_FORMATS",
                    "must list at least one format".into(),
                ));
            }
            v
        };
        let default_quality = {
            let raw = src.string("DEFAULT_QUALITY");
            Quality::parse(&raw).ok_or_else(|| {
                err(
                    "DEFAULT_QUALITY",
                    format!("invalid value {raw:?}: expected auto, 360p, 720p, 1080p or 4K"),
                )
            })?
        };
        let database_url = src.non_empty("DATABASE_URL")?;
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(err(
                "DATABASE_URL",
                format!(
                    "unsupported database {database_url:?}: expected sqlite:///path or postgres://..."
                ),
            ));
        }
        let cdn = src.string("CDN_BASE_URL");
        let public_url = src.string("PUBLIC_URL");
        let log_level = src.non_empty("LOG_LEVEL")?;
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(err(
                "LOG_LEVEL",
                format!("invalid value {log_level:?}: expected trace, debug, info, warn or error"),
            ));
        }
        let storage = storage_backend(src)?;
        let preset = src.non_empty("TRANSCODING_PRESET")?;
        const PRESETS: &[&str] = &[
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
            "slower",
            "veryslow",
        ];
        if !PRESETS.contains(&preset.as_str()) {
            return Err(err(
                "TRANSCODING_PRESET",
                format!(
                    "invalid value {preset:?}: expected one of {}",
                    PRESETS.join(", ")
                ),
            ));
        }

        let config = Config {
            host: src.parse("HOST", "an IP address such as 0.0.0.0 or 127.0.0.1")?,
            port: src.int("PORT", 0, u16::MAX)?,
            environment,
            allowed_origins,
            rtmp_server_host: src.non_empty("RTMP_SERVER_HOST")?,
            rtmp_server_port: src.int("RTMP_SERVER_PORT", 0, u16::MAX)?,
            hls_server_host: src.non_empty("HLS_SERVER_HOST")?,
            hls_server_port: src.int("HLS_SERVER_PORT", 0, u16::MAX)?,
            max_stream_duration: src.int("MAX_STREAM_DURATION", 1, 30 * 24 * 3600)?,
            live_grace_period: src.int("LIVE_GRACE_PERIOD", 0, 3600)?,
            rtmp_read_timeout: src.int("RTMP_READ_TIMEOUT", 1, 3600)?,
            hls_segment_duration_ms: src.int("HLS_SEGMENT_DURATION_MS", 500, 30_000)?,
            hls_part_duration_ms: src.int("HLS_PART_DURATION_MS", 100, 5_000)?,
            live_thumbnail_interval: src.int("LIVE_THUMBNAIL_INTERVAL", 0, 3600)?,
            max_file_size: src.int("MAX_FILE_SIZE", 1, 1 << 50)?,
            supported_formats,
            upload_dir: PathBuf::from(src.non_empty("UPLOAD_DIR")?),
            thumbnail_dir: PathBuf::from(src.non_empty("THUMBNAIL_DIR")?),
            storage,
            upload_expiration: src.int("UPLOAD_EXPIRATION", 1, 365 * 86400)?,
            max_concurrent_uploads: src.int("MAX_CONCURRENT_UPLOADS", 1, 100_000)?,
            enable_adaptive_bitrate: src.bool("ENABLE_ADAPTIVE_BITRATE")?,
            default_quality,
            max_bitrate_4k: src.int("MAX_BITRATE_4K", 100, 200_000)?,
            max_bitrate_1080p: src.int("MAX_BITRATE_1080P", 100, 200_000)?,
            max_bitrate_720p: src.int("MAX_BITRATE_720P", 100, 200_000)?,
            max_bitrate_360p: src.int("MAX_BITRATE_360P", 100, 200_000)?,
            enable_chat: src.bool("ENABLE_CHAT")?,
            max_chat_message_length: src.int("MAX_CHAT_MESSAGE_LENGTH", 1, 100_000)?,
            chat_history_limit: src.int("CHAT_HISTORY_LIMIT", 1, 10_000_000)?,
            chat_rate_limit: src.int("CHAT_RATE_LIMIT", 0, 100_000)?,
            enable_analytics: src.bool("ENABLE_ANALYTICS")?,
            analytics_retention_hours: src.int("ANALYTICS_RETENTION_HOURS", 1, 24 * 3650)?,
            viewer_update_interval: src.int("VIEWER_UPDATE_INTERVAL", 1, 3600)?,
            bandwidth_calculation_interval: src.int("BANDWIDTH_CALCULATION_INTERVAL", 1, 3600)?,
            websocket_heartbeat_interval: src.int("WEBSOCKET_HEARTBEAT_INTERVAL", 1, 3600)?,
            max_websocket_connections_per_stream: src.int(
                "MAX_WEBSOCKET_CONNECTIONS_PER_STREAM",
                1,
                1_000_000,
            )?,
            websocket_message_queue_size: src.int("WEBSOCKET_MESSAGE_QUEUE_SIZE", 1, 1_000_000)?,
            websocket_ping_timeout: src.int("WEBSOCKET_PING_TIMEOUT", 1, 3600)?,
            database_url,
            enable_stream_recording: src.bool("ENABLE_STREAM_RECORDING")?,
            recording_dir: PathBuf::from(src.non_empty("RECORDING_DIR")?),
            metadata_retention_days: src.int("METADATA_RETENTION_DAYS", 1, 36500)?,
            enable_stream_authentication: src.bool("ENABLE_STREAM_AUTHENTICATION")?,
            stream_key_length: src.int("STREAM_KEY_LENGTH", 16, 128)?,
            enable_content_moderation: src.bool("ENABLE_CONTENT_MODERATION")?,
            chat_profanity_filter: src.bool("CHAT_PROFANITY_FILTER")?,
            enable_cdn_integration: src.bool("ENABLE_CDN_INTEGRATION")?,
            cdn_base_url: (!cdn.is_empty()).then_some(cdn),
            enable_transcoding: src.bool("ENABLE_TRANSCODING")?,
            transcoding_concurrency: src.int("TRANSCODING_CONCURRENCY", 1, 256)?,
            transcoding_preset: preset,
            job_lease_seconds: src.int("JOB_LEASE_SECONDS", 2, 3600)?,
            job_max_attempts: src.int("JOB_MAX_ATTEMPTS", 1, 20)?,
            view_count_seconds: src.int("VIEW_COUNT_SECONDS", 0, 600)?,
            log_level,
            enable_stream_logging: src.bool("ENABLE_STREAM_LOGGING")?,
            chat_log_retention_days: src.int("CHAT_LOG_RETENTION_DAYS", 1, 36500)?,
            analytics_log_retention_days: src.int("ANALYTICS_LOG_RETENTION_DAYS", 1, 36500)?,
            jwt_secret: src.string("JWT_SECRET"),
            jwt_expire_minutes: src.int("JWT_EXPIRE_MINUTES", 1, 525_600)?,
            public_url: (!public_url.is_empty())
                .then(|| public_url.trim_end_matches('/').to_string()),
        };
        config.check_security()
    }

    /// Production must not run with the well-known development secret or none at all.
    fn check_security(mut self) -> Result<Self, ConfigError> {
        if self.jwt_secret.is_empty() || self.jwt_secret == DEVELOPMENT_JWT_SECRET {
            if self.requires_tokens() {
                return Err(err(
                    "JWT_SECRET",
                    "must be set to a secret of at least 32 characters when ENVIRONMENT=production \
                     or ENABLE_STREAM_AUTHENTICATION=true"
                        .into(),
                ));
            }
            self.jwt_secret = DEVELOPMENT_JWT_SECRET.to_string();
        } else if self.jwt_secret.len() < 32 {
            return Err(err(
                "JWT_SECRET",
                "is too short: use at least 32 characters".into(),
            ));
        }
        if self.hls_part_duration_ms >= self.hls_segment_duration_ms {
            return Err(err(
                "HLS_PART_DURATION_MS",
                "must be shorter than HLS_SEGMENT_DURATION_MS".into(),
            ));
        }
        if let Some(cdn) = &self.cdn_base_url
            && !(cdn.starts_with("http://") || cdn.starts_with("https://"))
        {
            return Err(err(
                "CDN_BASE_URL",
                format!("{cdn:?} is not an http(s) URL"),
            ));
        }
        if self.enable_cdn_integration && self.cdn_base_url.is_none() {
            return Err(err(
                "CDN_BASE_URL",
                "is required when ENABLE_CDN_INTEGRATION=true".into(),
            ));
        }
        Ok(self)
    }

    /// Whether writes need a bearer token (production, or authentication switched on).
    pub fn requires_tokens(&self) -> bool {
        self.environment == Environment::Production || self.enable_stream_authentication
    }

    /// Where clients fetch media when a CDN fronts this server: CDN_BASE_URL without its trailing
    /// slash, while ENABLE_CDN_INTEGRATION is on.
    pub fn cdn_base(&self) -> Option<&str> {
        self.cdn_base_url
            .as_deref()
            .filter(|_| self.enable_cdn_integration)
            .map(|u| u.trim_end_matches('/'))
    }

    /// A media route's path as handed to clients: on the CDN when there is one, else as it is
    /// (relative to the API's base).
    pub fn media_url(&self, path: &str) -> String {
        match self.cdn_base() {
            Some(cdn) if path.starts_with('/') => format!("{cdn}{path}"),
            _ => path.to_string(),
        }
    }

    /// The base URL clients use for the API, used in `websocket_url`.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.clone(),
            None => format!("http://localhost:{}", self.port),
        }
    }
}

fn storage_backend(src: &Source) -> Result<StorageBackend, ConfigError> {
    let backend = src.string("STORAGE_BACKEND").to_ascii_lowercase();
    match backend.as_str() {
        "local" => return Ok(StorageBackend::Local),
        "s3" => {}
        _ => {
            return Err(err(
                "STORAGE_BACKEND",
                format!("invalid value {backend:?}: expected local or s3"),
            ));
        }
    }
    let bucket = src.string("S3_BUCKET");
    if bucket.is_empty() {
        return Err(err(
            "S3_BUCKET",
            "is required when STORAGE_BACKEND=s3".into(),
        ));
    }
    let allow_http = src.bool("S3_ALLOW_HTTP")?;
    let endpoint = src.string("S3_ENDPOINT");
    let endpoint = if endpoint.is_empty() {
        None
    } else if endpoint.starts_with("https://") || (allow_http && endpoint.starts_with("http://")) {
        Some(endpoint.trim_end_matches('/').to_string())
    } else if endpoint.starts_with("http://") {
        return Err(err(
            "S3_ENDPOINT",
            format!("{endpoint:?} is plain http: set S3_ALLOW_HTTP=true to allow it"),
        ));
    } else {
        return Err(err(
            "S3_ENDPOINT",
            format!("{endpoint:?} is not an http(s) URL"),
        ));
    };
    let (id, secret) = (
        src.string("S3_ACCESS_KEY_ID"),
        src.string("S3_SECRET_ACCESS_KEY"),
    );
    let credentials = match (id.is_empty(), secret.is_empty()) {
        (true, true) => None,
        (false, false) => Some((id, secret)),
        (false, true) => {
            return Err(err(
                "S3_SECRET_ACCESS_KEY",
                "is required with S3_ACCESS_KEY_ID".into(),
            ));
        }
        (true, false) => {
            return Err(err(
                "S3_ACCESS_KEY_ID",
                "is required with S3_SECRET_ACCESS_KEY".into(),
            ));
        }
    };
    let prefix = src.string("S3_PREFIX").trim_matches('/').to_string();
    let prefix_ok = prefix.is_empty()
        || prefix.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if !prefix_ok {
        return Err(err(
            "S3_PREFIX",
            format!(
                "invalid value {prefix:?}: expected names of letters, digits, '-', '_' or '.' \
                 separated by '/'"
            ),
        ));
    }
    Ok(StorageBackend::S3(S3Settings {
        bucket,
        region: src.non_empty("S3_REGION")?,
        endpoint,
        credentials,
        prefix,
        allow_http,
    }))
}

/// The text of `ferrocast --help`.
pub fn help_text() -> String {
    let mut out = String::from(
        "ferrocast: live and on-demand video streaming platform\n\n\
         Usage: ferrocast [serve] [--setting value ...]\n\n\
         Every setting is read from the environment variable of the same name, or from the flag\n\
         (lower case, dashes): PORT=9000 or --port 9000. Flags win over the environment.\n\n",
    );
    for s in SETTINGS {
        let flag = s.name.to_ascii_lowercase().replace('_', "-");
        out.push_str(&format!(
            "  --{flag:<38} {} [default: {}]\n",
            s.help,
            if s.default.is_empty() {
                "none"
            } else {
                s.default
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(&Source::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_are_the_seed_values() {
        let c = load(&[]).unwrap();
        assert_eq!(c.port, 8000);
        assert_eq!(c.max_file_size, 5_368_709_120);
        assert_eq!(c.supported_formats.len(), 7);
        assert_eq!(c.database_url, "sqlite:///./video_streaming.db");
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.allowed_origins, AllowedOrigins::Any);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = load(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(e.variable, "PORT");
        let e = load(&[("ENABLE_CHAT", "maybe")]).unwrap_err();
        assert_eq!(e.variable, "ENABLE_CHAT");
        let e = load(&[("SUPPORTED_FORMATS", "mp4,exe")]).unwrap_err();
        assert_eq!(e.variable, "SUPPORTED_FORMATS");
        assert!(e.message.contains("exe"));
        let e = load(&[("STREAM_KEY_LENGTH", "4")]).unwrap_err();
        assert_eq!(e.variable, "STREAM_KEY_LENGTH");
        let e = load(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.variable, "DATABASE_URL");
    }

    #[test]
    fn storage_settings() {
        assert_eq!(load(&[]).unwrap().storage, StorageBackend::Local);
        let e = load(&[("STORAGE_BACKEND", "ftp")]).unwrap_err();
        assert_eq!(e.variable, "STORAGE_BACKEND");
        let e = load(&[("STORAGE_BACKEND", "s3")]).unwrap_err();
        assert_eq!(e.variable, "S3_BUCKET");
        let s3 = [("STORAGE_BACKEND", "s3"), ("S3_BUCKET", "media")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = s3.to_vec();
            pairs.extend_from_slice(extra);
            load(&pairs)
        };
        let e = with(&[("S3_ENDPOINT", "http://127.0.0.1:9000")]).unwrap_err();
        assert_eq!(e.variable, "S3_ENDPOINT");
        assert!(e.message.contains("S3_ALLOW_HTTP"));
        let e = with(&[("S3_ENDPOINT", "minio:9000")]).unwrap_err();
        assert_eq!(e.variable, "S3_ENDPOINT");
        let e = with(&[("S3_ACCESS_KEY_ID", "id")]).unwrap_err();
        assert_eq!(e.variable, "S3_SECRET_ACCESS_KEY");
        let e = with(&[("S3_PREFIX", "a/../b")]).unwrap_err();
        assert_eq!(e.variable, "S3_PREFIX");
        let c = with(&[
            ("S3_ENDPOINT", "http://127.0.0.1:9000/"),
            ("S3_ALLOW_HTTP", "true"),
            ("S3_ACCESS_KEY_ID", "id"),
            ("S3_SECRET_ACCESS_KEY", "very-secret"),
            ("S3_PREFIX", "/site/a/"),
        ])
        .unwrap();
        let StorageBackend::S3(s) = &c.storage else {
            panic!("expected S3, got {:?}", c.storage);
        };
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s.prefix, "site/a");
        assert_eq!(s.region, "us-east-1");
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn cdn_settings() {
        let c = load(&[]).unwrap();
        assert_eq!(c.cdn_base(), None);
        assert_eq!(c.media_url("/hls/x.m3u8"), "/hls/x.m3u8");
        // A base URL without the switch changes nothing.
        let c = load(&[("CDN_BASE_URL", "https://cdn.example.com/")]).unwrap();
        assert_eq!(c.cdn_base(), None);
        let e = load(&[("ENABLE_CDN_INTEGRATION", "true")]).unwrap_err();
        assert_eq!(e.variable, "CDN_BASE_URL");
        let e = load(&[
            ("ENABLE_CDN_INTEGRATION", "true"),
            ("CDN_BASE_URL", "cdn.example.com"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "CDN_BASE_URL");
        let c = load(&[
            ("ENABLE_CDN_INTEGRATION", "true"),
            ("CDN_BASE_URL", "https://cdn.example.com/tv/"),
        ])
        .unwrap();
        assert_eq!(c.cdn_base(), Some("https://cdn.example.com/tv"));
        assert_eq!(
            c.media_url("/hls/x.m3u8"),
            "https://cdn.example.com/tv/hls/x.m3u8"
        );
        assert_eq!(
            c.media_url("https://elsewhere/a.jpg"),
            "https://elsewhere/a.jpg"
        );
    }

    #[test]
    fn production_refuses_default_secret() {
        let e = load(&[("ENVIRONMENT", "production")]).unwrap_err();
        assert_eq!(e.variable, "JWT_SECRET");
        let e = load(&[
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", DEVELOPMENT_JWT_SECRET),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "JWT_SECRET");
        let ok = load(&[
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn flags_override_and_unknown_flags_fail() {
        let flags =
            parse_flags(&["--port".into(), "9000".into(), "--log-level=debug".into()]).unwrap();
        assert_eq!(
            flags,
            vec![
                ("PORT".to_string(), "9000".to_string()),
                ("LOG_LEVEL".to_string(), "debug".to_string())
            ]
        );
        assert!(parse_flags(&["--nope".into(), "1".into()]).is_err());
        assert!(parse_flags(&["--port".into()]).is_err());
    }
}

#[cfg(test)]
mod docs_tests {
    use super::SETTINGS;

    /// docs/CONFIGURATION.md lists every setting with its default.
    #[test]
    fn configuration_doc_is_complete() {
        let doc = include_str!("../../../docs/CONFIGURATION.md");
        for s in SETTINGS {
            let default = if s.default.is_empty() {
                "(none)".to_string()
            } else {
                format!("`{}`", s.default)
            };
            let row = format!(
                "| `{}` | `--{}` | {} |",
                s.name,
                s.name.to_ascii_lowercase().replace('_', "-"),
                default
            );
            assert!(
                doc.contains(&row),
                "docs/CONFIGURATION.md lacks or misstates {}",
                s.name
            );
        }
    }
}
