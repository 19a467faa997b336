//! Configuration of the call state machine and its tuning constants.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use nostr_signal::PublicKey;
use phantomcall_schemas::{DeviceId, PrivacyMode};

use super::admit::{AdmissionPolicy, PersonalPolicy};

/// How long a call rings before it counts as missed (callee) or unanswered (caller).
/// Longer gives people time to reach a device; shorter frees the line sooner. Issue #4 asks
/// for 45 s; DESIGN.md section 3 says 60 s. The issue wins as default, the value is
/// configurable ([`EngineConfig::ring_timeout`]).
pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(45);

/// How long media may take to come up: from dial until our offer is ready, and from
/// answer or accept until the media path is connected. Long enough for TURN over TCP/TLS
/// through Tor (Paranoid mode); short enough that a device which lost an answer race
/// does not hold a dead call for long.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an ended call is remembered, so that late messages for it are dropped as
/// `CallEnded` (and a late answer is told to hang up) instead of looking unknown. Matches
/// the 5 minute NIP-40 expiration of the wraps: nothing older can still arrive.
pub const ENDED_CALL_MEMORY: Duration = Duration::from_secs(5 * 60);

/// Most calls remembered at once (live and ended). Offers from strangers or while busy
/// each leave an ended record; past this bound the oldest ended records are forgotten
/// early, so a flood of offers cannot grow memory.
pub const MAX_REMEMBERED_CALLS: usize = 256;

/// Most remote ICE candidates buffered for one call before it is answered (per call, all
/// devices together). A real peer sends a few dozen at most; the bound stops a flood.
pub const MAX_BUFFERED_CANDIDATES: usize = 128;

/// How long ICE candidates that arrive before their offer are kept (NIP-AC asks to buffer
/// them briefly: relays do not keep order). Longer holds a flood's memory longer.
pub const EARLY_CANDIDATE_TTL: Duration = Duration::from_secs(10);

/// Most call ids whose early candidates are buffered at once; past it the oldest go.
pub const MAX_EARLY_CANDIDATE_CALLS: usize = 32;

/// Everything the state machine needs to know about the local side.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Our Nostr identity (the key every device of this user shares).
    pub local_key: PublicKey,
    /// This device's id: sent in the `device` tag of every message, and how the engine
    /// recognises the copies of its own messages that the relays echo back.
    pub device: DeviceId,
    /// See [`DEFAULT_RING_TIMEOUT`].
    pub ring_timeout: Duration,
    /// See [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// Whether calls from keys outside [`EngineConfig::contacts`] ring. Off by default:
    /// such calls land as missed with [`crate::EndReason::UnknownCaller`] and nothing is
    /// sent back (a stranger learns nothing, not even that this device is online).
    pub allow_strangers: bool,
    /// Keys whose calls ring.
    pub contacts: HashSet<PublicKey>,
    /// The privacy mode the user chose for a contact: calls with them never go lower
    /// (an offer asking for less is refused). Contacts not listed use `default_mode`.
    pub contact_modes: HashMap<PublicKey, PrivacyMode>,
    /// The user's default mode: the least a call with a contact without a mode of its own
    /// may use.
    pub default_mode: PrivacyMode,
    /// The least a stranger's call may use: [`PrivacyMode::Private`] (DESIGN.md section 4).
    /// Lowered only where the user said so explicitly (`listen --mode fast`) and in local
    /// test set-ups.
    pub stranger_mode: PrivacyMode,
    /// Modes this device cannot carry media in (a relay-only mode without a TURN server,
    /// Paranoid without a proxy). An offer that would need one is refused with a reason
    /// instead of being accepted and failing. Filled in by the engine from its network.
    pub unavailable_modes: BTreeSet<PrivacyMode>,
    /// Messages the application answers itself and the engine must leave alone (the
    /// `listen` command's signaling test offer, which carries no media and would otherwise
    /// be refused as unreadable before the application's own reply).
    pub handled_by_app: Option<fn(&phantomcall_schemas::CallMessage) -> bool>,
    /// What becomes of incoming offers that may ring: [`PersonalPolicy`] (they ring)
    /// unless a headless client or a service brings its own.
    pub admission: Arc<dyn AdmissionPolicy>,
    /// Most calls this device may have live when it dials: 1 for a person (dialing during
    /// a call ends the new one with `AlreadyInCall`); more for a service that bridges
    /// several calls side by side (the phone gateway). Incoming calls are capped by the
    /// admission policy.
    pub max_live_calls: usize,
}

impl EngineConfig {
    /// Defaults: 45 s ring, 30 s connect, no contacts, strangers not allowed, Private.
    pub fn new(local_key: PublicKey, device: DeviceId) -> Self {
        Self {
            local_key,
            device,
            ring_timeout: DEFAULT_RING_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            allow_strangers: false,
            contacts: HashSet::new(),
            contact_modes: HashMap::new(),
            default_mode: PrivacyMode::default(),
            stranger_mode: PrivacyMode::Private,
            unavailable_modes: BTreeSet::new(),
            handled_by_app: None,
            admission: Arc::new(PersonalPolicy),
            max_live_calls: 1,
        }
    }

    /// The least privacy a call with `peer` may have on our side: the contact's own mode,
    /// else the default; for strangers at least [`EngineConfig::stranger_mode`].
    pub fn required_mode(&self, peer: &PublicKey) -> PrivacyMode {
        match self.contact_modes.get(peer) {
            Some(mode) => *mode,
            None if self.contacts.contains(peer) => self.default_mode,
            None => self.default_mode.max(self.stranger_mode),
        }
    }
}
