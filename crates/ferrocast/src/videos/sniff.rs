//! The container of an upload, judged from its first bytes, never from the name or the
//! client's content type.

use crate::models::VideoFormat;

/// Bytes needed to decide.
pub const SNIFF_LEN: usize = 4096;

pub fn sniff(head: &[u8]) -> Option<VideoFormat> {
    // Matroska and WebM share the EBML header; the DocType inside it tells them apart.
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        let window = &head[..head.len().min(128)];
        if contains(window, b"webm") {
            return Some(VideoFormat::Webm);
        }
        if contains(window, b"matroska") {
            return Some(VideoFormat::Mkv);
        }
        return None;
    }
    if infer::video::is_mov(head) {
        return Some(VideoFormat::Mov);
    }
    if infer::video::is_mp4(head) || infer::video::is_m4v(head) {
        return Some(VideoFormat::Mp4);
    }
    if infer::video::is_avi(head) {
        return Some(VideoFormat::Avi);
    }
    if infer::video::is_wmv(head) {
        return Some(VideoFormat::Wmv);
    }
    if infer::video::is_flv(head) {
        return Some(VideoFormat::Flv);
    }
    None
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A file name safe to put on disk: the last path component only, a conservative character set,
/// no leading dots, bounded length.
pub fn safe_file_name(client_name: &str) -> String {
    let base = client_name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let mut out: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while out.starts_with('.') {
        out.remove(0);
    }
    if out.len() > 100 {
        let ext = out.rsplit_once('.').map(|(_, e)| e.to_string());
        out.truncate(90);
        if let Some(ext) = ext.filter(|e| e.len() <= 8) {
            out.push('.');
            out.push_str(&ext);
        }
    }
    if out.is_empty() || out.chars().all(|c| c == '_' || c == '.') {
        out = "video".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("..\\..\\win.ini"), "win.ini");
        assert_eq!(safe_file_name("..."), "video");
        assert_eq!(safe_file_name(".hidden.mp4"), "hidden.mp4");
        assert_eq!(safe_file_name("my video (1).mp4"), "my_video__1_.mp4");
        assert_eq!(safe_file_name(""), "video");
        assert!(safe_file_name(&"a".repeat(500)).len() <= 100);
    }

    #[test]
    fn sniffs_magic_bytes() {
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
        assert_eq!(sniff(&mp4), Some(VideoFormat::Mp4));
        assert_eq!(sniff(b"FLV\x01\x05\0\0\0\x09"), Some(VideoFormat::Flv));
        assert_eq!(sniff(b"hello, I am a text file pretending"), None);
        let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01];
        webm.extend_from_slice(b"\x42\x82\x84webm");
        assert_eq!(sniff(&webm), Some(VideoFormat::Webm));
    }
}
