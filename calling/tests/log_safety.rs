//! The engine's logs name calls by a short prefix only and never carry a key, a device
//! id or SDP: logs end up in bug reports.

mod common;
mod log_capture;

use calling::Input;
use common::{candidate, message, sdp, Net};
use log_capture::Sink;
use phantomcall_schemas::{CallBody, CallId, CallType};

#[test]
fn logs_carry_no_identifier_and_no_sdp() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let mut net = Net::new();
    let alice = net.person("alice", 1)[0];
    let bobs = net.person("bob", 2);
    let carol = net.person("carol", 1)[0];
    let call = CallId::new_random();
    tracing::subscriber::with_default(subscriber, || {
        net.dial_with(
            alice,
            bobs[0],
            CallType::Video,
            phantomcall_schemas::PrivacyMode::Private,
            call,
        );
        net.accept(bobs[1], call);
        net.input(
            alice,
            Input::LocalCandidates {
                call_id: call,
                candidates: vec![candidate(4242)],
            },
        );
        // Drops of every flavour: third party, illegal transition, unknown call.
        let carol_key = net.key(carol);
        let forged = message(&net, carol, alice, call, CallBody::Hangup { reason: None });
        net.inject(alice, carol_key, forged);
        net.input(
            alice,
            Input::Accept {
                call_id: call,
                with_video: true,
            },
        );
        net.hangup(carol, CallId::new_random());
        net.media_connected(&[alice, bobs[1]], call);
        net.hangup(bobs[1], call);
    });
    let log = String::from_utf8(sink.bytes()).unwrap();
    assert!(log.contains("call state"), "transitions are logged: {log}");
    assert!(
        log.contains("ThirdParty"),
        "drops are logged with their reason: {log}"
    );
    assert!(log.contains("illegal transition"), "{log}");
    let short = &call.to_string()[..8];
    assert!(log.contains(short), "calls are named by their prefix");
    let mut secrets = vec![call.to_string(), sdp("offer-alice"), "4242".to_owned()];
    for d in &net.devices {
        secrets.push(d.key.to_hex());
        secrets.push(d.device.to_string());
    }
    for secret in secrets {
        assert!(!log.contains(&secret), "{secret:?} in the log:\n{log}");
    }
    assert!(!log.contains("v=0"), "no SDP in the log");
    // The engine's Debug is safe to log too.
    let debug = format!("{:?}", net.devices[alice].core);
    assert!(
        !debug.contains(&net.key(alice).to_hex()) && !debug.contains(short),
        "{debug}"
    );
}
