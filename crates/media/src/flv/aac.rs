//! AudioSpecificConfig (ISO 14496-3) for AAC.

use bytes::Bytes;

use super::FlvError;
use crate::util::BitReader;

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// An AAC decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// The AudioSpecificConfig, as sent.
    pub asc: Bytes,
    /// Audio object type (2 = AAC-LC, 5 = SBR, 29 = PS).
    pub object_type: u8,
    pub sample_rate: u32,
    pub channels: u8,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub codec_string: String,
}

impl AudioConfig {
    /// Samples per AAC frame at `sample_rate` (960-sample framing is not used by RTMP encoders).
    pub fn frame_samples(&self) -> u32 {
        1024
    }
}

pub(super) fn parse_config(asc: Bytes) -> Result<AudioConfig, FlvError> {
    let mut b = BitReader::new(&asc);
    let mut object_type = b.bits(5).ok_or(FlvError::Truncated)?;
    if object_type == 31 {
        object_type = 32 + b.bits(6).ok_or(FlvError::Truncated)?;
    }
    let index = b.bits(4).ok_or(FlvError::Truncated)?;
    let sample_rate = if index == 15 {
        b.bits(24).ok_or(FlvError::Truncated)?
    } else {
        *SAMPLE_RATES
            .get(index as usize)
            .ok_or(FlvError::BadConfig("AAC sample rate index"))?
    };
    if sample_rate == 0 {
        return Err(FlvError::BadConfig("AAC sample rate"));
    }
    let channels = b.bits(4).ok_or(FlvError::Truncated)?;
    let object_type =
        u8::try_from(object_type).map_err(|_| FlvError::BadConfig("AAC object type"))?;
    Ok(AudioConfig {
        codec_string: format!("mp4a.40.{object_type}"),
        asc,
        object_type,
        sample_rate,
        channels: channels as u8,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lc_44100_stereo() {
        let c = super::parse_config(bytes::Bytes::from_static(&[0x12, 0x10]));
        let Ok(c) = c else { panic!("parse") };
        assert_eq!((c.object_type, c.sample_rate, c.channels), (2, 44100, 2));
        assert_eq!(c.codec_string, "mp4a.40.2");
    }
}
