//! Incremental FLV stream reader, for FLV arriving over a pipe (an ffmpeg ladder) or a file.

use bytes::{Buf, Bytes, BytesMut};

use super::FlvError;
use crate::util::Reader;

/// One FLV tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// 8 audio, 9 video, 18 script data.
    pub tag_type: u8,
    /// Timestamp including the extension byte.
    pub timestamp_ms: u32,
    pub payload: Bytes,
}

/// Splits an FLV byte stream into tags.
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    header_done: bool,
    max_tag_size: u32,
}

impl FlvReader {
    /// A reader refusing tags larger than `max_tag_size` bytes.
    pub fn new(max_tag_size: u32) -> Self {
        Self {
            buf: BytesMut::new(),
            header_done: false,
            max_tag_size,
        }
    }

    /// Appends bytes and returns every tag now complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<FlvTag>, FlvError> {
        self.buf.extend_from_slice(data);
        let mut tags = Vec::new();
        if !self.header_done {
            let mut r = Reader::new(&self.buf);
            let Some(sig) = r.bytes(3) else {
                return Ok(tags);
            };
            if sig != b"FLV" {
                return Err(FlvError::NotFlv);
            }
            let (Some(_), Some(_), Some(offset)) = (r.u8(), r.u8(), r.u32()) else {
                return Ok(tags);
            };
            // The header size field plus the first PreviousTagSize.
            let skip = (offset as usize).max(9).saturating_add(4);
            if skip > 1024 {
                return Err(FlvError::NotFlv);
            }
            if self.buf.len() < skip {
                return Ok(tags);
            }
            self.buf.advance(skip);
            self.header_done = true;
        }
        loop {
            let mut r = Reader::new(&self.buf);
            let (Some(tag_type), Some(size), Some(ts), Some(ts_ext), Some(_)) =
                (r.u8(), r.u24(), r.u24(), r.u8(), r.u24())
            else {
                return Ok(tags);
            };
            if size > self.max_tag_size {
                return Err(FlvError::TagTooLarge(size));
            }
            let total = 11 + size as usize + 4;
            if self.buf.len() < total {
                return Ok(tags);
            }
            let mut tag = self.buf.split_to(total);
            tag.advance(11);
            tag.truncate(size as usize);
            tags.push(FlvTag {
                // Bit 5 is the encryption filter flag, not part of the type.
                tag_type: tag_type & 0x1F,
                timestamp_ms: (u32::from(ts_ext) << 24) | ts,
                payload: tag.freeze(),
            });
        }
    }
}
