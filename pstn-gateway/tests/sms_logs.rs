//! What the SMS bridge writes to the log, captured through a real subscriber while messages
//! go in and out: never a phone number in full, never a message text, never the auth
//! token. Alone in its binary: it installs the global subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

mod sms_common;
use sms_common::*;

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

#[tokio::test]
async fn logs_hold_no_number_text_or_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let mut b = bridge(
        "twilio",
        "twilio-token-123",
        "inbound_per_minute_per_number = 3",
    )
    .await;
    let secret_text = "my secret address is 12 Elm Street";
    for (i, body) in [secret_text, "HELP", "STOP", "hello again"]
        .iter()
        .enumerate()
    {
        let sid = format!("SM{:032}", 500 + i);
        assert_eq!(twilio_post(&b, &twilio_inbound(&sid, body)).await.0, 200);
    }
    // Refusals log too: a spoofed signature, a send to the opted-out number, a provider 4xx
    // whose message quotes the number.
    let params = twilio_inbound("SM00000000000000000000000000000599", secret_text);
    let (status, _) = post(
        b.addr,
        "/sms/inbound",
        &[("X-Twilio-Signature", "AAAA".into())],
        encode(&params),
    )
    .await;
    assert_eq!(status, 403);
    assert!(b
        .sender
        .send(&n(OUR_NUMBER), &n(CALLER), secret_text)
        .await
        .is_err());
    b.provider.script.lock().unwrap().push_back((
        400,
        format!(r#"{{"code":21211,"message":"The 'To' number {OTHER} is not valid"}}"#),
    ));
    assert!(b
        .sender
        .send(&n(OUR_NUMBER), &n(OTHER), secret_text)
        .await
        .is_err());
    b.provider
        .script
        .lock()
        .unwrap()
        .push_back((503, "{}".into()));
    b.sender
        .send(&n(OUR_NUMBER), &n(OTHER), secret_text)
        .await
        .unwrap();
    while b.events.try_recv().is_ok() {}

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("sms: inbound message accepted"),
        "the capture works:\n{log}"
    );
    assert!(log.contains("sms: webhook signature refused"));
    assert!(log.contains("sms: sent"));
    for forbidden in [
        &CALLER[1..],
        &OUR_NUMBER[1..],
        &OTHER[1..],
        "secret",
        "Elm Street",
        "twilio-token-123",
    ] {
        assert!(!log.contains(forbidden), "{forbidden:?} in the log:\n{log}");
    }
}

const OTHER: &str = "+4930901820";
