//! Reading back the sample tables of fragments this module wrote, so that what a live window holds
//! can be measured (frame rate, keyframe spacing, media bitrate) from the segments already kept,
//! with nothing counted while packaging.

use crate::util::Reader;

/// One sample of a track as a fragment's `trun` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleEntry {
    /// Decode time in the track's timescale.
    pub decode_time: u64,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Bytes of media in `mdat`.
    pub size: u32,
    /// A sync sample (keyframe).
    pub sync: bool,
}

const TRUN_DATA_OFFSET: u32 = 0x0001;
const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x0004;
const TRUN_DURATION: u32 = 0x0100;
const TRUN_SIZE: u32 = 0x0200;
const TRUN_FLAGS: u32 = 0x0400;
const TRUN_COMPOSITION: u32 = 0x0800;
/// `sample_is_non_sync_sample` in a sample's flags.
const NON_SYNC: u32 = 0x0001_0000;

/// Calls `visit` with every sample of every track in `data`, a run of `moof` + `mdat` fragments
/// (a segment, or a part), with the track's id, in order. Reading stops at the first box that
/// does not parse; what was read before it is still visited. Samples whose `trun` leaves out a
/// duration or size get 0 there (`fragment` always writes both).
pub fn read_samples(data: &[u8], mut visit: impl FnMut(u32, SampleEntry)) {
    let mut r = Reader::new(data);
    while let Some((kind, body)) = next_box(&mut r) {
        if &kind == b"moof" {
            read_moof(body, &mut visit);
        }
    }
}

/// The next box: its type and body. `None` at the end or on a size that does not fit.
fn next_box<'a>(r: &mut Reader<'a>) -> Option<([u8; 4], &'a [u8])> {
    let size = r.u32()?;
    let kind: [u8; 4] = r.bytes(4)?.try_into().ok()?;
    let body = match size {
        // Extends to the end of the enclosing data.
        0 => r.bytes(r.remaining())?,
        1 => {
            let large = usize::try_from(r.u64()?).ok()?;
            r.bytes(large.checked_sub(16)?)?
        }
        n => r.bytes(usize::try_from(n).ok()?.checked_sub(8)?)?,
    };
    Some((kind, body))
}

fn read_moof(moof: &[u8], visit: &mut impl FnMut(u32, SampleEntry)) {
    let mut r = Reader::new(moof);
    while let Some((kind, body)) = next_box(&mut r) {
        if &kind == b"traf" {
            read_traf(body, visit);
        }
    }
}

fn read_traf(traf: &[u8], visit: &mut impl FnMut(u32, SampleEntry)) -> Option<()> {
    let mut r = Reader::new(traf);
    let mut track_id = None;
    let mut decode_time = 0u64;
    while let Some((kind, body)) = next_box(&mut r) {
        let mut b = Reader::new(body);
        let version_flags = b.u32()?;
        match &kind {
            b"tfhd" => track_id = Some(b.u32()?),
            b"tfdt" => {
                decode_time = if version_flags >> 24 == 1 {
                    b.u64()?
                } else {
                    u64::from(b.u32()?)
                };
            }
            b"trun" => {
                let track = track_id?;
                let flags = version_flags & 0x00FF_FFFF;
                let count = b.u32()?;
                if flags & TRUN_DATA_OFFSET != 0 {
                    b.skip(4)?;
                }
                let mut first_flags = None;
                if flags & TRUN_FIRST_SAMPLE_FLAGS != 0 {
                    first_flags = Some(b.u32()?);
                }
                for i in 0..count {
                    let duration = if flags & TRUN_DURATION != 0 {
                        b.u32()?
                    } else {
                        0
                    };
                    let size = if flags & TRUN_SIZE != 0 { b.u32()? } else { 0 };
                    let sample_flags = if flags & TRUN_FLAGS != 0 {
                        Some(b.u32()?)
                    } else if i == 0 {
                        first_flags
                    } else {
                        None
                    };
                    if flags & TRUN_COMPOSITION != 0 {
                        b.skip(4)?;
                    }
                    visit(
                        track,
                        SampleEntry {
                            decode_time,
                            duration,
                            size,
                            // Without flags a sample is taken for a sync sample, as for audio.
                            sync: sample_flags.is_none_or(|f| f & NON_SYNC == 0),
                        },
                    );
                    decode_time = decode_time.saturating_add(u64::from(duration));
                }
            }
            _ => {}
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::cmaf::{Sample, TrackRun, fragment};

    fn sample(duration: u32, len: usize, sync: bool) -> Sample {
        Sample {
            duration,
            composition_offset: 3000,
            sync,
            data: Bytes::from(vec![0x11; len]),
        }
    }

    #[test]
    fn reads_back_what_fragment_writes() {
        let video = [
            sample(3000, 900, true),
            sample(3000, 120, false),
            sample(3003, 130, false),
        ];
        let audio = [sample(1024, 20, true), sample(1024, 21, true)];
        let runs = [
            TrackRun {
                track_id: 1,
                base_decode_time: 90_000,
                samples: &video,
                composition_offsets: true,
            },
            TrackRun {
                track_id: 2,
                base_decode_time: 48_000,
                samples: &audio,
                composition_offsets: false,
            },
        ];
        // Two fragments back to back, as a segment holds its parts.
        let mut data = fragment(1, &runs).to_vec();
        data.extend_from_slice(&fragment(2, &runs[..1]));
        let mut seen = Vec::new();
        read_samples(&data, |track, s| seen.push((track, s)));
        let entry = |decode_time, duration, size, sync| SampleEntry {
            decode_time,
            duration,
            size,
            sync,
        };
        assert_eq!(
            seen,
            vec![
                (1, entry(90_000, 3000, 900, true)),
                (1, entry(93_000, 3000, 120, false)),
                (1, entry(96_000, 3003, 130, false)),
                (2, entry(48_000, 1024, 20, true)),
                (2, entry(49_024, 1024, 21, true)),
                (1, entry(90_000, 3000, 900, true)),
                (1, entry(93_000, 3000, 120, false)),
                (1, entry(96_000, 3003, 130, false)),
            ]
        );
    }

    #[test]
    fn truncated_or_garbled_input_stops_quietly() {
        let video = [sample(3000, 50, true), sample(3000, 50, false)];
        let runs = [TrackRun {
            track_id: 1,
            base_decode_time: 0,
            samples: &video,
            composition_offsets: true,
        }];
        let data = fragment(1, &runs);
        for cut in 0..data.len() {
            read_samples(data.get(..cut).unwrap_or_default(), |_, _| {});
        }
        read_samples(&[0xFF; 64], |_, _| panic!("nothing to visit in garbage"));
        read_samples(&[0, 0, 0, 1, b'm', b'o', b'o', b'f'], |_, _| {
            panic!("a large size that is not there")
        });
    }
}
