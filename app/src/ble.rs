//! Which paths call messages take (relays, Bluetooth LE beside them, Bluetooth LE alone),
//! for the command line and the window, and opening the radio for them.

use std::sync::Arc;

use anyhow::{bail, Result};
use calling::client::BleSignaling;
use nostr_signal::ble_fallback::{self, MeshConfig, MeshNode};
use nostr_signal::{BlePaths, BleSignalLink, PublicKey};
use serde::{Deserialize, Serialize};

/// Where call messages travel.
#[derive(
    clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SignalingPaths {
    /// Nostr relays only.
    #[default]
    Relays,
    /// Relays and the Bluetooth LE mesh; the mesh carries on when no relay is reachable.
    RelaysAndBluetooth,
    /// The Bluetooth LE mesh only: no relay is contacted.
    BluetoothOnly,
}

impl SignalingPaths {
    /// Every choice, in the order the settings list them.
    pub const ALL: [SignalingPaths; 3] = [
        SignalingPaths::Relays,
        SignalingPaths::RelaysAndBluetooth,
        SignalingPaths::BluetoothOnly,
    ];

    /// What the settings call it.
    pub fn label(self) -> &'static str {
        match self {
            SignalingPaths::Relays => "Relays",
            SignalingPaths::RelaysAndBluetooth => "Relays + Bluetooth",
            SignalingPaths::BluetoothOnly => "Bluetooth only",
        }
    }

    /// Whether the radio is used.
    pub fn uses_bluetooth(self) -> bool {
        self != SignalingPaths::Relays
    }

    /// Whether relays are contacted.
    pub fn uses_relays(self) -> bool {
        self != SignalingPaths::BluetoothOnly
    }
}

/// What turning on Bluetooth means, said where it is turned on.
pub const BLUETOOTH_NOTICE: &str = "Bluetooth carries your call messages (gift-wrapped, as on \
    relays) through PhantomCall devices nearby when no relay is reachable. Anyone nearby can \
    see that a PhantomCall device is here, not who you are or whom you call. Call media goes \
    over the local network; Private and Paranoid calls still need your TURN server.";

/// The mesh to start with, and what the user should know about it.
pub struct BleStart {
    /// The mesh, or `None` for relays only.
    pub signaling: Option<BleSignaling>,
    /// Said to the user: Bluetooth was asked for beside the relays and cannot be used.
    pub notice: Option<String>,
}

/// Opens the radio and starts the mesh for `paths`. With relays beside it, a radio that
/// cannot open is a notice and signaling goes on over the relays; alone, it is an error.
pub async fn ble_signaling(paths: SignalingPaths, own_key: &PublicKey) -> Result<BleStart> {
    ble_signaling_on(paths, own_key, None).await
}

/// [`ble_signaling`] on `radio` when given (a simulated one), else the system's.
pub async fn ble_signaling_on(
    paths: SignalingPaths,
    own_key: &PublicKey,
    radio: Option<Arc<dyn ble_fallback::BleLink>>,
) -> Result<BleStart> {
    if !paths.uses_bluetooth() {
        return Ok(BleStart {
            signaling: None,
            notice: None,
        });
    }
    let opened = match radio {
        Some(radio) => Ok(radio),
        None => ble_fallback::open_system_radio().await,
    };
    let radio = match opened {
        Ok(radio) => radio,
        Err(error) if paths.uses_relays() => {
            tracing::warn!(%error, "Bluetooth signaling unavailable");
            return Ok(BleStart {
                signaling: None,
                notice: Some(format!(
                    "Bluetooth is not available ({error}): call messages go over the relays only"
                )),
            });
        }
        Err(error) => bail!("Bluetooth signaling is not available: {error}"),
    };
    let config = MeshConfig {
        interests: vec![BleSignalLink::mesh_key(own_key)],
        ..MeshConfig::default()
    };
    let mesh = Arc::new(MeshNode::spawn(radio, config));
    let paths = match paths {
        SignalingPaths::BluetoothOnly => BlePaths::Only,
        _ => BlePaths::Alongside,
    };
    Ok(BleStart {
        signaling: Some(BleSignaling { mesh, paths }),
        notice: None,
    })
}

/// What to tell the user when relays and Bluetooth were asked for and no relay answered
/// at start (the transport then came up on the mesh alone).
pub fn relays_unreachable_notice(paths: SignalingPaths, has_relays: bool) -> Option<String> {
    (paths == SignalingPaths::RelaysAndBluetooth && !has_relays)
        .then(|| RELAYS_UNREACHABLE.to_owned())
}

/// The notice while relays and Bluetooth run on Bluetooth alone.
pub const RELAYS_UNREACHABLE: &str =
    "No relay is reachable: call messages go over Bluetooth only, and the relays are tried again in the background";

/// The notice once the relays answered after all.
pub const RELAYS_JOINED: &str =
    "Relays reachable again: call messages go over relays and Bluetooth";
