//! Interoperability: NIP-AC's direct form as Amethyst builds it, our sealed form read by
//! nostr-sdk's generic NIP-59 unwrap, and delivery through a relay nobody here wrote.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use nostr_sdk::nips::{nip44, nip59};
use nostr_sdk::{Event, EventBuilder, JsonUtil, Keys, Kind, RelayUrl, SecretKey, Tag, Timestamp};
use nostr_signal::{build_wrap, DeliveryForm, SignalTransport, Verifier, VerifierConfig};
use phantomcall_schemas::{CallBody, CallType};
use sha2::Digest;

const VECTOR: &str = include_str!("vectors/nip_ac_offer_direct.json");

/// The vector is a NIP-AC call offer exactly as Amethyst's `WebRtcCallFactory.createCallOffer`
/// produces it: a signed kind 25050 event with tags `p`, `call-id`, `call-type` and the SDP as
/// content, NIP-44 encrypted by an ephemeral key straight into a kind 1059 wrap (no seal),
/// whose tags are `p` and a 20 s `expiration`. Checked by hand against NIP-AC.md.
#[test]
fn nip_ac_offer_as_amethyst_builds_it_is_accepted() {
    let vector: serde_json::Value = serde_json::from_str(VECTOR).unwrap();
    let callee =
        Keys::new(SecretKey::parse(vector["callee_secret_key"].as_str().unwrap()).unwrap());
    let wrap = Event::from_json(vector["wrap"].to_string()).unwrap();
    let inner_expected = &vector["inner"];

    // Hand-checked layout: the wrap opens straight onto the signed offer.
    let inner_json = nip44::decrypt(callee.secret_key(), &wrap.pubkey, &wrap.content).unwrap();
    let inner: serde_json::Value = serde_json::from_str(&inner_json).unwrap();
    assert_eq!(&inner, inner_expected);
    assert_eq!(inner["kind"], 25050);
    assert_eq!(wrap.kind, Kind::GiftWrap);
    // NIP-01 id computed independently of nostr-sdk: sha256 of [0,pubkey,created_at,kind,tags,content].
    let canonical = serde_json::json!([
        0,
        inner["pubkey"],
        inner["created_at"],
        inner["kind"],
        inner["tags"],
        inner["content"]
    ]);
    let digest = sha2::Sha256::digest(canonical.to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(inner["id"].as_str().unwrap(), hex);
    let tag_names: Vec<&str> = inner["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0].as_str().unwrap())
        .collect();
    assert_eq!(tag_names, ["p", "call-id", "call-type"]);

    let now = Timestamp::from(inner["created_at"].as_u64().unwrap() + 3);
    let mut verifier = Verifier::new(callee.clone(), VerifierConfig::default());
    let got = verifier.verify(&wrap, now).expect("NIP-AC offer accepted");
    assert_eq!(got.form, DeliveryForm::Direct);
    assert_eq!(got.sender.to_hex(), inner["pubkey"].as_str().unwrap());
    assert_eq!(got.message.mode, None, "Amethyst sends no PhantomCall tags");
    assert_eq!(
        got.message.call_id.to_string(),
        vector["call_id"].as_str().unwrap()
    );
    match &got.message.body {
        CallBody::Offer { sdp, call_type } => {
            assert_eq!(*call_type, CallType::Video);
            assert_eq!(sdp, inner["content"].as_str().unwrap());
        }
        other => panic!("expected an offer, got {other:?}"),
    }
}

#[tokio::test]
async fn our_sealed_form_decodes_with_nostr_sdks_generic_nip59_unwrap() {
    let alice = Keys::generate();
    let bob = Keys::generate();
    let offer = offer_to(&bob.public_key());
    let wrap = build_wrap(
        &alice,
        &bob.public_key(),
        &offer,
        DeliveryForm::Sealed,
        Timestamp::now(),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    let unwrapped = nip59::UnwrappedGift::from_gift_wrap(&bob, &wrap)
        .await
        .unwrap();
    assert_eq!(unwrapped.sender, alice.public_key());
    let (kind, tags, content) = offer.to_parts();
    assert_eq!(unwrapped.rumor.kind.as_u16(), kind);
    assert_eq!(unwrapped.rumor.content, content);
    let got_tags: Vec<Vec<String>> = unwrapped
        .rumor
        .tags
        .iter()
        .map(|t| t.as_slice().to_vec())
        .collect();
    assert_eq!(got_tags, tags);
    // NIP-40 expiration on the wrap, the recipient's p tag, nothing else a relay could read.
    assert!(wrap.tags.expiration().is_some());
    assert_eq!(
        wrap.tags.public_keys().collect::<Vec<_>>(),
        vec![&bob.public_key()]
    );
}

/// Regenerates the vector file (run with `--ignored` and paste the output); kept so the
/// vector's origin is reproducible. It uses nostr-sdk primitives only, not this crate.
#[test]
#[ignore]
fn print_nip_ac_vector() {
    let caller = Keys::generate();
    let callee = Keys::generate();
    let call_id = "550e8400-e29b-41d4-a716-446655440000";
    let created = Timestamp::now();
    let inner = EventBuilder::new(Kind::from(25050), SAMPLE_SDP)
        .tags([
            Tag::public_key(callee.public_key()),
            Tag::parse(["call-id", call_id]).unwrap(),
            Tag::parse(["call-type", "video"]).unwrap(),
        ])
        .custom_created_at(created)
        .sign_with_keys(&caller)
        .unwrap();
    let ephemeral = Keys::generate();
    let content = nip44::encrypt(
        ephemeral.secret_key(),
        &callee.public_key(),
        inner.as_json(),
        nip44::Version::V2,
    )
    .unwrap();
    let wrap = EventBuilder::new(Kind::GiftWrap, content)
        .tags([
            Tag::public_key(callee.public_key()),
            Tag::expiration(created + Duration::from_secs(20)),
        ])
        .custom_created_at(created)
        .sign_with_keys(&ephemeral)
        .unwrap();
    let vector = serde_json::json!({
        "description": "NIP-AC call offer as Amethyst builds it: signed kind 25050 directly inside a kind 1059 wrap (no seal), wrap expiration 20 s. Test keys only.",
        "callee_secret_key": callee.secret_key().to_secret_hex(),
        "call_id": call_id,
        "inner": serde_json::from_str::<serde_json::Value>(&inner.as_json()).unwrap(),
        "wrap": serde_json::from_str::<serde_json::Value>(&wrap.as_json()).unwrap(),
    });
    println!("{}", serde_json::to_string_pretty(&vector).unwrap());
}

/// A separately built relay binary (nostr-rs-relay), installed by the README's test command.
struct ThirdPartyRelay {
    child: Child,
    url: RelayUrl,
    _dir: tempfile::TempDir,
}

impl Drop for ThirdPartyRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nostr_rs_relay_binary() -> PathBuf {
    if let Ok(path) = std::env::var("PHANTOMCALL_NOSTR_RS_RELAY") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let path = PathBuf::from(home).join(".cache/phantomcall/tools/bin/nostr-rs-relay");
    assert!(
        path.exists(),
        "nostr-rs-relay not found at {}: run `scripts/test.sh` (it installs it) or set PHANTOMCALL_NOSTR_RS_RELAY",
        path.display()
    );
    path
}

async fn start_nostr_rs_relay() -> ThirdPartyRelay {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[info]\nrelay_url = \"ws://127.0.0.1:{port}/\"\nname = \"interop-test\"\n\
         [database]\ndata_directory = \"{}\"\n\
         [network]\naddress = \"127.0.0.1\"\nport = {port}\n",
        dir.path().display()
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new(nostr_rs_relay_binary())
        .arg("--config")
        .arg(&config_path)
        .arg("--db")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nostr-rs-relay starts");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ThirdPartyRelay {
        child,
        url: RelayUrl::parse(&format!("ws://127.0.0.1:{port}")).unwrap(),
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_messages_pass_through_nostr_rs_relay_in_both_forms() {
    let relay = start_nostr_rs_relay().await;
    let (alice, alice_tx) = client(vec![relay.url.clone()]).await;
    let (bob, bob_tx) = client(vec![relay.url.clone()]).await;
    let mut bob_in = bob_tx.incoming();
    let mut alice_in = alice_tx.incoming();
    for form in [DeliveryForm::Sealed, DeliveryForm::Direct] {
        let offer = offer_to(&bob.public_key());
        alice_tx
            .send_with_form(bob.public_key(), &offer, form)
            .await
            .unwrap();
        let got = next_message(&mut bob_in, "offer through nostr-rs-relay").await;
        assert_eq!(got.message, offer);
        assert_eq!(got.form, form);
        let mut answer = one_of_each_kind(&alice.public_key(), offer.call_id).remove(1);
        answer.call_id = offer.call_id;
        bob_tx.send(alice.public_key(), &answer).await.unwrap();
        loop {
            let got = next_message(&mut alice_in, "answer through nostr-rs-relay").await;
            if !got.from_own_device {
                assert_eq!(got.message, answer);
                break;
            }
        }
        // Bob's own copy of his answer is dropped by his hub when it comes back.
    }
}
