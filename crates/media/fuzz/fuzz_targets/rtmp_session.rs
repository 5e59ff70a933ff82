#![no_main]
//! Feeds arbitrary bytes after a valid handshake, split where the first byte says.

use ferrocast_media::rtmp::{Config, Event, ServerSession};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut session = ServerSession::new(Config {
        max_message_size: 1 << 20,
        ..Config::default()
    });
    let mut stream = vec![3u8];
    stream.extend(std::iter::repeat_n(0u8, 3072));
    stream.extend_from_slice(rest);
    for piece in stream.chunks(usize::from(split).max(1)) {
        let mut input = piece;
        loop {
            match session.feed(input) {
                Ok(events) if events.iter().any(|e| matches!(e, Event::Publish { .. })) => {
                    session.accept_publish();
                    input = &[];
                }
                Ok(_) => break,
                Err(_) => return,
            }
        }
        let _ = session.take_output();
    }
});
