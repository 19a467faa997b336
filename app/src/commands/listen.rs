//! `phantomcall listen`: wait for calls and take them (asking, or with `--auto-answer`);
//! also answers the signaling tests of `send-test`.

use std::process::ExitCode;

use anyhow::Result;
use calling::client::{self, Callers, Client, ClientSetup};
use calling::{CallState, Direction, EngineConfig, EngineEvent, GroupChange};
use nostr_signal::{KeyFile, SignalTransport, VerifiedMessage};
use phantomcall_schemas::{CallBody, CallId, CallMessage};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::live::{describe as live_describe, describe_call, next_event, stats_line};
use crate::call_args::{DeviceArgs, NetArgs};

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

/// What `listen` does with incoming calls.
pub struct ListenOptions {
    pub relays: RelayArgs,
    pub reply_to_tests: bool,
    pub auto_answer: bool,
    pub net: NetArgs,
    pub devices: DeviceArgs,
}

pub async fn run(file: &KeyFile, options: ListenOptions) -> Result<ExitCode> {
    if !options.devices.no_blackout {
        // A video call may come in at any time: have the filter's models ready for it.
        phantomcall::warm_up_blackout();
    }
    let urls = options.relays.urls_for(options.net.signaling)?;
    let network = options.net.network_for_answering()?;
    let id = identity::load(file)?;
    let start = phantomcall::ble::ble_signaling(options.net.signaling, &id.public_key()).await?;
    if let Some(notice) = &start.notice {
        eprintln!("{notice}");
    }
    let ble = start.signaling;
    match (&ble, options.net.signaling.uses_relays()) {
        (Some(_), false) => eprintln!("signaling over Bluetooth only…"),
        (Some(_), true) => eprintln!("connecting to {} relay(s) and Bluetooth…", urls.len()),
        (None, _) => eprintln!("connecting to {} relay(s)…", urls.len()),
    }
    // Whoever calls a listening client is expected: there is no contact list here. The
    // mode given on the command line is the least any call may use (an offer asking for
    // less is refused with the mode required), and the user's explicit choice, so it
    // stands for strangers too.
    let floor = options.net.privacy_mode();
    let reply_to_tests = options.reply_to_tests;
    let auto_answer = options.auto_answer;
    let Client {
        engine,
        transport,
        device,
        ..
    } = client::connect(ClientSetup {
        configure: Some(Box::new(move |config: &mut EngineConfig| {
            config.default_mode = floor;
            config.stranger_mode = floor;
            if reply_to_tests {
                config.handled_by_app = Some(is_test_offer);
            }
            if auto_answer {
                client::answers_everything(config);
            }
        })),
        network,
        ble,
        ..ClientSetup::new(
            id.clone(),
            options.net.transport_config(urls, file),
            options.devices.devices(),
            Callers::Anyone,
        )
    })
    .await?;
    let mut incoming = transport.incoming();
    let mut events = engine.events();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut ringing: Option<CallId> = None;
    let mut live: Option<CallId> = None;
    let mut stdin_open = !options.auto_answer;
    eprintln!("listening as {} (Ctrl-C stops)", id.npub());
    if !options.auto_answer {
        eprintln!("when a call rings: type a + Enter to accept, d to decline, h to hang up");
    }
    loop {
        tokio::select! {
            message = incoming.recv() => {
                let Some(m) = message else { break };
                if options.reply_to_tests && !m.from_own_device && is_test_offer(&m.message) {
                    println!("{}", describe(&m));
                    let reply = CallMessage {
                        body: CallBody::Reject { reason: Some(TEST_REPLY_REASON.into()) },
                        peer: m.sender.to_hex(),
                        also_to: Vec::new(),
                        pq_share: None,
                        device: Some(device.clone()),
                        ..m.message.clone()
                    };
                    if let Err(e) = transport.send(m.sender, &reply).await {
                        eprintln!("could not answer the test offer: {e}");
                    }
                }
            }
            event = next_event(&mut events) => {
                let Some(event) = event else { break };
                match &event {
                    EngineEvent::Stats { stats, .. } => eprintln!("{}", stats_line(stats)),
                    EngineEvent::Call(e) => {
                        // Progress for the person watching; stdout keeps the signaling
                        // lines that scripts read.
                        eprintln!("{}", describe_call(e));
                        match e.state {
                            // With --auto-answer the engine takes the call itself.
                            CallState::Ringing
                                if e.direction == Direction::Incoming && !options.auto_answer =>
                            {
                                ringing = Some(e.call_id);
                                eprintln!("incoming call: a = accept, d = decline");
                            }
                            CallState::Connecting | CallState::Connected => live = Some(e.call_id),
                            CallState::Ended => {
                                if ringing == Some(e.call_id) { ringing = None; }
                                if live == Some(e.call_id) { live = None; }
                            }
                            _ => {}
                        }
                    }
                    EngineEvent::Group(g) => {
                        if let Some(line) = live_describe(&event) { eprintln!("{line}") }
                        match g.change {
                            // Group calls are not the admission policy's: --auto-answer
                            // takes them here.
                            GroupChange::Ringing { .. } if options.auto_answer => {
                                engine.accept(g.call_id, true);
                            }
                            GroupChange::Ringing { .. } => {
                                ringing = Some(g.call_id);
                                eprintln!("incoming group call: a = accept, d = decline");
                            }
                            GroupChange::Joined { .. } => live = Some(g.call_id),
                            GroupChange::Ended { .. } => {
                                if ringing == Some(g.call_id) { ringing = None; }
                                if live == Some(g.call_id) { live = None; }
                            }
                            _ => {}
                        }
                    }
                    other => if let Some(line) = live_describe(other) { eprintln!("{line}") },
                }
            }
            line = stdin.next_line(), if stdin_open => {
                match line {
                    Ok(Some(line)) => match (line.trim(), ringing, live) {
                        ("a", Some(call), _) => { engine.accept(call, true); ringing = None; }
                        ("d", Some(call), _) => { engine.decline(call); ringing = None; }
                        ("h", _, Some(call)) => engine.hangup(call),
                        (_, None, None) => eprintln!("no call right now"),
                        _ => eprintln!("a = accept, d = decline, h = hang up"),
                    },
                    // Stdin closed (not a terminal): keep listening, stop reading it.
                    _ => stdin_open = false,
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    engine.shutdown().await;
    let counts = transport.rejection_counts().snapshot();
    if !counts.is_empty() {
        eprintln!("dropped messages by reason: {counts:?}");
    }
    transport.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
