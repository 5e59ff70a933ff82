//! Live streaming: RTMP ingest feeds a per-stream LL-HLS origin held in memory, and HTTP routes
//! serve it to players.
//!
//! - [`ingest`]: the RTMP listener; one task per connection drives a sans-I/O session from the
//!   media crate and pushes demuxed frames into the stream's segmenter.
//! - [`origin`]: the registry of live streams and what each holds (segmenter, wake-ups, viewers).
//! - [`http`]: master/media playlists, init segment, segments and parts, with blocking reload.
//! - [`transcode`]: the ABR ladder, one ffmpeg per stream whose renditions come back into the
//!   origin as LL-HLS next to the source; [`ladder`] decides what it encodes.
//! - [`token`]: signed playback tokens that stand in for a private stream's password.

pub mod http;
pub mod ingest;
pub mod ladder;
pub mod origin;
pub mod token;
pub mod transcode;
mod viewers;

pub use http::router;
pub use origin::{LiveStream, Registry};
