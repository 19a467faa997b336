//! The service's configuration: a TOML file, some of it overridable by flags.
//!
//! See `docs/host-a-conference.md` for an example. Validation refuses, with a message naming
//! the setting, anything the service could not run safely with: plain HTTP on a
//! non-loopback address above all (session tokens and wallet sign-ins would cross the
//! network in clear).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::tiers::Tier;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address and port to listen on (HTTPS, or plain HTTP on loopback only). Port 0: any
    /// free port (printed on standard output as `ready port=N`).
    pub listen: SocketAddr,
    /// The public authority (`meet.example.org`, or `host:port`) put in invite links and
    /// in sign-in challenges.
    pub public_host: String,
    /// Certificate chain and key (PEM). Absent: plain HTTP, loopback only.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    pub auth: AuthSection,
    pub store: StoreSection,
    #[serde(default)]
    pub stripe: Option<StripeSection>,
    #[serde(default)]
    pub sfu: SfuSection,
    /// Janus VideoRoom instances as the media backend; absent: the embedded SFU.
    #[serde(default)]
    pub janus: Option<crate::janus::JanusConfig>,
    /// Several service processes on one database (behind a load balancer); absent: one.
    #[serde(default)]
    pub cluster: Option<ClusterSection>,
    #[serde(default)]
    pub limits: Limits,
}

/// Several service processes sharing one `[store]`: each room lives in the process that
/// created it, and a join reaching another process is relayed there
/// ([`super::cluster`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Where the other processes reach this one's signaling: `wss://HOST:PORT` (TLS, with
    /// `ca_file`) between machines, or `ws://HOST:PORT` on one machine or a private
    /// network.
    pub advertise: String,
    /// With `wss://`: the PEM certificates the relay trusts for the other processes (the
    /// cluster's CA, or their certificates). Public CAs are not trusted here.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Another process that has not said it is alive for this long (it says so every 5 s)
    /// has its rooms taken over by the process a join for them reaches.
    #[serde(default = "default_takeover_after_secs")]
    pub takeover_after_secs: u64,
    /// A file holding the secret the processes show each other: their relayed connections
    /// are then not counted against the per-IP connection limit.
    pub secret_file: PathBuf,
}

fn default_takeover_after_secs() -> u64 {
    20
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Session tokens and the sign-in challenge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// The Ed25519 key that signs session tokens (PKCS#8 PEM, mode 0600; created if absent).
    pub signing_key: PathBuf,
    /// The sentence the wallet shows.
    #[serde(default)]
    pub statement: Option<String>,
    /// A chain to require (`mainnet`, `devnet`, ...).
    #[serde(default)]
    pub chain_id: Option<String>,
}

/// Where accounts, nonces and refresh tokens live: one of the two.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    #[serde(default)]
    pub sqlite: Option<PathBuf>,
    /// libpq-style connection string.
    #[serde(default)]
    pub postgres: Option<String>,
}

/// Stripe webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSection {
    /// A file holding the endpoint's signing secret (`whsec_...`).
    pub webhook_secret_file: PathBuf,
    /// Price id to tier.
    #[serde(default)]
    pub prices: HashMap<String, Tier>,
}

/// The embedded SFU.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SfuSection {
    /// The address media sockets bind and announce (the server's public address).
    pub bind_ip: IpAddr,
    /// `[first, last]` UDP ports for media; absent: ephemeral ports.
    #[serde(default)]
    pub udp_ports: Option<[u16; 2]>,
    #[serde(default = "default_last_n")]
    pub last_n: usize,
}

fn default_last_n() -> usize {
    4
}

impl Default for SfuSection {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            udp_ports: None,
            last_n: default_last_n(),
        }
    }
}

/// Abuse limits and timers. Defaults suit production; tests shorten them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Rooms one wallet may create per minute.
    pub rooms_per_minute: u32,
    /// Open TCP connections in all (HTTP and WebSocket); beyond, new ones are closed at once.
    pub max_connections: u32,
    /// Open WebSocket connections per client IP.
    pub websockets_per_ip: u32,
    /// Signaling messages per second per connection (bursts of twice this pass).
    pub messages_per_second: u32,
    /// Largest HTTP request body.
    pub max_body_bytes: usize,
    /// Largest Stripe webhook body (invoices with many lines are large).
    pub max_webhook_body_bytes: usize,
    /// Seconds between WebSocket pings.
    pub ping_interval_secs: u64,
    /// Seconds without any frame from the client before its connection is closed.
    pub idle_timeout_secs: u64,
    /// Overrides the Free plan's room duration (seconds); for tests and trials.
    pub free_room_secs: Option<u64>,
    /// Participants are warned this many seconds before their room ends.
    pub warn_before_end_secs: u64,
    /// A created room nobody joins is forgotten after this many seconds.
    pub unjoined_room_secs: u64,
    /// A room whose last participant's connection was lost (not one who left) stays open
    /// this many seconds for them to reconnect; a room reopened after a restart too.
    pub rejoin_grace_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rooms_per_minute: 10,
            max_connections: 4096,
            websockets_per_ip: 20,
            messages_per_second: 20,
            max_body_bytes: 64 * 1024,
            max_webhook_body_bytes: 512 * 1024,
            ping_interval_secs: 15,
            idle_timeout_secs: 45,
            free_room_secs: None,
            warn_before_end_secs: 5 * 60,
            unjoined_room_secs: 10 * 60,
            rejoin_grace_secs: 60,
        }
    }
}

impl Limits {
    /// How long a room of `tier` lasts.
    pub fn room_duration(&self, tier: Tier) -> Duration {
        match (tier, self.free_room_secs) {
            (Tier::Free, Some(secs)) => Duration::from_secs(secs),
            _ => tier.entitlements().max_duration,
        }
    }
}

/// A configuration that cannot be used. The text names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error(
        "refusing to serve plain HTTP on a non-loopback address: configure [tls] cert and key, \
         or listen on 127.0.0.1 / ::1"
    )]
    PlainHttpNotLoopback,
    #[error("{0}")]
    Invalid(&'static str),
}

impl ServiceConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.message().to_owned(),
        })?;
        Ok(config)
    }

    /// Checks the settings that flags may have changed too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls.is_none() && !self.listen.ip().is_loopback() {
            return Err(ConfigError::PlainHttpNotLoopback);
        }
        let host = &self.public_host;
        if host.is_empty()
            || host.len() > 253
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(ConfigError::Invalid(
                "public_host must be a host name or host:port",
            ));
        }
        match (&self.store.sqlite, &self.store.postgres) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(ConfigError::Invalid(
                    "[store] needs exactly one of sqlite or postgres",
                ))
            }
        }
        if let Some(chain) = &self.auth.chain_id {
            if crate::siws::ChainId::parse(chain).is_none() {
                return Err(ConfigError::Invalid(
                    "[auth] chain_id is not a Solana chain",
                ));
            }
        }
        if let Some([first, last]) = self.sfu.udp_ports {
            if first == 0 || first > last {
                return Err(ConfigError::Invalid("[sfu] udp_ports is [first, last]"));
            }
        }
        if self.sfu.bind_ip.is_unspecified() {
            return Err(ConfigError::Invalid(
                "[sfu] bind_ip must be the address media is reached at, not 0.0.0.0",
            ));
        }
        if let Some(janus) = &self.janus {
            if janus.instances.is_empty() {
                return Err(ConfigError::Invalid("[janus] needs at least one instance"));
            }
            let mut names = std::collections::HashSet::new();
            for i in &janus.instances {
                if !(i.url.starts_with("ws://") || i.url.starts_with("wss://")) {
                    return Err(ConfigError::Invalid(
                        "[[janus.instances]] url is Janus's WebSocket API (ws:// or wss://)",
                    ));
                }
                if i.name.is_empty() || !names.insert(i.name.as_str()) || i.max_participants == 0 {
                    return Err(ConfigError::Invalid(
                        "[[janus.instances]] need unique names and a positive max_participants",
                    ));
                }
                if i.cascade_ip.parse::<IpAddr>().is_err() {
                    return Err(ConfigError::Invalid(
                        "[[janus.instances]] cascade_ip must be an IP address",
                    ));
                }
                let admin_ws = i
                    .admin_url
                    .as_deref()
                    .is_none_or(|u| u.starts_with("ws://") || u.starts_with("wss://"));
                if !admin_ws || i.admin_url.is_some() != i.admin_secret_file.is_some() {
                    return Err(ConfigError::Invalid(
                        "[[janus.instances]] admin_url (Janus's Admin API, ws:// or wss://) \
                         and admin_secret_file go together",
                    ));
                }
            }
            if janus.stats_every_ms.is_some_and(|ms| ms < 200) {
                return Err(ConfigError::Invalid(
                    "[janus] stats_every_ms is at least 200 (polling must stay cheap)",
                ));
            }
        }
        if let Some(cluster) = &self.cluster {
            let (tls, host) = match cluster.advertise.split_once("://") {
                Some(("wss", host)) => (true, host),
                Some(("ws", host)) => (false, host),
                _ => (false, ""),
            };
            if host.is_empty() || host.contains('/') || !host.contains(':') {
                return Err(ConfigError::Invalid(
                    "[cluster] advertise is wss://HOST:PORT or ws://HOST:PORT (no path)",
                ));
            }
            if tls != cluster.ca_file.is_some() {
                return Err(ConfigError::Invalid(
                    "[cluster] ca_file goes with a wss:// advertise address, and only with it",
                ));
            }
            if cluster.takeover_after_secs <= 5 {
                return Err(ConfigError::Invalid(
                    "[cluster] takeover_after_secs is above 5: processes say they are alive every 5 s",
                ));
            }
            if tls && self.tls.is_none() {
                return Err(ConfigError::Invalid(
                    "[cluster] advertise is wss:// but this process serves no [tls]",
                ));
            }
        }
        let l = &self.limits;
        if l.rooms_per_minute == 0
            || l.max_connections == 0
            || l.websockets_per_ip == 0
            || l.messages_per_second == 0
            || l.ping_interval_secs == 0
            || l.idle_timeout_secs <= l.ping_interval_secs
        {
            return Err(ConfigError::Invalid(
                "[limits] counts must be positive and idle_timeout_secs above ping_interval_secs",
            ));
        }
        Ok(())
    }

    /// `https` with TLS, `http` on loopback without.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, tls: bool) -> ServiceConfig {
        let tls = if tls {
            "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n"
        } else {
            ""
        };
        let text = format!(
            "listen = \"{listen}\"\npublic_host = \"meet.example.org\"\n{tls}\
             [auth]\nsigning_key = \"key.pem\"\n[store]\nsqlite = \"s.db\"\n"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn plain_http_is_refused_off_loopback_and_allowed_on_it() {
        assert!(matches!(
            config("0.0.0.0:8080", false).validate(),
            Err(ConfigError::PlainHttpNotLoopback)
        ));
        assert!(config("127.0.0.1:8080", false).validate().is_ok());
        assert!(config("[::1]:8080", false).validate().is_ok());
        assert!(config("0.0.0.0:8443", true).validate().is_ok());
    }

    #[test]
    fn janus_instances_need_a_websocket_url_unique_names_and_an_ip_to_cascade_to() {
        let with = |instances: &str| {
            let text = format!(
                "listen = \"127.0.0.1:0\"\npublic_host = \"h\"\n[auth]\nsigning_key = \"k\"\n\
                 [store]\nsqlite = \"s\"\n[janus]\n{instances}"
            );
            toml::from_str::<ServiceConfig>(&text).unwrap().validate()
        };
        let one = |name: &str, url: &str| {
            format!("[[janus.instances]]\nname = \"{name}\"\nregion = \"eu\"\nurl = \"{url}\"\n")
        };
        assert!(with(&one("a", "ws://10.0.0.1:8188")).is_ok());
        assert!(with("instances = []\n").is_err());
        assert!(with(&one("a", "http://10.0.0.1:8088/janus")).is_err());
        let twice = one("a", "ws://10.0.0.1:8188") + &one("a", "ws://10.0.0.2:8188");
        assert!(with(&twice).is_err());
        let bad_ip = one("a", "ws://10.0.0.1:8188") + "cascade_ip = \"janus-a\"\n";
        let admin = one("a", "ws://10.0.0.1:8188") + "admin_url = \"ws://127.0.0.1:7188\"\n";
        assert!(with(&admin).is_err(), "admin_url without its secret file");
        assert!(with(&(admin.clone() + "admin_secret_file = \"/s\"\n")).is_ok());
        let http_admin = one("a", "ws://10.0.0.1:8188")
            + "admin_url = \"http://127.0.0.1:7088/admin\"\nadmin_secret_file = \"/s\"\n";
        assert!(with(&http_admin).is_err());
        assert!(with(&bad_ip).is_err());
    }

    #[test]
    fn a_tls_cluster_needs_its_ca_file_and_a_tls_listener() {
        let with = |tls: bool, cluster: &str| {
            let mut text = format!(
                "listen = \"127.0.0.1:0\"\npublic_host = \"h\"\n[auth]\nsigning_key = \"k\"\n\
                 [store]\nsqlite = \"s\"\n[cluster]\nsecret_file = \"f\"\n{cluster}"
            );
            if tls {
                text += "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";
            }
            toml::from_str::<ServiceConfig>(&text).unwrap().validate()
        };
        assert!(with(false, "advertise = \"ws://10.0.0.5:8080\"\n").is_ok());
        let wss = "advertise = \"wss://10.0.0.5:8443\"\n";
        assert!(with(true, &format!("{wss}ca_file = \"ca.pem\"\n")).is_ok());
        assert!(with(true, wss).is_err(), "wss without a CA to trust");
        assert!(with(false, &format!("{wss}ca_file = \"ca.pem\"\n")).is_err());
        assert!(with(
            false,
            "advertise = \"ws://10.0.0.5:8080\"\nca_file = \"ca.pem\"\n"
        )
        .is_err());
        for bad in [
            "https://10.0.0.5",
            "ws://10.0.0.5",
            "wss://10.0.0.5:8443/x",
            "10.0.0.5:1",
        ] {
            assert!(
                with(true, &format!("advertise = \"{bad}\"\n")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_free_duration_override_touches_only_the_free_plan() {
        let mut c = config("127.0.0.1:0", false);
        c.limits.free_room_secs = Some(7);
        assert_eq!(c.limits.room_duration(Tier::Free), Duration::from_secs(7));
        assert_eq!(
            c.limits.room_duration(Tier::Pro),
            Tier::Pro.entitlements().max_duration
        );
    }
}
