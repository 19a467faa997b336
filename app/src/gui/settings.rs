//! App settings, persisted as pretty JSON in `settings.json` of the platform config
//! directory (`~/.config/phantomcall/` on Linux; `PHANTOMCALL_CONFIG_DIR` overrides it).
//!
//! Format (every field optional; unknown fields are ignored):
//! ```json
//! {
//!   "relays": ["wss://relay.example"],
//!   "turn": [{"url": "turn:turn.example:3478", "username": "u", "credential": "p"}],
//!   "blackout": true,
//!   "synthetic_devices": false
//! }
//! ```
//! The file is written with mode 0600: it can hold TURN credentials.

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

/// Everything the settings screen edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Nostr relays for signaling. No default: PhantomCall contacts only relays the user
    /// chose.
    pub relays: Vec<String>,
    /// The user's TURN servers (needed for Private and Paranoid modes).
    pub turn: Vec<TurnEntry>,
    /// Human blackout on the camera (off: the camera sends black frames only).
    pub blackout: bool,
    /// Synthetic tone and test pattern instead of the microphone and camera.
    pub synthetic_devices: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            relays: Vec::new(),
            turn: Vec::new(),
            blackout: true,
            synthetic_devices: false,
        }
    }
}

impl Settings {
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
        self.relays
            .iter()
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                RelayUrl::parse(r.trim())
                    .map_err(|_| anyhow::anyhow!("{r:?} is not a relay address (wss://…)"))
            })
            .collect()
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
        network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), Settings::default());
        let settings = Settings {
            relays: vec!["ws://127.0.0.1:7777".into()],
            turn: vec![TurnEntry {
                url: "turn:127.0.0.1:3478".into(),
                ..TurnEntry::default()
            }],
            blackout: false,
            synthetic_devices: true,
        };
        settings.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), settings);
        assert_eq!(settings.relay_urls().unwrap().len(), 1);
        std::fs::write(Settings::path(dir.path()), "{").unwrap();
        assert!(Settings::load(dir.path()).is_err());
        let bad = Settings {
            relays: vec!["not a url".into()],
            ..Settings::default()
        };
        assert!(bad.relay_urls().is_err());
    }
}
