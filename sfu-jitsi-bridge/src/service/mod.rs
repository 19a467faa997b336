//! The conference service process (`phantomcall-conference`): HTTPS and WebSocket on one
//! port, in front of the crate's sign-in core, Stripe webhooks, rooms and the embedded SFU.
//!
//! - [`config`]: the TOML file and its validation (plain HTTP only on loopback);
//! - [`http`]: requests and responses (one per connection, size- and time-capped);
//! - [`api`]: the HTTP endpoints (sign-in, refresh, Stripe webhook, room creation, the
//!   join page);
//! - [`signal`]: one WebSocket connection's signaling session ([`protocol`] messages);
//! - [`rooms`] and [`conference`]: rooms, host controls, duration limits and the MLS
//!   delivery service's commit ordering;
//! - [`limits`]: rate and connection limits;
//! - [`metrics`]: `/metrics` (Prometheus) and readiness, counts only;
//! - [`cluster`]: several processes on one store (rooms found and joined through any).
//!
//! Nothing here logs an IP address, and wallet addresses only in their short form.

pub mod api;
pub mod cluster;
pub mod conference;
pub mod config;
pub mod directory;
pub mod http;
pub mod join_page;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod protocol;
pub mod rooms;
pub mod signal;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::auth::{AuthConfig, AuthService};
use crate::backend::{EmbeddedBackend, MediaBackend};
use crate::janus::JanusBackend;
use crate::sfu::{Sfu, SfuConfig};
use crate::siws::ChainId;
use crate::store::{PostgresStore, SqliteStore, Store};
use crate::stripe::PriceTiers;
use crate::token::SessionKeys;
use config::ServiceConfig;

/// Why the service could not start. The text says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("session signing key: {0}")]
    Key(#[from] crate::token::TokenError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot read the Stripe webhook secret file: {0}")]
    StripeSecret(std::io::Error),
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    #[error("[cluster] secret_file: {0}")]
    ClusterSecret(std::io::Error),
}

/// Stripe settings the webhook endpoint needs.
pub struct StripeState {
    pub secret: String,
    pub prices: PriceTiers,
}

/// Everything the handlers share.
pub struct AppState {
    pub config: ServiceConfig,
    pub auth: AuthService,
    pub store: Arc<dyn Store>,
    pub stripe: Option<StripeState>,
    pub conference: conference::Conference,
    pub room_creations: limits::WindowLimiter<String>,
    pub websockets: limits::PerIp,
    /// With `[cluster]`: this process among the others on the same store.
    pub cluster: Option<cluster::Cluster>,
}

impl AppState {
    /// Builds the state from a validated configuration, on the embedded SFU (with `hook`
    /// seeing every packet it forwards: tests check that clients send ciphertext only) or on
    /// the connected Janus backend `janus`. Needs a Tokio runtime (the SFU).
    pub fn new(
        config: ServiceConfig,
        janus: Option<JanusBackend>,
        hook: Option<Arc<dyn crate::sfu::ForwardHook>>,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let store: Arc<dyn Store> = match (&config.store.sqlite, &config.store.postgres) {
            (Some(path), _) => Arc::new(SqliteStore::open(path)?),
            // The synchronous client runs a runtime of its own, which cannot start on a
            // thread that is driving the service's: connect on a plain thread.
            (None, Some(params)) => Arc::new(
                std::thread::scope(|s| s.spawn(|| PostgresStore::connect(params)).join())
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
            ),
            (None, None) => unreachable!("validate() requires a store"),
        };
        let keys = SessionKeys::load_or_generate(&config.auth.signing_key)?;
        let auth_config = AuthConfig {
            domain: config.public_host.clone(),
            uri: format!("{}://{}/", config.scheme(), config.public_host),
            statement: config.auth.statement.clone(),
            chain_id: config.auth.chain_id.as_deref().and_then(ChainId::parse),
        };
        let stripe = match &config.stripe {
            Some(s) => Some(StripeState {
                secret: std::fs::read_to_string(&s.webhook_secret_file)
                    .map_err(StartError::StripeSecret)?
                    .trim()
                    .to_owned(),
                prices: PriceTiers(s.prices.clone()),
            }),
            None => None,
        };
        let mut sfu_config = SfuConfig::loopback();
        sfu_config.bind_ip = config.sfu.bind_ip;
        sfu_config.udp_ports = config.sfu.udp_ports.map(|[a, b]| a..=b);
        sfu_config.last_n = config.sfu.last_n;
        let backend: Arc<dyn MediaBackend> = match janus {
            Some(janus) => Arc::new(janus),
            None => Arc::new(EmbeddedBackend {
                sfu: Sfu::with_hook(sfu_config, hook),
            }),
        };
        let cluster = match &config.cluster {
            Some(section) => {
                let mut cluster =
                    cluster::Cluster::load(section).map_err(StartError::ClusterSecret)?;
                if let Some(ca_file) = &section.ca_file {
                    cluster.tls = Some(tls::connector(ca_file)?);
                }
                Some(cluster)
            }
            None => None,
        };
        let owner = cluster
            .as_ref()
            .map(|c| c.advertise.clone())
            .unwrap_or_default();
        let conference = conference::Conference::new(
            backend,
            config.limits.clone(),
            directory::Directory::new(store.clone(), owner),
        );
        Ok(Self {
            cluster,
            room_creations: limits::WindowLimiter::new(
                config.limits.rooms_per_minute,
                Duration::from_secs(60),
            ),
            websockets: limits::PerIp::new(config.limits.websockets_per_ip),
            auth: AuthService::new(store.clone(), keys, auth_config),
            store,
            stripe,
            conference,
            config,
        })
    }
}

/// A bound, ready service.
pub struct Server {
    state: Arc<AppState>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    /// Loads the certificate, opens the store and binds the port.
    pub async fn bind(config: ServiceConfig) -> Result<Self, StartError> {
        Self::bind_with_forward_hook(config, None).await
    }

    /// [`Server::bind`] with the SFU's forwarding hook ([`AppState::with_forward_hook`]).
    pub async fn bind_with_forward_hook(
        config: ServiceConfig,
        hook: Option<Arc<dyn crate::sfu::ForwardHook>>,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let tls = match &config.tls {
            Some(t) => Some(tls::acceptor(&t.cert, &t.key)?),
            None => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(StartError::Listen)?;
        let janus = match &config.janus {
            Some(j) => Some(JanusBackend::start(j.clone()).await),
            None => None,
        };
        let state = Arc::new(AppState::new(config, janus, hook)?);
        Ok(Self {
            state,
            listener,
            tls,
        })
    }

    /// The media backend (for the binary's SIGHUP: drain flags).
    pub fn backend(&self) -> Arc<dyn MediaBackend> {
        self.state.conference.backend().clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends.
    pub async fn run(self) {
        tokio::spawn(cluster::keep_beating(self.state.clone()));
        let connections = Arc::new(tokio::sync::Semaphore::new(
            self.state.config.limits.max_connections as usize,
        ));
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, mostly: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // At the limit the connection is closed unread: no task, no buffer for it.
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let state = self.state.clone();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tls {
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(http::READ_TIMEOUT, acceptor.accept(tcp)).await;
                        if let Ok(Ok(stream)) = handshake {
                            serve(state, stream, peer).await;
                        }
                    }
                    None => serve(state, tcp, peer).await,
                }
            });
        }
    }
}

async fn serve<S>(state: Arc<AppState>, mut stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &state.config.limits;
    let max_body = |path: &str| {
        if path == api::STRIPE_WEBHOOK_PATH {
            limits.max_webhook_body_bytes
        } else {
            limits.max_body_bytes
        }
    };
    let request = match http::read_request(&mut stream, max_body).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(status) = e.status() {
                let _ = http::Response::error(status, "bad_request", &e.to_string())
                    .write(&mut stream)
                    .await;
            }
            return;
        }
    };
    if request.path == signal::PATH {
        signal::upgrade(state, stream, request, peer.ip()).await;
        return;
    }
    let response = api::handle(&state, &request).await;
    let _ = response.write(&mut stream).await;
}
