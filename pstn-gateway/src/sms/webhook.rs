//! Reading a provider's webhook form: the inbound-message and delivery-status callbacks of
//! Twilio and Plivo, decoded and checked field by field. Everything here is untrusted
//! input (the signature is checked before, but a bug or a compromised account is not a
//! reason to panic): bad input is an error naming the field, never a panic.

use crate::number::E164;
use crate::sms::segments;
use crate::sms::{DeliveryReport, DeliveryStatus, Provider};

/// Most parameters a callback may carry. Twilio sends about 20 for an SMS (more for MMS
/// media, which the bridge does not take); anything far above that is not a provider.
pub const MAX_PARAMS: usize = 64;
/// Longest inbound text accepted, in characters: Twilio's own limit for a concatenated
/// message is 1600 characters; Plivo's is lower.
pub const MAX_TEXT_CHARS: usize = 1600;
/// Longest provider message id accepted (Twilio SIDs are 34 characters, Plivo UUIDs 36).
pub const MAX_ID_LEN: usize = 64;

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// More parameters than any genuine callback has.
    #[error("too many form parameters")]
    TooManyParams,
    /// A field the bridge reads appears twice (which value was signed is ambiguous).
    #[error("field {0} given twice")]
    Duplicate(&'static str),
    /// A required field is missing or empty.
    #[error("field {0} missing")]
    Missing(&'static str),
    /// A number field is not an E.164 number.
    #[error("field {0} is not an E.164 number")]
    BadNumber(&'static str),
    /// The text is longer than [`MAX_TEXT_CHARS`].
    #[error("message text longer than {MAX_TEXT_CHARS} characters")]
    TooLong,
    /// The message id has characters or a length no provider uses.
    #[error("field {0} is not a message id")]
    BadId(&'static str),
    /// A delivery status the bridge does not know.
    #[error("unknown delivery status")]
    UnknownStatus,
    /// The callback names another provider account.
    #[error("callback for another account")]
    WrongAccount,
}

/// Decodes an `application/x-www-form-urlencoded` body. Invalid UTF-8 is replaced (the
/// signature is then checked over the replaced text and fails), never a panic.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, WebhookError> {
    let mut out = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.len() == MAX_PARAMS {
            return Err(WebhookError::TooManyParams);
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// The single value of `name`, if present.
fn field<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, WebhookError> {
    let mut found = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(WebhookError::Duplicate(name));
    }
    Ok(first)
}

fn required<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    match field(params, name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(WebhookError::Missing(name)),
    }
}

/// Plivo sends numbers without the `+` (`14155550100`); Twilio with it.
fn number(params: &[(String, String)], name: &'static str) -> Result<E164, WebhookError> {
    let raw = required(params, name)?;
    let with_plus = if raw.starts_with('+') {
        raw.to_string()
    } else {
        format!("+{raw}")
    };
    // E164::parse forgives spaces and brackets people type; a provider sends none.
    if !with_plus[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::BadNumber(name));
    }
    E164::parse(&with_plus).map_err(|_| WebhookError::BadNumber(name))
}

fn message_id(params: &[(String, String)], name: &'static str) -> Result<String, WebhookError> {
    let id = required(params, name)?;
    let ok = id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id.to_string())
    } else {
        Err(WebhookError::BadId(name))
    }
}

fn check_account(
    provider: Provider,
    account_id: &str,
    params: &[(String, String)],
) -> Result<(), WebhookError> {
    // Twilio names the account in every callback; Plivo's SMS callbacks do not.
    if provider == Provider::Twilio {
        if let Some(sid) = field(params, "AccountSid")? {
            if sid != account_id {
                return Err(WebhookError::WrongAccount);
            }
        }
    }
    Ok(())
}

/// An inbound message as read from the callback (before routing and opt-out handling).
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedInbound {
    /// The sender.
    pub from: E164,
    /// Our number it was sent to.
    pub to: E164,
    /// The text, already joined by the provider if it came in several parts.
    pub text: String,
    /// The provider's id for it (MessageSid / MessageUUID).
    pub provider_message_id: String,
    /// Parts it arrived in (the provider's count where given, else computed).
    pub segments: usize,
}

impl std::fmt::Debug for ParsedInbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedInbound")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("chars", &self.text.chars().count())
            .field("provider_message_id", &self.provider_message_id)
            .field("segments", &self.segments)
            .finish()
    }
}

/// Reads an inbound-message callback.
pub fn parse_inbound(
    provider: Provider,
    account_id: &str,
    params: &[(String, String)],
) -> Result<ParsedInbound, WebhookError> {
    check_account(provider, account_id, params)?;
    let (id_field, text_field, parts_field) = match provider {
        Provider::Twilio => ("MessageSid", "Body", "NumSegments"),
        Provider::Plivo => ("MessageUUID", "Text", "Units"),
    };
    let from = number(params, "From")?;
    let to = number(params, "To")?;
    let provider_message_id = message_id(params, id_field)?;
    // An empty body is a valid SMS. MMS media are not fetched (they stay at the provider):
    // only the text is taken.
    let text = field(params, text_field)?.unwrap_or_default().to_string();
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(WebhookError::TooLong);
    }
    let segments = field(params, parts_field)?
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=99).contains(n))
        .unwrap_or_else(|| segments::split(&text).count().max(1));
    Ok(ParsedInbound {
        from,
        to,
        text,
        provider_message_id,
        segments,
    })
}

/// Maps a provider's status word; `None` for one the bridge does not know.
pub fn status_from_word(word: &str) -> Option<DeliveryStatus> {
    Some(match word {
        "accepted" | "scheduled" | "queued" => DeliveryStatus::Queued,
        "sending" => DeliveryStatus::Sending,
        "sent" => DeliveryStatus::Sent,
        "delivered" | "read" => DeliveryStatus::Delivered,
        "undelivered" => DeliveryStatus::Undelivered,
        "failed" | "rejected" | "canceled" => DeliveryStatus::Failed,
        _ => return None,
    })
}

/// Reads a delivery-status callback.
pub fn parse_status(
    provider: Provider,
    account_id: &str,
    params: &[(String, String)],
) -> Result<DeliveryReport, WebhookError> {
    check_account(provider, account_id, params)?;
    let (id_field, status_field) = match provider {
        Provider::Twilio => ("MessageSid", "MessageStatus"),
        Provider::Plivo => ("MessageUUID", "Status"),
    };
    let provider_message_id = message_id(params, id_field)?;
    let status =
        status_from_word(required(params, status_field)?).ok_or(WebhookError::UnknownStatus)?;
    let error_code = field(params, "ErrorCode")?
        .filter(|c| !c.is_empty() && c.len() <= 16 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string);
    Ok(DeliveryReport {
        provider_message_id,
        status,
        error_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> Vec<(String, String)> {
        parse_form(s.as_bytes()).unwrap()
    }

    #[test]
    fn twilio_inbound_is_read() {
        let p = form("AccountSid=AC1&MessageSid=SM0123&From=%2B15550100199&To=%2B15550100101&Body=Hello+there&NumSegments=1");
        let m = parse_inbound(Provider::Twilio, "AC1", &p).unwrap();
        assert_eq!(m.from.as_str(), "+15550100199");
        assert_eq!(m.text, "Hello there");
        assert_eq!(m.provider_message_id, "SM0123");
        assert_eq!(m.segments, 1);
    }

    #[test]
    fn plivo_numbers_without_plus_are_e164() {
        let p = form("From=4930901820&To=15550100101&Text=hi&Type=sms&MessageUUID=3a2e-11ef");
        let m = parse_inbound(Provider::Plivo, "MA1", &p).unwrap();
        assert_eq!(m.from.as_str(), "+4930901820");
        assert_eq!(m.to.as_str(), "+15550100101");
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let base = "MessageSid=SM1&To=%2B15550100101&Body=x";
        assert_eq!(
            parse_inbound(
                Provider::Twilio,
                "AC1",
                &form(&format!("{base}&From=whatsapp:%2B15550100199"))
            ),
            Err(WebhookError::BadNumber("From"))
        );
        assert_eq!(
            parse_inbound(Provider::Twilio, "AC1", &form(base)),
            Err(WebhookError::Missing("From"))
        );
        assert_eq!(
            parse_inbound(
                Provider::Twilio,
                "AC1",
                &form(&format!("{base}&From=%2B15550100199&From=%2B15550100198"))
            ),
            Err(WebhookError::Duplicate("From"))
        );
        assert_eq!(
            parse_inbound(
                Provider::Twilio,
                "AC2",
                &form(&format!("{base}&From=%2B15550100199&AccountSid=AC1"))
            ),
            Err(WebhookError::WrongAccount)
        );
        let long = format!(
            "MessageSid=SM1&To=%2B15550100101&From=%2B15550100199&Body={}",
            "a".repeat(1601)
        );
        assert_eq!(
            parse_inbound(Provider::Twilio, "AC1", &form(&long)),
            Err(WebhookError::TooLong)
        );
        let bad_id = "MessageSid=SM%0A1&To=%2B15550100101&From=%2B15550100199&Body=x";
        assert_eq!(
            parse_inbound(Provider::Twilio, "AC1", &form(bad_id)),
            Err(WebhookError::BadId("MessageSid"))
        );
    }

    #[test]
    fn too_many_parameters_are_refused() {
        let body = (0..65)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(
            parse_form(body.as_bytes()),
            Err(WebhookError::TooManyParams)
        );
    }

    #[test]
    fn status_words_of_both_providers_map() {
        let t = parse_status(
            Provider::Twilio,
            "AC1",
            &form("MessageSid=SM1&MessageStatus=delivered"),
        )
        .unwrap();
        assert_eq!(t.status, DeliveryStatus::Delivered);
        let p = parse_status(
            Provider::Plivo,
            "",
            &form("MessageUUID=u-1&Status=rejected&ErrorCode=200"),
        )
        .unwrap();
        assert_eq!(p.status, DeliveryStatus::Failed);
        assert_eq!(p.error_code.as_deref(), Some("200"));
        assert_eq!(
            parse_status(
                Provider::Twilio,
                "AC1",
                &form("MessageSid=SM1&MessageStatus=exploded")
            ),
            Err(WebhookError::UnknownStatus)
        );
    }
}
