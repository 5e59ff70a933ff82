//! The external media programs (ffmpeg, ffprobe): found once at start, and ffprobe's reading of a
//! file turned into the fields the video model stores.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::Command;

pub struct MediaTools {
    pub ffmpeg: Option<PathBuf>,
    pub ffprobe: Option<PathBuf>,
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

impl MediaTools {
    pub fn detect() -> Self {
        Self {
            ffmpeg: find_program("ffmpeg"),
            ffprobe: find_program("ffprobe"),
        }
    }
}

/// What ffprobe says about a media file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    pub duration: Option<f64>,
    pub format_name: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// kbit/s, as the seed's model writes it.
    pub bitrate_kbps: Option<i64>,
    pub fps: Option<f64>,
    pub video_codec: Option<String>,
    pub has_video: bool,
    pub has_audio: bool,
}

#[derive(Deserialize)]
struct Out {
    #[serde(default)]
    streams: Vec<OutStream>,
    format: Option<OutFormat>,
}

#[derive(Deserialize)]
struct OutStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    #[serde(default)]
    disposition: Option<Disposition>,
}

#[derive(Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: i64,
}

#[derive(Deserialize)]
struct OutFormat {
    format_name: Option<String>,
    duration: Option<String>,
    bit_rate: Option<String>,
}

fn ratio(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then_some(n / d)
}

pub fn parse_probe(json: &[u8]) -> Option<Probe> {
    let out: Out = serde_json::from_slice(json).ok()?;
    let video = out.streams.iter().find(|s| {
        s.codec_type.as_deref() == Some("video")
            && s.disposition.as_ref().is_none_or(|d| d.attached_pic == 0)
    });
    let format = out.format.as_ref();
    Some(Probe {
        duration: format
            .and_then(|f| f.duration.as_deref())
            .and_then(|d| d.parse().ok())
            .filter(|d: &f64| d.is_finite() && *d >= 0.0),
        format_name: format.and_then(|f| f.format_name.clone()),
        width: video.and_then(|v| v.width),
        height: video.and_then(|v| v.height),
        bitrate_kbps: format
            .and_then(|f| f.bit_rate.as_deref())
            .and_then(|b| b.parse::<i64>().ok())
            .map(|b| (b + 500) / 1000),
        fps: video.and_then(|v| {
            v.avg_frame_rate
                .as_deref()
                .and_then(ratio)
                .or_else(|| v.r_frame_rate.as_deref().and_then(ratio))
        }),
        video_codec: video.and_then(|v| v.codec_name.clone()),
        has_video: video.is_some(),
        has_audio: out
            .streams
            .iter()
            .any(|s| s.codec_type.as_deref() == Some("audio")),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("ffprobe is not installed")]
    Missing,
    #[error("ffprobe could not read the file: {0}")]
    Unreadable(String),
}

/// Runs ffprobe with a time limit; a hostile file cannot hang the request.
pub async fn probe(tools: &MediaTools, file: &Path) -> Result<Probe, ProbeError> {
    let ffprobe = tools.ffprobe.as_ref().ok_or(ProbeError::Missing)?;
    let child = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .map_err(|_| ProbeError::Unreadable("timed out".into()))?
        .map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(ProbeError::Unreadable(
            msg.lines()
                .last()
                .unwrap_or("unknown error")
                .trim()
                .to_string(),
        ));
    }
    parse_probe(&out.stdout).ok_or_else(|| ProbeError::Unreadable("unexpected output".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ffprobe_json() {
        let json = br#"{"streams":[{"codec_type":"video","codec_name":"h264","width":640,"height":360,
            "avg_frame_rate":"30000/1001"},{"codec_type":"audio","codec_name":"aac"}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"2.002000","bit_rate":"421337"}}"#;
        let p = parse_probe(json).unwrap();
        assert_eq!(p.width, Some(640));
        assert_eq!(p.bitrate_kbps, Some(421));
        assert!((p.fps.unwrap() - 29.97).abs() < 0.01);
        assert!(p.has_audio && p.has_video);
        assert_eq!(p.duration, Some(2.002));
    }
}
