//! Playlist text rendering.

use std::fmt::Write;

use super::segmenter::Segmenter;
use super::{INIT_URI, format_rfc3339_ms, part_uri, segment_uri};

/// One rendition in a master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Media playlist URI, relative to the master playlist.
    pub uri: String,
    /// Peak bits per second.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    /// e.g. `avc1.64001F,mp4a.40.2`.
    pub codecs: String,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
}

/// Renders a master playlist listing `variants` in order.
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = write!(s, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if let Some(avg) = v.average_bandwidth {
            let _ = write!(s, ",AVERAGE-BANDWIDTH={avg}");
        }
        let _ = write!(s, ",CODECS=\"{}\"", v.codecs);
        if let Some((w, h)) = v.resolution.filter(|(w, h)| *w > 0 && *h > 0) {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = v.frame_rate {
            let _ = write!(s, ",FRAME-RATE={fps:.3}");
        }
        let _ = write!(s, "\n{}\n", v.uri);
    }
    s
}

fn with_query(uri: &str, query: Option<&str>) -> String {
    match query {
        Some(q) if !q.is_empty() => format!("{uri}?{q}"),
        _ => uri.to_owned(),
    }
}

impl Segmenter {
    /// The LL-HLS media playlist. `query` (e.g. a signed playback token) is appended to every
    /// URI so that players carry it on each request.
    pub fn ll_playlist(&self, query: Option<&str>) -> String {
        self.render(true, query)
    }

    /// The same window without parts, for players that do not do LL-HLS.
    pub fn plain_playlist(&self, query: Option<&str>) -> String {
        self.render(false, query)
    }

    fn render(&self, low_latency: bool, query: Option<&str>) -> String {
        let cfg = self.config();
        let part_target = cfg.part_target_ms as f64 / 1000.0;
        let mut s = String::from("#EXTM3U\n");
        let _ = writeln!(s, "#EXT-X-VERSION:{}", if low_latency { 9 } else { 7 });
        let _ = writeln!(s, "#EXT-X-TARGETDURATION:{}", self.target_duration_secs());
        if low_latency {
            let _ = writeln!(
                s,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}",
                part_target * 3.0
            );
            let _ = writeln!(s, "#EXT-X-PART-INF:PART-TARGET={part_target:.3}");
        }
        let _ = writeln!(s, "#EXT-X-MEDIA-SEQUENCE:{}", self.first_msn());
        s.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        if self.init_segment().is_some() {
            let _ = writeln!(s, "#EXT-X-MAP:URI=\"{}\"", with_query(INIT_URI, query));
        }
        let segments = self.segments();
        let parts_from = segments.len().saturating_sub(cfg.part_window_segments);
        for (i, seg) in segments.iter().enumerate() {
            if let Some(pdt) = seg.program_date_time_ms {
                let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{}", format_rfc3339_ms(pdt));
            }
            if low_latency && i >= parts_from {
                for p in &seg.parts {
                    write_part(&mut s, seg.msn, p, query);
                }
            }
            let _ = writeln!(
                s,
                "#EXTINF:{:.5},\n{}",
                seg.duration_secs(),
                with_query(&segment_uri(seg.msn), query)
            );
        }
        if self.is_finished() {
            s.push_str("#EXT-X-ENDLIST\n");
        } else if low_latency && let Some((msn, parts, pdt)) = self.open_segment() {
            if let Some(pdt) = pdt.filter(|_| !parts.is_empty()) {
                let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{}", format_rfc3339_ms(pdt));
            }
            for p in parts {
                write_part(&mut s, msn, p, query);
            }
            let _ = writeln!(
                s,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                with_query(&part_uri(msn, parts.len()), query)
            );
        }
        s
    }
}

fn write_part(s: &mut String, msn: u64, p: &super::Part, query: Option<&str>) {
    let _ = write!(
        s,
        "#EXT-X-PART:DURATION={:.5},URI=\"{}\"",
        p.duration_secs(),
        with_query(&part_uri(msn, p.index), query)
    );
    if p.independent {
        s.push_str(",INDEPENDENT=YES");
    }
    s.push('\n');
}
