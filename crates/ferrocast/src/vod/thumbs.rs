//! Pictures and the preview clip: a poster picked by ffmpeg's `thumbnail` filter (the frame most
//! like its neighbours over the first seconds, so not a black or faded first frame) in card and
//! player sizes, a storyboard sprite with its WebVTT for seek previews, and a 30-second clip.

use std::ffi::OsString;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ffmpeg::{Ctl, Step, Stop, run, time_limit};
use super::ladder::{fit, input_args};

pub const CARD_BOX: (u32, u32) = (320, 180);
pub const PLAYER_BOX: (u32, u32) = (1280, 720);
const TILE_BOX: (u32, u32) = (160, 90);
const MAX_TILES: u32 = 100;
pub const PREVIEW_SECONDS: f64 = 30.0;
/// Over this length the storyboard decodes keyframes only: far cheaper, and close enough for
/// seek previews.
const KEYFRAMES_ONLY_AFTER: f64 = 120.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Storyboard {
    pub tile_width: u32,
    pub tile_height: u32,
    pub columns: u32,
    pub rows: u32,
    pub count: u32,
    pub interval: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThumbFiles {
    pub card: (u32, u32),
    pub player: (u32, u32),
    pub storyboard: Option<Storyboard>,
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn base_args() -> Vec<OsString> {
    os(&["-hide_banner", "-nostdin", "-nostats", "-v", "error", "-y"])
}

/// The storyboard's layout for a video of `duration` seconds: one tile per interval, at most
/// MAX_TILES, ten to a row.
pub fn storyboard_layout(display: (i64, i64), duration: f64) -> Storyboard {
    let duration = if duration.is_finite() && duration > 0.0 {
        duration
    } else {
        1.0
    };
    let interval = (duration / f64::from(MAX_TILES)).ceil().max(1.0);
    let count = ((duration / interval).ceil() as u32).clamp(1, MAX_TILES);
    let columns = count.min(10);
    let rows = count.div_ceil(columns);
    let (tile_width, tile_height) = fit(display, TILE_BOX);
    Storyboard {
        tile_width,
        tile_height,
        columns,
        rows,
        count,
        interval,
    }
}

fn vtt_time(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The WebVTT that maps each stretch of the video to its tile of `storyboard.jpg`.
pub fn storyboard_vtt(s: &Storyboard, duration: f64) -> String {
    let mut out = String::from("WEBVTT\n");
    for i in 0..s.count {
        let start = f64::from(i) * s.interval;
        let end = (start + s.interval).min(duration.max(start + 0.001));
        out.push_str(&format!(
            "\n{} --> {}\nstoryboard.jpg#xywh={},{},{},{}\n",
            vtt_time(start),
            vtt_time(end),
            (i % s.columns) * s.tile_width,
            (i / s.columns) * s.tile_height,
            s.tile_width,
            s.tile_height
        ));
    }
    out
}

pub async fn make_thumbnails(
    ctl: &Ctl,
    input: &Path,
    out: &Path,
    display: (i64, i64),
    fps: f64,
    duration: Option<f64>,
    span: (f64, f64),
) -> Result<ThumbFiles, Stop> {
    let player = fit(display, PLAYER_BOX);
    let card = fit(display, CARD_BOX);
    let look = duration.unwrap_or(12.0).clamp(0.1, 12.0);
    // A batch of about ten seconds of frames; the filter answers at the end of input if shorter.
    let batch = ((fps * 10.0).round() as u32).clamp(1, 600);
    let mut args = base_args();
    args.extend(os(&["-t", &format!("{look:.3}")]));
    args.extend(input_args(input));
    args.extend(os(&[
        "-filter_complex",
        &format!(
            "[0:v:0]thumbnail=n={batch},split=2[a][b];[a]scale={}:{},setsar=1[p];[b]scale={}:{},setsar=1[c]",
            player.0, player.1, card.0, card.1
        ),
        "-map",
        "[p]",
        "-frames:v",
        "1",
        "-update",
        "1",
        "-q:v",
        "3",
    ]));
    args.push(out.join("player.jpg").into());
    args.extend(os(&[
        "-map",
        "[c]",
        "-frames:v",
        "1",
        "-update",
        "1",
        "-q:v",
        "4",
    ]));
    args.push(out.join("card.jpg").into());
    let mid = span.0 + (span.1 - span.0) / 2.0;
    run(
        ctl,
        Step {
            stage: "poster",
            args,
            span: (span.0, mid),
            duration: None,
            time_limit: time_limit(Some(look)),
        },
    )
    .await?;

    let storyboard = match duration {
        Some(d) if d > 0.0 => {
            let s = storyboard_layout(display, d);
            let mut args = base_args();
            if d > KEYFRAMES_ONLY_AFTER {
                args.extend(os(&["-skip_frame", "nokey"]));
            }
            args.extend(input_args(input));
            args.extend(os(&[
                "-an",
                "-vf",
                &format!(
                    "fps=fps=1/{},scale={}:{},setsar=1,tile={}x{}",
                    s.interval, s.tile_width, s.tile_height, s.columns, s.rows
                ),
                "-frames:v",
                "1",
                "-update",
                "1",
                "-q:v",
                "5",
            ]));
            args.push(out.join("storyboard.jpg").into());
            run(
                ctl,
                Step {
                    stage: "storyboard",
                    args,
                    span: (mid, span.1),
                    duration: None,
                    time_limit: time_limit(Some(d)),
                },
            )
            .await?;
            tokio::fs::write(out.join("storyboard.vtt"), storyboard_vtt(&s, d))
                .await
                .map_err(|e| Stop::Failed(format!("storyboard: {e}")))?;
            Some(s)
        }
        _ => None,
    };
    Ok(ThumbFiles {
        card,
        player,
        storyboard,
    })
}

/// Runs ffmpeg with `args` (inputs and codecs) writing the preview into `out`: a progressive MP4
/// that starts playing at once.
async fn write_preview(
    ctl: &Ctl,
    mut args: Vec<OsString>,
    out: &Path,
    span: (f64, f64),
) -> Result<(), Stop> {
    args.extend(os(&[
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        "-progress",
        "pipe:1",
    ]));
    args.push(out.join("preview.mp4").into());
    run(
        ctl,
        Step {
            stage: "preview",
            args,
            span,
            duration: Some(PREVIEW_SECONDS),
            time_limit: time_limit(Some(PREVIEW_SECONDS)),
        },
    )
    .await
}

/// The representation the preview is cut from: the largest rung whose short side is at most 480
/// pixels (a preview is small), else the smallest rung.
pub fn preview_rung(rungs: &[super::ladder::Rung]) -> Option<usize> {
    let short = |r: &super::ladder::Rung| r.width.min(r.height);
    rungs
        .iter()
        .enumerate()
        .min_by_key(|(_, r)| (short(r) > 480, short(r).abs_diff(480)))
        .map(|(i, _)| i)
}

/// Joins a representation's init segment and its first segments, enough for the preview, into
/// one fragmented MP4 at `dest` (a CMAF init segment followed by its fragments is such a file).
async fn join_segments(
    dir: &Path,
    version: &str,
    representation: usize,
    dest: &Path,
) -> std::io::Result<()> {
    use super::ladder::{SEGMENT_SECONDS, init_file, segment_file};
    let rep = representation.to_string();
    // Every segment but perhaps the last is SEGMENT_SECONDS long; one more covers rounding.
    let wanted = (PREVIEW_SECONDS / f64::from(SEGMENT_SECONDS)).ceil() as usize + 1;
    let mut joined = tokio::fs::read(dir.join(init_file(version, &rep))).await?;
    for n in 1..=wanted {
        match tokio::fs::read(dir.join(segment_file(version, &rep, &format!("{n:05}")))).await {
            Ok(seg) => joined.extend_from_slice(&seg),
            // A video shorter than the preview has fewer segments.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && n > 1 => break,
            Err(e) => return Err(e),
        }
    }
    tokio::fs::write(dest, joined).await
}

/// The preview from what the ladder already encoded: the first 30 seconds of one video
/// representation and of the audio, copied into a progressive MP4 without encoding anything.
pub async fn cut_preview(
    ctl: &Ctl,
    out: &Path,
    version: &str,
    video: Option<usize>,
    audio: Option<usize>,
    span: (f64, f64),
) -> Result<(), Stop> {
    let mut args = base_args();
    let mut parts = Vec::new();
    for (kind, rep) in [("v", video), ("a", audio)] {
        let Some(rep) = rep else { continue };
        let part = out.join(format!(".preview-{kind}.mp4"));
        join_segments(out, version, rep, &part)
            .await
            .map_err(|e| Stop::Failed(format!("preview: {e}")))?;
        args.extend(input_args(&part));
        parts.push(part);
    }
    for i in 0..parts.len() {
        args.extend(os(&["-map", &format!("{i}")]));
    }
    args.extend(os(&["-t", &format!("{PREVIEW_SECONDS}"), "-c", "copy"]));
    let result = write_preview(ctl, args, out, span).await;
    for part in parts {
        let _ = tokio::fs::remove_file(part).await;
    }
    result
}

/// The first 30 seconds, small, as one progressive MP4 that starts playing at once: encoded from
/// the source, for a job that makes no ladder to cut it from.
#[allow(clippy::too_many_arguments)]
pub async fn make_preview(
    ctl: &Ctl,
    input: &Path,
    out: &Path,
    display: Option<(i64, i64)>,
    has_audio: bool,
    fps: f64,
    preset: &str,
    span: (f64, f64),
) -> Result<(), Stop> {
    let mut args = base_args();
    args.extend(input_args(input));
    args.extend(os(&["-t", &format!("{PREVIEW_SECONDS}")]));
    if let Some(d) = display {
        // The same size the ladder's preview rung would have: short side at most 480.
        let bound = if d.1 > d.0 { (480, 854) } else { (854, 480) };
        let (w, h) = fit(d, bound);
        args.extend(os(&[
            "-map",
            "0:v:0",
            "-vf",
            &format!("fps={fps},scale={w}:{h},setsar=1,format=yuv420p"),
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-b:v",
            "1000k",
            "-maxrate",
            "1200k",
            "-bufsize",
            "2000k",
        ]));
    }
    if has_audio {
        args.extend(os(&[
            "-map", "0:a:0", "-c:a", "aac", "-b:a", "96k", "-ac", "2",
        ]));
    }
    write_preview(ctl, args, out, span).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storyboard_is_bounded_and_mapped() {
        let s = storyboard_layout((1920, 1080), 3.5);
        assert_eq!((s.count, s.columns, s.rows), (4, 4, 1));
        assert_eq!((s.tile_width, s.tile_height), (160, 90));
        let vtt = storyboard_vtt(&s, 3.5);
        assert!(vtt.starts_with("WEBVTT\n"));
        assert!(vtt.contains("00:00:03.000 --> 00:00:03.500\nstoryboard.jpg#xywh=480,0,160,90"));
        let long = storyboard_layout((1920, 1080), 7200.0);
        assert_eq!((long.count, long.columns, long.rows), (100, 10, 10));
        assert_eq!(long.interval, 72.0);
    }

    #[test]
    fn preview_comes_from_a_small_rung() {
        use super::super::ladder::{PROFILES, plan_rungs};
        use crate::config::{Config, Source};
        let config = Config::load(&Source::from_pairs(Vec::<(String, String)>::new())).unwrap();
        let full = plan_rungs(&PROFILES, (1920, 1080), &config);
        assert_eq!(preview_rung(&full).map(|i| full[i].height), Some(480));
        let portrait = plan_rungs(&PROFILES, (720, 1280), &config);
        assert_eq!(
            preview_rung(&portrait).map(|i| portrait[i].width),
            Some(480)
        );
        let big_only = plan_rungs(&PROFILES[3..], (1920, 1080), &config);
        assert_eq!(preview_rung(&big_only), Some(0));
        assert_eq!(preview_rung(&[]), None);
    }
}
