//! The signaling hub: one identity, one verifier, any number of links.
//!
//! Sending: the hub builds the rumor once, wraps it once per recipient in the form that
//! recipient uses (plus one sealed copy for our own devices), and hands each wrap to every
//! link; the first link that takes it answers. Receiving: every link hands its wraps to
//! the hub's intake, which drops our own copies by id before decrypting anything, drops
//! wraps already seen on another link, and runs the rest through the one [`Verifier`],
//! whose replay and conversation state therefore covers every link.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use nostr_sdk::{Event, EventId, PublicKey, Timestamp, UnsignedEvent};
use phantomcall_schemas::{CallMessage, ChatMessage};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::link::{Accepted, Arrival, ArrivalSink, Destination, LinkKind, SignalLink, Via};
use crate::recent::{RecentMap, RecentSet};
use crate::replay_file::ReplayFile;
use crate::transport::{IncomingChats, IncomingControls, IncomingMessages, Recipients, Route};
use crate::wrap::{build_rumor, wrap_rumor};
use crate::{
    DeliveryForm, Identity, RejectReason, RejectionCounts, SendReport, SignalError,
    SignalTransport, Verified, VerifiedChat, VerifiedControl, VerifiedMessage, Verifier,
    VerifierConfig, DEFAULT_WRAP_EXPIRATION,
};

/// Peers whose delivery form is remembered; a flood of throwaway keys pushes out the
/// oldest instead of growing memory.
const MAX_REMEMBERED_PEERS: usize = 4096;
/// Buffered verified messages per subscriber before the slowest one starts losing old ones.
const INCOMING_BUFFER: usize = 1024;
/// Wraps waiting for the verifier; past it, links wait (backpressure, not memory).
const INTAKE_BUFFER: usize = 1024;
/// Wrap ids remembered to drop a second arrival over another link or relay.
const MAX_SEEN_WRAPS: usize = 16_384;
/// Ids of our own copies remembered, to drop them when they come back.
const MAX_OWN_COPIES: usize = 4096;

/// Settings of the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Verifier settings (freshness window, conversation bindings, chats).
    pub verifier: VerifierConfig,
    /// NIP-40 expiration put on every stored wrap.
    pub wrap_expiration: Duration,
    /// Where accepted message ids are kept across restarts (encrypted to our own key).
    /// `None`: memory only.
    pub replay_file: Option<PathBuf>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            verifier: VerifierConfig::default(),
            wrap_expiration: DEFAULT_WRAP_EXPIRATION,
            replay_file: None,
        }
    }
}

/// What the hub's intake dropped before the verifier, by cause.
#[derive(Debug, Default)]
pub struct IntakeCounts {
    own_copies: AtomicU64,
    duplicates: AtomicU64,
}

impl IntakeCounts {
    /// Our own copies that came back (dropped by id, never decrypted).
    pub fn own_copies(&self) -> u64 {
        self.own_copies.load(Ordering::Relaxed)
    }

    /// Wraps that arrived again, over another link or relay (dropped by id).
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
}

/// State shared between the hub and its intake task.
struct Shared {
    peer_forms: Mutex<RecentMap<PublicKey, DeliveryForm>>,
    own_copies: Mutex<RecentSet<EventId>>,
    intake: IntakeCounts,
}

/// One identity's signaling over any number of links.
pub struct SignalHub {
    identity: Identity,
    wrap_expiration: Duration,
    links: RwLock<Vec<Arc<dyn SignalLink>>>,
    arrivals: ArrivalSink,
    incoming: broadcast::Sender<VerifiedMessage>,
    chats: broadcast::Sender<VerifiedChat>,
    /// Chats verified from the start, before anyone subscribed (stored messages arrive as
    /// soon as a relay link connects); taken once.
    early_chats: Mutex<Option<broadcast::Receiver<VerifiedChat>>>,
    controls: broadcast::Sender<VerifiedControl>,
    counts: Arc<RejectionCounts>,
    shared: Arc<Shared>,
    intake_task: JoinHandle<()>,
}

impl SignalHub {
    /// A hub for `identity` with no link yet; add them with [`SignalHub::add_link`], each
    /// built around [`SignalHub::arrival_sink`]. Must run inside a Tokio runtime.
    pub fn new(identity: Identity, config: HubConfig) -> Self {
        let accept_chats = config.verifier.accept_chats;
        let mut verifier = Verifier::new(identity.keys().clone(), config.verifier);
        let replay_file = config.replay_file.map(ReplayFile::new);
        if let Some(file) = &replay_file {
            verifier.remember_ids(file.load(identity.keys()));
        }
        let counts = verifier.counts();
        let (incoming, _) = broadcast::channel(INCOMING_BUFFER);
        let (chats, first_chats) = broadcast::channel(INCOMING_BUFFER);
        let early_chats = Mutex::new(accept_chats.then_some(first_chats));
        let (controls, _) = broadcast::channel(INCOMING_BUFFER);
        let (arrivals, intake) = mpsc::channel(INTAKE_BUFFER);
        let shared = Arc::new(Shared {
            peer_forms: Mutex::new(RecentMap::new(MAX_REMEMBERED_PEERS)),
            own_copies: Mutex::new(RecentSet::new(MAX_OWN_COPIES)),
            intake: IntakeCounts::default(),
        });
        let intake_task = tokio::spawn(run_intake(Intake {
            arrivals: intake,
            verifier,
            replay_file: replay_file.map(|file| (file, identity.keys().clone())),
            seen_wraps: RecentSet::new(MAX_SEEN_WRAPS),
            incoming: incoming.clone(),
            chats: chats.clone(),
            controls: controls.clone(),
            shared: Arc::clone(&shared),
        }));
        Self {
            identity,
            wrap_expiration: config.wrap_expiration,
            links: RwLock::new(Vec::new()),
            arrivals,
            incoming,
            chats,
            early_chats,
            controls,
            counts,
            shared,
            intake_task,
        }
    }

    /// Where a link hands the wraps it receives.
    pub fn arrival_sink(&self) -> ArrivalSink {
        self.arrivals.clone()
    }

    /// Sends and receives over `link` from now on, besides the links already there.
    pub fn add_link(&self, link: Arc<dyn SignalLink>) {
        self.links.write().expect("link list poisoned").push(link);
    }

    /// The kinds of the links in use, in the order added.
    pub fn link_kinds(&self) -> Vec<LinkKind> {
        self.links().iter().map(|l| l.kind()).collect()
    }

    fn links(&self) -> Vec<Arc<dyn SignalLink>> {
        self.links.read().expect("link list poisoned").clone()
    }

    /// Rejection counters of the hub's verifier.
    pub fn rejection_counts(&self) -> Arc<RejectionCounts> {
        Arc::clone(&self.counts)
    }

    /// What the intake dropped before the verifier.
    pub fn intake_counts(&self) -> &IntakeCounts {
        &self.shared.intake
    }

    /// The delivery form used for `peer`: the one they last used, else Sealed.
    pub fn form_for(&self, peer: &PublicKey) -> DeliveryForm {
        self.shared
            .peer_forms
            .lock()
            .expect("peer form map poisoned")
            .get(peer)
            .map(|(form, _)| *form)
            .unwrap_or(DeliveryForm::Sealed)
    }

    /// Send `message` to `peer` in a chosen form (tests and interop; `send` picks the form).
    pub async fn send_with_form(
        &self,
        peer: PublicKey,
        message: &CallMessage,
        form: DeliveryForm,
    ) -> Result<SendReport, SignalError> {
        let rumor = build_rumor(self.identity.public_key(), message, Timestamp::now())?;
        self.send_rumor(&[peer], rumor, Route::PeerInbox, true, |_| form)
            .await?
            .pop()
            .expect("one result per recipient")
    }

    /// Send a NIP-17 chat message to its receivers (sealed, as NIP-17 requires), and a
    /// copy to our own devices.
    pub async fn send_chat(
        &self,
        chat: &ChatMessage,
    ) -> Result<Vec<Result<SendReport, SignalError>>, SignalError> {
        let receivers = chat
            .receivers
            .iter()
            .map(|hex| PublicKey::from_hex(hex).map_err(|_| SignalError::InvalidPublicKey))
            .collect::<Result<Vec<_>, _>>()?;
        let (kind, tags, content) = chat.to_parts();
        let rumor = crate::wrap::rumor_from_parts(
            self.identity.public_key(),
            kind,
            tags,
            content,
            Timestamp::now(),
        )?;
        self.send_rumor(&receivers, rumor, Route::PeerInbox, true, |_| {
            DeliveryForm::Sealed
        })
        .await
    }

    /// A new subscription to verified incoming chat messages, from now on (only when the
    /// verifier accepts chats).
    pub fn incoming_chats(&self) -> IncomingChats {
        IncomingChats::new(self.chats.subscribe())
    }

    /// Every chat message verified since the hub was made, then the new ones: for an app
    /// that must not lose the messages relays hand over as soon as they connect. Once;
    /// `None` later, or when the verifier does not accept chats.
    pub fn chats_since_start(&self) -> Option<IncomingChats> {
        self.early_chats
            .lock()
            .expect("early chats poisoned")
            .take()
            .map(IncomingChats::new)
    }

    /// Send a control message ([`crate::CONTROL_KIND`], sealed) to `peer` alone: no copy
    /// for our own devices (a service's state is its own; a copy would only be noise).
    pub async fn send_control(
        &self,
        peer: PublicKey,
        content: &str,
    ) -> Result<SendReport, SignalError> {
        if content.len() > crate::MAX_CONTROL_BYTES {
            return Err(SignalError::Build("control message too large".into()));
        }
        let tags = vec![vec!["p".to_owned(), peer.to_hex()]];
        let rumor = crate::wrap::rumor_from_parts(
            self.identity.public_key(),
            crate::CONTROL_KIND,
            tags,
            content.to_owned(),
            Timestamp::now(),
        )?;
        self.send_rumor(&[peer], rumor, Route::PeerInbox, false, |_| {
            DeliveryForm::Sealed
        })
        .await?
        .pop()
        .expect("one result per recipient")
    }

    /// A new subscription to verified incoming control messages, from now on (only when
    /// the verifier accepts them).
    pub fn incoming_controls(&self) -> IncomingControls {
        IncomingControls::new(self.controls.subscribe())
    }

    /// One rumor to every recipient, each in `form_of` its key, and (with `own_copy`) one
    /// sealed copy for our own devices.
    async fn send_rumor(
        &self,
        recipients: &[PublicKey],
        rumor: UnsignedEvent,
        route: Route,
        own_copy: bool,
        form_of: impl Fn(&PublicKey) -> DeliveryForm,
    ) -> Result<Vec<Result<SendReport, SignalError>>, SignalError> {
        let links = self.links();
        if links.is_empty() {
            return Err(SignalError::NoLinks);
        }
        let keys = self.identity.keys();
        let rumor_id = rumor
            .id
            .ok_or_else(|| SignalError::Build("rumor without id".into()))?;
        let expiration = self.wrap_expiration;
        // Our other devices always get the sealed form: they are PhantomCall.
        let to_self = match own_copy {
            false => None,
            true => Some(
                wrap_rumor(
                    keys,
                    &keys.public_key(),
                    rumor.clone(),
                    DeliveryForm::Sealed,
                    expiration,
                )
                .await,
            ),
        };
        match to_self {
            Some(Ok(to_self)) => self.send_own_copy(&links, to_self),
            Some(Err(e)) => tracing::debug!(error = %e, "copy for our other devices not built"),
            None => {}
        }
        // Each recipient at once: a slow path of one member does not hold up the others.
        let sends = recipients.iter().map(|peer| {
            let rumor = rumor.clone();
            let form = form_of(peer);
            let links = links.clone();
            async move {
                let wrap = wrap_rumor(keys, peer, rumor, form, expiration).await?;
                let to = Destination::Peer { peer: *peer, route };
                let accepted_by = deliver_on_any(links, wrap, to).await?;
                Ok(SendReport {
                    rumor_id,
                    accepted_by,
                    form,
                })
            }
        });
        Ok(futures::future::join_all(sends).await)
    }

    /// Remembers the copy's id (so it is dropped unopened when it comes back) and hands it
    /// to every link, best effort.
    fn send_own_copy(&self, links: &[Arc<dyn SignalLink>], wrap: Event) {
        self.shared
            .own_copies
            .lock()
            .expect("own copy ids poisoned")
            .insert(wrap.id);
        for link in links {
            let link = Arc::clone(link);
            let wrap = wrap.clone();
            tokio::spawn(async move {
                if let Err(e) = link.deliver(wrap, Destination::OwnDevices).await {
                    tracing::debug!(error = %e, link = %link.kind(), "copy for our other devices not delivered");
                }
            });
        }
    }

    /// Shuts every link down and stops receiving.
    pub async fn shutdown(&self) {
        for link in self.links() {
            link.shutdown().await;
        }
        self.links.write().expect("link list poisoned").clear();
        self.intake_task.abort();
    }
}

impl Drop for SignalHub {
    fn drop(&mut self) {
        self.intake_task.abort();
    }
}

/// Hands `wrap` to every link at once; the first that takes it answers, the others go on
/// in the background (the recipient drops the second arrival by id).
async fn deliver_on_any(
    links: Vec<Arc<dyn SignalLink>>,
    wrap: Event,
    to: Destination,
) -> Result<Accepted, SignalError> {
    let mut attempts: FuturesUnordered<_> = links
        .into_iter()
        .map(|link| {
            let wrap = wrap.clone();
            async move { link.deliver(wrap, to).await }
        })
        .collect();
    let mut last_error = SignalError::NoLinks;
    while let Some(result) = attempts.next().await {
        match result {
            Ok(accepted) => {
                tokio::spawn(async move { while attempts.next().await.is_some() {} });
                return Ok(accepted);
            }
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

#[async_trait]
impl SignalTransport for SignalHub {
    fn local_public_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    async fn send(
        &self,
        peer: PublicKey,
        message: &CallMessage,
    ) -> Result<SendReport, SignalError> {
        self.send_via(peer, message, Route::PeerInbox).await
    }

    async fn send_via(
        &self,
        peer: PublicKey,
        message: &CallMessage,
        route: Route,
    ) -> Result<SendReport, SignalError> {
        self.send_to(&Recipients::One(peer), message, route)
            .await?
            .pop()
            .expect("one result per recipient")
    }

    async fn send_to(
        &self,
        recipients: &Recipients,
        message: &CallMessage,
        route: Route,
    ) -> Result<Vec<Result<SendReport, SignalError>>, SignalError> {
        let rumor = build_rumor(self.identity.public_key(), message, Timestamp::now())?;
        self.send_rumor(recipients.as_slice(), rumor, route, true, |peer| {
            self.form_for(peer)
        })
        .await
    }

    fn incoming(&self) -> IncomingMessages {
        IncomingMessages::new(self.incoming.subscribe())
    }

    fn hides_network_address(&self) -> bool {
        let links = self.links();
        !links.is_empty() && links.iter().all(|l| l.hides_network_address())
    }
}

/// The receive side: everything the links hand in, through one verifier.
struct Intake {
    arrivals: mpsc::Receiver<Arrival>,
    verifier: Verifier,
    replay_file: Option<(ReplayFile, nostr_sdk::Keys)>,
    seen_wraps: RecentSet<EventId>,
    incoming: broadcast::Sender<VerifiedMessage>,
    chats: broadcast::Sender<VerifiedChat>,
    controls: broadcast::Sender<VerifiedControl>,
    shared: Arc<Shared>,
}

async fn run_intake(mut intake: Intake) {
    while let Some(arrival) = intake.arrivals.recv().await {
        intake.take(arrival.wrap, arrival.via);
    }
}

impl Intake {
    fn take(&mut self, wrap: Event, via: Via) {
        let id = wrap.id;
        let own_copy = self
            .shared
            .own_copies
            .lock()
            .expect("own copy ids poisoned")
            .contains(&id);
        if own_copy {
            self.shared
                .intake
                .own_copies
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.seen_wraps.contains(&id) {
            self.shared
                .intake
                .duplicates
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let now = Timestamp::now();
        let verified = self.verifier.verify_any(&wrap, now);
        // Only an authentic wrap's id counts as seen: a forged event carrying a real
        // wrap's id must not keep the real one out.
        if !matches!(
            verified,
            Err(RejectReason::BadWrapSignature | RejectReason::NotAGiftWrap)
        ) {
            self.seen_wraps.insert(id);
        }
        let Ok(verified) = verified else {
            return;
        };
        if let Some((file, keys)) = &self.replay_file {
            // Written before anyone acts on the message, so a crash right after cannot
            // make it acceptable again.
            if let Err(e) = file.save(keys, &mut self.verifier.recent_ids(now)) {
                tracing::warn!(error = %e, "replay file not written");
            }
        }
        match verified {
            Verified::Call(mut message) => {
                message.via = via;
                if !message.from_own_device {
                    self.shared
                        .peer_forms
                        .lock()
                        .expect("peer form map poisoned")
                        .insert(message.sender, message.form);
                }
                // No subscriber yet is fine: the message is for nobody then.
                let _ = self.incoming.send(message);
            }
            Verified::Chat(mut chat) => {
                chat.via = via;
                let _ = self.chats.send(chat);
            }
            Verified::Control(mut control) => {
                control.via = via;
                let _ = self.controls.send(control);
            }
        }
    }
}
