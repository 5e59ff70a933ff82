//! Real ffmpeg publishes over RTMP to a std::net harness driving `ServerSession`; every tag
//! received must equal the source FLV's tag, timestamp and bytes.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrocast_media::flv;
use ferrocast_media::rtmp::{Config, Event, MediaKind, ServerSession};

type Received = Result<Vec<Event>, String>;

/// Accepts one connection and runs a session on it, accepting only `key`.
fn serve(listener: TcpListener, key: &'static str) -> JoinHandle<Received> {
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let mut session = ServerSession::new(Config::default());
        let mut events = Vec::new();
        // An odd buffer size makes chunk boundaries fall everywhere.
        let mut buf = vec![0u8; 4093];
        loop {
            let n = match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => return Err(e.to_string()),
            };
            let mut input = buf.get(..n).unwrap_or(&[]);
            loop {
                let new = session.feed(input).map_err(|e| e.to_string())?;
                input = &[];
                let mut decided = false;
                for ev in new {
                    if let Event::Publish { stream_name, .. } = &ev {
                        decided = true;
                        if stream_name == key {
                            session.accept_publish();
                        } else {
                            session.reject_publish("Unknown stream key.");
                        }
                    }
                    events.push(ev);
                }
                // After a verdict, process whatever the session held back meanwhile.
                if !decided {
                    break;
                }
            }
            let out = session.take_output();
            if !out.is_empty() && sock.write_all(&out).is_err() {
                break;
            }
        }
        Ok(events)
    })
}

fn publish(source: &Path, port: u16, key: &str, realtime: bool) -> Output {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error"]);
    if realtime {
        cmd.arg("-re");
    }
    cmd.arg("-i")
        .arg(source)
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("rtmp://127.0.0.1:{port}/live/{key}"))
        .output()
        .expect("run ffmpeg")
}

fn check_publish(seconds: u32, realtime: bool) {
    let dir = common::temp_dir("rtmp");
    let source = common::make_flv(&dir, seconds);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = serve(listener, "KEY");
    let out = publish(&source, port, "KEY", realtime);
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = server.join().expect("server thread").expect("session");

    assert!(matches!(events.first(), Some(Event::Connect { app, .. }) if app == "live"));
    assert!(events.iter().any(
        |e| matches!(e, Event::Publish { app, stream_name } if app == "live" && stream_name == "KEY")
    ));
    assert!(
        matches!(events.last(), Some(Event::Unpublish { stream_name }) if stream_name == "KEY")
    );

    let tags = common::read_tags(&source);
    for (kind, tag_type) in [(MediaKind::Video, 9u8), (MediaKind::Audio, 8u8)] {
        let expected: Vec<(u64, &[u8])> = tags
            .iter()
            .filter(|t| t.tag_type == tag_type)
            .map(|t| (u64::from(t.timestamp_ms), t.payload.as_ref()))
            .collect();
        let got: Vec<(u64, &[u8])> = events
            .iter()
            .filter_map(|e| match e {
                Event::Media {
                    kind: k,
                    timestamp_ms,
                    payload,
                } if *k == kind => Some((*timestamp_ms, payload.as_ref())),
                _ => None,
            })
            .collect();
        assert_eq!(got.len(), expected.len(), "{kind:?} tag count");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g.0, e.0, "{kind:?} tag {i} timestamp");
            assert!(g.1 == e.1, "{kind:?} tag {i} payload differs");
        }
    }
    // Composition times came through signed and non-zero (B-frames).
    let ctss: Vec<i32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Media {
                kind: MediaKind::Video,
                timestamp_ms,
                payload,
            } => match flv::parse_video(*timestamp_ms, payload) {
                Ok(Some(flv::MediaItem::Frame(f))) => Some(f.cts_ms),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(ctss.iter().any(|c| *c > 0));
    // @setDataFrame metadata passes through as data and parses as onMetaData.
    let meta = events.iter().find_map(|e| match e {
        Event::Media {
            kind: MediaKind::Data,
            payload,
            ..
        } => flv::script_metadata(payload),
        _ => None,
    });
    let meta = meta.expect("metadata");
    assert_eq!(meta.get("width").and_then(|v| v.as_f64()), Some(640.0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn realtime_publish_matches_source_tags() {
    check_publish(6, true);
}

#[test]
fn long_fast_publish_matches_source_tags() {
    // Five minutes of media pushed as fast as ffmpeg can: drift (the failure seen in other RTMP
    // servers, ~8 s over 500 s) would show here.
    check_publish(300, false);
}

#[test]
fn wrong_key_gets_an_error_reply() {
    let dir = common::temp_dir("rtmp-reject");
    let source = common::make_flv(&dir, 1);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = serve(listener, "KEY");
    let out = publish(&source, port, "WRONG", false);
    assert!(!out.status.success(), "ffmpeg should fail on a refused key");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Unknown stream key."),
        "ffmpeg said: {stderr}"
    );
    let events = server.join().expect("server thread").expect("session");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Media { .. })),
        "media leaked from a refused publish"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
