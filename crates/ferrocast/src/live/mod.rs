//! Live streaming: RTMP ingest feeds a per-stream LL-HLS origin held in memory, and HTTP routes
//! serve it to players.
//!
//! - [`ingest`]: the RTMP listener; one task per connection drives a sans-I/O session from the
//!   media crate and pushes demuxed frames into the stream's segmenter, reading on the ingest
//!   thread's shared grid (`read_grid`) on the ticks when a part can close (`read_plan`), with
//!   the socket off the event loop while publishing (`polled_socket`).
//! - [`origin`]: the registry of live streams and what each holds (segmenter, wake-ups, viewers).
//! - [`http`]: master/media playlists, init segment, segments and parts, with blocking reload.
//! - [`recording`]: segments kept on disk while live, turned into a video when the stream ends.
//! - [`thumbnails`]: a live stream's thumbnail refreshed from its latest keyframe.
//! - [`recovery`]: at start, streams a previous process left live are ended and their
//!   recordings saved.
//! - playback tokens (`crate::signing::LIVE_PLAYBACK`) stand in for a private stream's password.
//! - [`transcode`]: the ABR ladder, one ffmpeg per stream whose renditions come back into the
//!   origin as LL-HLS next to the source; [`ladder`] decides what it encodes.
//! - [`health`]: a live stream's ingest as its streamer sees it, measured from what the origin
//!   keeps.

pub mod health;
pub mod http;
pub mod ingest;
pub mod ladder;
pub mod origin;
mod polled_socket;
mod read_grid;
mod read_plan;
pub mod recording;
pub mod recovery;
pub mod thumbnails;
pub mod transcode;
mod viewers;
pub mod window;

pub use origin::{LiveStream, Registry};

pub fn router() -> axum::Router<crate::state::AppState> {
    http::router()
        .merge(thumbnails::router())
        .merge(health::router())
}
