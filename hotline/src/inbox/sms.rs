//! SMS senders in the shared inbox. A phone gateway the operator names
//! (`phone_gateways`) forwards each SMS to the hotline's number as an `sms-in` control
//! message ([`crate::voice::wire::Control::SmsIn`]): the sender is a token only the
//! gateway can read back, never the number. The inbox keys the conversation on a sender
//! key derived from the gateway and the token (nobody holds its secret: it only names the
//! phone), and stores each message under an id that names the control message that
//! carried it and the way back (`sms:<control id>:<gateway>:<token>`). A dispatcher's reply
//! to such a conversation goes to that gateway as `sms-out`, which sends it as an SMS.
//! SMS is not end-to-end encrypted: the provider, the carriers and the gateway read it.

use nostr_signal::{EventId, PublicKey};
use sha2::{Digest, Sha256};

use crate::ids::Npub;

const PREFIX: &str = "sms:";

/// The inbox's sender key for the phone behind `token` at `gateway`: the same for every
/// SMS of that phone through that gateway, so its messages form one conversation.
pub fn sms_sender(gateway: &PublicKey, token: &str) -> Npub {
    let mut hash = Sha256::new();
    hash.update(b"phantomcall-hotline-sms-sender\0");
    hash.update(gateway.to_bytes());
    hash.update(token.as_bytes());
    Npub::from_bytes(hash.finalize().into())
}

/// The id an SMS message is stored under: unique per control message (a relay's
/// resent copy is recognised), and carrying the way back.
pub(super) fn message_id(control: &EventId, gateway: &PublicKey, token: &str) -> String {
    format!("{PREFIX}{}:{}:{token}", control.to_hex(), gateway.to_hex())
}

/// The gateway and token of a stored SMS message id; `None` for a Nostr message's id.
pub(super) fn way_back(id: &str) -> Option<(PublicKey, String)> {
    let mut parts = id.strip_prefix(PREFIX)?.split(':');
    let (_control, gateway, token) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let gateway = PublicKey::from_hex(gateway).ok()?;
    Some((gateway, token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sms_message_id_carries_its_way_back_and_a_nostr_id_does_not() {
        let gateway = nostr_signal::Identity::generate().public_key();
        let control = EventId::all_zeros();
        let id = message_id(&control, &gateway, "0a1b2c");
        assert_eq!(way_back(&id), Some((gateway, "0a1b2c".to_owned())));
        assert_eq!(way_back(&control.to_hex()), None);
        assert_eq!(way_back("sms:x:y"), None);
        assert_eq!(way_back("sms:x:nothex:0a"), None);
    }

    #[test]
    fn one_phone_through_one_gateway_is_one_sender() {
        let (a, b) = (
            nostr_signal::Identity::generate().public_key(),
            nostr_signal::Identity::generate().public_key(),
        );
        assert_eq!(sms_sender(&a, "01"), sms_sender(&a, "01"));
        assert_ne!(sms_sender(&a, "01"), sms_sender(&a, "02"));
        assert_ne!(sms_sender(&a, "01"), sms_sender(&b, "01"));
    }
}
