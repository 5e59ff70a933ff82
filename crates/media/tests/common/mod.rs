//! Helpers shared by the integration tests: real ffmpeg/ffprobe runs and FLV tag reading.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrocast_media::flv::{FlvReader, FlvTag};

/// A fresh directory under the system temp dir, unique per test.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-media-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Encodes an H.264 (with B-frames) + AAC test FLV of `seconds` seconds.
pub fn make_flv(dir: &Path, seconds: u32) -> PathBuf {
    let out = dir.join("source.flv");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=30")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-bf", "2",
        ])
        .args(["-c:a", "aac", "-t", &seconds.to_string(), "-f", "flv"])
        .arg(&out)
        .status()
        .expect("run ffmpeg (is it installed?)");
    assert!(status.success(), "ffmpeg failed to make the test FLV");
    out
}

/// Every tag of an FLV file.
pub fn read_tags(path: &Path) -> Vec<FlvTag> {
    let data = std::fs::read(path).expect("read FLV");
    let mut reader = FlvReader::new(64 << 20);
    let mut tags = Vec::new();
    // Feed in odd-sized pieces so the incremental path is what gets tested.
    for piece in data.chunks(7919) {
        tags.extend(reader.feed(piece).expect("valid FLV"));
    }
    tags
}

/// One packet as ffprobe reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub pts_ms: i64,
    pub dts_ms: i64,
    pub keyframe: bool,
    pub size: usize,
}

/// `ffprobe -show_packets` for one stream type (`v` or `a`), times rounded to milliseconds.
pub fn probe_packets(input: &Path, stream: &str) -> Vec<Packet> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, "-show_entries"])
        .args(["packet=pts_time,dts_time,flags,size", "-of", "csv=p=0"])
        .arg(input)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        input.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let ms = |s: &str| (s.parse::<f64>().expect("time") * 1000.0).round() as i64;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Packet {
                pts_ms: ms(f[0]),
                dts_ms: ms(f[1]),
                size: f[2].parse().expect("size"),
                keyframe: f[3].starts_with('K'),
            }
        })
        .collect()
}

/// `ffprobe -show_streams` as `codec_name,codec_type,width,height` lines (HLS lists each stream
/// under its program too; duplicates are dropped); panics on any error.
pub fn probe_streams(input: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height",
        ])
        .args(["-of", "csv=p=0"])
        .arg(input)
        .output()
        .expect("run ffprobe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe complained about {}: {stderr}",
        input.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches(',').to_owned())
        .filter(|l| !l.is_empty())
        .fold(Vec::new(), |mut v: Vec<String>, l| {
            if !v.contains(&l) {
                v.push(l);
            }
            v
        })
}
