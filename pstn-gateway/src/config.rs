//! Gateway configuration: one `[[trunk]]` table per SIP trunk, read from TOML
//! (see `gateway.example.toml`). Parsing is strict (unknown keys are errors, so a typo
//! does not silently disable an allow-list) and every error names its field.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use crate::g711::G711;
use crate::rules::RulesConfig;
use crate::sdp::Codec;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not valid TOML, a missing or unknown key, or a value of the wrong type; the message
    /// names the key and the line.
    #[error("gateway config: {0}")]
    Toml(#[from] toml::de::Error),
    /// A value is of the right type but not acceptable.
    #[error("gateway config: {field}: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. `trunk[0].codecs`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// SIP transport toward a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP (every trunk supports it).
    #[default]
    Udp,
    /// TCP (for large messages or trunks that prefer it). Signalling in clear.
    Tcp,
    /// TLS over TCP (SIP signalling encrypted; needs [`TlsFiles`]).
    Tls,
}

/// SRTP (SDES keys, RFC 4568) on a trunk's RTP leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpMode {
    /// Plain RTP; an RTP/SAVP offer is refused (488).
    Off,
    /// SRTP when the peer offers or accepts a usable key, plain RTP otherwise.
    Optional,
    /// SRTP or no call: SDP without a usable key is refused (488) or the call ended.
    Required,
}

impl SrtpMode {
    /// The default for a transport: `Required` on TLS (SDES keys travel in the SIP, which
    /// only TLS keeps secret), `Off` on UDP and TCP.
    pub fn default_for(transport: Transport) -> Self {
        match transport {
            Transport::Tls => SrtpMode::Required,
            Transport::Udp | Transport::Tcp => SrtpMode::Off,
        }
    }
}

/// Certificate files of a TLS trunk (paths to PEM files, read when the gateway starts).
#[derive(Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Our certificate chain, presented to trunks that connect to our listener.
    pub certificate: PathBuf,
    /// Its private key (PKCS#8 or PKCS#1). Its contents are never logged.
    pub key: PathBuf,
    /// CA certificates that may sign the trunk's server certificate; `None`: the system
    /// roots ([`SYSTEM_ROOTS`]).
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("certificate", &self.certificate)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// Where the system's CA bundle is looked for when a TLS trunk names no `tls_ca_file`
/// (Debian/Ubuntu, then Fedora/RHEL, then Alpine/macOS); `SSL_CERT_FILE` comes first.
pub const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Credentials the gateway demands from a carrier's INVITEs (a 407 challenge), for trunks
/// that can authenticate toward their origination URI.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundAuth {
    /// Realm put in the challenge.
    pub realm: String,
    /// Expected user name.
    pub username: String,
    /// Expected password (never logged).
    pub password: String,
}

impl std::fmt::Debug for InboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundAuth")
            .field("realm", &self.realm)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrunk {
    name: String,
    server: String,
    #[serde(default)]
    transport: Transport,
    username: Option<String>,
    password: Option<String>,
    from_domain: Option<String>,
    listen: String,
    media_ip: Option<String>,
    #[serde(default = "default_codecs")]
    codecs: Vec<String>,
    #[serde(default)]
    opus: OpusMode,
    #[serde(default)]
    dids: BTreeMap<String, String>,
    #[serde(default)]
    inbound_allow: Vec<String>,
    inbound_auth: Option<InboundAuth>,
    #[serde(default = "default_timeout")]
    answer_timeout_secs: u64,
    #[serde(default = "default_media_timeout")]
    media_timeout_secs: u64,
    tls_certificate: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca_file: Option<PathBuf>,
    srtp: Option<SrtpMode>,
}

/// Whether a trunk's SIP leg may carry Opus (RFC 7587) instead of G.711.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OpusMode {
    /// Offered first, and taken whenever the trunk's offer has it.
    Prefer,
    /// Offered after G.711, and taken when the trunk's offer lists it before G.711.
    #[default]
    Accept,
    /// Never offered nor accepted: G.711 only.
    Off,
}

fn default_codecs() -> Vec<String> {
    vec!["PCMU".into(), "PCMA".into()]
}

fn default_timeout() -> u64 {
    60
}

fn default_media_timeout() -> u64 {
    60
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, rename = "trunk")]
    trunks: Vec<RawTrunk>,
    #[serde(default)]
    rules: RulesConfig,
    #[serde(default)]
    service: ServiceConfig,
    sms: Option<crate::sms::config::RawSms>,
}

/// How much of a phone caller's number the PhantomCall side is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CallerNumber {
    /// Country and area code and the last two digits (`+1 555 …12`): enough to recognise
    /// a caller, not enough to keep a stranger's full number in every call log.
    #[default]
    Partial,
    /// The whole number (a user's own line, where callers are known).
    Full,
}

/// The `[service]` table: how the gateway joins phone calls to PhantomCall users (the
/// `phantomcall gateway serve` command). Keys are checked by the service when it starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The trunk that carries users' outbound calls (default: the first trunk).
    pub outbound_trunk: Option<String>,
    /// Most bridged calls at once (both directions).
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
    /// How a phone caller's number is shown to the user it rings.
    #[serde(default)]
    pub caller_number: CallerNumber,
    /// Hotline name (as in a DID target `hotline:<name>`) -> the hotline's npub.
    #[serde(default)]
    pub hotlines: BTreeMap<String, String>,
    /// Users enrolled for outbound calls: npub -> prepaid credit in minutes (in all: what
    /// they used is kept in `state_db` and subtracted).
    #[serde(default)]
    pub users: BTreeMap<String, u32>,
    /// SQLite file keeping the minutes each user has used, so a restart gives nobody their
    /// credit back. Without it, credit starts afresh at every start (and a warning says so).
    pub state_db: Option<std::path::PathBuf>,
}

fn default_max_calls() -> usize {
    20
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            outbound_trunk: None,
            max_calls: default_max_calls(),
            caller_number: CallerNumber::default(),
            hotlines: BTreeMap::new(),
            users: BTreeMap::new(),
            state_db: None,
        }
    }
}

/// An address or network in an allow-list (`203.0.113.7` or `54.172.60.0/30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `ip` or `ip/prefix`.
    pub fn parse(text: &str) -> Option<Self> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let addr: IpAddr = ip.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// One SIP trunk.
#[derive(Clone)]
pub struct TrunkConfig {
    /// Name used by [`crate::Gateway::dial`] and in logs.
    pub name: String,
    /// The trunk's SIP server, `host:port` (e.g. `mytrunk.pstn.twilio.com:5060`).
    pub server: String,
    /// SIP transport.
    pub transport: Transport,
    /// Certificate files; `Some` exactly when `transport` is TLS.
    pub tls: Option<TlsFiles>,
    /// SRTP on the RTP leg (default [`SrtpMode::default_for`] the transport).
    pub srtp: SrtpMode,
    /// Digest user name for outbound calls, if the trunk authenticates by credentials.
    pub username: Option<String>,
    /// Digest password (never logged; `Debug` hides it).
    pub password: Option<String>,
    /// Host part of our From URI (defaults to the server's host).
    pub from_domain: String,
    /// Our SIP listen address for this trunk.
    pub listen: SocketAddr,
    /// Our RTP address, put in SDP (defaults to `listen`'s IP).
    pub media_ip: IpAddr,
    /// Codecs allowed, in our offer's order (G.711 from `codecs`, Opus placed by `opus`;
    /// builds without the `bridge` feature have no Opus encoder and never carry it).
    pub codecs: Vec<Codec>,
    /// The trunk's Opus setting (`prefer` also means: answer with Opus whenever offered).
    pub opus: OpusMode,
    /// Inbound DID (E.164 as the trunk sends it, or its user part) -> target (opaque:
    /// a hotline id or a user's npub; the bridge interprets it).
    pub dids: BTreeMap<String, String>,
    /// Source addresses allowed to send us INVITEs. Empty refuses every inbound call.
    pub inbound_allow: Vec<IpNet>,
    /// Digest challenge for inbound INVITEs, if configured.
    pub inbound_auth: Option<InboundAuth>,
    /// How long an outbound call may ring before it is cancelled.
    pub answer_timeout_secs: u64,
    /// How long an answered call may go without RTP from the carrier (not on hold) before
    /// it is ended with BYE.
    pub media_timeout_secs: u64,
}

impl std::fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("transport", &self.transport)
            .field("tls", &self.tls)
            .field("srtp", &self.srtp)
            .field("username", &self.username)
            .field("listen", &self.listen)
            .field("codecs", &self.codecs)
            .field("dids", &self.dids.len())
            .finish_non_exhaustive()
    }
}

/// The whole gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Trunks, in file order.
    pub trunks: Vec<TrunkConfig>,
    /// Credit, destination and rate-limit rules.
    pub rules: RulesConfig,
    /// How calls are joined to PhantomCall users.
    pub service: ServiceConfig,
    /// The SMS bridge (`[sms]`), if configured.
    pub sms: Option<crate::sms::SmsConfig>,
}

impl GatewayConfig {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)?;
        let mut trunks = Vec::new();
        for (i, t) in raw.trunks.into_iter().enumerate() {
            let trunk = validate_trunk(i, t)?;
            if trunks.iter().any(|o: &TrunkConfig| o.name == trunk.name) {
                return Err(invalid(format!("trunk[{i}].name"), "duplicate trunk name"));
            }
            trunks.push(trunk);
        }
        raw.rules.validate()?;
        if let Some(name) = &raw.service.outbound_trunk {
            if !trunks.iter().any(|t| &t.name == name) {
                return Err(invalid("service.outbound_trunk", "no trunk of that name"));
            }
        }
        if raw.service.max_calls == 0 {
            return Err(invalid("service.max_calls", "at least 1"));
        }
        let sms = raw.sms.map(|s| s.validate()).transpose()?;
        Ok(GatewayConfig {
            trunks,
            rules: raw.rules,
            service: raw.service,
            sms,
        })
    }

    /// Finds a trunk by name.
    pub fn trunk(&self, name: &str) -> Option<&TrunkConfig> {
        self.trunks.iter().find(|t| t.name == name)
    }
}

fn validate_trunk(i: usize, t: RawTrunk) -> Result<TrunkConfig, ConfigError> {
    let f = |name: &str| format!("trunk[{i}].{name}");
    if t.name.is_empty()
        || !t
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err(invalid(f("name"), "letters, digits, - and _ only"));
    }
    let (host, port) = t
        .server
        .rsplit_once(':')
        .ok_or_else(|| invalid(f("server"), "expected host:port"))?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(invalid(f("server"), "expected host:port"));
    }
    if t.username.is_some() != t.password.is_some() {
        return Err(invalid(f("password"), "username and password go together"));
    }
    let listen: SocketAddr = t
        .listen
        .parse()
        .map_err(|_| invalid(f("listen"), "expected ip:port"))?;
    let media_ip = match &t.media_ip {
        Some(ip) => ip
            .parse()
            .map_err(|_| invalid(f("media_ip"), "expected an IP"))?,
        None if listen.ip().is_unspecified() => {
            return Err(invalid(
                f("media_ip"),
                "required when listen is a wildcard address",
            ))
        }
        None => listen.ip(),
    };
    let mut codecs = Vec::new();
    for c in &t.codecs {
        // Opus has its own setting (`opus`): G.711 stays the fallback every trunk has.
        let codec = G711::from_name(c)
            .map(Codec::G711)
            .ok_or_else(|| invalid(f("codecs"), format!("unknown codec {c:?} (PCMU, PCMA)")))?;
        if !codecs.contains(&codec) {
            codecs.push(codec);
        }
    }
    if codecs.is_empty() {
        return Err(invalid(f("codecs"), "at least one of PCMU, PCMA"));
    }
    let opus = if cfg!(feature = "bridge") {
        t.opus
    } else {
        OpusMode::Off
    };
    match opus {
        OpusMode::Prefer => codecs.insert(0, Codec::Opus),
        OpusMode::Accept => codecs.push(Codec::Opus),
        OpusMode::Off => {}
    }
    let mut inbound_allow = Vec::new();
    for (j, net) in t.inbound_allow.iter().enumerate() {
        inbound_allow.push(IpNet::parse(net).ok_or_else(|| {
            invalid(
                format!("trunk[{i}].inbound_allow[{j}]"),
                "expected an IP or IP/prefix",
            )
        })?);
    }
    for (did, target) in &t.dids {
        if did.is_empty() || target.is_empty() {
            return Err(invalid(f("dids"), "empty DID or target"));
        }
    }
    if let Some(auth) = &t.inbound_auth {
        if auth.username.is_empty() || auth.password.len() < 12 {
            return Err(invalid(
                f("inbound_auth.password"),
                "a user name and a password of 12 characters or more",
            ));
        }
    }
    if t.answer_timeout_secs == 0 || t.answer_timeout_secs > 600 {
        return Err(invalid(f("answer_timeout_secs"), "1 to 600"));
    }
    if t.media_timeout_secs == 0 || t.media_timeout_secs > 3600 {
        return Err(invalid(f("media_timeout_secs"), "1 to 3600"));
    }
    let tls = validate_tls(i, &t)?;
    Ok(TrunkConfig {
        tls,
        srtp: t.srtp.unwrap_or(SrtpMode::default_for(t.transport)),
        from_domain: t.from_domain.unwrap_or_else(|| host.to_string()),
        name: t.name,
        server: t.server,
        transport: t.transport,
        username: t.username,
        password: t.password,
        listen,
        media_ip,
        codecs,
        opus,
        dids: t.dids,
        inbound_allow,
        inbound_auth: t.inbound_auth,
        answer_timeout_secs: t.answer_timeout_secs,
        media_timeout_secs: t.media_timeout_secs,
    })
}

/// TLS trunks need our certificate and key; other trunks must not name TLS files (a
/// `transport` typo must not leave an operator believing the signalling is encrypted).
fn validate_tls(i: usize, t: &RawTrunk) -> Result<Option<TlsFiles>, ConfigError> {
    let f = |name: &str| format!("trunk[{i}].{name}");
    if t.transport != Transport::Tls {
        if t.tls_certificate.is_some() || t.tls_key.is_some() || t.tls_ca_file.is_some() {
            return Err(invalid(
                f("transport"),
                "tls_certificate, tls_key and tls_ca_file need transport = \"tls\"",
            ));
        }
        return Ok(None);
    }
    let nonempty = |p: &Option<PathBuf>, name: &str| match p {
        Some(p) if !p.as_os_str().is_empty() => Ok(p.clone()),
        _ => Err(invalid(f(name), "required with transport = \"tls\"")),
    };
    Ok(Some(TlsFiles {
        certificate: nonempty(&t.tls_certificate, "tls_certificate")?,
        key: nonempty(&t.tls_key, "tls_key")?,
        ca_file: t.tls_ca_file.clone(),
    }))
}

#[cfg(test)]
mod tests;
