//! Stripe webhook deliveries: valid, invalid, replayed and stale signatures, a secret roll,
//! and a subscription's life, with payloads hand-written in the shapes of Stripe's event
//! objects (`tests/fixtures/stripe/*.json`, API version 2025-03-31).
//!
//! The two `OPENSSL_*` signatures were computed outside this crate:
//! `printf '1772366395.' | cat - checkout_session_completed.json |
//!  openssl dgst -sha256 -hmac <secret> -hex`. The other headers are signed here with the
//! `hmac` crate directly, not with the crate's own signing helper.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sfu_jitsi_bridge::store::{tier_of, BillingOutcome, SqliteStore, Store};
use sfu_jitsi_bridge::stripe::{handle_webhook, PriceTiers, SignatureError, WebhookError};
use sfu_jitsi_bridge::tiers::Tier;
use sha2::Sha256;
use time::OffsetDateTime;

const CHECKOUT: &[u8] = include_bytes!("fixtures/stripe/checkout_session_completed.json");
const INVOICE_PAID: &[u8] = include_bytes!("fixtures/stripe/invoice_paid.json");
const SUB_UPDATED: &[u8] = include_bytes!("fixtures/stripe/subscription_updated.json");
const SUB_DELETED: &[u8] = include_bytes!("fixtures/stripe/subscription_deleted.json");

const SECRET: &str = "whsec_PhantomCallTestEndpointSecret01";
const OLD_SECRET: &str = "whsec_PhantomCallOldEndpointSecret00";
const OPENSSL_SIG: &str = "94fdb5ff96991c754930d72352d8bb37e09f9bf1df5dbea802357100f736dcae";
const OPENSSL_SIG_OLD: &str = "a43da23b6f09fd12e7b8864b53a7627b31f5c9380b47c7f76d55ca0e9c9a80d6";
const SIGNED_AT: i64 = 1772366395;

const WALLET: &str = "FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z";
/// 2026-03-01T12:00:00Z.
const NOW: i64 = 1772366400;

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn prices() -> PriceTiers {
    PriceTiers(HashMap::from([
        ("price_1PhantomProMonthly".to_owned(), Tier::Pro),
        (
            "price_1PhantomEnterpriseMonthly".to_owned(),
            Tier::Enterprise,
        ),
    ]))
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    (dir, store)
}

/// `t=…,v1=…` for `body` at `t` under `secret`, computed with `hmac` directly.
fn header(body: &[u8], t: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn deliver(
    store: &dyn Store,
    body: &[u8],
    header: &str,
    now: i64,
) -> Result<BillingOutcome, WebhookError> {
    handle_webhook(store, &prices(), body, header, SECRET, at(now)).map(|o| o.outcome)
}

#[test]
fn valid_signature_from_openssl_sets_the_plan() {
    let (_dir, store) = store();
    let header = format!("t={SIGNED_AT},v1={OPENSSL_SIG}");
    let outcome = handle_webhook(&store, &prices(), CHECKOUT, &header, SECRET, at(NOW)).unwrap();
    assert_eq!(outcome.event_id, "evt_1QpHc2LkdIwHu7ixPhCk0001");
    assert_eq!(outcome.event_type, "checkout.session.completed");
    assert_eq!(
        outcome.outcome,
        BillingOutcome::Applied {
            wallet: WALLET.into(),
            tier: Tier::Pro
        }
    );
    let account = store.account(WALLET).unwrap().unwrap();
    assert_eq!(
        account.stripe_customer.as_deref(),
        Some("cus_RkPhantom0001")
    );
    assert_eq!(header, self::header(CHECKOUT, SIGNED_AT, SECRET));
}

#[test]
fn invalid_signatures_are_refused_and_change_nothing() {
    let (_dir, store) = store();
    let wrong_secret = header(CHECKOUT, NOW, "whsec_SomebodyElse");
    let err = deliver(&store, CHECKOUT, &wrong_secret, NOW).unwrap_err();
    assert!(
        matches!(err, WebhookError::Signature(SignatureError::Mismatch)),
        "{err}"
    );
    assert_eq!(err.http_status(), 400);

    // Signed, then altered: the tier in metadata raised to enterprise.
    let good = header(CHECKOUT, NOW, SECRET);
    let tampered = String::from_utf8(CHECKOUT.to_vec())
        .unwrap()
        .replace("\"tier\": \"pro\"", "\"tier\": \"enterprise\"");
    assert_ne!(tampered.as_bytes(), CHECKOUT);
    let err = deliver(&store, tampered.as_bytes(), &good, NOW).unwrap_err();
    assert!(matches!(
        err,
        WebhookError::Signature(SignatureError::Mismatch)
    ));

    for bad in [
        "",
        "t=1772366400",
        "v1=00",
        "t=abc,v1=00",
        &good.replace("v1=", "v0="),
    ] {
        let err = deliver(&store, CHECKOUT, bad, NOW).unwrap_err();
        assert!(matches!(err, WebhookError::Signature(_)), "{bad}: {err}");
    }
    assert_eq!(store.account(WALLET).unwrap(), None);
}

#[test]
fn the_signature_is_checked_before_the_body_is_parsed() {
    let (_dir, store) = store();
    let junk = b"{ this is not json";
    let err = deliver(&store, junk, &header(CHECKOUT, NOW, SECRET), NOW).unwrap_err();
    assert!(matches!(
        err,
        WebhookError::Signature(SignatureError::Mismatch)
    ));
    let err = deliver(&store, junk, &header(junk, NOW, SECRET), NOW).unwrap_err();
    assert!(matches!(err, WebhookError::Payload("not JSON")));
}

#[test]
fn a_replayed_event_is_acknowledged_and_changes_nothing() {
    let (_dir, store) = store();
    let signed = header(CHECKOUT, NOW, SECRET);
    assert!(matches!(
        deliver(&store, CHECKOUT, &signed, NOW).unwrap(),
        BillingOutcome::Applied { .. }
    ));
    // The same delivery again, inside the tolerance window.
    assert_eq!(
        deliver(&store, CHECKOUT, &signed, NOW + 60).unwrap(),
        BillingOutcome::Duplicate
    );
    // The subscription ends; then the old checkout is resent (a fresh signature, as the
    // dashboard's "Resend" does). It must not bring the plan back.
    deliver(
        &store,
        SUB_DELETED,
        &header(SUB_DELETED, NOW + 120, SECRET),
        NOW + 120,
    )
    .unwrap();
    assert_eq!(tier_of(&store, WALLET).unwrap(), Tier::Free);
    let resent = header(CHECKOUT, NOW + 200, SECRET);
    assert_eq!(
        deliver(&store, CHECKOUT, &resent, NOW + 200).unwrap(),
        BillingOutcome::Duplicate
    );
    assert_eq!(tier_of(&store, WALLET).unwrap(), Tier::Free);
}

#[test]
fn stale_signatures_are_refused() {
    let (_dir, store) = store();
    let old = header(CHECKOUT, NOW - 301, SECRET);
    let err = deliver(&store, CHECKOUT, &old, NOW).unwrap_err();
    assert!(
        matches!(err, WebhookError::Signature(SignatureError::Stale)),
        "{err}"
    );
    let future = header(CHECKOUT, NOW + 301, SECRET);
    assert!(matches!(
        deliver(&store, CHECKOUT, &future, NOW),
        Err(WebhookError::Signature(SignatureError::Stale))
    ));
    assert_eq!(store.account(WALLET).unwrap(), None);
    // Exactly at the tolerance it is still accepted.
    let edge = header(CHECKOUT, NOW - 300, SECRET);
    assert!(deliver(&store, CHECKOUT, &edge, NOW).is_ok());
}

#[test]
fn several_v1_signatures_during_a_secret_roll() {
    // While rolling the endpoint secret Stripe signs with both; a v0 (test-mode legacy) value
    // and an unknown scheme ride along and are ignored.
    let header = format!(
        "t={SIGNED_AT},v1={OPENSSL_SIG_OLD},v1={OPENSSL_SIG},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,v9=x"
    );
    for secret in [SECRET, OLD_SECRET] {
        let (_dir, store) = store();
        let out = handle_webhook(&store, &prices(), CHECKOUT, &header, secret, at(NOW));
        assert!(
            matches!(out.unwrap().outcome, BillingOutcome::Applied { .. }),
            "{secret}"
        );
    }
    let (_dir, store) = store();
    let out = handle_webhook(
        &store,
        &prices(),
        CHECKOUT,
        &header,
        "whsec_ThirdOne",
        at(NOW),
    );
    assert!(matches!(
        out,
        Err(WebhookError::Signature(SignatureError::Mismatch))
    ));
}

#[test]
fn a_subscription_lifecycle_sets_each_plan() {
    let (_dir, store) = store();
    let mut now = NOW;
    let mut send = |body: &[u8]| {
        now += 10;
        deliver(&store, body, &header(body, now, SECRET), now).unwrap()
    };
    let applied = |tier| BillingOutcome::Applied {
        wallet: WALLET.into(),
        tier,
    };
    assert_eq!(send(CHECKOUT), applied(Tier::Pro));
    assert_eq!(send(INVOICE_PAID), applied(Tier::Enterprise));
    assert_eq!(send(SUB_UPDATED), applied(Tier::Pro));
    assert_eq!(send(SUB_DELETED), applied(Tier::Free));
    assert_eq!(tier_of(&store, WALLET).unwrap(), Tier::Free);
}

#[test]
fn events_delivered_out_of_order_do_not_undo_newer_ones() {
    let (_dir, store) = store();
    let send = |body: &[u8]| deliver(&store, body, &header(body, NOW, SECRET), NOW).unwrap();
    send(CHECKOUT);
    send(SUB_DELETED);
    // Older than the deletion: recorded, plan unchanged.
    assert_eq!(
        send(INVOICE_PAID),
        BillingOutcome::Stale {
            wallet: WALLET.into()
        }
    );
    assert_eq!(
        send(SUB_UPDATED),
        BillingOutcome::Stale {
            wallet: WALLET.into()
        }
    );
    assert_eq!(tier_of(&store, WALLET).unwrap(), Tier::Free);
}

#[test]
fn events_for_unknown_customers_and_other_types_are_acknowledged() {
    let (_dir, store) = store();
    let send = |body: &[u8]| deliver(&store, body, &header(body, NOW, SECRET), NOW).unwrap();
    assert_eq!(send(INVOICE_PAID), BillingOutcome::UnknownCustomer);
    let other = br#"{"id":"evt_1QpHzzLkdIwHu7ixPhCk0099","object":"event","created":1772366400,"type":"customer.created","data":{"object":{"id":"cus_RkPhantom0002","object":"customer"}}}"#;
    assert_eq!(send(other), BillingOutcome::Ignored);
    let no_id = br#"{"object":"event","created":1,"type":"invoice.paid","data":{"object":{}}}"#;
    let err = deliver(&store, no_id, &header(no_id, NOW, SECRET), NOW).unwrap_err();
    assert!(matches!(err, WebhookError::Payload("no event id")));
}
