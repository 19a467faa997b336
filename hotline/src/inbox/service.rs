//! The inbox on relays: receives NIP-17 messages through nostr-signal's hub (one verifier:
//! signature, seal, schema, freshness, replay), feeds them to the [`InboxCore`], writes
//! every change to the store before anything else happens, and sends dispatchers' replies
//! from the hotline's identity (gift-wrapped to the sender, and a copy to the hotline
//! itself, as NIP-17 asks).
//!
//! Dispatchers act through this Rust API (the console links it in); each call names the
//! dispatcher's npub, and only enrolled dispatchers are let through by the core.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nostr_signal::{
    HubConfig, Identity, NostrTransportConfig, PublicKey, RelayLink, SignalError, SignalHub,
    VerifiedChat,
};
use phantomcall_schemas::ChatMessage;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::core::InboxCore;
use super::sms;
use super::types::*;
use crate::ids::{CallerId, Npub};
use crate::store::{Store, StoreError};
use crate::voice::wire::{Control, MAX_SMS_CHARS};

/// Buffered events per console subscriber before the slowest loses old ones.
const EVENT_BUFFER: usize = 1024;

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The inbox refused the action.
    #[error(transparent)]
    Inbox(#[from] InboxError),
    /// The store failed (nothing was sent).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The relays failed (a reply is recorded but was not delivered).
    #[error("signaling: {0}")]
    Signal(#[from] SignalError),
}

/// Settings of the inbox service.
#[derive(Debug, Clone)]
pub struct InboxServiceConfig {
    /// The inbox rules.
    pub inbox: InboxConfig,
    /// Enrolled dispatchers, in enrolment order.
    pub dispatchers: Vec<Npub>,
    /// Relays and transport settings; chats are turned on whatever it says.
    pub transport: NostrTransportConfig,
    /// Phone gateways whose SMS to the hotline's number become conversations
    /// ([`super::sms`]); empty: no SMS.
    pub phone_gateways: Vec<Npub>,
}

impl InboxServiceConfig {
    /// Defaults around `relays` and `dispatchers`. Messages are accepted up to a week
    /// after they were written: a DM waits on the relay while the service is down, and the
    /// store's rumor ids (not the freshness window) keep replays out.
    pub fn new(relays: Vec<nostr_signal::RelayUrl>, dispatchers: Vec<Npub>) -> Self {
        let mut transport = NostrTransportConfig::new(relays);
        transport.verifier.freshness_window = Duration::from_secs(7 * 24 * 3600);
        Self {
            inbox: InboxConfig::default(),
            dispatchers,
            transport,
            phone_gateways: Vec::new(),
        }
    }
}

struct State {
    core: InboxCore,
    store: Store,
}

/// The running inbox.
pub struct InboxService {
    identity: Identity,
    state: Arc<Mutex<State>>,
    hub: Arc<SignalHub>,
    events: broadcast::Sender<InboxEvent>,
    intake: JoinHandle<()>,
    sms_intake: Option<JoinHandle<()>>,
}

impl InboxService {
    /// Restores the inbox from `store`, connects to the relays as the hotline's
    /// `identity` and starts taking messages (also those that waited on the relays).
    pub async fn start(
        identity: Identity,
        config: InboxServiceConfig,
        mut store: Store,
    ) -> Result<Self, ServiceError> {
        let key = store.caller_id_key()?;
        let snapshot = store.load_inbox()?;
        let mut core = InboxCore::restore(config.inbox, &config.dispatchers, key, snapshot);
        // Conversations of a dispatcher no longer enrolled go to someone else now.
        core.assign_unassigned(unix_ms());
        store.write_inbox(&mut core)?;
        let mut transport = config.transport;
        transport.verifier.accept_chats = true;
        // Phone gateways forward SMS as control messages.
        transport.verifier.accept_controls |= !config.phone_gateways.is_empty();
        let hub = Arc::new(SignalHub::new(
            identity.clone(),
            HubConfig {
                verifier: transport.verifier.clone(),
                wrap_expiration: transport.wrap_expiration,
                replay_file: transport.replay_file.clone(),
            },
        ));
        // Subscribed before the relays connect, so what they hold for us is not missed.
        let chats = hub.incoming_chats();
        let controls = hub.incoming_controls();
        let link = RelayLink::connect(identity.keys(), transport, hub.arrival_sink()).await?;
        hub.add_link(Arc::new(link));
        let state = Arc::new(Mutex::new(State { core, store }));
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let intake = tokio::spawn(run_intake(chats, Arc::clone(&state), events.clone()));
        let sms_intake = (!config.phone_gateways.is_empty()).then(|| {
            tokio::spawn(run_sms_intake(
                controls,
                config.phone_gateways,
                Arc::clone(&state),
                events.clone(),
            ))
        });
        Ok(Self {
            identity,
            state,
            hub,
            events,
            intake,
            sms_intake,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The hotline's public key (what senders write to).
    pub fn public_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// Events for dispatcher consoles, from now on.
    pub fn events(&self) -> broadcast::Receiver<InboxEvent> {
        self.events.subscribe()
    }

    /// `dispatcher` answers conversation `id`: recorded, then sent from the hotline's
    /// identity to the sender (and a copy to the hotline). The conversation becomes
    /// pending. A delivery failure leaves the reply recorded and is returned.
    pub async fn reply(
        &self,
        dispatcher: &Npub,
        id: ConversationId,
        text: &str,
    ) -> Result<(), ServiceError> {
        let out = {
            let mut s = self.state();
            // A phone's conversation is answered by SMS: no longer than one message may be
            // (refused before it is recorded as sent).
            let to_phone = s
                .core
                .view(dispatcher, id)?
                .messages
                .iter()
                .rev()
                .find_map(|m| match &m.kind {
                    MessageKind::FromSender { rumor_id } => Some(sms::way_back(rumor_id)),
                    _ => None,
                })
                .flatten()
                .is_some();
            if to_phone && text.chars().count() > MAX_SMS_CHARS {
                return Err(InboxError::TooLong(MAX_SMS_CHARS).into());
            }
            let out = s.core.reply(dispatcher, id, text.to_owned(), unix_ms())?;
            let State { core, store } = &mut *s;
            store.write_inbox(core)?;
            out
        };
        // A phone's conversation is answered by SMS, through the gateway it came from.
        if let Some((gateway, sender)) = out.reply_to.as_deref().and_then(sms::way_back) {
            let control = Control::SmsOut {
                sender,
                text: out.text,
            };
            self.hub.send_control(gateway, &control.to_json()).await?;
            return Ok(());
        }
        let mut chat = ChatMessage::new(vec![out.to.npub().to_hex()], out.text);
        chat.reply_to = out.reply_to;
        let results = self.hub.send_chat(&chat).await?;
        for r in results {
            r?;
        }
        Ok(())
    }

    /// An internal note on conversation `id` (never sent to the sender).
    pub fn note(
        &self,
        dispatcher: &Npub,
        id: ConversationId,
        text: &str,
    ) -> Result<(), ServiceError> {
        self.act(|core, now| {
            core.note(dispatcher, id, text.to_owned(), now)
                .map(|()| Vec::new())
        })
    }

    /// Hands conversation `id` from `from` to `to`, with an optional internal comment.
    pub fn hand_over(
        &self,
        from: &Npub,
        id: ConversationId,
        to: &Npub,
        comment: &str,
    ) -> Result<(), ServiceError> {
        self.act(|core, now| {
            core.hand_over(from, id, to, comment.to_owned(), now)
                .map(|e| vec![e])
        })
    }

    /// Sets the status of conversation `id` (by its dispatcher).
    pub fn set_status(
        &self,
        dispatcher: &Npub,
        id: ConversationId,
        status: Status,
    ) -> Result<(), ServiceError> {
        self.act(|core, now| core.set_status(dispatcher, id, status, now))
    }

    /// A dispatcher starts or stops taking new conversations.
    pub fn set_available(&self, dispatcher: &Npub, available: bool) -> Result<(), ServiceError> {
        self.act(|core, now| core.set_available(dispatcher, available, now))
    }

    /// Conversation `id` as `dispatcher` sees it.
    pub fn view(
        &self,
        dispatcher: &Npub,
        id: ConversationId,
    ) -> Result<ConversationView, ServiceError> {
        Ok(self.state().core.view(dispatcher, id)?)
    }

    /// The active conversations assigned to `dispatcher`.
    pub fn assigned_to(&self, dispatcher: &Npub) -> Result<Vec<ConversationView>, ServiceError> {
        Ok(self.state().core.assigned_to(dispatcher)?)
    }

    /// Whether the sender with this opaque id opted out of broadcasts.
    pub fn is_opted_out(&self, caller: &CallerId) -> Result<bool, ServiceError> {
        Ok(self.state().store.is_opted_out(caller)?)
    }

    /// Stops taking messages and disconnects.
    pub async fn shutdown(&self) {
        self.intake.abort();
        if let Some(sms) = &self.sms_intake {
            sms.abort();
        }
        self.hub.shutdown().await;
    }

    /// Runs a core action, writes its changes, then tells the consoles.
    fn act(
        &self,
        action: impl FnOnce(&mut InboxCore, u64) -> Result<Vec<InboxEvent>, InboxError>,
    ) -> Result<(), ServiceError> {
        let events = {
            let mut s = self.state();
            let State { core, store } = &mut *s;
            let events = action(core, unix_ms())?;
            store.write_inbox(core)?;
            events
        };
        for e in events {
            let _ = self.events.send(e);
        }
        Ok(())
    }
}

impl Drop for InboxService {
    fn drop(&mut self) {
        self.intake.abort();
        if let Some(sms) = &self.sms_intake {
            sms.abort();
        }
    }
}

/// Every verified chat to the hotline, into the core and the store.
async fn run_intake(
    mut chats: nostr_signal::IncomingChats,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<InboxEvent>,
) {
    while let Some(chat) = chats.recv().await {
        let result = {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            take_chat(&mut s, chat)
        };
        match result {
            Ok(out) => {
                for e in out {
                    let _ = events.send(e);
                }
            }
            // Reason only: never the sender or the text.
            Err(e) => tracing::warn!(error = %e, "inbox: message dropped"),
        }
    }
}

/// Every `sms-in` from a phone gateway the operator named, into the core and the store.
async fn run_sms_intake(
    mut controls: nostr_signal::IncomingControls,
    gateways: Vec<Npub>,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<InboxEvent>,
) {
    while let Some(control) = controls.recv().await {
        if !gateways.contains(&Npub::from_bytes(control.sender.to_bytes())) {
            // Dispatchers' and callers' control messages are the voice service's.
            continue;
        }
        let (sender, text) = match Control::parse(&control.content) {
            Ok(Control::SmsIn { sender, text }) => (sender, text),
            Ok(Control::SmsFailed { sender, reason }) => {
                let from = sms::sms_sender(&control.sender, &sender);
                let result = {
                    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                    let now = unix_ms();
                    let State { core, store } = &mut *s;
                    core.undelivered(&from, &reason, now)
                        .map_err(ServiceError::from)
                        .and_then(|e| store.write_inbox(core).map(|()| e).map_err(Into::into))
                };
                match result {
                    Ok(Some(e)) => {
                        let _ = events.send(e);
                    }
                    Ok(None) => tracing::info!("inbox: SMS failure for no active conversation"),
                    Err(e) => tracing::warn!(error = %e, "inbox: SMS failure not recorded"),
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::info!(error = %e, "inbox: phone gateway message dropped");
                continue;
            }
        };
        let id = sms::message_id(&control.rumor_id, &control.sender, &sender);
        let from = sms::sms_sender(&control.sender, &sender);
        let result = {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            take_message(&mut s, from, id, text)
        };
        match result {
            Ok(out) => {
                for e in out {
                    let _ = events.send(e);
                }
            }
            Err(e) => tracing::warn!(error = %e, "inbox: SMS dropped"),
        }
    }
}

fn take_chat(s: &mut State, chat: VerifiedChat) -> Result<Vec<InboxEvent>, ServiceError> {
    // Our own copies of replies come back from the relays; they are not messages to us.
    if chat.from_own_device {
        return Ok(Vec::new());
    }
    let sender = Npub::from_bytes(chat.sender.to_bytes());
    take_message(s, sender, chat.rumor_id.to_hex(), chat.chat.text)
}

/// One sender's message, unless the store already has it.
fn take_message(
    s: &mut State,
    sender: Npub,
    rumor_id: String,
    text: String,
) -> Result<Vec<InboxEvent>, ServiceError> {
    // A relay sends stored wraps again after a restart; the store remembers what it took.
    if s.store.inbox_has_rumor(&rumor_id)? {
        return Ok(Vec::new());
    }
    let events = s.core.sender_message(sender, rumor_id, text, unix_ms())?;
    let State { core, store } = s;
    store.write_inbox(core)?;
    Ok(events)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
