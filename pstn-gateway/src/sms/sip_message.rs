//! SIP MESSAGE (RFC 3428) as SMS: reading a trunk's `MESSAGE` request into the same
//! [`ParsedInbound`] the webhooks produce. Only `text/plain` in UTF-8 (or US-ASCII) is taken;
//! the body may be at most 1300 bytes (RFC 3428 section 8 bounds MESSAGE requests on
//! transports without congestion control, which is how trunks send them, over UDP).
//! Everything here is untrusted input: an error, never a panic.

use sha2::{Digest, Sha256};

use crate::number::E164;
use crate::sms::segments;
use crate::sms::webhook::{ParsedInbound, MAX_TEXT_CHARS};

/// Largest MESSAGE body accepted, in bytes.
pub const MAX_SIP_BODY: usize = 1300;

/// Why a MESSAGE was refused; [`SipMessageError::status`] is the SIP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipMessageError {
    /// Not `text/plain` (or no Content-Type on a body).
    #[error("MESSAGE body is not text/plain")]
    NotTextPlain,
    /// A charset other than UTF-8 or US-ASCII.
    #[error("MESSAGE charset is not UTF-8")]
    Charset,
    /// More than [`MAX_SIP_BODY`] bytes.
    #[error("MESSAGE body larger than {MAX_SIP_BODY} bytes")]
    TooLarge,
    /// Invalid UTF-8, or longer than the SMS limit.
    #[error("MESSAGE body is not valid text")]
    BadText,
    /// The sender's or the recipient's user part is not a phone number.
    #[error("MESSAGE {0} is not an E.164 number")]
    BadNumber(&'static str),
    /// No Call-ID or CSeq to identify it.
    #[error("MESSAGE without Call-ID or CSeq")]
    NoId,
}

impl SipMessageError {
    /// The SIP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            SipMessageError::NotTextPlain | SipMessageError::Charset => 415,
            SipMessageError::TooLarge => 413,
            SipMessageError::BadNumber(_) => 404,
            SipMessageError::BadText | SipMessageError::NoId => 400,
        }
    }
}

/// A SIP user part as a phone number (`+15550100199` or `15550100199`).
pub fn number_from_user(user: &str) -> Option<E164> {
    let digits = user.strip_prefix('+').unwrap_or(user);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    E164::parse(&format!("+{digits}")).ok()
}

/// Checks a Content-Type value for `text/plain` with a UTF-8 compatible charset.
fn check_content_type(value: Option<&str>) -> Result<(), SipMessageError> {
    let value = value.ok_or(SipMessageError::NotTextPlain)?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/plain") {
        return Err(SipMessageError::NotTextPlain);
    }
    for param in parts {
        let Some((name, val)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let val = val.trim().trim_matches('"');
            if !val.eq_ignore_ascii_case("utf-8") && !val.eq_ignore_ascii_case("us-ascii") {
                return Err(SipMessageError::Charset);
            }
        }
    }
    Ok(())
}

/// The id a MESSAGE is remembered by (a retransmission or replay carries the same Call-ID
/// and CSeq): `sip-` and 32 hex digits of their SHA-256, so it has the shape of a
/// provider's id whatever characters the Call-ID uses.
pub fn message_id(call_id: &str, cseq: &str) -> String {
    let digest = Sha256::digest(format!("{call_id}\n{cseq}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("sip-{hex}")
}

/// The parts of a MESSAGE request the bridge reads.
#[derive(Debug, Clone, Copy)]
pub struct SipRequest<'a> {
    /// User part of the From URI (the sender).
    pub from_user: &'a str,
    /// User part of the Request-URI (our number).
    pub to_user: &'a str,
    /// The Call-ID header value.
    pub call_id: &'a str,
    /// The CSeq header value.
    pub cseq: &'a str,
    /// The Content-Type header value, if any.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Reads a MESSAGE request into an inbound message.
pub fn parse(req: &SipRequest<'_>) -> Result<ParsedInbound, SipMessageError> {
    if req.call_id.is_empty() || req.cseq.is_empty() {
        return Err(SipMessageError::NoId);
    }
    let from = number_from_user(req.from_user).ok_or(SipMessageError::BadNumber("From"))?;
    let to = number_from_user(req.to_user).ok_or(SipMessageError::BadNumber("To"))?;
    check_content_type(req.content_type)?;
    if req.body.len() > MAX_SIP_BODY {
        return Err(SipMessageError::TooLarge);
    }
    let text = std::str::from_utf8(req.body).map_err(|_| SipMessageError::BadText)?;
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(SipMessageError::BadText);
    }
    Ok(ParsedInbound {
        from,
        to,
        text: text.to_string(),
        provider_message_id: message_id(req.call_id, req.cseq),
        segments: segments::split(text).count().max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(content_type: Option<&'a str>, body: &'a [u8]) -> SipRequest<'a> {
        SipRequest {
            from_user: "+15550100199",
            to_user: "15550100101",
            call_id: "a84b4c76e66710@pc33.example",
            cseq: "1 MESSAGE",
            content_type,
            body,
        }
    }

    #[test]
    fn a_text_plain_message_is_read() {
        let m = parse(&req(
            Some("text/plain; charset=UTF-8"),
            b"Watson, come here.",
        ))
        .unwrap();
        assert_eq!(m.from.as_str(), "+15550100199");
        assert_eq!(m.to.as_str(), "+15550100101");
        assert_eq!(m.text, "Watson, come here.");
        assert!(m.provider_message_id.starts_with("sip-"));
        assert_eq!(m.provider_message_id.len(), 36);
        assert_eq!(m.segments, 1);
    }

    #[test]
    fn the_same_call_id_and_cseq_give_the_same_id() {
        assert_eq!(
            message_id("x@y", "1 MESSAGE"),
            message_id("x@y", "1 MESSAGE")
        );
        assert_ne!(
            message_id("x@y", "1 MESSAGE"),
            message_id("x@y", "2 MESSAGE")
        );
    }

    #[test]
    fn other_bodies_are_refused_with_the_right_status() {
        let cases: [(Option<&str>, &[u8], u16); 5] = [
            (Some("text/html"), b"<b>hi</b>", 415),
            (Some("text/plain;charset=ISO-8859-1"), b"hi", 415),
            (None, b"hi", 415),
            (Some("text/plain"), &[0xff, 0xfe], 400),
            (Some("text/plain"), &[b'a'; 1301], 413),
        ];
        for (ct, body, status) in cases {
            assert_eq!(
                parse(&req(ct, body)).unwrap_err().status(),
                status,
                "{ct:?}"
            );
        }
    }

    #[test]
    fn a_sender_that_is_not_a_number_is_refused() {
        let mut r = req(Some("text/plain"), b"hi");
        r.from_user = "alice";
        assert_eq!(parse(&r), Err(SipMessageError::BadNumber("From")));
    }
}
