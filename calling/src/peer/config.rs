//! Where a call's peer connection binds and which STUN/TURN servers it may use.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use phantomcall_schemas::PrivacyMode;

use crate::policy::ModePolicy;

/// What a privacy mode lacks on this device to carry media: the one pre-check the app,
/// the command line and the engine make before anything is sent (each words it for its
/// own user: a settings page or a command-line flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModeUnavailable {
    /// A relay-only mode without a TURN server of the user's.
    #[error("{0} mode relays media through your own TURN server, and none is set")]
    NoTurnServer(PrivacyMode),
    /// Paranoid without a SOCKS5 proxy for the media (TURN over TCP through it).
    #[error("Paranoid mode reaches its TURN server only through a SOCKS5 proxy, and none is set")]
    NoMediaProxy,
    /// Paranoid without a SOCKS5 proxy for the relay connections.
    #[error("Paranoid mode reaches the relays only through a SOCKS5 proxy, and none is set")]
    SignalingNotProxied,
}

/// Why a call's media path could not be set up as its mode demands: what the user must
/// fix. Reaches the UI as [`crate::MediaEvent::SetupFailed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupFailure {
    /// Private and Paranoid need a TURN server the user trusts.
    #[error("{0:?} mode needs a TURN server: add your own in the settings")]
    NoTurnServer(PrivacyMode),
    /// Paranoid needs a SOCKS5 proxy (Tor) for its TURN connections.
    #[error(
        "Paranoid mode needs a SOCKS5 proxy (Tor) for the media relay: set one in the settings"
    )]
    NoMediaProxy,
    /// Paranoid needs the signaling to go through the proxy too.
    #[error("Paranoid mode needs the relay connections (signaling) to go through a SOCKS5 proxy too: set one in the settings")]
    SignalingNotProxied,
    /// The proxy or, through it, the TURN server could not be reached.
    #[error("{0}")]
    Proxy(crate::proxy::ProxyError),
}

impl From<ModeUnavailable> for SetupFailure {
    fn from(missing: ModeUnavailable) -> Self {
        match missing {
            ModeUnavailable::NoTurnServer(mode) => SetupFailure::NoTurnServer(mode),
            ModeUnavailable::NoMediaProxy => SetupFailure::NoMediaProxy,
            ModeUnavailable::SignalingNotProxied => SetupFailure::SignalingNotProxied,
        }
    }
}

/// A TURN server with its credentials (static, or from [`crate::turn`]).
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// `turn:host:port` or `turn:host:port?transport=tcp`.
    pub url: String,
    /// TURN username.
    pub username: String,
    /// TURN password.
    pub credential: String,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credential is a secret; the URL is configuration.
        f.debug_struct("TurnServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Network settings shared by every call of one engine.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Local address the media sockets bind. `0.0.0.0` means every interface except
    /// loopback and link-local (webrtc-rs expands it); a loopback address binds loopback
    /// only (tests and the local demo).
    pub bind_ip: IpAddr,
    /// STUN servers, used in Fast mode only. Empty by default: no public STUN server is
    /// ever configured (DESIGN.md section 4).
    pub stun_servers: Vec<String>,
    /// TURN servers the user trusts (their own). Required for Private and Paranoid.
    pub turn_servers: Vec<TurnServer>,
    /// Fast mode: announce host candidates as random `.local` mDNS names instead of the
    /// machine's LAN addresses (peers on the same network resolve them by multicast).
    /// Off on loopback, which carries no multicast.
    pub mdns_host_candidates: bool,
    /// SOCKS5 proxy (Tor) every TURN connection goes through in Paranoid mode. Required
    /// for Paranoid; unused by the other modes.
    pub socks5_proxy: Option<SocketAddr>,
    /// How long reaching a TURN server through the proxy may take.
    pub proxy_connect_timeout: Duration,
    /// No packet for this long: the connection counts as disconnected and the caller
    /// restarts ICE.
    pub ice_disconnected_timeout: Duration,
    /// Disconnected for this long on top: failed.
    pub ice_failed_timeout: Duration,
    /// ICE keepalive interval.
    pub ice_keepalive_interval: Duration,
    /// How long a call may stay without a working media path (ICE restarts included)
    /// before it ends as failed.
    pub media_lost_timeout: Duration,
    /// The TURN servers' shared secret, when their credentials come from one: each call
    /// gets credentials fresh from its start ([`crate::turn::TurnRenewal`]).
    pub turn_renewal: Option<crate::turn::TurnRenewal>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            mdns_host_candidates: true,
            socks5_proxy: None,
            proxy_connect_timeout: crate::proxy::DEFAULT_PROXY_CONNECT_TIMEOUT,
            ice_disconnected_timeout: Duration::from_secs(2),
            ice_failed_timeout: Duration::from_secs(8),
            ice_keepalive_interval: Duration::from_millis(500),
            media_lost_timeout: Duration::from_secs(30),
            turn_renewal: None,
        }
    }
}

impl NetworkConfig {
    /// Everything on 127.0.0.1, no STUN/TURN: the local demo and the loopback tests.
    pub fn loopback() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            mdns_host_candidates: false,
            ..Self::default()
        }
    }
}

impl NetworkConfig {
    /// Whether a call in `mode` has a media path on this network, with signaling that
    /// does (`signaling_hides_address`) or does not keep our address from the relays.
    pub fn check_mode(
        &self,
        mode: PrivacyMode,
        signaling_hides_address: bool,
    ) -> Result<(), ModeUnavailable> {
        let policy = ModePolicy::for_mode(mode);
        if policy.relay_only && self.turn_servers.is_empty() {
            return Err(ModeUnavailable::NoTurnServer(mode));
        }
        if policy.requires_proxy && !signaling_hides_address {
            return Err(ModeUnavailable::SignalingNotProxied);
        }
        if policy.requires_proxy && self.socks5_proxy.is_none() {
            return Err(ModeUnavailable::NoMediaProxy);
        }
        Ok(())
    }

    /// The modes [`NetworkConfig::check_mode`] refuses.
    pub fn unavailable_modes(
        &self,
        signaling_hides_address: bool,
    ) -> std::collections::BTreeSet<PrivacyMode> {
        [
            PrivacyMode::Fast,
            PrivacyMode::Private,
            PrivacyMode::Paranoid,
        ]
        .into_iter()
        .filter(|mode| self.check_mode(*mode, signaling_hides_address).is_err())
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn() -> TurnServer {
        TurnServer {
            url: "turn:192.0.2.1:3478".into(),
            username: "u".into(),
            credential: "p".into(),
        }
    }

    #[test]
    fn each_mode_needs_what_its_policy_says_and_fast_needs_nothing() {
        let proxy: SocketAddr = "127.0.0.1:9050".parse().unwrap();
        let bare = NetworkConfig::default();
        assert_eq!(bare.check_mode(PrivacyMode::Fast, false), Ok(()));
        assert_eq!(
            bare.check_mode(PrivacyMode::Private, false),
            Err(ModeUnavailable::NoTurnServer(PrivacyMode::Private))
        );
        let with_turn = NetworkConfig {
            turn_servers: vec![turn()],
            ..NetworkConfig::default()
        };
        assert_eq!(with_turn.check_mode(PrivacyMode::Private, false), Ok(()));
        assert_eq!(
            with_turn.check_mode(PrivacyMode::Paranoid, true),
            Err(ModeUnavailable::NoMediaProxy)
        );
        let proxied = NetworkConfig {
            socks5_proxy: Some(proxy),
            ..with_turn
        };
        assert_eq!(
            proxied.check_mode(PrivacyMode::Paranoid, false),
            Err(ModeUnavailable::SignalingNotProxied)
        );
        assert_eq!(proxied.check_mode(PrivacyMode::Paranoid, true), Ok(()));
        assert!(proxied.unavailable_modes(true).is_empty());
        assert_eq!(
            bare.unavailable_modes(false)
                .into_iter()
                .collect::<Vec<_>>(),
            [PrivacyMode::Private, PrivacyMode::Paranoid]
        );
    }
}
