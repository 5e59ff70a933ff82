//! Fragmented MP4 (CMAF) writing: an init segment describing the tracks, and fragments
//! (`moof` + `mdat`) carrying samples of one or more tracks; and reading back the sample tables
//! of such fragments.

mod boxes;
mod fragment;
mod init;
mod read;

pub use fragment::{Sample, TrackRun, fragment};
pub use init::{InitTrack, TrackMedia, init_segment};
pub use read::{SampleEntry, read_samples};

/// Timescale for video tracks: 90 kHz represents millisecond FLV times exactly and is what
/// players expect.
pub const VIDEO_TIMESCALE: u32 = 90_000;
