//! Opaque names for phone callers: what lets a hotline tell two telephones apart (and
//! recognise one calling again) without the gateway giving it their numbers.

use hmac::{Hmac, Mac};
use nostr_signal::{Identity, PublicKey};
use phantomcall_schemas::PhoneRef;
use sha2::Sha256;

use crate::number::E164;

/// Computes [`PhoneRef`]s under a key only this gateway holds.
pub(super) struct PhoneRefs {
    key: [u8; 32],
}

impl PhoneRefs {
    /// References keyed by a secret derived from the gateway's own identity: stable across
    /// restarts and machines that run the same identity, and nobody without the gateway's
    /// secret key can compute one from a number (a plain hash could be reversed by hashing
    /// every number of a country).
    pub(super) fn of(identity: &Identity) -> Self {
        let secret = identity.keys().secret_key().secret_bytes();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("any key length");
        mac.update(b"phantomcall-gateway-phone-ref-key-v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    /// The reference of the telephone `number` (as the carrier gave it) for calls to
    /// `recipient`: different for each recipient, so two hotlines cannot link a caller.
    /// `None` for a number that is not E.164 (withheld, `anonymous`): such callers share
    /// the gateway's own identity at the hotline, as before.
    pub(super) fn for_caller(&self, recipient: &PublicKey, number: &str) -> Option<PhoneRef> {
        let number = E164::parse(number).ok()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(&recipient.to_bytes());
        mac.update(number.as_str().as_bytes());
        let out = mac.finalize().into_bytes();
        let mut reference = [0u8; 16];
        reference.copy_from_slice(&out[..16]);
        Some(PhoneRef::from_bytes(reference))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_number_keeps_its_reference_per_recipient_and_recipients_cannot_link_it() {
        let gateway = Identity::generate();
        let refs = PhoneRefs::of(&gateway);
        let (hotline, other) = (
            Identity::generate().public_key(),
            Identity::generate().public_key(),
        );
        let first = refs.for_caller(&hotline, "+15551234512").unwrap();
        assert_eq!(refs.for_caller(&hotline, "+15551234512"), Some(first));
        // The same identity after a restart names the phone the same way.
        assert_eq!(
            PhoneRefs::of(&gateway).for_caller(&hotline, "+15551234512"),
            Some(first)
        );
        assert_ne!(refs.for_caller(&hotline, "+15551234513"), Some(first));
        assert_ne!(refs.for_caller(&other, "+15551234512"), Some(first));
        // Another gateway (another secret) cannot compute it from the number.
        assert_ne!(
            PhoneRefs::of(&Identity::generate()).for_caller(&hotline, "+15551234512"),
            Some(first)
        );
    }

    #[test]
    fn a_reference_never_carries_the_number() {
        let refs = PhoneRefs::of(&Identity::generate());
        let hotline = Identity::generate().public_key();
        let hex = refs.for_caller(&hotline, "+15551234512").unwrap().to_hex();
        assert!(
            !hex.contains("5551234512") && !hex.contains("1234512"),
            "{hex}"
        );
        for withheld in ["anonymous", "", "1000", "+1"] {
            assert_eq!(refs.for_caller(&hotline, withheld), None, "{withheld}");
        }
    }
}
