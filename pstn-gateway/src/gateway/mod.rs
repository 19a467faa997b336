//! [`Gateway`]: the SIP user agent toward the trunks (rsipstack's transaction and dialog
//! layers over UDP, TCP or TLS), the inbound checks, outbound dialling with the
//! [`crate::rules`], and one driver task per call ([`driver`]).
//!
//! Logging: rsipstack logs whole SIP messages (with phone numbers, and SRTP keys in SDP)
//! at `info`; a process embedding the gateway must filter it with [`QUIET_SIP_STACK`] in
//! its `EnvFilter`.

mod dial;
mod driver;
mod inbound;
mod message;
mod transport;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, DialogStateSender};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::call::PhoneCall;
use crate::config::GatewayConfig;
use crate::rules::{RuleEvent, Rules};

pub use dial::DialError;

/// The `EnvFilter` directive that keeps rsipstack's message dumps (phone numbers, digest
/// headers, SDES keys) out of logs.
pub const QUIET_SIP_STACK: &str = "rsipstack=error";
/// Inbound calls waiting for the application: more ring as 486 Busy Here.
const INCOMING_QUEUE: usize = 16;
/// How often running calls are charged.
const RULES_TICK: Duration = Duration::from_secs(1);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS's reason.
        reason: String,
    },
    /// A TLS trunk's certificate, key or CA file is missing or unusable (the reason
    /// names the file, never the key's contents).
    #[error("trunk {trunk}: TLS: {reason}")]
    Tls {
        /// The trunk's name.
        trunk: String,
        /// What is wrong.
        reason: String,
    },
    /// A trunk asks for something not implemented yet.
    #[error("trunk {trunk}: {reason}")]
    Unsupported {
        /// The trunk's name.
        trunk: String,
        /// What.
        reason: String,
    },
}

/// Counters (the gateway's metrics).
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// INVITEs from addresses outside every trunk's allow-list (dropped without reply).
    pub blocked_sources: AtomicU64,
    /// Inbound digest failures (403 after a wrong answer to our 407).
    pub auth_failures: AtomicU64,
    /// INVITEs for a DID that is not configured (404).
    pub unknown_dids: AtomicU64,
    /// INVITEs whose SDP was malformed or had no common codec (488).
    pub bad_offers: AtomicU64,
    /// Inbound calls offered to the application.
    pub inbound_calls: AtomicU64,
    /// Outbound calls answered.
    pub outbound_calls: AtomicU64,
    /// Calls (either way) whose SIP leg negotiated Opus rather than G.711.
    pub opus_calls: AtomicU64,
}

/// A snapshot of [`GatewayStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`GatewayStats::blocked_sources`].
    pub blocked_sources: u64,
    /// See [`GatewayStats::auth_failures`].
    pub auth_failures: u64,
    /// See [`GatewayStats::unknown_dids`].
    pub unknown_dids: u64,
    /// See [`GatewayStats::bad_offers`].
    pub bad_offers: u64,
    /// See [`GatewayStats::inbound_calls`].
    pub inbound_calls: u64,
    /// See [`GatewayStats::outbound_calls`].
    pub outbound_calls: u64,
    /// See [`GatewayStats::opus_calls`].
    pub opus_calls: u64,
    /// Spike alerts raised by the rules.
    pub spike_alerts: u64,
}

pub(crate) struct Inner {
    pub(crate) config: GatewayConfig,
    pub(crate) dialog_layer: Arc<DialogLayer>,
    pub(crate) state_sender: DialogStateSender,
    /// SIP Call-ID -> the call driver's dialog events.
    pub(crate) routes: Mutex<HashMap<String, mpsc::UnboundedSender<DialogState>>>,
    /// Gateway call id -> the call driver's rule events.
    pub(crate) rule_routes: Mutex<HashMap<u64, mpsc::UnboundedSender<RuleEvent>>>,
    pub(crate) rules: Mutex<Rules>,
    pub(crate) stats: GatewayStats,
    pub(crate) next_id: AtomicU64,
    /// Our SIP address per trunk name (resolved, so port 0 in the config works).
    pub(crate) sip_addrs: HashMap<String, SocketAddr>,
    pub(crate) incoming: mpsc::Sender<PhoneCall>,
    /// Nonces we issued in 407 challenges, with when (bounded; see inbound).
    pub(crate) nonces: Mutex<HashMap<String, Instant>>,
    pub(crate) cancel: CancellationToken,
    /// Where inbound SIP MESSAGEs go, once the SMS bridge is set up.
    pub(crate) sms_intake: std::sync::OnceLock<Arc<crate::sms::Intake>>,
}

impl Inner {
    pub(crate) fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn routes(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<DialogState>>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn rule_routes(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::UnboundedSender<RuleEvent>>> {
        self.rule_routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The phone gateway: SIP toward the trunks, calls as [`PhoneCall`]s.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Gateway {
    /// Binds every trunk's listen address and starts serving. Inbound calls that passed
    /// the checks (source, digest, DID, codecs) arrive on the returned receiver, ringing
    /// (180) until [`PhoneCall::answer`] or [`PhoneCall::hang_up`].
    pub async fn start(
        config: GatewayConfig,
    ) -> Result<(Gateway, mpsc::Receiver<PhoneCall>), StartError> {
        let cancel = CancellationToken::new();
        let transport_layer = TransportLayer::new(cancel.clone());
        let mut listeners = transport::Listeners::default();
        let mut sip_addrs = HashMap::new();
        for trunk in &config.trunks {
            let actual = listeners.bind(trunk, &transport_layer, &cancel).await?;
            sip_addrs.insert(trunk.name.clone(), actual);
        }
        listeners.finish(&transport_layer);
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport_layer)
            .with_user_agent("PhantomCall-Gateway")
            .build();
        let incoming_tx = endpoint
            .incoming_transactions()
            .map_err(|e| StartError::Listen {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                reason: e.to_string(),
            })?;
        let dialog_layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let (state_sender, state_receiver) = dialog_layer.new_dialog_state_channel();
        let (incoming, calls) = mpsc::channel(INCOMING_QUEUE);
        let rules = Rules::new(config.rules.clone());
        let inner = Arc::new(Inner {
            config,
            dialog_layer,
            state_sender,
            routes: Mutex::default(),
            rule_routes: Mutex::default(),
            rules: Mutex::new(rules),
            stats: GatewayStats::default(),
            next_id: AtomicU64::new(1),
            sip_addrs,
            incoming,
            nonces: Mutex::default(),
            cancel: cancel.clone(),
            sms_intake: std::sync::OnceLock::new(),
        });
        let serve_cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = endpoint.serve() => {}
                _ = serve_cancel.cancelled() => {}
            }
        });
        tokio::spawn(route_dialog_states(inner.clone(), state_receiver));
        tokio::spawn(inbound::serve(inner.clone(), incoming_tx));
        tokio::spawn(tick_rules(inner.clone()));
        Ok((Gateway { inner }, calls))
    }

    /// Takes SMS carried as SIP MESSAGE (RFC 3428) from the trunks into the SMS bridge:
    /// each passes the trunk's allow-list and digest check, then `intake` (the same one the
    /// webhook server uses). Before this is called MESSAGE is answered 405. Set once:
    /// `false` if an intake was already set.
    pub fn set_sms_intake(&self, intake: Arc<crate::sms::Intake>) -> bool {
        self.inner.sms_intake.set(intake).is_ok()
    }

    /// Our SIP address for a trunk (useful when the config said port 0).
    pub fn sip_addr(&self, trunk: &str) -> Option<SocketAddr> {
        self.inner.sip_addrs.get(trunk).copied()
    }

    /// Enrols `user` (an npub hex, opaque) for outbound calls and adds credit minutes.
    pub fn add_credit(&self, user: &str, minutes: u32) {
        self.inner.rules().add_credit(user, minutes);
    }

    /// Enrols `user` with exactly `milli` milli-minutes of credit (a stored balance).
    pub fn set_credit_milli(&self, user: &str, milli: u64) {
        self.inner.rules().set_credit_milli(user, milli);
    }

    /// Credit left for `user` in milli-minutes (None: not enrolled).
    pub fn credit_milli(&self, user: &str) -> Option<u64> {
        self.inner.rules().credit_milli(user)
    }

    /// Credit minutes left for `user` (None: not enrolled).
    pub fn credit_minutes(&self, user: &str) -> Option<f64> {
        self.inner.rules().credit_minutes(user)
    }

    /// Dials `number` (E.164) for `user` through `trunk`: checks the rules, sends the
    /// INVITE (answering the trunk's 401/407 with the trunk's credentials), and returns
    /// the call once it is answered (200 OK, ACK sent, media running).
    pub async fn dial(
        &self,
        user: &str,
        trunk: &str,
        number: &str,
    ) -> Result<PhoneCall, DialError> {
        dial::dial(
            self.inner.clone(),
            user,
            trunk,
            number,
            CancellationToken::new(),
        )
        .await
    }

    /// [`Gateway::dial`] that gives up when `cancel` fires before the number answers:
    /// the INVITE is cancelled (SIP CANCEL) and the rules forget the call.
    pub async fn dial_until(
        &self,
        user: &str,
        trunk: &str,
        number: &str,
        cancel: CancellationToken,
    ) -> Result<PhoneCall, DialError> {
        dial::dial(self.inner.clone(), user, trunk, number, cancel).await
    }

    /// The configuration it started with.
    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// The counters.
    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.inner.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            blocked_sources: get(&s.blocked_sources),
            auth_failures: get(&s.auth_failures),
            unknown_dids: get(&s.unknown_dids),
            bad_offers: get(&s.bad_offers),
            inbound_calls: get(&s.inbound_calls),
            outbound_calls: get(&s.outbound_calls),
            opus_calls: get(&s.opus_calls),
            spike_alerts: self.inner.rules().alerts(),
        }
    }

    /// Stops serving: sockets close, running calls' media stops.
    pub fn shutdown(&self) {
        self.inner.cancel.cancel();
    }
}

fn dialog_call_id(state: &DialogState) -> &str {
    use DialogState as S;
    let id = match state {
        S::Calling(id) | S::Trying(id) | S::Terminated(id, _) => id,
        S::Early(id, _) | S::WaitAck(id, _) | S::Confirmed(id, _) => id,
        S::Updated(id, ..) | S::Publish(id, ..) | S::Notify(id, ..) | S::Refer(id, ..) => id,
        S::Message(id, ..) | S::Info(id, ..) | S::Options(id, ..) => id,
    };
    &id.call_id
}

/// Hands every dialog event to its call's driver, by Call-ID.
async fn route_dialog_states(inner: Arc<Inner>, mut states: DialogStateReceiver) {
    while let Some(state) = states.recv().await {
        let route = inner.routes().get(dialog_call_id(&state)).cloned();
        if let Some(route) = route {
            let _ = route.send(state);
        }
    }
}

/// Charges running calls every second and forwards warnings and cut-offs.
async fn tick_rules(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(RULES_TICK);
    loop {
        tokio::select! {
            _ = inner.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let events = inner.rules().tick(Instant::now());
        for event in events {
            let call = match &event {
                RuleEvent::LowCredit { call, .. } | RuleEvent::CutOff { call } => *call,
            };
            let route = inner.rule_routes().get(&call).cloned();
            if let Some(route) = route {
                let _ = route.send(event);
            }
        }
    }
}
