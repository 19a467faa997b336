//! How the app is started: directories, network base, devices, the demo and its
//! automatic call, test hooks.

use std::path::PathBuf;
use std::sync::Arc;

use calling::peer::NetworkConfig;
use calling::{FilterChoice, SyntheticDevices};
use nostr_signal::KeyStrength;
use phantomcall_schemas::CallType;

use super::devices::{DeviceCatalog, SyntheticCatalog};
use super::perf::PerfMode;

/// Tone of the user's synthetic microphone.
pub(crate) const OWN_TONE_HZ: f32 = 440.0;

/// How the app is started.
pub struct AppOptions {
    /// Where settings, contacts and the call log live.
    pub config_dir: PathBuf,
    /// The encrypted identity (NIP-49), shared with the command line.
    pub key_file: PathBuf,
    /// Network settings of calls before the user's TURN servers are added.
    pub network: NetworkConfig,
    /// Where devices come from instead of the settings' choice between the machine's and
    /// synthetic ones (tests, the demo). The devices picked in the lobby apply either way.
    pub devices: Option<Arc<dyn DeviceCatalog>>,
    /// Start the demo contact and a throw-away identity.
    pub demo: bool,
    /// scrypt cost of saved keys (tests use the weak one).
    pub key_strength: KeyStrength,
    /// Demo only: start a call by itself once online (the screenshot script uses it).
    pub auto_call: Option<AutoCall>,
    /// What `scripts/perf.sh` measures (`PHANTOMCALL_PERF`), if anything.
    pub perf: Option<PerfMode>,
    /// Tests only: NIP-05 lookups go to this `http://127.0.0.1:PORT` instead of
    /// `https://DOMAIN` (see [`super::nip05::Nip05Resolver::base_override`]).
    pub nip05_base: Option<String>,
    /// A conference invite link to open at start (`phantomcall open <link>`, what the
    /// desktop's `phantomcall://` handler runs): the lobby, then the room.
    pub open_link: Option<String>,
    /// The Bluetooth radio instead of the system's (tests: a simulated radio, behind the
    /// trait the BlueZ driver implements; this machine has no controller).
    pub radio: Option<Arc<dyn ble_fallback::BleLink>>,
}

/// A call the demo starts by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCall {
    /// Call the demo contact.
    Outgoing(CallType),
    /// Have the demo contact call us.
    Incoming,
    /// Open the pre-call lobby (camera preview through the filter, meters).
    Lobby,
    /// Video-call the demo contact, who shares its screen (a slide deck) once connected.
    Presentation,
    /// Sign in to the demo hotline as a dispatcher and open the console.
    Dispatcher,
    /// Sign in to the demo hotline and open its statistics.
    HotlineStats,
    /// Join the conference room of `PHANTOMCALL_DEMO_JOIN` past the lobby (the screenshot
    /// script runs a conference service for it).
    Conference,
    /// Write to the demo contact, who writes back (the Messages screen).
    Messages,
}

impl AutoCall {
    /// From `PHANTOMCALL_DEMO_AUTOCALL`: `audio`, `video`, `incoming`, `lobby`, `share`,
    /// `dispatcher`, `hotline-stats`, `conference` or `messages`.
    pub fn from_env() -> Option<AutoCall> {
        match std::env::var("PHANTOMCALL_DEMO_AUTOCALL").ok()?.as_str() {
            "audio" => Some(AutoCall::Outgoing(CallType::Voice)),
            "video" => Some(AutoCall::Outgoing(CallType::Video)),
            "incoming" => Some(AutoCall::Incoming),
            "lobby" => Some(AutoCall::Lobby),
            "share" => Some(AutoCall::Presentation),
            "dispatcher" => Some(AutoCall::Dispatcher),
            "hotline-stats" => Some(AutoCall::HotlineStats),
            "conference" => Some(AutoCall::Conference),
            "messages" => Some(AutoCall::Messages),
            _ => None,
        }
    }
}

impl AppOptions {
    /// The platform config directory (`PHANTOMCALL_CONFIG_DIR` overrides it) and the
    /// command line's key file.
    pub fn standard(key_file: Option<PathBuf>) -> AppOptions {
        let config_dir = std::env::var_os("PHANTOMCALL_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                directories::ProjectDirs::from("org", "PhantomCall", "phantomcall")
                    .map(|d| d.config_dir().to_owned())
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let key_file = key_file.unwrap_or_else(|| config_dir.join("identity.ncryptsec"));
        AppOptions {
            config_dir,
            key_file,
            network: NetworkConfig::default(),
            devices: None,
            demo: false,
            key_strength: KeyStrength::Standard,
            auto_call: None,
            perf: PerfMode::from_env(),
            nip05_base: None,
            open_link: None,
            radio: None,
        }
    }

    /// The demo: a fresh temporary directory, loopback network, synthetic devices with
    /// human blackout, and the demo contact.
    pub fn demo() -> AppOptions {
        let dir = std::env::temp_dir().join(format!("phantomcall-demo-{}", std::process::id()));
        let mut devices = SyntheticDevices::new(OWN_TONE_HZ).with_people_clip();
        devices.filter = FilterChoice::Blackout(blackout::FilterConfig::default());
        AppOptions {
            key_file: dir.join("identity.ncryptsec"),
            config_dir: dir,
            network: NetworkConfig::loopback(),
            devices: Some(Arc::new(SyntheticCatalog::new(devices))),
            demo: true,
            key_strength: KeyStrength::Standard,
            auto_call: AutoCall::from_env(),
            perf: PerfMode::from_env(),
            nip05_base: None,
            // The screenshot script's conference room (an invite link), if any.
            open_link: std::env::var("PHANTOMCALL_DEMO_JOIN").ok(),
            radio: None,
        }
    }
}
