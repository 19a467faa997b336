//! A loopback UDP socket that webrtc-rs's TURN client takes for the TURN server; each
//! local client socket gets its own TURN-over-TCP connection through the SOCKS5 proxy, so
//! an ICE restart (which rebinds the client's socket) gets a fresh allocation.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::framing::{datagram_to_stream, StreamDeframer};
use super::{connect_through, ProxyError, TurnServerAddr};

/// Datagrams queued per client while its connection is being set up or is slow; more are
/// dropped, as UDP would.
const QUEUE_PER_CLIENT: usize = 256;
/// Client sockets with a connection at once. webrtc-rs uses one per local address and a
/// new one per ICE restart; the oldest beyond this is closed.
const MAX_CLIENTS: usize = 8;

/// One TURN server reached through the proxy. The bridge stops when dropped.
pub struct TurnTcpBridge {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TurnTcpBridge {
    /// Opens the loopback socket on `listen_ip` and a first connection to `server`
    /// through `proxy`, so that an unreachable proxy or server fails here, before
    /// anything of the call is sent.
    pub async fn start(
        proxy: SocketAddr,
        server: TurnServerAddr,
        listen_ip: IpAddr,
        connect_timeout: Duration,
    ) -> Result<Self, ProxyError> {
        if !listen_ip.is_loopback() {
            return Err(ProxyError::NotLoopback);
        }
        let udp = UdpSocket::bind(SocketAddr::new(listen_ip, 0))
            .await
            .map_err(|e| ProxyError::Local(e.kind()))?;
        let local_addr = udp.local_addr().map_err(|e| ProxyError::Local(e.kind()))?;
        let first = connect_through(proxy, &server, connect_timeout).await?;
        let route = Route {
            proxy,
            server,
            connect_timeout,
        };
        let task = tokio::spawn(relay_datagrams(Arc::new(udp), route, first));
        Ok(Self { local_addr, task })
    }

    /// The address webrtc-rs is told the TURN server has.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The `turn:` URL for webrtc-rs.
    pub fn turn_url(&self) -> String {
        format!("turn:{}?transport=udp", self.local_addr)
    }
}

impl Drop for TurnTcpBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Route {
    proxy: SocketAddr,
    server: TurnServerAddr,
    connect_timeout: Duration,
}

struct Client {
    to_server: mpsc::Sender<Vec<u8>>,
    task: JoinHandle<()>,
    opened: u64,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads datagrams from the local TURN clients and hands each to its client's connection.
async fn relay_datagrams(udp: Arc<UdpSocket>, route: Route, first: TcpStream) {
    let mut spare = Some(first);
    let mut clients: HashMap<SocketAddr, Client> = HashMap::new();
    let mut opened = 0u64;
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match udp.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                tracing::warn!(error = %e, "TURN bridge: local socket failed");
                return;
            }
        };
        // Only programs on this machine may use the bridge.
        if !from.ip().is_loopback() {
            continue;
        }
        let framed = match datagram_to_stream(&buf[..n]) {
            Ok(framed) => framed,
            Err(e) => {
                tracing::debug!(error = %e, "TURN bridge: datagram dropped");
                continue;
            }
        };
        let closed = clients
            .get(&from)
            .is_some_and(|client| client.to_server.is_closed());
        if closed {
            clients.remove(&from);
        }
        if !clients.contains_key(&from) {
            if clients.len() >= MAX_CLIENTS {
                if let Some(oldest) = clients
                    .iter()
                    .min_by_key(|(_, c)| c.opened)
                    .map(|(a, _)| *a)
                {
                    clients.remove(&oldest);
                }
            }
            let (to_server, queued) = mpsc::channel(QUEUE_PER_CLIENT);
            opened += 1;
            let task = tokio::spawn(carry(
                udp.clone(),
                from,
                route.clone(),
                spare.take(),
                queued,
            ));
            clients.insert(
                from,
                Client {
                    to_server,
                    task,
                    opened,
                },
            );
        }
        if let Some(client) = clients.get(&from) {
            // Full queue: dropped, as the network would.
            let _ = client.to_server.try_send(framed);
        }
    }
}

/// One client's TURN-over-TCP connection: queued datagrams to the server, messages from
/// the server back to the client as datagrams. Ends when the server closes, the proxy
/// fails, or the stream stops being TURN; the next datagram of that client opens a new one.
async fn carry(
    udp: Arc<UdpSocket>,
    client: SocketAddr,
    route: Route,
    connected: Option<TcpStream>,
    mut queued: mpsc::Receiver<Vec<u8>>,
) {
    let stream = match connected {
        Some(stream) => stream,
        None => match connect_through(route.proxy, &route.server, route.connect_timeout).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "TURN bridge: no connection through the proxy");
                return;
            }
        },
    };
    let (mut from_server, mut to_server) = stream.into_split();
    let mut deframer = StreamDeframer::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            frame = queued.recv() => {
                let Some(frame) = frame else { return };
                if let Err(e) = to_server.write_all(&frame).await {
                    tracing::warn!(error = %e.kind(), "TURN bridge: connection to the server lost");
                    return;
                }
            }
            read = from_server.read(&mut buf) => {
                let n = match read {
                    Ok(0) => {
                        tracing::debug!("TURN bridge: the server closed the connection");
                        return;
                    }
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e.kind(), "TURN bridge: connection to the server lost");
                        return;
                    }
                };
                deframer.push(&buf[..n]);
                loop {
                    match deframer.next_message() {
                        Ok(Some(message)) => {
                            let _ = udp.send_to(&message, client).await;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "TURN bridge: the server's stream is not TURN; closed");
                            return;
                        }
                    }
                }
            }
        }
    }
}
