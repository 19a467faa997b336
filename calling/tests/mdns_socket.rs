//! No mDNS socket in Private and Paranoid (issue 12, item 9): webrtc-rs's default mDNS mode
//! opens a `0.0.0.0:5353` multicast socket and queries the LAN for the peer's `.local`
//! names, outside the relay and the proxy. Only a Fast call that hides its host candidate
//! behind an mDNS name has one.
//!
//! A test binary of its own with a single test: the check counts this process's sockets
//! on port 5353, so no other test may create peer connections meanwhile.

mod socks;
mod turn;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use calling::peer::{NetworkConfig, PeerSession, PeerSetup};
use phantomcall_schemas::PrivacyMode;
use socks::Dante;
use tokio::sync::mpsc::unbounded_channel;
use turn::Coturn;

const MDNS_PORT: u16 = 5353;

/// The inodes of this process's open sockets.
fn own_socket_inodes() -> HashSet<u64> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// How many UDP sockets of this process are bound to port 5353 (IPv4 or IPv6).
fn mdns_sockets() -> usize {
    let ours = own_socket_inodes();
    let mut count = 0;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
            let (Some(local), Some(inode)) = (fields.get(1), fields.get(9)) else {
                continue;
            };
            let port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            let inode: Option<u64> = inode.parse().ok();
            if port == Some(MDNS_PORT) && inode.is_some_and(|i| ours.contains(&i)) {
                count += 1;
            }
        }
    }
    count
}

/// Builds a peer connection for `mode` on `network`, creates an offer (which binds the
/// sockets and starts gathering), and returns the number of mDNS sockets then open.
async fn mdns_sockets_of(
    mode: PrivacyMode,
    network: NetworkConfig,
    proxy: Option<std::net::SocketAddr>,
) -> usize {
    let (tx, _events) = unbounded_channel();
    let session = PeerSession::new(
        PeerSetup {
            mode,
            send_video: false,
            receive_video: false,
            network,
            signaling_hides_address: proxy.is_some(),
        },
        tx,
    )
    .await
    .unwrap_or_else(|e| panic!("{mode} peer connection: {e}"));
    session.create_offer(false).await.expect("offer");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open = mdns_sockets();
    session.close().await;
    drop(session);
    tokio::time::sleep(Duration::from_millis(200)).await;
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mdns_socket_exists_in_private_or_paranoid_mode() {
    assert_eq!(mdns_sockets(), 0, "nothing open before the first call");
    let coturn = Coturn::start();
    let every_interface = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

    let private = coturn.network(every_interface, "private");
    assert!(
        private.mdns_host_candidates,
        "the default asks for mDNS names"
    );
    assert_eq!(
        mdns_sockets_of(PrivacyMode::Private, private, None).await,
        0
    );

    let dante = Dante::start();
    let paranoid = NetworkConfig {
        socks5_proxy: Some(dante.addr),
        ..coturn.network(every_interface, "paranoid")
    };
    assert_eq!(
        mdns_sockets_of(PrivacyMode::Paranoid, paranoid, Some(dante.addr)).await,
        0
    );

    // Fast without mDNS hiding (turned off, or on loopback) has no use for it either.
    let no_hiding = NetworkConfig {
        mdns_host_candidates: false,
        ..NetworkConfig::default()
    };
    assert_eq!(mdns_sockets_of(PrivacyMode::Fast, no_hiding, None).await, 0);
    assert_eq!(
        mdns_sockets_of(PrivacyMode::Fast, NetworkConfig::loopback(), None).await,
        0
    );

    // The control: Fast with mDNS names does open one, so the count above can see it.
    assert!(
        mdns_sockets_of(PrivacyMode::Fast, NetworkConfig::default(), None).await >= 1,
        "a Fast call hiding its host candidate has an mDNS socket"
    );
}
