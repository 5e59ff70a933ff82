//! FLV tag bodies (as RTMP delivers them) to codec configurations and access units.

mod aac;
mod avc;
mod hevc;
mod reader;

use bytes::Bytes;

pub use aac::AudioConfig;
pub use reader::{FlvReader, FlvTag};

use crate::rtmp::amf0::{self, Amf0Value};
use crate::util::Reader;

/// Video codecs the packager can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Avc,
    Hevc,
}

/// A video decoder configuration (from a sequence header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    pub codec: VideoCodec,
    /// The AVCDecoderConfigurationRecord or HEVCDecoderConfigurationRecord, as sent.
    pub record: Bytes,
    /// Display size after cropping; 0 when the SPS could not be read.
    pub width: u32,
    pub height: u32,
    /// RFC 6381 codec string for playlists, e.g. `avc1.64001F` or `hvc1.1.6.L93.B0`.
    pub codec_string: String,
}

/// Which track a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Video,
    Audio,
}

/// One access unit: a video picture (length-prefixed NAL units) or a raw AAC frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub track: Track,
    /// Decode timestamp in milliseconds.
    pub dts_ms: u64,
    /// Composition offset (PTS - DTS) in milliseconds; negative values do occur.
    pub cts_ms: i32,
    /// A random access point (IDR/IRAP); always true for audio.
    pub keyframe: bool,
    pub data: Bytes,
}

/// What one FLV tag body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaItem {
    VideoConfig(VideoConfig),
    AudioConfig(AudioConfig),
    Frame(Frame),
    /// The encoder ended the video sequence.
    EndOfSequence,
}

/// Malformed or unsupported FLV content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("FLV tag truncated")]
    Truncated,
    #[error("unsupported codec: {0}")]
    Unsupported(String),
    #[error("invalid decoder configuration: {0}")]
    BadConfig(&'static str),
    #[error("not an FLV stream")]
    NotFlv,
    #[error("FLV tag of {0} bytes exceeds the limit")]
    TagTooLarge(u32),
}

const AVC_CODEC_ID: u8 = 7;
const HEVC_LEGACY_CODEC_ID: u8 = 12;

/// Parses a video tag body. `Ok(None)` means the tag carries nothing to package
/// (command frames, metadata, empty frames).
pub fn parse_video(timestamp_ms: u64, payload: &Bytes) -> Result<Option<MediaItem>, FlvError> {
    let mut r = Reader::new(payload);
    let b0 = r.u8().ok_or(FlvError::Truncated)?;
    let enhanced = b0 & 0x80 != 0;
    let frame_type = (b0 >> 4) & 0x07;
    // Frame type 5 is a command/info frame with no picture.
    if frame_type == 5 {
        return Ok(None);
    }
    let keyframe = frame_type == 1 || frame_type == 4;
    let (codec, packet_type, has_cts) = if enhanced {
        let fourcc = r.bytes(4).ok_or(FlvError::Truncated)?;
        let codec = match fourcc {
            b"avc1" => VideoCodec::Avc,
            b"hvc1" => VideoCodec::Hevc,
            other => {
                return Err(FlvError::Unsupported(
                    String::from_utf8_lossy(other).into_owned(),
                ));
            }
        };
        // Enhanced RTMP packet types: 0 start, 1 frames with CTS, 2 end, 3 frames without CTS.
        match b0 & 0x0F {
            0 => (codec, 0, false),
            1 => (codec, 1, true),
            2 => (codec, 2, false),
            3 => (codec, 1, false),
            _ => return Ok(None),
        }
    } else {
        let codec = match b0 & 0x0F {
            AVC_CODEC_ID => VideoCodec::Avc,
            HEVC_LEGACY_CODEC_ID => VideoCodec::Hevc,
            other => return Err(FlvError::Unsupported(format!("FLV video codec id {other}"))),
        };
        let packet_type = r.u8().ok_or(FlvError::Truncated)?;
        (codec, packet_type, true)
    };
    let cts_ms = if has_cts {
        let raw = r.u24().ok_or(FlvError::Truncated)?;
        // Sign-extend the 24-bit composition time.
        ((raw << 8) as i32) >> 8
    } else {
        0
    };
    let body = payload.slice(r.position()..);
    match packet_type {
        0 => {
            let config = match codec {
                VideoCodec::Avc => avc::parse_config(body)?,
                VideoCodec::Hevc => hevc::parse_config(body)?,
            };
            Ok(Some(MediaItem::VideoConfig(config)))
        }
        1 => {
            if body.is_empty() {
                return Ok(None);
            }
            Ok(Some(MediaItem::Frame(Frame {
                track: Track::Video,
                dts_ms: timestamp_ms,
                cts_ms,
                keyframe,
                data: body,
            })))
        }
        2 => Ok(Some(MediaItem::EndOfSequence)),
        _ => Ok(None),
    }
}

const AAC_SOUND_FORMAT: u8 = 10;

/// Parses an audio tag body (AAC only).
pub fn parse_audio(timestamp_ms: u64, payload: &Bytes) -> Result<Option<MediaItem>, FlvError> {
    let mut r = Reader::new(payload);
    let b0 = r.u8().ok_or(FlvError::Truncated)?;
    let format = b0 >> 4;
    if format != AAC_SOUND_FORMAT {
        return Err(FlvError::Unsupported(format!("FLV sound format {format}")));
    }
    let packet_type = r.u8().ok_or(FlvError::Truncated)?;
    let body = payload.slice(r.position()..);
    match packet_type {
        0 => Ok(Some(MediaItem::AudioConfig(aac::parse_config(body)?))),
        1 if !body.is_empty() => Ok(Some(MediaItem::Frame(Frame {
            track: Track::Audio,
            dts_ms: timestamp_ms,
            cts_ms: 0,
            keyframe: true,
            data: body,
        }))),
        _ => Ok(None),
    }
}

/// The `onMetaData` object of a script tag, with or without the `@setDataFrame` wrapper that
/// RTMP publishers add.
pub fn script_metadata(payload: &[u8]) -> Option<Amf0Value> {
    let values = amf0::decode_all(payload).ok()?;
    let mut it = values.into_iter().peekable();
    if it.peek().and_then(Amf0Value::as_str) == Some("@setDataFrame") {
        it.next();
    }
    if it.next()?.as_str()? != "onMetaData" {
        return None;
    }
    it.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_composition_time() {
        let p = Bytes::from_static(&[0x27, 1, 0xFF, 0xFF, 0xDF, 0, 0, 0, 1, 0x41]);
        let Ok(Some(MediaItem::Frame(f))) = parse_video(100, &p) else {
            panic!("frame expected");
        };
        assert_eq!(f.cts_ms, -33);
        assert!(!f.keyframe);
    }
}
