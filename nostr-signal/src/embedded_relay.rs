//! A real websocket Nostr relay running inside the process, for the demo, tests and
//! `phantomcall relay`. Events are kept in memory only.
//!
//! The relay logic is nostr-relay-builder's; this module owns the listening socket so that
//! every connection gets `TCP_NODELAY` (call signaling is small messages where Nagle's
//! algorithm adds ~40 ms per hop) and so that shutdown is immediate and certain.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nostr_relay_builder::prelude::{LocalRelay, RateLimit, RelayBuilder};
use nostr_sdk::RelayUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::SignalError;

/// Events per minute per connection. The default of the relay crate (60) is meant for public
/// relays; a local relay carrying benchmarks and a few calls needs far more.
const LOCAL_NOTES_PER_MINUTE: u32 = 100_000;
/// Connections whose address is remembered for [`EmbeddedRelay::connections_from`].
const MAX_RECORDED_PEERS: usize = 10_000;
/// Largest websocket upgrade request accepted; real ones are a few hundred bytes.
const MAX_UPGRADE_REQUEST: usize = 8 * 1024;
/// A client that has not finished its upgrade request by then is dropped.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(5);

/// An in-process relay listening on a loopback (or given) address. Stops when dropped.
pub struct EmbeddedRelay {
    relay: LocalRelay,
    url: RelayUrl,
    addr: SocketAddr,
    accept_task: JoinHandle<()>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl EmbeddedRelay {
    /// Start a relay on `addr`; port 0 picks a free port.
    pub async fn start(addr: SocketAddr) -> Result<Self, SignalError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| SignalError::Client(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SignalError::Client(e.to_string()))?;
        let relay = LocalRelay::new(RelayBuilder::default().rate_limit(RateLimit {
            max_reqs: 500,
            notes_per_minute: LOCAL_NOTES_PER_MINUTE,
        }));
        let url = RelayUrl::parse(&format!("ws://{addr}"))
            .map_err(|e| SignalError::Client(e.to_string()))?;
        let peers = Arc::new(Mutex::new(Vec::new()));
        let accept_task = tokio::spawn(accept_loop(listener, relay.clone(), peers.clone()));
        Ok(Self {
            relay,
            url,
            addr,
            accept_task,
            peers,
        })
    }

    /// Start a relay on a free loopback port.
    pub async fn start_on_loopback() -> Result<Self, SignalError> {
        Self::start(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// The `ws://` URL clients connect to.
    pub fn url(&self) -> &RelayUrl {
        &self.url
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of every connection accepted so far, in order: what a relay operator
    /// learns about its clients (the privacy tests check it is only ever the proxy).
    pub fn connections_from(&self) -> Vec<SocketAddr> {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop listening and close every connection.
    pub async fn shutdown(&self) {
        self.accept_task.abort();
        self.relay.shutdown();
        // Wait until the listening socket is really gone, so a restart can reuse the port.
        for _ in 0..100 {
            if TcpStream::connect(self.addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for EmbeddedRelay {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.relay.shutdown();
    }
}

async fn accept_loop(listener: TcpListener, relay: LocalRelay, peers: Arc<Mutex<Vec<SocketAddr>>>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "embedded relay: accept failed");
                continue;
            }
        };
        // Kept for the lifetime of the relay: a local relay sees few connections, and
        // this list is the only record (nothing is logged with addresses).
        if let Ok(mut seen) = peers.lock() {
            if seen.len() < MAX_RECORDED_PEERS {
                seen.push(peer);
            }
        }
        let relay = relay.clone();
        tokio::spawn(async move {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "embedded relay: cannot set TCP_NODELAY");
            }
            match tokio::time::timeout(UPGRADE_TIMEOUT, upgrade(stream)).await {
                Ok(Ok(stream)) => {
                    if let Err(e) = relay.take_connection(stream, peer).await {
                        tracing::debug!(error = %e, "embedded relay: connection ended");
                    }
                }
                Ok(Err(reason)) => tracing::debug!(reason, "embedded relay: refused connection"),
                Err(_) => tracing::debug!("embedded relay: upgrade request timed out"),
            }
        });
    }
}

/// Answer the HTTP websocket upgrade (RFC 6455 section 4.2) and hand back the raw stream.
/// nostr-relay-builder only takes already upgraded streams when it does not own the socket.
async fn upgrade(mut stream: TcpStream) -> Result<TcpStream, &'static str> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        if buffer.len() > MAX_UPGRADE_REQUEST {
            return Err("upgrade request too large");
        }
        let n = stream.read(&mut chunk).await.map_err(|_| "read failed")?;
        if n == 0 {
            return Err("closed before upgrading");
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    request
        .parse(&buffer)
        .map_err(|_| "malformed HTTP request")?;
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let is_websocket = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"));
    let key = header("sec-websocket-key").ok_or("no Sec-WebSocket-Key")?;
    if request.method != Some("GET") || !is_websocket {
        let _ = stream
            .write_all(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n")
            .await;
        return Err("not a websocket upgrade");
    }
    let accept = tungstenite::handshake::derive_accept_key(key);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream
        .write_all(response.as_bytes())
        .await
        .map_err(|_| "write failed")?;
    Ok(stream)
}
