//! Suite cases: nonces and refresh-token families.

use std::sync::Barrier;
use std::thread;

use sfu_jitsi_bridge::store::{NewRefreshToken, NonceState, RefreshOutcome, Store, StoreError};

use super::Open;

pub const A: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
pub const B: &str = "FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z";

pub fn tok(n: u8, expires_at: i64) -> NewRefreshToken {
    NewRefreshToken {
        hash: [n; 32],
        expires_at,
    }
}

pub fn nonces_are_consumed_once(open: Open) {
    let s = open();
    s.issue_nonce("abcdefgh1234", 100).unwrap();
    assert!(matches!(
        s.issue_nonce("abcdefgh1234", 100),
        Err(StoreError::DuplicateNonce)
    ));
    assert_eq!(
        s.consume_nonce("abcdefgh1234", 10).unwrap(),
        NonceState::Consumed
    );
    assert_eq!(
        s.consume_nonce("abcdefgh1234", 11).unwrap(),
        NonceState::AlreadyUsed
    );
    assert_eq!(
        s.consume_nonce("neverissued0", 10).unwrap(),
        NonceState::Unknown
    );
}

pub fn nonces_expire(open: Open) {
    let s = open();
    s.issue_nonce("expiring0001", 100).unwrap();
    s.issue_nonce("expiring0002", 100).unwrap();
    assert_eq!(
        s.consume_nonce("expiring0001", 100).unwrap(),
        NonceState::Expired
    );
    assert_eq!(
        s.consume_nonce("expiring0002", 99).unwrap(),
        NonceState::Consumed
    );
}

/// Eight instances race for each nonce: exactly one wins.
pub fn nonce_race_has_one_winner(open: Open) {
    let stores: Vec<Box<dyn Store>> = (0..8).map(|_| open()).collect();
    for round in 0..10 {
        let nonce = format!("racenonce{round:04}");
        stores[0].issue_nonce(&nonce, 1000).unwrap();
        let barrier = Barrier::new(stores.len());
        let wins = thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .map(|s| {
                    let (nonce, barrier) = (&nonce, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        s.consume_nonce(nonce, 10).unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(
            wins.iter().filter(|w| **w == NonceState::Consumed).count(),
            1,
            "{wins:?}"
        );
        assert!(wins
            .iter()
            .all(|w| matches!(w, NonceState::Consumed | NonceState::AlreadyUsed)));
    }
}

pub fn refresh_rotates_and_reuse_revokes_the_family(open: Open) {
    let s = open();
    s.start_refresh_family("fam1", A, &tok(1, 1000), 0).unwrap();
    let rotated = |wallet: &str| RefreshOutcome::Rotated {
        wallet: wallet.into(),
        family: "fam1".into(),
    };
    assert_eq!(
        s.rotate_refresh(&[1; 32], &tok(2, 1000), 10).unwrap(),
        rotated(A)
    );
    assert_eq!(
        s.rotate_refresh(&[2; 32], &tok(3, 1000), 20).unwrap(),
        rotated(A)
    );
    // Token 1 again: someone kept a copy. The family dies, token 3 with it.
    assert_eq!(
        s.rotate_refresh(&[1; 32], &tok(4, 1000), 30).unwrap(),
        RefreshOutcome::Reused {
            wallet: A.into(),
            family: "fam1".into()
        }
    );
    assert_eq!(
        s.rotate_refresh(&[3; 32], &tok(5, 1000), 40).unwrap(),
        RefreshOutcome::Revoked
    );
    assert_eq!(
        s.rotate_refresh(&[4; 32], &tok(6, 1000), 40).unwrap(),
        RefreshOutcome::Unknown
    );
}

pub fn refresh_tokens_expire(open: Open) {
    let s = open();
    s.start_refresh_family("fam2", A, &tok(7, 50), 0).unwrap();
    assert_eq!(
        s.rotate_refresh(&[7; 32], &tok(8, 500), 50).unwrap(),
        RefreshOutcome::Expired
    );
}

/// Two instances rotate one token at once: one rotates, the other sees reuse.
pub fn refresh_race_is_detected_as_reuse(open: Open) {
    let stores = [open(), open()];
    for round in 0..10u8 {
        let family = format!("race{round}");
        let first = 100 + round;
        stores[0]
            .start_refresh_family(&family, A, &tok(first, 1000), 0)
            .unwrap();
        let barrier = Barrier::new(2);
        let outcomes = thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        s.rotate_refresh(&[first; 32], &tok(200 + 2 * round + i as u8, 1000), 10)
                            .unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, RefreshOutcome::Rotated { .. }));
        let reused = outcomes
            .iter()
            .filter(|o| matches!(o, RefreshOutcome::Reused { .. }));
        assert_eq!((rotated.count(), reused.count()), (1, 1), "{outcomes:?}");
    }
}

pub fn sign_out_everywhere(open: Open) {
    let s = open();
    s.start_refresh_family("a1", A, &tok(11, 1000), 0).unwrap();
    s.start_refresh_family("a2", A, &tok(12, 1000), 0).unwrap();
    s.start_refresh_family("b1", B, &tok(13, 1000), 0).unwrap();
    assert_eq!(s.revoke_wallet_sessions(A).unwrap(), 2);
    assert_eq!(
        s.rotate_refresh(&[11; 32], &tok(14, 1000), 1).unwrap(),
        RefreshOutcome::Revoked
    );
    assert_eq!(
        s.rotate_refresh(&[12; 32], &tok(15, 1000), 1).unwrap(),
        RefreshOutcome::Revoked
    );
    assert!(matches!(
        s.rotate_refresh(&[13; 32], &tok(16, 1000), 1).unwrap(),
        RefreshOutcome::Rotated { .. }
    ));
}
