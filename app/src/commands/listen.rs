//! `phantomcall listen`: print verified call messages as they arrive.

use std::process::ExitCode;

use anyhow::Result;
use nostr_signal::{
    KeyFile, NostrTransport, NostrTransportConfig, SignalTransport, VerifiedMessage,
};
use phantomcall_schemas::{CallBody, CallMessage, DeviceId};

use super::send_test::{is_test_offer, TEST_REPLY_REASON};
use crate::identity;
use crate::relays::RelayArgs;

/// One line describing a verified message, for a person watching the terminal.
pub fn describe(m: &VerifiedMessage) -> String {
    let npub = nostr_signal::encode_npub(&m.sender);
    let mode = m
        .message
        .mode
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into());
    let origin = if m.from_own_device {
        " (own device)"
    } else {
        ""
    };
    format!(
        "{:<19} from {npub}{origin}  call {}  mode {mode}  {:?}",
        m.message.kind().name(),
        m.message.call_id,
        m.form
    )
}

pub async fn run(file: &KeyFile, relays: RelayArgs, reply_to_tests: bool) -> Result<ExitCode> {
    let urls = relays.urls()?;
    let id = identity::load(file)?;
    eprintln!("connecting to {} relay(s)…", urls.len());
    let transport = NostrTransport::connect(id.clone(), NostrTransportConfig::new(urls)).await?;
    transport.publish_dm_relays().await?;
    let mut incoming = transport.incoming();
    let device = DeviceId::new_random();
    eprintln!("listening as {} (Ctrl-C stops)", id.npub());
    loop {
        tokio::select! {
            message = incoming.recv() => {
                let Some(m) = message else { break };
                println!("{}", describe(&m));
                if reply_to_tests && !m.from_own_device && is_test_offer(&m.message) {
                    let reply = CallMessage {
                        body: CallBody::Reject { reason: Some(TEST_REPLY_REASON.into()) },
                        peer: m.sender.to_hex(),
                        device: Some(device.clone()),
                        ..m.message.clone()
                    };
                    if let Err(e) = transport.send(m.sender, &reply).await {
                        eprintln!("could not answer the test offer: {e}");
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let counts = transport.rejection_counts().snapshot();
    if !counts.is_empty() {
        eprintln!("dropped messages by reason: {counts:?}");
    }
    transport.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
