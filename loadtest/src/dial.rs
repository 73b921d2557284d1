//! Opening client connections, from several loopback source addresses when one runs out of
//! ports.
//!
//! One source address can hold one connection per local port to a given server address: about
//! 28k with Linux's default ephemeral range (32768-60999), fewer once reconnects leave sockets
//! in TIME_WAIT. With `source_ips > 1`, connection `i` binds to `127.0.0.(1 + i mod n)` before
//! connecting (the whole 127.0.0.0/8 is loopback on Linux), which multiplies the ports available;
//! `IP_BIND_ADDRESS_NO_PORT` leaves the port choice to `connect()`, as for an unbound socket.
//! Slow and paused clients get a small `SO_RCVBUF`, so the server sees them stall after a few KiB
//! instead of after megabytes of kernel autotuning.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use nix::sys::socket::setsockopt;
use nix::sys::socket::sockopt::IpBindAddressNoPort;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};

/// Connections per source address the automatic choice aims for: well under the default
/// ephemeral range, leaving room for TIME_WAIT after reconnects.
pub const CONNECTIONS_PER_SOURCE: usize = 16_000;

/// Opens connections to one server address.
#[derive(Debug, Clone)]
pub struct Dialer {
    target: SocketAddr,
    sources: Vec<IpAddr>,
}

impl Dialer {
    /// A dialer to `target` using `source_ips` loopback source addresses (1: let the kernel
    /// pick, as a plain connect does). Several sources need an IPv4 loopback target.
    pub fn new(target: SocketAddr, source_ips: usize) -> io::Result<Self> {
        let sources = if source_ips <= 1 {
            Vec::new()
        } else {
            if !matches!(target.ip(), IpAddr::V4(ip) if ip.is_loopback()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "several source addresses need a 127.0.0.0/8 target",
                ));
            }
            let count = source_ips.min(254) as u8;
            (1..=count)
                .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
                .collect()
        };
        Ok(Self { target, sources })
    }

    /// How many source addresses a run of `connections` (plus reconnects) needs.
    pub fn sources_for(connections: usize) -> usize {
        connections.div_ceil(CONNECTIONS_PER_SOURCE).max(1)
    }

    /// The server address.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Connects client number `index`, with a receive buffer of `rcvbuf` bytes if given.
    pub async fn connect(&self, index: usize, rcvbuf: Option<usize>) -> io::Result<TcpStream> {
        if self.sources.is_empty() && rcvbuf.is_none() {
            let stream = TcpStream::connect(self.target).await?;
            stream.set_nodelay(true)?;
            return Ok(stream);
        }
        let socket = Socket::new(
            Domain::for_address(self.target),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        if let Some(size) = rcvbuf {
            socket.set_recv_buffer_size(size)?;
        }
        if !self.sources.is_empty() {
            // Bind the address only: the port is picked by connect(), per destination, like an
            // unbound connect does. Without this, bind() reserves a port unique on the whole
            // address and searches ever longer as ports fill up (and TIME_WAIT lingers).
            setsockopt(&socket, IpBindAddressNoPort, &true).map_err(io::Error::from)?;
            let source = self.sources[index % self.sources.len()];
            socket.bind(&SocketAddr::new(source, 0).into())?;
        }
        let std_stream: std::net::TcpStream = socket.into();
        TcpSocket::from_std_stream(std_stream)
            .connect(self.target)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_count() {
        assert_eq!(Dialer::sources_for(0), 1);
        assert_eq!(Dialer::sources_for(16_000), 1);
        assert_eq!(Dialer::sources_for(19_000), 2);
        assert!(Dialer::new("10.0.0.1:80".parse().unwrap(), 2).is_err());
    }

    #[tokio::test]
    async fn connects_from_several_sources_with_small_buffers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dialer = Dialer::new(listener.local_addr().unwrap(), 3).unwrap();
        let mut peers = Vec::new();
        let mut clients = Vec::new();
        for i in 0..3 {
            clients.push(dialer.connect(i, Some(4096)).await.unwrap());
            let (_, peer) = listener.accept().await.unwrap();
            peers.push(peer.ip());
        }
        let expected: Vec<IpAddr> = (1..=3)
            .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
            .collect();
        assert_eq!(peers, expected);
        let plain = Dialer::new(dialer.target(), 1).unwrap();
        clients.push(plain.connect(0, None).await.unwrap());
    }
}
