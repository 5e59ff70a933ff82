//! Platform statistics and per-stream analytics: a sample of each live stream every
//! VIEWER_UPDATE_INTERVAL (viewers, chat messages since the last sample, quality), kept for
//! ANALYTICS_RETENTION_HOURS. The same task prunes whatever else has a retention setting
//! (`prune`).

mod bandwidth;

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiQuery, ApiResult};
use crate::models::StreamAnalytics;
use crate::state::AppState;
use crate::streams::{AccessQuery, password_from, visible_stream};
use crate::validate::Checks;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/stats", get(stats))
        .route("/api/streams/{stream_id}/analytics", get(stream_analytics))
}

async fn count(db: &Db, sql: &str) -> ApiResult<i64> {
    Ok(sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&db.pool)
        .await?)
}

/// Counts straight from the database (and the hub for who is connected now). Private streams and
/// videos are counted too: the figures reveal no titles or ids.
async fn stats(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let db = &state.db;
    let by_status =
        |s: &str| format!("SELECT CAST(COUNT(*) AS BIGINT) FROM streams WHERE status = '{s}'");
    Ok(Json(json!({
        "total_streams": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM streams").await?,
        "live_streams": count(db, &by_status("live")).await?,
        "scheduled_streams": count(db, &by_status("scheduled")).await?,
        "ended_streams": count(db, &by_status("ended")).await?,
        "total_videos": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM videos").await?,
        "processed_videos": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM videos WHERE is_processed = 1").await?,
        "total_video_views": count(db, "SELECT CAST(COALESCE(SUM(view_count), 0) AS BIGINT) FROM videos").await?,
        "total_likes": count(db, "SELECT CAST(COALESCE(SUM(like_count), 0) AS BIGINT) FROM videos").await?,
        "total_storage_bytes": count(db, "SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) FROM videos").await?,
        "total_chat_messages": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM chat_messages WHERE is_deleted = 0").await?,
        "total_playlists": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM playlists").await?,
        "total_users": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM users").await?,
        "current_viewers": current_viewers(&state),
        "websocket_connections": state.hub.total_subscribers(),
        "queued_jobs": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE state = 'queued'").await?,
        "running_jobs": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE state = 'running'").await?,
        "failed_jobs": count(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE state = 'failed'").await?,
        "live_bandwidth_kbps": live_bandwidth_kbps(db).await?,
        "timestamp": crate::ids::now(),
    })))
}

/// Everyone watching a live stream now, as each stream's `viewer_count` counts them.
fn current_viewers(state: &AppState) -> i64 {
    state
        .live
        .ids()
        .iter()
        .map(|id| state.live_viewers(id))
        .sum()
}

/// What the live streams are being sent at, from each live stream's newest analytics sample
/// (every VIEWER_UPDATE_INTERVAL, averaged over BANDWIDTH_CALCULATION_INTERVAL).
async fn live_bandwidth_kbps(db: &Db) -> ApiResult<i64> {
    count(
        db,
        "SELECT CAST(COALESCE(SUM(a.bandwidth_usage), 0) AS BIGINT) FROM stream_analytics a
         JOIN streams s ON s.id = a.stream_id AND s.status = 'live'
         WHERE a.timestamp = (SELECT MAX(b.timestamp) FROM stream_analytics b
                              WHERE b.stream_id = a.stream_id)",
    )
    .await
}

#[derive(sqlx::FromRow)]
struct SampleRow {
    id: String,
    stream_id: String,
    timestamp: String,
    viewer_count: i64,
    bandwidth_usage: f64,
    average_quality: String,
    chat_messages_count: i64,
    likes_count: i64,
    shares_count: i64,
}

#[derive(Deserialize)]
struct AnalyticsQuery {
    hours: Option<i64>,
    password: Option<String>,
}

async fn stream_analytics(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(stream_id): Path<String>,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Json<Vec<StreamAnalytics>>> {
    let pw = password_from(
        &headers,
        &AccessQuery {
            password: q.password,
        },
    );
    let stream = visible_stream(&state, &caller, &stream_id, pw.as_deref()).await?;
    let mut c = Checks::default();
    let hours = c.range(&["query", "hours"], q.hours.unwrap_or(24), 1, 24 * 365);
    c.finish()?;
    let since = crate::ids::format_time(chrono::Utc::now() - chrono::Duration::hours(hours));
    let rows: Vec<SampleRow> = sqlx::query_as(
        "SELECT id, stream_id, timestamp, viewer_count, bandwidth_usage, average_quality,
            chat_messages_count, likes_count, shares_count
         FROM stream_analytics WHERE stream_id = $1 AND timestamp >= $2 ORDER BY timestamp",
    )
    .bind(&stream.id)
    .bind(since)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| StreamAnalytics {
                id: r.id,
                stream_id: r.stream_id,
                timestamp: r.timestamp,
                viewer_count: r.viewer_count,
                bandwidth_usage: r.bandwidth_usage,
                average_quality: r.average_quality,
                chat_messages_count: r.chat_messages_count,
                likes_count: r.likes_count,
                shares_count: r.shares_count,
            })
            .collect(),
    ))
}

/// Records one sample per live stream every VIEWER_UPDATE_INTERVAL and prunes old samples and
/// old chat.
pub async fn sampler_task(state: AppState) {
    let period = Duration::from_secs(state.config.viewer_update_interval);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last = chrono::Utc::now();
    let mut last_at = Instant::now();
    // Pruned on the first tick too, so that a server restarted often still prunes.
    let mut last_prune: Option<Instant> = None;
    let mut served = bandwidth::Bandwidth::new(Duration::from_secs(
        state.config.bandwidth_calculation_interval,
    ));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        let now_at = Instant::now();
        if let Err(e) = sample(&state, (last, last_at), (now, now_at), &mut served).await {
            tracing::warn!(error = %e, "analytics sample failed");
        }
        (last, last_at) = (now, now_at);
        if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(3600)) {
            last_prune = Some(Instant::now());
            if let Err(e) = prune(&state.db, &state.config, now).await {
                tracing::warn!(error = %e, "pruning data past its retention failed");
            }
        }
    }
}

/// One sample of every live stream, for the period from `since` to `now` (each as wall time, for
/// the rows, and as the monotonic clock, for rates).
async fn sample(
    state: &AppState,
    (since, since_at): (chrono::DateTime<chrono::Utc>, Instant),
    (now, now_at): (chrono::DateTime<chrono::Utc>, Instant),
    served: &mut bandwidth::Bandwidth,
) -> ApiResult<()> {
    if !state.config.enable_analytics {
        return Ok(());
    }
    let live: Vec<(String, String)> =
        sqlx::query_as("SELECT id, quality FROM streams WHERE status = 'live'")
            .fetch_all(&state.db.pool)
            .await?;
    let (since, now) = (crate::ids::format_time(since), crate::ids::format_time(now));
    served.retain(|id| live.iter().any(|(live_id, _)| live_id == id));
    for (stream_id, quality) in live {
        // kbit/s delivered to HLS players over BANDWIDTH_CALCULATION_INTERVAL.
        let bytes = state.live.get(&stream_id).map_or(0, |l| l.bytes_out());
        let bandwidth_kbps = served.kbps(&stream_id, now_at, bytes, since_at);
        let chats: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM chat_messages
             WHERE stream_id = $1 AND timestamp >= $2 AND timestamp < $3",
        )
        .bind(&stream_id)
        .bind(&since)
        .bind(&now)
        .fetch_one(&state.db.pool)
        .await?;
        sqlx::query(
            "INSERT INTO stream_analytics (id, stream_id, timestamp, viewer_count, bandwidth_usage,
                average_quality, chat_messages_count, likes_count, shares_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0)",
        )
        .bind(crate::ids::new_id("analytics"))
        .bind(&stream_id)
        .bind(&now)
        .bind(state.live_viewers(&stream_id))
        .bind((bandwidth_kbps * 10.0).round() / 10.0)
        .bind(quality)
        .bind(chats)
        .execute(&state.db.pool)
        .await?;
    }
    Ok(())
}

/// Deletes what has outlived its retention setting: stream samples (ANALYTICS_RETENTION_HOURS),
/// chat (CHAT_LOG_RETENTION_DAYS), the log of who viewed which video on which day
/// (ANALYTICS_LOG_RETENTION_DAYS; view counts stay, and the log only keeps a viewer from
/// counting twice on one day) and streams that ended longer ago than METADATA_RETENTION_DAYS,
/// with their chat, samples and thumbnail (a recording is a video of its own and stays).
async fn prune(db: &Db, cfg: &Config, now: chrono::DateTime<chrono::Utc>) -> ApiResult<()> {
    let ago = |d: chrono::Duration| crate::ids::format_time(now - d);
    sqlx::query("DELETE FROM stream_analytics WHERE timestamp < $1")
        .bind(ago(chrono::Duration::hours(i64::from(
            cfg.analytics_retention_hours,
        ))))
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM chat_messages WHERE timestamp < $1")
        .bind(ago(chrono::Duration::days(i64::from(
            cfg.chat_log_retention_days,
        ))))
        .execute(&db.pool)
        .await?;
    let log_cutoff = now - chrono::Duration::days(i64::from(cfg.analytics_log_retention_days));
    sqlx::query("DELETE FROM video_views WHERE day < $1")
        .bind(log_cutoff.format("%Y-%m-%d").to_string())
        .execute(&db.pool)
        .await?;
    let ended: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM streams WHERE status = 'ended' AND COALESCE(end_time, updated_at) < $1",
    )
    .bind(ago(chrono::Duration::days(i64::from(
        cfg.metadata_retention_days,
    ))))
    .fetch_all(&db.pool)
    .await?;
    for id in ended {
        crate::streams::store::delete(db, cfg, &id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    async fn exists(db: &Db, sql: &str, id: &str) -> bool {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        n > 0
    }

    /// Each retention setting removes what is older than it and nothing younger, and an ended
    /// stream goes with its chat and thumbnail.
    #[tokio::test]
    async fn prune_keeps_each_kind_of_data_for_its_setting() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let thumbs = dir.path().join("thumbs");
        let cfg = Config::load(&Source::from_pairs([
            ("THUMBNAIL_DIR", thumbs.to_str().unwrap()),
            ("METADATA_RETENTION_DAYS", "30"),
            ("ANALYTICS_LOG_RETENTION_DAYS", "7"),
            ("CHAT_LOG_RETENTION_DAYS", "3"),
        ]))
        .unwrap();
        let now = chrono::Utc::now();
        let days_ago = |d: i64| crate::ids::format_time(now - chrono::Duration::days(d));
        // (id, status, end time, creation time)
        let streams = [
            ("stream_old", "ended", Some(days_ago(31)), days_ago(40)),
            ("stream_recent", "ended", Some(days_ago(29)), days_ago(40)),
            ("stream_scheduled", "scheduled", None, days_ago(400)),
        ];
        for (id, status, end, created) in &streams {
            sqlx::query(
                "INSERT INTO streams (id, title, streamer_id, content_type, status, stream_key,
                    stream_key_hash, max_viewers, quality, language, end_time, created_at,
                    updated_at)
                 VALUES ($1, 't', 'u', 'gaming', $2, $1, $1, 10, 'auto', 'en', $3, $4, $4)",
            )
            .bind(id)
            .bind(status)
            .bind(end)
            .bind(created)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        for (id, stream, at) in [
            ("chat_old_stream", "stream_old", days_ago(1)),
            ("chat_recent", "stream_recent", days_ago(2)),
            ("chat_stale", "stream_recent", days_ago(4)),
        ] {
            sqlx::query(
                "INSERT INTO chat_messages (id, stream_id, username, message, timestamp)
                 VALUES ($1, $2, 'u', 'hi', $3)",
            )
            .bind(id)
            .bind(stream)
            .bind(at)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        std::fs::create_dir_all(thumbs.join("live")).unwrap();
        let old_thumb = thumbs.join("live/stream_old.jpg");
        let recent_thumb = thumbs.join("live/stream_recent.jpg");
        std::fs::write(&old_thumb, b"jpeg").unwrap();
        std::fs::write(&recent_thumb, b"jpeg").unwrap();
        sqlx::query(
            "INSERT INTO videos (id, title, uploader_id, filename, file_path, file_size, format,
                view_count, processing_status, upload_date, created_at, updated_at)
             VALUES ('video_1', 't', 'u', 'a.mp4', 'a.mp4', 1, 'mp4', 2, 'completed', $1, $1, $1)",
        )
        .bind(days_ago(100))
        .execute(&db.pool)
        .await
        .unwrap();
        let day = |d: i64| {
            (now - chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string()
        };
        for (actor, d) in [("ip:old", 8), ("ip:recent", 6)] {
            sqlx::query(
                "INSERT INTO video_views (video_id, actor, day) VALUES ('video_1', $1, $2)",
            )
            .bind(actor)
            .bind(day(d))
            .execute(&db.pool)
            .await
            .unwrap();
        }

        prune(&db, &cfg, now).await.unwrap();

        let stream = "SELECT CAST(COUNT(*) AS BIGINT) FROM streams WHERE id = $1";
        assert!(!exists(&db, stream, "stream_old").await);
        assert!(exists(&db, stream, "stream_recent").await);
        assert!(exists(&db, stream, "stream_scheduled").await, "never ended");
        let chat = "SELECT CAST(COUNT(*) AS BIGINT) FROM chat_messages WHERE id = $1";
        assert!(
            !exists(&db, chat, "chat_old_stream").await,
            "went with its stream"
        );
        assert!(exists(&db, chat, "chat_recent").await);
        assert!(!exists(&db, chat, "chat_stale").await);
        assert!(!old_thumb.exists() && recent_thumb.exists());
        let view = "SELECT CAST(COUNT(*) AS BIGINT) FROM video_views WHERE actor = $1";
        assert!(!exists(&db, view, "ip:old").await);
        assert!(exists(&db, view, "ip:recent").await);
        let count: i64 = sqlx::query_scalar("SELECT view_count FROM videos WHERE id = 'video_1'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(count, 2, "the count stays");
    }
}
