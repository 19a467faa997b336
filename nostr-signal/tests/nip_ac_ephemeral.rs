//! Current NIP-AC clients (Amethyst since April 2026) wrap the signed call event directly
//! in an ephemeral kind 21059 gift wrap without expiration. The peer's side here is built
//! by hand from that description with nostr-sdk primitives only, not through this crate.

mod common;

use std::time::Duration;

use common::{client, next_message};
use nostr_sdk::nips::nip44;
use nostr_sdk::prelude::*;
use nostr_signal::{DeliveryForm, EmbeddedRelay, SignalTransport, EPHEMERAL_GIFT_WRAP_KIND};
use phantomcall_schemas::{CallBody, CallKind, CallMessage};

const OFFER_SDP: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=setup:actpass\r\n";

/// A NIP-AC event as that client builds it: signed, tags `p`, `call-id` (and `call-type`
/// on offers), no PhantomCall tags; wrapped in kind 21059 by a random key, no expiration.
fn nip_ac_wrap(author: &Keys, to: &PublicKey, kind: u16, tags: Vec<Tag>, content: &str) -> Event {
    let inner = EventBuilder::new(Kind::from(kind), content)
        .tags(tags)
        .sign_with_keys(author)
        .unwrap();
    let ephemeral = Keys::generate();
    let sealed = nip44::encrypt(
        ephemeral.secret_key(),
        to,
        inner.as_json(),
        nip44::Version::default(),
    )
    .unwrap();
    EventBuilder::new(Kind::from(EPHEMERAL_GIFT_WRAP_KIND), sealed)
        .tag(Tag::public_key(*to))
        .sign_with_keys(&ephemeral)
        .unwrap()
}

#[tokio::test]
async fn ephemeral_21059_calls_are_received_and_answered_in_kind() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let (bob, bob_tx) = client(vec![relay.url().clone()]).await;
    let mut bob_in = bob_tx.incoming();
    let amethyst = Keys::generate();
    let peer = Client::default();
    peer.add_relay(relay.url().clone()).await.unwrap();
    peer.connect().await;
    // Ephemeral events are forwarded, never stored: listen before anything is sent.
    peer.subscribe(
        Filter::new()
            .kind(Kind::from(EPHEMERAL_GIFT_WRAP_KIND))
            .pubkey(amethyst.public_key()),
        None,
    )
    .await
    .unwrap();
    let mut notifications = peer.notifications();

    let call_id = "550e8400-e29b-41d4-a716-446655440000";
    let offer = nip_ac_wrap(
        &amethyst,
        &bob.public_key(),
        25050,
        vec![
            Tag::public_key(bob.public_key()),
            Tag::parse(["call-id", call_id]).unwrap(),
            Tag::parse(["call-type", "voice"]).unwrap(),
        ],
        OFFER_SDP,
    );
    peer.send_event(&offer).await.unwrap();
    let got = next_message(&mut bob_in, "the 21059 offer").await;
    assert_eq!(got.sender, amethyst.public_key());
    assert_eq!(got.form, DeliveryForm::Ephemeral);
    assert_eq!(got.message.mode, None, "a plain NIP-AC client");
    assert!(matches!(got.message.body, CallBody::Offer { .. }));

    let answer = CallMessage {
        body: CallBody::Reject {
            reason: Some("declined".into()),
        },
        peer: amethyst.public_key().to_hex(),
        ..got.message.clone()
    };
    bob_tx.send(amethyst.public_key(), &answer).await.unwrap();

    let wrap = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(RelayPoolNotification::Event { event, .. }) = notifications.recv().await {
                if event.kind.as_u16() == EPHEMERAL_GIFT_WRAP_KIND {
                    return event;
                }
            }
        }
    })
    .await
    .expect("the reply comes as a 21059 wrap");
    assert!(
        wrap.tags.expiration().is_none(),
        "ephemeral wraps carry no expiration"
    );
    let inner_json = nip44::decrypt(amethyst.secret_key(), &wrap.pubkey, &wrap.content).unwrap();
    let inner = Event::from_json(&inner_json).unwrap();
    inner.verify().expect("NIP-AC: the inner event is signed");
    assert_eq!(inner.pubkey, bob.public_key());
    assert_eq!(inner.kind.as_u16(), CallKind::Reject.as_u16());
    assert_eq!(
        inner.tags.public_keys().next(),
        Some(&amethyst.public_key())
    );
    assert!(inner
        .tags
        .iter()
        .any(|t| t.as_slice() == ["call-id", call_id]));
}
