//! The join path, one function for the first join and every rejoin after the signaling
//! connection was lost: a new signaling socket, new media (a new peer connection to the
//! SFU), the join exchange, and a new MLS room. The service gives a new participant id on
//! every join; the room's MLS group takes the new member in through its normal join path.

use std::time::Duration;

use nostr_signal::Identity;
use phantomcall_schemas::PrivacyMode;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::media::ConferenceMedia;
use super::mls_room::{MlsRoom, Outgoing};
use super::socket::{self, Socket};
use super::wire::{ClientMessage, Participant, ServerMessage};
use super::{JoinError, JoinOptions};
use crate::peer::{PeerEvent, PeerSetup};

/// How long the service has to answer the join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How long reaching the service (TCP, TLS, WebSocket) may take: a rejoin must not hang on
/// a half-open network.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the service said when it let us in.
pub(crate) struct Joined {
    pub participant_id: String,
    pub host: bool,
    pub anonymous: bool,
    pub participants: Vec<Participant>,
    pub locked: bool,
    pub seconds_left: u64,
}

/// One joined connection: everything that is rebuilt on a rejoin.
pub(crate) struct Session {
    pub socket: Socket,
    pub media: ConferenceMedia,
    pub room: MlsRoom,
    pub peer_events: UnboundedReceiver<PeerEvent>,
    pub joined: Joined,
    /// The MLS messages to send first (our key package, unless we start the group).
    pub first: Outgoing,
}

/// Connects, starts the media (muted if `muted`), joins and sets up the MLS room. On
/// failure nothing is left running.
pub(crate) async fn join(options: &JoinOptions, muted: bool) -> Result<Session, JoinError> {
    let mut socket = tokio::time::timeout(
        CONNECT_TIMEOUT,
        socket::connect(&options.link, &options.extra_roots),
    )
    .await
    .map_err(|_| JoinError::Timeout)??;
    let (peer_tx, peer_events) = unbounded_channel();
    let setup = PeerSetup {
        mode: PrivacyMode::Fast,
        send_video: options.video,
        receive_video: true,
        network: options.network.clone(),
        signaling_hides_address: false,
    };
    let screen = options.screen_share && options.token.is_some();
    let media = ConferenceMedia::start(
        setup,
        screen,
        options.keep_frames,
        &options.devices,
        peer_tx,
    )
    .await
    .map_err(|e| JoinError::Media(e.log_text()))?;
    // Before anything is sent: a rejoin keeps the microphone as the user left it.
    media.set_muted(muted);
    match handshake(&mut socket, &media, options).await {
        Ok((joined, room, first)) => Ok(Session {
            socket,
            media,
            room,
            peer_events,
            joined,
            first,
        }),
        Err(e) => {
            let _ = socket.close(None).await;
            media.stop().await;
            Err(e)
        }
    }
}

/// Offer, join, answer, and the MLS room's first step.
async fn handshake(
    socket: &mut Socket,
    media: &ConferenceMedia,
    options: &JoinOptions,
) -> Result<(Joined, MlsRoom, Outgoing), JoinError> {
    let offer = media
        .session
        .create_offer(false)
        .await
        .map_err(|e| JoinError::Media(e.log_text()))?;
    let join = ClientMessage::Join {
        room: options.link.room.clone(),
        token: options.token.clone(),
        display_name: options.display_name.clone(),
        offer,
    };
    let ServerMessage::Joined {
        participant_id,
        host,
        anonymous,
        answer,
        participants,
        locked,
        epoch,
        seconds_left,
    } = exchange_join(socket, join).await?
    else {
        unreachable!("exchange_join returns Joined only");
    };
    media
        .session
        .apply_answer(&answer)
        .await
        .map_err(|e| JoinError::Media(e.log_text()))?;
    let mut room = MlsRoom::new(&Identity::generate(), &options.link.room)
        .map_err(|e| JoinError::Keys(e.to_string()))?;
    let ids: Vec<String> = participants.iter().map(|p| p.id.clone()).collect();
    let first = room
        .on_joined(&participant_id, &ids, epoch)
        .map_err(|e| JoinError::Keys(e.to_string()))?;
    let joined = Joined {
        participant_id,
        host,
        anonymous,
        participants,
        locked,
        seconds_left,
    };
    Ok((joined, room, first))
}

/// Sends the join and waits for `joined` (or the refusal).
async fn exchange_join(
    socket: &mut Socket,
    join: ClientMessage,
) -> Result<ServerMessage, JoinError> {
    socket::send(socket, join.to_json())
        .await
        .map_err(|()| JoinError::Closed)?;
    let wait = async {
        loop {
            let Some(text) = socket::next_text(socket).await else {
                return Err(JoinError::Closed);
            };
            match ServerMessage::parse(&text) {
                Ok(joined @ ServerMessage::Joined { .. }) => return Ok(joined),
                Ok(ServerMessage::Error { code, message, .. }) => {
                    return Err(JoinError::Refused { code, message })
                }
                Ok(_) => continue,
                Err(e) => tracing::debug!(error = %e, "before joined"),
            }
        }
    };
    tokio::time::timeout(JOIN_TIMEOUT, wait)
        .await
        .map_err(|_| JoinError::Timeout)?
}
