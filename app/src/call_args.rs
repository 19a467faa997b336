//! Options shared by the commands that place or take calls: privacy mode, network
//! (TURN/STUN, bind address) and devices.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use calling::peer::{ModeUnavailable, NetworkConfig, TurnServer};
use calling::turn::{TurnRenewal, DEFAULT_TURN_CREDENTIAL_LIFETIME};
use calling::{FilterChoice, MediaDevices, SyntheticDevices, SystemDevices, VoiceProcessing};
use nostr_signal::NostrTransportConfig;
use phantomcall::ble::SignalingPaths;
use phantomcall_schemas::PrivacyMode;

/// Privacy mode on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// Direct when possible: lowest delay, the peer may see your IP.
    Fast,
    /// Relay only, through your TURN server: the peer never learns your IP.
    Private,
    /// Relay only through a SOCKS5 proxy (Tor), audio first.
    Paranoid,
}

impl From<ModeArg> for PrivacyMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Fast => PrivacyMode::Fast,
            ModeArg::Private => PrivacyMode::Private,
            ModeArg::Paranoid => PrivacyMode::Paranoid,
        }
    }
}

/// Network options of a call.
#[derive(clap::Args, Clone, Debug)]
pub struct NetArgs {
    /// Privacy mode of calls placed from here.
    #[arg(long, value_enum, default_value_t = ModeArg::Private)]
    pub mode: ModeArg,
    /// Your TURN server (turn:HOST:PORT); repeat for several. Needed for private and paranoid.
    #[arg(long = "turn")]
    pub turn: Vec<String>,
    /// TURN username (static credentials); the password comes from --turn-password-file
    /// or PHANTOMCALL_TURN_PASSWORD.
    #[arg(long)]
    pub turn_user: Option<String>,
    /// TURN password (static credentials). Only from the environment
    /// (PHANTOMCALL_TURN_PASSWORD): on the command line every user of the machine could
    /// read it in the process list.
    #[arg(long, env = TURN_PASSWORD_ENV, hide_env_values = true, hide = true)]
    pub turn_password: Option<String>,
    /// File holding the TURN password (static credentials).
    #[arg(long, conflicts_with = "turn_password")]
    pub turn_password_file: Option<PathBuf>,
    /// File with the TURN server's shared secret (coturn use-auth-secret): credentials are derived, valid 6 hours.
    #[arg(long, conflicts_with = "turn_user")]
    pub turn_secret_file: Option<PathBuf>,
    /// Your own STUN server (stun:HOST:PORT), fast mode only. None by default.
    #[arg(long = "stun")]
    pub stun: Vec<String>,
    /// Local address for media sockets (default: every interface but loopback).
    #[arg(long)]
    pub bind_ip: Option<IpAddr>,
    /// SOCKS5 proxy (Tor: 127.0.0.1:9050) for every relay connection, Nostr and TURN.
    /// Needed for paranoid; with it, nothing connects to a relay directly.
    #[arg(long, value_name = "HOST:PORT")]
    pub socks5: Option<SocketAddr>,
    /// Where call messages travel: relays, relays and the Bluetooth LE mesh (which carries
    /// on when no relay is reachable), or the mesh alone. Bluetooth lets people nearby see
    /// that a PhantomCall device is here.
    #[arg(long, value_enum, default_value_t = SignalingPaths::Relays)]
    pub signaling: SignalingPaths,
}

/// Where a static TURN password may come from besides a file.
const TURN_PASSWORD_ENV: &str = "PHANTOMCALL_TURN_PASSWORD";

impl NetArgs {
    /// The static TURN password: from its file or the environment, never from the command
    /// line (arguments are visible to every user of the machine).
    fn static_turn_password(&self) -> Result<String> {
        if let Some(path) = &self.turn_password_file {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the TURN password from {}", path.display())
            })?;
            return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
        }
        match &self.turn_password {
            Some(given) if std::env::var(TURN_PASSWORD_ENV).ok().as_ref() != Some(given) => bail!(
                "--turn-password would show the password to every user of this machine in the \
                 process list: put it in a file (--turn-password-file FILE) or in \
                 {TURN_PASSWORD_ENV}"
            ),
            Some(password) => Ok(password.clone()),
            None => bail!(
                "--turn-user needs a password: --turn-password-file FILE or {TURN_PASSWORD_ENV}"
            ),
        }
    }

    /// The network settings, checked: a relay-only mode without a TURN server is refused
    /// here, before anyone's phone rings.
    pub fn network(&self) -> Result<NetworkConfig> {
        self.build(true)
    }

    fn build(&self, require_turn_for_mode: bool) -> Result<NetworkConfig> {
        let mut network = NetworkConfig::default();
        if let Some(ip) = self.bind_ip {
            network.bind_ip = ip;
        }
        network.stun_servers = self.stun.clone();
        network.socks5_proxy = self.socks5;
        let (username, credential) = match (&self.turn_secret_file, &self.turn_user) {
            (Some(path), _) => {
                let secret =
                    zeroize::Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                        format!("cannot read the TURN secret from {}", path.display())
                    })?);
                // Kept so every call gets credentials fresh from its start: a `listen`
                // running for days never offers expired ones.
                let renewal = TurnRenewal::new(
                    secret.trim().as_bytes(),
                    "phantomcall",
                    DEFAULT_TURN_CREDENTIAL_LIFETIME,
                )?;
                let creds = renewal.credentials(SystemTime::now());
                network.turn_renewal = Some(renewal);
                (creds.username, creds.password)
            }
            (None, Some(user)) => (user.clone(), self.static_turn_password()?),
            (None, None) => (String::new(), String::new()),
        };
        for url in &self.turn {
            if !(url.starts_with("turn:") || url.starts_with("turns:")) {
                bail!("{url:?} is not a TURN URL (turn:HOST:PORT)");
            }
            network.turn_servers.push(TurnServer {
                url: url.clone(),
                username: username.clone(),
                credential: credential.clone(),
            });
        }
        if !require_turn_for_mode {
            return Ok(network);
        }
        // The relay connections and the media share the one --socks5 proxy.
        match network.check_mode(self.privacy_mode(), self.socks5.is_some()) {
            Ok(()) => Ok(network),
            Err(ModeUnavailable::NoTurnServer(_)) => bail!(
                "{:?} mode relays media through your own TURN server: pass --turn turn:HOST:PORT \
                 with --turn-secret-file (or --turn-user with --turn-password-file), or choose --mode fast \
                 (the peer may then see your IP)",
                self.mode
            ),
            Err(ModeUnavailable::NoMediaProxy | ModeUnavailable::SignalingNotProxied) => bail!(
                "Paranoid mode connects to relays only through a SOCKS5 proxy: pass --socks5 \
                 127.0.0.1:9050 (Tor) or choose --mode private"
            ),
        }
    }

    /// The relay connection settings: through the SOCKS5 proxy when one is given, with
    /// replay protection kept beside `key_file` across restarts.
    pub fn transport_config(
        &self,
        relays: Vec<nostr_signal::RelayUrl>,
        key_file: &nostr_signal::KeyFile,
    ) -> NostrTransportConfig {
        let mut config = NostrTransportConfig::new(relays);
        config.proxy = self.socks5;
        config.replay_file = Some(key_file.seen_ids_path());
        config
    }

    /// The network settings for answering calls: the caller picks the mode, so a missing
    /// TURN server is reported when a relay-only call is accepted, not here. A TURN
    /// option that is given but broken is still an error.
    pub fn network_for_answering(&self) -> Result<NetworkConfig> {
        self.build(false)
    }

    /// The privacy mode of calls placed from here.
    pub fn privacy_mode(&self) -> PrivacyMode {
        self.mode.into()
    }
}

/// Device options of a call.
#[derive(clap::Args, Clone, Debug)]
pub struct DeviceArgs {
    /// Use synthetic devices (a tone instead of the microphone, a test pattern instead of
    /// the camera, recording sinks) instead of the machine's hardware.
    #[arg(long)]
    pub synthetic: bool,
    /// Frequency of the synthetic tone, Hz.
    #[arg(long, default_value_t = 440.0, requires = "synthetic")]
    pub tone: f32,
    /// With --synthetic: a PNG/JPEG picture or Y4M video as the camera.
    #[arg(long, requires = "synthetic")]
    pub video_file: Option<PathBuf>,
    /// Human blackout off: send fully black video instead of the room.
    #[arg(long)]
    pub no_blackout: bool,
    /// Camera index.
    #[arg(long, default_value_t = 0)]
    pub camera: u32,
    /// Send the microphone as captured: no echo cancellation, noise suppression or gain
    /// control (for headsets, or to compare).
    #[arg(long)]
    pub no_voice_processing: bool,
}

impl DeviceArgs {
    /// The devices to use.
    pub fn devices(&self) -> Arc<dyn MediaDevices> {
        let filter = if self.no_blackout {
            FilterChoice::AllBlack
        } else {
            FilterChoice::Blackout(blackout::FilterConfig::default())
        };
        if self.synthetic {
            let mut devices = SyntheticDevices::new(self.tone);
            devices.video_file = self.video_file.clone();
            devices.filter = filter;
            Arc::new(devices)
        } else {
            Arc::new(SystemDevices {
                camera: self.camera,
                filter,
                voice_processing: if self.no_voice_processing {
                    VoiceProcessing::Off
                } else {
                    VoiceProcessing::On
                },
                ..SystemDevices::default()
            })
        }
    }
}

/// How long `call --seconds` and `demo --seconds` may be.
pub fn call_duration(seconds: u64) -> Result<Duration> {
    if seconds == 0 || seconds > 24 * 3600 {
        bail!("--seconds must be between 1 and 86400");
    }
    Ok(Duration::from_secs(seconds))
}
