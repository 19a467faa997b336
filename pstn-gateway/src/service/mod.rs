//! The gateway service: the SIP leg ([`Gateway`]) and a headless PhantomCall engine whose
//! devices are the phone lines ([`PhoneDevices`]), joined call by call.
//!
//! - **Inbound**: a carrier's INVITE to a DID becomes a PhantomCall call to the DID's
//!   target (a user's npub, or a hotline's by name) with a `phone` tag showing the
//!   caller's number; the SIP side is answered when the user answers, and either side
//!   hanging up ends the other.
//! - **Outbound**: an enrolled user's call to the gateway with a `dial` tag rings here
//!   while the rules are checked and the trunk dials the number; the user's call is
//!   answered (with a `phone` tag) when the number answers, or refused with the reason.
//!
//! The media between the user and the gateway is an ordinary PhantomCall call (DTLS-SRTP,
//! the configured privacy mode); only the phone leg is plain RTP to the carrier.

mod credit;
mod handover;
mod inbound;
mod outbound;
mod phone_ref;
mod shown;
mod sms;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use calling::client::{self, Callers, ClientError, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallEngine, CallEvent, EngineConfig, EngineEvent, RingUpTo};
use nostr_signal::{Identity, NostrTransport, NostrTransportConfig, PublicKey};
use phantomcall_schemas::PrivacyMode;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::bridge::PhoneDevices;
use crate::config::{CallerNumber, GatewayConfig};
use crate::gateway::{Gateway, StartError};
use credit::CreditLedger;
use handover::Shown;

pub use outbound::low_credit_tone;
pub use shown::{shown_number, WITHHELD};

/// Everything [`GatewayService::start`] needs.
pub struct ServiceSetup {
    /// Trunks, rules and the `[service]` table.
    pub config: GatewayConfig,
    /// The gateway's own Nostr identity (users dial its npub).
    pub identity: Identity,
    /// Relays and how to reach them.
    pub transport: NostrTransportConfig,
    /// Sockets, STUN/TURN of the PhantomCall side of calls.
    pub network: NetworkConfig,
    /// The privacy mode of the calls the gateway places to users, and the least it takes
    /// from users who call out.
    pub mode: PrivacyMode,
}

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A value of the `[service]` table or a DID target is unusable.
    #[error("gateway config: {field}: {reason}")]
    Config {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The SIP side did not start.
    #[error(transparent)]
    Sip(#[from] StartError),
    /// The PhantomCall side did not start (no relay reachable).
    #[error(transparent)]
    Nostr(#[from] ClientError),
}

/// Where a DID's calls go, resolved from `trunk.dids` and `[service.hotlines]`.
#[derive(Debug, Clone)]
struct Targets {
    /// Trunk name -> DID -> the npub it rings.
    by_did: HashMap<(String, String), PublicKey>,
    /// The hotlines by name: only their hand-overs are followed.
    hotlines: HashMap<String, PublicKey>,
}

impl Targets {
    fn resolve(config: &GatewayConfig) -> Result<Self, ServiceError> {
        let bad = |field: String, reason: &str| ServiceError::Config {
            field,
            reason: reason.into(),
        };
        let mut hotlines = HashMap::new();
        for (name, npub) in &config.service.hotlines {
            let key = nostr_signal::parse_public_key(npub)
                .map_err(|_| bad(format!("service.hotlines.{name}"), "not an npub"))?;
            hotlines.insert(name.clone(), key);
        }
        let mut by_did = HashMap::new();
        for trunk in &config.trunks {
            for (did, target) in &trunk.dids {
                let field = format!("trunk.{}.dids.{did}", trunk.name);
                let key = match target.strip_prefix("hotline:") {
                    Some(name) => *hotlines
                        .get(name)
                        .ok_or_else(|| bad(field, "no such hotline in [service.hotlines]"))?,
                    None => nostr_signal::parse_public_key(target)
                        .map_err(|_| bad(field, "neither an npub nor hotline:<name>"))?,
                };
                by_did.insert((trunk.name.clone(), did.clone()), key);
            }
        }
        Ok(Self { by_did, hotlines })
    }

    fn is_hotline(&self, key: &PublicKey) -> bool {
        self.hotlines.values().any(|k| k == key)
    }

    fn get(&self, trunk: &str, did: Option<&str>) -> Option<PublicKey> {
        self.by_did
            .get(&(trunk.to_owned(), did?.to_owned()))
            .copied()
    }
}

/// What every call's task shares.
struct Shared {
    engine: CallEngine,
    gateway: Gateway,
    lines: PhoneDevices,
    targets: Targets,
    mode: PrivacyMode,
    caller_number: CallerNumber,
    outbound_trunk: String,
    /// Follows hotlines' hand-overs of phone callers (when a DID rings a hotline).
    assist: Option<Arc<hotline::voice::CallerAssist>>,
    /// How each inbound phone caller is shown, by call (a hand-over's call shows it too).
    shown: Shown,
    /// Names each inbound phone caller to the call's recipient without the number.
    phone_refs: phone_ref::PhoneRefs,
}

/// A running gateway: SIP trunks on one side, PhantomCall relays on the other.
pub struct GatewayService {
    gateway: Gateway,
    engine: CallEngine,
    transport: Arc<NostrTransport>,
    lines: PhoneDevices,
    key: PublicKey,
    tasks: Vec<JoinHandle<()>>,
    ledger: Option<Arc<CreditLedger>>,
    sms: Option<sms::SmsBridge>,
}

impl GatewayService {
    /// Checks the `[service]` table, enrols its users with their credit, binds the trunks,
    /// connects to the relays and starts bridging.
    pub async fn start(setup: ServiceSetup) -> Result<Self, ServiceError> {
        let ServiceSetup {
            config,
            identity,
            mut transport,
            network,
            mode,
        } = setup;
        let targets = Targets::resolve(&config)?;
        let hotlines = !config.service.hotlines.is_empty();
        // Hotlines hand their callers over by control messages (docs/decisions.md).
        transport.verifier.accept_controls |= hotlines;
        let mut users = Vec::new();
        for (npub, minutes) in &config.service.users {
            let key = nostr_signal::parse_public_key(npub).map_err(|_| ServiceError::Config {
                field: format!("service.users.{npub}"),
                reason: "not an npub".into(),
            })?;
            users.push((key, *minutes));
        }
        let outbound_trunk = config
            .service
            .outbound_trunk
            .clone()
            .or_else(|| config.trunks.first().map(|t| t.name.clone()))
            .unwrap_or_default();
        let max_calls = config.service.max_calls;
        let caller_number = config.service.caller_number;
        // A user's call rings here while the trunk dials: as long as the longest answer
        // timeout, and a little more so the trunk's own timeout is what the user hears.
        let ring = config
            .trunks
            .iter()
            .map(|t| t.answer_timeout_secs)
            .max()
            .unwrap_or(60)
            + 10;
        let state_db = config.service.state_db.clone();
        let sms_config = config.sms.clone();
        let (gateway, phone_calls) = Gateway::start(config).await?;
        let granted: Vec<(String, u32)> = users
            .iter()
            .map(|(key, minutes)| (key.to_hex(), *minutes))
            .collect();
        let ledger = match &state_db {
            Some(path) => {
                let opened = CreditLedger::open(path, &granted)
                    .and_then(|ledger| ledger.restore(&gateway).map(|()| ledger));
                match opened {
                    Ok(ledger) => Some(Arc::new(ledger)),
                    Err(e) => {
                        gateway.shutdown();
                        return Err(ServiceError::Config {
                            field: "service.state_db".into(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
            None => {
                tracing::warn!("no [service] state_db: users' credit starts afresh at every start");
                for (user, minutes) in &granted {
                    gateway.add_credit(user, *minutes);
                }
                None
            }
        };
        let lines = PhoneDevices::default();
        let phone_refs = phone_ref::PhoneRefs::of(&identity);
        let started = client::connect(ClientSetup {
            network,
            ring_timeout: Some(Duration::from_secs(ring)),
            configure: Some(Box::new(move |config: &mut EngineConfig| {
                config.default_mode = mode;
                config.stranger_mode = mode;
                config.max_live_calls = max_calls;
                config.admission = Arc::new(RingUpTo { max_calls });
            })),
            ..ClientSetup::new(
                identity,
                transport,
                Arc::new(lines.clone()),
                Callers::Anyone,
            )
        })
        .await;
        let started = match started {
            Ok(started) => started,
            Err(e) => {
                gateway.shutdown();
                return Err(e.into());
            }
        };
        let shown = Shown::default();
        let assist = hotlines.then(|| {
            Arc::new(handover::follow_hotlines(
                &started.engine,
                &started.transport,
                shown.clone(),
                mode,
            ))
        });
        let shared = Arc::new(Shared {
            assist,
            shown,
            phone_refs,
            engine: started.engine.clone(),
            gateway: gateway.clone(),
            lines: lines.clone(),
            targets,
            mode,
            caller_number,
            outbound_trunk,
        });
        let sms = match sms_config {
            Some(sms) => {
                let bridge = sms::SmsBridge::start(
                    sms,
                    &shared.targets.hotlines,
                    &gateway,
                    started.transport.clone(),
                )
                .await;
                match bridge {
                    Ok(bridge) => Some(bridge),
                    Err(e) => {
                        gateway.shutdown();
                        started.engine.shutdown().await;
                        started.transport.shutdown().await;
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        let mut tasks = vec![
            tokio::spawn(inbound::serve(shared.clone(), phone_calls)),
            tokio::spawn(outbound::serve(shared, started.engine.events())),
        ];
        if let Some(ledger) = &ledger {
            tasks.push(tokio::spawn(keep_ledger(ledger.clone(), gateway.clone())));
        }
        tracing::info!(npub = %nostr_signal::encode_npub(&started.key), "gateway service started");
        Ok(Self {
            gateway,
            engine: started.engine,
            transport: started.transport,
            lines,
            key: started.key,
            tasks,
            ledger,
            sms,
        })
    }

    /// The gateway's public key: what users dial.
    pub fn public_key(&self) -> PublicKey {
        self.key
    }

    /// The SIP side (addresses, credit, counters).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Where the SMS webhook listens (`[sms]` configured).
    pub fn sms_addr(&self) -> Option<std::net::SocketAddr> {
        self.sms.as_ref().map(sms::SmsBridge::local_addr)
    }

    /// Calls bridged right now.
    pub fn bridged_calls(&self) -> usize {
        self.lines.connected()
    }

    /// Stops both sides: running calls end (and are charged), the credit used is saved.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(sms) = &self.sms {
            sms.shutdown();
        }
        self.gateway.shutdown();
        if let Some(ledger) = &self.ledger {
            // The calls' drivers charge their last seconds as they see the shutdown.
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Err(e) = ledger.save(&self.gateway) {
                tracing::error!(error = %e, "credit used not saved at shutdown");
            }
        }
        self.engine.shutdown().await;
        self.transport.shutdown().await;
    }
}

/// How often the credit used is written down: a crash loses at most this much charging.
const LEDGER_INTERVAL: Duration = Duration::from_secs(5);

async fn keep_ledger(ledger: Arc<CreditLedger>, gateway: Gateway) {
    let mut tick = tokio::time::interval(LEDGER_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(e) = ledger.save(&gateway) {
            tracing::error!(error = %e, "credit used not saved");
        }
    }
}

/// The next event of `call` on `events`; `None` when the engine is gone. Events of other
/// calls are skipped; a lagging receiver goes on (the call's end is what matters, and the
/// engine's buffer is far larger than one call's burst).
async fn next_event_of(
    events: &mut broadcast::Receiver<EngineEvent>,
    call: phantomcall_schemas::CallId,
) -> Option<CallEvent> {
    loop {
        match events.recv().await {
            Ok(EngineEvent::Call(e)) if e.call_id == call => return Some(e),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NPUB: &str = "npub1sg6plzptd64u62a878hep2kev88swjh3tw00gjsfl8f237lmu63q0uf63m";

    fn config(did_target: &str, hotlines: &str) -> GatewayConfig {
        GatewayConfig::from_toml(&format!(
            "[[trunk]]\nname = \"t\"\nserver = \"127.0.0.1:5060\"\nlisten = \"127.0.0.1:0\"\n\
             [trunk.dids]\n\"+15550100101\" = \"{did_target}\"\n[service.hotlines]\n{hotlines}"
        ))
        .unwrap()
    }

    fn error_of(config: &GatewayConfig) -> String {
        Targets::resolve(config).unwrap_err().to_string()
    }

    #[test]
    fn a_did_rings_an_npub_or_a_hotline_by_name() {
        let key = nostr_signal::parse_public_key(NPUB).unwrap();
        let direct = Targets::resolve(&config(NPUB, "")).unwrap();
        assert_eq!(direct.get("t", Some("+15550100101")), Some(key));
        assert_eq!(direct.get("t", Some("+15550100102")), None);
        assert_eq!(direct.get("other", Some("+15550100101")), None);
        let hotline =
            Targets::resolve(&config("hotline:line", &format!("line = \"{NPUB}\"\n"))).unwrap();
        assert_eq!(hotline.get("t", Some("+15550100101")), Some(key));
    }

    #[test]
    fn a_bad_target_is_refused_at_start_naming_the_field() {
        assert!(error_of(&config("hotline:nope", "")).contains("trunk.t.dids.+15550100101"));
        assert!(error_of(&config("bob", "")).contains("neither an npub nor hotline:<name>"));
        assert!(error_of(&config(NPUB, "line = \"npub1bad\"\n")).contains("service.hotlines.line"));
    }
}
