//! App settings, persisted as pretty JSON in `settings.json` of the platform config
//! directory (`~/.config/phantomcall/` on Linux; `PHANTOMCALL_CONFIG_DIR` overrides it).
//!
//! Format (every field optional; unknown fields are ignored; `docs/settings.md` explains
//! each field):
//! ```json
//! {
//!   "relays": ["wss://relay.example"],
//!   "dm_relays": ["wss://inbox.example"],
//!   "socks5_proxy": "127.0.0.1:9050",
//!   "turn": [{"url": "turn:turn.example:3478", "username": "u", "credential": "p"}],
//!   "blackout": true,
//!   "blackout_strength": "standard",
//!   "voice_processing": true,
//!   "synthetic_devices": false,
//!   "devices": {"microphone": null, "speaker": null, "camera": null}
//! }
//! ```
//! The file is written with mode 0600: it can hold TURN credentials.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use calling::peer::{NetworkConfig, TurnServer};
use nostr_signal::RelayUrl;
use serde::{Deserialize, Serialize};

use super::vault::write_private;

/// One TURN server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TurnEntry {
    /// `turn:HOST:PORT` or `turns:HOST:PORT`.
    pub url: String,
    /// Username (static or TURN REST).
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub credential: String,
}

/// The devices the user picked in the lobby, by the name the driver lists (`None`: the
/// system default). Names, not indices: an index changes when a device is plugged in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceChoice {
    /// Microphone.
    pub microphone: Option<String>,
    /// Speaker (calls and the ringing tone).
    pub speaker: Option<String>,
    /// Camera.
    pub camera: Option<String>,
}

/// How hard human blackout errs toward covering: never weaker than the filter's defaults
/// (DESIGN.md section 5: uncertain pixels count as person), only stronger, for rooms where
/// a missed hand or a shadow would matter more than the background lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlackoutStrength {
    /// The filter's defaults: mask widened by 2 % of the width, threshold 0.25, 6-frame hold.
    #[default]
    Standard,
    /// Widened by 4 %, threshold 0.15, 12-frame hold (half a second).
    Strong,
    /// Widened by 8 %, threshold 0.05, 24-frame hold (a second): much of the room goes
    /// black around a person.
    Maximum,
}

impl BlackoutStrength {
    /// Every choice, in menu order.
    pub const ALL: [BlackoutStrength; 3] = [
        BlackoutStrength::Standard,
        BlackoutStrength::Strong,
        BlackoutStrength::Maximum,
    ];

    /// Menu label.
    pub fn label(self) -> &'static str {
        match self {
            BlackoutStrength::Standard => "Standard",
            BlackoutStrength::Strong => "Strong (wider mask, longer hold)",
            BlackoutStrength::Maximum => "Maximum (much of the room goes black)",
        }
    }

    /// The filter configuration of this strength.
    pub fn filter_config(self) -> blackout::FilterConfig {
        let (dilation, threshold, hold_frames) = match self {
            BlackoutStrength::Standard => (
                blackout::DEFAULT_DILATION,
                blackout::DEFAULT_THRESHOLD,
                blackout::DEFAULT_HOLD_FRAMES,
            ),
            BlackoutStrength::Strong => (0.04, 0.15, 12),
            BlackoutStrength::Maximum => (0.08, 0.05, 24),
        };
        blackout::FilterConfig {
            dilation,
            threshold,
            hold_frames,
            ..blackout::FilterConfig::default()
        }
    }
}

/// Everything the settings screen edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Nostr relays for signaling. No default: PhantomCall contacts only relays the user
    /// chose.
    pub relays: Vec<String>,
    /// The DM inbox relays published as our kind 10050 list (where peers send calls); the
    /// app reads them too. Empty: the relays above are the inbox.
    pub dm_relays: Vec<String>,
    /// The user's TURN servers (needed for Private and Paranoid modes).
    pub turn: Vec<TurnEntry>,
    /// Human blackout on the camera (off: the camera sends black frames only).
    pub blackout: bool,
    /// How hard blackout errs toward covering.
    pub blackout_strength: BlackoutStrength,
    /// Echo cancellation, noise suppression and gain control on the microphone.
    pub voice_processing: bool,
    /// Synthetic tone and test pattern instead of the microphone and camera.
    pub synthetic_devices: bool,
    /// The devices calls use.
    pub devices: DeviceChoice,
    /// SOCKS5 proxy (`HOST:PORT`, for example Tor's `127.0.0.1:9050`) that relay
    /// connections and NIP-05 lookups go through; empty or absent: none.
    pub socks5_proxy: Option<String>,
    /// Where call messages travel: relays, relays and Bluetooth LE, or Bluetooth LE only.
    pub signaling: crate::ble::SignalingPaths,
    /// The npub of the phone gateway that calls telephone numbers for us (a hotline's,
    /// or one we run); `None`: phone numbers cannot be called.
    pub phone_gateway: Option<String>,
    /// The npub of a hotline we are enrolled in as a dispatcher; set, the side bar shows
    /// dispatcher mode (console and statistics). `None`: no dispatcher mode.
    pub hotline: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            relays: Vec::new(),
            dm_relays: Vec::new(),
            turn: Vec::new(),
            blackout: true,
            blackout_strength: BlackoutStrength::Standard,
            voice_processing: true,
            synthetic_devices: false,
            devices: DeviceChoice::default(),
            socks5_proxy: None,
            signaling: crate::ble::SignalingPaths::Relays,
            phone_gateway: None,
            hotline: None,
        }
    }
}

impl Settings {
    /// The phone gateway's key, when one is set and readable.
    pub fn phone_gateway_key(&self) -> Option<nostr_signal::PublicKey> {
        let text = self.phone_gateway.as_deref()?.trim();
        nostr_signal::parse_public_key(text).ok()
    }

    /// The hotline's key, when one is set and readable.
    pub fn hotline_key(&self) -> Option<nostr_signal::PublicKey> {
        let text = self.hotline.as_deref()?.trim();
        nostr_signal::parse_public_key(text).ok()
    }

    /// The file in `config_dir`.
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join("settings.json")
    }

    /// The saved settings, defaults if there are none.
    pub fn load(config_dir: &Path) -> Result<Settings> {
        let path = Self::path(config_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not valid settings JSON", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Saves the settings.
    pub fn save(&self, config_dir: &Path) -> Result<()> {
        write_private(&Self::path(config_dir), &serde_json::to_vec_pretty(self)?)
    }

    /// The relays, parsed; an error names the first bad one.
    pub fn relay_urls(&self) -> Result<Vec<RelayUrl>> {
        parse_relays(&self.relays)
    }

    /// The DM inbox relays, parsed; an error names the first bad one.
    pub fn dm_relay_urls(&self) -> Result<Vec<RelayUrl>> {
        parse_relays(&self.dm_relays)
    }

    /// Every relay the app connects to: the relays, then the DM relays not among them.
    pub fn all_relay_urls(&self) -> Result<Vec<RelayUrl>> {
        let mut all = self.relay_urls()?;
        for url in self.dm_relay_urls()? {
            if !all.contains(&url) {
                all.push(url);
            }
        }
        Ok(all)
    }

    /// Checks every field a user types (relays, DM relays, proxy); the error says which
    /// and what is expected.
    pub fn validate(&self) -> Result<()> {
        self.relay_urls()?;
        self.dm_relay_urls()?;
        self.proxy_addr()?;
        if let Some(gateway) = self.phone_gateway.as_deref() {
            nostr_signal::parse_public_key(gateway.trim())
                .map_err(|e| anyhow::anyhow!("phone gateway {gateway:?}: not an npub ({e})"))?;
        }
        if let Some(hotline) = self.hotline.as_deref() {
            nostr_signal::parse_public_key(hotline.trim())
                .map_err(|e| anyhow::anyhow!("hotline {hotline:?}: not an npub ({e})"))?;
        }
        Ok(())
    }

    /// The SOCKS5 proxy, parsed; an error says what is expected.
    pub fn proxy_addr(&self) -> Result<Option<SocketAddr>> {
        parse_proxy(self.socks5_proxy.as_deref().unwrap_or(""))
    }

    /// The network settings of calls: the TURN servers on top of `base`.
    pub fn network(&self, base: &NetworkConfig) -> NetworkConfig {
        let mut network = base.clone();
        network
            .turn_servers
            .extend(
                self.turn
                    .iter()
                    .filter(|t| !t.url.trim().is_empty())
                    .map(|t| TurnServer {
                        url: t.url.trim().to_owned(),
                        username: t.username.clone(),
                        credential: t.credential.clone(),
                    }),
            );
        // Paranoid calls carry TURN through the same proxy as the relay connections; an
        // invalid proxy text is refused when the settings are saved, so it is never here.
        if let Ok(Some(proxy)) = self.proxy_addr() {
            network.socks5_proxy = Some(proxy);
        }
        network
    }
}

/// Relay addresses as typed (blank lines skipped); an error names the first bad one.
fn parse_relays(list: &[String]) -> Result<Vec<RelayUrl>> {
    list.iter()
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            RelayUrl::parse(r.trim())
                .map_err(|_| anyhow::anyhow!("{r:?} is not a relay address (wss://…)"))
        })
        .collect()
}

/// A SOCKS5 proxy address as typed: `IP:PORT` (`socks5://` and `socks5h://` prefixes
/// allowed), empty for none. Host names are refused: resolving the proxy's own name would
/// be a DNS query outside the proxy.
pub fn parse_proxy(text: &str) -> Result<Option<SocketAddr>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bare = text
        .strip_prefix("socks5h://")
        .or_else(|| text.strip_prefix("socks5://"))
        .unwrap_or(text);
    let addr: SocketAddr = bare.parse().map_err(|_| {
        anyhow::anyhow!(
            "{text:?} is not a SOCKS5 proxy address: write IP:PORT, for example 127.0.0.1:9050 for Tor"
        )
    })?;
    if addr.port() == 0 {
        anyhow::bail!("{text:?}: the proxy's port cannot be 0");
    }
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_gateway_must_be_a_key() {
        let npub = nostr_signal::encode_npub(&nostr_signal::Identity::generate().public_key());
        let good = Settings {
            phone_gateway: Some(format!(" {npub} ")),
            ..Settings::default()
        };
        assert!(good.validate().is_ok());
        assert!(good.phone_gateway_key().is_some());
        let bad = Settings {
            phone_gateway: Some("+15551234567".into()),
            ..Settings::default()
        };
        let error = bad.validate().unwrap_err().to_string();
        assert!(error.contains("phone gateway"), "{error}");
        assert_eq!(bad.phone_gateway_key(), None);
    }

    #[test]
    fn round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), Settings::default());
        let settings = Settings {
            relays: vec!["ws://127.0.0.1:7777".into()],
            dm_relays: vec!["ws://127.0.0.1:7778".into(), "ws://127.0.0.1:7777".into()],
            blackout_strength: BlackoutStrength::Strong,
            turn: vec![TurnEntry {
                url: "turn:127.0.0.1:3478".into(),
                ..TurnEntry::default()
            }],
            blackout: false,
            voice_processing: false,
            synthetic_devices: true,
            devices: DeviceChoice {
                microphone: Some("USB mic".into()),
                speaker: None,
                camera: Some("Integrated camera".into()),
            },
            socks5_proxy: Some("127.0.0.1:9050".into()),
            signaling: crate::ble::SignalingPaths::RelaysAndBluetooth,
            phone_gateway: Some(
                "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg".into(),
            ),
            hotline: Some("npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg".into()),
        };
        settings.save(dir.path()).unwrap();
        let saved = std::fs::read_to_string(Settings::path(dir.path())).unwrap();
        assert!(
            saved.contains("\"signaling\": \"relays-and-bluetooth\""),
            "{saved}"
        );
        assert_eq!(Settings::load(dir.path()).unwrap(), settings);
        assert_eq!(settings.relay_urls().unwrap().len(), 1);
        assert_eq!(settings.all_relay_urls().unwrap().len(), 2, "no duplicate");
        settings.validate().unwrap();
        std::fs::write(Settings::path(dir.path()), "{").unwrap();
        assert!(Settings::load(dir.path()).is_err());
        let bad = Settings {
            relays: vec!["not a url".into()],
            ..Settings::default()
        };
        assert!(bad.relay_urls().is_err());
    }

    #[test]
    fn blackout_strength_only_ever_covers_more() {
        let standard = BlackoutStrength::Standard.filter_config();
        let mut previous = standard.clone();
        for strength in BlackoutStrength::ALL.into_iter().skip(1) {
            let c = strength.filter_config();
            assert!(c.dilation > previous.dilation, "{strength:?}");
            assert!(c.threshold < previous.threshold, "{strength:?}");
            assert!(c.hold_frames > previous.hold_frames, "{strength:?}");
            previous = c;
        }
        let json = serde_json::to_string(&BlackoutStrength::Maximum).unwrap();
        assert_eq!(json, "\"maximum\"");
        assert!(serde_json::from_str::<Settings>(r#"{"blackout_strength":"weak"}"#).is_err());
    }

    #[test]
    fn proxy_addresses_are_checked() {
        assert_eq!(parse_proxy("").unwrap(), None);
        assert_eq!(
            parse_proxy(" socks5h://127.0.0.1:9050 ").unwrap(),
            Some("127.0.0.1:9050".parse().unwrap())
        );
        assert_eq!(
            parse_proxy("[::1]:1080").unwrap(),
            Some("[::1]:1080".parse().unwrap())
        );
        for bad in [
            "tor.example:9050",
            "127.0.0.1",
            "127.0.0.1:0",
            "http://127.0.0.1:8080",
        ] {
            let e = parse_proxy(bad).unwrap_err().to_string();
            assert!(e.contains("proxy"), "{bad}: {e}");
        }
    }
}
