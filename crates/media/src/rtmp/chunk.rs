//! RTMP chunk stream: splitting incoming bytes into messages, and messages into outgoing chunks.

use bytes::{Bytes, BytesMut};

use super::Error;
use crate::util::Reader;

/// Most bytes reserved for a message before they arrive.
const PREALLOCATE: usize = 256 * 1024;

/// A reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub csid: u32,
    pub type_id: u8,
    pub stream_id: u32,
    /// 32-bit RTMP timestamp; it wraps, so the session extends it.
    pub timestamp: u32,
    pub payload: Bytes,
}

/// Per chunk stream state carried between headers (the "previous header" of the spec).
#[derive(Debug, Default)]
struct ChunkStream {
    timestamp: u32,
    /// Delta re-applied by a type-3 header that starts a new message. After a type-0 header
    /// this is the absolute timestamp field, matching what ffmpeg and librtmp writers assume.
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Whether the last type 0/1/2 header used the extended field, so type-3 chunks carry one too.
    extended: bool,
    /// Whether a header has ever been seen on this chunk stream.
    initialised: bool,
    partial: Option<BytesMut>,
}

/// Limits that keep a hostile peer from making the reader allocate without bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_message_size: u32,
    pub max_chunk_streams: usize,
    pub max_buffered: usize,
}

/// Incremental chunk-stream parser.
#[derive(Debug)]
pub(crate) struct ChunkReader {
    chunk_size: u32,
    streams: Vec<(u32, ChunkStream)>,
    limits: Limits,
    buffered: usize,
}

/// Outcome of trying to read one chunk from the front of a buffer.
pub(crate) enum Step {
    /// More input is needed before anything can be decided.
    NeedMore,
    /// A chunk was consumed (`usize` bytes); maybe it completed a message.
    Chunk(usize, Option<Message>),
}

impl ChunkReader {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            chunk_size: 128,
            streams: Vec::new(),
            limits,
            buffered: 0,
        }
    }

    pub(crate) fn set_chunk_size(&mut self, size: u32) -> Result<(), Error> {
        // The top bit must be zero; a size of 0 would make no progress.
        if size == 0 || size > 0x7FFF_FFFF {
            return Err(Error::Protocol("invalid chunk size"));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Drops a partly received message, as the Abort control message asks.
    pub(crate) fn abort(&mut self, csid: u32) {
        if let Some((_, cs)) = self.streams.iter_mut().find(|(id, _)| *id == csid)
            && let Some(p) = cs.partial.take()
        {
            self.buffered = self.buffered.saturating_sub(p.len());
        }
    }

    fn stream_index(&mut self, csid: u32) -> Result<usize, Error> {
        if let Some(i) = self.streams.iter().position(|(id, _)| *id == csid) {
            return Ok(i);
        }
        if self.streams.len() >= self.limits.max_chunk_streams {
            return Err(Error::TooManyChunkStreams);
        }
        self.streams.push((csid, ChunkStream::default()));
        Ok(self.streams.len() - 1)
    }

    /// Parses at most one chunk from `data`. Nothing is mutated unless a whole chunk is present,
    /// so a caller can retry with more bytes after `NeedMore`.
    pub(crate) fn read_chunk(&mut self, data: &[u8]) -> Result<Step, Error> {
        let mut r = Reader::new(data);
        let Some(b0) = r.u8() else {
            return Ok(Step::NeedMore);
        };
        let fmt = b0 >> 6;
        let csid = match b0 & 0x3F {
            0 => match r.u8() {
                Some(b) => 64 + u32::from(b),
                None => return Ok(Step::NeedMore),
            },
            1 => match (r.u8(), r.u8()) {
                (Some(lo), Some(hi)) => 64 + u32::from(lo) + 256 * u32::from(hi),
                _ => return Ok(Step::NeedMore),
            },
            n => u32::from(n),
        };
        let idx = self.stream_index(csid)?;
        let limits = self.limits;
        let chunk_size = self.chunk_size;
        let Some((_, cs)) = self.streams.get_mut(idx) else {
            return Err(Error::Protocol("chunk stream table"));
        };
        let header_len = match fmt {
            0 => 11,
            1 => 7,
            2 => 3,
            _ => 0,
        };
        let Some(header) = r.bytes(header_len) else {
            return Ok(Step::NeedMore);
        };
        let mut h = Reader::new(header);
        let ts_field = if fmt < 3 { h.u24() } else { None };
        let length = if fmt < 2 { h.u24() } else { None };
        let type_id = if fmt < 2 { h.u8() } else { None };
        let stream_id = if fmt == 0 { h.u32_le() } else { None };
        let extended = match ts_field {
            Some(f) => f == 0xFF_FFFF,
            None => cs.extended,
        };
        let ext_value = if extended {
            match r.u32() {
                Some(v) => Some(v),
                None => return Ok(Step::NeedMore),
            }
        } else {
            None
        };
        if fmt != 0 && !cs.initialised {
            return Err(Error::Protocol(
                "chunk header refers to an unknown previous header",
            ));
        }
        let continuing = cs.partial.is_some();
        if continuing && fmt != 3 {
            return Err(Error::Protocol(
                "new message header while a message is incomplete",
            ));
        }
        let new_length = length.unwrap_or(cs.length);
        if new_length > limits.max_message_size {
            return Err(Error::MessageTooLarge(new_length));
        }
        let received = cs.partial.as_ref().map_or(0, BytesMut::len);
        let wanted =
            (new_length as usize - if continuing { received } else { 0 }).min(chunk_size as usize);
        let Some(body) = r.bytes(wanted) else {
            return Ok(Step::NeedMore);
        };
        if !continuing && self.buffered + wanted > limits.max_buffered {
            return Err(Error::BufferLimit);
        }

        // The whole chunk is present: commit header state.
        if !continuing {
            let field = ext_value.or(ts_field);
            match fmt {
                0 => {
                    let ts = field.unwrap_or(0);
                    cs.timestamp = ts;
                    cs.delta = ts;
                }
                1 | 2 => {
                    let d = field.unwrap_or(0);
                    cs.delta = d;
                    cs.timestamp = cs.timestamp.wrapping_add(d);
                }
                _ => {
                    // A type-3 header starting a new message repeats the previous delta; when the
                    // previous header was extended, the extended field restates that delta.
                    let d = ext_value.unwrap_or(cs.delta);
                    cs.delta = d;
                    cs.timestamp = cs.timestamp.wrapping_add(d);
                }
            }
            if fmt < 3 {
                cs.extended = extended;
            }
            cs.length = new_length;
            if let Some(t) = type_id {
                cs.type_id = t;
            }
            if let Some(s) = stream_id {
                cs.stream_id = s;
            }
            cs.initialised = true;
        }
        let consumed = r.position();
        let done = {
            let buf = cs.partial.get_or_insert_with(|| {
                // The declared length is trusted for allocation only up to PREALLOCATE per chunk
                // stream, so headers alone reserve no more than the limits on chunk streams and
                // buffered bytes already allow; that covers most video frames, which otherwise
                // regrow (and are copied) once per doubling, chunk after chunk.
                BytesMut::with_capacity((cs.length as usize).min(PREALLOCATE).max(wanted))
            });
            buf.extend_from_slice(body);
            buf.len() >= cs.length as usize
        };
        self.buffered += wanted;
        if !done {
            return Ok(Step::Chunk(consumed, None));
        }
        let payload = cs.partial.take().unwrap_or_default().freeze();
        self.buffered = self.buffered.saturating_sub(payload.len());
        Ok(Step::Chunk(
            consumed,
            Some(Message {
                csid,
                type_id: cs.type_id,
                stream_id: cs.stream_id,
                timestamp: cs.timestamp,
                payload,
            }),
        ))
    }
}

/// Serialises outgoing messages into chunks.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    chunk_size: u32,
}

impl ChunkWriter {
    pub(crate) fn new() -> Self {
        Self { chunk_size: 128 }
    }

    pub(crate) fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.max(1);
    }

    /// Writes a whole message with a type-0 header then type-3 continuations. Replies are few and
    /// small, so header compression is not worth its state.
    pub(crate) fn write(&self, out: &mut Vec<u8>, msg: &Message) {
        let basic = |out: &mut Vec<u8>, fmt: u8| {
            if msg.csid < 64 {
                out.push((fmt << 6) | msg.csid as u8);
            } else if msg.csid < 320 {
                out.push(fmt << 6);
                out.push((msg.csid - 64) as u8);
            } else {
                out.push((fmt << 6) | 1);
                let v = msg.csid - 64;
                out.push((v & 0xFF) as u8);
                out.push(((v >> 8) & 0xFF) as u8);
            }
        };
        let extended = msg.timestamp >= 0xFF_FFFF;
        basic(out, 0);
        let ts = if extended { 0xFF_FFFF } else { msg.timestamp };
        out.extend_from_slice(&ts.to_be_bytes()[1..]);
        let len = msg.payload.len() as u32;
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(msg.type_id);
        out.extend_from_slice(&msg.stream_id.to_le_bytes());
        if extended {
            out.extend_from_slice(&msg.timestamp.to_be_bytes());
        }
        let mut chunks = msg.payload.chunks(self.chunk_size as usize).peekable();
        while let Some(c) = chunks.next() {
            out.extend_from_slice(c);
            if chunks.peek().is_some() {
                basic(out, 3);
                if extended {
                    out.extend_from_slice(&msg.timestamp.to_be_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_message_size: 1 << 20,
            max_chunk_streams: 8,
            max_buffered: 1 << 22,
        }
    }

    fn read_all(reader: &mut ChunkReader, mut data: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            match reader.read_chunk(data) {
                Ok(Step::Chunk(n, m)) => {
                    data = data.get(n..).unwrap_or(&[]);
                    out.extend(m);
                }
                Ok(Step::NeedMore) => return out,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn type3_new_message_reapplies_delta_after_type0() {
        // ffmpeg's writer: first message absolute 23 (type 0), next at 46 as a bare type 3.
        let mut data = vec![0x04, 0, 0, 23, 0, 0, 2, 9, 1, 0, 0, 0, 0xAA, 0xBB];
        data.extend_from_slice(&[0xC4, 0xCC, 0xDD]);
        data.extend_from_slice(&[0x84, 0, 0, 10, 0xEE, 0xFF]); // type 2, delta 10
        data.extend_from_slice(&[0xC4, 1, 2]); // type 3 again: +10
        let mut r = ChunkReader::new(limits());
        let ts: Vec<u32> = read_all(&mut r, &data)
            .iter()
            .map(|m| m.timestamp)
            .collect();
        assert_eq!(ts, vec![23, 46, 56, 66]);
    }

    #[test]
    fn extended_timestamps_and_multi_chunk() {
        let w = ChunkWriter::new();
        let mut out = Vec::new();
        let payload = Bytes::from(vec![7u8; 300]);
        for ts in [0x0100_0000u32, 0xFFFF_FFF0] {
            w.write(
                &mut out,
                &Message {
                    csid: 6,
                    type_id: 9,
                    stream_id: 1,
                    timestamp: ts,
                    payload: payload.clone(),
                },
            );
        }
        let mut r = ChunkReader::new(limits());
        let msgs = read_all(&mut r, &out);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs.first().map(|m| m.timestamp), Some(0x0100_0000));
        assert_eq!(msgs.get(1).map(|m| m.timestamp), Some(0xFFFF_FFF0));
        assert!(msgs.iter().all(|m| m.payload == payload));
    }

    #[test]
    fn oversized_message_refused() {
        let data = [0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0];
        let mut r = ChunkReader::new(limits());
        assert!(matches!(
            r.read_chunk(&data),
            Err(Error::MessageTooLarge(_))
        ));
    }
}
