//! Which relays from a peer's DM relay list (kind 10050) we may connect to.
//!
//! A peer's list is written by the peer: taken as it is, it steers our connections to any
//! address the peer likes (a port on our own loopback, a printer on our LAN). Only public
//! `wss://` relays pass, plus what the user configured, plus local ones where the user or
//! a test set-up explicitly allowed them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nostr_sdk::{Event, Kind, PublicKey, RelayUrl, TagKind};
use url::Host;

/// Why a relay of a peer's list is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeerRelayRefusal {
    /// `ws://` (unencrypted) to a relay the user did not configure.
    #[error("unencrypted ws:// relay")]
    Unencrypted,
    /// Loopback, private, link-local, unique-local or otherwise non-public address.
    #[error("relay on a local or private address")]
    LocalAddress,
    /// A name that only resolves on the local network (`localhost`, `.local`, ...).
    #[error("relay on a local host name")]
    LocalName,
    /// No host at all.
    #[error("relay URL without a host")]
    NoHost,
}

/// Checks the relays of peers' DM relay lists.
#[derive(Debug, Clone, Default)]
pub struct PeerRelayPolicy {
    /// The user's own relays: always allowed, whatever their address.
    pub own: Vec<RelayUrl>,
    /// Allow `ws://` and local addresses (explicit local or test set-ups only).
    pub allow_local: bool,
}

impl PeerRelayPolicy {
    /// Whether `url`, taken from a peer's list, may be contacted.
    pub fn check(&self, url: &RelayUrl) -> Result<(), PeerRelayRefusal> {
        if self.own.contains(url) || self.allow_local {
            return Ok(());
        }
        let host = url.host().ok_or(PeerRelayRefusal::NoHost)?;
        match host {
            Host::Ipv4(ip) if !is_public(IpAddr::V4(ip)) => {
                return Err(PeerRelayRefusal::LocalAddress)
            }
            Host::Ipv6(ip) if !is_public(IpAddr::V6(ip)) => {
                return Err(PeerRelayRefusal::LocalAddress)
            }
            Host::Domain(name) if is_local_name(name) => return Err(PeerRelayRefusal::LocalName),
            _ => {}
        }
        if url.as_str().starts_with("ws://") {
            return Err(PeerRelayRefusal::Unencrypted);
        }
        Ok(())
    }

    /// The usable relays of `list`, which must be `peer`'s own kind 10050 event (else
    /// nothing): at most `max`, refused ones logged by reason (never the URL).
    pub fn relays_of_list(&self, list: &Event, peer: &PublicKey, max: usize) -> Vec<RelayUrl> {
        if list.kind != Kind::InboxRelays || list.pubkey != *peer || list.verify().is_err() {
            tracing::debug!("DM relay list ignored: not the peer's own signed kind 10050");
            return Vec::new();
        }
        list.tags
            .iter()
            .filter(|t| t.kind() == TagKind::Relay)
            .filter_map(|t| t.content())
            .filter_map(|u| RelayUrl::parse(u).ok())
            .filter(|url| match self.check(url) {
                Ok(()) => true,
                Err(reason) => {
                    tracing::info!(%reason, "relay of a peer's DM relay list not used");
                    false
                }
            })
            .take(max)
            .collect()
    }
}

/// Names that never mean a public relay.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || [
            ".localhost",
            ".local",
            ".lan",
            ".internal",
            ".home.arpa",
            ".localdomain",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
        || !name.contains('.')
}

/// A globally routable unicast address (std's `is_global` is unstable).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, RFC 6598
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> RelayUrl {
        RelayUrl::parse(s).unwrap()
    }

    #[test]
    fn peer_relay_on_loopback_private_or_link_local_is_refused() {
        let policy = PeerRelayPolicy::default();
        for s in [
            "wss://127.0.0.1:7777",
            "wss://10.1.2.3",
            "wss://192.168.1.1",
            "wss://172.16.0.9",
            "wss://169.254.1.1",
            "wss://[::1]:8080",
            "wss://[fe80::1]",
            "wss://[fd00::5]",
            "wss://[::ffff:127.0.0.1]",
            "wss://100.64.0.1",
            "wss://0.0.0.0",
        ] {
            assert_eq!(
                policy.check(&url(s)),
                Err(PeerRelayRefusal::LocalAddress),
                "{s}"
            );
        }
        for s in ["wss://localhost:7777", "wss://printer.local", "wss://nas"] {
            assert_eq!(
                policy.check(&url(s)),
                Err(PeerRelayRefusal::LocalName),
                "{s}"
            );
        }
    }

    #[test]
    fn peer_relay_over_plain_ws_is_refused_unless_configured_by_the_user() {
        let mut policy = PeerRelayPolicy::default();
        assert_eq!(
            policy.check(&url("ws://relay.example.org")),
            Err(PeerRelayRefusal::Unencrypted)
        );
        assert_eq!(policy.check(&url("wss://relay.example.org")), Ok(()));
        assert!(policy.check(&url("wss://203.0.113.9")).is_err());
        assert_eq!(policy.check(&url("wss://8.8.4.4")), Ok(()));
        policy.own.push(url("ws://127.0.0.1:7777"));
        assert_eq!(policy.check(&url("ws://127.0.0.1:7777")), Ok(()));
        assert!(policy.check(&url("ws://127.0.0.1:7778")).is_err());
    }

    #[test]
    fn local_peer_relays_pass_only_where_explicitly_allowed() {
        let policy = PeerRelayPolicy {
            own: Vec::new(),
            allow_local: true,
        };
        assert_eq!(policy.check(&url("ws://127.0.0.1:9")), Ok(()));
    }

    #[test]
    fn a_relay_list_signed_by_someone_else_or_of_another_kind_is_ignored() {
        use nostr_sdk::{EventBuilder, Keys, Tag};
        let peer = Keys::generate();
        let other = Keys::generate();
        let tags = [Tag::custom(TagKind::Relay, ["wss://relay.example.org"])];
        let by_other = EventBuilder::new(Kind::InboxRelays, "")
            .tags(tags.clone())
            .sign_with_keys(&other)
            .unwrap();
        let wrong_kind = EventBuilder::new(Kind::RelayList, "")
            .tags(tags.clone())
            .sign_with_keys(&peer)
            .unwrap();
        let good = EventBuilder::new(Kind::InboxRelays, "")
            .tags(tags)
            .sign_with_keys(&peer)
            .unwrap();
        let policy = PeerRelayPolicy::default();
        let pk = peer.public_key();
        assert!(policy.relays_of_list(&by_other, &pk, 8).is_empty());
        assert!(policy.relays_of_list(&wrong_kind, &pk, 8).is_empty());
        assert_eq!(policy.relays_of_list(&good, &pk, 8).len(), 1);
    }
}
