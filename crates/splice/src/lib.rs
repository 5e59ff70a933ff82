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
//! the kernel. Serving a 700 KB segment to 100 connections, that cost the server 224-258 µs of
//! CPU per request, and a 64 KiB pipe of our own the same, against 142-202 µs through a 1 MiB
//! pipe and 110-150 µs by copying; at 1,000 connections the 1 MiB pipe cost 123-157 µs and
//! copying 166-218 µs (docs/BENCHMARKS.md, HLS delivery).
//!
//! Where there are no memory files or splice, [`sealed`] fails, the caller keeps the bytes in
//! ordinary memory, and [`Stream`] writes everything as usual.

// Tests fail by panicking.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod sealed;
mod stream;

pub use sealed::sealed;
pub use stream::{Stream, spliced_bytes};
