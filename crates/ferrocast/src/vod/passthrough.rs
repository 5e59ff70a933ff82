//! The source's own video as the top rung, when it already is what that rung would be: H.264
//! 4:2:0 at the rung's size, a steady frame rate, a bitrate within the rung's ceiling and
//! keyframes that cut it into the ladder's segments. Encoding is nearly all of a job's cost and
//! the top rung is the dearest part of it; copying skips that and keeps the source's quality (no
//! second generation of compression). The other rungs then put their keyframes exactly where the
//! source has them, so every rung's segments begin at the same instants.
//!
//! Segments are cut at the first keyframe at least `SEGMENT_SECONDS` after the segment's start,
//! so the source qualifies only when that makes segments of `SEGMENT_SECONDS` (within 1 %, which
//! lets a 29.97 fps source with a keyframe every 60 frames through): keyframes every 0.5, 1, 2
//! or 4 s, as streaming encoders and web exports write them. Everything that reckons with
//! segment numbers (the preview cut, views counted from playback) can then keep doing so.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::ladder::{self, Rung, SEGMENT_SECONDS};
use crate::config::Config;
use crate::media_tools::{MediaTools, Probe, ffprobe};

/// How much longer than `SEGMENT_SECONDS` a segment cut at the source's keyframes may be.
const SEGMENT_SLACK: f64 = 1.01;

/// Decode order can put a frame's presentation time this far past the next keyframe's.
const REORDER_SECONDS: f64 = 1.0;

/// Reading a huge file's packet list must not hold the job up for long; past this the source is
/// simply encoded.
const SCAN_LIMIT: Duration = Duration::from_secs(120);

/// The rung the source could fill as it is, judged from ffprobe's reading alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub rung: usize,
    /// The source's video bitrate, which the copied rung then has.
    pub kbps: u32,
}

pub fn candidate(meta: &Probe, rungs: &[Rung], config: &Config) -> Option<Candidate> {
    let rung = rungs.len().checked_sub(1)?;
    let top = &rungs[rung];
    let steady = meta.constant_fps && meta.fps.is_some_and(|f| (1.0..=60.0).contains(&f));
    let plain = meta.video_codec.as_deref() == Some("h264")
        && meta.pix_fmt.as_deref() == Some("yuv420p")
        && meta.rotation == 0
        && !meta.interlaced
        && meta.video_first;
    let same_size = meta.display_size() == Some((i64::from(top.width), i64::from(top.height)));
    // Without a stream bitrate the container's (audio included) stands in: it errs on the high
    // side, which only ever means encoding.
    let kbps = u32::try_from(meta.video_kbps.or(meta.bitrate_kbps)?).ok()?;
    let within = kbps > 0 && kbps <= ladder::cap_for_height(config, top.height);
    (steady && plain && same_size && within).then_some(Candidate { rung, kbps })
}

/// Whether cutting the file's first video stream at its keyframes, as the segmenter does, gives
/// segments of `SEGMENT_SECONDS`. Reads the packet list only (no decoding); any doubt (no
/// timestamps, an error, too slow) answers no.
pub async fn keyframes_cut_segments(tools: &MediaTools, file: &Path) -> bool {
    let args = [
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time,flags",
        "-of",
        "csv=p=0",
    ];
    let Some(mut command) = ffprobe(tools, &args, file) else {
        return false;
    };
    let child = command.stderr(Stdio::null()).spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let Some(stdout) = child.stdout.take() else {
        return false;
    };
    let scan = async {
        let mut lines = BufReader::new(stdout).lines();
        let mut cuts = SegmentCuts::default();
        while let Ok(Some(line)) = lines.next_line().await {
            if !cuts.packet(&line) {
                return false;
            }
        }
        cuts.start.is_some()
    };
    let fits = tokio::time::timeout(SCAN_LIMIT, scan)
        .await
        .unwrap_or(false);
    if !fits {
        let _ = child.start_kill();
    }
    let finished = child.wait().await.is_ok_and(|s| s.success());
    fits && finished
}

/// Follows ffprobe's `pts_time,flags` lines (decode order) through the segmenter's cuts and says
/// whether every segment so far is `SEGMENT_SECONDS` long.
#[derive(Default)]
struct SegmentCuts {
    /// Where the segment being cut began.
    start: Option<f64>,
}

impl SegmentCuts {
    fn packet(&mut self, line: &str) -> bool {
        let line = line.trim();
        let Some((pts, flags)) = line.split_once(',') else {
            return line.is_empty();
        };
        let Ok(pts) = pts.parse::<f64>() else {
            return false;
        };
        let target = f64::from(SEGMENT_SECONDS);
        let Some(start) = self.start else {
            // The stream must open with a keyframe, or the first segment could not be cut.
            self.start = Some(pts);
            return flags.starts_with('K');
        };
        if flags.starts_with('K') && pts >= start + target {
            if pts - start > target * SEGMENT_SLACK {
                return false;
            }
            self.start = Some(pts);
            return true;
        }
        // Past where the cut should have been with no keyframe: this segment will be too long.
        pts <= start + target * SEGMENT_SLACK + REORDER_SECONDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;
    use crate::vod::ladder::{PROFILES, plan_rungs};

    fn source() -> Probe {
        Probe {
            width: Some(1920),
            height: Some(1080),
            fps: Some(30.0),
            constant_fps: true,
            video_codec: Some("h264".into()),
            pix_fmt: Some("yuv420p".into()),
            video_kbps: Some(4500),
            has_video: true,
            video_first: true,
            ..Probe::default()
        }
    }

    #[test]
    fn only_a_source_that_is_already_the_top_rung() {
        let config = Config::load(&Source::from_pairs(Vec::<(String, String)>::new())).unwrap();
        let rungs = plan_rungs(&PROFILES, (1920, 1080), &config);
        assert_eq!(
            candidate(&source(), &rungs, &config),
            Some(Candidate {
                rung: 3,
                kbps: 4500
            })
        );
        let changed: [fn(&mut Probe); 8] = [
            |p| p.video_codec = Some("hevc".into()),
            |p| p.pix_fmt = Some("yuv422p".into()),
            |p| p.constant_fps = false,
            |p| p.rotation = 90,
            // Above MAX_BITRATE_1080P.
            |p| p.video_kbps = Some(9000),
            |p| p.width = Some(1918),
            |p| p.interlaced = true,
            // A cover picture is the first video stream, which `0:v:0` would copy.
            |p| p.video_first = false,
        ];
        for change in changed {
            let mut p = source();
            change(&mut p);
            assert_eq!(candidate(&p, &rungs, &config), None, "{p:?}");
        }
        // The 1080p rung was not asked for: 720p is the top, and the source is bigger.
        let rungs = plan_rungs(&PROFILES[..3], (1920, 1080), &config);
        assert_eq!(candidate(&source(), &rungs, &config), None);
    }

    #[test]
    fn keyframes_must_cut_whole_segments() {
        let feed = |lines: &[String]| {
            let mut c = SegmentCuts::default();
            lines.iter().all(|l| c.packet(l))
        };
        let every = |gop: f64, fps: f64, seconds: f64| -> Vec<String> {
            let frames = (seconds * fps) as usize;
            let per = (gop * fps).round() as usize;
            (0..frames)
                .map(|i| {
                    format!(
                        "{:.6},{}",
                        i as f64 / fps,
                        if i % per == 0 { "K_" } else { "__" }
                    )
                })
                .collect()
        };
        assert!(feed(&every(2.0, 30.0, 60.0)));
        assert!(feed(&every(1.0, 25.0, 60.0)));
        // 60 frames at 29.97 fps: segments of 4.004 s.
        assert!(feed(&every(2.002, 30000.0 / 1001.0, 600.0)));
        // Keyframes every 1.5 s would make 4.5 s segments; x264's default of 250 frames, 8.3 s.
        assert!(!feed(&every(1.5, 30.0, 60.0)));
        assert!(!feed(&every(250.0 / 30.0, 30.0, 60.0)));
        assert!(
            !feed(&["0.000,__".to_string()]),
            "must open with a keyframe"
        );
        assert!(!feed(&["N/A,K_".to_string()]));
        // Decode order: B-frames come after the keyframe they precede on screen.
        let reordered = [
            "0.000,K_", "0.100,__", "0.033,__", "0.067,__", "4.000,K_", "4.100,__",
        ];
        assert!(feed(&reordered.map(String::from)));
    }
}
