//! A conference service's account API as the app uses it: sign in with the wallet
//! (`/v1/auth/challenge`, then `/v1/auth/sign-in` with the signed message) and create a
//! room (`/v1/rooms`). Blocking HTTP (ureq); callers on a runtime use `spawn_blocking`.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use base64::Engine as _;
use calling::conference::ConferenceLink;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::siws::SignInInput;
use super::WalletSigner;

/// Longest reply read from the service.
const MAX_REPLY: u64 = 64 * 1024;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// A room id that passes the link parser, to check a bare host with the links' own rules.
const ANY_ROOM: &str = "00000000-0000-4000-8000-000000000000";

/// A session: the token the service issued after the wallet's sign-in.
pub struct Session {
    /// The bearer token (a JWT, one hour).
    pub access_token: Zeroizing<String>,
    /// The plan the token carries (`free`, `pro`, `enterprise`).
    pub tier: String,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
}

/// A room the service created.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedRoom {
    /// Its id (UUIDv4).
    pub room: String,
    /// `https://<host>/join/<room>`: the link to share.
    pub invite_url: String,
    /// `phantomcall://join/<host>/<room>`: opens the app directly.
    pub app_url: String,
    /// The host's plan.
    pub tier: String,
    /// How many may be in it.
    pub max_participants: u32,
    /// How long it may last.
    pub max_duration_secs: u64,
}

/// One conference service.
pub struct ConferenceService {
    /// `https://host[:port]` (or `http://` on loopback).
    base: String,
    /// The host as the service names itself in sign-in requests.
    domain: String,
    agent: ureq::Agent,
}

impl ConferenceService {
    /// The service at `address`: a host (`meet.example.org`, `host:port`), an `https://`
    /// URL, or any invite link of it. Plain `http://` only for a service on this machine.
    pub fn new(address: &str) -> Result<Self> {
        let address = address.trim();
        if let Ok(link) = ConferenceLink::parse(address) {
            return Ok(Self::for_link(&link));
        }
        let (scheme, rest) = match address.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, address),
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let as_link = match scheme.as_deref() {
            Some("https") => format!("https://{host}/join/{ANY_ROOM}"),
            Some("http") => format!("http://{host}/join/{ANY_ROOM}"),
            None => format!("phantomcall://join/{host}/{ANY_ROOM}"),
            Some(other) => bail!("a conference service is reached over https, not {other}://"),
        };
        let link = ConferenceLink::parse(&as_link)
            .map_err(|e| anyhow!("{address:?} is not a conference service address: {e}"))?;
        Ok(Self::for_link(&link))
    }

    /// The service an invite link points to.
    pub fn for_link(link: &ConferenceLink) -> Self {
        let scheme = if link.tls { "https" } else { "http" };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base: format!("{scheme}://{}", link.host),
            domain: link.host.clone(),
            agent,
        }
    }

    /// The host it is reached at (what its sign-in requests must name).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Signs in with `wallet`: fetches the service's sign-in input, checks it is for this
    /// service, has the wallet sign the message and exchanges it for a session.
    pub fn sign_in(&self, wallet: &dyn WalletSigner) -> Result<Session> {
        let challenge = self.post("/v1/auth/challenge", None, &json!({}))?;
        let input = SignInInput::parse(&challenge.to_string())?;
        let address = wallet.address();
        let message = input.message(&address, &self.domain)?;
        let signature = wallet.sign_message(message.as_bytes())?;
        let body = json!({
            "message": message,
            "signature": base64::engine::general_purpose::STANDARD.encode(signature),
            "address": address,
        });
        let reply = self.post("/v1/auth/sign-in", None, &body)?;
        let token = reply["access_token"]
            .as_str()
            .filter(|t| !t.is_empty() && t.len() < 4096)
            .context("the service's sign-in reply has no session token")?;
        Ok(Session {
            access_token: Zeroizing::new(token.to_owned()),
            tier: reply["tier"].as_str().unwrap_or("free").to_owned(),
            expires_at: reply["expires_at"].as_i64().unwrap_or(0),
        })
    }

    /// Creates a room hosted by the session's wallet.
    pub fn create_room(&self, session: &Session) -> Result<CreatedRoom> {
        let reply = self.post("/v1/rooms", Some(&session.access_token), &json!({}))?;
        let room: CreatedRoom = serde_json::from_value(reply)
            .context("the service's reply to creating a room is malformed")?;
        // The links must lead back to this service and this room, or they are not ours.
        let link = ConferenceLink::parse(&room.app_url)
            .map_err(|e| anyhow!("the service sent an unusable room link: {e}"))?;
        if link.room != room.room || !link.host.eq_ignore_ascii_case(&self.domain) {
            bail!("the service sent a room link for another service or room");
        }
        Ok(room)
    }

    fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request
            .send(body.to_string())
            .map_err(|e| anyhow!("cannot reach the conference service at {}: {e}", self.base))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY)
            .read_to_string()
            .map_err(|e| anyhow!("the conference service's reply could not be read: {e}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let message = value["message"]
                .as_str()
                .map(|m| m.chars().take(200).collect::<String>())
                .unwrap_or_else(|| format!("HTTP {status}"));
            bail!("the conference service refused: {message}");
        }
        if !value.is_object() {
            bail!("the conference service did not answer with JSON");
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_addresses_in_every_form_users_paste() {
        for (given, domain, base) in [
            (
                "meet.example.org",
                "meet.example.org",
                "https://meet.example.org",
            ),
            (
                "https://Meet.Example.org/",
                "meet.example.org",
                "https://meet.example.org",
            ),
            (
                "meet.example.org:8443",
                "meet.example.org:8443",
                "https://meet.example.org:8443",
            ),
            (
                "http://127.0.0.1:8080",
                "127.0.0.1:8080",
                "http://127.0.0.1:8080",
            ),
            ("127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1:8080"),
            (
                "https://meet.example.org/join/3f2b8c1e-9d4a-4e7b-a1c2-0123456789ab",
                "meet.example.org",
                "https://meet.example.org",
            ),
        ] {
            let service = ConferenceService::new(given).unwrap();
            assert_eq!(
                (service.domain(), service.base.as_str()),
                (domain, base),
                "{given}"
            );
        }
    }

    #[test]
    fn plain_http_to_another_machine_and_other_schemes_are_refused() {
        let err = ConferenceService::new("http://meet.example.org")
            .err()
            .unwrap();
        assert!(err.to_string().contains("https"), "{err}");
        assert!(ConferenceService::new("ftp://meet.example.org").is_err());
        assert!(ConferenceService::new("not a host").is_err());
    }
}
