//! The usual set-up: a [`SignalHub`] with the relay pool as its link, and the Bluetooth LE
//! mesh beside it or instead of it when the user chooses.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use nostr_sdk::{PublicKey, RelayUrl};
use phantomcall_schemas::CallMessage;
use tokio::sync::watch;

use ble_fallback::MeshNode;

use crate::ble_link::BleSignalLink;
use crate::hub::{HubConfig, SignalHub};
use crate::link::SignalLink;
use crate::relay_link::{NostrTransportConfig, RelayLink};
use crate::transport::{IncomingMessages, Recipients, Route};
use crate::{Identity, SendReport, SignalError, SignalTransport};

/// Which paths signaling takes besides (or instead of) the relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlePaths {
    /// Relays and the Bluetooth LE mesh side by side; when no relay is reachable at start
    /// the transport comes up on the mesh alone instead of failing, and keeps trying the
    /// relays in the background until one answers.
    Alongside,
    /// The mesh only: no relay is contacted at all.
    Only,
}

/// Signaling through Nostr relays: a hub whose first link is the relay pool. More links
/// (Bluetooth LE) can be added with [`SignalHub::add_link`].
pub struct NostrTransport {
    hub: Arc<SignalHub>,
    /// Empty while signaling runs on the Bluetooth LE mesh alone (set once, when the
    /// relays join later).
    relays: Arc<OnceLock<Arc<RelayLink>>>,
    /// Whether the relays are in use; flips to `true` when they join after the start.
    relays_joined: watch::Receiver<bool>,
}

/// The first wait before the relays are tried again in the background.
const RELAY_RETRY_FIRST: Duration = Duration::from_secs(10);
/// The longest wait between two tries (the wait doubles after each failure).
const RELAY_RETRY_MAX: Duration = Duration::from_secs(120);

impl NostrTransport {
    /// Connect to the configured relays and start receiving. Fails with
    /// [`SignalError::NoRelayReachable`] if no relay answers within `connect_timeout`; relays
    /// that are down keep being retried in the background.
    pub async fn connect(
        identity: Identity,
        config: NostrTransportConfig,
    ) -> Result<Self, SignalError> {
        let hub = Self::hub_for(&identity, &config);
        let relays =
            Arc::new(RelayLink::connect(identity.keys(), config, hub.arrival_sink()).await?);
        hub.add_link(relays.clone());
        Ok(Self::assemble(hub, Some(relays)))
    }

    fn assemble(hub: SignalHub, relays: Option<Arc<RelayLink>>) -> Self {
        // Nothing changes it later (the retries bring their own channel).
        let (_, relays_joined) = watch::channel(relays.is_some());
        let cell = OnceLock::new();
        if let Some(relays) = relays {
            let _ = cell.set(relays);
        }
        Self {
            hub: Arc::new(hub),
            relays: Arc::new(cell),
            relays_joined,
        }
    }

    /// Like [`NostrTransport::connect`], with the Bluetooth LE `mesh` (whose interests
    /// include our [`BleSignalLink::mesh_key`]) as a link too, or as the only one.
    pub async fn connect_with_ble(
        identity: Identity,
        config: NostrTransportConfig,
        mesh: Arc<MeshNode>,
        paths: BlePaths,
    ) -> Result<Self, SignalError> {
        let hub = Self::hub_for(&identity, &config);
        hub.add_link(Arc::new(BleSignalLink::new(mesh, hub.arrival_sink())));
        if paths == BlePaths::Only {
            return Ok(Self::assemble(hub, None));
        }
        match RelayLink::connect(identity.keys(), config.clone(), hub.arrival_sink()).await {
            Ok(relays) => {
                let relays = Arc::new(relays);
                hub.add_link(relays.clone());
                Ok(Self::assemble(hub, Some(relays)))
            }
            Err(error @ SignalError::NoRelayReachable { .. }) => {
                tracing::warn!(%error, "no relay reachable: signaling over Bluetooth LE only, relays tried again in the background");
                let mut transport = Self::assemble(hub, None);
                let (joined, relays_joined) = watch::channel(false);
                transport.relays_joined = relays_joined;
                tokio::spawn(retry_relays(
                    Arc::downgrade(&transport.hub),
                    transport.relays.clone(),
                    joined,
                    identity,
                    config,
                ));
                Ok(transport)
            }
            Err(error @ SignalError::NoRelays) => {
                tracing::warn!(%error, "no relay configured: signaling over Bluetooth LE only");
                Ok(Self::assemble(hub, None))
            }
            // Behind a proxy, an unreachable relay may mean the proxy is down; that is
            // said, not papered over with the radio.
            Err(error) => Err(error),
        }
    }

    fn hub_for(identity: &Identity, config: &NostrTransportConfig) -> SignalHub {
        SignalHub::new(
            identity.clone(),
            HubConfig {
                verifier: config.verifier.clone(),
                wrap_expiration: config.wrap_expiration,
                replay_file: config.replay_file.clone(),
            },
        )
    }

    /// The hub under this transport (also reached through `Deref`).
    pub fn hub(&self) -> &SignalHub {
        &self.hub
    }

    /// The relay link under this transport; `None` on the Bluetooth LE mesh alone.
    pub fn relay_link(&self) -> Option<&RelayLink> {
        self.relays.get().map(|link| link.as_ref())
    }

    /// Whether the relays are in use, watched: with [`BlePaths::Alongside`] and no relay
    /// reachable at start, it turns `true` when the background retries reach one (then
    /// the DM relay list can be published and the user told).
    pub fn relays_joined(&self) -> watch::Receiver<bool> {
        self.relays_joined.clone()
    }

    fn relays(&self) -> Result<&RelayLink, SignalError> {
        self.relay_link().ok_or(SignalError::NoRelays)
    }

    /// Publish our DM relay list (kind 10050) on our relays so peers know where to send calls.
    pub async fn publish_dm_relays(&self) -> Result<(), SignalError> {
        self.relays()?.publish_dm_relays().await
    }

    /// Publish our DM relay list (kind 10050, naming our relays) on `targets`, for example
    /// the general-purpose relays where contacts look profiles up.
    pub async fn publish_dm_relays_to(&self, targets: Vec<RelayUrl>) -> Result<(), SignalError> {
        self.relays()?.publish_dm_relays_to(targets).await
    }

    /// Publish `inbox` as our DM relay list (kind 10050) on our relays (see
    /// [`RelayLink::publish_dm_relay_list`]).
    pub async fn publish_dm_relay_list(&self, inbox: &[RelayUrl]) -> Result<(), SignalError> {
        self.relays()?.publish_dm_relay_list(inbox).await
    }

    /// Tell the transport where `peer` receives DMs (see [`RelayLink::set_peer_dm_relays`]).
    pub fn set_peer_dm_relays(&self, peer: PublicKey, relays: Vec<RelayUrl>) {
        if let Some(link) = self.relay_link() {
            link.set_peer_dm_relays(peer, relays);
        }
    }

    /// Every relay in the pool with a live connection (ours and peers').
    pub async fn connected_relays(&self) -> Vec<RelayUrl> {
        match self.relay_link() {
            Some(link) => link.connected_relays().await,
            None => Vec::new(),
        }
    }

    /// The SOCKS5 proxy every relay connection goes through, if any.
    pub fn socks5_proxy(&self) -> Option<SocketAddr> {
        self.relay_link().and_then(|link| link.proxy())
    }
}

/// Tries the relays again, waiting longer after each failure, until one answers (its link
/// then joins the hub) or the transport is shut down or dropped.
async fn retry_relays(
    hub: Weak<SignalHub>,
    relays: Arc<OnceLock<Arc<RelayLink>>>,
    joined: watch::Sender<bool>,
    identity: Identity,
    config: NostrTransportConfig,
) {
    let mut wait = RELAY_RETRY_FIRST;
    loop {
        tokio::time::sleep(wait).await;
        // A shut-down hub has no links left.
        let Some(hub) = hub.upgrade().filter(|hub| !hub.link_kinds().is_empty()) else {
            return;
        };
        match RelayLink::connect(identity.keys(), config.clone(), hub.arrival_sink()).await {
            Ok(link) => {
                let link = Arc::new(link);
                if hub.link_kinds().is_empty() {
                    link.shutdown().await;
                    return;
                }
                hub.add_link(link.clone());
                let _ = relays.set(link);
                let _ = joined.send(true);
                tracing::info!("relays reachable again: signaling over relays and Bluetooth LE");
                return;
            }
            Err(error) => tracing::debug!(%error, ?wait, "relays still unreachable"),
        }
        wait = (wait * 2).min(RELAY_RETRY_MAX);
    }
}

/// A `NostrTransport` is its hub with one link more: the hub's calls (forms, counters,
/// chats, `shutdown`) are the transport's.
impl std::ops::Deref for NostrTransport {
    type Target = SignalHub;

    fn deref(&self) -> &SignalHub {
        &self.hub
    }
}

#[async_trait]
impl SignalTransport for NostrTransport {
    fn local_public_key(&self) -> PublicKey {
        self.hub.local_public_key()
    }

    async fn send(
        &self,
        peer: PublicKey,
        message: &CallMessage,
    ) -> Result<SendReport, SignalError> {
        self.hub.send(peer, message).await
    }

    async fn send_via(
        &self,
        peer: PublicKey,
        message: &CallMessage,
        route: Route,
    ) -> Result<SendReport, SignalError> {
        self.hub.send_via(peer, message, route).await
    }

    async fn send_to(
        &self,
        recipients: &Recipients,
        message: &CallMessage,
        route: Route,
    ) -> Result<Vec<Result<SendReport, SignalError>>, SignalError> {
        self.hub.send_to(recipients, message, route).await
    }

    fn incoming(&self) -> IncomingMessages {
        self.hub.incoming()
    }

    fn hides_network_address(&self) -> bool {
        self.hub.hides_network_address()
    }
}
