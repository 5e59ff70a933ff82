//! Platform statistics and per-stream analytics: a sample of each live stream every
//! VIEWER_UPDATE_INTERVAL (viewers, chat messages since the last sample, quality), kept for
//! ANALYTICS_RETENTION_HOURS.

mod bandwidth;

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
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
        "current_viewers": state.hub.total_subscribers(),
        "websocket_connections": state.hub.total_subscribers(),
        "timestamp": crate::ids::now(),
    })))
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
    let mut last_prune = Instant::now();
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
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = Instant::now();
            if let Err(e) = prune(&state).await {
                tracing::warn!(error = %e, "pruning old analytics and chat failed");
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

async fn prune(state: &AppState) -> ApiResult<()> {
    let cfg = &state.config;
    let now = chrono::Utc::now();
    let analytics_cutoff = crate::ids::format_time(
        now - chrono::Duration::hours(i64::from(cfg.analytics_retention_hours)),
    );
    sqlx::query("DELETE FROM stream_analytics WHERE timestamp < $1")
        .bind(analytics_cutoff)
        .execute(&state.db.pool)
        .await?;
    let chat_cutoff = crate::ids::format_time(
        now - chrono::Duration::days(i64::from(cfg.chat_log_retention_days)),
    );
    sqlx::query("DELETE FROM chat_messages WHERE timestamp < $1")
        .bind(chat_cutoff)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}
