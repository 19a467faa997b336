//! Several service processes behind one load balancer, on one database (`[cluster]`).
//!
//! A room lives in the memory of the process that created it: its members' outboxes, the
//! MLS epoch it orders commits by, its media (the embedded SFU's connections, or the Janus
//! handles). What the processes share is the store: sign-in state (nonces, refresh
//! families, accounts) and the room directory, which names the process holding each room
//! (`rooms` table: the room id, that process's `advertise` URL, an expiry, and what
//! reopens it after a restart, the host as a keyed hash and the plan; no wallet, name or
//! participant). A `join` that reaches a process not holding the room is relayed,
//! frame by frame, over a WebSocket to the process that does, which then runs the session
//! as if the client had come straight to it: so a participant joining through process B
//! into a room created through process A gets A's room, A's media and A's messages.
//!
//! The relay presents the shared secret (`[cluster] secret_file`) in
//! [`PEER_HEADER`]; the receiving process then leaves the connection out of its per-IP
//! limit (every relayed client would otherwise count against the relaying process's
//! address). The secret is compared by SHA-256 digest, so the comparison's timing tells
//! nothing about it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::config::{ClusterSection, Limits};
use super::directory::room_key;
use super::protocol::{self, ClientMessage, ServerMessage};
use super::AppState;
use crate::sfu::RoomId;

/// The header a relaying process presents its secret in.
pub const PEER_HEADER: &str = "x-phantomcall-cluster";

/// How long connecting to the room's process may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// This process's place in the cluster.
pub struct Cluster {
    /// Where the other processes reach this one (`ws://host:port`).
    pub advertise: String,
    secret: String,
    digest: [u8; 32],
    /// For `wss://` peers: trusts the cluster's certificates only.
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// A process silent this long has its rooms taken over.
    pub takeover_after: Duration,
}

impl Cluster {
    /// Reads the secret file.
    pub fn load(section: &ClusterSection) -> std::io::Result<Self> {
        let secret = std::fs::read_to_string(&section.secret_file)?
            .trim()
            .to_owned();
        if secret.len() < 16 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the cluster secret must be at least 16 characters",
            ));
        }
        Ok(Self {
            advertise: section.advertise.clone(),
            digest: Sha256::digest(secret.as_bytes()).into(),
            secret,
            tls: None,
            takeover_after: Duration::from_secs(section.takeover_after_secs),
        })
    }

    /// Whether `presented` (the [`PEER_HEADER`] value) is the cluster's secret.
    pub fn is_peer(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| <[u8; 32]>::from(Sha256::digest(p.as_bytes())) == self.digest)
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// If `text` is a `join` for a room this process does not hold and another one does: that
/// process's address.
pub async fn owner_elsewhere(state: &Arc<AppState>, text: &str) -> Option<String> {
    let cluster = state.cluster.as_ref()?;
    let Ok(ClientMessage::Join { room, .. }) = ClientMessage::parse(text) else {
        return None;
    };
    let room = RoomId::parse(&room).ok()?;
    if state.conference.has_room(room) {
        return None;
    }
    let (store, key) = (state.store.clone(), room_key(room));
    let owner = match tokio::task::spawn_blocking(move || store.room_owner(&key, unix_now())).await
    {
        Ok(Ok(owner)) => owner?,
        _ => {
            tracing::warn!("the room directory could not be read");
            return None;
        }
    };
    if owner == cluster.advertise {
        return None;
    }
    // The room's process stopped saying it is alive: this one takes the room over (the
    // join then reopens it here, as after a restart), unless another process was faster.
    let silent_for = cluster.takeover_after.as_secs() as i64;
    let (store, key, me) = (
        state.store.clone(),
        room_key(room),
        cluster.advertise.clone(),
    );
    let from = owner.clone();
    let taken = tokio::task::spawn_blocking(move || {
        let seen = store.last_beat(&from)?;
        if seen.is_some_and(|at| unix_now() - at < silent_for) {
            return Ok(None);
        }
        store.claim_room(&key, &from, &me).map(Some)
    })
    .await;
    match taken {
        Ok(Ok(Some(true))) => {
            tracing::warn!(room = ?room, "the room's process is silent: room taken over");
            None
        }
        // Alive, or another process took it first: relay to whoever holds it now.
        Ok(Ok(None)) => Some(owner),
        Ok(Ok(Some(false))) => {
            let (store, key) = (state.store.clone(), room_key(room));
            tokio::task::spawn_blocking(move || store.room_owner(&key, unix_now()))
                .await
                .ok()?
                .ok()?
                .filter(|now_owner| *now_owner != cluster.advertise)
        }
        _ => {
            tracing::warn!("the room directory could not be updated");
            Some(owner)
        }
    }
}

/// How often a cluster process says it is alive.
const BEAT_EVERY: Duration = Duration::from_secs(5);

/// Says, every [`BEAT_EVERY`], that this process is alive (the others take its rooms over
/// once it has been silent for `[cluster] takeover_after_secs`).
pub async fn keep_beating(state: Arc<AppState>) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    let mut every = tokio::time::interval(BEAT_EVERY);
    loop {
        every.tick().await;
        let (store, me) = (state.store.clone(), cluster.advertise.clone());
        let done = tokio::task::spawn_blocking(move || store.beat(&me, unix_now())).await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::warn!("could not tell the cluster this process is alive");
        }
    }
}

/// Carries the client's session to the room's process at `owner`, `first` (its `join`)
/// first, until either side closes. This side keeps the client alive with pings and closes
/// it after the idle timeout, as its own sessions do.
pub async fn relay<K, T, E>(
    mut sink: K,
    mut stream: T,
    owner: &str,
    first: String,
    cluster: &Cluster,
    limits: &Limits,
) where
    K: futures_util::Sink<Message> + Unpin,
    T: futures_util::Stream<Item = Result<Message, E>> + Unpin,
{
    let upstream = match connect(owner, cluster).await {
        Some(ws) => ws,
        None => {
            let error = ServerMessage::error(
                "media_server_unavailable",
                "the room's server cannot be reached: try again",
            );
            let _ = sink.send(Message::Text(error.to_json().into())).await;
            let _ = sink.send(Message::Close(None)).await;
            return;
        }
    };
    tracing::info!("join relayed to the room's process");
    let (mut up_sink, mut up_stream) = upstream.split();
    if up_sink.send(Message::Text(first.into())).await.is_err() {
        return;
    }
    let idle_timeout = Duration::from_secs(limits.idle_timeout_secs);
    let mut ping = tokio::time::interval(Duration::from_secs(limits.ping_interval_secs));
    ping.tick().await;
    let mut last_seen = Instant::now();
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else { break };
                last_seen = Instant::now();
                match frame {
                    Message::Text(_) | Message::Binary(_) => {
                        if up_sink.send(frame).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            frame = up_stream.next() => {
                let Some(Ok(frame)) = frame else { break };
                match frame {
                    Message::Text(_) | Message::Binary(_) => {
                        if sink.send(frame).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > idle_timeout
                    || sink.send(Message::Ping(Vec::new().into())).await.is_err()
                {
                    break;
                }
            }
        }
    }
    // Closing the upstream makes the room's process run its leave, as for a direct client.
    let _ = up_sink.send(Message::Close(None)).await;
    let _ = sink.send(Message::Close(None)).await;
}

/// What the relay's WebSocket runs over: plain TCP, or TLS to a `wss://` peer.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

async fn connect(owner: &str, cluster: &Cluster) -> Option<WebSocketStream<Box<dyn Io>>> {
    let connecting = async {
        let (tls, authority) = match owner.split_once("://")? {
            ("wss", authority) => (true, authority),
            ("ws", authority) => (false, authority),
            _ => return None,
        };
        let mut request = format!("{owner}{}", super::signal::PATH)
            .into_client_request()
            .ok()?;
        request
            .headers_mut()
            .insert(PEER_HEADER, cluster.secret.parse().ok()?);
        let tcp = tokio::net::TcpStream::connect(authority).await.ok()?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if tls {
            let Some(connector) = &cluster.tls else {
                tracing::warn!("the room's process is wss:// but [cluster] has no ca_file");
                return None;
            };
            let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_owned()).ok()?;
            match connector.connect(name, tcp).await {
                Ok(stream) => Box::new(stream),
                Err(e) => {
                    tracing::warn!(error = %e, "TLS to the room's process failed");
                    return None;
                }
            }
        } else {
            Box::new(tcp)
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(protocol::MAX_MESSAGE_BYTES))
            .max_frame_size(Some(protocol::MAX_MESSAGE_BYTES));
        tokio_tungstenite::client_async_with_config(request, io, Some(config))
            .await
            .ok()
            .map(|(ws, _)| ws)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Some(ws)) => Some(ws),
        _ => {
            tracing::warn!("the room's process could not be reached");
            None
        }
    }
}
