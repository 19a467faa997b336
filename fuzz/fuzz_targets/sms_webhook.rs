//! The SMS bridge's readers of untrusted input (pstn-gateway/src/sms, by path): the
//! provider webhook form, the inbound-message and delivery-report field checks, both
//! signature verifiers, the SIP MESSAGE reader, the opt-out keyword reader, the segment
//! splitter and the SMS sender token reader. Never a panic;
//! an accepted message's numbers are E.164; the splitter's parts join back to the text and
//! respect the GSM-7 / UCS-2 part sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../pstn-gateway/src/sms/keywords.rs"]
mod keywords;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/number.rs"]
mod number;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/sms/segments.rs"]
mod segments;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/sms/signature.rs"]
mod signature;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/sms/sip_message.rs"]
mod sip_message;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/sms/token.rs"]
mod token;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/sms/types.rs"]
mod types;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/sms/webhook.rs"]
mod webhook;

/// The paths webhook.rs uses inside the crate (`crate::sms::…`).
mod sms {
    pub(crate) use crate::segments;
    pub(crate) use crate::types::*;
    pub(crate) use crate::webhook;
}

use types::Provider;

fuzz_target!(|data: &[u8]| {
    // The first line (if any) is a signature header; the rest the form body.
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let header = String::from_utf8_lossy(header);
    // The first line as a hotline's SMS sender token: only what the gateway sealed opens,
    // and what opens seals back to a token that opens the same.
    let tokens = token::SenderTokens::new([1; 32], [2; 32]);
    if let Some((ours, sender)) = tokens.open(&header) {
        assert_eq!(
            tokens.open(&tokens.seal(&ours, &sender)),
            Some((ours, sender))
        );
    }
    if let Ok(params) = webhook::parse_form(body) {
        assert!(params.len() <= webhook::MAX_PARAMS);
        for provider in [Provider::Twilio, Provider::Plivo] {
            if let Ok(m) = webhook::parse_inbound(provider, "AC1", &params) {
                assert!(number::E164::parse(m.from.as_str()).is_ok());
                assert!(m.text.chars().count() <= webhook::MAX_TEXT_CHARS);
                assert!(m.segments >= 1);
                let _ = keywords::classify(&m.text);
            }
            let _ = webhook::parse_status(provider, "AC1", &params);
        }
        let url = "https://gw.example.org/sms/inbound?x=1";
        let _ = signature::verify_twilio(b"token-123", url, &params, &header);
        let _ = signature::verify_plivo_v3(
            b"token-123",
            signature::Method::Post,
            url,
            &params,
            "1",
            &header,
        );
        let _ = signature::verify_plivo_v3(
            b"token-123",
            signature::Method::Get,
            &header,
            &params,
            "1",
            "x",
        );
    }
    // A SIP MESSAGE: the header line's fields split on '|', the rest as the body.
    let fields: Vec<&str> = header.split('|').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let req = sip_message::SipRequest {
        from_user: field(0),
        to_user: field(1),
        call_id: field(2),
        cseq: field(3),
        content_type: fields.get(4).copied(),
        body,
    };
    match sip_message::parse(&req) {
        Ok(m) => {
            assert!(body.len() <= sip_message::MAX_SIP_BODY);
            assert!(m.provider_message_id.len() == 36);
        }
        Err(e) => assert!([400, 404, 413, 415].contains(&e.status())),
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = keywords::classify(text);
        let s = segments::split(text);
        assert_eq!(segments::join(&s.parts), text);
        let (single, part) = match s.encoding {
            segments::Encoding::Gsm7 => (segments::GSM_SINGLE, segments::GSM_PART),
            segments::Encoding::Ucs2 => (segments::UCS2_SINGLE, segments::UCS2_PART),
        };
        let limit = if s.count() == 1 { single } else { part };
        for p in &s.parts {
            let units = match s.encoding {
                segments::Encoding::Gsm7 => p
                    .chars()
                    .map(|c| {
                        if "\u{0C}^{}\\[~]|€".contains(c) {
                            2
                        } else {
                            1
                        }
                    })
                    .sum::<usize>(),
                segments::Encoding::Ucs2 => p.encode_utf16().count(),
            };
            assert!(units <= limit);
        }
    }
});
