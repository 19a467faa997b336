//! Suite cases: billing records, Stripe event ids, and purging.

use std::sync::Barrier;
use std::thread;

use sfu_jitsi_bridge::store::{
    tier_of, BillingChange, BillingOutcome, NonceState, RefreshOutcome, STRIPE_EVENT_RETENTION_SECS,
};
use sfu_jitsi_bridge::tiers::Tier;

use super::sessions::{tok, A, B};
use super::Open;

fn link(wallet: &str, customer: &str, tier: Option<Tier>) -> BillingChange {
    BillingChange::Link {
        wallet: wallet.into(),
        customer: customer.into(),
        tier,
    }
}

fn set(customer: &str, tier: Tier) -> BillingChange {
    BillingChange::SetTier {
        customer: customer.into(),
        tier,
    }
}

pub fn billing_links_sets_and_ignores_older_events(open: Open) {
    let s = open();
    assert_eq!(tier_of(s.as_ref(), A).unwrap(), Tier::Free);
    let applied = |tier| BillingOutcome::Applied {
        wallet: A.into(),
        tier,
    };
    let r = s.apply_billing_event("evt_1", 10, &link(A, "cus_1", Some(Tier::Pro)), 100);
    assert_eq!(r.unwrap(), applied(Tier::Pro));
    let account = s.account(A).unwrap().unwrap();
    assert_eq!(
        (account.tier, account.stripe_customer.as_deref()),
        (Tier::Pro, Some("cus_1"))
    );
    let r = s.apply_billing_event("evt_2", 20, &set("cus_1", Tier::Enterprise), 100);
    assert_eq!(r.unwrap(), applied(Tier::Enterprise));
    // Delivered late: an older event does not undo a newer one.
    let r = s.apply_billing_event("evt_3", 15, &set("cus_1", Tier::Free), 100);
    assert_eq!(r.unwrap(), BillingOutcome::Stale { wallet: A.into() });
    assert_eq!(tier_of(s.as_ref(), A).unwrap(), Tier::Enterprise);
    let r = s.apply_billing_event("evt_4", 30, &set("cus_nobody", Tier::Pro), 100);
    assert_eq!(r.unwrap(), BillingOutcome::UnknownCustomer);
    let r = s.apply_billing_event("evt_5", 40, &link(A, "cus_1", None), 100);
    assert_eq!(r.unwrap(), BillingOutcome::Linked { wallet: A.into() });
    let r = s.apply_billing_event("evt_6", 50, &BillingChange::Nothing, 100);
    assert_eq!(r.unwrap(), BillingOutcome::Ignored);
    assert_eq!(tier_of(s.as_ref(), A).unwrap(), Tier::Enterprise);
}

pub fn billing_events_apply_once(open: Open) {
    let s = open();
    let r = s.apply_billing_event("evt_once", 10, &link(A, "cus_1", Some(Tier::Pro)), 100);
    assert!(matches!(r.unwrap(), BillingOutcome::Applied { .. }));
    // The same id again, whatever it says, changes nothing.
    let r = s.apply_billing_event("evt_once", 99, &set("cus_1", Tier::Free), 101);
    assert_eq!(r.unwrap(), BillingOutcome::Duplicate);
    assert_eq!(tier_of(s.as_ref(), A).unwrap(), Tier::Pro);
}

pub fn a_customer_moves_to_the_wallet_that_last_checked_out(open: Open) {
    let s = open();
    s.apply_billing_event("evt_a", 10, &link(A, "cus_9", Some(Tier::Pro)), 100)
        .unwrap();
    s.apply_billing_event("evt_b", 20, &link(B, "cus_9", Some(Tier::Pro)), 100)
        .unwrap();
    let a = s.account(A).unwrap().unwrap();
    assert_eq!((a.tier, a.stripe_customer), (Tier::Free, None));
    let b = s.account(B).unwrap().unwrap();
    assert_eq!(
        (b.tier, b.stripe_customer.as_deref()),
        (Tier::Pro, Some("cus_9"))
    );
    let r = s.apply_billing_event("evt_c", 30, &set("cus_9", Tier::Enterprise), 100);
    assert_eq!(
        r.unwrap(),
        BillingOutcome::Applied {
            wallet: B.into(),
            tier: Tier::Enterprise
        }
    );
}

pub fn duplicate_deliveries_race_to_one_application(open: Open) {
    let stores = [open(), open(), open(), open()];
    for round in 0..10 {
        let id = format!("evt_race_{round}");
        let barrier = Barrier::new(stores.len());
        let outcomes = thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .map(|s| {
                    let (id, barrier) = (&id, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        let change = link(A, "cus_r", Some(Tier::Pro));
                        s.apply_billing_event(id, round, &change, 100).unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        let dups = outcomes
            .iter()
            .filter(|o| **o == BillingOutcome::Duplicate)
            .count();
        assert_eq!(dups, stores.len() - 1, "{outcomes:?}");
    }
}

pub fn purge_removes_only_what_expired(open: Open) {
    let s = open();
    s.issue_nonce("oldnonce0001", 100).unwrap();
    s.issue_nonce("newnonce0001", 300).unwrap();
    s.start_refresh_family("old", A, &tok(21, 100), 0).unwrap();
    s.start_refresh_family("new", A, &tok(22, 300), 0).unwrap();
    s.apply_billing_event(
        "evt_old",
        1,
        &BillingChange::Nothing,
        200 - STRIPE_EVENT_RETENTION_SECS,
    )
    .unwrap();
    s.apply_billing_event("evt_new", 1, &BillingChange::Nothing, 150)
        .unwrap();
    // Expired: one nonce, one token and its emptied family, one old event id.
    assert_eq!(s.purge_expired(200).unwrap(), 4);
    assert_eq!(
        s.consume_nonce("oldnonce0001", 200).unwrap(),
        NonceState::Unknown
    );
    assert_eq!(
        s.consume_nonce("newnonce0001", 200).unwrap(),
        NonceState::Consumed
    );
    assert_eq!(
        s.rotate_refresh(&[21; 32], &tok(23, 900), 200).unwrap(),
        RefreshOutcome::Unknown
    );
    assert!(matches!(
        s.rotate_refresh(&[22; 32], &tok(24, 900), 200).unwrap(),
        RefreshOutcome::Rotated { .. }
    ));
    let again = s
        .apply_billing_event("evt_new", 1, &BillingChange::Nothing, 201)
        .unwrap();
    assert_eq!(again, BillingOutcome::Duplicate);
    let forgotten = s
        .apply_billing_event("evt_old", 1, &BillingChange::Nothing, 201)
        .unwrap();
    assert_eq!(forgotten, BillingOutcome::Ignored);
}
