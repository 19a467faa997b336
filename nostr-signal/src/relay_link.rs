//! The relay pool as a [`SignalLink`] (nostr-sdk).
//!
//! Receive: one subscription to kinds 1059 and 21059 addressed to us on our relays; every
//! wrap goes, unopened, to the hub. Send: a wrap for a peer goes to the peer's DM relays
//! (kind 10050, NIP-17, only those [`PeerRelayPolicy`] lets through) when known, else to
//! our relays; the copy for our other devices goes to our relays, later and on a
//! connection of its own, so a relay cannot pair the two by their arrival.
//!
//! Everything relay-specific lives here and nowhere else: DM relay lists, peer relay
//! connections and their limits, the SOCKS5 proxy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nostr_sdk::prelude::{
    Client, Event, EventBuilder, Filter, Keys, Kind, PublicKey, RelayPoolNotification, RelayUrl,
    Tag, TagKind, Timestamp,
};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::link::{Accepted, Arrival, ArrivalSink, Destination, LinkKind, SignalLink, Via};
use crate::logsafe::ShortKey;
use crate::peer_relays::PeerRelayPolicy;
use crate::publish::{publish, relay_options, wait_for_any_relay};
use crate::recent::RecentMap;
use crate::wrap::{is_wrap_kind, EPHEMERAL_GIFT_WRAP_KIND};
use crate::{Route, SignalError, VerifierConfig, DEFAULT_WRAP_EXPIRATION};

/// Most DM relays taken from a peer's kind 10050 list; more only widens what learns of us.
const MAX_PEER_DM_RELAYS: usize = 8;
/// Most peer relays connected at once; past it the least recently used one is dropped.
const MAX_OPEN_PEER_RELAYS: usize = 16;
/// Peers whose DM relays are remembered; a flood of throwaway keys pushes out the oldest
/// instead of growing memory.
const MAX_REMEMBERED_PEERS: usize = 4096;
/// How often idle peer relays are looked for.
const PEER_RELAY_SWEEP: Duration = Duration::from_secs(5);
/// How long a peer's DM relay list is trusted before it is looked up again.
const DM_RELAY_CACHE_TTL: Duration = Duration::from_secs(600);
/// How far back the subscription asks for stored wraps. NIP-59 randomises a wrap's
/// `created_at` up to two days into the past, so a shorter `since` would miss fresh wraps;
/// the verifier's freshness window drops the old ones.
const SUBSCRIPTION_LOOKBACK: Duration = Duration::from_secs(2 * 24 * 3600 + 60);

/// Settings of the Nostr transport: the relay link's, and the hub's it builds on.
#[derive(Debug, Clone)]
pub struct NostrTransportConfig {
    /// Our relays: we read there, and they are the DM inbox we publish (kind 10050).
    pub relays: Vec<RelayUrl>,
    /// Verifier settings (freshness window, call-id bindings).
    pub verifier: VerifierConfig,
    /// NIP-40 expiration put on every wrap.
    pub wrap_expiration: Duration,
    /// How long `send` keeps trying before it reports the message undelivered.
    pub send_timeout: Duration,
    /// How long `connect` waits for the first relay.
    pub connect_timeout: Duration,
    /// Fixed pause between reconnection attempts to a lost relay. Short, because a call in
    /// progress waits on it; nostr-sdk's default backs off to a minute.
    pub reconnect_interval: Duration,
    /// How long to wait for a peer's kind 10050 list before falling back to our relays.
    pub dm_relay_lookup_timeout: Duration,
    /// SOCKS5 proxy (Tor) every relay connection goes through, if set.
    pub proxy: Option<SocketAddr>,
    /// Accept `ws://` and local addresses in peers' DM relay lists. Only for local and
    /// test set-ups: elsewhere a peer's list could point us at our own LAN.
    pub allow_local_peer_relays: bool,
    /// The copy for our other devices waits a random time in this range, so a relay that
    /// sees both wraps cannot pair them by their arrival. Longer delays other devices'
    /// ring-stop.
    pub self_copy_delay: Range<Duration>,
    /// A peer relay unused this long is disconnected.
    pub peer_relay_idle: Duration,
    /// Where accepted message ids are kept across restarts (encrypted to our own key), so
    /// what the relays send again after a restart is not accepted twice. `None`: memory
    /// only.
    pub replay_file: Option<std::path::PathBuf>,
}

impl NostrTransportConfig {
    /// Defaults around the given relays.
    pub fn new(relays: Vec<RelayUrl>) -> Self {
        Self {
            relays,
            verifier: VerifierConfig::default(),
            wrap_expiration: DEFAULT_WRAP_EXPIRATION,
            send_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            reconnect_interval: Duration::from_secs(2),
            dm_relay_lookup_timeout: Duration::from_millis(1500),
            proxy: None,
            allow_local_peer_relays: false,
            self_copy_delay: Duration::from_millis(300)..Duration::from_millis(2000),
            peer_relay_idle: Duration::from_secs(90),
            replay_file: None,
        }
    }
}

/// The relay pool, as one link of the hub.
pub struct RelayLink {
    /// Signs our DM relay lists (wraps arrive already built).
    keys: Keys,
    client: Client,
    /// Write-only connections to our own relays for the copy to our other devices, apart
    /// from the connection that carries the wrap to the peer.
    own_copy_client: Client,
    config: NostrTransportConfig,
    relay_policy: PeerRelayPolicy,
    dm_relays: Mutex<RecentMap<PublicKey, Vec<RelayUrl>>>,
    /// Relays added for peers (never our own), with their last use.
    peer_relay_use: Arc<Mutex<HashMap<RelayUrl, Instant>>>,
    receive_task: JoinHandle<()>,
    sweep_task: JoinHandle<()>,
}

impl RelayLink {
    /// Connect to the configured relays as `keys` and hand every wrap addressed to us to
    /// `sink`. Fails with [`SignalError::NoRelayReachable`] if no relay answers within
    /// `connect_timeout`; relays that are down keep being retried in the background.
    pub async fn connect(
        keys: &Keys,
        config: NostrTransportConfig,
        sink: ArrivalSink,
    ) -> Result<Self, SignalError> {
        if config.relays.is_empty() {
            return Err(SignalError::NoRelays);
        }
        let client = Client::builder().signer(keys.clone()).build();
        let own_copy_client = Client::builder().signer(keys.clone()).build();
        for url in &config.relays {
            for (client, read) in [(&client, true), (&own_copy_client, false)] {
                let options = relay_options(config.reconnect_interval, config.proxy, read);
                client
                    .pool()
                    .add_relay(url.clone(), options)
                    .await
                    .map_err(|e| SignalError::Client(e.to_string()))?;
            }
        }
        // Listen before connecting, so nothing that arrives early is missed.
        let receive_task = tokio::spawn(forward_wraps(client.notifications(), sink));
        client.connect().await;
        if !wait_for_any_relay(&client, config.connect_timeout).await {
            client.shutdown().await;
            own_copy_client.shutdown().await;
            receive_task.abort();
            let tried = config
                .relays
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(match config.proxy {
                Some(proxy) => SignalError::NoRelayReachableThroughProxy { proxy, tried },
                None => SignalError::NoRelayReachable { tried },
            });
        }
        let since = Timestamp::now() - SUBSCRIPTION_LOOKBACK;
        // Both wrap kinds: current NIP-AC clients send ephemeral 21059 wraps.
        let filter = Filter::new()
            .kinds([Kind::GiftWrap, Kind::from(EPHEMERAL_GIFT_WRAP_KIND)])
            .pubkey(keys.public_key())
            .since(since);
        client.subscribe(filter, None).await?;
        own_copy_client.connect().await;
        let peer_relay_use = Arc::new(Mutex::new(HashMap::new()));
        let sweep_task = tokio::spawn(disconnect_idle_peer_relays(
            client.clone(),
            Arc::clone(&peer_relay_use),
            config.peer_relay_idle,
        ));
        let relay_policy = PeerRelayPolicy {
            own: config.relays.clone(),
            allow_local: config.allow_local_peer_relays,
        };
        Ok(Self {
            keys: keys.clone(),
            client,
            own_copy_client,
            config,
            relay_policy,
            dm_relays: Mutex::new(RecentMap::new(MAX_REMEMBERED_PEERS)),
            peer_relay_use,
            receive_task,
            sweep_task,
        })
    }

    /// The SOCKS5 proxy every relay connection goes through, if any.
    pub fn proxy(&self) -> Option<SocketAddr> {
        self.config.proxy
    }

    /// Publish our DM relay list (kind 10050) on our relays so peers know where to send calls.
    pub async fn publish_dm_relays(&self) -> Result<(), SignalError> {
        self.publish_dm_relays_to(self.config.relays.clone()).await
    }

    /// Publish our DM relay list (kind 10050, naming our relays) on `targets`, for example
    /// the general-purpose relays where contacts look profiles up.
    pub async fn publish_dm_relays_to(&self, targets: Vec<RelayUrl>) -> Result<(), SignalError> {
        let event = self.dm_relay_list_event(&self.config.relays)?;
        self.publish_to(event, targets).await?;
        Ok(())
    }

    /// Publish `inbox` as our DM relay list (kind 10050) on our relays: for a user whose
    /// inbox relays differ from the relays the app connects to for everything else. The
    /// transport must read the inbox relays too (include them in `relays`), or calls sent
    /// there are never seen. An empty `inbox` publishes our relays, as
    /// [`NostrTransport::publish_dm_relays`] does.
    pub async fn publish_dm_relay_list(&self, inbox: &[RelayUrl]) -> Result<(), SignalError> {
        if inbox.is_empty() {
            return self.publish_dm_relays().await;
        }
        let event = self.dm_relay_list_event(inbox)?;
        self.publish_to(event, self.config.relays.clone()).await?;
        Ok(())
    }

    /// Our signed DM relay list (kind 10050) naming `relays`.
    fn dm_relay_list_event(&self, relays: &[RelayUrl]) -> Result<Event, SignalError> {
        let tags = relays
            .iter()
            .map(|url| Tag::custom(TagKind::Relay, [url.to_string()]));
        EventBuilder::new(Kind::InboxRelays, "")
            .tags(tags)
            .sign_with_keys(&self.keys)
            .map_err(|e| SignalError::Build(e.to_string()))
    }

    /// Tell the transport where `peer` receives DMs (for example from an nprofile's hints),
    /// instead of looking up their kind 10050 list. Relays [`PeerRelayPolicy`] refuses are
    /// left out.
    pub fn set_peer_dm_relays(&self, peer: PublicKey, relays: Vec<RelayUrl>) {
        let relays = relays
            .into_iter()
            .filter(|url| self.relay_policy.check(url).is_ok())
            .take(MAX_PEER_DM_RELAYS)
            .collect();
        self.remember_peer_relays(peer, relays);
    }

    fn remember_peer_relays(&self, peer: PublicKey, relays: Vec<RelayUrl>) {
        self.dm_relays
            .lock()
            .expect("dm relay cache poisoned")
            .insert(peer, relays);
    }

    /// Every relay in the pool with a live connection (ours and peers').
    pub async fn connected_relays(&self) -> Vec<RelayUrl> {
        self.client
            .relays()
            .await
            .into_iter()
            .filter(|(_, r)| r.status() == nostr_sdk::RelayStatus::Connected)
            .map(|(url, _)| url)
            .collect()
    }

    /// The copy for our other devices goes out after a random pause, on its own
    /// connection, best effort: a call must not fail because our own relay is slow.
    fn send_own_copy_later(&self, wrap: Event) {
        let client = self.own_copy_client.clone();
        let relays = self.config.relays.clone();
        let timeout = self.config.send_timeout;
        let range = &self.config.self_copy_delay;
        let delay = if range.end > range.start {
            rand::random_range(range.clone())
        } else {
            range.start
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = publish(&client, wrap, relays, timeout).await {
                tracing::debug!(error = %e, "copy for our other devices not delivered");
            }
        });
    }

    /// The peer's DM relays: cached, else looked up (kind 10050), else our own relays.
    async fn peer_relays(&self, peer: &PublicKey) -> Vec<RelayUrl> {
        if let Some((relays, at)) = self
            .dm_relays
            .lock()
            .expect("dm relay cache poisoned")
            .get(peer)
        {
            if at.elapsed() < DM_RELAY_CACHE_TTL {
                return relays.clone();
            }
        }
        let filter = Filter::new().kind(Kind::InboxRelays).author(*peer).limit(1);
        let found = match self
            .client
            .fetch_events(filter, self.config.dm_relay_lookup_timeout)
            .await
        {
            Ok(events) => events
                .into_iter()
                // A relay may answer with anything: only the peer's own signed list counts.
                .filter(|e| e.kind == Kind::InboxRelays && e.pubkey == *peer)
                .max_by_key(|e| e.created_at)
                .map(|e| {
                    self.relay_policy
                        .relays_of_list(&e, peer, MAX_PEER_DM_RELAYS)
                })
                .unwrap_or_default(),
            Err(e) => {
                tracing::debug!(error = %e, peer = %ShortKey(peer), "DM relay lookup failed");
                Vec::new()
            }
        };
        let relays = if found.is_empty() {
            self.config.relays.clone()
        } else {
            found
        };
        self.remember_peer_relays(*peer, relays.clone());
        relays
    }

    /// Publish `event` to `urls`, adding the ones not yet in the pool as write-only (we
    /// never subscribe on a peer's relays).
    async fn publish_to(&self, event: Event, urls: Vec<RelayUrl>) -> Result<RelayUrl, SignalError> {
        for url in &urls {
            if self.config.relays.contains(url) {
                continue;
            }
            self.make_room_for_peer_relay(url).await;
            let added = self
                .client
                .pool()
                .add_relay(
                    url.clone(),
                    relay_options(self.config.reconnect_interval, self.config.proxy, false),
                )
                .await
                .map_err(|e| SignalError::Client(e.to_string()))?;
            if added {
                self.client.connect_relay(url.clone()).await?;
            }
            self.peer_relay_use
                .lock()
                .expect("peer relay map poisoned")
                .insert(url.clone(), Instant::now());
        }
        publish(&self.client, event, urls, self.config.send_timeout).await
    }

    /// Keeps at most [`MAX_OPEN_PEER_RELAYS`] peer relays: the least recently used goes.
    async fn make_room_for_peer_relay(&self, url: &RelayUrl) {
        let evict = {
            let used = self.peer_relay_use.lock().expect("peer relay map poisoned");
            if used.contains_key(url) || used.len() < MAX_OPEN_PEER_RELAYS {
                return;
            }
            used.iter()
                .min_by_key(|(_, at)| **at)
                .map(|(u, _)| u.clone())
        };
        if let Some(evict) = evict {
            self.peer_relay_use
                .lock()
                .expect("peer relay map poisoned")
                .remove(&evict);
            let _ = self.client.pool().force_remove_relay(&evict).await;
        }
    }

    /// Disconnect from every relay and stop receiving.
    pub async fn close(&self) {
        self.client.shutdown().await;
        self.own_copy_client.shutdown().await;
        self.receive_task.abort();
        self.sweep_task.abort();
    }
}

#[async_trait]
impl SignalLink for RelayLink {
    fn kind(&self) -> LinkKind {
        LinkKind::Relays
    }

    async fn deliver(&self, wrap: Event, to: Destination) -> Result<Accepted, SignalError> {
        let relays = match to {
            Destination::OwnDevices => {
                self.send_own_copy_later(wrap);
                // Taken on trust: the copy goes out later, best effort.
                return Ok(Accepted::Link(LinkKind::Relays));
            }
            Destination::Peer {
                peer,
                route: Route::PeerInbox,
            } => self.peer_relays(&peer).await,
            Destination::Peer {
                route: Route::OwnRelays,
                ..
            } => self.config.relays.clone(),
        };
        self.publish_to(wrap, relays).await.map(Accepted::Relay)
    }

    fn hides_network_address(&self) -> bool {
        self.config.proxy.is_some()
    }

    async fn shutdown(&self) {
        self.close().await;
    }
}

impl Drop for RelayLink {
    fn drop(&mut self) {
        self.receive_task.abort();
        self.sweep_task.abort();
    }
}

/// Hands every wrap the pool receives to the hub, unopened.
async fn forward_wraps(
    mut notifications: broadcast::Receiver<RelayPoolNotification>,
    sink: ArrivalSink,
) {
    loop {
        match notifications.recv().await {
            Ok(RelayPoolNotification::Event { event, .. }) => {
                if !is_wrap_kind(event.kind) {
                    continue;
                }
                let arrival = Arrival {
                    wrap: *event,
                    via: Via::link(LinkKind::Relays),
                };
                if sink.send(arrival).await.is_err() {
                    break; // the hub is gone
                }
            }
            Ok(RelayPoolNotification::Shutdown) => break,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "relay notifications lagged; some wraps were not seen"
                );
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// Disconnects peer relays nothing was sent to for `idle`.
async fn disconnect_idle_peer_relays(
    client: Client,
    used: Arc<Mutex<HashMap<RelayUrl, Instant>>>,
    idle: Duration,
) {
    let sweep = PEER_RELAY_SWEEP.min(idle);
    loop {
        tokio::time::sleep(sweep).await;
        let idle_relays: Vec<RelayUrl> = {
            let mut used = used.lock().expect("peer relay map poisoned");
            let gone: Vec<RelayUrl> = used
                .iter()
                .filter(|(_, at)| at.elapsed() >= idle)
                .map(|(u, _)| u.clone())
                .collect();
            for url in &gone {
                used.remove(url);
            }
            gone
        };
        for url in idle_relays {
            let _ = client.pool().force_remove_relay(&url).await;
        }
    }
}
