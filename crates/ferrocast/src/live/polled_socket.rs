//! A publishing connection's socket once it is off the event loop. The read grid already decides
//! when a publisher is read; a socket still registered with the loop would wake the thread on
//! every TCP segment the publisher sends anyway (the kernel reports each arrival), only for the
//! loop to find nobody waiting. Read on the grid's ticks instead, a lone stream's thread wakes
//! for the ticks alone.

use std::io::{self, Read, Write};
use std::net::Shutdown;

/// Replies (acknowledgements, pings, status messages) the publisher has not taken yet, at most.
/// A publisher that stops reading is cut off rather than buffered for.
const MAX_UNSENT: usize = 1 << 20;

pub struct PolledSocket {
    stream: std::net::TcpStream,
    unsent: Vec<u8>,
}

impl PolledSocket {
    /// Takes the socket off the event loop; it stays non-blocking.
    pub fn new(socket: tokio::net::TcpStream) -> io::Result<Self> {
        let stream = socket.into_std()?;
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream,
            unsent: Vec::new(),
        })
    }

    /// Reads what has arrived: `None` when nothing is waiting, `Some(0)` at the end of the
    /// stream.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match self.stream.read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends what the socket takes now and keeps the rest for `flush`, in order.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.unsent.extend_from_slice(data);
        self.flush()
    }

    /// Sends what is left from earlier; fails when the peer has left too much untaken.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.unsent.len() > MAX_UNSENT {
            return Err(io::Error::other(
                "the publisher does not read the server's replies",
            ));
        }
        Ok(())
    }

    /// Sends what is still waiting if the socket takes it at once, then closes the sending side.
    pub fn close(mut self) {
        let _ = self.flush();
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (PolledSocket, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (PolledSocket::new(server).unwrap(), client)
    }

    /// What the next read returns once something has arrived (data or the end), polled as the
    /// read grid would.
    async fn read_when_ready(socket: &mut PolledSocket, buf: &mut [u8]) -> Option<usize> {
        for _ in 0..100 {
            if let Some(n) = socket.try_read(buf).unwrap() {
                return Some(n);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        None
    }

    #[tokio::test]
    async fn reads_what_arrived_and_sees_the_end() {
        use tokio::io::AsyncWriteExt;
        let (mut socket, mut peer) = pair().await;
        let mut buf = [0u8; 16];
        assert_eq!(socket.try_read(&mut buf).unwrap(), None);
        peer.write_all(b"hello").await.unwrap();
        assert_eq!(read_when_ready(&mut socket, &mut buf).await, Some(5));
        assert_eq!(&buf[..5], b"hello");
        drop(peer);
        assert_eq!(read_when_ready(&mut socket, &mut buf).await, Some(0));
    }

    #[tokio::test]
    async fn keeps_replies_a_slow_peer_has_not_taken_and_gives_up_past_the_limit() {
        use tokio::io::AsyncReadExt;
        let (mut socket, mut peer) = pair().await;
        // The peer reads nothing: the kernel's buffers fill, then ours.
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0usize;
        let failed = loop {
            if let Err(e) = socket.send(&chunk) {
                break e;
            }
            sent += chunk.len();
            assert!(
                sent < 64 << 20,
                "never gave up on a peer that does not read"
            );
        };
        assert!(failed.to_string().contains("does not read"), "{failed}");
        assert!(socket.unsent.len() > MAX_UNSENT);
        // What was accepted before the limit arrives in order.
        let mut first = vec![0u8; 1024];
        peer.read_exact(&mut first).await.unwrap();
        assert!(first.iter().all(|&b| b == 7));
    }
}
