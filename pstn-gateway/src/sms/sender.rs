//! Outbound SMS: a reply from the hotline inbox sent through the provider's REST API.
//!
//! Before anything is sent (and billed) the message is checked: it must come from one of
//! our numbers, go to someone who has not opted out, fit in `max_segments` parts, and stay
//! within the per-number rate and the gateway's daily budget of parts. The HTTP call is
//! retried with exponential backoff on 429 and 5xx (the provider did not take the message)
//! and on a refused connection; a 4xx is a clear error at once. A timeout after the request
//! was sent is *not* retried: the provider may have taken it, and a retry would send the
//! text twice.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::number::{Redacted, E164};
use crate::sms::limits::{DailyBudget, PerMinute};
use crate::sms::segments::{self, Encoding};
use crate::sms::store::StoreError;
use crate::sms::{DeliveryStatus, Provider, SmsConfig, SmsStore};

/// Tries of one send (the first and three retries).
const MAX_ATTEMPTS: u32 = 4;
/// Longest wait a provider's `Retry-After` can impose between tries.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Largest provider response read.
const MAX_RESPONSE: u64 = 64 * 1024;

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// `from` is not one of `[sms.numbers]`.
    #[error("sms: the sender is not one of the gateway's numbers")]
    NotOurNumber,
    /// The recipient sent STOP; it must send START before it gets messages again.
    #[error("sms: the recipient has opted out (STOP); not sent")]
    OptedOut,
    /// Nothing to send.
    #[error("sms: empty message")]
    Empty,
    /// More parts than `max_segments` allows.
    #[error("sms: message needs {segments} parts, at most {max} allowed")]
    TooLong {
        /// Parts the text needs.
        segments: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Too many messages from this number in the last minute.
    #[error("sms: rate limit for this number reached, try again in a minute")]
    RateLimited,
    /// The gateway's daily budget of parts is spent.
    #[error("sms: daily SMS budget spent")]
    BudgetExhausted,
    /// The provider refused the message (4xx); `code` is its error code where it gives one.
    #[error("sms: provider refused the message (HTTP {status}, code {code:?})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Provider error code (Twilio's numeric codes).
        code: Option<String>,
    },
    /// The provider could not be reached or kept failing after every retry.
    #[error("sms: provider unavailable after {attempts} tries (last HTTP status {last_status:?})")]
    Unavailable {
        /// Tries made.
        attempts: u32,
        /// Last HTTP status, if any response came.
        last_status: Option<u16>,
    },
    /// The provider accepted but its answer had no message id.
    #[error("sms: provider answer without a message id")]
    BadResponse,
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// The provider's id, which delivery reports carry.
    pub provider_message_id: String,
    /// Parts billed.
    pub segments: usize,
    /// Alphabet used.
    pub encoding: Encoding,
}

/// Sends SMS through the configured provider. Cheap to clone.
#[derive(Clone)]
pub struct SmsSender {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<SmsConfig>,
    store: Arc<SmsStore>,
    agent: ureq::Agent,
    per_number: Mutex<PerMinute>,
    budget: Mutex<DailyBudget>,
}

/// One HTTP try's outcome.
enum Try {
    /// Status, body, and the `Retry-After` header in seconds if present.
    Done(u16, String, Option<u64>),
    /// Nothing reached the provider (connection refused or failed before sending).
    NotConnected,
    /// Failed after the request may have been sent (timeout, broken connection).
    Unknown,
}

impl SmsSender {
    /// A sender for `config`'s provider, recording messages in `store`.
    pub fn new(config: Arc<SmsConfig>, store: Arc<SmsStore>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            // A redirected POST would resend the message elsewhere: never follow.
            .max_redirects(0)
            .build()
            .into();
        SmsSender {
            inner: Arc::new(Inner {
                per_number: Mutex::new(PerMinute::new(
                    config.sends_per_minute_per_number,
                    "outbound",
                )),
                budget: Mutex::new(DailyBudget::new(config.segments_per_day)),
                config,
                store,
                agent,
            }),
        }
    }

    /// The delivery state of a message sent earlier.
    pub fn status(&self, provider_message_id: &str) -> Result<Option<DeliveryStatus>, StoreError> {
        self.inner.store.status(provider_message_id)
    }

    /// Sends `text` from our number `from` to `to`.
    pub async fn send(&self, from: &E164, to: &E164, text: &str) -> Result<SentSms, SendError> {
        let inner = &self.inner;
        let config = &inner.config;
        if !config.numbers.contains_key(from) {
            return Err(SendError::NotOurNumber);
        }
        let parts = segments::split(text);
        if parts.count() == 0 {
            return Err(SendError::Empty);
        }
        if parts.count() > config.max_segments {
            return Err(SendError::TooLong {
                segments: parts.count(),
                max: config.max_segments,
            });
        }
        if inner.store.is_opted_out(to)? {
            tracing::info!(to = %Redacted(to.as_str()), "sms: not sent, recipient opted out");
            return Err(SendError::OptedOut);
        }
        let now = Instant::now();
        if !lock(&inner.per_number).allow(from, now) {
            return Err(SendError::RateLimited);
        }
        if !lock(&inner.budget).spend(parts.count() as u64, now) {
            return Err(SendError::BudgetExhausted);
        }
        let (url, content_type, body) = request_for(config, from, to, text);
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                config.account_id,
                config.auth_token.expose()
            ))
        );
        let mut last_status = None;
        for attempt in 1..=MAX_ATTEMPTS {
            let agent = inner.agent.clone();
            let (url, auth, body) = (url.clone(), auth.clone(), body.clone());
            let outcome =
                tokio::task::spawn_blocking(move || post(&agent, &url, &auth, content_type, &body))
                    .await
                    .unwrap_or(Try::Unknown);
            let retry_after = match outcome {
                Try::Done(status, text, _) if (200..300).contains(&status) => {
                    let id = message_id(config.provider, &text).ok_or(SendError::BadResponse)?;
                    inner
                        .store
                        .record_sent(&id, DeliveryStatus::Queued, parts.count())?;
                    tracing::info!(
                        from = %Redacted(from.as_str()),
                        to = %Redacted(to.as_str()),
                        segments = parts.count(),
                        attempt,
                        "sms: sent"
                    );
                    return Ok(SentSms {
                        provider_message_id: id,
                        segments: parts.count(),
                        encoding: parts.encoding,
                    });
                }
                Try::Done(status, _, retry_after) if status == 429 || status >= 500 => {
                    last_status = Some(status);
                    tracing::warn!(status, attempt, "sms: provider busy, will retry");
                    retry_after.map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
                }
                Try::Done(status, text, _) => {
                    let code = error_code(&text);
                    tracing::warn!(status, ?code, "sms: provider refused the message");
                    return Err(SendError::Rejected { status, code });
                }
                Try::NotConnected => {
                    tracing::warn!(attempt, "sms: provider not reachable, will retry");
                    None
                }
                Try::Unknown => {
                    return Err(SendError::Unavailable {
                        attempts: attempt,
                        last_status,
                    })
                }
            };
            if attempt < MAX_ATTEMPTS {
                let backoff = config.retry_base * 2u32.pow(attempt - 1);
                tokio::time::sleep(retry_after.unwrap_or(backoff).max(backoff)).await;
            }
        }
        Err(SendError::Unavailable {
            attempts: MAX_ATTEMPTS,
            last_status,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// URL, content type and body of the provider's "send a message" call.
fn request_for(
    config: &SmsConfig,
    from: &E164,
    to: &E164,
    text: &str,
) -> (String, &'static str, String) {
    match config.provider {
        // https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
        Provider::Twilio => {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("To", to.as_str())
                .append_pair("From", from.as_str())
                .append_pair("Body", text)
                .append_pair("StatusCallback", &config.status_url())
                .finish();
            (
                format!(
                    "{}/2010-04-01/Accounts/{}/Messages.json",
                    config.api_base_url, config.account_id
                ),
                "application/x-www-form-urlencoded",
                body,
            )
        }
        // https://www.plivo.com/docs/messaging/api/message#send-a-message
        Provider::Plivo => {
            let body = serde_json::json!({
                "src": from.as_str(),
                "dst": to.as_str(),
                "text": text,
                "url": config.status_url(),
                "method": "POST",
            })
            .to_string();
            (
                format!(
                    "{}/v1/Account/{}/Message/",
                    config.api_base_url, config.account_id
                ),
                "application/json",
                body,
            )
        }
    }
}

fn post(agent: &ureq::Agent, url: &str, auth: &str, content_type: &str, body: &str) -> Try {
    let result = agent
        .post(url)
        .header("Authorization", auth)
        .content_type(content_type)
        .send(body);
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE)
                .read_to_string()
                .unwrap_or_default();
            Try::Done(status, text, retry_after)
        }
        Err(ureq::Error::ConnectionFailed | ureq::Error::HostNotFound) => Try::NotConnected,
        Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Try::NotConnected
        }
        Err(e) => {
            tracing::warn!(error = %e, "sms: provider call failed");
            Try::Unknown
        }
    }
}

/// The message id in the provider's answer (Twilio `sid`, Plivo `message_uuid[0]`).
fn message_id(provider: Provider, text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let id = match provider {
        Provider::Twilio => v.get("sid")?.as_str()?,
        Provider::Plivo => v.get("message_uuid")?.get(0)?.as_str()?,
    };
    let ok = !id.is_empty()
        && id.len() <= crate::sms::webhook::MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| id.to_string())
}

/// The provider's error code (Twilio's numeric `code`). The error *message* is not kept: it
/// can quote the recipient's number.
fn error_code(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    match v.get("code")? {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if s.len() <= 16 => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_answers_are_read() {
        assert_eq!(
            message_id(Provider::Twilio, r#"{"sid":"SM123","status":"queued"}"#).as_deref(),
            Some("SM123")
        );
        assert_eq!(
            message_id(
                Provider::Plivo,
                r#"{"api_id":"x","message_uuid":["db3ce55a-7f1d-11e1"]}"#
            )
            .as_deref(),
            Some("db3ce55a-7f1d-11e1")
        );
        assert_eq!(message_id(Provider::Twilio, r#"{"sid":"SM 1"}"#), None);
        assert_eq!(message_id(Provider::Twilio, "not json"), None);
        assert_eq!(
            error_code(r#"{"code":21211,"message":"bad To +15550100199"}"#).as_deref(),
            Some("21211")
        );
    }
}
