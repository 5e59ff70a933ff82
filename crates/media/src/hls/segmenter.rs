//! The segmenter state machine: access units in, CMAF parts and segments out.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::cmaf::{self, InitTrack, Sample, TrackMedia, TrackRun, VIDEO_TIMESCALE};
use crate::flv::{AudioConfig, Frame, MediaItem, Track, VideoConfig};

/// Track id of the video in the init segment and every fragment.
pub const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;
const TICKS_PER_MS: u64 = VIDEO_TIMESCALE as u64 / 1000;

/// Segmenting policy.
#[derive(Debug, Clone)]
pub struct SegmenterConfig {
    /// Segments are cut at the first keyframe at least this long after the segment start.
    pub target_duration_ms: u64,
    /// Parts are closed before they would exceed this duration.
    pub part_target_ms: u64,
    /// Complete segments kept (and listed) in the sliding window.
    pub window_segments: usize,
    /// Most recent complete segments whose parts stay listed and retrievable.
    pub part_window_segments: usize,
    /// Wall-clock Unix time (ms) of the first video sample, for `EXT-X-PROGRAM-DATE-TIME`.
    pub program_date_time_ms: Option<u64>,
    /// Media sequence number of the first segment: a rendition that joins a stream late numbers
    /// its segments like the stream's others.
    pub start_msn: u64,
    /// Joins a closed segment's parts into the one buffer that holds the segment (its parts
    /// become slices of it). Ordinary memory by default; a server passes memory it can send to
    /// sockets without copying.
    pub store: fn(&[&[u8]]) -> Bytes,
}

/// The default [`SegmenterConfig::store`]: the parts joined in ordinary memory.
pub fn join_in_memory(chunks: &[&[u8]]) -> Bytes {
    let mut buf = BytesMut::with_capacity(chunks.iter().map(|c| c.len()).sum());
    for c in chunks {
        buf.extend_from_slice(c);
    }
    buf.freeze()
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            target_duration_ms: 2000,
            part_target_ms: 333,
            window_segments: 6,
            part_window_segments: 3,
            program_date_time_ms: None,
            start_msn: 0,
            store: join_in_memory,
        }
    }
}

/// Where a segmenter's open part stands, in video decode timestamps (ms, as pushed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// The newest video frame received.
    pub newest_ms: u64,
    /// The smallest timestamp of a frame that closes the open part, or the open segment if it
    /// is a keyframe: until such a frame comes nothing new can be fetched, so a reader may wait
    /// for it.
    pub due_ms: u64,
}

/// A partial segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Index within its segment, from 0.
    pub index: usize,
    /// Duration in 90 kHz ticks.
    pub duration: u64,
    /// Starts with a keyframe.
    pub independent: bool,
    /// `moof` + `mdat`.
    pub data: Bytes,
}

impl Part {
    pub fn duration_secs(&self) -> f64 {
        self.duration as f64 / f64::from(VIDEO_TIMESCALE)
    }
}

/// A complete segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Media sequence number.
    pub msn: u64,
    /// Duration in 90 kHz ticks.
    pub duration: u64,
    /// Decode time of the first video sample, in 90 kHz ticks.
    pub start: u64,
    pub program_date_time_ms: Option<u64>,
    /// The segment's parts (emptied once the segment leaves the part window).
    pub parts: Vec<Part>,
    /// The parts' bytes back to back; the parts are slices of it.
    pub data: Bytes,
}

impl Segment {
    pub fn duration_secs(&self) -> f64 {
        self.duration as f64 / f64::from(VIDEO_TIMESCALE)
    }
}

/// What a push made available, so the server can wake blocked playlist requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Produced {
    Init,
    Part { msn: u64, index: usize },
    Segment { msn: u64 },
}

#[derive(Debug)]
struct PendingVideo {
    dts: u64,
    cts: i32,
    keyframe: bool,
    data: Bytes,
}

#[derive(Debug)]
struct OpenSegment {
    msn: u64,
    start: u64,
    pdt: Option<u64>,
    parts: Vec<Part>,
}

/// Turns a stream of [`MediaItem`]s into an in-memory LL-HLS window for one rendition.
#[derive(Debug)]
pub struct Segmenter {
    config: SegmenterConfig,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// The track set the init segment was written for (audio may be absent).
    audio_in_init: bool,
    init: Option<Bytes>,
    first_dts: Option<u64>,
    held: Option<PendingVideo>,
    last_video_duration: u64,
    part_video: Vec<Sample>,
    part_video_start: Option<u64>,
    part_start: u64,
    /// Audio samples (decode time in audio ticks, data) not yet in a part.
    audio_queue: VecDeque<(u64, Bytes)>,
    next_audio_dts: Option<u64>,
    open: Option<OpenSegment>,
    segments: VecDeque<Segment>,
    next_msn: u64,
    fragment_seq: u32,
    max_segment_duration: u64,
    finished: bool,
    config_changes: u64,
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        let next_msn = config.start_msn;
        Self {
            config,
            video: None,
            audio: None,
            audio_in_init: false,
            init: None,
            first_dts: None,
            held: None,
            last_video_duration: 0,
            part_video: Vec::new(),
            part_video_start: None,
            part_start: 0,
            audio_queue: VecDeque::new(),
            next_audio_dts: None,
            open: None,
            segments: VecDeque::new(),
            next_msn,
            fragment_seq: 0,
            max_segment_duration: 0,
            finished: false,
            config_changes: 0,
        }
    }

    pub fn config(&self) -> &SegmenterConfig {
        &self.config
    }

    /// Feeds one demuxed item. Returns what became available.
    pub fn push(&mut self, item: MediaItem) -> Vec<Produced> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        match item {
            MediaItem::VideoConfig(c) => {
                if self.init.is_none() {
                    self.video = Some(c);
                } else if self.video.as_ref() != Some(&c) {
                    self.config_changes += 1;
                }
            }
            MediaItem::AudioConfig(c) => {
                if self.init.is_none() {
                    self.audio = Some(c);
                } else if self.audio.as_ref() != Some(&c) {
                    self.config_changes += 1;
                }
            }
            MediaItem::Frame(f) => match f.track {
                Track::Video => self.push_video(f, &mut out),
                Track::Audio => self.push_audio(f),
            },
            MediaItem::EndOfSequence => {}
        }
        out
    }

    /// Closes the last part and segment (the publisher left) and marks the playlist ended.
    pub fn finish(&mut self) -> Vec<Produced> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if let Some(held) = self.held.take() {
            let duration = self.last_video_duration.max(1);
            self.part_video.push(to_sample(&held, duration));
            self.part_video_start.get_or_insert(held.dts);
            // Audio that outlasts the last picture still belongs to the stream.
            let audio_end = self
                .next_audio_dts
                .map_or(0, |d| self.audio_ticks_to_video(d));
            let end = (held.dts + duration).max(audio_end);
            self.close_part(end, &mut out);
            self.close_segment(end, &mut out);
        }
        self.finished = true;
        out
    }

    fn push_video(&mut self, f: Frame, out: &mut Vec<Produced>) {
        let dts = f.dts_ms.saturating_mul(TICKS_PER_MS);
        let cts = f.cts_ms.saturating_mul(TICKS_PER_MS as i32);
        if self.init.is_none() {
            // Playback can only start at a keyframe with a known configuration.
            if !f.keyframe || self.video.is_none() {
                return;
            }
            self.start(dts, out);
        }
        if let Some(held) = self.held.take() {
            let duration = if dts > held.dts {
                dts - held.dts
            } else {
                // Non-increasing DTS: keep the sample, give it the previous frame's length.
                self.last_video_duration.max(1)
            };
            self.last_video_duration = duration;
            self.part_video_start.get_or_insert(held.dts);
            self.part_video.push(to_sample(&held, duration));
        }
        let seg_start = self.open.as_ref().map_or(dts, |o| o.start);
        let seg_due = f.keyframe
            && !self.part_video.is_empty()
            && dts.saturating_sub(seg_start) >= self.config.target_duration_ms * TICKS_PER_MS;
        // Would the held frame overrun the part? Its duration is not known yet, so estimate it
        // from the last one plus a millisecond, the jitter of FLV's millisecond timestamps.
        let part_due = !self.part_video.is_empty()
            && dts.saturating_sub(self.part_start) + self.last_video_duration + TICKS_PER_MS
                > self.config.part_target_ms * TICKS_PER_MS;
        if seg_due {
            self.close_part(dts, out);
            self.close_segment(dts, out);
        } else if part_due {
            self.close_part(dts, out);
        }
        self.held = Some(PendingVideo {
            dts,
            cts,
            keyframe: f.keyframe,
            data: f.data,
        });
    }

    fn push_audio(&mut self, f: Frame) {
        let (Some(audio), true) = (&self.audio, self.audio_in_init) else {
            return;
        };
        let rate = u64::from(audio.sample_rate);
        let frame = u64::from(audio.frame_samples());
        let from_ts = f.dts_ms.saturating_mul(rate) / 1000;
        // Millisecond timestamps jitter around the true 1024-sample cadence; keep the cadence
        // unless the timestamp moved by more than half a frame (a real gap or jump).
        let dts = match self.next_audio_dts {
            Some(expected) if from_ts.abs_diff(expected) < frame / 2 => expected,
            _ => from_ts,
        };
        // Audio from before the first video keyframe has nothing to play against.
        if self.audio_ticks_to_video(dts) < self.first_dts.unwrap_or(0) {
            return;
        }
        self.next_audio_dts = Some(dts + frame);
        self.audio_queue.push_back((dts, f.data));
    }

    fn audio_ticks_to_video(&self, ticks: u64) -> u64 {
        let rate = self
            .audio
            .as_ref()
            .map_or(1, |a| u64::from(a.sample_rate.max(1)));
        ticks.saturating_mul(u64::from(VIDEO_TIMESCALE)) / rate
    }

    fn start(&mut self, dts: u64, out: &mut Vec<Produced>) {
        let Some(video) = &self.video else {
            return;
        };
        let mut tracks = vec![InitTrack {
            track_id: VIDEO_TRACK,
            timescale: VIDEO_TIMESCALE,
            media: TrackMedia::Video(video),
        }];
        if let Some(audio) = &self.audio {
            tracks.push(InitTrack {
                track_id: AUDIO_TRACK,
                timescale: audio.sample_rate,
                media: TrackMedia::Audio(audio),
            });
            self.audio_in_init = true;
        }
        self.init = Some(cmaf::init_segment(&tracks));
        out.push(Produced::Init);
        self.first_dts = Some(dts);
        self.part_start = dts;
        self.open_segment_at(dts);
    }

    fn open_segment_at(&mut self, start: u64) {
        let pdt = self.config.program_date_time_ms.map(|base| {
            base + start.saturating_sub(self.first_dts.unwrap_or(start)) / TICKS_PER_MS
        });
        self.open = Some(OpenSegment {
            msn: self.next_msn,
            start,
            pdt,
            parts: Vec::new(),
        });
        self.next_msn += 1;
    }

    /// Closes the open part at `end` (90 kHz): all held video plus the audio that starts
    /// before `end`.
    fn close_part(&mut self, end: u64, out: &mut Vec<Produced>) {
        let video = std::mem::take(&mut self.part_video);
        let video_base = self.part_video_start.take().unwrap_or(self.part_start);
        let mut audio: Vec<(u64, Bytes)> = Vec::new();
        while let Some((dts, _)) = self.audio_queue.front() {
            if self.audio_ticks_to_video(*dts) >= end {
                break;
            }
            if let Some(a) = self.audio_queue.pop_front() {
                audio.push(a);
            }
        }
        let frame = self
            .audio
            .as_ref()
            .map_or(1024, |a| u64::from(a.frame_samples()));
        let audio_base = audio.first().map_or(0, |(d, _)| *d);
        let audio_samples: Vec<Sample> = audio
            .iter()
            .enumerate()
            .map(|(i, (dts, data))| {
                let next = audio.get(i + 1).map(|(n, _)| *n);
                let duration = next.map_or(frame, |n| n.saturating_sub(*dts));
                Sample {
                    duration: u32::try_from(duration).unwrap_or(u32::MAX),
                    composition_offset: 0,
                    sync: true,
                    data: data.clone(),
                }
            })
            .collect();
        if video.is_empty() && audio_samples.is_empty() {
            return;
        }
        let independent = video.first().is_some_and(|s| s.sync);
        self.fragment_seq = self.fragment_seq.wrapping_add(1);
        let runs = [
            TrackRun {
                track_id: VIDEO_TRACK,
                base_decode_time: video_base,
                samples: &video,
                composition_offsets: true,
            },
            TrackRun {
                track_id: AUDIO_TRACK,
                base_decode_time: audio_base,
                samples: &audio_samples,
                composition_offsets: false,
            },
        ];
        let data = cmaf::fragment(self.fragment_seq, &runs);
        let duration = end.saturating_sub(self.part_start);
        self.part_start = end;
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let index = open.parts.len();
        open.parts.push(Part {
            index,
            duration,
            independent,
            data,
        });
        out.push(Produced::Part {
            msn: open.msn,
            index,
        });
    }

    fn close_segment(&mut self, end: u64, out: &mut Vec<Produced>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let chunks: Vec<&[u8]> = open.parts.iter().map(|p| &p.data[..]).collect();
        let data = (self.config.store)(&chunks);
        drop(chunks);
        // Re-point the parts into the segment so each byte is held once.
        let mut offset = 0;
        let parts = open
            .parts
            .into_iter()
            .map(|mut p| {
                let len = p.data.len();
                p.data = data.slice(offset..offset + len);
                offset += len;
                p
            })
            .collect();
        let duration = end.saturating_sub(open.start);
        self.max_segment_duration = self.max_segment_duration.max(duration);
        out.push(Produced::Segment { msn: open.msn });
        self.segments.push_back(Segment {
            msn: open.msn,
            duration,
            start: open.start,
            program_date_time_ms: open.pdt,
            parts,
            data,
        });
        while self.segments.len() > self.config.window_segments.max(1) {
            self.segments.pop_front();
        }
        let keep_parts = self.config.part_window_segments;
        let n = self.segments.len();
        for seg in self.segments.iter_mut().take(n.saturating_sub(keep_parts)) {
            seg.parts.clear();
        }
        if !self.finished {
            self.open_segment_at(end);
        }
    }

    /// Where the open part stands: the newest video frame received and the frame that will
    /// close the part. `None` before the first keyframe and after the end.
    pub fn next_cut(&self) -> Option<Cut> {
        if self.finished || self.init.is_none() {
            return None;
        }
        let newest = self.held.as_ref()?.dts / TICKS_PER_MS;
        // `push_video`'s test for a part that is due, solved for the frame's timestamp.
        let part = (self.part_start + self.config.part_target_ms * TICKS_PER_MS)
            .saturating_sub(self.last_video_duration + TICKS_PER_MS)
            / TICKS_PER_MS
            + 1;
        let segment = self.open.as_ref().map_or(u64::MAX, |o| {
            (o.start + self.config.target_duration_ms * TICKS_PER_MS).div_ceil(TICKS_PER_MS)
        });
        Some(Cut {
            newest_ms: newest,
            due_ms: part.min(segment),
        })
    }

    /// The init segment, once the first keyframe arrived.
    pub fn init_segment(&self) -> Option<&Bytes> {
        self.init.as_ref()
    }

    /// Complete segments in the window, oldest first.
    pub fn segments(&self) -> &VecDeque<Segment> {
        &self.segments
    }

    /// A complete segment by media sequence number.
    pub fn segment(&self, msn: u64) -> Option<&Segment> {
        let first = self.segments.front()?.msn;
        self.segments
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    /// A part of a complete or in-progress segment.
    pub fn part(&self, msn: u64, index: usize) -> Option<&Bytes> {
        if let Some(open) = self.open.as_ref().filter(|o| o.msn == msn) {
            return open.parts.get(index).map(|p| &p.data);
        }
        self.segment(msn)?.parts.get(index).map(|p| &p.data)
    }

    /// Whether a playlist would list any media: a complete segment, or with `parts` also a part
    /// of the segment in progress. A player handed an empty playlist reports an error.
    pub fn has_media(&self, parts: bool) -> bool {
        !self.segments.is_empty()
            || (parts && self.open.as_ref().is_some_and(|o| !o.parts.is_empty()))
    }

    /// Whether a playlist already answers a blocking request for `_HLS_msn`/`_HLS_part`.
    pub fn is_ready(&self, msn: u64, part: Option<usize>) -> bool {
        if self.finished || self.segments.back().is_some_and(|s| s.msn >= msn) {
            return true;
        }
        match (&self.open, part) {
            (Some(open), Some(p)) => open.msn > msn || (open.msn == msn && open.parts.len() > p),
            (Some(open), None) => open.msn > msn + 1,
            (None, _) => false,
        }
    }

    /// The in-progress segment: (msn, parts so far, program date time).
    pub(crate) fn open_segment(&self) -> Option<(u64, &[Part], Option<u64>)> {
        self.open
            .as_ref()
            .map(|o| (o.msn, o.parts.as_slice(), o.pdt))
    }

    /// If the segment being built starts at `dts_ms` (the keyframe just pushed opened it), its
    /// media sequence number and program date time.
    pub fn segment_starting_at(&self, dts_ms: u64) -> Option<(u64, Option<u64>)> {
        let open = self.open.as_ref()?;
        (open.start == dts_ms.saturating_mul(TICKS_PER_MS)).then_some((open.msn, open.pdt))
    }

    /// Media sequence number of the first segment listed.
    pub fn first_msn(&self) -> u64 {
        self.segments
            .front()
            .map(|s| s.msn)
            .or_else(|| self.open.as_ref().map(|o| o.msn))
            .unwrap_or(0)
    }

    /// `EXT-X-TARGETDURATION`: the configured target, raised if a segment ran longer (sparse
    /// keyframes), since every rounded `EXTINF` must fit.
    pub fn target_duration_secs(&self) -> u64 {
        let configured = self.config.target_duration_ms.div_ceil(1000).max(1);
        let seen = (self.max_segment_duration + u64::from(VIDEO_TIMESCALE) / 2)
            / u64::from(VIDEO_TIMESCALE);
        configured.max(seen)
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// `CODECS` for a master playlist, e.g. `avc1.64001F,mp4a.40.2`.
    pub fn codecs(&self) -> Option<String> {
        let v = self.video.as_ref()?;
        Some(
            match (&self.audio, self.audio_in_init || self.init.is_none()) {
                (Some(a), true) => format!("{},{}", v.codec_string, a.codec_string),
                _ => v.codec_string.clone(),
            },
        )
    }

    /// The video configuration the init segment was written for (before it, the latest one
    /// received). A change after the init segment is not applied, so it is not reported either.
    pub fn video_config(&self) -> Option<&VideoConfig> {
        self.video.as_ref()
    }

    /// The audio configuration of the audio track viewers get: `None` without audio, and when
    /// the audio's configuration came only after the init segment was written without it.
    pub fn audio_config(&self) -> Option<&AudioConfig> {
        self.audio
            .as_ref()
            .filter(|_| self.audio_in_init || self.init.is_none())
    }

    /// Video width and height, when known.
    pub fn resolution(&self) -> Option<(u32, u32)> {
        self.video
            .as_ref()
            .map(|v| (v.width, v.height))
            .filter(|(w, h)| *w > 0 && *h > 0)
    }

    /// Peak and average bits per second over the window's segments.
    pub fn bandwidth(&self) -> Option<(u64, u64)> {
        let mut peak = 0u64;
        let (mut bytes, mut ticks) = (0u64, 0u64);
        for s in &self.segments {
            let len = s.data.len() as u64;
            if let Some(bps) = (len * 8 * u64::from(VIDEO_TIMESCALE)).checked_div(s.duration) {
                peak = peak.max(bps);
            }
            bytes += len;
            ticks += s.duration;
        }
        (ticks > 0).then(|| (peak, bytes * 8 * u64::from(VIDEO_TIMESCALE) / ticks))
    }

    /// Decoder configuration changes seen after the init segment was written (not applied).
    pub fn ignored_config_changes(&self) -> u64 {
        self.config_changes
    }
}

fn to_sample(p: &PendingVideo, duration: u64) -> Sample {
    Sample {
        duration: u32::try_from(duration).unwrap_or(u32::MAX),
        composition_offset: p.cts,
        sync: p.keyframe,
        data: p.data.clone(),
    }
}
