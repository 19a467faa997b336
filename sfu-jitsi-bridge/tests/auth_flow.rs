//! The whole sign-in flow through `AuthService`: challenge, a wallet signing it, session
//! tokens, refresh rotation with reuse detection, the plan reaching the token, and logs that
//! never carry a wallet address in full.

use std::io::Write;
use std::sync::{Arc, Mutex};

use ed25519_dalek::{Signer as _, SigningKey};
use sfu_jitsi_bridge::auth::{AuthConfig, AuthError, AuthService};
use sfu_jitsi_bridge::siws::{ChainId, SiwsError};
use sfu_jitsi_bridge::store::{BillingChange, SqliteStore, Store};
use sfu_jitsi_bridge::stripe::{handle_webhook, PriceTiers};
use sfu_jitsi_bridge::tiers::{check_join, Tier};
use sfu_jitsi_bridge::token::SessionKeys;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

struct Wallet {
    key: SigningKey,
    address: String,
}

impl Wallet {
    fn new(seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let address = bs58::encode(key.verifying_key().to_bytes()).into_string();
        Self { key, address }
    }

    /// What a wallet does with the service's challenge: build the message, sign its bytes.
    fn sign_in(&self, service: &AuthService, now: OffsetDateTime) -> (String, Vec<u8>) {
        let input = service.challenge(now).unwrap();
        let text = input.to_message(&self.address).unwrap().build().unwrap();
        let signature = self.key.sign(text.as_bytes()).to_bytes().to_vec();
        (text, signature)
    }
}

fn service() -> (tempfile::TempDir, Arc<SqliteStore>, AuthService) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let config = AuthConfig {
        domain: "meet.phantomcall.example".into(),
        uri: "https://meet.phantomcall.example/".into(),
        statement: Some("Sign in to PhantomCall conferences.".into()),
        chain_id: Some(ChainId::Mainnet),
    };
    let auth = AuthService::new(store.clone(), SessionKeys::generate(), config);
    (dir, store, auth)
}

#[test]
fn sign_in_gives_a_one_hour_free_session() {
    let (_dir, _store, auth) = service();
    let wallet = Wallet::new(1);
    let (text, sig) = wallet.sign_in(&auth, NOW);
    let later = NOW + Duration::seconds(20);
    let session = auth
        .sign_in(text.as_bytes(), &sig, Some(&wallet.address), later)
        .unwrap();
    assert_eq!(session.claims.sub, wallet.address);
    assert_eq!(session.claims.tier, Tier::Free);
    assert_eq!(session.claims.exp, later.unix_timestamp() + 3600);
    let claims = auth.check(&session.access_token, later).unwrap();
    assert_eq!(claims, session.claims);
    // A Free token cannot open a third seat.
    assert!(check_join(claims.tier, 1).is_ok());
    assert!(check_join(claims.tier, 2).is_err());
    assert!(matches!(
        auth.check(&session.access_token, later + Duration::hours(1)),
        Err(AuthError::Token(_))
    ));
    // The same signed message again: the nonce is spent.
    let again = auth
        .sign_in(text.as_bytes(), &sig, None, later)
        .unwrap_err();
    assert!(
        matches!(again, AuthError::SignIn(SiwsError::ReusedNonce)),
        "{again}"
    );
}

#[test]
fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let (_dir, _store, auth) = service();
    let wallet = Wallet::new(2);
    let (text, sig) = wallet.sign_in(&auth, NOW);
    let s1 = auth.sign_in(text.as_bytes(), &sig, None, NOW).unwrap();
    let r1 = s1.refresh_token.as_str().to_owned();

    let s2 = auth.refresh(&r1, NOW + Duration::minutes(50)).unwrap();
    assert_ne!(s2.refresh_token.as_str(), r1);
    assert_ne!(s2.access_token, s1.access_token);
    assert_eq!(s2.claims.sub, wallet.address);
    let s3 = auth
        .refresh(s2.refresh_token.as_str(), NOW + Duration::minutes(100))
        .unwrap();

    // r1 presented again (a thief's copy): the whole family goes, s3's token included.
    let stolen = auth.refresh(&r1, NOW + Duration::minutes(101)).unwrap_err();
    assert!(matches!(stolen, AuthError::RefreshReused), "{stolen}");
    let victim = auth.refresh(s3.refresh_token.as_str(), NOW + Duration::minutes(102));
    assert!(matches!(victim, Err(AuthError::RefreshRevoked)));

    // A new sign-in starts a new family that works.
    let (text, sig) = wallet.sign_in(&auth, NOW + Duration::minutes(103));
    let s4 = auth
        .sign_in(text.as_bytes(), &sig, None, NOW + Duration::minutes(103))
        .unwrap();
    assert!(auth
        .refresh(s4.refresh_token.as_str(), NOW + Duration::minutes(104))
        .is_ok());
    assert!(matches!(
        auth.refresh("garbage", NOW),
        Err(AuthError::RefreshUnknown)
    ));
}

#[test]
fn a_paid_plan_reaches_the_token_on_refresh() {
    let (_dir, store, auth) = service();
    let wallet = Wallet::new(3);
    let (text, sig) = wallet.sign_in(&auth, NOW);
    let s1 = auth.sign_in(text.as_bytes(), &sig, None, NOW).unwrap();
    assert_eq!(s1.claims.tier, Tier::Free);
    let change = BillingChange::Link {
        wallet: wallet.address.clone(),
        customer: "cus_Pro1".into(),
        tier: Some(Tier::Pro),
    };
    store
        .apply_billing_event("evt_pro1", 1, &change, 2)
        .unwrap();
    let s2 = auth
        .refresh(s1.refresh_token.as_str(), NOW + Duration::minutes(5))
        .unwrap();
    assert_eq!(s2.claims.tier, Tier::Pro);
    assert!(check_join(s2.claims.tier, 9).is_ok());
}

#[test]
fn a_message_for_another_wallet_is_refused() {
    let (_dir, _store, auth) = service();
    let (alice, mallory) = (Wallet::new(4), Wallet::new(5));
    let (text, _) = alice.sign_in(&auth, NOW);
    let forged = mallory.key.sign(text.as_bytes()).to_bytes();
    let err = auth
        .sign_in(text.as_bytes(), &forged, Some(&mallory.address), NOW)
        .unwrap_err();
    assert!(
        matches!(err, AuthError::SignIn(SiwsError::WrongAddress { .. })),
        "{err}"
    );
    let err = auth
        .sign_in(text.as_bytes(), &forged, None, NOW)
        .unwrap_err();
    assert!(
        matches!(err, AuthError::SignIn(SiwsError::BadSignature)),
        "{err}"
    );
}

/// Collects everything the service logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn logs_never_contain_a_wallet_address_in_full() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let (alice, mallory) = (Wallet::new(6), Wallet::new(7));
    tracing::subscriber::with_default(subscriber, || {
        let (_dir, store, auth) = service();
        // A sign-in, a refused one naming another address, a refresh, a reuse.
        let (text, sig) = alice.sign_in(&auth, NOW);
        let forged = mallory.key.sign(text.as_bytes()).to_bytes();
        assert!(auth
            .sign_in(text.as_bytes(), &forged, Some(&mallory.address), NOW)
            .is_err());
        let s1 = auth
            .sign_in(text.as_bytes(), &sig, Some(&alice.address), NOW)
            .unwrap();
        auth.refresh(s1.refresh_token.as_str(), NOW).unwrap();
        assert!(auth.refresh(s1.refresh_token.as_str(), NOW).is_err());
        // A webhook that sets Alice's plan.
        let body = format!(
            r#"{{"id":"evt_log1","object":"event","created":1,"type":"checkout.session.completed","data":{{"object":{{"object":"checkout.session","client_reference_id":"{}","customer":"cus_Log1","payment_status":"paid","metadata":{{"tier":"pro"}}}}}}}}"#,
            alice.address
        );
        let secret = "whsec_log";
        let t = NOW.unix_timestamp();
        let sig = hex::encode(sfu_jitsi_bridge::stripe::signature::sign(
            body.as_bytes(),
            t,
            secret,
        ));
        let header = format!("t={t},v1={sig}");
        let prices = PriceTiers::default();
        handle_webhook(
            store.as_ref() as &dyn Store,
            &prices,
            body.as_bytes(),
            &header,
            secret,
            NOW,
        )
        .unwrap();
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for needle in ["signed in", "refused", "presented twice", "plan set"] {
        assert!(logs.contains(needle), "no '{needle}' line in:\n{logs}");
    }
    for wallet in [&alice, &mallory] {
        assert!(
            !logs.contains(&wallet.address),
            "full address in logs:\n{logs}"
        );
        let short = format!(
            "{}…{}",
            &wallet.address[..4],
            &wallet.address[wallet.address.len() - 4..]
        );
        assert!(logs.contains(&short), "{short} missing from:\n{logs}");
    }
}
