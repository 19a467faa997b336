//! A real TURN server for the privacy-mode tests: Debian's coturn (`turnserver`), started
//! on loopback with a generated configuration and a random shared secret (TURN REST
//! credentials, `use-auth-secret`), killed when the handle is dropped.
//!
//! Addresses: the server listens and relays on [`TURN_IP`] (127.0.0.4); the test clients
//! bind on [`ALICE_IP`] (127.0.0.2) and [`BOB_IP`] (127.0.0.3), so an address seen on the
//! wire tells who it belongs to.
#![allow(dead_code)] // each test file uses a different part

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use calling::peer::{NetworkConfig, TurnServer};
use calling::turn::{turn_rest_credentials, DEFAULT_TURN_CREDENTIAL_LIFETIME};
use nostr_signal::{IncomingMessages, PublicKey, SendReport, SignalError, SignalTransport};
use phantomcall_schemas::CallMessage;

/// Where the TURN server listens and allocates relay addresses.
pub const TURN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));
/// Where Alice's media sockets bind.
pub const ALICE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// Where Bob's media sockets bind.
pub const BOB_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
/// Relay ports each server may allocate.
const RELAY_PORTS: u16 = 40;
/// How long the server gets to answer its first STUN request.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `turnserver`; killed on drop.
pub struct Coturn {
    child: Child,
    /// The `turn:` URL clients use (UDP).
    pub url: String,
    /// The listening address.
    pub addr: SocketAddr,
    /// The relay port range `[min, max]`.
    pub relay_ports: (u16, u16),
    secret: String,
    dir: PathBuf,
}

/// The path of `turnserver`, or a failure that says how to get it. Never a silent skip:
/// CI runs `scripts/setup.sh` first, which installs it.
fn turnserver_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
            .map(|dir| dir.join("turnserver"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`turnserver` (Debian package coturn) is not installed: run scripts/setup.sh \
             (or `apt-get install coturn`) before the privacy-mode tests"
        )
    })
}

fn free_udp_port(ip: IpAddr) -> u16 {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("bind on the TURN address");
    socket.local_addr().expect("local address").port()
}

impl Coturn {
    /// Starts a server on [`TURN_IP`] and waits until it answers STUN.
    pub fn start() -> Coturn {
        let binary = turnserver_binary();
        let port = free_udp_port(TURN_IP);
        let min = 20_000 + fastrand::u16(0..(40_000 / RELAY_PORTS)) * RELAY_PORTS;
        let relay_ports = (min, min + RELAY_PORTS - 1);
        let secret: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(32)
            .collect();
        let dir =
            std::env::temp_dir().join(format!("phantomcall-coturn-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("coturn temp dir");
        let config = format!(
            "listening-ip={TURN_IP}\n\
             relay-ip={TURN_IP}\n\
             listening-port={port}\n\
             min-port={}\n\
             max-port={}\n\
             use-auth-secret\n\
             static-auth-secret={secret}\n\
             realm=phantomcall.test\n\
             fingerprint\n\
             no-tls\n\
             no-dtls\n\
             no-tcp-relay\n\
             no-cli\n\
             no-multicast-peers\n\
             allow-loopback-peers\n\
             no-stdout-log\n\
             simple-log\n\
             log-file={}\n\
             pidfile={}\n\
             verbose\n",
            relay_ports.0,
            relay_ports.1,
            dir.join("turnserver.log").display(),
            dir.join("turnserver.pid").display(),
        );
        let config_path = dir.join("turnserver.conf");
        std::fs::write(&config_path, config).expect("coturn config written");
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
        let addr = SocketAddr::new(TURN_IP, port);
        let mut server = Coturn {
            child,
            url: format!("turn:{addr}?transport=udp"),
            addr,
            relay_ports,
            secret,
            dir,
        };
        server.wait_ready();
        server
    }

    /// Polls with STUN binding requests until the server answers.
    fn wait_ready(&mut self) {
        let probe = UdpSocket::bind(SocketAddr::new(TURN_IP, 0)).expect("probe socket");
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let deadline = Instant::now() + START_TIMEOUT;
        let mut request = [0u8; 20];
        request[1] = 0x01; // Binding request, no attributes
        request[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        request[8..].fill_with(|| fastrand::u8(..));
        let mut buf = [0u8; 512];
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "turnserver exited at start ({status}); its log:\n{}",
                    self.log()
                );
            }
            let _ = probe.send_to(&request, self.addr);
            if let Ok((n, _)) = probe.recv_from(&mut buf) {
                // A Binding success response for our transaction.
                if n >= 20 && buf[..2] == [0x01, 0x01] && buf[8..20] == request[8..20] {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "turnserver did not answer STUN within {START_TIMEOUT:?}; its log:\n{}",
                self.log()
            );
        }
    }

    /// Fresh TURN REST credentials for `id` under this server's secret.
    pub fn server(&self, id: &str) -> TurnServer {
        let credentials = turn_rest_credentials(
            self.secret.as_bytes(),
            id,
            SystemTime::now(),
            DEFAULT_TURN_CREDENTIAL_LIFETIME,
        )
        .expect("credentials");
        TurnServer {
            url: self.url.clone(),
            username: credentials.username,
            credential: credentials.password,
        }
    }

    /// Network settings of a client bound on `bind_ip` that relays through this server.
    pub fn network(&self, bind_ip: IpAddr, id: &str) -> NetworkConfig {
        NetworkConfig {
            bind_ip,
            turn_servers: vec![self.server(id)],
            ..NetworkConfig::default()
        }
    }

    /// The address of every client the server talked to (UDP endpoints and TCP
    /// connections), from its verbose log.
    pub fn client_addresses(&self) -> Vec<SocketAddr> {
        let mut found = Vec::new();
        for line in self.log().lines() {
            for marker in ["connected to: ", "remote addr ", "remote "] {
                let mut rest = line;
                while let Some((_, after)) = rest.split_once(marker) {
                    rest = after;
                    let token = after
                        .split(|c: char| c.is_whitespace() || c == ',')
                        .next()
                        .unwrap_or("");
                    if let Ok(addr) = token.parse::<SocketAddr>() {
                        if !found.contains(&addr) {
                            found.push(addr);
                        }
                    }
                }
            }
        }
        found
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("turnserver.log")
    }

    /// The directory with the generated configuration and the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Changes a message before it is sent (a misbehaving or malicious peer).
pub type Rewrite = Box<dyn Fn(&mut CallMessage) + Send + Sync>;

/// A signaling decorator that records every message a side sends, after an optional
/// rewrite: what left the process, as the relays and the peer get it.
pub struct Tap {
    inner: Arc<dyn SignalTransport>,
    rewrite: Option<Rewrite>,
    sent: Arc<Mutex<Vec<CallMessage>>>,
}

/// The record of a [`Tap`], readable while the call runs.
#[derive(Clone, Default)]
pub struct Sent(Arc<Mutex<Vec<CallMessage>>>);

impl Sent {
    /// Every message sent so far, in order.
    pub fn messages(&self) -> Vec<CallMessage> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Tap {
    /// Wraps `inner`; `sent` receives every message sent through it.
    pub fn wrap(
        inner: Arc<dyn SignalTransport>,
        rewrite: Option<Rewrite>,
        sent: &Sent,
    ) -> Arc<dyn SignalTransport> {
        Arc::new(Self {
            inner,
            rewrite,
            sent: sent.0.clone(),
        })
    }
}

#[async_trait]
impl SignalTransport for Tap {
    fn local_public_key(&self) -> PublicKey {
        self.inner.local_public_key()
    }

    async fn send(
        &self,
        peer: PublicKey,
        message: &CallMessage,
    ) -> Result<SendReport, SignalError> {
        let mut message = message.clone();
        if let Some(rewrite) = &self.rewrite {
            rewrite(&mut message);
        }
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message.clone());
        self.inner.send(peer, &message).await
    }

    fn incoming(&self) -> IncomingMessages {
        self.inner.incoming()
    }

    fn hides_network_address(&self) -> bool {
        self.inner.hides_network_address()
    }
}
