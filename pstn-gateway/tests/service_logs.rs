//! Privacy invariant: the gateway service's logs never hold a phone number in full (only
//! its last two digits), at debug level, through a whole bridged call with baresip calling
//! a DID. Alone in its binary: it installs the global subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::service::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_logs_never_hold_a_phone_number_in_full() {
    let captured = Captured::default();
    let writer = captured.clone();
    // What `phantomcall gateway serve` runs with, at debug: webrtc-rs and the SIP stack's
    // message dumps off (calling::peer::log_filter, pstn_gateway::QUIET_SIP_STACK).
    let filter = format!(
        "{},{}",
        calling::peer::log_filter("debug"),
        pstn_gateway::QUIET_SIP_STACK
    );
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let mut scene = scene(440.0).await;
    let gateway = service(scene.relay.url(), &scene.alice, None, &[]).await;
    let phone = phone_dialling("127.0.0.1", gateway.gateway().sip_addr("test").unwrap());
    let ringing = scene.answer().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    scene.alice.engine.hangup(ringing.call_id);
    phone_call_ends(&phone, "the call ended").await;
    gateway.shutdown().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("pstn: inbound call rings its user") && logs.contains("…12"),
        "the call was logged, by its last two digits: {logs}"
    );
    for full in ["5551234512", "5550100101"] {
        assert!(
            !logs.contains(full),
            "a full number ({full}) in the logs:\n{logs}"
        );
    }
}
