//! Media bytes that the kernel sends to a socket without copying them out of our memory.
//!
//! A live segment is written once into a sealed memory file ([`sealed`]) and mapped read-only;
//! the `Bytes` that responses carry point into that mapping, so holding and slicing them costs
//! nothing per viewer. [`Stream`], the socket type the HTTP server runs on, recognises such bytes
//! when they are written and moves them with `splice(2)`, from the memory file through a pipe
//! into the socket: the socket's buffers then refer to the file's pages instead of holding a
//! copy of them for each viewer. Any other bytes are written as usual.
//!
//! Why a pipe of our own rather than `sendfile(2)`: sendfile goes through a 64 KiB pipe inside
//! the kernel, and with it a 700 KB segment cost the server 225-260 µs of CPU per request at 100
//! connections, against 130-150 µs when copying; through a 1 MiB pipe it costs 140-160 µs at
//! 100 connections and 130-150 µs at 1,000, where copying costs 200-220 µs (figures in the
//! project's benchmarks).
//!
//! On systems without memory files and splice, [`sealed`] joins into ordinary memory and
//! [`Stream`] writes everything as usual.

// Tests fail by panicking.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod sealed;
mod stream;

pub use sealed::sealed;
pub use stream::{Stream, spliced_bytes};
