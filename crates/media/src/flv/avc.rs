//! AVCDecoderConfigurationRecord and the parts of the H.264 SPS that playlists need.

use bytes::Bytes;

use super::{FlvError, VideoCodec, VideoConfig};
use crate::util::{BitReader, Reader, unescape_rbsp};

pub(super) fn parse_config(record: Bytes) -> Result<VideoConfig, FlvError> {
    let mut r = Reader::new(&record);
    let version = r.u8().ok_or(FlvError::Truncated)?;
    if version != 1 {
        return Err(FlvError::BadConfig("avcC version"));
    }
    let profile = r.u8().ok_or(FlvError::Truncated)?;
    let compat = r.u8().ok_or(FlvError::Truncated)?;
    let level = r.u8().ok_or(FlvError::Truncated)?;
    r.u8().ok_or(FlvError::Truncated)?;
    let num_sps = r.u8().ok_or(FlvError::Truncated)? & 0x1F;
    let mut size = None;
    for _ in 0..num_sps {
        let len = usize::from(r.u16().ok_or(FlvError::Truncated)?);
        let sps = r.bytes(len).ok_or(FlvError::Truncated)?;
        if size.is_none() {
            size = sps_size(sps);
        }
    }
    if num_sps == 0 {
        return Err(FlvError::BadConfig("avcC without SPS"));
    }
    let (width, height) = size.unwrap_or((0, 0));
    Ok(VideoConfig {
        codec: VideoCodec::Avc,
        codec_string: format!("avc1.{profile:02X}{compat:02X}{level:02X}"),
        record,
        width,
        height,
    })
}

const HIGH_PROFILES: [u32; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// Cropped picture size from an SPS NAL unit (header byte included).
pub(super) fn sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    let rbsp = unescape_rbsp(nal.get(1..)?);
    let mut b = BitReader::new(&rbsp);
    let profile = b.bits(8)?;
    b.skip(16)?;
    b.ue()?;
    let mut chroma_format = 1;
    if HIGH_PROFILES.contains(&profile) {
        chroma_format = b.ue()?;
        if chroma_format == 3 {
            b.skip(1)?;
        }
        b.ue()?;
        b.ue()?;
        b.skip(1)?;
        if b.flag()? {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.flag()? {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    b.ue()?;
    match b.ue()? {
        0 => {
            b.ue()?;
        }
        1 => {
            b.skip(1)?;
            b.se()?;
            b.se()?;
            let cycle = b.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?;
    b.skip(1)?;
    let width_mbs = u64::from(b.ue()?) + 1;
    let height_units = u64::from(b.ue()?) + 1;
    let frame_mbs_only = u64::from(b.bit()?);
    if frame_mbs_only == 0 {
        b.skip(1)?;
    }
    b.skip(1)?;
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if b.flag()? {
        cl = u64::from(b.ue()?);
        cr = u64::from(b.ue()?);
        ct = u64::from(b.ue()?);
        cb = u64::from(b.ue()?);
    }
    let (unit_x, unit_y) = match chroma_format {
        0 => (1, 2 - frame_mbs_only),
        1 => (2, 2 * (2 - frame_mbs_only)),
        2 => (2, 2 - frame_mbs_only),
        _ => (1, 2 - frame_mbs_only),
    };
    let width = (width_mbs * 16).checked_sub(unit_x * (cl + cr))?;
    let height = ((2 - frame_mbs_only) * height_units * 16).checked_sub(unit_y * (ct + cb))?;
    Some((u32::try_from(width).ok()?, u32::try_from(height).ok()?))
}

fn skip_scaling_list(b: &mut BitReader<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = b.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}
