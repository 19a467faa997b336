//! Janus VideoRoom as a media backend: conferences beyond one machine on an existing SFU
//! engine (DESIGN.md section 8), driven through Janus's WebSocket API.
//!
//! - [`wire`]: Janus's replies, parsed and validated (outside input; fuzzed);
//! - [`client`]: one Janus session: transactions, keep-alives, per-handle events;
//! - [`subscriber`]: a participant's receiving connection and its renegotiations;
//! - [`admin`]: Janus's Admin API replies (handle counters), parsed and validated (fuzzed);
//! - [`poller`]: forwarded bitrate and packet loss per instance from those counters;
//! - [`backend`]: [`JanusBackend`], rooms across instances: each participant publishes on
//!   the instance it was placed on ([`place`]), and every other instance that has members
//!   of the room gets its media through VideoRoom's remote publishers
//!   (`add_remote_publisher` there, `publish_remotely` here). Rooms require end-to-end
//!   encryption (`require_e2ee`): Janus forwards the SFrame ciphertext as is.
//!
//! What it must never do: hold media keys, or hand a client anything but the SDP Janus
//! produced for it (clients talk only to the conference service).

pub mod admin;
pub mod backend;
pub mod client;
pub mod poller;
pub mod subscriber;
pub mod wire;

use serde::Deserialize;

pub use backend::JanusBackend;

/// The `[janus]` table of the service's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JanusConfig {
    /// The instances, at least one.
    pub instances: Vec<InstanceConfig>,
    /// The region assumed for participants who name none (this service's own region).
    #[serde(default)]
    pub region: Option<String>,
    /// Milliseconds between two polls of each instance's Admin API for media counters
    /// (default 5000).
    #[serde(default)]
    pub stats_every_ms: Option<u64>,
}

/// One Janus instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// A short name for logs and metrics.
    pub name: String,
    /// Its WebSocket API (`ws://host:8188`), on a private network or loopback.
    pub url: String,
    /// The region it serves.
    pub region: String,
    /// The address other instances send this instance's remote publishers' RTP to, and
    /// which it binds for them (a private address).
    #[serde(default = "default_cascade_ip")]
    pub cascade_ip: String,
    /// Participants it takes at most; beyond, new ones go elsewhere.
    #[serde(default = "default_capacity")]
    pub max_participants: usize,
    /// Draining: no new participants go there; those on it stay until they leave. Re-read on
    /// SIGHUP, so an instance can be emptied before it is taken down.
    #[serde(default)]
    pub drain: bool,
    /// Its Admin API (`ws://host:7188`, loopback or private network), polled for the
    /// forwarded bitrate and packet loss; without it the instance's media is not measured.
    #[serde(default)]
    pub admin_url: Option<String>,
    /// A file whose first line is the Admin API's secret (`admin_secret` in `janus.jcfg`).
    #[serde(default)]
    pub admin_secret_file: Option<std::path::PathBuf>,
}

fn default_cascade_ip() -> String {
    "127.0.0.1".to_owned()
}

fn default_capacity() -> usize {
    200
}

/// An instance as placement sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub region: &'a str,
    pub load: usize,
    pub capacity: usize,
    pub up: bool,
}

/// Where a new participant goes: among reachable instances with room to spare, those of
/// `region` first, then the least loaded (ties: the first configured). `None`: nowhere.
pub fn place(instances: &[Candidate<'_>], region: Option<&str>) -> Option<usize> {
    let open = |c: &Candidate<'_>| c.up && c.load < c.capacity;
    let best = |in_region: bool| {
        instances
            .iter()
            .enumerate()
            .filter(|(_, c)| open(c) && (!in_region || Some(c.region) == region))
            .min_by_key(|(i, c)| (c.load, *i))
            .map(|(i, _)| i)
    };
    best(true).or_else(|| best(false))
}

#[cfg(test)]
mod tests {
    use super::{place, Candidate};

    fn c(region: &str, load: usize, up: bool) -> Candidate<'_> {
        Candidate {
            region,
            load,
            capacity: 3,
            up,
        }
    }

    #[test]
    fn placement_prefers_the_region_then_the_least_loaded_then_anywhere_open() {
        let all = [c("eu", 2, true), c("us", 0, true), c("eu", 1, true)];
        assert_eq!(place(&all, Some("eu")), Some(2));
        assert_eq!(place(&all, Some("us")), Some(1));
        assert_eq!(place(&all, None), Some(1));
        // The region's instances are down or full: the least loaded elsewhere.
        let all = [c("eu", 3, true), c("us", 2, true), c("eu", 0, false)];
        assert_eq!(place(&all, Some("eu")), Some(1));
        let none = [c("eu", 3, true), c("us", 0, false)];
        assert_eq!(place(&none, Some("eu")), None);
    }
}
