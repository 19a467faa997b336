//! Logs never carry a wallet address in full. Alone in its binary: it installs a scoped
//! subscriber, and tracing's per-callsite interest cache can miss events when other tests
//! hit the same callsites concurrently on threads without one.

mod auth_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use auth_support::{service, Wallet, NOW};
use ed25519_dalek::Signer as _;
use sfu_jitsi_bridge::store::Store;
use sfu_jitsi_bridge::stripe::{handle_webhook, PriceTiers};

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
