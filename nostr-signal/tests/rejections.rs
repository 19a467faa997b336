//! Each way a wrap can be bad is dropped with its own reason, and counted. Wraps are built by
//! hand from nostr-sdk primitives so that each test breaks exactly one thing.

mod common;

use std::time::Duration;

use common::*;
use nostr_sdk::nips::nip44;
use nostr_sdk::{
    Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, Tag, Timestamp, UnsignedEvent,
};
use nostr_signal::{build_wrap, DeliveryForm, RejectReason, Verifier, VerifierConfig};
use phantomcall_schemas::{CallId, CallMessage};

struct Parties {
    alice: Keys,
    bob: Keys,
    mallory: Keys,
    now: Timestamp,
}

impl Parties {
    /// A wrap to Bob, sealed by `seal_signer`, of a rumor by `author` written at `at`.
    fn wrap_to_bob(
        &self,
        seal_signer: &Keys,
        author: &Keys,
        message: &CallMessage,
        at: Timestamp,
    ) -> Event {
        sealed_wrap(
            seal_signer,
            &self.bob.public_key(),
            &rumor(author.public_key(), message, at),
        )
    }

    /// A wrap from Alice to Bob of a rumor built from raw parts.
    fn raw_to_bob(&self, kind: u16, tags: Vec<Vec<String>>, content: String) -> Event {
        let r = rumor_from_parts(self.alice.public_key(), kind, tags, content, self.now);
        sealed_wrap(&self.alice, &self.bob.public_key(), &r)
    }

    /// A fresh verifier of Bob's rejects `wrap` now, for `expected`.
    fn bob_rejects(&self, wrap: &Event, expected: RejectReason) {
        assert_rejected(&mut verifier_for(&self.bob), wrap, self.now, expected);
    }
}

fn parties() -> Parties {
    Parties {
        alice: Keys::generate(),
        bob: Keys::generate(),
        mallory: Keys::generate(),
        now: Timestamp::now(),
    }
}

fn rumor_from_parts(
    author: PublicKey,
    kind: u16,
    tags: Vec<Vec<String>>,
    content: String,
    at: Timestamp,
) -> UnsignedEvent {
    let tags = tags.into_iter().map(|t| Tag::parse(t).unwrap());
    let mut rumor = UnsignedEvent::new(author, at, Kind::from(kind), tags, content);
    rumor.ensure_id();
    rumor
}

fn rumor(author: PublicKey, message: &CallMessage, at: Timestamp) -> UnsignedEvent {
    let (kind, tags, content) = message.to_parts();
    rumor_from_parts(author, kind, tags, content, at)
}

fn seal(signer: &Keys, recipient: &PublicKey, rumor_json: &str) -> Event {
    let content = nip44::encrypt(
        signer.secret_key(),
        recipient,
        rumor_json,
        nip44::Version::V2,
    )
    .unwrap();
    EventBuilder::new(Kind::Seal, content)
        .sign_with_keys(signer)
        .unwrap()
}

fn wrap_inner_json(recipient: &PublicKey, inner_json: &str) -> Event {
    let ephemeral = Keys::generate();
    let content = nip44::encrypt(
        ephemeral.secret_key(),
        recipient,
        inner_json,
        nip44::Version::V2,
    )
    .unwrap();
    EventBuilder::new(Kind::GiftWrap, content)
        .tags([Tag::public_key(*recipient)])
        .sign_with_keys(&ephemeral)
        .unwrap()
}

fn sealed_wrap(seal_signer: &Keys, recipient: &PublicKey, rumor: &UnsignedEvent) -> Event {
    let seal = seal(seal_signer, recipient, &rumor.as_json());
    wrap_inner_json(recipient, &seal.as_json())
}

fn verifier_for(keys: &Keys) -> Verifier {
    Verifier::new(keys.clone(), VerifierConfig::default())
}

fn assert_rejected(verifier: &mut Verifier, wrap: &Event, now: Timestamp, expected: RejectReason) {
    let before = verifier.counts().get(expected);
    let result = verifier.verify(wrap, now);
    assert_eq!(result.err(), Some(expected));
    assert_eq!(
        verifier.counts().get(expected),
        before + 1,
        "rejection is counted"
    );
}

#[test]
fn a_well_formed_sealed_offer_is_accepted() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let wrap = p.wrap_to_bob(&p.alice, &p.alice, &offer, p.now);
    let got = verifier_for(&p.bob).verify(&wrap, p.now).unwrap();
    assert_eq!(got.message, offer);
    assert_eq!(got.sender, p.alice.public_key());
}

#[test]
fn rejects_forged_seal() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let real = seal(
        &p.alice,
        &p.bob.public_key(),
        &rumor(p.alice.public_key(), &offer, p.now).as_json(),
    );
    // Keep Alice's pubkey and signature but change the content: the signature no longer holds.
    let other = seal(
        &p.alice,
        &p.bob.public_key(),
        &rumor(p.alice.public_key(), &offer_to(&p.bob.public_key()), p.now).as_json(),
    );
    let mut forged: serde_json::Value = serde_json::from_str(&real.as_json()).unwrap();
    forged["sig"] =
        serde_json::from_str::<serde_json::Value>(&other.as_json()).unwrap()["sig"].clone();
    let wrap = wrap_inner_json(&p.bob.public_key(), &forged.to_string());
    p.bob_rejects(&wrap, RejectReason::ForgedSeal);
}

#[test]
fn rejects_seal_signer_not_the_rumor_author() {
    let p = parties();
    // Mallory seals a rumor that claims to be written by Alice.
    let offer = offer_to(&p.bob.public_key());
    let wrap = p.wrap_to_bob(&p.mallory, &p.alice, &offer, p.now);
    p.bob_rejects(&wrap, RejectReason::SealSignerNotAuthor);
}

#[test]
fn rejects_bad_inner_signature_in_direct_form() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let signed = rumor(p.alice.public_key(), &offer, p.now)
        .sign_with_keys(&p.alice)
        .unwrap();
    let mut tampered: serde_json::Value = serde_json::from_str(&signed.as_json()).unwrap();
    // Swap in a different SDP but keep id and signature.
    tampered["content"] = serde_json::Value::String(SAMPLE_SDP.replace("127.0.0.1", "10.9.8.7"));
    let wrap = wrap_inner_json(&p.bob.public_key(), &tampered.to_string());
    p.bob_rejects(&wrap, RejectReason::BadInnerSignature);
}

#[test]
fn rejects_stale_created_at() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let old = p.now - Duration::from_secs(120);
    let wrap = p.wrap_to_bob(&p.alice, &p.alice, &offer, old);
    p.bob_rejects(&wrap, RejectReason::Stale);
    // From the future beyond the window, too.
    let future = p.now + Duration::from_secs(120);
    let wrap = p.wrap_to_bob(&p.alice, &p.alice, &offer, future);
    p.bob_rejects(&wrap, RejectReason::Stale);
}

#[test]
fn rejects_replayed_message() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let r = rumor(p.alice.public_key(), &offer, p.now);
    let mut verifier = verifier_for(&p.bob);
    verifier
        .verify(&sealed_wrap(&p.alice, &p.bob.public_key(), &r), p.now)
        .unwrap();
    // The same rumor in a fresh seal and wrap (what a replaying relay or peer can produce).
    let again = sealed_wrap(&p.alice, &p.bob.public_key(), &r);
    assert_rejected(
        &mut verifier,
        &again,
        p.now + Duration::from_secs(1),
        RejectReason::Replayed,
    );
}

#[test]
fn rejects_foreign_call_id() {
    let p = parties();
    let call_id = CallId::new_random();
    let mut verifier = verifier_for(&p.bob);
    let alices = one_of_each_kind(&p.bob.public_key(), call_id).remove(0);
    verifier
        .verify(&p.wrap_to_bob(&p.alice, &p.alice, &alices, p.now), p.now)
        .unwrap();
    // Mallory reuses Alice's call id to inject a hangup into Bob's call with Alice.
    let mut hangup = one_of_each_kind(&p.bob.public_key(), call_id)
        .pop()
        .unwrap();
    hangup.peer = p.bob.public_key().to_hex();
    let wrap = p.wrap_to_bob(&p.mallory, &p.mallory, &hangup, p.now);
    assert_rejected(&mut verifier, &wrap, p.now, RejectReason::ForeignCallId);
}

#[test]
fn rejects_unregistered_kind() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let (_, tags, _) = offer.to_parts();
    // A NIP-17 chat message (kind 14) is not a call message.
    let wrap = p.raw_to_bob(14, tags, "hello".into());
    p.bob_rejects(&wrap, RejectReason::UnregisteredKind);
}

#[test]
fn rejects_schema_invalid_content() {
    let p = parties();
    let ice = one_of_each_kind(&p.bob.public_key(), CallId::new_random()).remove(2);
    let (kind, tags, _) = ice.to_parts();
    let wrap = p.raw_to_bob(kind, tags, "this is not JSON".into());
    p.bob_rejects(&wrap, RejectReason::SchemaInvalid);
}

#[test]
fn rejects_schema_invalid_tags() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let (kind, mut tags, content) = offer.to_parts();
    tags.retain(|t| t[0] != "call-id");
    let wrap = p.raw_to_bob(kind, tags, content);
    p.bob_rejects(&wrap, RejectReason::SchemaInvalid);
}

#[test]
fn rejects_unsupported_protocol_version() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let (kind, mut tags, content) = offer.to_parts();
    for t in tags.iter_mut().filter(|t| t[0] == "v") {
        t[1] = "2".into();
    }
    let wrap = p.raw_to_bob(kind, tags, content);
    p.bob_rejects(&wrap, RejectReason::UnsupportedVersion);
}

#[test]
fn rejects_malformed_json() {
    let p = parties();
    let mut verifier = verifier_for(&p.bob);
    // The wrap decrypts, but to something that is not an event.
    let wrap = wrap_inner_json(&p.bob.public_key(), "{\"kind\": 13, \"content\": ");
    assert_rejected(&mut verifier, &wrap, p.now, RejectReason::MalformedJson);
    // The seal is fine, the rumor inside is not JSON.
    let s = seal(&p.alice, &p.bob.public_key(), "not json at all");
    let wrap = wrap_inner_json(&p.bob.public_key(), &s.as_json());
    assert_rejected(&mut verifier, &wrap, p.now, RejectReason::MalformedJson);
    // The relay hands us text that is not an event.
    let before = verifier.counts().get(RejectReason::MalformedJson);
    assert_eq!(
        verifier.verify_json("[\"EVENT\"", p.now).err(),
        Some(RejectReason::MalformedJson)
    );
    assert_eq!(
        verifier.counts().get(RejectReason::MalformedJson),
        before + 1
    );
}

#[test]
fn rejects_wrap_for_someone_else() {
    let p = parties();
    let offer = offer_to(&p.mallory.public_key());
    let wrap = sealed_wrap(
        &p.alice,
        &p.mallory.public_key(),
        &rumor(p.alice.public_key(), &offer, p.now),
    );
    p.bob_rejects(&wrap, RejectReason::UndecryptableWrap);
}

#[test]
fn rejects_message_addressed_to_a_third_party() {
    let p = parties();
    // Mallory re-wraps to Bob a rumor of hers whose p tag names Alice.
    let offer = offer_to(&p.alice.public_key());
    let wrap = p.wrap_to_bob(&p.mallory, &p.mallory, &offer, p.now);
    p.bob_rejects(&wrap, RejectReason::NotAddressedToUs);
}

#[tokio::test]
async fn rejects_expired_wrap() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let wrap = build_wrap(
        &p.alice,
        &p.bob.public_key(),
        &offer,
        DeliveryForm::Sealed,
        p.now,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut verifier = verifier_for(&p.bob);
    assert_rejected(
        &mut verifier,
        &wrap,
        // The expiration lies 5 to 10 s after sending (randomised): past it either way.
        p.now + Duration::from_secs(10),
        RejectReason::WrapExpired,
    );
}

#[test]
fn rejects_wrap_with_bad_signature() {
    let p = parties();
    let offer = offer_to(&p.bob.public_key());
    let wrap = p.wrap_to_bob(&p.alice, &p.alice, &offer, p.now);
    let mut json: serde_json::Value = serde_json::from_str(&wrap.as_json()).unwrap();
    json["created_at"] = serde_json::json!(wrap.created_at.as_secs() + 1);
    let tampered = Event::from_json(json.to_string()).unwrap();
    p.bob_rejects(&tampered, RejectReason::BadWrapSignature);
}

#[test]
fn rejects_non_gift_wrap_event() {
    let p = parties();
    let note = EventBuilder::text_note("hi")
        .sign_with_keys(&p.alice)
        .unwrap();
    p.bob_rejects(&note, RejectReason::NotAGiftWrap);
}
