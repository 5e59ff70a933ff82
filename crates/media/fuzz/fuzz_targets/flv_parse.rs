#![no_main]
//! FLV stream reading and tag body parsing on arbitrary bytes.

use bytes::Bytes;
use ferrocast_media::flv::{self, FlvReader};
use ferrocast_media::hls::{Segmenter, SegmenterConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = FlvReader::new(1 << 20);
    let mut segmenter = Segmenter::new(SegmenterConfig::default());
    let Ok(tags) = reader.feed(data) else {
        return;
    };
    for tag in tags {
        let ts = u64::from(tag.timestamp_ms);
        let item = match tag.tag_type {
            8 => flv::parse_audio(ts, &tag.payload),
            9 => flv::parse_video(ts, &tag.payload),
            _ => {
                let _ = flv::script_metadata(&tag.payload);
                continue;
            }
        };
        if let Ok(Some(item)) = item {
            segmenter.push(item);
        }
    }
    segmenter.finish();
    let _ = segmenter.ll_playlist(None);
    let _ = Bytes::new();
});
