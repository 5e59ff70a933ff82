//! The rendition ladder: seed 004's profiles, which of them a source gets (never upscaled), and
//! the one ffmpeg command that decodes the source once and encodes every rung into CMAF segments
//! that both the DASH manifest and the HLS playlists point at.

use std::ffi::OsString;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

/// Seed 004's ladder; the seed lists 4K without numbers beyond the 8-15 Mbit/s range, so it sits
/// in the middle of it (and under MAX_BITRATE_4K).
pub const PROFILES: [Profile; 5] = [
    Profile {
        name: "360p",
        width: 640,
        height: 360,
        video_kbps: 800,
        audio_kbps: 96,
    },
    Profile {
        name: "480p",
        width: 854,
        height: 480,
        video_kbps: 1400,
        audio_kbps: 128,
    },
    Profile {
        name: "720p",
        width: 1280,
        height: 720,
        video_kbps: 2800,
        audio_kbps: 128,
    },
    Profile {
        name: "1080p",
        width: 1920,
        height: 1080,
        video_kbps: 5000,
        audio_kbps: 192,
    },
    Profile {
        name: "4K",
        width: 3840,
        height: 2160,
        video_kbps: 12000,
        audio_kbps: 192,
    },
];

/// The profile of a name as the API accepts it (`720p`, `4K`; case does not matter).
pub fn profile(name: &str) -> Option<Profile> {
    let name = name.trim();
    let name = if name.eq_ignore_ascii_case("2160p") {
        "4K"
    } else {
        name
    };
    PROFILES
        .iter()
        .copied()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

pub fn profile_names() -> String {
    PROFILES.map(|p| p.name).join(", ")
}

/// Segment length in seconds; every rung puts a keyframe on each boundary so players can switch
/// rungs at any segment.
pub const SEGMENT_SECONDS: u32 = 4;

/// A representation's init segment in the ladder's output (ffmpeg fills in template fields).
pub fn init_file(version: &str, representation: &str) -> String {
    format!("init-{version}-{representation}.m4s")
}

/// A representation's media segment `number` (from 1, five digits) in the ladder's output.
pub fn segment_file(version: &str, representation: &str, number: &str) -> String {
    format!("seg-{version}-{representation}-{number}.m4s")
}

/// One encoded rendition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    /// The source's own video, copied rather than encoded (see `vod::passthrough`).
    #[serde(default)]
    pub passthrough: bool,
}

/// `x` rounded to an even number (x264 wants even sizes), but never past `limit`, the source's
/// own size, so rounding never upscales.
fn even(x: f64, limit: f64) -> u32 {
    let rounded = (x / 2.0).round() * 2.0;
    let floor = (limit / 2.0).floor() * 2.0;
    rounded.min(floor).clamp(2.0, 16384.0) as u32
}

/// The configured ceiling for the video bitrate of a rung `height` lines high.
pub fn cap_for_height(config: &Config, height: u32) -> u32 {
    match height {
        h if h >= 2160 => config.max_bitrate_4k,
        h if h >= 1080 => config.max_bitrate_1080p,
        h if h >= 480 => config.max_bitrate_720p,
        _ => config.max_bitrate_360p,
    }
}

/// The rungs a source of `display` size gets from the requested profiles: those whose height fits
/// in the source's short side, smallest first. When none fits, the smallest requested profile is
/// kept at the source's own size, so every video gets at least one rendition and none is upscaled.
pub fn plan_rungs(requested: &[Profile], display: (i64, i64), config: &Config) -> Vec<Rung> {
    let (sw, sh) = (display.0.max(2) as f64, display.1.max(2) as f64);
    let landscape = sw >= sh;
    let short = sw.min(sh);
    let mut wanted: Vec<Profile> = requested.to_vec();
    wanted.sort_by_key(|p| p.height);
    wanted.dedup_by_key(|p| p.height);
    let mut picked: Vec<(Profile, f64)> = wanted
        .iter()
        .filter(|p| f64::from(p.height) <= short)
        .map(|p| (*p, f64::from(p.height)))
        .collect();
    if picked.is_empty()
        && let Some(p) = wanted.first()
    {
        picked.push((*p, short));
    }
    let mut rungs: Vec<Rung> = Vec::new();
    for (p, target) in picked {
        let (w, h) = if landscape {
            (even(sw * target / sh, sw), even(target, sh))
        } else {
            (even(target, sw), even(sh * target / sw, sh))
        };
        let full = f64::from(p.width) * f64::from(p.height);
        let share = (f64::from(w) * f64::from(h) / full).min(1.0);
        let kbps =
            (f64::from(p.video_kbps.min(cap_for_height(config, p.height))) * share).round() as u32;
        if rungs.iter().any(|r| r.width == w && r.height == h) {
            continue;
        }
        rungs.push(Rung {
            name: p.name.to_string(),
            width: w,
            height: h,
            video_kbps: kbps.max(100),
            audio_kbps: p.audio_kbps,
            passthrough: false,
        });
    }
    rungs
}

/// A constant frame rate for the ladder: the source's, within 1..=60 (a variable or absurd rate
/// becomes a steady one, so segments and keyframes line up).
pub fn output_fps(probed: Option<f64>) -> f64 {
    match probed {
        Some(f) if f.is_finite() && f >= 1.0 => {
            let f = if f > 60.0 { f / (f / 60.0).ceil() } else { f };
            (f * 1000.0).round() / 1000.0
        }
        _ => 30.0,
    }
}

pub struct LadderJob<'a> {
    pub input: &'a Path,
    pub out_dir: &'a Path,
    pub rungs: &'a [Rung],
    pub fps: f64,
    pub audio_kbps: Option<u32>,
    pub preset: &'a str,
    pub hls: bool,
    /// Put in every segment's name so a re-transcoded video never reuses a cached segment URL.
    pub version: &'a str,
}

/// `-i` for an uploaded file, read only as a local file: a name is never taken for a protocol
/// (`http:`, `concat:`), and nothing the file says can make ffmpeg open another protocol.
pub fn input_args(path: &Path) -> Vec<OsString> {
    let mut named = OsString::from("file:");
    named.push(path.as_os_str());
    vec![
        "-protocol_whitelist".into(),
        "file".into(),
        "-i".into(),
        named,
    ]
}

/// The filter graph feeding the encoded rungs (`encoded`, smallest first), each as `[v<i>]`.
///
/// Each rung is scaled from the next larger rung's picture rather than from the source: scaling a
/// 1080p picture costs about as much as encoding a small rung, and from the 720p picture the
/// smaller ones cost a fraction of that (measured in docs/BENCHMARKS.md, with the SSIM of the
/// result against a direct scale).
/// No `setsar=1`: scale keeps every rung's display aspect exactly the source's through the sample
/// aspect ratio, and DASH requires one aspect ratio per adaptation set (even rounding would
/// otherwise make 640x360 and 854x480 differ).
fn scale_graph(job: &LadderJob<'_>, encoded: &[usize]) -> String {
    let copied = job.rungs.iter().any(|r| r.passthrough);
    // Beside a copied rung, frames go to the encoders exactly as decoded (the source's rate is
    // steady), so their keyframes can land on the source's own.
    let mut graph = if copied {
        "[0:v:0]format=yuv420p".to_string()
    } else {
        format!("[0:v:0]fps={},format=yuv420p", job.fps)
    };
    for (k, i) in encoded.iter().enumerate().rev() {
        let r = &job.rungs[*i];
        if k + 1 < encoded.len() {
            graph.push_str(&format!(";[c{}]", encoded[k + 1]));
        } else {
            graph.push(',');
        }
        graph.push_str(&format!("scale={}:{}:flags=bicubic", r.width, r.height));
        if k > 0 {
            graph.push_str(&format!(",split=2[v{i}][c{i}]"));
        } else {
            graph.push_str(&format!("[v{i}]"));
        }
    }
    graph
}

/// The ffmpeg arguments for the whole ladder in one run.
pub fn ladder_args(job: &LadderJob<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-hide_banner", "-nostdin", "-nostats", "-v", "error", "-y"]
        .map(OsString::from)
        .to_vec();
    args.extend(input_args(job.input));
    let mut s = |v: String| args.push(v.into());
    let has_video = !job.rungs.is_empty();
    let encoded: Vec<usize> = (0..job.rungs.len())
        .filter(|i| !job.rungs[*i].passthrough)
        .collect();
    if !encoded.is_empty() {
        s("-filter_complex".into());
        s(scale_graph(job, &encoded));
    }
    for i in 0..job.rungs.len() {
        s("-map".into());
        s(if job.rungs[i].passthrough {
            "0:v:0".into()
        } else {
            format!("[v{i}]")
        });
    }
    if job.audio_kbps.is_some() {
        s("-map".into());
        s("0:a:0".into());
    }
    if has_video {
        let segment_frames = (job.fps * f64::from(SEGMENT_SECONDS)).round().max(1.0) as u32;
        let copied = job.rungs.iter().position(|r| r.passthrough);
        let (gop, keyframes) = match copied {
            // Only the source's keyframes, which fall at least once a segment: x264's own
            // interval is set past that.
            Some(_) => (segment_frames * 2, "source".to_string()),
            None => (
                segment_frames,
                format!("expr:gte(t,n_forced*{SEGMENT_SECONDS})"),
            ),
        };
        for v in [
            "-c:v".to_string(),
            "libx264".into(),
            "-preset".into(),
            job.preset.into(),
            "-sc_threshold".into(),
            "0".into(),
            "-g".into(),
            gop.to_string(),
            "-keyint_min".into(),
            gop.to_string(),
        ] {
            s(v);
        }
        for i in &encoded {
            let r = &job.rungs[*i];
            s(format!("-force_key_frames:v:{i}"));
            s(keyframes.clone());
            s(format!("-b:v:{i}"));
            s(format!("{}k", r.video_kbps));
            s(format!("-maxrate:v:{i}"));
            s(format!("{}k", r.video_kbps * 107 / 100));
            s(format!("-bufsize:v:{i}"));
            s(format!("{}k", r.video_kbps * 2));
        }
        if let Some(i) = copied {
            s(format!("-c:v:{i}"));
            s("copy".into());
        }
    }
    if let Some(kbps) = job.audio_kbps {
        for v in ["-c:a", "aac", "-ac", "2", "-ar", "48000", "-b:a"] {
            s(v.into());
        }
        s(format!("{kbps}k"));
    }
    let sets = match (has_video, job.audio_kbps.is_some()) {
        (true, true) => "id=0,streams=v id=1,streams=a",
        (true, false) => "id=0,streams=v",
        _ => "id=0,streams=a",
    };
    for v in [
        "-f".to_string(),
        "dash".into(),
        "-seg_duration".into(),
        SEGMENT_SECONDS.to_string(),
        "-use_template".into(),
        "1".into(),
        "-use_timeline".into(),
        "1".into(),
        "-adaptation_sets".into(),
        sets.into(),
        "-init_seg_name".into(),
        init_file(job.version, "$RepresentationID$"),
        "-media_seg_name".into(),
        segment_file(job.version, "$RepresentationID$", "$Number%05d$"),
    ] {
        s(v);
    }
    if job.hls {
        for v in ["-hls_playlist", "1", "-hls_master_name", "playlist.m3u8"] {
            s(v.into());
        }
    }
    s("-progress".into());
    s("pipe:1".into());
    args.push(job.out_dir.join("manifest.mpd").into());
    args
}

/// A size that fits in `bound` keeping the aspect ratio, never larger than the source, even.
pub fn fit(display: (i64, i64), bound: (u32, u32)) -> (u32, u32) {
    let (w, h) = (display.0.max(2) as f64, display.1.max(2) as f64);
    let f = (f64::from(bound.0) / w)
        .min(f64::from(bound.1) / h)
        .min(1.0);
    (even(w * f, w), even(h * f, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn config() -> Config {
        Config::load(&Source::from_pairs(Vec::<(String, String)>::new())).unwrap()
    }

    fn names(r: &[Rung]) -> Vec<(String, u32, u32)> {
        r.iter()
            .map(|r| (r.name.clone(), r.width, r.height))
            .collect()
    }

    #[test]
    fn never_upscales_and_keeps_one() {
        let c = config();
        let all = PROFILES.to_vec();
        let r = plan_rungs(&all, (1920, 1080), &c);
        assert_eq!(
            names(&r),
            vec![
                ("360p".into(), 640, 360),
                ("480p".into(), 854, 480),
                ("720p".into(), 1280, 720),
                ("1080p".into(), 1920, 1080)
            ]
        );
        assert_eq!(r[3].video_kbps, 5000);
        let r = plan_rungs(&all, (321, 241), &c);
        assert_eq!(names(&r), vec![("360p".into(), 320, 240)]);
        assert!(r[0].video_kbps < 800);
        // Portrait: the rung's height applies to the short side.
        let r = plan_rungs(&all, (720, 1280), &c);
        assert_eq!(r.last().map(|r| (r.width, r.height)), Some((720, 1280)));
        assert_eq!(r[0].width, 360);
    }

    #[test]
    fn bitrates_follow_the_caps() {
        let mut c = config();
        c.max_bitrate_360p = 500;
        let r = plan_rungs(&[PROFILES[0]], (640, 360), &c);
        assert_eq!(r[0].video_kbps, 500);
        assert!((8000..=15000).contains(&PROFILES[4].video_kbps));
    }

    #[test]
    fn frame_rates_are_steady() {
        assert_eq!(output_fps(None), 30.0);
        assert_eq!(output_fps(Some(120.0)), 60.0);
        assert_eq!(output_fps(Some(29.97002997)), 29.97);
        assert_eq!(output_fps(Some(f64::NAN)), 30.0);
    }

    #[test]
    fn one_command_for_every_rung() {
        let rungs = plan_rungs(&PROFILES, (1280, 720), &config());
        let args = ladder_args(&LadderJob {
            input: Path::new("in.mp4"),
            out_dir: Path::new("out"),
            rungs: &rungs,
            fps: 25.0,
            audio_kbps: Some(128),
            preset: "fast",
            hls: true,
            version: "v1",
        });
        let text: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(text.iter().filter(|a| *a == "-i").count(), 1);
        let graph = &text[text.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert_eq!(
            graph,
            "[0:v:0]fps=25,format=yuv420p,scale=1280:720:flags=bicubic,split=2[v2][c2];\
             [c2]scale=854:480:flags=bicubic,split=2[v1][c1];[c1]scale=640:360:flags=bicubic[v0]"
        );
        assert!(text.contains(&"-hls_playlist".to_string()));
        assert!(text.contains(&"id=0,streams=v id=1,streams=a".to_string()));
        assert!(text.contains(&"expr:gte(t,n_forced*4)".to_string()));
        assert!(!text.contains(&"copy".to_string()));
        assert_eq!(fit((1920, 1080), (320, 180)), (320, 180));
        assert_eq!(fit((320, 240), (1280, 720)), (320, 240));
        assert_eq!(fit((1080, 1920), (320, 180)), (102, 180));
    }

    /// The ladder's arguments as text for `rungs` of a 30 fps source.
    fn args_for(rungs: &[Rung], audio_kbps: Option<u32>) -> Vec<String> {
        ladder_args(&LadderJob {
            input: Path::new("in.mp4"),
            out_dir: Path::new("out"),
            rungs,
            fps: 30.0,
            audio_kbps,
            preset: "fast",
            hls: true,
            version: "v1",
        })
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
    }

    #[test]
    fn a_copied_top_rung_sets_the_others_keyframes() {
        let mut rungs = plan_rungs(&PROFILES, (1280, 720), &config());
        rungs[2].passthrough = true;
        let text = args_for(&rungs, Some(128));
        let after = |flag: &str| {
            let i = text
                .iter()
                .position(|a| a == flag)
                .unwrap_or_else(|| panic!("{flag}"));
            text[i + 1].clone()
        };
        assert_eq!(after("-c:v:2"), "copy");
        // ffmpeg applies the last per-stream option that matches a stream.
        let position = |flag: &str| text.iter().position(|a| a == flag).unwrap();
        assert!(position("-c:v:2") > position("-c:v"));
        assert_eq!(after("-force_key_frames:v:0"), "source");
        assert_eq!(after("-force_key_frames:v:1"), "source");
        assert!(
            !text
                .iter()
                .any(|a| a == "-force_key_frames:v:2" || a == "-b:v:2")
        );
        let graph = after("-filter_complex");
        assert_eq!(
            graph,
            "[0:v:0]format=yuv420p,scale=854:480:flags=bicubic,split=2[v1][c1];\
             [c1]scale=640:360:flags=bicubic[v0]"
        );
        let maps: Vec<&str> = text
            .iter()
            .enumerate()
            .filter(|(_, a)| *a == "-map")
            .map(|(i, _)| text[i + 1].as_str())
            .collect();
        assert_eq!(maps, ["[v0]", "[v1]", "0:v:0", "0:a:0"]);

        // A source that is the only rung: nothing to filter or encode.
        let mut one = plan_rungs(&PROFILES[..1], (640, 360), &config());
        one[0].passthrough = true;
        assert!(!args_for(&one, None).iter().any(|a| a == "-filter_complex"));
    }
}
