use bytes::Bytes;

use super::Error;
use super::amf0::{self, Amf0Value, object};
use super::chunk::{ChunkReader, ChunkWriter, Limits, Message, Step};
use crate::util::Reader;

const HANDSHAKE_SIZE: usize = 1536;

const MSG_SET_CHUNK_SIZE: u8 = 1;
const MSG_ABORT: u8 = 2;
const MSG_ACK: u8 = 3;
const MSG_USER_CONTROL: u8 = 4;
const MSG_WINDOW_ACK_SIZE: u8 = 5;
const MSG_SET_PEER_BANDWIDTH: u8 = 6;
const MSG_AUDIO: u8 = 8;
const MSG_VIDEO: u8 = 9;
const MSG_DATA_AMF3: u8 = 15;
const MSG_COMMAND_AMF3: u8 = 17;
const MSG_DATA_AMF0: u8 = 18;
const MSG_COMMAND_AMF0: u8 = 20;
const MSG_AGGREGATE: u8 = 22;

const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_STREAM: u32 = 5;

/// Session limits and the values announced to the peer.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest message accepted (a 4K keyframe fits comfortably in the default 16 MiB).
    pub max_message_size: u32,
    /// Most distinct chunk stream ids a peer may use.
    pub max_chunk_streams: usize,
    /// Most bytes held across all partially received messages.
    pub max_buffered_bytes: usize,
    /// Window acknowledgement size announced to the peer.
    pub ack_window: u32,
    /// Chunk size used for our replies.
    pub out_chunk_size: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: 16 << 20,
            max_chunk_streams: 64,
            max_buffered_bytes: 48 << 20,
            ack_window: 2_500_000,
            out_chunk_size: 4096,
        }
    }
}

/// The kind of a media message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
    /// Script data, e.g. `@setDataFrame` + `onMetaData`, passed through unchanged.
    Data,
}

/// Something the application must know about or decide on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The peer connected to an application (`live` in `rtmp://host/live/KEY`).
    Connect { app: String, tc_url: Option<String> },
    /// The peer asks to publish; answer with [`ServerSession::accept_publish`] or
    /// [`ServerSession::reject_publish`]. Media is dropped until accepted.
    Publish { app: String, stream_name: String },
    /// An FLV tag body. `timestamp_ms` is the RTMP timestamp extended past its 32-bit wrap.
    Media {
        kind: MediaKind,
        timestamp_ms: u64,
        payload: Bytes,
    },
    /// The publisher stopped (FCUnpublish, closeStream or deleteStream).
    Unpublish { stream_name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitC0C1,
    AwaitC2,
    Chunks,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PublishState {
    None,
    Pending { stream_id: u32, name: String },
    Live { stream_id: u32, name: String },
    Refused,
}

/// Extends 32-bit timestamps across wrap-around.
#[derive(Debug, Default, Clone, Copy)]
struct Extender {
    last: Option<u32>,
    epoch: u64,
}

impl Extender {
    fn extend(&mut self, ts: u32) -> u64 {
        if let Some(last) = self.last {
            // A jump back of more than half the range is a wrap, not a reorder.
            if ts < last && last - ts > 0x8000_0000 {
                self.epoch += 1 << 32;
            } else if ts > last && ts - last > 0x8000_0000 && self.epoch > 0 {
                // A late message from before the wrap: place it in the previous epoch and keep
                // the newer reference point.
                return self.epoch - (1 << 32) + u64::from(ts);
            }
        }
        self.last = Some(ts);
        self.epoch + u64::from(ts)
    }
}

/// One RTMP server connection, without I/O.
#[derive(Debug)]
pub struct ServerSession {
    config: Config,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    reader: ChunkReader,
    writer: ChunkWriter,
    received: u64,
    last_ack: u64,
    peer_window: u32,
    app: Option<String>,
    next_stream_id: u32,
    publish: PublishState,
    audio_ts: Extender,
    video_ts: Extender,
    data_ts: Extender,
}

impl ServerSession {
    /// A session waiting for the client's C0+C1.
    pub fn new(config: Config) -> Self {
        let limits = Limits {
            max_message_size: config.max_message_size,
            max_chunk_streams: config.max_chunk_streams.max(1),
            max_buffered: config.max_buffered_bytes,
        };
        Self {
            config,
            phase: Phase::AwaitC0C1,
            input: Vec::new(),
            output: Vec::new(),
            reader: ChunkReader::new(limits),
            writer: ChunkWriter::new(),
            received: 0,
            last_ack: 0,
            peer_window: 0,
            app: None,
            next_stream_id: 1,
            publish: PublishState::None,
            audio_ts: Extender::default(),
            video_ts: Extender::default(),
            data_ts: Extender::default(),
        }
    }

    /// Bytes to send to the peer, accumulated since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// The application the peer connected to, once connected.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// The stream name being published, once accepted.
    pub fn publishing(&self) -> Option<&str> {
        match &self.publish {
            PublishState::Live { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Processes bytes read from the socket. After an error the session is dead and every
    /// later call fails; close the connection.
    ///
    /// Processing pauses after an [`Event::Publish`] until the application accepts or rejects
    /// it; then call `feed(&[])` to process what was buffered meanwhile.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Event>, Error> {
        if self.phase == Phase::Failed {
            return Err(Error::Failed);
        }
        self.received += data.len() as u64;
        let mut events = Vec::new();
        match self.process(data, &mut events) {
            Ok(()) => {
                self.send_ack_if_due();
                Ok(events)
            }
            Err(e) => {
                self.phase = Phase::Failed;
                self.input = Vec::new();
                Err(e)
            }
        }
    }

    /// Accepts the pending publish: the peer gets `NetStream.Publish.Start` and media flows.
    pub fn accept_publish(&mut self) -> bool {
        let PublishState::Pending { stream_id, name } = &self.publish else {
            return false;
        };
        let (stream_id, name) = (*stream_id, name.clone());
        self.user_control(0, stream_id);
        self.on_status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            &format!("{name} is now published."),
        );
        self.publish = PublishState::Live { stream_id, name };
        true
    }

    /// Refuses the pending publish with a `NetStream.Publish.BadName` error the client shows
    /// (ffmpeg prints `reason`); close the connection after sending the output.
    pub fn reject_publish(&mut self, reason: &str) -> bool {
        let PublishState::Pending { stream_id, .. } = &self.publish else {
            return false;
        };
        let stream_id = *stream_id;
        self.on_status(stream_id, "error", "NetStream.Publish.BadName", reason);
        self.publish = PublishState::Refused;
        true
    }

    /// Queues a ping request; the peer answers with a ping response (ignored here), which keeps
    /// NAT mappings alive and proves the peer is reading.
    pub fn ping(&mut self, timestamp: u32) {
        if self.phase == Phase::Chunks {
            let mut body = vec![0, 6];
            body.extend_from_slice(&timestamp.to_be_bytes());
            self.send(CSID_CONTROL, MSG_USER_CONTROL, 0, body);
        }
    }

    fn process(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), Error> {
        let mut pos = 0usize;
        if self.input.is_empty() {
            // Usually nothing is left over from the last read: parse the caller's bytes where
            // they are and keep only an incomplete chunk at the end.
            let result = self.process_from(data, &mut pos, events);
            self.input
                .extend_from_slice(data.get(pos.min(data.len())..).unwrap_or_default());
            return result;
        }
        let mut input = std::mem::take(&mut self.input);
        input.extend_from_slice(data);
        let result = self.process_from(&input, &mut pos, events);
        input.drain(..pos.min(input.len()));
        self.input = input;
        result
    }

    fn process_from(
        &mut self,
        input: &[u8],
        pos: &mut usize,
        events: &mut Vec<Event>,
    ) -> Result<(), Error> {
        loop {
            // While a publish awaits the application's verdict, input stays buffered so that no
            // media is processed (or dropped) before the answer.
            if matches!(self.publish, PublishState::Pending { .. }) {
                if input.len().saturating_sub(*pos) > self.config.max_buffered_bytes {
                    return Err(Error::BufferLimit);
                }
                return Ok(());
            }
            let rest = input.get(*pos..).unwrap_or(&[]);
            match self.phase {
                Phase::AwaitC0C1 => {
                    let Some(&version) = rest.first() else {
                        return Ok(());
                    };
                    if version != 3 {
                        return Err(Error::Version(version));
                    }
                    let Some(c1) = rest.get(1..=HANDSHAKE_SIZE) else {
                        return Ok(());
                    };
                    let s2 = c1.to_vec();
                    self.output.push(3);
                    self.output.extend_from_slice(&s1());
                    self.output.extend_from_slice(&s2);
                    *pos += 1 + HANDSHAKE_SIZE;
                    self.phase = Phase::AwaitC2;
                }
                Phase::AwaitC2 => {
                    // The C2 echo is not checked: nothing depends on it with the plain handshake.
                    if rest.len() < HANDSHAKE_SIZE {
                        return Ok(());
                    }
                    *pos += HANDSHAKE_SIZE;
                    self.phase = Phase::Chunks;
                }
                Phase::Chunks => match self.reader.read_chunk(rest)? {
                    Step::NeedMore => return Ok(()),
                    Step::Chunk(n, msg) => {
                        *pos += n;
                        if let Some(m) = msg {
                            self.handle_message(m, events)?;
                        }
                    }
                },
                Phase::Failed => return Err(Error::Failed),
            }
        }
    }

    fn handle_message(&mut self, m: Message, events: &mut Vec<Event>) -> Result<(), Error> {
        let mut r = Reader::new(&m.payload);
        match m.type_id {
            MSG_SET_CHUNK_SIZE => {
                let size = r.u32().ok_or(Error::Protocol("short set chunk size"))?;
                self.reader.set_chunk_size(size)?;
            }
            MSG_ABORT => {
                let csid = r.u32().ok_or(Error::Protocol("short abort"))?;
                self.reader.abort(csid);
            }
            MSG_ACK | MSG_SET_PEER_BANDWIDTH => {}
            MSG_WINDOW_ACK_SIZE => {
                self.peer_window = r.u32().ok_or(Error::Protocol("short window ack size"))?;
            }
            MSG_USER_CONTROL => {
                let event = r.u16().ok_or(Error::Protocol("short user control"))?;
                if event == 6 {
                    let ts = r.u32().ok_or(Error::Protocol("short ping"))?;
                    let mut body = vec![0, 7];
                    body.extend_from_slice(&ts.to_be_bytes());
                    self.send(CSID_CONTROL, MSG_USER_CONTROL, 0, body);
                }
            }
            MSG_AUDIO => self.media(
                MediaKind::Audio,
                m.stream_id,
                m.timestamp,
                m.payload,
                events,
            ),
            MSG_VIDEO => self.media(
                MediaKind::Video,
                m.stream_id,
                m.timestamp,
                m.payload,
                events,
            ),
            MSG_DATA_AMF0 => {
                self.media(MediaKind::Data, m.stream_id, m.timestamp, m.payload, events)
            }
            MSG_DATA_AMF3 => {
                // AMF3 data messages carry a one-byte format selector before AMF0 content.
                let body = m.payload.slice(m.payload.len().min(1)..);
                self.media(MediaKind::Data, m.stream_id, m.timestamp, body, events);
            }
            MSG_AGGREGATE => self.aggregate(&m, events)?,
            MSG_COMMAND_AMF0 => self.command(&m.payload, m.stream_id, events)?,
            MSG_COMMAND_AMF3 => {
                let body = m.payload.get(1..).unwrap_or(&[]);
                self.command(body, m.stream_id, events)?;
            }
            // Unknown message types are skipped, as the spec allows.
            _ => {}
        }
        Ok(())
    }

    fn media(
        &mut self,
        kind: MediaKind,
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
        events: &mut Vec<Event>,
    ) {
        // Media before the application accepted the publish (or for another stream) is dropped:
        // a refused key must not reach the packager.
        let PublishState::Live {
            stream_id: live, ..
        } = self.publish
        else {
            return;
        };
        if live != stream_id {
            return;
        }
        let timestamp_ms = match kind {
            MediaKind::Audio => self.audio_ts.extend(timestamp),
            MediaKind::Video => self.video_ts.extend(timestamp),
            MediaKind::Data => self.data_ts.extend(timestamp),
        };
        events.push(Event::Media {
            kind,
            timestamp_ms,
            payload,
        });
    }

    /// Splits an aggregate message into its FLV tags. The first tag's timestamp maps to the
    /// message timestamp; later tags keep their offsets from it.
    fn aggregate(&mut self, m: &Message, events: &mut Vec<Event>) -> Result<(), Error> {
        let data = &m.payload;
        let mut r = Reader::new(data);
        let mut first_ts: Option<u32> = None;
        while r.remaining() > 0 {
            let bad = Error::Protocol("malformed aggregate message");
            let tag_type = r.u8().ok_or(bad.clone())?;
            let size = r.u24().ok_or(bad.clone())? as usize;
            let ts_low = r.u24().ok_or(bad.clone())?;
            let ts_high = r.u8().ok_or(bad.clone())?;
            r.u24().ok_or(bad.clone())?;
            let start = r.position();
            r.skip(size).ok_or(bad.clone())?;
            r.u32().ok_or(bad)?;
            let tag_ts = (u32::from(ts_high) << 24) | ts_low;
            let base = *first_ts.get_or_insert(tag_ts);
            let ts = m.timestamp.wrapping_add(tag_ts.wrapping_sub(base));
            let body = data.slice(start..start + size);
            let kind = match tag_type {
                MSG_AUDIO => MediaKind::Audio,
                MSG_VIDEO => MediaKind::Video,
                MSG_DATA_AMF0 => MediaKind::Data,
                _ => continue,
            };
            self.media(kind, m.stream_id, ts, body, events);
        }
        Ok(())
    }

    fn command(
        &mut self,
        body: &[u8],
        stream_id: u32,
        events: &mut Vec<Event>,
    ) -> Result<(), Error> {
        let values = amf0::decode_all(body)?;
        let mut it = values.into_iter();
        let Some(Amf0Value::String(name)) = it.next() else {
            return Err(Error::Protocol("command without a name"));
        };
        let txn = it.next().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let cmd_obj = it.next().unwrap_or(Amf0Value::Null);
        let args: Vec<Amf0Value> = it.collect();
        let first_arg = args.first().and_then(Amf0Value::as_str).map(str::to_owned);
        match name.as_str() {
            "connect" => {
                if self.app.is_some() {
                    return Err(Error::Protocol("second connect"));
                }
                let app = cmd_obj
                    .get("app")
                    .and_then(Amf0Value::as_str)
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_owned();
                let tc_url = cmd_obj
                    .get("tcUrl")
                    .and_then(Amf0Value::as_str)
                    .map(str::to_owned);
                let encoding = cmd_obj
                    .get("objectEncoding")
                    .and_then(Amf0Value::as_f64)
                    .unwrap_or(0.0);
                self.send(
                    CSID_CONTROL,
                    MSG_WINDOW_ACK_SIZE,
                    0,
                    self.config.ack_window.to_be_bytes().to_vec(),
                );
                let mut bw = self.config.ack_window.to_be_bytes().to_vec();
                bw.push(2);
                self.send(CSID_CONTROL, MSG_SET_PEER_BANDWIDTH, 0, bw);
                let chunk = self.config.out_chunk_size.clamp(128, 0x7FFF_FFFF);
                self.send(
                    CSID_CONTROL,
                    MSG_SET_CHUNK_SIZE,
                    0,
                    chunk.to_be_bytes().to_vec(),
                );
                self.writer.set_chunk_size(chunk);
                self.reply(
                    0,
                    "_result",
                    txn,
                    object(&[
                        ("fmsVer", Amf0Value::String("FMS/3,0,1,123".into())),
                        ("capabilities", Amf0Value::Number(31.0)),
                    ]),
                    &[object(&[
                        ("level", Amf0Value::String("status".into())),
                        (
                            "code",
                            Amf0Value::String("NetConnection.Connect.Success".into()),
                        ),
                        (
                            "description",
                            Amf0Value::String("Connection succeeded.".into()),
                        ),
                        ("objectEncoding", Amf0Value::Number(encoding)),
                    ])],
                );
                self.app = Some(app.clone());
                events.push(Event::Connect { app, tc_url });
            }
            "createStream" => {
                self.require_connected()?;
                let id = self.next_stream_id;
                // A handful of streams is all a publisher needs; more is a loop or an attack.
                if id > 16 {
                    return Err(Error::Protocol("too many createStream calls"));
                }
                self.next_stream_id += 1;
                self.reply(
                    0,
                    "_result",
                    txn,
                    Amf0Value::Null,
                    &[Amf0Value::Number(f64::from(id))],
                );
            }
            "releaseStream" | "FCPublish" => {
                self.require_connected()?;
                if txn != 0.0 {
                    self.reply(0, "_result", txn, Amf0Value::Null, &[Amf0Value::Undefined]);
                }
            }
            "publish" => {
                self.require_connected()?;
                let stream_name = first_arg.unwrap_or_default();
                if self.publish != PublishState::None || stream_name.is_empty() {
                    let reason = if stream_name.is_empty() {
                        "No stream name given."
                    } else {
                        "Already publishing on this connection."
                    };
                    self.on_status(stream_id, "error", "NetStream.Publish.BadName", reason);
                    return Ok(());
                }
                self.publish = PublishState::Pending {
                    stream_id,
                    name: stream_name.clone(),
                };
                events.push(Event::Publish {
                    app: self.app.clone().unwrap_or_default(),
                    stream_name,
                });
            }
            "FCUnpublish" | "closeStream" | "deleteStream" => {
                let was_live = match &self.publish {
                    PublishState::Live { name, .. } | PublishState::Pending { name, .. } => {
                        Some(name.clone())
                    }
                    _ => None,
                };
                if let Some(stream_name) = was_live {
                    if matches!(self.publish, PublishState::Live { .. }) {
                        events.push(Event::Unpublish { stream_name });
                    }
                    self.publish = PublishState::None;
                }
            }
            _ => {
                // Calls we do not serve (play, getStreamLength, ...) get an error if answerable.
                if txn != 0.0 {
                    self.reply(
                        0,
                        "_error",
                        txn,
                        Amf0Value::Null,
                        &[object(&[
                            ("level", Amf0Value::String("error".into())),
                            (
                                "code",
                                Amf0Value::String("NetConnection.Call.Failed".into()),
                            ),
                            (
                                "description",
                                Amf0Value::String(format!("{name} is not supported.")),
                            ),
                        ])],
                    );
                }
            }
        }
        Ok(())
    }

    fn require_connected(&self) -> Result<(), Error> {
        if self.app.is_none() {
            return Err(Error::Protocol("command before connect"));
        }
        Ok(())
    }

    fn reply(
        &mut self,
        stream_id: u32,
        name: &str,
        txn: f64,
        cmd_obj: Amf0Value,
        args: &[Amf0Value],
    ) {
        let mut body = Vec::new();
        amf0::encode(&mut body, &Amf0Value::String(name.into()));
        amf0::encode(&mut body, &Amf0Value::Number(txn));
        amf0::encode(&mut body, &cmd_obj);
        for a in args {
            amf0::encode(&mut body, a);
        }
        let csid = if stream_id == 0 {
            CSID_COMMAND
        } else {
            CSID_STREAM
        };
        self.send(csid, MSG_COMMAND_AMF0, stream_id, body);
    }

    fn on_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let info = object(&[
            ("level", Amf0Value::String(level.into())),
            ("code", Amf0Value::String(code.into())),
            ("description", Amf0Value::String(description.into())),
        ]);
        self.reply(stream_id, "onStatus", 0.0, Amf0Value::Null, &[info]);
    }

    fn user_control(&mut self, event: u16, value: u32) {
        let mut body = event.to_be_bytes().to_vec();
        body.extend_from_slice(&value.to_be_bytes());
        self.send(CSID_CONTROL, MSG_USER_CONTROL, 0, body);
    }

    fn send(&mut self, csid: u32, type_id: u8, stream_id: u32, body: Vec<u8>) {
        let msg = Message {
            csid,
            type_id,
            stream_id,
            timestamp: 0,
            payload: Bytes::from(body),
        };
        self.writer.write(&mut self.output, &msg);
    }

    fn send_ack_if_due(&mut self) {
        if self.phase != Phase::Chunks || self.peer_window == 0 {
            return;
        }
        if self.received - self.last_ack >= u64::from(self.peer_window) {
            self.last_ack = self.received;
            // The sequence number is the byte count modulo 2^32, as the spec defines it.
            let seq = (self.received & 0xFFFF_FFFF) as u32;
            self.send(CSID_CONTROL, MSG_ACK, 0, seq.to_be_bytes().to_vec());
        }
    }
}

/// S1: zero time, zero version (which tells clients this is the plain handshake, so they skip
/// digest checks), then filler. The filler need not be random for the plain handshake.
fn s1() -> Vec<u8> {
    let mut s1 = vec![0u8; HANDSHAKE_SIZE];
    let mut x: u32 = 0x9E37_79B9;
    for b in s1.iter_mut().skip(8) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = (x & 0xFF) as u8;
    }
    s1
}

#[cfg(test)]
mod tests {
    use super::Extender;

    #[test]
    fn timestamps_extend_across_wrap() {
        let mut e = Extender::default();
        assert_eq!(e.extend(0xFFFF_FF00), 0xFFFF_FF00);
        assert_eq!(e.extend(0x10), (1 << 32) + 0x10);
        assert_eq!(e.extend(0xFFFF_FFF0), 0xFFFF_FFF0);
        assert_eq!(e.extend(0x20), (1 << 32) + 0x20);
    }
}
