//! HEVCDecoderConfigurationRecord and the picture size from its SPS.

use bytes::Bytes;
use std::fmt::Write;

use super::{FlvError, VideoCodec, VideoConfig};
use crate::util::{BitReader, Reader, unescape_rbsp};

const NAL_SPS: u8 = 33;

pub(super) fn parse_config(record: Bytes) -> Result<VideoConfig, FlvError> {
    let mut r = Reader::new(&record);
    let version = r.u8().ok_or(FlvError::Truncated)?;
    if version != 1 {
        return Err(FlvError::BadConfig("hvcC version"));
    }
    let ptl = r.u8().ok_or(FlvError::Truncated)?;
    let compat = r.u32().ok_or(FlvError::Truncated)?;
    let constraints = r.bytes(6).ok_or(FlvError::Truncated)?;
    let level = r.u8().ok_or(FlvError::Truncated)?;
    r.skip(10).ok_or(FlvError::Truncated)?;
    let arrays = r.u8().ok_or(FlvError::Truncated)?;
    let mut size = None;
    for _ in 0..arrays {
        let nal_type = r.u8().ok_or(FlvError::Truncated)? & 0x3F;
        let count = r.u16().ok_or(FlvError::Truncated)?;
        for _ in 0..count {
            let len = usize::from(r.u16().ok_or(FlvError::Truncated)?);
            let nal = r.bytes(len).ok_or(FlvError::Truncated)?;
            if nal_type == NAL_SPS && size.is_none() {
                size = sps_size(nal);
            }
        }
    }
    let (width, height) = size.unwrap_or((0, 0));
    Ok(VideoConfig {
        codec: VideoCodec::Hevc,
        codec_string: codec_string(ptl, compat, constraints, level),
        record,
        width,
        height,
    })
}

/// RFC 6381 / ISO 14496-15 Annex E codec string, e.g. `hvc1.1.6.L93.B0`.
fn codec_string(ptl: u8, compat: u32, constraints: &[u8], level: u8) -> String {
    let space = match ptl >> 6 {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let tier = if ptl & 0x20 != 0 { 'H' } else { 'L' };
    let mut s = format!(
        "hvc1.{space}{}.{:X}.{tier}{level}",
        ptl & 0x1F,
        compat.reverse_bits()
    );
    let used = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    for b in constraints.iter().take(used) {
        let _ = write!(s, ".{b:X}");
    }
    s
}

fn sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    let rbsp = unescape_rbsp(nal.get(2..)?);
    let mut b = BitReader::new(&rbsp);
    b.skip(4)?;
    let sub_layers = b.bits(3)?;
    b.skip(1)?;
    // profile_tier_level: 88 bits of general profile, 8 of level.
    b.skip(96)?;
    let mut present = Vec::new();
    for _ in 0..sub_layers {
        present.push((b.flag()?, b.flag()?));
    }
    if sub_layers > 0 {
        b.skip(2 * (8 - sub_layers))?;
    }
    for (profile, level) in present {
        if profile {
            b.skip(88)?;
        }
        if level {
            b.skip(8)?;
        }
    }
    b.ue()?;
    let chroma = b.ue()?;
    if chroma == 3 {
        b.skip(1)?;
    }
    let width = u64::from(b.ue()?);
    let height = u64::from(b.ue()?);
    let (sub_w, sub_h) = match chroma {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (mut w, mut h) = (width, height);
    if b.flag()? {
        let l = u64::from(b.ue()?);
        let r = u64::from(b.ue()?);
        let t = u64::from(b.ue()?);
        let bt = u64::from(b.ue()?);
        w = width.checked_sub(sub_w * (l + r))?;
        h = height.checked_sub(sub_h * (t + bt))?;
    }
    Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn main_profile_codec_string() {
        let s = super::codec_string(0x01, 0x6000_0000, &[0x90, 0, 0, 0, 0, 0], 93);
        assert_eq!(s, "hvc1.1.6.L93.90");
    }
}
