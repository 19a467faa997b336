//! Arbitrary bytes as the event JSON a relay hands us: the verifier must reject or accept,
//! never panic.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use nostr_sdk::{Keys, SecretKey, Timestamp};
use nostr_signal::{Verifier, VerifierConfig};

fn verifier() -> &'static Mutex<Verifier> {
    static VERIFIER: OnceLock<Mutex<Verifier>> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let secret = SecretKey::from_slice(&[7u8; 32]).expect("valid key");
        Mutex::new(Verifier::new(Keys::new(secret), VerifierConfig::default()))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verifier()
            .lock()
            .expect("verifier lock")
            .verify_json(text, Timestamp::from(1_700_000_000));
    }
});
