//! `phantomcall call NPUB [NPUB...]`: place a call (a group call with several npubs) and
//! run it for a while (or until it ends), printing its progress and live figures.

use std::process::ExitCode;

use anyhow::{bail, Result};
use calling::client::{self, Callers, Client, ClientSetup};
use calling::{CallState, EngineEvent, GroupChange, MemberState};
use nostr_signal::{parse_public_key, KeyFile};
use phantomcall_schemas::CallType;

use super::live::{describe, next_event, stats_line};
use crate::call_args::{call_duration, DeviceArgs, NetArgs};
use crate::identity;
use crate::relays::RelayArgs;

/// Everything `call` needs.
pub struct CallOptions {
    /// One peer, or a group's members.
    pub npubs: Vec<String>,
    pub video: bool,
    /// Paranoid: send video from the start (the explicit confirmation).
    pub camera_on: bool,
    pub seconds: u64,
    /// A telephone number to call through the gateway `npubs[0]`.
    pub phone: Option<String>,
    /// Keypad keys to press once connected.
    pub keys: Option<String>,
    pub relays: RelayArgs,
    pub net: NetArgs,
    pub devices: DeviceArgs,
}

pub async fn run(file: &KeyFile, options: CallOptions) -> Result<ExitCode> {
    if options.video && !options.devices.no_blackout {
        // Ready while the relays connect, so the first filtered frame does not wait.
        phantomcall::warm_up_blackout();
    }
    let peers = options
        .npubs
        .iter()
        .map(|n| parse_public_key(n))
        .collect::<Result<Vec<_>, _>>()?;
    let duration = call_duration(options.seconds)?;
    if options.phone.is_some() && peers.len() > 1 {
        bail!("--phone takes one npub: the phone gateway's");
    }
    if let Some(number) = &options.phone {
        if phantomcall_schemas::PhoneLeg::dial(number).is_none() {
            bail!(
                "{number:?} is not a telephone number in E.164 form: a plus sign and the \
                 country code, then the number, digits only (e.g. +15551234567)"
            );
        }
        eprintln!(
            "calling {number} through the phone gateway: {}",
            phantomcall::gui::widgets::PHONE_NOT_E2EE
        );
    }
    let network = options.net.network()?;
    let urls = options.relays.urls_for(options.net.signaling)?;
    let id = identity::load(file)?;
    if peers.contains(&id.public_key()) {
        bail!("that is your own npub: call someone else");
    }
    let peer = peers[0];
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
    let Client {
        engine, transport, ..
    } = client::connect(ClientSetup {
        network,
        ble,
        ..ClientSetup::new(
            id,
            options.net.transport_config(urls, file),
            options.devices.devices(),
            Callers::Contacts(peers.clone()),
        )
    })
    .await?;
    let mut events = engine.events();
    let call_type = if options.video {
        CallType::Video
    } else {
        CallType::Voice
    };
    let mode = options.net.privacy_mode();
    eprintln!(
        "calling {} ({:?}, mode {mode}: {})",
        options.npubs.join(", "),
        call_type,
        calling::policy::ModePolicy::for_mode(mode)
            .summary()
            .ip_exposure
    );
    let audio_first = call_type == CallType::Video
        && !calling::policy::ModePolicy::for_mode(mode).video_on_by_default;
    if audio_first && !options.camera_on {
        eprintln!(
            "{mode} mode starts audio only: your camera stays off (pass --camera-on to send \
             blacked-out video from the start)"
        );
    }
    let call = if let Some(number) = &options.phone {
        engine
            .dial_phone(peer, number, mode)
            .expect("the number was checked above")
    } else if peers.len() > 1 {
        engine.dial_group(peers, call_type, mode)?
    } else {
        engine.dial(peer, call_type, mode)
    };
    if audio_first && options.camera_on {
        // Queued behind the call's media set-up, which starts with the camera off.
        engine.set_camera_off(call, false);
    }
    let mut connected_until: Option<tokio::time::Instant> = None;
    let mut hung_up = false;
    let ok = loop {
        let deadline =
            connected_until.unwrap_or_else(|| tokio::time::Instant::now() + duration * 100);
        tokio::select! {
            event = next_event(&mut events) => {
                let Some(event) = event else { break false };
                match &event {
                    EngineEvent::Stats { call_id, stats } if *call_id == call => {
                        eprintln!("{}", stats_line(stats));
                    }
                    EngineEvent::Call(e) if e.call_id == call => {
                        eprintln!("{}", describe(&event).unwrap_or_default());
                        match e.state {
                            CallState::Connected if connected_until.is_none() => {
                                connected_until = Some(tokio::time::Instant::now() + duration);
                                if let Some(keys) = &options.keys {
                                    eprintln!("pressing {keys}");
                                    engine.send_dtmf(call, keys);
                                }
                            }
                            CallState::Ended => break connected_until.is_some(),
                            _ => {}
                        }
                    }
                    EngineEvent::Group(g) if g.call_id == call => {
                        if let Some(line) = describe(&event) { eprintln!("{line}") }
                        match &g.change {
                            // The clock starts with the first member who connects.
                            GroupChange::Member { state: MemberState::Connected, .. }
                                if connected_until.is_none() =>
                            {
                                connected_until = Some(tokio::time::Instant::now() + duration);
                            }
                            GroupChange::Ended { .. } => break connected_until.is_some(),
                            _ => {}
                        }
                    }
                    other => if let Some(line) = describe(other) { eprintln!("{line}") },
                }
            }
            _ = tokio::time::sleep_until(deadline), if connected_until.is_some() && !hung_up => {
                eprintln!("{} s done: hanging up", duration.as_secs());
                engine.hangup(call);
                hung_up = true;
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("hanging up");
                engine.hangup(call);
            }
        }
    };
    engine.shutdown().await;
    transport.shutdown().await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
