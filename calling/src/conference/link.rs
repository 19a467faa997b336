//! Conference invite links: `phantomcall://join/<host>/<uuid>` (what the app registers) and
//! `https://<host>/join/<uuid>` (the web page that opens it), turned into the service's
//! signaling URL. Depends on nothing outside `std`, so the fuzz target
//! (`fuzz/fuzz_targets/conference_link.rs`) compiles it by path.

use std::fmt;

/// Longest link accepted.
pub const MAX_LINK_BYTES: usize = 512;

/// A parsed invite link: which service, which room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceLink {
    /// The service's host, with `:port` when it has one (`[..]` around an IPv6 literal).
    pub host: String,
    /// The room id, a UUIDv4 in lowercase canonical form.
    pub room: String,
    /// Whether the service is reached over TLS (`wss`). Plain only for a loopback host.
    pub tls: bool,
}

/// Why a link was refused. The text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// Too long, or not a link of either form.
    NotAnInvite,
    /// The host part is not a host name, IP literal or `host:port`.
    BadHost,
    /// The room part is not a UUIDv4.
    BadRoom,
    /// `http://` to a host other than loopback: a session token would travel in clear.
    PlainHttp,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkError::NotAnInvite => {
                "not a conference link: expected phantomcall://join/<host>/<room> or \
                 https://<host>/join/<room>"
            }
            LinkError::BadHost => "the link's host is not valid",
            LinkError::BadRoom => "the link's room id is not a valid room id (UUIDv4)",
            LinkError::PlainHttp => {
                "an http:// link is only accepted for a service on this machine: use https://"
            }
        })
    }
}

impl std::error::Error for LinkError {}

impl ConferenceLink {
    /// Parses either form (surrounding whitespace ignored, scheme case-insensitive).
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let text = text.trim();
        if text.len() > MAX_LINK_BYTES || !text.is_ascii() {
            return Err(LinkError::NotAnInvite);
        }
        let (scheme, rest) = text.split_once("://").ok_or(LinkError::NotAnInvite)?;
        let scheme = scheme.to_ascii_lowercase();
        // A query or fragment is never part of our links; ignore what a messenger appends.
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let parts: Vec<&str> = rest.split('/').collect();
        let (host, room, tls) = match (scheme.as_str(), parts.as_slice()) {
            ("phantomcall", ["join", host, room]) => (*host, *room, !is_loopback_host(host)),
            ("https", [host, "join", room]) => (*host, *room, true),
            ("http", [host, "join", room]) => {
                if !is_loopback_host(host) {
                    return Err(LinkError::PlainHttp);
                }
                (*host, *room, false)
            }
            _ => return Err(LinkError::NotAnInvite),
        };
        if !is_host(host) {
            return Err(LinkError::BadHost);
        }
        if !is_uuid_v4(room) {
            return Err(LinkError::BadRoom);
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            room: room.to_ascii_lowercase(),
            tls,
        })
    }

    /// The service's signaling WebSocket.
    pub fn signal_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/v1/signal", self.host)
    }

    /// The app link (`phantomcall://join/<host>/<room>`), for copying.
    pub fn app_link(&self) -> String {
        format!("phantomcall://join/{}/{}", self.host, self.room)
    }

    /// The host name without port or IPv6 brackets (for TLS server name checks).
    pub fn host_name(&self) -> &str {
        host_name(&self.host)
    }
}

fn host_name(host: &str) -> &str {
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// `localhost`, 127.0.0.0/8 or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = host_name(host).to_ascii_lowercase();
    if name == "localhost" || name == "::1" {
        return true;
    }
    name.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// A DNS name or IPv4 literal (letters, digits, `-`, `.`) or a bracketed IPv6 literal,
/// then an optional `:port` (1-65535).
fn is_host(host: &str) -> bool {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return false;
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => ("x", None),
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !name.starts_with(['-', '.']);
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    name_ok && port_ok
}

/// A UUIDv4 in canonical hyphenated form (either case), RFC 4122 variant.
fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        };
        if !ok {
            return false;
        }
    }
    b[14] == b'4' && matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "3f2b8c1e-9d4a-4e7b-a1c2-0123456789ab";

    #[test]
    fn both_link_forms_name_the_service_and_the_room() {
        let app =
            ConferenceLink::parse(&format!("phantomcall://join/meet.example.org/{ROOM}")).unwrap();
        assert_eq!(app.host, "meet.example.org");
        assert_eq!(app.room, ROOM);
        assert_eq!(app.signal_url(), "wss://meet.example.org/v1/signal");
        let web = ConferenceLink::parse(&format!(" HTTPS://meet.example.org:8443/join/{ROOM}/ "))
            .unwrap();
        assert_eq!(web.signal_url(), "wss://meet.example.org:8443/v1/signal");
        assert_eq!(web.host_name(), "meet.example.org");
        assert_eq!(
            web.app_link(),
            format!("phantomcall://join/meet.example.org:8443/{ROOM}")
        );
        let local = ConferenceLink::parse(&format!("http://127.0.0.1:4000/join/{ROOM}")).unwrap();
        assert_eq!(local.signal_url(), "ws://127.0.0.1:4000/v1/signal");
        let local_app =
            ConferenceLink::parse(&format!("phantomcall://join/[::1]:4000/{ROOM}")).unwrap();
        assert!(!local_app.tls);
        assert_eq!(local_app.host_name(), "::1");
    }

    #[test]
    fn a_token_never_goes_in_clear_off_this_machine() {
        assert_eq!(
            ConferenceLink::parse(&format!("http://meet.example.org/join/{ROOM}")),
            Err(LinkError::PlainHttp)
        );
    }

    #[test]
    fn malformed_links_are_refused_with_the_reason() {
        for (link, error) in [
            ("phantomcall://call/x/y".to_owned(), LinkError::NotAnInvite),
            (format!("ftp://h/join/{ROOM}"), LinkError::NotAnInvite),
            (
                format!("https://h/join/{ROOM}/extra"),
                LinkError::NotAnInvite,
            ),
            (format!("https://user@h/join/{ROOM}"), LinkError::BadHost),
            (format!("https://h:0/join/{ROOM}"), LinkError::BadHost),
            (format!("https://h:99999/join/{ROOM}"), LinkError::BadHost),
            (format!("https://[zz]/join/{ROOM}"), LinkError::BadHost),
            ("https://h/join/not-a-uuid".to_owned(), LinkError::BadRoom),
            (
                "https://h/join/3f2b8c1e-9d4a-1e7b-a1c2-0123456789ab".to_owned(),
                LinkError::BadRoom,
            ),
            ("x".repeat(600), LinkError::NotAnInvite),
            (format!("https://hé/join/{ROOM}"), LinkError::NotAnInvite),
        ] {
            assert_eq!(ConferenceLink::parse(&link), Err(error), "{link}");
        }
    }
}
