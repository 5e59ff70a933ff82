//! The HTTP server's socket: bytes of sealed memory files are spliced, the rest written.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes spliced into sockets so far, by every [`Stream`].
static SPLICED: AtomicU64 = AtomicU64::new(0);

/// How many bytes every [`Stream`] together has spliced since the process started.
pub fn spliced_bytes() -> u64 {
    SPLICED.load(Ordering::Relaxed)
}

/// A TCP connection whose writes move sealed bytes (see [`crate::sealed`]) without copying
/// them. Each write sends either the buffers before the first sealed one, or that sealed buffer
/// alone, and reports how much went out, as any partial write does.
#[derive(Debug)]
pub struct Stream {
    tcp: TcpStream,
    #[cfg(target_os = "linux")]
    splice: linux::Splice,
}

impl Stream {
    pub fn new(tcp: TcpStream) -> Self {
        Self {
            tcp,
            #[cfg(target_os = "linux")]
            splice: linux::Splice::default(),
        }
    }

    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }

    #[cfg(target_os = "linux")]
    fn poll_send(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.splice.poll_send(&mut self.tcp, cx, bufs)
    }

    #[cfg(not(target_os = "linux"))]
    fn poll_send(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::io::{self, IoSlice};
    use std::os::fd::OwnedFd;
    use std::pin::Pin;
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::{Context, Poll, ready};

    use rustix::net::{SendAncillaryBuffer, SendFlags};
    use rustix::pipe::{PipeFlags, SpliceFlags};
    use tokio::io::{AsyncWrite, Interest};
    use tokio::net::TcpStream;

    use super::SPLICED;
    use crate::sealed::find;

    /// A 700 KB segment fits whole, so it leaves in one splice into the socket; at the kernel's
    /// default of 64 KiB it takes eleven, each pushing its own packets.
    const PIPE_SIZE: usize = 1 << 20;
    /// Idle pipes kept for the next response; more are closed when they empty.
    const IDLE_PIPES: usize = 64;

    static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

    #[derive(Debug)]
    struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
    }

    impl Pipe {
        fn take() -> io::Result<Self> {
            if let Some(p) = POOL.lock().unwrap_or_else(PoisonError::into_inner).pop() {
                return Ok(p);
            }
            let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
            // A smaller pipe (the system's limit for this user, say) is slower, not wrong.
            let _ = rustix::pipe::fcntl_setpipe_size(&write, PIPE_SIZE);
            Ok(Self { read, write })
        }

        /// Back to the pool; only ever called on an empty pipe.
        fn give_back(self) {
            let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.len() < IDLE_PIPES {
                pool.push(self);
            }
        }
    }

    /// A sealed buffer partly moved into a pipe: the pipe holds the bytes of `file` from
    /// `offset`, `len` of them, which are the next ones the socket must get.
    #[derive(Debug)]
    struct InPipe {
        pipe: Pipe,
        file: Arc<File>,
        offset: u64,
        len: usize,
    }

    #[derive(Debug, Default)]
    pub(super) struct Splice {
        pending: Option<InPipe>,
    }

    impl Splice {
        pub(super) fn poll_send(
            &mut self,
            tcp: &mut TcpStream,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let found = find(bufs);
            if let Some(p) = &self.pending {
                // A writer retries the rest of what it was told is unsent; anything else would
                // put bytes on the wire ahead of the ones waiting in the pipe.
                let resumes = found
                    .as_ref()
                    .is_some_and(|(i, f, o)| *i == 0 && Arc::ptr_eq(f, &p.file) && *o == p.offset);
                if !resumes {
                    return Poll::Ready(Err(io::Error::other(
                        "a spliced write was abandoned part way",
                    )));
                }
            }
            match found {
                None => Pin::new(tcp).poll_write_vectored(cx, bufs),
                Some((0, file, offset)) => {
                    let len = bufs.first().map_or(0, |b| b.len());
                    self.poll_splice(tcp, cx, file, offset, len, bufs)
                }
                Some((first, _, _)) => {
                    // The response head waits in the socket for the media that follows, so
                    // head and body leave in full packets.
                    let head = bufs.get(..first).unwrap_or_default();
                    let tcp: &TcpStream = tcp;
                    poll_io(tcp, cx, || {
                        let flags = SendFlags::MORE | SendFlags::NOSIGNAL;
                        let mut control = SendAncillaryBuffer::default();
                        Ok(rustix::net::sendmsg(tcp, head, &mut control, flags)?)
                    })
                }
            }
        }

        fn poll_splice(
            &mut self,
            tcp: &mut TcpStream,
            cx: &mut Context<'_>,
            file: Arc<File>,
            offset: u64,
            len: usize,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut pending = match self.pending.take() {
                Some(p) => p,
                None => match Pipe::take() {
                    Ok(pipe) => InPipe {
                        pipe,
                        file,
                        offset,
                        len: 0,
                    },
                    // Out of descriptors: this buffer goes out as a copy instead.
                    Err(_) => {
                        return Pin::new(tcp)
                            .poll_write_vectored(cx, bufs.get(..1).unwrap_or_default());
                    }
                },
            };
            let tcp: &TcpStream = tcp;
            let result = poll_io(tcp, cx, || {
                if pending.len == 0 {
                    // From a memory file into a pipe: page references move, nothing waits.
                    let mut from = pending.offset;
                    pending.len = rustix::pipe::splice(
                        &*pending.file,
                        Some(&mut from),
                        &pending.pipe.write,
                        None,
                        len,
                        SpliceFlags::NONBLOCK,
                    )?;
                    if pending.len == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "sealed memory file shorter than its mapping",
                        ));
                    }
                }
                let more = if pending.len < len {
                    SpliceFlags::MORE
                } else {
                    SpliceFlags::empty()
                };
                let sent = rustix::pipe::splice(
                    &pending.pipe.read,
                    None,
                    tcp,
                    None,
                    pending.len,
                    SpliceFlags::NONBLOCK | more,
                )?;
                pending.len -= sent;
                pending.offset += sent as u64;
                Ok(sent)
            });
            if let Poll::Ready(Ok(sent)) = result {
                SPLICED.fetch_add(sent as u64, Ordering::Relaxed);
            }
            if pending.len == 0 {
                pending.pipe.give_back();
            } else if !matches!(result, Poll::Ready(Err(_))) {
                self.pending = Some(pending);
            }
            result
        }
    }

    fn poll_io(
        tcp: &TcpStream,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            match tcp.try_io(Interest::WRITABLE, &mut op) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, bufs)
    }

    /// Vectored, so that an HTTP server queues a response's body as the `Bytes` it is given
    /// rather than copying it behind the head.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Head, sealed body and a heap tail, written the way an HTTP server does (retrying what a
    /// partial write left), arrive whole and in order, even when the body is far larger than
    /// the socket's buffers and the reader is slow.
    #[tokio::test]
    async fn mixed_buffers_arrive_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let body: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let sealed = crate::sealed(&[&body[..1000], &body[1000..]]).unwrap();
        let expected = [b"HEAD".as_slice(), &body[10..], b"TAIL"].concat();
        let reader = tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
            let mut got = Vec::new();
            let mut chunk = vec![0u8; 100_000];
            loop {
                let n = peer
                    .read(&mut chunk)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                if n == 0 {
                    break;
                }
                got.extend_from_slice(chunk.get(..n).unwrap_or_default());
                tokio::task::yield_now().await;
            }
            got
        });
        let before = spliced_bytes();
        let tcp = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut stream = Stream::new(tcp);
        let part = sealed.slice(10..);
        let mut bufs: Vec<&[u8]> = vec![b"HEAD", &part, b"TAIL"];
        while !bufs.is_empty() {
            let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
            let mut n = stream
                .write_vectored(&slices)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            while let Some(first) = bufs.first_mut() {
                if n >= first.len() {
                    n -= first.len();
                    bufs.remove(0);
                } else {
                    *first = first.get(n..).unwrap_or_default();
                    break;
                }
            }
        }
        stream.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
        let got = reader.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes differ");
        #[cfg(target_os = "linux")]
        assert!(
            spliced_bytes() - before >= part.len() as u64,
            "the sealed body went out by splice"
        );
    }
}
