//! `GET /api/streams/{stream_id}/health`: how a live stream's ingest is doing, for its streamer
//! and admins.
//!
//! Everything is read from what the live origin already keeps: the source segmenter's decoder
//! configurations and its window of complete segments, whose sample tables give the frame rate,
//! the keyframe spacing and the media bitrate; the ladder's renditions. Ingest counts nothing
//! for this, so a value the origin cannot tell is `null` rather than estimated.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use ferrocast_media::flv::{AudioConfig, VideoCodec, VideoConfig};
use ferrocast_media::hls::{Segmenter, WindowStats};
use serde::Serialize;

use super::origin::LiveStream;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::streams::store;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/streams/{stream_id}/health", get(health))
}

/// The name the source rendition is given among the renditions (the ladder's are `360p`, ...).
const SOURCE: &str = "source";

#[derive(Debug, Serialize)]
pub struct Health {
    pub stream_id: String,
    /// A publisher is connected to the stream's origin.
    pub live: bool,
    /// Since the stream's first publisher of this session connected; a reconnect within the
    /// grace period continues the count.
    pub uptime_seconds: Option<u64>,
    /// Audio and video frames received, in kbit per second of media (not of the wall clock), over
    /// the complete segments in the window.
    pub ingest_kbps: Option<f64>,
    /// Video frames per second over the same segments.
    pub fps: Option<f64>,
    /// Mean time between the keyframes in those segments.
    pub keyframe_interval_seconds: Option<f64>,
    /// The media those segments cover: what the three values above were measured over.
    pub window_seconds: Option<f64>,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
    pub renditions: Vec<RenditionInfo>,
    pub viewers: i64,
}

#[derive(Debug, Serialize)]
pub struct VideoInfo {
    pub codec: &'static str,
    /// RFC 6381, as the master playlist's `CODECS` gives it.
    pub codec_string: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct AudioInfo {
    pub codec: &'static str,
    pub codec_string: String,
    pub sample_rate: u32,
    pub channels: Option<u8>,
}

#[derive(Debug, Serialize)]
pub struct RenditionInfo {
    pub name: &'static str,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// The master playlist's `BANDWIDTH` once measured: the peak bits per second of a segment
    /// in the rendition's window. Before its first segment the master carries an estimate,
    /// which is not repeated here.
    pub bandwidth: Option<u64>,
}

impl VideoInfo {
    fn of(c: &VideoConfig) -> Self {
        // A size of 0 means the SPS could not be read.
        let known = |n: u32| (n > 0).then_some(n);
        Self {
            codec: match c.codec {
                VideoCodec::Avc => "h264",
                VideoCodec::Hevc => "hevc",
            },
            codec_string: c.codec_string.clone(),
            width: known(c.width),
            height: known(c.height),
        }
    }
}

impl AudioInfo {
    fn of(c: &AudioConfig) -> Self {
        Self {
            // The only audio the packager carries.
            codec: "aac",
            codec_string: c.codec_string.clone(),
            sample_rate: c.sample_rate,
            // 0: the layout is in a program config element, which is not read.
            channels: (c.channels > 0).then_some(c.channels),
        }
    }
}

impl RenditionInfo {
    fn of(name: &'static str, seg: &Segmenter) -> Self {
        let size = seg.resolution();
        Self {
            name,
            width: size.map(|(w, _)| w),
            height: size.map(|(_, h)| h),
            bandwidth: seg.bandwidth().map(|(peak, _)| peak),
        }
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

impl Health {
    fn offline(stream_id: String, viewers: i64) -> Self {
        Self {
            stream_id,
            live: false,
            uptime_seconds: None,
            ingest_kbps: None,
            fps: None,
            keyframe_interval_seconds: None,
            window_seconds: None,
            video: None,
            audio: None,
            renditions: Vec::new(),
            viewers,
        }
    }

    fn of(stream_id: String, live: &LiveStream, viewers: i64) -> Self {
        let mut renditions = Vec::new();
        let (segments, video, audio) = {
            let seg = live.segmenter();
            // Handles on the segments' memory, so their sample tables are read after the lock,
            // which ingest takes for every frame, is given back.
            let segments: Vec<(u64, Bytes)> = seg
                .segments()
                .iter()
                .map(|s| (s.duration, s.data.clone()))
                .collect();
            // What the master playlist waits for before it lists the source.
            if seg.init_segment().is_some() && seg.codecs().is_some() && seg.has_media(true) {
                renditions.push(RenditionInfo::of(SOURCE, &seg));
            }
            (
                segments,
                seg.video_config().map(VideoInfo::of),
                seg.audio_config().map(AudioInfo::of),
            )
        };
        if let Some(ladder) = live.ladder() {
            for r in ladder.listed() {
                renditions.push(RenditionInfo::of(r.encoding.rung.name, &r.segmenter()));
            }
        }
        let stats = WindowStats::measure(segments.iter().map(|(d, b)| (*d, &b[..])));
        Self {
            stream_id,
            live: true,
            uptime_seconds: Some(live.age().as_secs()),
            ingest_kbps: stats
                .and_then(|s| s.media_bps())
                .map(|bps| round(bps / 1000.0, 1)),
            fps: stats.and_then(|s| s.frame_rate).map(|f| round(f, 3)),
            keyframe_interval_seconds: stats.and_then(|s| s.keyframe_interval).map(|k| round(k, 3)),
            window_seconds: stats.map(|s| round(s.seconds, 3)),
            video,
            audio,
            renditions,
            viewers,
        }
    }
}

async fn health(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream_id): Path<String>,
) -> ApiResult<Json<Health>> {
    let row = store::find(&state.db, &stream_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Stream"))?;
    // Ingest details are the streamer's business: anyone else is answered as for a stream they
    // may not see.
    if !caller.owns(&row.streamer_id) {
        return Err(ApiError::not_found("Stream"));
    }
    let viewers = state.live_viewers(&row.id);
    let health = match state.live.get(&row.id).filter(|l| l.is_publishing()) {
        Some(live) => Health::of(row.id, &live, viewers),
        None => Health::offline(row.id, viewers),
    };
    Ok(Json(health))
}
