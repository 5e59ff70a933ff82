//! Measurements of a live window, read from its complete segments' sample tables after the fact,
//! so the packaging path counts nothing for them.

use crate::cmaf::{VIDEO_TIMESCALE, read_samples};

use super::segmenter::VIDEO_TRACK;

/// What a window's complete segments hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    /// Complete segments measured.
    pub segments: usize,
    /// Seconds of media they cover.
    pub seconds: f64,
    /// Bytes of audio and video frames in them, fragment headers left out.
    pub media_bytes: u64,
    /// Video frames in them.
    pub video_frames: u64,
    /// Video frames per second of video.
    pub frame_rate: Option<f64>,
    /// Mean time from one keyframe to the next; `None` with fewer than two keyframes.
    pub keyframe_interval: Option<f64>,
}

impl WindowStats {
    /// Measures complete segments given as (duration in 90 kHz ticks, data), oldest first.
    /// `None` without a segment.
    pub fn measure<'a>(segments: impl IntoIterator<Item = (u64, &'a [u8])>) -> Option<Self> {
        let timescale = f64::from(VIDEO_TIMESCALE);
        let mut count = 0usize;
        let mut ticks = 0u64;
        let mut media_bytes = 0u64;
        let mut video_frames = 0u64;
        let mut video_ticks = 0u64;
        let mut keyframes = 0u64;
        let (mut first_key, mut last_key) = (None, 0u64);
        for (duration, data) in segments {
            count += 1;
            ticks = ticks.saturating_add(duration);
            read_samples(data, |track, s| {
                media_bytes = media_bytes.saturating_add(u64::from(s.size));
                if track != VIDEO_TRACK {
                    return;
                }
                video_frames += 1;
                video_ticks = video_ticks.saturating_add(u64::from(s.duration));
                if s.sync {
                    keyframes += 1;
                    first_key.get_or_insert(s.decode_time);
                    last_key = s.decode_time;
                }
            });
        }
        if count == 0 {
            return None;
        }
        let keyframe_interval = first_key.filter(|_| keyframes >= 2).map(|first| {
            last_key.saturating_sub(first) as f64 / (keyframes - 1) as f64 / timescale
        });
        let frame_rate =
            (video_ticks > 0).then(|| video_frames as f64 * timescale / video_ticks as f64);
        Some(Self {
            segments: count,
            seconds: ticks as f64 / timescale,
            media_bytes,
            video_frames,
            frame_rate,
            keyframe_interval,
        })
    }

    /// Bits per second of audio and video frames.
    pub fn media_bps(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.media_bytes as f64 * 8.0 / self.seconds)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::flv::{Frame, MediaItem, Track, VideoCodec, VideoConfig};
    use crate::hls::{Segmenter, SegmenterConfig};

    fn video(dts_ms: u64, keyframe: bool, len: usize) -> MediaItem {
        MediaItem::Frame(Frame {
            track: Track::Video,
            dts_ms,
            cts_ms: 0,
            keyframe,
            data: Bytes::from(vec![0x22; len]),
        })
    }

    /// 25 fps with a keyframe every half second, cut into segments of at least a second: the
    /// keyframe spacing is measured, not taken from the segments' length.
    #[test]
    fn frame_rate_keyframes_and_bytes_of_the_window() {
        let mut seg = Segmenter::new(SegmenterConfig {
            target_duration_ms: 1000,
            part_target_ms: 200,
            ..SegmenterConfig::default()
        });
        seg.push(MediaItem::VideoConfig(VideoConfig {
            codec: VideoCodec::Avc,
            record: Bytes::from_static(&[1, 0x42, 0, 0x1E, 0xFF, 0xE0, 0]),
            width: 320,
            height: 180,
            codec_string: "avc1.42001E".into(),
        }));
        for i in 0..=250u64 {
            seg.push(video(i * 40, i % 12 == 0, 1000));
        }
        let windows: Vec<(u64, Bytes)> = seg
            .segments()
            .iter()
            .map(|s| (s.duration, s.data.clone()))
            .collect();
        let stats = WindowStats::measure(windows.iter().map(|(d, b)| (*d, &b[..])));
        let Some(stats) = stats else {
            panic!("segments were cut")
        };
        assert_eq!(stats.segments, 6);
        let frames = (stats.seconds * 25.0).round() as u64;
        assert_eq!(stats.video_frames, frames);
        assert_eq!(stats.media_bytes, frames * 1000);
        assert_eq!(stats.frame_rate, Some(25.0));
        // Every twelfth frame: 0.48 s apart, though segments run 1.44 s.
        assert!(
            stats
                .keyframe_interval
                .is_some_and(|k| (k - 0.48).abs() < 1e-9)
        );
        assert!((stats.seconds / 6.0 - 1.44).abs() < 1e-9, "{stats:?}");
        assert_eq!(stats.media_bps(), Some(25.0 * 1000.0 * 8.0));
        assert_eq!(WindowStats::measure(std::iter::empty()), None);
    }
}
