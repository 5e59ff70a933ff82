//! A sans-I/O RTMP server session for publishers (OBS, ffmpeg): feed it the bytes read from the
//! socket, write out what [`ServerSession::take_output`] returns, and act on the events.

pub mod amf0;
mod chunk;
mod session;

pub use session::{Config, Event, MediaKind, ServerSession};

/// Why a session failed; the connection should be closed after sending any pending output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unsupported RTMP version {0}")]
    Version(u8),
    #[error("RTMP protocol violation: {0}")]
    Protocol(&'static str),
    #[error("RTMP message of {0} bytes exceeds the limit")]
    MessageTooLarge(u32),
    #[error("too many RTMP chunk streams")]
    TooManyChunkStreams,
    #[error("too much partially received RTMP data")]
    BufferLimit,
    #[error("bad AMF0 in RTMP message: {0}")]
    Amf0(#[from] amf0::Amf0Error),
    #[error("RTMP session already failed")]
    Failed,
}
