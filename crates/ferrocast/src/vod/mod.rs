//! Video on demand processing and delivery: the durable job queue, the workers that turn an upload
//! into an adaptive stream (one ffmpeg run for the whole ladder, CMAF segments shared by HLS and
//! DASH), pictures and a preview, and the routes that serve them.

mod api;
mod delivery;
pub mod events;
mod ffmpeg;
pub mod jobs;
pub mod ladder;
mod passthrough;
mod pipeline;
mod thumbs;
pub mod views;
pub mod worker;

use axum::Router;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::models::{Rendition, Thumbnails, Video};
use crate::state::AppState;
pub use api::enqueue_upload;
pub use ladder::Rung;
pub use thumbs::ThumbFiles;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/videos/{video_id}/transcode", post(api::transcode))
        .route("/api/videos/{video_id}/jobs", get(api::video_jobs))
        .route("/api/jobs", get(api::list_jobs))
        .route("/api/jobs/{job_id}", get(api::get_job).delete(api::cancel))
        .route("/api/jobs/{job_id}/cancel", post(api::cancel))
        .route("/api/stream/{video_id}/hls/{file}", get(delivery::hls_file))
        .route(
            "/api/stream/{video_id}/dash/{file}",
            get(delivery::dash_file),
        )
        .route(
            "/api/videos/{video_id}/thumbnails/{file}",
            get(delivery::thumbnail),
        )
        .route("/api/videos/{video_id}/preview.mp4", get(delivery::preview))
        .route("/api/videos/{video_id}/file", get(delivery::original))
}

/// What processing produced for a video, kept as JSON on the video row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outputs {
    /// Part of every segment name, new for each run.
    pub version: String,
    pub hls: bool,
    pub dash: bool,
    pub rungs: Vec<Rung>,
    pub audio: bool,
    pub preview: bool,
    pub thumbnails: Option<ThumbFiles>,
}

pub fn thumbnail_url(video_id: &str, file: &str) -> String {
    format!("/api/videos/{video_id}/thumbnails/{file}")
}

impl Outputs {
    /// Fills the video's output fields with the URLs that serve them: relative to the API's base,
    /// or on the CDN when `config` has one.
    pub fn describe(&self, v: &mut Video, config: &Config) {
        let id = &v.id;
        let url = |made: bool, path: String| made.then(|| config.media_url(&path));
        v.hls_url = url(self.hls, format!("/api/stream/{id}/hls/playlist.m3u8"));
        v.dash_url = url(self.dash, format!("/api/stream/{id}/dash/manifest.mpd"));
        v.preview_url = url(self.preview, format!("/api/videos/{id}/preview.mp4"));
        let picture = |file: &str| config.media_url(&thumbnail_url(id, file));
        v.thumbnails = self.thumbnails.as_ref().map(|t| Thumbnails {
            poster: picture("player.jpg"),
            card: picture("card.jpg"),
            player: picture("player.jpg"),
            storyboard: t.storyboard.as_ref().map(|_| picture("storyboard.jpg")),
            storyboard_vtt: t.storyboard.as_ref().map(|_| picture("storyboard.vtt")),
        });
        v.renditions = self
            .rungs
            .iter()
            .map(|r| Rendition {
                name: r.name.clone(),
                width: r.width,
                height: r.height,
                bitrate: r.video_kbps,
                passthrough: r.passthrough,
            })
            .collect();
    }
}

fn with_sig(url: &str, sig: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sig={sig}")
}

/// For the owner of a video that is not public: the media URLs carry a signature, so a player
/// can fetch them without the owner's token.
pub fn sign_urls(state: &AppState, v: &mut Video) {
    if v.is_public {
        return;
    }
    let sig = crate::signing::VIDEO_MEDIA.sign(
        &state.config.jwt_secret,
        &v.id,
        crate::signing::unix_now(),
    );
    for url in [&mut v.hls_url, &mut v.dash_url, &mut v.preview_url] {
        if let Some(u) = url.as_mut() {
            *u = with_sig(u, &sig);
        }
    }
    // One of ours, whether relative, on the API's base URL or on the CDN.
    if let Some(u) = v.thumbnail_url.as_mut()
        && u.contains("/api/videos/")
    {
        *u = with_sig(u, &sig);
    }
    if let Some(t) = v.thumbnails.as_mut() {
        for u in [&mut t.poster, &mut t.card, &mut t.player] {
            *u = with_sig(u, &sig);
        }
        for u in [&mut t.storyboard, &mut t.storyboard_vtt]
            .into_iter()
            .flatten()
        {
            *u = with_sig(u, &sig);
        }
    }
}

/// Deletes a video's streams, preview and pictures (the video itself is gone already).
pub async fn remove_outputs(state: &AppState, video_id: &str) {
    let storage = &state.storage;
    for (shelf, prefix) in [
        (&storage.videos, pipeline::renditions_prefix(video_id)),
        (&storage.pictures, pipeline::pictures_prefix(video_id)),
    ] {
        if let Err(e) = shelf.remove_prefix(&prefix).await {
            tracing::warn!(%video_id, error = format!("{e:#}"), "could not remove the video's outputs");
        }
    }
}
