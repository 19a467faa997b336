//! The whole sign-in flow through `AuthService`: challenge, a wallet signing it, session
//! tokens, refresh rotation with reuse detection and the plan reaching the token (the logs:
//! `auth_logs.rs`).

mod auth_support;

use auth_support::{service, Wallet, NOW};
use ed25519_dalek::Signer as _;
use sfu_jitsi_bridge::auth::AuthError;
use sfu_jitsi_bridge::siws::SiwsError;
use sfu_jitsi_bridge::store::{BillingChange, Store};
use sfu_jitsi_bridge::tiers::{check_join, Tier};
use time::Duration;

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
