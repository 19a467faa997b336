//! Sign-In With Solana interop: messages written by hand from the specification's layout
//! (phantom/sign-in-with-solana README, "Maximal Message Template"; the statement is the one
//! its example dapp uses), never by this crate's builder, signed outside this crate's code.
//!
//! The key is RFC 8032's test vector 1 (secret 9d61b1…7f60, public d75a98…511a), whose base58
//! address is `FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z`. `OPENSSL_SIGNATURE` was made by
//! OpenSSL 3.0 (`openssl pkeyutl -sign -rawin`) over the exact bytes of `MESSAGE`; the tests
//! also sign with ed25519-dalek directly, which must give the same signature (Ed25519 is
//! deterministic).

use ed25519_dalek::{Signer as _, SigningKey};
use sfu_jitsi_bridge::siws::{verify, ChainId, SiwsError, SiwsExpectations};
use sfu_jitsi_bridge::store::{SqliteStore, Store};
use time::macros::datetime;
use time::OffsetDateTime;

const SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const ADDRESS: &str = "FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z";
/// RFC 8032's test vector 2 key: a valid address that did not sign anything here.
const OTHER_ADDRESS: &str = "586Z7H2vpX9qNhN2T4e9Utugie3ogjbxzGaMtM3E6HR5";

const MESSAGE: &str = "meet.phantomcall.example wants you to sign in with your Solana account:
FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z

Clicking Sign or Approve only means you have proved this wallet is owned by you. This request will not trigger any blockchain transaction or cost any gas fee.

URI: https://meet.phantomcall.example/login
Version: 1
Chain ID: mainnet
Nonce: oBbLoEldZs7Q2x
Issued At: 2026-03-01T12:00:00.000Z
Expiration Time: 2026-03-01T12:05:00.000Z
Request ID: conference-login
Resources:
- https://meet.phantomcall.example/terms
- https://phantom.app/";

const OPENSSL_SIGNATURE: &str = "e1e96a187d09ed0ed9d386c15832ca42a036f22ad035ae5a42ad6eff17cebce8\
                                 842d18c531b5bbe7676418548500e41287c5e78474676374820ac851e818e309";

const NOW: OffsetDateTime = datetime!(2026-03-01 12:01 UTC);

fn key() -> SigningKey {
    SigningKey::from_bytes(&hex::decode(SECRET).unwrap().try_into().unwrap())
}

fn sign(message: &str) -> Vec<u8> {
    key().sign(message.as_bytes()).to_bytes().to_vec()
}

/// A store holding the nonces the literal messages carry, valid until 12:05.
fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let until = datetime!(2026-03-01 12:05 UTC).unix_timestamp();
    for nonce in ["oBbLoEldZs7Q2x", "Zs7Q2xoBbLoEld", "k3yN0nc3abcd"] {
        store.issue_nonce(nonce, until).unwrap();
    }
    (dir, store)
}

fn expect(account: Option<&str>) -> SiwsExpectations<'_> {
    SiwsExpectations {
        domain: "meet.phantomcall.example",
        origin: "https://meet.phantomcall.example",
        chain_id: Some(ChainId::SolanaMainnet),
        account,
    }
}

fn check(
    message: &str,
    signature: &[u8],
    account: Option<&str>,
    store: &dyn Store,
    now: OffsetDateTime,
) -> Result<String, SiwsError> {
    verify(message.as_bytes(), signature, &expect(account), store, now)
        .map(|v| v.address.as_str().to_owned())
}

#[test]
fn the_literal_key_is_rfc8032_vector_1() {
    let public = key().verifying_key().to_bytes();
    assert_eq!(
        hex::encode(public),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    assert_eq!(bs58::encode(public).into_string(), ADDRESS);
    assert_eq!(hex::encode(sign(MESSAGE)), OPENSSL_SIGNATURE);
}

#[test]
fn accepts_a_message_signed_by_openssl() {
    let (_dir, store) = store();
    let signature = hex::decode(OPENSSL_SIGNATURE).unwrap();
    assert_eq!(
        check(MESSAGE, &signature, Some(ADDRESS), &store, NOW).unwrap(),
        ADDRESS
    );
}

#[test]
fn accepts_a_message_signed_by_ed25519_dalek_without_an_account() {
    let (_dir, store) = store();
    assert_eq!(
        check(MESSAGE, &sign(MESSAGE), None, &store, NOW).unwrap(),
        ADDRESS
    );
}

#[test]
fn wrong_domain() {
    let (_dir, store) = store();
    let message =
        "meet.phantomcall.example.evil.test wants you to sign in with your Solana account:
FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z

URI: https://meet.phantomcall.example/login
Version: 1
Chain ID: mainnet
Nonce: Zs7Q2xoBbLoEld
Issued At: 2026-03-01T12:00:00.000Z";
    let err = check(message, &sign(message), Some(ADDRESS), &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::WrongDomain { .. }), "{err}");
    assert!(err.to_string().starts_with("wrong domain"));
    // Nothing was consumed: the nonce still works for a correct message.
    let good = message.replace(
        "meet.phantomcall.example.evil.test",
        "meet.phantomcall.example",
    );
    assert!(check(&good, &sign(&good), Some(ADDRESS), &store, NOW).is_ok());
}

#[test]
fn wrong_uri_origin() {
    let (_dir, store) = store();
    let message = "meet.phantomcall.example wants you to sign in with your Solana account:
FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z

URI: http://meet.phantomcall.example/login
Nonce: Zs7Q2xoBbLoEld
Issued At: 2026-03-01T12:00:00.000Z";
    let err = check(message, &sign(message), None, &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::WrongUri), "{err}");
}

#[test]
fn reused_nonce() {
    let (_dir, store) = store();
    let signature = hex::decode(OPENSSL_SIGNATURE).unwrap();
    assert!(check(MESSAGE, &signature, Some(ADDRESS), &store, NOW).is_ok());
    let later = NOW + time::Duration::seconds(30);
    let err = check(MESSAGE, &signature, Some(ADDRESS), &store, later).unwrap_err();
    assert!(matches!(err, SiwsError::ReusedNonce), "{err}");
    assert_eq!(
        err.to_string(),
        "reused nonce: this sign-in message was already used"
    );
}

#[test]
fn unknown_nonce() {
    let (_dir, store) = store();
    let message = "meet.phantomcall.example wants you to sign in with your Solana account:
FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z

URI: https://meet.phantomcall.example/
Chain ID: solana:mainnet
Nonce: NeverIssuedHere1
Issued At: 2026-03-01T12:00:30Z";
    let err = check(message, &sign(message), None, &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::UnknownNonce), "{err}");
}

#[test]
fn expired_message() {
    let (_dir, store) = store();
    let signature = hex::decode(OPENSSL_SIGNATURE).unwrap();
    let after = datetime!(2026-03-01 12:05 UTC);
    let err = check(MESSAGE, &signature, Some(ADDRESS), &store, after).unwrap_err();
    assert!(matches!(err, SiwsError::Expired), "{err}");
    assert!(err.to_string().starts_with("expired message"));
}

#[test]
fn issued_too_long_ago_or_ahead() {
    let (_dir, store) = store();
    let message = "meet.phantomcall.example wants you to sign in with your Solana account:
FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z

URI: https://meet.phantomcall.example/login
Chain ID: mainnet
Nonce: k3yN0nc3abcd
Issued At: 2026-03-01T11:50:59Z";
    let err = check(message, &sign(message), None, &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::IssuedAtOutOfRange), "{err}");
    let ahead = message.replace("11:50:59", "12:11:01");
    let err = check(&ahead, &sign(&ahead), None, &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::IssuedAtOutOfRange), "{err}");
    let edge = message.replace("11:50:59", "11:51:00");
    assert!(check(&edge, &sign(&edge), None, &store, NOW).is_ok());
}

#[test]
fn bad_signature() {
    let (_dir, store) = store();
    let mut signature = hex::decode(OPENSSL_SIGNATURE).unwrap();
    signature[10] ^= 0x01;
    let err = check(MESSAGE, &signature, Some(ADDRESS), &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::BadSignature), "{err}");
    assert!(err.to_string().starts_with("bad signature"));
    // A signature over other bytes (one character changed), and a truncated one.
    let other = sign(&MESSAGE.replace("conference-login", "conference-logon"));
    assert!(matches!(
        check(MESSAGE, &other, None, &store, NOW),
        Err(SiwsError::BadSignature)
    ));
    assert!(matches!(
        check(MESSAGE, &signature[..63], None, &store, NOW),
        Err(SiwsError::BadSignature)
    ));
    // The nonce survived the failures (see the verify module on why).
    let good = hex::decode(OPENSSL_SIGNATURE).unwrap();
    assert!(check(MESSAGE, &good, Some(ADDRESS), &store, NOW).is_ok());
}

#[test]
fn wrong_address() {
    let (_dir, store) = store();
    // The message names OTHER_ADDRESS, but the key behind ADDRESS signed it.
    let message = "meet.phantomcall.example wants you to sign in with your Solana account:
586Z7H2vpX9qNhN2T4e9Utugie3ogjbxzGaMtM3E6HR5

URI: https://meet.phantomcall.example/login
Version: 1
Chain ID: mainnet
Nonce: Zs7Q2xoBbLoEld
Issued At: 2026-03-01T12:00:00.000Z";
    let signature = sign(message);
    let err = check(message, &signature, Some(ADDRESS), &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::WrongAddress { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("wrong address"));
    assert!(
        !text.contains(ADDRESS) && !text.contains(OTHER_ADDRESS),
        "{text}"
    );
    // Without the account, the signature simply does not verify under the named address.
    let err = check(message, &signature, None, &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::BadSignature), "{err}");
}

#[test]
fn wrong_chain_and_missing_fields() {
    let (_dir, store) = store();
    let devnet = MESSAGE.replace("Chain ID: mainnet", "Chain ID: devnet");
    let err = check(&devnet, &sign(&devnet), None, &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::WrongChain { .. }), "{err}");
    // The specification README's example input has no URI: this service requires one.
    let no_uri = "meet.phantomcall.example wants you to sign in with your Solana account:
FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z

Clicking Sign or Approve only means you have proved this wallet is owned by you. This request will not trigger any blockchain transaction or cost any gas fee.

Version: 1
Chain ID: mainnet
Nonce: oBbLoEldZs7Q2x
Issued At: 2026-03-01T12:00:00.000Z
Resources:
- https://example.com
- https://phantom.app/";
    let err = check(no_uri, &sign(no_uri), None, &store, NOW).unwrap_err();
    assert!(matches!(err, SiwsError::MissingField("URI")), "{err}");
}

#[test]
fn malformed_message_names_the_line() {
    let (_dir, store) = store();
    let message = MESSAGE.replace("Version: 1\n", "Version: 1\nVersion: 1\n");
    let err = check(&message, &sign(&message), None, &store, NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed sign-in message at line 8: field repeated or out of order"
    );
}
