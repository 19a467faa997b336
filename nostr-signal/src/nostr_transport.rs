//! [`SignalTransport`] over a pool of Nostr relays (nostr-sdk).
//!
//! Receive: one subscription to kind 1059 addressed to us on our relays; every wrap goes
//! through the [`Verifier`]. Send: the wrap goes to the peer's DM relays (kind 10050, NIP-17)
//! when known, else to our relays, and a copy wrapped to ourselves goes to our relays so our
//! other devices follow the call.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use nostr_sdk::prelude::{
    Client, ConnectionMode, Event, EventBuilder, Filter, Kind, PublicKey, RelayOptions,
    RelayPoolNotification, RelayStatus, RelayUrl, Tag, TagKind, Timestamp,
};
use phantomcall_schemas::CallMessage;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::logsafe::ShortKey;
use crate::transport::IncomingMessages;
use crate::wrap::{build_rumor, wrap_rumor};
use crate::{
    DeliveryForm, Identity, RejectionCounts, SendReport, SignalError, SignalTransport,
    VerifiedMessage, Verifier, VerifierConfig, DEFAULT_WRAP_EXPIRATION,
};

/// Most DM relays taken from a peer's kind 10050 list; more only widens what learns of us.
const MAX_PEER_DM_RELAYS: usize = 8;
/// Buffered verified messages per subscriber before the slowest one starts losing old ones.
const INCOMING_BUFFER: usize = 1024;
/// Pause between two publish attempts to a relay that refused or is reconnecting.
const PUBLISH_RETRY_PAUSE: Duration = Duration::from_millis(250);
/// How long one publish attempt waits for the relay's OK before sending again: an event
/// written into a connection that just died is never answered, and nostr-sdk would wait
/// 10 s for it. Five seconds leave room for a round trip through Tor.
const PUBLISH_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a peer's DM relay list is trusted before it is looked up again.
const DM_RELAY_CACHE_TTL: Duration = Duration::from_secs(600);
/// How far back the subscription asks for stored wraps. NIP-59 randomises a wrap's
/// `created_at` up to two days into the past, so a shorter `since` would miss fresh wraps;
/// the verifier's freshness window drops the old ones.
const SUBSCRIPTION_LOOKBACK: Duration = Duration::from_secs(2 * 24 * 3600 + 60);

/// Settings of the Nostr transport.
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
        }
    }
}

/// Signaling through Nostr relays.
pub struct NostrTransport {
    identity: Identity,
    client: Client,
    config: NostrTransportConfig,
    incoming: broadcast::Sender<VerifiedMessage>,
    counts: Arc<RejectionCounts>,
    peer_forms: Arc<Mutex<HashMap<PublicKey, DeliveryForm>>>,
    dm_relays: Mutex<HashMap<PublicKey, (Vec<RelayUrl>, Instant)>>,
    receive_task: JoinHandle<()>,
}

impl NostrTransport {
    /// Connect to the configured relays and start receiving. Fails with
    /// [`SignalError::NoRelayReachable`] if no relay answers within `connect_timeout`; relays
    /// that are down keep being retried in the background.
    pub async fn connect(
        identity: Identity,
        config: NostrTransportConfig,
    ) -> Result<Self, SignalError> {
        if config.relays.is_empty() {
            return Err(SignalError::NoRelays);
        }
        let client = Client::builder().signer(identity.keys().clone()).build();
        for url in &config.relays {
            client
                .pool()
                .add_relay(url.clone(), relay_options(&config, true))
                .await
                .map_err(|e| SignalError::Client(e.to_string()))?;
        }
        let verifier = Verifier::new(identity.keys().clone(), config.verifier.clone());
        let counts = verifier.counts();
        let (incoming, _) = broadcast::channel(INCOMING_BUFFER);
        let peer_forms = Arc::new(Mutex::new(HashMap::new()));
        // Listen before connecting, so nothing that arrives early is missed.
        let receive_task = tokio::spawn(receive_loop(
            client.notifications(),
            verifier,
            incoming.clone(),
            Arc::clone(&peer_forms),
        ));
        client.connect().await;
        if !wait_for_any_relay(&client, config.connect_timeout).await {
            client.shutdown().await;
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
        let filter = Filter::new()
            .kind(Kind::GiftWrap)
            .pubkey(identity.public_key())
            .since(since);
        client.subscribe(filter, None).await?;
        Ok(Self {
            identity,
            client,
            config,
            incoming,
            counts,
            peer_forms,
            dm_relays: Mutex::new(HashMap::new()),
            receive_task,
        })
    }

    /// Publish our DM relay list (kind 10050) on our relays so peers know where to send calls.
    pub async fn publish_dm_relays(&self) -> Result<(), SignalError> {
        self.publish_dm_relays_to(self.config.relays.clone()).await
    }

    /// Publish our DM relay list (kind 10050, naming our relays) on `targets`, for example
    /// the general-purpose relays where contacts look profiles up.
    pub async fn publish_dm_relays_to(&self, targets: Vec<RelayUrl>) -> Result<(), SignalError> {
        let event = self.dm_relay_list_event(&self.config.relays)?;
        self.publish(event, targets).await?;
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
        self.publish(event, self.config.relays.clone()).await?;
        Ok(())
    }

    /// Our signed DM relay list (kind 10050) naming `relays`.
    fn dm_relay_list_event(&self, relays: &[RelayUrl]) -> Result<Event, SignalError> {
        let tags = relays
            .iter()
            .map(|url| Tag::custom(TagKind::Relay, [url.to_string()]));
        EventBuilder::new(Kind::InboxRelays, "")
            .tags(tags)
            .sign_with_keys(self.identity.keys())
            .map_err(|e| SignalError::Build(e.to_string()))
    }

    /// Tell the transport where `peer` receives DMs (for example from an nprofile's hints),
    /// instead of looking up their kind 10050 list.
    pub fn set_peer_dm_relays(&self, peer: PublicKey, relays: Vec<RelayUrl>) {
        self.dm_relays
            .lock()
            .expect("dm relay cache poisoned")
            .insert(peer, (relays, Instant::now()));
    }

    /// Rejection counters of this transport's verifier.
    pub fn rejection_counts(&self) -> Arc<RejectionCounts> {
        Arc::clone(&self.counts)
    }

    /// The delivery form used for `peer`: Direct once they used it, else Sealed.
    pub fn form_for(&self, peer: &PublicKey) -> DeliveryForm {
        self.peer_forms
            .lock()
            .expect("peer form map poisoned")
            .get(peer)
            .copied()
            .unwrap_or(DeliveryForm::Sealed)
    }

    /// Send `message` to `peer` in a chosen form (tests and interop; `send` picks the form).
    pub async fn send_with_form(
        &self,
        peer: PublicKey,
        message: &CallMessage,
        form: DeliveryForm,
    ) -> Result<SendReport, SignalError> {
        let keys = self.identity.keys();
        let rumor = build_rumor(keys.public_key(), message, Timestamp::now())?;
        let rumor_id = rumor.id.expect("build_rumor sets the id");
        let expiration = self.config.wrap_expiration;
        let to_peer = wrap_rumor(keys, &peer, rumor.clone(), form, expiration).await?;
        // Our other devices always get the sealed form: they are PhantomCall.
        let to_self = wrap_rumor(
            keys,
            &keys.public_key(),
            rumor,
            DeliveryForm::Sealed,
            expiration,
        )
        .await?;
        let peer_relays = self.peer_relays(&peer).await;
        let own_relays = self.config.relays.clone();
        let (peer_result, _) = tokio::join!(
            self.publish(to_peer, peer_relays),
            // The copy is best effort: a call must not fail because our own relay is slow.
            async {
                if let Err(e) = self.publish(to_self, own_relays).await {
                    tracing::debug!(error = %e, "copy for our other devices not delivered");
                }
            }
        );
        Ok(SendReport {
            rumor_id,
            accepted_by: peer_result?,
            form,
        })
    }

    /// Disconnect from every relay and stop receiving.
    pub async fn shutdown(&self) {
        self.client.shutdown().await;
        self.receive_task.abort();
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
                .max_by_key(|e| e.created_at)
                .map(|e| relays_of_list(&e))
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
        self.set_peer_dm_relays(*peer, relays.clone());
        relays
    }

    /// Publish `event` to `urls`; resolves with the first relay that accepted it. The other
    /// relays keep being tried in the background until the deadline.
    async fn publish(&self, event: Event, urls: Vec<RelayUrl>) -> Result<RelayUrl, SignalError> {
        let deadline = Instant::now() + self.config.send_timeout;
        for url in &urls {
            // Relays outside our list are write-only: we never subscribe there.
            let added = self
                .client
                .pool()
                .add_relay(url.clone(), relay_options(&self.config, false))
                .await
                .map_err(|e| SignalError::Client(e.to_string()))?;
            if added {
                self.client.connect_relay(url.clone()).await?;
            }
        }
        let mut attempts: FuturesUnordered<_> = urls
            .into_iter()
            .map(|url| publish_to_relay(self.client.clone(), event.clone(), url, deadline))
            .collect();
        let mut last_error = String::from("no relay");
        while let Some(result) = attempts.next().await {
            match result {
                Ok(url) => {
                    tokio::spawn(async move { while attempts.next().await.is_some() {} });
                    return Ok(url);
                }
                Err(e) => last_error = e,
            }
        }
        Err(SignalError::NotDelivered {
            seconds: self.config.send_timeout.as_secs(),
            last_error,
        })
    }
}

#[async_trait]
impl SignalTransport for NostrTransport {
    fn local_public_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    async fn send(
        &self,
        peer: PublicKey,
        message: &CallMessage,
    ) -> Result<SendReport, SignalError> {
        self.send_with_form(peer, message, self.form_for(&peer))
            .await
    }

    fn incoming(&self) -> IncomingMessages {
        IncomingMessages::new(self.incoming.subscribe())
    }

    fn socks5_proxy(&self) -> Option<SocketAddr> {
        self.config.proxy
    }
}

impl Drop for NostrTransport {
    fn drop(&mut self) {
        self.receive_task.abort();
    }
}

fn relay_options(config: &NostrTransportConfig, read: bool) -> RelayOptions {
    let mut options = RelayOptions::new()
        .read(read)
        .retry_interval(config.reconnect_interval)
        .adjust_retry_interval(false);
    if let Some(proxy) = config.proxy {
        options = options.connection_mode(ConnectionMode::proxy(proxy));
    }
    options
}

async fn wait_for_any_relay(client: &Client, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let relays = client.relays().await;
        if relays
            .values()
            .any(|r| r.status() == RelayStatus::Connected)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Keep offering `event` to one relay until it says OK, refuses outright, or time runs out.
async fn publish_to_relay(
    client: Client,
    event: Event,
    url: RelayUrl,
    deadline: Instant,
) -> Result<RelayUrl, String> {
    let mut last_error = String::from("timed out");
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(format!("{url}: {last_error}"));
        }
        let relay = client.relay(&url).await.map_err(|e| e.to_string())?;
        let attempt = remaining.min(PUBLISH_ATTEMPT_TIMEOUT);
        match tokio::time::timeout(attempt, relay.send_event(&event)).await {
            Ok(Ok(_)) => return Ok(url),
            // The relay read the event and said no: retrying will not change its mind.
            Ok(Err(nostr_sdk::pool::relay::Error::RelayMessage(message))) => {
                return Err(format!("{url} refused: {message}"))
            }
            Ok(Err(e)) => last_error = e.to_string(),
            // No OK: the event may have gone down with a dead connection. Sending it again
            // is harmless (relays and the verifier drop duplicates by id).
            Err(_) => last_error = "no answer from the relay".to_owned(),
        }
        tokio::time::sleep(PUBLISH_RETRY_PAUSE.min(remaining)).await;
    }
}

/// The relay URLs of a kind 10050 list; invalid entries are dropped.
fn relays_of_list(event: &Event) -> Vec<RelayUrl> {
    event
        .tags
        .iter()
        .filter(|t| t.kind() == TagKind::Relay)
        .filter_map(|t| t.content())
        .filter_map(|u| RelayUrl::parse(u).ok())
        .take(MAX_PEER_DM_RELAYS)
        .collect()
}

async fn receive_loop(
    mut notifications: broadcast::Receiver<RelayPoolNotification>,
    mut verifier: Verifier,
    incoming: broadcast::Sender<VerifiedMessage>,
    peer_forms: Arc<Mutex<HashMap<PublicKey, DeliveryForm>>>,
) {
    loop {
        match notifications.recv().await {
            Ok(RelayPoolNotification::Event { event, .. }) => {
                if event.kind != Kind::GiftWrap {
                    continue;
                }
                let Ok(message) = verifier.verify(&event, Timestamp::now()) else {
                    continue;
                };
                if !message.from_own_device {
                    peer_forms
                        .lock()
                        .expect("peer form map poisoned")
                        .insert(message.sender, message.form);
                }
                // No subscriber yet is fine: the message is for nobody then.
                let _ = incoming.send(message);
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
