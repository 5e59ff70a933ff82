use bytes::Bytes;

use super::boxes::BoxWriter;

/// One sample of a track run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Duration in the track's timescale.
    pub duration: u32,
    /// PTS - DTS in the track's timescale.
    pub composition_offset: i32,
    /// A sync sample (keyframe).
    pub sync: bool,
    pub data: Bytes,
}

/// The samples one track contributes to a fragment.
#[derive(Debug, Clone)]
pub struct TrackRun<'a> {
    pub track_id: u32,
    /// Decode time of the first sample, in the track's timescale.
    pub base_decode_time: u64,
    pub samples: &'a [Sample],
    /// Whether to write composition offsets (video) or leave them out (audio).
    pub composition_offsets: bool,
}

const SYNC_FLAGS: u32 = 0x0200_0000;
const NON_SYNC_FLAGS: u32 = 0x0101_0000;

/// Writes `moof` + `mdat` for the given runs (empty runs are skipped). Sample data is copied
/// once here into the fragment that every viewer then shares.
pub fn fragment(sequence: u32, runs: &[TrackRun<'_>]) -> Bytes {
    // Sized up front: the fragment is kept as long as its segment is listed, and a vector grown
    // by doubling would keep up to twice the media in memory (and copy it on the way).
    let mut w = BoxWriter::with_capacity(fragment_size(runs));
    let moof = w.start(b"moof");
    let mfhd = w.start_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.end(mfhd);
    let mut offset_slots = Vec::new();
    for run in runs.iter().filter(|r| !r.samples.is_empty()) {
        let traf = w.start(b"traf");
        // default-base-is-moof: data offsets count from the start of this moof.
        let tfhd = w.start_full(b"tfhd", 0, 0x02_0000);
        w.u32(run.track_id);
        w.end(tfhd);
        let tfdt = w.start_full(b"tfdt", 1, 0);
        w.u64(run.base_decode_time);
        w.end(tfdt);
        let mut flags = 0x0001 | 0x0100 | 0x0200 | 0x0400;
        if run.composition_offsets {
            flags |= 0x0800;
        }
        // Version 1 makes composition offsets signed, which B-frame streams may need.
        let trun = w.start_full(b"trun", 1, flags);
        w.u32(run.samples.len() as u32);
        offset_slots.push(w.buf.len());
        w.u32(0);
        for s in run.samples {
            w.u32(s.duration);
            w.u32(s.data.len() as u32);
            w.u32(if s.sync { SYNC_FLAGS } else { NON_SYNC_FLAGS });
            if run.composition_offsets {
                w.u32(s.composition_offset as u32);
            }
        }
        w.end(trun);
        w.end(traf);
    }
    w.end(moof);
    let moof_size = w.buf.len();
    let mut data_offset = moof_size + 8;
    for (slot, run) in offset_slots
        .iter()
        .zip(runs.iter().filter(|r| !r.samples.is_empty()))
    {
        w.patch_u32(*slot, data_offset as u32);
        data_offset += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    let mdat = w.start(b"mdat");
    for run in runs {
        for s in run.samples {
            w.bytes(&s.data);
        }
    }
    w.end(mdat);
    debug_assert!(w.buf.len() <= w.buf.capacity());
    Bytes::from(w.buf)
}

/// The exact size of the fragment [`fragment`] writes for `runs`.
fn fragment_size(runs: &[TrackRun<'_>]) -> usize {
    // moof header + mfhd, then per track: traf header, tfhd, tfdt (v1), trun header and count and
    // data offset, then 12 or 16 bytes per sample; mdat header and the samples' bytes.
    let mut size = 8 + 16 + 8;
    for run in runs.iter().filter(|r| !r.samples.is_empty()) {
        let per_sample = if run.composition_offsets { 16 } else { 12 };
        size += 8 + 16 + 20 + 20 + per_sample * run.samples.len();
        size += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize, sync: bool) -> Sample {
        Sample {
            duration: 3000,
            composition_offset: -3000,
            sync,
            data: Bytes::from(vec![0xAB; len]),
        }
    }

    #[test]
    fn size_is_computed_exactly() {
        let video = [sample(5000, true), sample(700, false), sample(650, false)];
        let audio = [sample(300, true), sample(310, true)];
        let cases: [&[TrackRun<'_>]; 3] = [
            &[
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
            ],
            &[TrackRun {
                track_id: 2,
                base_decode_time: 0,
                samples: &audio,
                composition_offsets: false,
            }],
            &[
                TrackRun {
                    track_id: 1,
                    base_decode_time: 0,
                    samples: &[],
                    composition_offsets: true,
                },
                TrackRun {
                    track_id: 2,
                    base_decode_time: 0,
                    samples: &audio,
                    composition_offsets: false,
                },
            ],
        ];
        for runs in cases {
            assert_eq!(fragment(7, runs).len(), fragment_size(runs));
        }
    }
}
