//! One signaling WebSocket (`GET /v1/signal`): the upgrade (with the per-IP connection
//! limit), then a session that joins one room and carries the SFU's and the room's messages
//! both ways, rate-limited and kept alive by pings.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::cluster;
use super::conference::{JoinRequest, Member};
use super::http::{Request, Response};
use super::limits::TokenBucket;
use super::protocol::{self, ClientMessage, MediaLeg, ServerMessage};
use super::AppState;
use crate::backend::Leg;
use crate::sfu::{IceCandidate, RoomId, SfuSignal};

/// The WebSocket's path.
pub const PATH: &str = "/v1/signal";

/// Rate-limited messages tolerated before the connection is closed.
const MAX_STRIKES: u32 = 50;

/// Checks the upgrade request and, if it is one, runs the session.
pub async fn upgrade<S>(state: Arc<AppState>, mut stream: S, request: Request, ip: IpAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let key = request.header("sec-websocket-key").map(str::to_owned);
    let valid = request.method == "GET"
        && request.header_has_token("upgrade", "websocket")
        && request.header_has_token("connection", "upgrade")
        && request.header("sec-websocket-version") == Some("13");
    let (true, Some(key)) = (valid, key) else {
        let _ = Response::error(400, "bad_request", "a WebSocket upgrade is expected here")
            .write(&mut stream)
            .await;
        return;
    };
    // Held for the connection's life. Another process of the cluster relaying its clients'
    // sessions is not one client: its connections are not counted per address.
    let peer = state
        .cluster
        .as_ref()
        .is_some_and(|c| c.is_peer(request.header(cluster::PEER_HEADER)));
    let _slot = if peer {
        None
    } else {
        let Some(slot) = state.websockets.acquire(ip) else {
            let _ = Response::error(
                429,
                "too_many_connections",
                "too many connections from your address",
            )
            .write(&mut stream)
            .await;
            return;
        };
        Some(slot)
    };
    let accept = Response {
        status: 101,
        headers: vec![
            ("Upgrade", "websocket".to_owned()),
            ("Sec-WebSocket-Accept", derive_accept_key(key.as_bytes())),
        ],
        body: Vec::new(),
    };
    if write_switching(&accept, &mut stream).await.is_err() {
        return;
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(protocol::MAX_MESSAGE_BYTES))
        .max_frame_size(Some(protocol::MAX_MESSAGE_BYTES));
    let ws =
        WebSocketStream::from_partially_read(stream, request.leftover, Role::Server, Some(config))
            .await;
    Session::new(state).run(ws).await;
}

/// The 101 response (no Content-Length or Connection: close).
async fn write_switching<S: AsyncWrite + Unpin>(
    response: &Response,
    stream: &mut S,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut out = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n".to_owned();
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await?;
    stream.flush().await
}

/// What the session loop does after a message.
enum Next {
    Continue,
    Close,
    /// A join for a room another process of the cluster holds (at this address): the
    /// session is carried there.
    Relay(String),
}

struct Session {
    state: Arc<AppState>,
    member: Option<Member>,
    bucket: TokenBucket,
    strikes: u32,
    /// The client said `leave` (its room may end at once), rather than losing its
    /// connection (the room waits for it to reconnect).
    left_deliberately: bool,
}

impl Session {
    fn new(state: Arc<AppState>) -> Self {
        let rate = state.config.limits.messages_per_second;
        Self {
            state,
            member: None,
            bucket: TokenBucket::new(rate, rate.saturating_mul(2), Instant::now()),
            strikes: 0,
            left_deliberately: false,
        }
    }

    async fn run<S>(mut self, ws: WebSocketStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut sink, mut stream) = ws.split();
        let limits = &self.state.config.limits;
        let idle_timeout = Duration::from_secs(limits.idle_timeout_secs);
        let mut ping = tokio::time::interval(Duration::from_secs(limits.ping_interval_secs));
        ping.tick().await;
        let mut last_seen = Instant::now();
        let mut close_code = CloseCode::Normal;
        // A join for a room another process of the cluster holds: its address and the join.
        let mut handoff: Option<(String, String)> = None;
        loop {
            let (outbox, kick, signals) = parts(&mut self.member);
            let outgoing: Option<ServerMessage> = tokio::select! {
                biased;
                // Room messages first: a removal or the end of the room is queued before the
                // SFU closes the media connection.
                message = recv_or_wait(outbox) => match message {
                    Some(m) => {
                        let last = matches!(m, ServerMessage::Removed | ServerMessage::RoomEnded { .. });
                        if send(&mut sink, &m).await.is_err() || last {
                            break;
                        }
                        None
                    }
                    // Taken out of the room (removed or ended) with nothing left to say.
                    None => break,
                },
                _ = notified_or_wait(kick) => {
                    close_code = CloseCode::Policy;
                    break;
                }
                signal = recv_unbounded_or_wait(signals) => match signal {
                    Some(SfuSignal::Offer(sdp)) => Some(ServerMessage::Offer { sdp, leg: MediaLeg::Main }),
                    Some(SfuSignal::SubscriberOffer(sdp)) => {
                        Some(ServerMessage::Offer { sdp, leg: MediaLeg::Subscriber })
                    }
                    Some(SfuSignal::Reconnect) => Some(ServerMessage::Reconnect),
                    Some(SfuSignal::Candidate(c)) => Some(ServerMessage::Candidate {
                        candidate: c.candidate,
                        sdp_mid: c.sdp_mid,
                        sdp_mline_index: c.sdp_mline_index,
                    }),
                    // The room's own messages say why.
                    Some(SfuSignal::Removed | SfuSignal::RoomEnded) => None,
                    None => {
                        let _ = send(&mut sink, &ServerMessage::error(
                            "media_closed", "the media connection closed")).await;
                        break;
                    }
                },
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    last_seen = Instant::now();
                    match frame {
                        Message::Text(text) => match self.on_text(text.as_str()).await {
                            (_, Next::Relay(owner)) => {
                                handoff = Some((owner, text.as_str().to_owned()));
                                break;
                            }
                            (reply, Next::Continue) => reply,
                            (reply, Next::Close) => {
                                if let Some(r) = reply {
                                    let _ = send(&mut sink, &r).await;
                                }
                                break;
                            }
                        },
                        Message::Binary(_) => match self.rate_limited() {
                            Some((reply, Next::Close)) => {
                                if let Some(r) = reply {
                                    let _ = send(&mut sink, &r).await;
                                }
                                break;
                            }
                            Some((reply, _)) => reply,
                            None => Some(ServerMessage::error(
                                "bad_request",
                                "signaling messages are JSON text",
                            )),
                        },
                        Message::Close(_) => break,
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
                    }
                }
                _ = ping.tick() => {
                    if last_seen.elapsed() > idle_timeout {
                        close_code = CloseCode::Away;
                        break;
                    }
                    if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                    None
                }
            };
            if let Some(message) = outgoing {
                if send(&mut sink, &message).await.is_err() {
                    break;
                }
            }
        }
        if let (Some((owner, join)), Some(c)) = (handoff, &self.state.cluster) {
            cluster::relay(sink, stream, &owner, join, c, &self.state.config.limits).await;
            return;
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: close_code,
                reason: "".into(),
            })))
            .await;
        if let Some(member) = self.member.take() {
            self.state
                .conference
                .leave(&member.room, &member.id, self.left_deliberately)
                .await;
        }
    }

    /// Takes a token for one message; without one, the `rate_limited` reply and whether to
    /// close (after [`MAX_STRIKES`] of them).
    fn rate_limited(&mut self) -> Option<(Option<ServerMessage>, Next)> {
        if self.bucket.take(Instant::now()) {
            return None;
        }
        self.strikes += 1;
        let next = if self.strikes > MAX_STRIKES {
            Next::Close
        } else {
            Next::Continue
        };
        let error = ServerMessage::error("rate_limited", "too many messages: slow down");
        Some((Some(error), next))
    }

    /// Handles one text message: the reply to send, and whether to close.
    async fn on_text(&mut self, text: &str) -> (Option<ServerMessage>, Next) {
        if let Some(limited) = self.rate_limited() {
            return limited;
        }
        // After the rate limit: every lookup is a database query.
        if self.member.is_none() {
            if let Some(owner) = cluster::owner_elsewhere(&self.state, text).await {
                return (None, Next::Relay(owner));
            }
        }
        let message = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                return (
                    Some(ServerMessage::error("bad_request", e.to_string())),
                    Next::Continue,
                )
            }
        };
        match self.dispatch(message).await {
            Ok(reply_and_next) => reply_and_next,
            Err(error) => (Some(error), Next::Continue),
        }
    }

    /// Acts on a message: a reply and whether to close, or an error reply.
    async fn dispatch(
        &mut self,
        message: ClientMessage,
    ) -> Result<(Option<ServerMessage>, Next), ServerMessage> {
        let conference = self.state.conference.clone();
        if let ClientMessage::Join {
            room,
            token,
            display_name,
            offer,
            region,
        } = message
        {
            let joined = self.join(room, token, display_name, offer, region).await?;
            return Ok((Some(joined), Next::Continue));
        }
        if matches!(message, ClientMessage::Leave) {
            self.left_deliberately = true;
            return Ok((None, Next::Close));
        }
        let Some(member) = &self.member else {
            return Err(ServerMessage::error("not_joined", "join a room first"));
        };
        let (room, me) = (&member.room, &member.id);
        match message {
            ClientMessage::Answer { sdp, leg } => conference
                .apply_answer(room, me, leg_of(leg), sdp)
                .await
                .map_err(|e| ServerMessage::error("bad_answer", e.to_string()))?,
            ClientMessage::Rejoin { offer } => {
                let answer = conference
                    .rejoin(room, me, offer)
                    .await
                    .map_err(|e| ServerMessage::error("rejoin_refused", e.to_string()))?;
                return Ok((Some(ServerMessage::Rejoined { answer }), Next::Continue));
            }
            ClientMessage::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
                leg,
            } => {
                let candidate = IceCandidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                };
                conference
                    .add_candidate(room, me, leg_of(leg), candidate)
                    .await
                    .map_err(|e| ServerMessage::error("bad_candidate", e.to_string()))?
            }
            ClientMessage::ScreenShare { height } => {
                let reply = conference.screen_share(room, member.anonymous, height);
                if matches!(reply, ServerMessage::Error { .. }) {
                    return Err(reply);
                }
                return Ok((Some(reply), Next::Continue));
            }
            ClientMessage::Mute { participant } => conference.mute(room, me, &participant)?,
            ClientMessage::Remove { participant } => {
                conference.remove(room, me, &participant).await?
            }
            ClientMessage::Lock => conference.set_locked(room, me, true)?,
            ClientMessage::Unlock => conference.set_locked(room, me, false)?,
            ClientMessage::End => conference.end_by_host(room, me).await?,
            ClientMessage::Mls(mls) => conference.mls(room, me, mls)?,
            ClientMessage::Join { .. } | ClientMessage::Leave => {}
        }
        Ok((None, Next::Continue))
    }

    async fn join(
        &mut self,
        room: String,
        token: Option<String>,
        display_name: String,
        offer: String,
        region: Option<String>,
    ) -> Result<ServerMessage, ServerMessage> {
        if self.member.is_some() {
            return Err(ServerMessage::error("already_joined", "already in a room"));
        }
        let wallet = match token {
            Some(token) => {
                let claims = self
                    .state
                    .auth
                    .check(&token, OffsetDateTime::now_utc())
                    .map_err(|e| ServerMessage::error("unauthorized", e.to_string()))?;
                Some(super::directory::host_key(
                    self.state.auth.keys(),
                    &claims.sub,
                ))
            }
            None => None,
        };
        let room =
            RoomId::parse(&room).map_err(|e| ServerMessage::error("bad_request", e.to_string()))?;
        let member = self
            .state
            .conference
            .join(JoinRequest {
                room,
                wallet_key: wallet,
                display_name,
                offer,
                region,
            })
            .await?;
        let reply = member.reply.clone();
        self.member = Some(member);
        Ok(reply)
    }
}

async fn send<S>(sink: &mut S, message: &ServerMessage) -> Result<(), ()>
where
    S: futures_util::Sink<Message> + Unpin,
{
    sink.send(Message::Text(message.to_json().into()))
        .await
        .map_err(|_| ())
}

/// The member's outbox, kick signal and SFU signals, borrowed apart.
#[allow(clippy::type_complexity)]
fn parts(
    member: &mut Option<Member>,
) -> (
    Option<&mut tokio::sync::mpsc::Receiver<ServerMessage>>,
    Option<&tokio::sync::Notify>,
    Option<&mut tokio::sync::mpsc::UnboundedReceiver<SfuSignal>>,
) {
    match member {
        Some(Member {
            outbox, signals, ..
        }) => (Some(&mut outbox.rx), Some(&*outbox.kick), Some(signals)),
        None => (None, None, None),
    }
}

/// The next message, or never (not joined yet).
async fn recv_or_wait<T>(rx: Option<&mut tokio::sync::mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_unbounded_or_wait<T>(
    rx: Option<&mut tokio::sync::mpsc::UnboundedReceiver<T>>,
) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn notified_or_wait(kick: Option<&tokio::sync::Notify>) {
    match kick {
        Some(kick) => kick.notified().await,
        None => std::future::pending().await,
    }
}

fn leg_of(leg: MediaLeg) -> Leg {
    match leg {
        MediaLeg::Main => Leg::Main,
        MediaLeg::Subscriber => Leg::Subscriber,
    }
}
