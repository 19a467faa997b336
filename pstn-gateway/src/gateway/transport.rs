//! Binding each trunk's SIP listener on its transport (UDP, TCP or TLS) and the URI
//! parameters that make requests and Contacts name that transport.
//!
//! TLS: our certificate and key are read and checked (rustls must accept the pair) before
//! anything listens, so a wrong file is a start error, not a failed handshake later. The
//! trunk's certificate is verified against its `tls_ca_file` or the system roots; rsipstack
//! keeps one client TLS configuration per endpoint, so the CA sets of all TLS trunks are
//! trusted together (see docs/decisions.md).
//!
//! Trunks that share a listen address and transport share one listener. A TCP listen
//! address with port 0 is resolved first (a short-lived bind) because rsipstack's TCP
//! listener reports its configured address, not the one the OS chose; the same bind
//! also turns "address in use" into a start error rather than a warning in a log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::tls::{TlsConfig, TlsListenerConnection};
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use tokio_util::sync::CancellationToken;

use super::StartError;
use crate::config::{TlsFiles, Transport, TrunkConfig, SYSTEM_ROOTS};

/// The listeners bound so far: (configured address, transport) -> actual address.
#[derive(Default)]
pub(super) struct Listeners {
    bound: HashMap<(SocketAddr, Transport), SocketAddr>,
    /// PEM CA certificates trusted for outbound TLS (every TLS trunk's).
    ca_pem: Vec<u8>,
}

impl Listeners {
    /// Binds `trunk`'s listener unless an earlier trunk already did; returns our SIP
    /// address for it.
    pub(super) async fn bind(
        &mut self,
        trunk: &TrunkConfig,
        layer: &TransportLayer,
        cancel: &CancellationToken,
    ) -> Result<SocketAddr, StartError> {
        if let Some(files) = &trunk.tls {
            // Every TLS trunk's CA set, even one sharing an earlier trunk's listener.
            let ca = read_ca(files).map_err(|reason| StartError::Tls {
                trunk: trunk.name.clone(),
                reason,
            })?;
            self.ca_pem.extend_from_slice(&ca);
            self.ca_pem.push(b'\n');
        }
        let key = (trunk.listen, trunk.transport);
        if let Some(actual) = self.bound.get(&key) {
            return Ok(*actual);
        }
        let listen_err = |reason: String| StartError::Listen {
            addr: trunk.listen,
            reason,
        };
        let actual = match trunk.transport {
            Transport::Udp => {
                let conn = UdpConnection::create_connection(
                    trunk.listen,
                    None,
                    Some(cancel.child_token()),
                )
                .await
                .map_err(|e| listen_err(e.to_string()))?;
                let actual: SocketAddr = conn
                    .get_addr()
                    .addr
                    .clone()
                    .try_into()
                    .map_err(|e: rsipstack::sip::Error| listen_err(e.to_string()))?;
                layer.add_transport(conn.into());
                actual
            }
            Transport::Tcp => {
                let actual = probe_tcp(trunk.listen).map_err(|e| listen_err(e.to_string()))?;
                let conn = TcpListenerConnection::new(actual, None)
                    .await
                    .map_err(|e| listen_err(e.to_string()))?;
                layer.add_transport(conn.into());
                actual
            }
            Transport::Tls => {
                let files = trunk.tls.as_ref().ok_or_else(|| StartError::Tls {
                    trunk: trunk.name.clone(),
                    reason: "no certificate configured".into(),
                })?;
                let (cert, key) = read_identity(files).map_err(|reason| StartError::Tls {
                    trunk: trunk.name.clone(),
                    reason,
                })?;
                let actual = probe_tcp(trunk.listen).map_err(|e| listen_err(e.to_string()))?;
                let config = TlsConfig {
                    cert: Some(cert),
                    key: Some(key),
                    ..Default::default()
                };
                let conn = TlsListenerConnection::new(actual, None, config)
                    .await
                    .map_err(|e| listen_err(e.to_string()))?;
                layer.add_transport(conn.into());
                actual
            }
        };
        self.bound.insert(key, actual);
        Ok(actual)
    }

    /// Hands the collected CA certificates to rsipstack for outbound TLS connections.
    pub(super) fn finish(self, layer: &TransportLayer) {
        if !self.ca_pem.is_empty() {
            layer.set_tls_config(TlsConfig {
                ca_certs: Some(self.ca_pem),
                ..Default::default()
            });
        }
    }
}

/// Installs ring as rustls's process-wide crypto provider unless one is installed
/// already (by us earlier, or by the embedding process): rsipstack's TLS needs one.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads our certificate chain and key and checks that rustls accepts them as a pair.
/// Errors name the file and the problem, never the key's bytes.
fn read_identity(files: &TlsFiles) -> Result<(Vec<u8>, Vec<u8>), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    install_crypto_provider();
    let cert = std::fs::read(&files.certificate)
        .map_err(|e| format!("tls_certificate {}: {e}", files.certificate.display()))?;
    let key =
        std::fs::read(&files.key).map_err(|e| format!("tls_key {}: {e}", files.key.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("tls_certificate {}: not PEM", files.certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "tls_certificate {}: no certificate in it",
            files.certificate.display()
        ));
    }
    let parsed = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|_| format!("tls_key {}: no PEM private key in it", files.key.display()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, parsed))
        .map_err(|e| format!("tls_certificate and tls_key do not make a usable pair: {e}"))?;
    Ok((cert, key))
}

/// The PEM CA certificates a trunk's server certificate must chain to.
fn read_ca(files: &TlsFiles) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let path = match &files.ca_file {
        Some(path) => path.clone(),
        None => system_roots().ok_or_else(|| {
            "no tls_ca_file and no system CA bundle found (set SSL_CERT_FILE)".to_string()
        })?,
    };
    let pem = std::fs::read(&path).map_err(|e| format!("CA file {}: {e}", path.display()))?;
    let count = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("CA file {}: not PEM", path.display()))?
        .len();
    if count == 0 {
        return Err(format!("CA file {}: no certificate in it", path.display()));
    }
    Ok(pem)
}

fn system_roots() -> Option<std::path::PathBuf> {
    let env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    env.into_iter()
        .chain(SYSTEM_ROOTS.iter().map(std::path::PathBuf::from))
        .find(|p| p.is_file())
}

/// Binds and releases `addr` over TCP: the address the OS gives (port 0 resolved), or
/// why it cannot be had. SO_REUSEADDR (which rsipstack's listener sets too) lets the
/// real listener take the port straight after.
fn probe_tcp(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.local_addr()
}

/// The `;transport=` URI parameter for a trunk's transport: empty for UDP (the default
/// every peer assumes), so UDP requests look exactly as before.
pub(crate) fn uri_param(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
        Transport::Tls => ";transport=tls",
    }
}

/// Whether a request that arrived over `arrived` may belong to a trunk on `configured`.
pub(crate) fn carries(configured: Transport, arrived: rsipstack::sip::Transport) -> bool {
    use rsipstack::sip::Transport as Sip;
    matches!(
        (configured, arrived),
        (Transport::Udp, Sip::Udp) | (Transport::Tcp, Sip::Tcp) | (Transport::Tls, Sip::Tls)
    )
}
