//! LL-HLS packaging: a segmenter that turns access units into CMAF parts and segments held in
//! memory, renderers for LL-HLS, plain HLS and master playlists, and measurements of a window.

mod playlist;
mod segmenter;
mod stats;
mod time;

pub use playlist::{Variant, master_playlist};
pub use segmenter::{
    Cut, Part, Produced, Segment, Segmenter, SegmenterConfig, VIDEO_TRACK, join_in_memory,
};
pub use stats::WindowStats;
pub use time::format_rfc3339_ms;

/// URI of the init segment inside a rendition's directory.
pub const INIT_URI: &str = "init.mp4";

/// URI of complete segment `msn`.
pub fn segment_uri(msn: u64) -> String {
    format!("seg{msn}.m4s")
}

/// URI of part `index` of segment `msn`.
pub fn part_uri(msn: u64, index: usize) -> String {
    format!("part{msn}.{index}.m4s")
}
