//! The `[sms]` table of gateway.toml: which provider carries the SMS, the credentials, the
//! public webhook URL the provider was given (signatures are computed over it), the
//! gateway's own numbers and where each one's messages go, and the abuse limits. Strict
//! like the rest of the file: unknown keys are errors and every error names its field.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::number::E164;
use crate::sms::Provider;

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A secret (the provider auth token): `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for signing and HTTP authentication only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSms {
    provider: String,
    account_id: String,
    auth_token: Option<String>,
    auth_token_file: Option<PathBuf>,
    public_url: String,
    listen: String,
    api_base_url: Option<String>,
    state_db: PathBuf,
    #[serde(default)]
    numbers: BTreeMap<String, String>,
    #[serde(default = "default_max_segments")]
    max_segments: usize,
    #[serde(default = "default_sends_per_minute")]
    sends_per_minute_per_number: usize,
    #[serde(default = "default_segments_per_day")]
    segments_per_day: u64,
    #[serde(default = "default_inbound_per_minute")]
    inbound_per_minute_per_number: usize,
    help_text: Option<String>,
}

fn default_max_segments() -> usize {
    5
}
fn default_sends_per_minute() -> usize {
    30
}
fn default_segments_per_day() -> u64 {
    2000
}
fn default_inbound_per_minute() -> usize {
    10
}

/// What HELP is answered with unless `help_text` says otherwise.
pub const DEFAULT_HELP: &str =
    "PhantomCall messaging line. Reply STOP to stop messages, START to receive them again.";

/// The validated `[sms]` table.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// Twilio or Plivo.
    pub provider: Provider,
    /// Twilio Account SID or Plivo Auth ID (letters and digits; it goes into API paths).
    pub account_id: String,
    /// The auth token: signs webhooks and authenticates REST calls.
    pub auth_token: Secret,
    /// The public base URL the provider calls, without a trailing `/`: inbound messages
    /// at `{public_url}/inbound`, delivery reports at `{public_url}/status`.
    pub public_url: String,
    /// Where the webhook server listens (usually loopback behind a TLS reverse proxy).
    pub listen: SocketAddr,
    /// The provider's REST API base URL (default: the provider's public API).
    pub api_base_url: String,
    /// SQLite file for opt-outs, seen message ids and delivery states.
    pub state_db: PathBuf,
    /// Our numbers -> target (`hotline:<name>`, checked against the hotlines at start).
    pub numbers: BTreeMap<E164, String>,
    /// Most parts an outbound message may cost; longer ones are refused.
    pub max_segments: usize,
    /// Outbound messages per minute from one of our numbers.
    pub sends_per_minute_per_number: usize,
    /// Outbound parts per 24 hours for the whole gateway (the overbilling cap).
    pub segments_per_day: u64,
    /// Inbound messages per minute accepted from one sender; more are dropped.
    pub inbound_per_minute_per_number: usize,
    /// The answer to HELP.
    pub help_text: String,
    /// First retry delay of an outbound send (doubles per try). Not in the TOML: tests
    /// shorten it.
    pub retry_base: Duration,
}

/// `https://` always, `http://` only toward this machine (a test stand-in or a local
/// TLS-terminating proxy): an auth token or a signed webhook is never sent in clear.
fn check_url(field: &str, text: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(text).map_err(|_| invalid(field, "expected an http(s) URL"))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => {
            return Err(invalid(
                field,
                "must be https:// (http:// only for loopback)",
            ))
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(field, "no query, fragment or credentials"));
    }
    Ok(url)
}

impl RawSms {
    pub(crate) fn validate(self) -> Result<SmsConfig, ConfigError> {
        let provider = Provider::from_name(&self.provider)
            .ok_or_else(|| invalid("sms.provider", "\"twilio\" or \"plivo\""))?;
        if self.account_id.is_empty() || !self.account_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(invalid("sms.account_id", "letters and digits only"));
        }
        let token = match (self.auth_token, &self.auth_token_file) {
            (Some(t), None) => t,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| invalid("sms.auth_token_file", format!("cannot read: {e}")))?
                .trim()
                .to_string(),
            _ => {
                return Err(invalid(
                    "sms.auth_token",
                    "exactly one of auth_token and auth_token_file",
                ))
            }
        };
        if token.len() < 8 || token.chars().any(char::is_whitespace) {
            return Err(invalid("sms.auth_token", "8 or more characters, no spaces"));
        }
        check_url("sms.public_url", &self.public_url)?;
        let public_url = self.public_url.trim_end_matches('/').to_string();
        let listen = self
            .listen
            .parse()
            .map_err(|_| invalid("sms.listen", "expected ip:port"))?;
        let api_base_url = match self.api_base_url {
            Some(u) => {
                check_url("sms.api_base_url", &u)?;
                u.trim_end_matches('/').to_string()
            }
            None => match provider {
                Provider::Twilio => "https://api.twilio.com".into(),
                Provider::Plivo => "https://api.plivo.com".into(),
            },
        };
        if self.state_db.as_os_str().is_empty() {
            return Err(invalid("sms.state_db", "a file path"));
        }
        let mut numbers = BTreeMap::new();
        for (number, target) in self.numbers {
            let field = format!("sms.numbers.\"{}\"", crate::number::Redacted(&number));
            let n = E164::parse(&number).map_err(|_| invalid(&field, "not an E.164 number"))?;
            if n.as_str() != number {
                return Err(invalid(&field, "write the number as + and digits only"));
            }
            if target.is_empty() {
                return Err(invalid(&field, "empty target"));
            }
            // Only a hotline's shared inbox answers SMS; a text to a user's npub would have
            // nowhere to go, and dropping it quietly would lose it (docs/decisions.md).
            if !target.starts_with("hotline:") {
                return Err(invalid(
                    &field,
                    "SMS go to a hotline (\"hotline:<name>\"); a user's npub takes calls, not SMS",
                ));
            }
            numbers.insert(n, target);
        }
        if numbers.is_empty() {
            return Err(invalid("sms.numbers", "at least one of our numbers"));
        }
        if !(1..=10).contains(&self.max_segments) {
            return Err(invalid("sms.max_segments", "1 to 10"));
        }
        if self.sends_per_minute_per_number == 0 {
            return Err(invalid("sms.sends_per_minute_per_number", "at least 1"));
        }
        if self.segments_per_day == 0 {
            return Err(invalid("sms.segments_per_day", "at least 1"));
        }
        if self.inbound_per_minute_per_number == 0 {
            return Err(invalid("sms.inbound_per_minute_per_number", "at least 1"));
        }
        let help_text = self.help_text.unwrap_or_else(|| DEFAULT_HELP.to_string());
        if help_text.is_empty() || crate::sms::segments::split(&help_text).count() > 2 {
            return Err(invalid("sms.help_text", "1 to 2 SMS parts"));
        }
        Ok(SmsConfig {
            provider,
            account_id: self.account_id,
            auth_token: Secret(token),
            public_url,
            listen,
            api_base_url,
            state_db: self.state_db,
            numbers,
            max_segments: self.max_segments,
            sends_per_minute_per_number: self.sends_per_minute_per_number,
            segments_per_day: self.segments_per_day,
            inbound_per_minute_per_number: self.inbound_per_minute_per_number,
            help_text,
            retry_base: Duration::from_millis(500),
        })
    }
}

impl SmsConfig {
    /// The URL the provider posts inbound messages to (what its signature covers).
    pub fn inbound_url(&self) -> String {
        format!("{}/inbound", self.public_url)
    }

    /// The URL the provider posts delivery reports to.
    pub fn status_url(&self) -> String {
        format!("{}/status", self.public_url)
    }
}

#[cfg(test)]
mod tests;
