//! The `Stripe-Signature` header (`sfu-jitsi-bridge/src/stripe/signature.rs`) on arbitrary
//! input, split at the first NUL into header text and body: never a panic; a header that
//! parses has a timestamp and 1 to 16 signatures and parses the same when written back in
//! canonical form; a header that does not parse never verifies; and a body signed here under
//! a secret taken from the input verifies, and stops verifying when one byte changes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../sfu-jitsi-bridge/src/stripe/signature.rs"]
mod signature;

use signature::{parse_header, sign, verify, SignatureError, MAX_SIGNATURES};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (head, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let secret = format!("whsec_{}", hex::encode(&body[..body.len().min(8)]));

    if let Ok(text) = std::str::from_utf8(head) {
        match parse_header(text) {
            Ok(parsed) => {
                assert!(parsed.timestamp >= 0);
                assert!(!parsed.v1.is_empty() && parsed.v1.len() <= MAX_SIGNATURES);
                let sigs: Vec<String> = parsed
                    .v1
                    .iter()
                    .map(|s| format!("v1={}", hex::encode(s)))
                    .collect();
                let canonical = format!("t={},{}", parsed.timestamp, sigs.join(","));
                assert_eq!(parse_header(&canonical).as_ref(), Ok(&parsed));
                let _ = verify(body, text, &secret, parsed.timestamp);
            }
            Err(_) => assert!(verify(body, text, &secret, 0).is_err()),
        }
    }

    let t = 1_772_366_400;
    let header = format!("t={t},v1={}", hex::encode(sign(body, t, &secret)));
    assert_eq!(verify(body, &header, &secret, t), Ok(t));
    if let Some(first) = body.first() {
        let mut changed = body.to_vec();
        changed[0] = first ^ 1;
        assert_eq!(
            verify(&changed, &header, &secret, t),
            Err(SignatureError::Mismatch)
        );
    }
});
