//! FLV from ffmpeg -> flv demux -> LL-HLS segmenter -> files on disk, judged by ffprobe.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use ferrocast_media::flv::{self, MediaItem};
use ferrocast_media::hls::{self, Segmenter, SegmenterConfig};

/// The demuxed items of an FLV file, each with its tag's timestamp (ms).
fn items(source: &Path) -> Vec<(u64, MediaItem)> {
    common::read_tags(source)
        .into_iter()
        .filter_map(|tag| {
            let ts = u64::from(tag.timestamp_ms);
            let item = match tag.tag_type {
                8 => flv::parse_audio(ts, &tag.payload).expect("audio tag"),
                9 => flv::parse_video(ts, &tag.payload).expect("video tag"),
                _ => None,
            };
            item.map(|item| (ts, item))
        })
        .collect()
}

fn package(source: &Path, config: SegmenterConfig) -> Segmenter {
    let mut seg = Segmenter::new(config);
    for (_, item) in items(source) {
        seg.push(item);
    }
    seg.finish();
    seg
}

fn write_rendition(dir: &Path, seg: &Segmenter) {
    std::fs::write(dir.join(hls::INIT_URI), seg.init_segment().expect("init")).expect("write");
    for s in seg.segments() {
        std::fs::write(dir.join(hls::segment_uri(s.msn)), &s.data).expect("write");
        for p in &s.parts {
            std::fs::write(dir.join(hls::part_uri(s.msn, p.index)), &p.data).expect("write");
        }
    }
    std::fs::write(dir.join("playlist.m3u8"), seg.ll_playlist(None)).expect("write");
    std::fs::write(dir.join("plain.m3u8"), seg.plain_playlist(None)).expect("write");
}

#[test]
fn packaged_hls_matches_source_packets() {
    let dir = common::temp_dir("segmenter");
    let source = common::make_flv(&dir, 6);
    let config = SegmenterConfig {
        window_segments: 100,
        program_date_time_ms: Some(1_700_000_000_000),
        ..SegmenterConfig::default()
    };
    let seg = package(&source, config.clone());
    write_rendition(&dir, &seg);

    let streams = common::probe_streams(&dir.join("playlist.m3u8"));
    assert_eq!(streams, vec!["h264,video,640,360", "aac,audio"]);
    assert_eq!(common::probe_streams(&dir.join("plain.m3u8")), streams);

    let src_video = common::probe_packets(&source, "v");
    let src_audio = common::probe_packets(&source, "a");
    assert!(
        src_video.len() >= 170,
        "source too short: {}",
        src_video.len()
    );
    assert!(
        src_video.iter().any(|p| p.pts_ms != p.dts_ms),
        "source has no B-frames"
    );
    for playlist in ["playlist.m3u8", "plain.m3u8"] {
        let out_video = common::probe_packets(&dir.join(playlist), "v");
        assert_eq!(out_video.len(), src_video.len(), "video packet count");
        for (i, (a, b)) in src_video.iter().zip(&out_video).enumerate() {
            assert_eq!(
                (a.pts_ms, a.dts_ms, a.keyframe, a.size),
                (b.pts_ms, b.dts_ms, b.keyframe, b.size),
                "video packet {i} differs"
            );
        }
        let out_audio = common::probe_packets(&dir.join(playlist), "a");
        assert_eq!(out_audio.len(), src_audio.len(), "audio packet count");
        for (i, (a, b)) in src_audio.iter().zip(&out_audio).enumerate() {
            // Audio is re-timed onto its exact 1024-sample cadence; FLV rounds to whole ms.
            assert!(
                (a.dts_ms - b.dts_ms).abs() <= 1,
                "audio packet {i}: {a:?} vs {b:?}"
            );
            assert_eq!(a.size, b.size, "audio packet {i} size");
        }
    }

    // Segment and part durations: keyframes every 2 s, so every segment but the last is 2 s.
    let segments: Vec<_> = seg.segments().iter().collect();
    assert_eq!(segments.len(), 3);
    let target = seg.target_duration_secs();
    assert_eq!(target, 2);
    for s in &segments {
        assert!(
            s.duration_secs().round() as u64 <= target,
            "segment {} too long",
            s.msn
        );
        let parts_total: u64 = s.parts.iter().map(|p| p.duration).sum();
        assert_eq!(parts_total, s.duration, "parts of {} do not add up", s.msn);
        assert!(s.parts.first().is_some_and(|p| p.independent));
        for p in &s.parts {
            assert!(
                p.duration_secs() <= 0.333 + 1e-9,
                "part {} too long",
                p.index
            );
        }
    }
    for s in &segments[..segments.len() - 1] {
        assert!(
            (s.duration_secs() - 2.0).abs() < 1e-9,
            "segment {} is {}",
            s.msn,
            s.duration_secs()
        );
    }

    // Parts alone (as an LL-HLS client fetches them) decode to the same packets.
    let mut parts_file = seg.init_segment().expect("init").to_vec();
    for s in &segments {
        for p in &s.parts {
            parts_file.extend_from_slice(&p.data);
        }
    }
    let parts_path = dir.join("parts.mp4");
    std::fs::write(&parts_path, parts_file).expect("write");
    let part_video = common::probe_packets(&parts_path, "v");
    assert_eq!(part_video.len(), src_video.len());
    assert!(
        src_video
            .iter()
            .zip(&part_video)
            .all(|(a, b)| (a.pts_ms, a.dts_ms) == (b.pts_ms, b.dts_ms))
    );

    let ll = seg.ll_playlist(Some("token=abc"));
    for needle in [
        "#EXT-X-VERSION:9",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.999",
        "#EXT-X-PART-INF:PART-TARGET=0.333",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-MAP:URI=\"init.mp4?token=abc\"",
        "#EXT-X-PART:DURATION=0.30000,URI=\"part0.0.m4s?token=abc\",INDEPENDENT=YES",
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z",
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:22.000Z",
        "#EXTINF:2.00000,\nseg0.m4s?token=abc",
        "#EXT-X-ENDLIST",
    ] {
        assert!(ll.contains(needle), "missing {needle:?} in\n{ll}");
    }
    let plain = seg.plain_playlist(None);
    assert!(!plain.contains("EXT-X-PART"), "{plain}");

    let master = hls::master_playlist(&[hls::Variant {
        uri: "source/playlist.m3u8".into(),
        bandwidth: seg.bandwidth().map_or(0, |b| b.0),
        average_bandwidth: seg.bandwidth().map(|b| b.1),
        codecs: seg.codecs().expect("codecs"),
        resolution: seg.resolution(),
        frame_rate: Some(30.0),
    }]);
    assert!(
        master.contains("CODECS=\"avc1.64001E,mp4a.40.2\""),
        "{master}"
    );
    assert!(master.contains("RESOLUTION=640x360"), "{master}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_window_slides_and_blocks_correctly() {
    let dir = common::temp_dir("window");
    let source = common::make_flv(&dir, 6);
    let mut seg = Segmenter::new(SegmenterConfig {
        window_segments: 2,
        part_window_segments: 1,
        ..SegmenterConfig::default()
    });
    let mut produced = Vec::new();
    for (_, item) in items(&source) {
        produced.extend(seg.push(item));
    }
    // Live (not finished): two complete segments kept, the third open with parts.
    let msns: Vec<u64> = seg.segments().iter().map(|s| s.msn).collect();
    assert_eq!(msns, vec![0, 1]);
    assert!(
        seg.segments()[0].parts.is_empty(),
        "parts kept outside the part window"
    );
    assert!(!seg.segments()[1].parts.is_empty());
    let ll = seg.ll_playlist(None);
    assert!(
        ll.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part2."),
        "{ll}"
    );
    assert!(!ll.contains("#EXT-X-ENDLIST"));
    assert!(seg.is_ready(1, None));
    assert!(seg.is_ready(2, Some(0)));
    assert!(!seg.is_ready(2, None));
    assert!(!seg.is_ready(3, Some(0)));
    assert!(seg.part(2, 0).is_some());
    assert_eq!(
        produced
            .iter()
            .filter(|p| matches!(p, hls::Produced::Segment { .. }))
            .count(),
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rendition that joins late numbers from `start_msn`, and the segment a keyframe opens can be
/// asked for, so that the joiner can start on the same segment boundary.
#[test]
fn start_msn_and_segment_starts() {
    let dir = common::temp_dir("start_msn");
    let source = common::make_flv(&dir, 4);
    let mut seg = Segmenter::new(SegmenterConfig {
        start_msn: 7,
        ..SegmenterConfig::default()
    });
    let mut starts = Vec::new();
    for (ts, item) in items(&source) {
        let key =
            matches!(&item, MediaItem::Frame(f) if f.keyframe && f.track == flv::Track::Video);
        seg.push(item);
        if key && let Some((msn, _)) = seg.segment_starting_at(ts) {
            starts.push(msn);
        }
    }
    let msns: Vec<u64> = seg.segments().iter().map(|s| s.msn).collect();
    assert_eq!(msns.first(), Some(&7));
    // Every segment was reported as it opened, once.
    assert_eq!(starts[..msns.len()], msns[..]);
    assert!(seg.segment_starting_at(u64::MAX / 100).is_none());
}

/// `next_cut` names exactly the frames that close a part or segment: none before it cuts
/// (a reader waiting for it misses nothing) and the first at or past it does (it does not wait
/// longer than it must); and it knows the newest frame received.
#[test]
fn next_cut_names_the_frame_that_cuts() {
    let dir = common::temp_dir("next_cut");
    let source = common::make_flv(&dir, 5);
    let mut seg = Segmenter::new(SegmenterConfig::default());
    assert_eq!(
        seg.next_cut(),
        None,
        "nothing to cut before the first keyframe"
    );
    let mut cuts = 0;
    for (ts, item) in items(&source) {
        let video = matches!(&item, MediaItem::Frame(f) if f.track == flv::Track::Video);
        let before = seg.next_cut();
        let produced = seg.push(item);
        let cut = produced.iter().any(|p| {
            matches!(
                p,
                hls::Produced::Part { .. } | hls::Produced::Segment { .. }
            )
        });
        if let (true, Some(before)) = (video, before) {
            let due = before.due_ms;
            assert_eq!(
                cut,
                ts >= due,
                "frame at {ts} ms, cut predicted at {due} ms"
            );
            cuts += usize::from(cut);
            assert_eq!(seg.next_cut().map(|c| c.newest_ms), Some(ts));
        }
    }
    // Five seconds of parts of a third of a second.
    assert!(cuts >= 14, "{cuts} cuts");
    seg.finish();
    assert_eq!(seg.next_cut(), None, "nothing to cut after the end");
    let _ = std::fs::remove_dir_all(&dir);
}
