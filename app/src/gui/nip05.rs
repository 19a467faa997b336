//! Contact addresses the user types: npub, nprofile (with its relay hints) or hex keys,
//! decoded with nostr-sdk, and NIP-05 names (`name@domain`), looked up over HTTPS.
//!
//! The lookup blocks (DNS, TLS, one GET), so the app runs it off the UI thread
//! (`Backend::resolve_nip05`). It goes through the SOCKS5 proxy when one is set (the proxy
//! resolves the host name too, so the DNS query does not leave the machine either),
//! follows no redirect (NIP-05: "fetchers MUST ignore any HTTP redirects"), reads at most
//! [`MAX_DOCUMENT`] bytes, and every failure is a sentence a user can act on.

use std::net::SocketAddr;
use std::time::Duration;

use nostr_sdk::nips::nip05::{Nip05Address, Nip05Profile};
use nostr_sdk::nips::nip19::{FromBech32, Nip19Profile};
use nostr_sdk::{PublicKey, RelayUrl};

/// Largest `nostr.json` read: real ones are a few kilobytes; a huge one is refused rather
/// than held in memory.
pub const MAX_DOCUMENT: u64 = 256 * 1024;
/// How long one lookup may take in all (DNS, connect, TLS, answer). Over Tor a first
/// circuit can take several seconds.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Relay hints kept per contact: an nprofile may carry many; a handful is enough to reach
/// someone and bounds what a pasted string can make us connect to.
pub const MAX_RELAY_HINTS: usize = 8;

/// What the user typed in the contact field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactAddress {
    /// A key (npub, hex) with the relay hints an nprofile carried (none otherwise).
    Key(PublicKey, Vec<RelayUrl>),
    /// A NIP-05 name, to be looked up.
    Nip05(Nip05Address),
}

/// Why a contact address was refused or did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Neither a key nor a NIP-05 name.
    #[error("that is not a valid npub, nprofile or NIP-05 name (name@domain)")]
    Unrecognised,
    /// An nprofile that does not decode.
    #[error("that nprofile is damaged (it does not decode): copy it again")]
    BadNprofile,
    /// A `name@domain` that is not a valid NIP-05 address.
    #[error("{0:?} is not a valid NIP-05 name (name@domain)")]
    BadNip05(String),
    /// The domain could not be reached (offline, no DNS, refused, timed out).
    #[error("could not reach {domain} to look up {address}: are you offline? ({detail})")]
    Unreachable {
        /// The name looked up.
        address: String,
        /// Its domain.
        domain: String,
        /// What failed, in the HTTP client's words.
        detail: String,
    },
    /// The domain answered, but not with the name.
    #[error("{address} does not resolve: {reason}")]
    NotFound {
        /// The name looked up.
        address: String,
        /// Why (HTTP status, name missing, not a NIP-05 document).
        reason: String,
    },
}

/// Parses what the user typed: `nostr:` prefixes are allowed; nprofile relay hints are
/// kept (at most [`MAX_RELAY_HINTS`]).
pub fn parse_contact_address(text: &str) -> Result<ContactAddress, AddressError> {
    let text = text.trim();
    let text = text.strip_prefix("nostr:").unwrap_or(text);
    if text.starts_with("nprofile1") {
        let profile = Nip19Profile::from_bech32(text).map_err(|_| AddressError::BadNprofile)?;
        let mut relays = profile.relays;
        relays.truncate(MAX_RELAY_HINTS);
        return Ok(ContactAddress::Key(profile.public_key, relays));
    }
    if text.contains('@') {
        let valid = text.split('@').count() == 2
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        let address =
            Nip05Address::parse(text).map_err(|_| AddressError::BadNip05(text.to_owned()))?;
        if !valid || address.domain().is_empty() || address.name().is_empty() {
            return Err(AddressError::BadNip05(text.to_owned()));
        }
        return Ok(ContactAddress::Nip05(address));
    }
    PublicKey::parse(text)
        .map(|k| ContactAddress::Key(k, Vec::new()))
        .map_err(|_| AddressError::Unrecognised)
}

/// How NIP-05 names are looked up.
#[derive(Debug, Clone, Default)]
pub struct Nip05Resolver {
    /// SOCKS5 proxy (Tor) the lookup goes through, as the relays do.
    pub proxy: Option<SocketAddr>,
    /// Tests only: `http://127.0.0.1:PORT` instead of `https://DOMAIN`, so a loopback
    /// server can answer. The settings cannot set it: users always get HTTPS.
    pub base_override: Option<String>,
}

impl Nip05Resolver {
    /// The URL fetched for `address`.
    pub fn url(&self, address: &Nip05Address) -> String {
        match &self.base_override {
            Some(base) => format!(
                "{}/.well-known/nostr.json?name={}",
                base.trim_end_matches('/'),
                address.name()
            ),
            None => address.url().to_string(),
        }
    }

    /// Looks `address` up (blocking; at most [`LOOKUP_TIMEOUT`]).
    pub fn resolve(&self, address: &Nip05Address) -> Result<Nip05Profile, AddressError> {
        let unreachable = |detail: String| AddressError::Unreachable {
            address: address.to_string(),
            domain: address.domain().to_owned(),
            detail,
        };
        let not_found = |reason: String| AddressError::NotFound {
            address: address.to_string(),
            reason,
        };
        let proxy = match self.proxy {
            Some(addr) => {
                Some(socks5h(addr).map_err(|e| unreachable(format!("proxy {addr}: {e}")))?)
            }
            None => None,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(LOOKUP_TIMEOUT))
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(proxy)
            .build()
            .into();
        let mut response = agent
            .get(&self.url(address))
            .call()
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(not_found(format!(
                "{} redirects (HTTP {}), which NIP-05 forbids following",
                address.domain(),
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(not_found(format!(
                "{} answered HTTP {}",
                address.domain(),
                status.as_u16()
            )));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_DOCUMENT)
            .read_to_string()
            .map_err(|e| not_found(format!("its nostr.json could not be read ({e})")))?;
        let json: serde_json::Value = serde_json::from_str(&body)
            .map_err(|_| not_found(format!("{} did not send JSON", address.domain())))?;
        let mut profile = Nip05Profile::from_json(address, &json).map_err(|_| {
            not_found(format!(
                "{} lists no key for {:?}",
                address.domain(),
                address.name()
            ))
        })?;
        profile.relays.truncate(MAX_RELAY_HINTS);
        Ok(profile)
    }
}

/// The proxy at `addr`, which resolves host names itself (`socks5h`): with `socks5` the
/// HTTP client resolves the name first, and a Tor user's DNS query for the NIP-05 domain
/// would go to their ISP.
fn socks5h(addr: SocketAddr) -> Result<ureq::Proxy, ureq::Error> {
    let proxy = ureq::Proxy::new(&format!("socks5h://{addr}"))?;
    debug_assert!(!proxy.resolve_target());
    Ok(proxy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::nips::nip19::ToBech32;

    #[test]
    fn nprofile_keeps_its_relay_hints() {
        let key = nostr_sdk::Keys::generate().public_key();
        let relays = vec![
            RelayUrl::parse("wss://relay.one.example").unwrap(),
            RelayUrl::parse("wss://relay.two.example").unwrap(),
        ];
        let text = Nip19Profile::new(key, relays.clone()).to_bech32().unwrap();
        assert_eq!(
            parse_contact_address(&format!("nostr:{text}")).unwrap(),
            ContactAddress::Key(key, relays)
        );
        let mut damaged = text.clone();
        damaged.pop();
        assert_eq!(
            parse_contact_address(&damaged),
            Err(AddressError::BadNprofile)
        );
    }

    #[test]
    fn names_and_keys_are_told_apart() {
        let keys = nostr_sdk::Keys::generate();
        let npub = keys.public_key().to_bech32().unwrap();
        assert_eq!(
            parse_contact_address(&npub).unwrap(),
            ContactAddress::Key(keys.public_key(), vec![])
        );
        assert!(matches!(
            parse_contact_address("bob@example.com").unwrap(),
            ContactAddress::Nip05(a) if a.name() == "bob" && a.domain() == "example.com"
        ));
        for bad in [
            "bob@",
            "@example.com",
            "a@b@c",
            "bob@exa mple.com",
            "bob@ex/ample",
        ] {
            assert!(
                matches!(parse_contact_address(bad), Err(AddressError::BadNip05(_))),
                "{bad}"
            );
        }
        assert_eq!(
            parse_contact_address("npub1nope"),
            Err(AddressError::Unrecognised)
        );
    }
}

#[cfg(test)]
mod proxy_tests {
    //! A one-connection SOCKS5 server on loopback that answers the request itself, so a
    //! host name that only it can resolve (`*.invalid` never resolves in DNS) looks up.

    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// What the proxy was asked to connect to: the address type and the host.
    type Asked = (u8, String);

    /// Serves one SOCKS5 CONNECT (no authentication), then answers the HTTP request with
    /// `body`; returns what it was asked to connect to.
    fn serve_once(listener: TcpListener, body: String) -> std::thread::JoinHandle<Asked> {
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = [0u8; 2];
            s.read_exact(&mut head).unwrap();
            let mut methods = vec![0u8; head[1] as usize];
            s.read_exact(&mut methods).unwrap();
            s.write_all(&[5, 0]).unwrap();
            let mut req = [0u8; 4];
            s.read_exact(&mut req).unwrap();
            let host = match req[3] {
                3 => {
                    let mut len = [0u8; 1];
                    s.read_exact(&mut len).unwrap();
                    let mut name = vec![0u8; len[0] as usize];
                    s.read_exact(&mut name).unwrap();
                    String::from_utf8(name).unwrap()
                }
                1 => read_ip(&mut s, 4),
                _ => read_ip(&mut s, 16),
            };
            let mut port = [0u8; 2];
            s.read_exact(&mut port).unwrap();
            s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
            answer_http(&mut s, &body);
            (req[3], host)
        })
    }

    fn read_ip(s: &mut TcpStream, len: usize) -> String {
        let mut ip = vec![0u8; len];
        s.read_exact(&mut ip).unwrap();
        format!("{ip:?}")
    }

    /// Reads the request head and sends `body` as JSON.
    fn answer_http(s: &mut TcpStream, body: &str) {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            seen.push(byte[0]);
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(response.as_bytes()).unwrap();
    }

    #[test]
    fn nip05_lookup_through_proxy_never_resolves_locally() {
        let key = nostr_sdk::Keys::generate().public_key();
        let body = format!(r#"{{"names":{{"alice":"{}"}}}}"#, key.to_hex());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = listener.local_addr().unwrap();
        let server = serve_once(listener, body);
        // Only the proxy can resolve this name: a lookup that resolved it here would fail.
        let resolver = Nip05Resolver {
            proxy: Some(proxy),
            base_override: Some("http://nip05.invalid".into()),
        };
        let address = Nip05Address::parse("alice@example.org").unwrap();
        let profile = resolver
            .resolve(&address)
            .expect("resolved through the proxy");
        assert_eq!(profile.public_key, key);
        let (address_type, host) = server.join().unwrap();
        assert_eq!((address_type, host.as_str()), (3, "nip05.invalid"));
    }

    #[test]
    fn the_proxy_resolves_names() {
        let proxy = socks5h("127.0.0.1:9050".parse().unwrap()).unwrap();
        assert!(!proxy.resolve_target());
    }
}
