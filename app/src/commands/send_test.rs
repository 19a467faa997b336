//! `phantomcall send-test NPUB`: a signaling round trip with a peer running `listen`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use nostr_signal::{
    parse_public_key, KeyFile, NostrTransport, NostrTransportConfig, SignalTransport,
};
use phantomcall_schemas::{CallBody, CallId, CallMessage, CallType, DeviceId, PrivacyMode};

use crate::identity;
use crate::relays::RelayArgs;

/// SDP session name that marks a signaling test offer (no media will follow).
pub const TEST_SESSION_NAME: &str = "phantomcall-signaling-test";
/// Reason `listen` gives when it declines a test offer: the round trip worked.
pub const TEST_REPLY_REASON: &str = "signaling-test-ok";

/// A minimal, valid SDP offer naming itself a signaling test.
pub fn test_sdp() -> String {
    format!("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns={TEST_SESSION_NAME}\r\nt=0 0\r\n")
}

/// A test offer to `peer`.
pub fn test_offer(peer: &nostr_signal::PublicKey, device: &DeviceId) -> CallMessage {
    CallMessage {
        phone: None,
        call_id: CallId::new_random(),
        peer: peer.to_hex(),
        also_to: Vec::new(),
        pq_share: None,
        mode: Some(PrivacyMode::Private),
        device: Some(device.clone()),
        body: CallBody::Offer {
            sdp: test_sdp(),
            call_type: CallType::Voice,
        },
    }
}

/// Whether `message` is a test offer made by [`test_offer`].
pub fn is_test_offer(message: &CallMessage) -> bool {
    matches!(&message.body, CallBody::Offer { sdp, .. } if sdp.contains(&format!("s={TEST_SESSION_NAME}\r\n")))
}

pub async fn run(
    file: &KeyFile,
    npub: &str,
    relays: RelayArgs,
    timeout: u64,
    socks5: Option<std::net::SocketAddr>,
) -> Result<ExitCode> {
    let peer = parse_public_key(npub)?;
    let urls = relays.urls()?;
    let id = identity::load(file)?;
    eprintln!("connecting to {} relay(s)…", urls.len());
    let mut config = NostrTransportConfig::new(urls);
    config.proxy = socks5;
    let transport = NostrTransport::connect(id, config).await?;
    let mut incoming = transport.incoming();
    let offer = test_offer(&peer, &DeviceId::new_random());
    let started = Instant::now();
    let report = transport.send(peer, &offer).await?;
    eprintln!(
        "test offer sent (accepted by {}), waiting for the reply…",
        report.accepted_by
    );
    let wait = async {
        while let Some(m) = incoming.recv().await {
            if m.sender == peer && m.message.call_id == offer.call_id {
                return Some(m);
            }
        }
        None
    };
    let reply = tokio::time::timeout(Duration::from_secs(timeout), wait).await;
    transport.shutdown().await;
    match reply {
        Ok(Some(m)) => {
            let detail = match &m.message.body {
                CallBody::Reject { reason } | CallBody::Hangup { reason } => {
                    reason.clone().unwrap_or_default()
                }
                _ => String::new(),
            };
            println!(
                "reply: {} {} in {} ms ({:?} form)",
                m.message.kind().name(),
                detail,
                started.elapsed().as_millis(),
                m.form
            );
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!(
                "no reply within {timeout} s: is the peer running `phantomcall listen` on one of these relays?"
            );
            Ok(ExitCode::from(2))
        }
    }
}
