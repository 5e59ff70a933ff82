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
    /// Degrees the picture is turned for display (0, 90, 180 or 270); ffmpeg applies it when
    /// decoding, so 90 and 270 swap the displayed width and height.
    pub rotation: i64,
    /// The video stream's pixel format (`yuv420p`).
    pub pix_fmt: Option<String>,
    /// The video stream's own bitrate in kbit/s, where the container records it.
    pub video_kbps: Option<i64>,
    /// The container states one frame rate for the video and its average agrees.
    pub constant_fps: bool,
    /// The video is stored as fields (interlaced), as far as the file says.
    pub interlaced: bool,
    /// The video is the file's first video stream (no cover picture before it), so `0:v:0` in an
    /// ffmpeg command names it.
    pub video_first: bool,
}

impl Probe {
    /// Width and height as shown, after the rotation ffmpeg applies.
    pub fn display_size(&self) -> Option<(i64, i64)> {
        let (w, h) = (self.width?, self.height?);
        if w <= 0 || h <= 0 {
            return None;
        }
        Some(if self.rotation % 180 == 0 {
            (w, h)
        } else {
            (h, w)
        })
    }
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
    pix_fmt: Option<String>,
    bit_rate: Option<String>,
    field_order: Option<String>,
    #[serde(default)]
    disposition: Option<Disposition>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    #[serde(default)]
    tags: Option<StreamTags>,
}

#[derive(Deserialize)]
struct SideData {
    rotation: Option<f64>,
}

#[derive(Deserialize)]
struct StreamTags {
    rotate: Option<String>,
}

/// The display rotation of a stream, normalised to 0, 90, 180 or 270.
fn rotation_of(s: &OutStream) -> i64 {
    let raw = s
        .side_data_list
        .iter()
        .find_map(|d| d.rotation)
        .or_else(|| {
            s.tags
                .as_ref()
                .and_then(|t| t.rotate.as_deref())
                .and_then(|r| r.trim().parse().ok())
        })
        .unwrap_or(0.0);
    if !raw.is_finite() {
        return 0;
    }
    let quarter = (raw / 90.0).round() as i64;
    quarter.rem_euclid(4) * 90
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
        rotation: video.map(rotation_of).unwrap_or(0),
        pix_fmt: video.and_then(|v| v.pix_fmt.clone()),
        video_kbps: video
            .and_then(|v| v.bit_rate.as_deref())
            .and_then(|b| b.parse::<i64>().ok())
            .map(|b| (b + 500) / 1000),
        constant_fps: video.is_some_and(|v| {
            let avg = v.avg_frame_rate.as_deref().and_then(ratio);
            let stated = v.r_frame_rate.as_deref().and_then(ratio);
            matches!((avg, stated), (Some(a), Some(r)) if (a - r).abs() <= r * 1e-4)
        }),
        interlaced: video
            .is_some_and(|v| matches!(v.field_order.as_deref(), Some("tt" | "bb" | "tb" | "bt"))),
        video_first: video.is_some_and(|v| {
            out.streams
                .iter()
                .find(|s| s.codec_type.as_deref() == Some("video"))
                .is_some_and(|first| std::ptr::eq(first, v))
        }),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("ffprobe is not installed")]
    Missing,
    #[error("ffprobe could not read the file: {0}")]
    Unreadable(String),
}

/// ffprobe reading `file` with `args` (errors only on stderr): output piped, no input, and killed
/// if the caller drops it, so a time limit around it also ends the process.
pub fn ffprobe(tools: &MediaTools, args: &[&str], file: &Path) -> Option<Command> {
    let mut cmd = Command::new(tools.ffprobe.as_ref()?);
    cmd.args(["-v", "error"])
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Some(cmd)
}

/// Runs ffprobe with a time limit; a hostile file cannot hang the request.
pub async fn probe(tools: &MediaTools, file: &Path) -> Result<Probe, ProbeError> {
    let args = ["-print_format", "json", "-show_format", "-show_streams"];
    let child = ffprobe(tools, &args, file)
        .ok_or(ProbeError::Missing)?
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
            "avg_frame_rate":"30000/1001","r_frame_rate":"30000/1001","pix_fmt":"yuv420p",
            "bit_rate":"310200"},{"codec_type":"audio","codec_name":"aac"}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"2.002000","bit_rate":"421337"}}"#;
        let p = parse_probe(json).unwrap();
        assert_eq!(p.width, Some(640));
        assert_eq!(p.bitrate_kbps, Some(421));
        assert!((p.fps.unwrap() - 29.97).abs() < 0.01);
        assert!(p.has_audio && p.has_video);
        assert_eq!(p.duration, Some(2.002));
        assert_eq!(p.display_size(), Some((640, 360)));
        assert_eq!(p.video_kbps, Some(310));
        assert_eq!(p.pix_fmt.as_deref(), Some("yuv420p"));
        assert!(p.constant_fps && p.video_first && !p.interlaced);
    }

    #[test]
    fn cover_pictures_and_fields() {
        let json = br#"{"streams":[{"codec_type":"video","codec_name":"mjpeg","width":600,
            "height":600,"disposition":{"attached_pic":1}},{"codec_type":"video","codec_name":"h264",
            "width":1920,"height":1080,"field_order":"tt"}],"format":{}}"#;
        let p = parse_probe(json).unwrap();
        assert_eq!(p.video_codec.as_deref(), Some("h264"));
        assert!(!p.video_first, "the cover comes first");
        assert!(p.interlaced);
    }

    #[test]
    fn rotation_swaps_the_displayed_size() {
        let json = br#"{"streams":[{"codec_type":"video","width":1920,"height":1080,
            "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],"format":{}}"#;
        let p = parse_probe(json).unwrap();
        assert_eq!(p.rotation, 270);
        assert_eq!(p.display_size(), Some((1080, 1920)));
        let json =
            br#"{"streams":[{"codec_type":"video","width":8,"height":6,"tags":{"rotate":"180"}}]}"#;
        let p = parse_probe(json).unwrap();
        assert_eq!(p.display_size(), Some((8, 6)));
        assert!(!p.constant_fps, "no stated rate: not known to be steady");
        let json = br#"{"streams":[{"codec_type":"video","width":8,"height":6,
            "avg_frame_rate":"2997/100","r_frame_rate":"60/1"}]}"#;
        assert!(!parse_probe(json).unwrap().constant_fps);
    }
}
