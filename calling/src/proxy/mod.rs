//! Paranoid mode's network path: every connection to a relay goes through the user's
//! SOCKS5 proxy (Tor), never directly.
//!
//! webrtc-rs's TURN client speaks UDP only and SOCKS5 (as Tor offers it) carries TCP only,
//! so each TURN server is reached through a [`TurnTcpBridge`]: a UDP socket on loopback
//! that webrtc-rs takes for the TURN server, whose datagrams travel as TURN over TCP
//! (RFC 8656) through the proxy.

mod bridge;
mod framing;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_socks::tcp::Socks5Stream;

pub use bridge::TurnTcpBridge;
pub use framing::{datagram_to_stream, FramingError, StreamDeframer};

/// How long reaching the proxy, and through it the TURN server, may take. Tor builds a
/// circuit for a new stream, which takes seconds.
pub const DEFAULT_PROXY_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong on the way through the proxy. Every variant means the call does not
/// go ahead: there is no direct fallback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Nothing answers at the proxy's address.
    #[error("the SOCKS5 proxy at {proxy} is unreachable ({reason}); Paranoid mode never connects directly")]
    Unreachable {
        /// The proxy.
        proxy: SocketAddr,
        /// What the connection attempt said.
        reason: String,
    },
    /// The proxy answered but could not (or would not) reach the server.
    #[error("the SOCKS5 proxy at {proxy} could not reach the TURN server {server}: {reason}")]
    Refused {
        /// The proxy.
        proxy: SocketAddr,
        /// The TURN server, as configured.
        server: String,
        /// The proxy's answer.
        reason: String,
    },
    /// Nothing came back in time.
    #[error(
        "the SOCKS5 proxy at {proxy} did not reach the TURN server {server} within {timeout:?}"
    )]
    Timeout {
        /// The proxy.
        proxy: SocketAddr,
        /// The TURN server, as configured.
        server: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The TURN URL cannot be carried through the proxy.
    #[error("{0}")]
    BadTurnUrl(String),
    /// The local loopback socket could not be opened.
    #[error("the local TURN bridge could not be opened: {0}")]
    Local(std::io::ErrorKind),
    /// The bridge was asked to listen elsewhere than on loopback (a bug: it would expose
    /// the proxied TURN connection to the network).
    #[error("the local TURN bridge could not be opened: it listens on loopback only")]
    NotLoopback,
}

/// Host and port of a TURN server, from its `turn:` URL. The host stays a name when it is
/// one: the proxy resolves it, so no DNS query leaves this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServerAddr {
    /// Name or address literal (IPv6 without brackets).
    pub host: String,
    /// Port (3478 when the URL has none).
    pub port: u16,
}

/// TURN's default port (RFC 8656).
const TURN_DEFAULT_PORT: u16 = 3478;

impl TurnServerAddr {
    /// Parses `turn:HOST[:PORT][?transport=udp|tcp]`. `turns:` (TLS) is refused: the
    /// bridge carries plain TURN over TCP, which Tor already encrypts up to the exit.
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let bad = |why: &str| ProxyError::BadTurnUrl(format!("TURN URL {url:?}: {why}"));
        let rest = if let Some(rest) = url.strip_prefix("turn:") {
            rest
        } else if url.starts_with("turns:") {
            return Err(bad(
                "turns: (TLS) is not supported through the proxy; use turn: with TCP",
            ));
        } else {
            return Err(bad("not a turn: URL"));
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !query.is_empty() && !matches!(query, "transport=udp" | "transport=tcp") {
            return Err(bad("unknown parameters"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("bad port"))?,
            None => TURN_DEFAULT_PORT,
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && (host.parse::<IpAddr>().is_ok()
                || host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
        if !host_ok {
            return Err(bad("bad host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for TurnServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A TCP connection to `server` through the SOCKS5 proxy at `proxy`.
pub async fn connect_through(
    proxy: SocketAddr,
    server: &TurnServerAddr,
    timeout: Duration,
) -> Result<TcpStream, ProxyError> {
    let timed_out = || ProxyError::Timeout {
        proxy,
        server: server.to_string(),
        timeout,
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let socket = tokio::time::timeout_at(deadline, TcpStream::connect(proxy))
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| ProxyError::Unreachable {
            proxy,
            reason: e.kind().to_string(),
        })?;
    // TURN over TCP is small interactive messages (audio every 20 ms).
    let _ = socket.set_nodelay(true);
    let target = (server.host.as_str(), server.port);
    let stream =
        tokio::time::timeout_at(deadline, Socks5Stream::connect_with_socket(socket, target))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| ProxyError::Refused {
                proxy,
                server: server.to_string(),
                reason: e.to_string(),
            })?;
    Ok(stream.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_urls_parse_into_host_and_port() {
        let parsed = |u| TurnServerAddr::parse(u).unwrap();
        assert_eq!(
            parsed("turn:turn.example.org:5349?transport=tcp"),
            TurnServerAddr {
                host: "turn.example.org".into(),
                port: 5349
            }
        );
        assert_eq!(parsed("turn:127.0.0.4").port, TURN_DEFAULT_PORT);
        assert_eq!(parsed("turn:[::1]:3479").host, "::1");
        assert_eq!(parsed("turn:[::1]:3479").to_string(), "[::1]:3479");
    }

    #[test]
    fn turn_urls_that_cannot_go_through_the_proxy_are_refused() {
        for url in [
            "turns:turn.example.org:5349",
            "stun:stun.example.org",
            "turn:",
            "turn:host:0",
            "turn:host:99999",
            "turn:ho st:3478",
            "turn:host:3478?transport=sctp",
            "turn:[::1:3478",
        ] {
            assert!(TurnServerAddr::parse(url).is_err(), "{url} accepted");
        }
    }
}
