//! Arbitrary bytes as the rumor inside a correctly sealed and wrapped event, so the fuzzer
//! reaches what lies past decryption: rumor parsing, id check, schema validation, freshness,
//! replay and conversation binding, for both families (calls and NIP-17 chats). Must
//! never panic.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use nostr_sdk::nips::nip44;
use nostr_sdk::{EventBuilder, Keys, Kind, SecretKey, Tag, Timestamp};
use nostr_signal::{Verifier, VerifierConfig};

struct Fixture {
    sender: Keys,
    recipient: Keys,
    verifier: Mutex<Verifier>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let sender = Keys::new(SecretKey::from_slice(&[3u8; 32]).expect("valid key"));
        let recipient = Keys::new(SecretKey::from_slice(&[7u8; 32]).expect("valid key"));
        let config = VerifierConfig { accept_chats: true, ..VerifierConfig::default() };
        let verifier = Mutex::new(Verifier::new(recipient.clone(), config));
        Fixture { sender, recipient, verifier }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(rumor) = std::str::from_utf8(data) else { return };
    let f = fixture();
    let to = f.recipient.public_key();
    let Ok(sealed) = nip44::encrypt(f.sender.secret_key(), &to, rumor, nip44::Version::V2) else { return };
    let Ok(seal) = EventBuilder::new(Kind::Seal, sealed).sign_with_keys(&f.sender) else { return };
    let Ok(wrap) = EventBuilder::gift_wrap_from_seal(&to, &seal, [Tag::expiration(Timestamp::from(u64::MAX / 2))]) else { return };
    let _ = f
        .verifier
        .lock()
        .expect("verifier lock")
        .verify_any(&wrap, Timestamp::from(1_700_000_000));
});
