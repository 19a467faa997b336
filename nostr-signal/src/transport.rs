//! The transport-independent signaling interface the call engine talks to.

use async_trait::async_trait;
use nostr_sdk::{EventId, PublicKey, RelayUrl, Timestamp};
use phantomcall_schemas::CallMessage;
use tokio::sync::broadcast;

use crate::{DeliveryForm, SignalError};

/// A call message that passed every check of the [`crate::Verifier`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedMessage {
    /// Who wrote it (seal signer = rumor author, or the inner event's verified signer).
    pub sender: PublicKey,
    /// The parsed, schema-valid message.
    pub message: CallMessage,
    /// Id of the rumor (or inner event): the replay-protection key.
    pub rumor_id: EventId,
    /// When the sender wrote it.
    pub created_at: Timestamp,
    /// How it was wrapped; a reply to this peer uses the same form.
    pub form: DeliveryForm,
    /// True when one of our own other devices sent it (the multi-device copy).
    pub from_own_device: bool,
}

/// What a successful send achieved.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// Id of the rumor sent (the same id reaches the peer and our other devices).
    pub rumor_id: EventId,
    /// The first relay that accepted the wrap for the peer.
    pub accepted_by: RelayUrl,
    /// The form used.
    pub form: DeliveryForm,
}

/// A stream of verified incoming call messages.
pub struct IncomingMessages {
    receiver: broadcast::Receiver<VerifiedMessage>,
}

impl IncomingMessages {
    pub(crate) fn new(receiver: broadcast::Receiver<VerifiedMessage>) -> Self {
        Self { receiver }
    }

    /// The next verified message; `None` once the transport has shut down.
    /// A consumer that falls far behind loses the oldest messages (logged), never blocks the
    /// transport.
    pub async fn recv(&mut self) -> Option<VerifiedMessage> {
        loop {
            match self.receiver.recv().await {
                Ok(message) => return Some(message),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "signaling consumer lagged; oldest messages skipped");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Which relays a message may go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The peer's DM relays (kind 10050), looked up when needed: for contacts, and for calls
    /// the user placed or accepted.
    PeerInbox,
    /// Only our own relays: replies to strangers before the user accepted anything, so a
    /// stranger's relay list never makes us connect anywhere.
    OwnRelays,
}

/// Sends call messages to peers and yields verified incoming ones. Implemented over Nostr
/// relays ([`crate::NostrTransport`]) and, later, over Bluetooth LE.
#[async_trait]
pub trait SignalTransport: Send + Sync {
    /// Our own public key (the identity messages are sent as).
    fn local_public_key(&self) -> PublicKey;

    /// Send `message` to `peer` (and a copy to our own other devices). Resolves once a relay
    /// accepted the wrap for the peer, or fails after the transport's send deadline.
    async fn send(&self, peer: PublicKey, message: &CallMessage)
        -> Result<SendReport, SignalError>;

    /// Send `message` to `peer` through the relays `route` allows. The default sends as
    /// [`SignalTransport::send`] does, for transports with a single path.
    async fn send_via(
        &self,
        peer: PublicKey,
        message: &CallMessage,
        route: Route,
    ) -> Result<SendReport, SignalError> {
        let _ = route;
        self.send(peer, message).await
    }

    /// Send one `message` to every one of `recipients` (a group's members, the message's
    /// `peer` and `also_to`): one rumor, one wrap per recipient, as NIP-17 group messages
    /// go, and one copy for our own devices. Fails as a whole only when the message
    /// itself cannot be sent; otherwise each recipient's result, in the order given. The
    /// default sends to each in turn, for transports with a single path.
    async fn send_to_many(
        &self,
        recipients: &[PublicKey],
        message: &CallMessage,
        route: Route,
    ) -> Result<Vec<Result<SendReport, SignalError>>, SignalError> {
        let mut results = Vec::with_capacity(recipients.len());
        for peer in recipients {
            results.push(self.send_via(*peer, message, route).await);
        }
        Ok(results)
    }

    /// A new subscription to verified incoming messages, from now on.
    fn incoming(&self) -> IncomingMessages;

    /// The SOCKS5 proxy every relay connection of this transport goes through, if any.
    /// Paranoid calls need one: without it the engine refuses them before anything is
    /// sent.
    fn socks5_proxy(&self) -> Option<std::net::SocketAddr> {
        None
    }
}
