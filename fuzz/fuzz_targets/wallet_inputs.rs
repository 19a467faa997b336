//! The app's wallet readers on arbitrary input: a pasted or read Solana secret
//! (`app/src/wallet/secret.rs`) and a conference service's sign-in request
//! (`app/src/wallet/siws.rs`). Never a panic; a secret that parses gives an address that
//! decodes to 32 bytes; a message that is built has no line the request could have forged
//! (its first line names the expected domain, and exactly one `Nonce:` line).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../app/src/wallet/secret.rs"]
mod secret;
#[allow(dead_code)]
#[path = "../../app/src/wallet/siws.rs"]
mod siws;

const ADDRESS: &str = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = secret::parse_secret(text) {
        let address = secret::address(&key);
        assert_eq!(bs58::decode(address).into_vec().unwrap().len(), 32);
    }
    if let Ok(input) = siws::SignInInput::parse(text) {
        if let Ok(message) = input.message(ADDRESS, "meet.example.org") {
            let first = message.lines().next().unwrap();
            assert!(first.to_ascii_lowercase().starts_with("meet.example.org wants you"));
            assert_eq!(message.lines().filter(|l| l.starts_with("Nonce: ")).count(), 1);
        }
    }
});
