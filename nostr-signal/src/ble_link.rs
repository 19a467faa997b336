//! The Bluetooth LE mesh as one more link under the hub: wraps go out as mesh messages
//! addressed to the recipient key their `p` tag already names, and whatever the mesh
//! delivers goes to the hub's one verifier like anything from a relay.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use ble_fallback::{Envelope, HandOver, MeshNode, MessageId, Outgoing};
use nostr_sdk::{Event, JsonUtil, PublicKey};
use tokio::task::JoinHandle;

use crate::link::{Accepted, Arrival, ArrivalSink, Destination, LinkKind, SignalLink, Via};
use crate::wrap::is_wrap_kind;
use crate::{SignalError, DEFAULT_WRAP_EXPIRATION};

/// How long a send waits for a neighbour to acknowledge before the hub hears "unreachable"
/// (the message stays queued in the mesh until it expires).
const HAND_OVER_WAIT: Duration = Duration::from_secs(6);
/// The longest a wrap is carried around the mesh, whatever its own expiration says.
const MAX_CARRY: Duration = Duration::from_secs(24 * 3600);

/// A hub's link over a [`MeshNode`].
pub struct BleSignalLink {
    mesh: Arc<MeshNode>,
    intake: JoinHandle<()>,
}

impl BleSignalLink {
    /// A link over `mesh` (whose interests must include our own [`Self::mesh_key`]), handing what arrives
    /// to `sink` (the hub's [`crate::SignalHub::arrival_sink`]). Must run inside Tokio.
    pub fn new(mesh: Arc<MeshNode>, sink: ArrivalSink) -> Self {
        let intake = tokio::spawn(forward_deliveries(Arc::clone(&mesh), sink));
        Self { mesh, intake }
    }

    /// The mesh key of `key`: the 32 bytes a `p` tag names.
    pub fn mesh_key(key: &PublicKey) -> [u8; 32] {
        key.to_bytes()
    }
}

/// Hands every delivered message that parses as a gift wrap to the hub, unopened.
async fn forward_deliveries(mesh: Arc<MeshNode>, sink: ArrivalSink) {
    while let Some(delivery) = mesh.recv().await {
        let wrap = match std::str::from_utf8(&delivery.envelope.body)
            .ok()
            .and_then(|json| Event::from_json(json).ok())
        {
            Some(wrap) if is_wrap_kind(wrap.kind) => wrap,
            _ => {
                tracing::debug!("BLE delivery that is not a gift wrap dropped");
                continue;
            }
        };
        let arrival = Arrival {
            wrap,
            via: Via {
                link: LinkKind::Ble,
                hops: Some(delivery.hops),
            },
        };
        if sink.send(arrival).await.is_err() {
            break; // the hub is gone
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[async_trait]
impl SignalLink for BleSignalLink {
    fn kind(&self) -> LinkKind {
        LinkKind::Ble
    }

    async fn deliver(&self, wrap: Event, to: Destination) -> Result<Accepted, SignalError> {
        let recipient = match to {
            Destination::Peer { peer, .. } => peer,
            // No copy for our other devices over the air: a wrap addressed to our own key,
            // sent by this radio next to the one for the peer, would tell a listener nearby
            // whose device this is. Our other devices get it from the relays, later.
            Destination::OwnDevices => return Ok(Accepted::Link(LinkKind::Ble)),
        };
        let now = unix_now();
        let expires_at = wrap
            .tags
            .expiration()
            .map(|t| t.as_secs())
            .unwrap_or(now + DEFAULT_WRAP_EXPIRATION.as_secs())
            .min(now + MAX_CARRY.as_secs());
        let mut id = [0u8; 8];
        id.copy_from_slice(&wrap.id.as_bytes()[..8]);
        let outgoing = Outgoing {
            id: MessageId(id),
            envelope: Envelope {
                recipient: Self::mesh_key(&recipient),
                expires_at,
                body: wrap.as_json().into_bytes(),
            },
        };
        let handed = tokio::time::timeout(HAND_OVER_WAIT, self.mesh.send(outgoing)).await;
        match handed {
            Ok(HandOver::Handed) => Ok(Accepted::Link(LinkKind::Ble)),
            // Queued or not acknowledged in time: kept in the mesh for whoever comes.
            _ => Err(SignalError::Unreachable {
                link: LinkKind::Ble,
            }),
        }
    }

    fn hides_network_address(&self) -> bool {
        // Nothing goes over IP; what a radio listener learns is written in docs/ble.md.
        true
    }

    async fn shutdown(&self) {
        self.intake.abort();
        self.mesh.shutdown().await;
    }
}
