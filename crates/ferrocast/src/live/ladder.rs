//! The live bitrate ladder as data: which renditions a source gets, the ffmpeg command that
//! encodes them, and how the master playlist orders them. No processes here, so all of it is
//! unit-tested.

use ferrocast_media::hls::Variant;

use crate::config::Config;
use crate::models::Quality;

/// One rung of the seed's ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Also the rendition's directory under `/hls/{stream_id}/`.
    pub name: &'static str,
    pub quality: Quality,
    pub width: u32,
    pub height: u32,
    /// The seed's bitrate range, kbps.
    pub min_kbps: u32,
    pub max_kbps: u32,
}

/// From the lowest rung up.
pub const RUNGS: [Rung; 4] = [
    Rung {
        name: "360p",
        quality: Quality::P360,
        width: 640,
        height: 360,
        min_kbps: 800,
        max_kbps: 1200,
    },
    Rung {
        name: "720p",
        quality: Quality::P720,
        width: 1280,
        height: 720,
        min_kbps: 2000,
        max_kbps: 3000,
    },
    Rung {
        name: "1080p",
        quality: Quality::P1080,
        width: 1920,
        height: 1080,
        min_kbps: 4000,
        max_kbps: 6000,
    },
    Rung {
        name: "4K",
        quality: Quality::K4,
        width: 3840,
        height: 2160,
        min_kbps: 8000,
        max_kbps: 15000,
    },
];

/// A rung as it will be encoded for one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub rung: Rung,
    /// Average video bitrate asked of x264, kbps.
    pub bitrate_kbps: u32,
    /// VBV ceiling, kbps.
    pub maxrate_kbps: u32,
}

/// The rungs a source of `source_height` lines gets, lowest first. A rung as tall as the source
/// or taller is dropped: the untouched source already serves that quality better than an
/// upscale or a same-size re-encode would.
pub fn plan(config: &Config, source_height: u32) -> Vec<Encoding> {
    RUNGS
        .iter()
        .filter(|r| r.height < source_height)
        .map(|r| {
            let cap = match r.quality {
                Quality::P360 => config.max_bitrate_360p,
                Quality::P720 => config.max_bitrate_720p,
                Quality::P1080 => config.max_bitrate_1080p,
                _ => config.max_bitrate_4k,
            };
            // The operator's MAX_BITRATE_* wins over the seed's range when it is lower.
            Encoding {
                rung: *r,
                bitrate_kbps: r.min_kbps.min(cap),
                maxrate_kbps: r.max_kbps.min(cap),
            }
        })
        .collect()
}

/// ffmpeg's arguments: FLV on stdin, one FLV output per encoding on `outputs` (same order).
///
/// Keyframes are forced exactly where the source has them and x264 may add none of its own
/// (no scene cuts, a GOP longer than any sane source's), so every rendition's segmenter cuts at
/// the same instants as the source's and the media sequence numbers line up. Audio is copied:
/// it is a small share of the bits and re-encoding it would only cost CPU and drift.
pub fn ffmpeg_args(encodings: &[Encoding], preset: &str, outputs: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        // The FIFO outputs exist before ffmpeg opens them.
        "-y",
        "-loglevel",
        "error",
        // Enough probing to see both tracks' configurations (sent first) without waiting
        // seconds of live input before the first output.
        "-analyzeduration",
        "500000",
        // Keep the source's timestamps so rendition segments start where the source's do.
        "-copyts",
        "-f",
        "flv",
        "-i",
        "pipe:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (e, out) in encodings.iter().zip(outputs) {
        let r = e.rung;
        a.extend(
            [
                "-map",
                "0:v:0",
                "-map",
                "0:a:0?",
                "-vf",
                // Fits the box whatever the source's aspect ratio; x264 needs even sizes.
                &format!(
                    "scale=w={}:h={}:force_original_aspect_ratio=decrease:force_divisible_by=2",
                    r.width, r.height
                ),
                "-c:v",
                "libx264",
                "-preset",
                preset,
                "-tune",
                "zerolatency",
                "-pix_fmt",
                "yuv420p",
                "-b:v",
                &format!("{}k", e.bitrate_kbps),
                "-maxrate",
                &format!("{}k", e.maxrate_kbps),
                "-bufsize",
                &format!("{}k", e.maxrate_kbps),
                "-force_key_frames",
                "source",
                "-sc_threshold",
                "0",
                "-g",
                "100000",
                "-c:a",
                "copy",
                "-f",
                "flv",
                "-flvflags",
                "no_duration_filesize",
                out,
            ]
            .iter()
            .map(|s| s.to_string()),
        );
    }
    a
}

/// Orders the master playlist's variants. `source` is the passthrough; `renditions` are the
/// encoded rungs, any order, each with its quality.
///
/// - `auto`: every variant, highest bandwidth first, so the source leads. Players that start
///   with the first entry (Safari) start sharp; hls.js and others measure and switch.
/// - a fixed quality: the rendition of that quality first (the source when the source is that
///   quality, or when no rung matches, e.g. 1080p asked of a 720p source), then the rest by
///   bandwidth. Every player starts there, and they can still step down when the network
///   cannot keep up, which a list with one entry would forbid.
pub fn order_variants(
    quality: Quality,
    source: Variant,
    source_height: Option<u32>,
    mut renditions: Vec<(Quality, Variant)>,
) -> Vec<Variant> {
    renditions.sort_by_key(|r| std::cmp::Reverse(r.1.bandwidth));
    let wanted = rung_height(quality);
    let first = match wanted {
        Some(h) if source_height == Some(h) => None,
        Some(_) => renditions.iter().position(|(q, _)| *q == quality),
        None => None,
    };
    let mut out = Vec::with_capacity(renditions.len() + 1);
    match first {
        Some(i) => {
            let (_, v) = renditions.remove(i);
            out.push(v);
            out.push(source);
        }
        None => out.push(source),
    }
    out.extend(renditions.into_iter().map(|(_, v)| v));
    out
}

fn rung_height(q: Quality) -> Option<u32> {
    RUNGS.iter().find(|r| r.quality == q).map(|r| r.height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::load(&Source::from_pairs(pairs.iter().copied())).expect("config")
    }

    fn names(e: &[Encoding]) -> Vec<&str> {
        e.iter().map(|e| e.rung.name).collect()
    }

    #[test]
    fn never_at_or_above_the_source() {
        let c = config(&[]);
        assert!(plan(&c, 360).is_empty());
        assert!(plan(&c, 240).is_empty());
        assert_eq!(names(&plan(&c, 720)), ["360p"]);
        assert_eq!(names(&plan(&c, 1080)), ["360p", "720p"]);
        assert_eq!(names(&plan(&c, 2160)), ["360p", "720p", "1080p"]);
        assert_eq!(names(&plan(&c, 4320)), ["360p", "720p", "1080p", "4K"]);
    }

    #[test]
    fn bitrates_in_the_seed_ranges_and_capped() {
        let c = config(&[]);
        for e in plan(&c, 4320) {
            assert!(e.rung.min_kbps <= e.bitrate_kbps && e.bitrate_kbps <= e.rung.max_kbps);
            assert!(e.bitrate_kbps <= e.maxrate_kbps && e.maxrate_kbps <= e.rung.max_kbps);
        }
        let c = config(&[("MAX_BITRATE_360P", "1000"), ("MAX_BITRATE_720P", "1500")]);
        let p = plan(&c, 1080);
        assert_eq!((p[0].bitrate_kbps, p[0].maxrate_kbps), (800, 1000));
        assert_eq!((p[1].bitrate_kbps, p[1].maxrate_kbps), (1500, 1500));
    }

    #[test]
    fn command_has_one_output_per_rung() {
        let c = config(&[]);
        let p = plan(&c, 1080);
        let outs = vec!["pipe:1".to_string(), "/tmp/x/720p.flv".to_string()];
        let a = ffmpeg_args(&p, "veryfast", &outs);
        assert_eq!(a.iter().filter(|s| *s == "libx264").count(), 2);
        assert_eq!(a.last().map(String::as_str), Some("/tmp/x/720p.flv"));
        assert!(a.iter().any(|s| s.contains("w=640:h=360")));
        assert!(
            a.windows(2)
                .any(|w| w[0] == "-preset" && w[1] == "veryfast")
        );
        assert!(a.windows(2).any(|w| w[0] == "-maxrate" && w[1] == "3000k"));
    }

    fn v(uri: &str, bandwidth: u64) -> Variant {
        Variant {
            uri: uri.into(),
            bandwidth,
            average_bandwidth: None,
            codecs: String::new(),
            resolution: None,
            frame_rate: None,
        }
    }

    fn uris(v: &[Variant]) -> Vec<&str> {
        v.iter().map(|v| v.uri.as_str()).collect()
    }

    #[test]
    fn default_rendition_comes_first() {
        let rends = || {
            vec![
                (Quality::P360, v("360p", 1_000)),
                (Quality::P720, v("720p", 3_000)),
            ]
        };
        let src = || v("src", 6_000);
        let auto = order_variants(Quality::Auto, src(), Some(1080), rends());
        assert_eq!(uris(&auto), ["src", "720p", "360p"]);
        let low = order_variants(Quality::P360, src(), Some(1080), rends());
        assert_eq!(uris(&low), ["360p", "src", "720p"]);
        let same = order_variants(Quality::P1080, src(), Some(1080), rends());
        assert_eq!(uris(&same), ["src", "720p", "360p"]);
        let above = order_variants(Quality::K4, src(), Some(1080), rends());
        assert_eq!(uris(&above), ["src", "720p", "360p"]);
    }
}
