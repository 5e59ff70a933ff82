use bytes::Bytes;

use super::boxes::BoxWriter;
use crate::flv::{AudioConfig, VideoCodec, VideoConfig};

/// What a track carries.
#[derive(Debug, Clone)]
pub enum TrackMedia<'a> {
    Video(&'a VideoConfig),
    Audio(&'a AudioConfig),
}

/// One track of an init segment.
#[derive(Debug, Clone)]
pub struct InitTrack<'a> {
    /// Track id (1-based, unique); fragments refer to it.
    pub track_id: u32,
    /// Ticks per second of this track's sample times.
    pub timescale: u32,
    pub media: TrackMedia<'a>,
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Writes `ftyp` + `moov` (with `mvex`, so every sample lives in later fragments).
pub fn init_segment(tracks: &[InitTrack<'_>]) -> Bytes {
    let mut w = BoxWriter::new();
    let ftyp = w.start(b"ftyp");
    w.bytes(b"iso6");
    w.u32(0);
    for brand in [b"iso6", b"cmfc", b"isom", b"mp41"] {
        w.bytes(brand);
    }
    w.end(ftyp);

    let moov = w.start(b"moov");
    let mvhd = w.start_full(b"mvhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(1000);
    w.u32(0);
    w.u32(0x0001_0000);
    w.u16(0x0100);
    w.zeros(10);
    for m in MATRIX {
        w.u32(m);
    }
    w.zeros(24);
    let next_id = tracks.iter().map(|t| t.track_id).max().unwrap_or(0) + 1;
    w.u32(next_id);
    w.end(mvhd);

    for t in tracks {
        trak(&mut w, t);
    }

    let mvex = w.start(b"mvex");
    for t in tracks {
        let trex = w.start_full(b"trex", 0, 0);
        w.u32(t.track_id);
        w.u32(1);
        w.u32(0);
        w.u32(0);
        w.u32(0);
        w.end(trex);
    }
    w.end(mvex);
    w.end(moov);
    Bytes::from(w.buf)
}

fn trak(w: &mut BoxWriter, t: &InitTrack<'_>) {
    let (is_video, width, height) = match t.media {
        TrackMedia::Video(v) => (true, v.width, v.height),
        TrackMedia::Audio(_) => (false, 0, 0),
    };
    let trak = w.start(b"trak");
    let tkhd = w.start_full(b"tkhd", 0, 3);
    w.u32(0);
    w.u32(0);
    w.u32(t.track_id);
    w.u32(0);
    w.u32(0);
    w.zeros(8);
    w.u16(0);
    w.u16(0);
    w.u16(if is_video { 0 } else { 0x0100 });
    w.u16(0);
    for m in MATRIX {
        w.u32(m);
    }
    w.u32(width << 16);
    w.u32(height << 16);
    w.end(tkhd);

    let mdia = w.start(b"mdia");
    let mdhd = w.start_full(b"mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(t.timescale);
    w.u32(0);
    w.u16(0x55C4); // "und"
    w.u16(0);
    w.end(mdhd);

    let hdlr = w.start_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(if is_video { b"vide" } else { b"soun" });
    w.zeros(12);
    w.bytes(if is_video {
        b"VideoHandler\0"
    } else {
        b"SoundHandler\0"
    });
    w.end(hdlr);

    let minf = w.start(b"minf");
    if is_video {
        let vmhd = w.start_full(b"vmhd", 0, 1);
        w.zeros(8);
        w.end(vmhd);
    } else {
        let smhd = w.start_full(b"smhd", 0, 0);
        w.zeros(4);
        w.end(smhd);
    }
    let dinf = w.start(b"dinf");
    let dref = w.start_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.start_full(b"url ", 0, 1);
    w.end(url);
    w.end(dref);
    w.end(dinf);

    let stbl = w.start(b"stbl");
    let stsd = w.start_full(b"stsd", 0, 0);
    w.u32(1);
    match t.media {
        TrackMedia::Video(v) => video_entry(w, v),
        TrackMedia::Audio(a) => audio_entry(w, a),
    }
    w.end(stsd);
    for name in [b"stts", b"stsc", b"stco"] {
        let b = w.start_full(name, 0, 0);
        w.u32(0);
        w.end(b);
    }
    let stsz = w.start_full(b"stsz", 0, 0);
    w.u32(0);
    w.u32(0);
    w.end(stsz);
    w.end(stbl);
    w.end(minf);
    w.end(mdia);
    w.end(trak);
}

fn video_entry(w: &mut BoxWriter, v: &VideoConfig) {
    let (entry, config) = match v.codec {
        VideoCodec::Avc => (b"avc1", b"avcC"),
        VideoCodec::Hevc => (b"hvc1", b"hvcC"),
    };
    let e = w.start(entry);
    w.zeros(6);
    w.u16(1);
    w.zeros(16);
    w.u16(u16::try_from(v.width).unwrap_or(u16::MAX));
    w.u16(u16::try_from(v.height).unwrap_or(u16::MAX));
    w.u32(0x0048_0000);
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1);
    w.zeros(32);
    w.u16(0x0018);
    w.u16(0xFFFF);
    let c = w.start(config);
    w.bytes(&v.record);
    w.end(c);
    w.end(e);
}

fn audio_entry(w: &mut BoxWriter, a: &AudioConfig) {
    let e = w.start(b"mp4a");
    w.zeros(6);
    w.u16(1);
    w.zeros(8);
    w.u16(u16::from(a.channels.max(1)));
    w.u16(16);
    w.u32(0);
    // 16.16 fixed point; rates above 65535 Hz do not fit, and the esds carries the real rate.
    w.u32(if a.sample_rate < 65536 {
        a.sample_rate << 16
    } else {
        0
    });

    let esds = w.start_full(b"esds", 0, 0);
    let asc = &a.asc;
    let dsi_len = asc.len();
    let dcd_len = 13 + descriptor_len(dsi_len);
    let es_len = 3 + descriptor_len(dcd_len) + descriptor_len(1);
    descriptor_header(w, 0x03, es_len);
    w.u16(0);
    w.u8(0);
    descriptor_header(w, 0x04, dcd_len);
    w.u8(0x40); // MPEG-4 audio
    w.u8(0x15); // audio stream, upstream 0, reserved 1
    w.bytes(&[0, 0, 0]);
    w.u32(0);
    w.u32(0);
    descriptor_header(w, 0x05, dsi_len);
    w.bytes(asc);
    descriptor_header(w, 0x06, 1);
    w.u8(0x02);
    w.end(esds);
    w.end(e);
}

/// Total size of a descriptor with `len` payload bytes (tag + length bytes + payload).
fn descriptor_len(len: usize) -> usize {
    1 + size_bytes(len) + len
}

fn size_bytes(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        _ => 4,
    }
}

fn descriptor_header(w: &mut BoxWriter, tag: u8, len: usize) {
    w.u8(tag);
    let n = size_bytes(len);
    for i in (0..n).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        w.u8((((len >> (7 * i)) & 0x7F) as u8) | more);
    }
}
