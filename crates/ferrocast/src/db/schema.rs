//! Versioned schema migrations, applied in order at start. Each step is plain SQL that SQLite and
//! PostgreSQL both accept; a step never changes once released (add a new one instead).

use super::Db;
use anyhow::Context;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    avatar_url TEXT,
    bio TEXT,
    is_verified BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT,
    streamer_id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    status TEXT NOT NULL,
    stream_key TEXT NOT NULL,
    stream_key_hash TEXT NOT NULL UNIQUE,
    thumbnail_url TEXT,
    viewer_count BIGINT NOT NULL DEFAULT 0,
    peak_viewers BIGINT NOT NULL DEFAULT 0,
    max_viewers BIGINT NOT NULL,
    start_time TEXT,
    end_time TEXT,
    duration BIGINT,
    quality TEXT NOT NULL,
    is_private BIGINT NOT NULL DEFAULT 0,
    password_hash TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    category TEXT,
    language TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX streams_status ON streams (status, created_at);
CREATE INDEX streams_streamer ON streams (streamer_id);

CREATE TABLE videos (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT,
    uploader_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    file_path TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    duration DOUBLE PRECISION,
    format TEXT NOT NULL,
    resolution TEXT,
    width BIGINT,
    height BIGINT,
    bitrate BIGINT,
    fps DOUBLE PRECISION,
    codec TEXT,
    thumbnail_url TEXT,
    view_count BIGINT NOT NULL DEFAULT 0,
    like_count BIGINT NOT NULL DEFAULT 0,
    dislike_count BIGINT NOT NULL DEFAULT 0,
    category TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    is_public BIGINT NOT NULL DEFAULT 1,
    is_processed BIGINT NOT NULL DEFAULT 0,
    processing_status TEXT NOT NULL,
    upload_date TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX videos_uploader ON videos (uploader_id);
CREATE INDEX videos_created ON videos (created_at);

CREATE TABLE video_reactions (
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (video_id, actor)
);

CREATE TABLE video_views (
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    day TEXT NOT NULL,
    PRIMARY KEY (video_id, actor, day)
);

CREATE TABLE chat_messages (
    id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    user_id TEXT,
    username TEXT NOT NULL,
    message TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    is_deleted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX chat_by_stream ON chat_messages (stream_id, timestamp);

CREATE TABLE playlists (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    creator_id TEXT NOT NULL,
    is_public BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX playlists_creator ON playlists (creator_id);

CREATE TABLE playlist_videos (
    playlist_id TEXT NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (playlist_id, video_id)
);

CREATE TABLE stream_analytics (
    id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    timestamp TEXT NOT NULL,
    viewer_count BIGINT NOT NULL,
    bandwidth_usage DOUBLE PRECISION NOT NULL,
    average_quality TEXT NOT NULL,
    chat_messages_count BIGINT NOT NULL,
    likes_count BIGINT NOT NULL,
    shares_count BIGINT NOT NULL
);
CREATE INDEX analytics_by_stream ON stream_analytics (stream_id, timestamp);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at TEXT,
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    eta_seconds BIGINT,
    error TEXT,
    params TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_claim ON jobs (state, created_at);
CREATE INDEX jobs_by_video ON jobs (video_id, created_at);
ALTER TABLE videos ADD COLUMN outputs TEXT;
ALTER TABLE videos ADD COLUMN processing_error TEXT
"#,
    ),
    (
        3,
        // Recording of live streams: `record` NULL follows ENABLE_STREAM_RECORDING; a recording's
        // video names its stream, which lets finishing a recording twice find the first video.
        r#"
ALTER TABLE streams ADD COLUMN record BIGINT;
ALTER TABLE streams ADD COLUMN recording_video_id TEXT;
ALTER TABLE videos ADD COLUMN content_type TEXT;
ALTER TABLE videos ADD COLUMN stream_id TEXT;
CREATE INDEX videos_stream ON videos (stream_id);
"#,
    ),
    (
        4,
        // Resumable (tus) uploads: the id is the id of the video the upload becomes; `details`
        // holds the checked title, owner and the rest as JSON until the last byte arrives.
        r#"
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    owner_user_id TEXT,
    uploader_id TEXT NOT NULL,
    upload_length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL,
    details TEXT NOT NULL,
    metadata TEXT,
    state TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX uploads_expiry ON uploads (expires_at);
CREATE INDEX uploads_uploader ON uploads (uploader_id, state);
"#,
    ),
];

pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&db.pool)
    .await?;
    for (version, sql) in MIGRATIONS {
        let mut tx = db.begin_write().await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("migration {version}: {statement}"))?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(crate::ids::now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
