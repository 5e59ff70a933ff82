//! Pure media code for Ferrocast's live path: bytes in, bytes out, no I/O.
//!
//! - [`rtmp`]: a sans-I/O RTMP server session (handshake, chunk stream, publish commands).
//! - [`flv`]: FLV tag payloads to codec configurations and access units, plus an FLV stream reader.
//! - [`cmaf`]: fragmented MP4 (CMAF) init segments and fragments.
//! - [`hls`]: an LL-HLS segmenter with media, plain and master playlist rendering.
#![forbid(unsafe_code)]

pub mod cmaf;
pub mod flv;
pub mod hls;
pub mod rtmp;
mod util;
