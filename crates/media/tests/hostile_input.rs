//! Garbage, truncated and mutated input must produce errors or wait for more bytes, never
//! panic or allocate without bound. A deterministic stand-in for cargo-fuzz (no nightly here).
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use ferrocast_media::flv::{self, FlvReader};
use ferrocast_media::rtmp::amf0::{self, Amf0Value};
use ferrocast_media::rtmp::{Config, Error, Event, ServerSession};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn command(values: &[Amf0Value]) -> Vec<u8> {
    let mut body = Vec::new();
    for v in values {
        amf0::encode(&mut body, v);
    }
    body
}

/// A type-0 chunked message with 128-byte chunks, as a client would send.
fn chunked(out: &mut Vec<u8>, csid: u8, type_id: u8, stream_id: u32, ts: u32, body: &[u8]) {
    out.push(csid);
    out.extend_from_slice(&ts.to_be_bytes()[1..]);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    for (i, c) in body.chunks(128).enumerate() {
        if i > 0 {
            out.push(0xC0 | csid);
        }
        out.extend_from_slice(c);
    }
}

/// A complete, valid publisher byte stream: handshake, connect, createStream, publish, media.
fn valid_client_stream() -> Vec<u8> {
    let mut s = vec![3u8];
    s.extend(vec![0u8; 1536 * 2]);
    let s_ = |x: &str| Amf0Value::String(x.into());
    let connect = command(&[
        s_("connect"),
        Amf0Value::Number(1.0),
        Amf0Value::Object(vec![("app".into(), s_("live"))]),
    ]);
    chunked(&mut s, 3, 20, 0, 0, &connect);
    let create = command(&[s_("createStream"), Amf0Value::Number(2.0), Amf0Value::Null]);
    chunked(&mut s, 3, 20, 0, 0, &create);
    let publish = command(&[
        s_("publish"),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        s_("KEY"),
        s_("live"),
    ]);
    chunked(&mut s, 8, 20, 1, 0, &publish);
    chunked(
        &mut s,
        6,
        9,
        1,
        0,
        &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1E, 0xFF, 0xE0, 0, 0],
    );
    chunked(&mut s, 6, 9, 1, 40, &vec![0x27; 300]);
    chunked(&mut s, 4, 8, 1, 20, &[0xAF, 1, 0x21, 0x10]);
    // An aggregate with two audio tags 23 ms apart.
    let mut agg = Vec::new();
    for (ts, body) in [(1000u32, [0xAFu8, 1, 1]), (1023, [0xAF, 1, 2])] {
        agg.push(8);
        agg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        agg.extend_from_slice(&ts.to_be_bytes()[1..]);
        agg.push(0);
        agg.extend_from_slice(&[0, 0, 0]);
        agg.extend_from_slice(&body);
        agg.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    }
    chunked(&mut s, 4, 22, 1, 500, &agg);
    s
}

fn run(data: &[u8], pieces: &mut Rng) -> Result<Vec<Event>, Error> {
    let mut session = ServerSession::new(Config {
        max_message_size: 1 << 16,
        ..Config::default()
    });
    let mut events = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = 1 + pieces.below(rest.len().min(700));
        let (a, b) = rest.split_at(n.min(rest.len()));
        rest = b;
        let mut new = session.feed(a)?;
        while new.iter().any(|e| matches!(e, Event::Publish { .. })) {
            session.accept_publish();
            events.append(&mut new);
            new = session.feed(&[])?;
        }
        events.append(&mut new);
        let _ = session.take_output();
    }
    Ok(events)
}

#[test]
fn valid_stream_in_any_split_works_and_aggregates_split() {
    let data = valid_client_stream();
    let mut rng = Rng(7);
    for _ in 0..200 {
        let events = run(&data, &mut rng).expect("valid stream");
        let media: Vec<(u64, usize)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Media {
                    timestamp_ms,
                    payload,
                    ..
                } => Some((*timestamp_ms, payload.len())),
                _ => None,
            })
            .collect();
        assert_eq!(media, vec![(0, 13), (40, 300), (20, 4), (500, 3), (523, 3)]);
    }
}

#[test]
fn truncated_stream_waits_without_error() {
    let data = valid_client_stream();
    let mut rng = Rng(11);
    for cut in 0..data.len() {
        assert!(
            run(&data[..cut], &mut rng).is_ok(),
            "truncation at {cut} failed"
        );
    }
}

#[test]
fn garbage_is_refused() {
    let mut rng = Rng(0x1234_5678);
    for _ in 0..2000 {
        let n = 1 + rng.below(5000);
        let mut data = rng.bytes(n);
        if data[0] == 3 {
            data[0] = 4;
        }
        assert!(matches!(run(&data, &mut rng), Err(Error::Version(_))));
    }
    // Garbage after a valid handshake: chunk headers that refer to nothing, or huge sizes.
    let mut refused = 0;
    for _ in 0..2000 {
        let mut data = vec![3u8];
        data.extend(vec![0u8; 3072]);
        let n = 1 + rng.below(20_000);
        data.extend(rng.bytes(n));
        if run(&data, &mut rng).is_err() {
            refused += 1;
        }
    }
    assert!(
        refused > 1900,
        "only {refused} of 2000 garbage streams refused"
    );
}

#[test]
fn absurd_sizes_are_refused_without_allocating() {
    let mut data = vec![3u8];
    data.extend(vec![0u8; 3072]);
    // A 16 MiB message announced to a session limited to 64 KiB.
    data.extend_from_slice(&[0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0]);
    let mut rng = Rng(3);
    assert!(matches!(
        run(&data, &mut rng),
        Err(Error::MessageTooLarge(_))
    ));

    // Many chunk streams each holding a partial message.
    let mut data = vec![3u8];
    data.extend(vec![0u8; 3072]);
    for csid in 3..63u8 {
        data.extend_from_slice(&[csid, 0, 0, 0, 0, 0x10, 0, 9, 1, 0, 0, 0]);
        data.extend(vec![0u8; 128]);
    }
    let mut session = ServerSession::new(Config {
        max_chunk_streams: 16,
        ..Config::default()
    });
    assert!(matches!(
        session.feed(&data),
        Err(Error::TooManyChunkStreams)
    ));
    assert!(matches!(session.feed(&[0]), Err(Error::Failed)));
}

#[test]
fn mutated_streams_never_panic() {
    let base = valid_client_stream();
    let mut rng = Rng(0xDEAD_BEEF);
    for _ in 0..20_000 {
        let mut data = base.clone();
        for _ in 0..1 + rng.below(8) {
            let i = 3073 + rng.below(data.len() - 3073);
            data[i] = rng.next() as u8;
        }
        let _ = run(&data, &mut rng);
    }
}

#[test]
fn flv_parsers_survive_garbage() {
    let mut rng = Rng(99);
    for _ in 0..50_000 {
        let n = rng.below(64);
        let mut data = rng.bytes(n);
        // Steer towards the interesting paths: AVC/HEVC/enhanced video, AAC audio.
        if let Some(b) = data.first_mut() {
            *b = [0x17, 0x27, 0x1C, 0x90, 0x91, 0xAF][rng.below(6)];
        }
        if data.len() > 1 && rng.below(2) == 0 {
            data[1] = 0;
        }
        if data.len() > 5 && data[0] & 0x80 != 0 {
            data[1..5].copy_from_slice(if rng.below(2) == 0 { b"hvc1" } else { b"avc1" });
        }
        let bytes = Bytes::from(data);
        let _ = flv::parse_video(0, &bytes);
        let _ = flv::parse_audio(0, &bytes);
        let _ = flv::script_metadata(&bytes);
    }
    let mut reader = FlvReader::new(1 << 16);
    assert!(reader.feed(b"NOTFLV").is_err());
    let mut reader = FlvReader::new(1 << 16);
    let mut header = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    header.extend_from_slice(&[9, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0]);
    assert!(reader.feed(&header).is_err());
    for _ in 0..2000 {
        let mut reader = FlvReader::new(1 << 16);
        let mut data = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        let n = rng.below(4000);
        data.extend(rng.bytes(n));
        let _ = reader.feed(&data);
    }
}
