//! The transport-independent signaling interface the call engine talks to.

use async_trait::async_trait;
use nostr_sdk::{EventId, PublicKey, Timestamp};
use phantomcall_schemas::{CallMessage, ChatMessage};
use tokio::sync::broadcast;

use crate::{Accepted, DeliveryForm, SignalError, Via};

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
    /// The path it came over.
    pub via: Via,
}

/// A chat message (NIP-17 kind 14) that passed every check of the [`crate::Verifier`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedChat {
    /// Who wrote it (the seal's signer, equal to the rumor's author).
    pub sender: PublicKey,
    /// The parsed, schema-valid message.
    pub chat: ChatMessage,
    /// Id of the rumor: the replay-protection key, and what a reply's `e` tag names.
    pub rumor_id: EventId,
    /// When the sender wrote it.
    pub created_at: Timestamp,
    /// True when one of our own other devices sent it.
    pub from_own_device: bool,
    /// The path it came over.
    pub via: Via,
}

/// A control message ([`crate::CONTROL_KIND`]) that passed the verifier: sealed, signed
/// by `sender`, fresh, addressed to us, not a replay. Its content is the service's to parse.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedControl {
    /// Who sent it (the seal's signer, equal to the rumor's author).
    pub sender: PublicKey,
    /// The content, at most [`crate::MAX_CONTROL_BYTES`] bytes, not yet parsed.
    pub content: String,
    /// Id of the rumor.
    pub rumor_id: EventId,
    /// When the sender wrote it.
    pub created_at: Timestamp,
    /// The path it came over.
    pub via: Via,
}

/// What the verifier lets through, by family.
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    /// A call message.
    Call(VerifiedMessage),
    /// A chat message (only when [`crate::VerifierConfig::accept_chats`] is on).
    Chat(VerifiedChat),
    /// A control message (only when [`crate::VerifierConfig::accept_controls`] is on).
    Control(VerifiedControl),
}

/// Who one message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// One peer.
    One(PublicKey),
    /// Several (a group's members): one rumor, one wrap each.
    Many(Vec<PublicKey>),
}

impl Recipients {
    /// The recipients, in order.
    pub fn as_slice(&self) -> &[PublicKey] {
        match self {
            Recipients::One(peer) => std::slice::from_ref(peer),
            Recipients::Many(peers) => peers,
        }
    }
}

/// What a successful send achieved.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// Id of the rumor sent (the same id reaches the peer and our other devices).
    pub rumor_id: EventId,
    /// Who took the wrap for the peer first (a relay, or a link without relays). Compares
    /// equal to a relay's URL when that relay took it.
    pub accepted_by: Accepted,
    /// The form used.
    pub form: DeliveryForm,
}

/// A stream of verified incoming messages of one family.
pub struct Incoming<T> {
    receiver: broadcast::Receiver<T>,
}

/// Verified incoming call messages.
pub type IncomingMessages = Incoming<VerifiedMessage>;
/// Verified incoming chat messages.
pub type IncomingChats = Incoming<VerifiedChat>;
/// Verified incoming control messages.
pub type IncomingControls = Incoming<VerifiedControl>;

impl<T: Clone> Incoming<T> {
    pub(crate) fn new(receiver: broadcast::Receiver<T>) -> Self {
        Self { receiver }
    }

    /// The next verified message; `None` once the transport has shut down.
    /// A consumer that falls far behind loses the oldest messages (logged), never blocks the
    /// transport.
    pub async fn recv(&mut self) -> Option<T> {
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

/// Sends call messages to peers and yields verified incoming ones. Implemented by the
/// [`crate::SignalHub`] over its links (relays, and later Bluetooth LE), and by test
/// decorators around it.
#[async_trait]
pub trait SignalTransport: Send + Sync {
    /// Our own public key (the identity messages are sent as).
    fn local_public_key(&self) -> PublicKey;

    /// Send `message` to `peer` (and a copy to our own other devices). Resolves once a path
    /// took the wrap for the peer, or fails after the transport's send deadline.
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

    /// Send one `message` to `recipients` (for a group: its members, the message's `peer`
    /// and `also_to`): one rumor, one wrap per recipient, as NIP-17 group messages go, and
    /// one copy for our own devices. Fails as a whole only when the message itself cannot
    /// be sent; otherwise each recipient's result, in the order given. The default sends
    /// to each in turn.
    async fn send_to(
        &self,
        recipients: &Recipients,
        message: &CallMessage,
        route: Route,
    ) -> Result<Vec<Result<SendReport, SignalError>>, SignalError> {
        let mut results = Vec::with_capacity(recipients.as_slice().len());
        for peer in recipients.as_slice() {
            results.push(self.send_via(*peer, message, route).await);
        }
        Ok(results)
    }

    /// A new subscription to verified incoming messages, from now on.
    fn incoming(&self) -> IncomingMessages;

    /// Whether every path this transport uses keeps our network address from the other
    /// ends (relays reached through a proxy, a radio link). Paranoid calls need it: without
    /// it the engine refuses them before anything is sent.
    fn hides_network_address(&self) -> bool {
        false
    }
}
