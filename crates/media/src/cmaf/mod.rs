//! Fragmented MP4 (CMAF) writing: an init segment describing the tracks, and fragments
//! (`moof` + `mdat`) carrying samples of one or more tracks.

mod boxes;
mod fragment;
mod init;

pub use fragment::{Sample, TrackRun, fragment};
pub use init::{InitTrack, TrackMedia, init_segment};

/// Timescale for video tracks: 90 kHz represents millisecond FLV times exactly and is what
/// players expect.
pub const VIDEO_TIMESCALE: u32 = 90_000;
