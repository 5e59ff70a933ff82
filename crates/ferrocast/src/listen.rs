//! Listening sockets sized for a crowd arriving at once.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Connections the kernel may hold for us before we accept them; it caps this at
/// `net.core.somaxconn`. The standard library's 128 overflows when a thousand viewers arrive
/// at once (a stream going live): the kernel then drops their handshakes, which they retry
/// a second or more later, and answers others with SYN cookies, which cut their segment size
/// from 64 KiB to 1,460 bytes on loopback (measured in docs/BENCHMARKS.md, HLS delivery).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with room for [`LISTEN_BACKLOG`] connections not yet accepted.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As the standard library's bind does: a restarted server gets its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpStream;
    use tokio::task::JoinSet;

    use super::*;

    /// Far more viewers than the standard library's backlog of 128 connect before the server
    /// takes any of them: every client connects and every connection is then there to accept.
    /// With a backlog of 128 the kernel drops the handshakes past it, and keeps dropping the
    /// clients' retries while nobody accepts.
    #[tokio::test]
    async fn a_crowd_connecting_at_once_is_queued_whole() {
        const CROWD: usize = 600;
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut connecting = JoinSet::new();
        for _ in 0..CROWD {
            connecting.spawn(tokio::time::timeout(
                Duration::from_secs(5),
                TcpStream::connect(addr),
            ));
        }
        let mut clients = Vec::new();
        while let Some(done) = connecting.join_next().await {
            if let Ok(Ok(stream)) = done.unwrap() {
                clients.push(stream);
            }
        }
        assert_eq!(clients.len(), CROWD, "every client connected");
        let mut accepted = 0;
        while accepted < CROWD {
            match tokio::time::timeout(Duration::from_secs(5), listener.accept()).await {
                Ok(Ok(_)) => accepted += 1,
                _ => break,
            }
        }
        assert_eq!(accepted, CROWD, "every connection was queued for accept");
    }
}
