//! `phantomcall demo`: a whole call on one machine. Starts the embedded relay on
//! loopback, creates two fresh identities, and Alice calls Bob with synthetic devices
//! (Alice speaks a 440 Hz tone, Bob 660 Hz; as camera, people walking past a still camera,
//! or a moving test pattern outside the checkout) through the real pipeline: gift-wrapped
//! signaling, webrtc-rs, Opus, VP8, the privacy filter. Bob answers automatically. Live
//! figures are printed while it runs; one received video frame is saved as PNG; the call is
//! hung up and one JSON line of figures ends the run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use calling::{CallState, CallStats, EngineEvent, FilterChoice, Reason, SyntheticDevices};
use media::audio::{ToneCheck, SAMPLE_RATE};
use nostr_signal::EmbeddedRelay;
use phantomcall::demo::{answering_peer, synthetic_peer, SyntheticPeer};
use phantomcall_schemas::{CallType, PrivacyMode};

use super::live::{describe, next_event, stats_line};
use crate::call_args::call_duration;

const ALICE_HZ: f32 = 440.0;
const BOB_HZ: f32 = 660.0;
/// How long the demo waits for the call to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// What `demo` does.
pub struct DemoOptions {
    pub seconds: u64,
    pub video: bool,
    pub quiet: bool,
    pub frame_png: PathBuf,
    pub no_blackout: bool,
}

fn heard(side: &SyntheticPeer, expected_hz: f32) -> (bool, f64) {
    let Some(speaker) = side.devices.probes.speakers().pop() else {
        return (false, 0.0);
    };
    let report = ToneCheck::detect(&speaker.recording.last(SAMPLE_RATE as usize), expected_hz);
    (report.dominant, report.expected_power)
}

pub async fn run(options: DemoOptions) -> Result<ExitCode> {
    if options.video && !options.no_blackout {
        // A head start while the relay and the two identities come up.
        phantomcall::warm_up_blackout();
    }
    let duration = call_duration(options.seconds)?;
    let say = |line: String| {
        if !options.quiet {
            eprintln!("{line}");
        }
    };
    let relay = EmbeddedRelay::start_on_loopback()
        .await
        .context("starting the embedded relay")?;
    say(format!("embedded relay on {}", relay.url()));
    let filter = if options.no_blackout {
        FilterChoice::AllBlack
    } else {
        FilterChoice::Blackout(blackout::FilterConfig::default())
    };
    let devices = |tone_hz| {
        let mut devices = SyntheticDevices::new(tone_hz);
        devices.filter = filter.clone();
        // People walking past a still camera: the saved frame shows them blacked out.
        devices.with_people_clip()
    };
    // No TURN server on a bare machine: the demo runs in Fast mode on loopback.
    let alice = synthetic_peer(relay.url().clone(), devices(ALICE_HZ)).await?;
    let bob = answering_peer(relay.url().clone(), devices(BOB_HZ)).await?;
    say(format!(
        "alice: {}\nbob:   {}",
        alice.identity.npub(),
        bob.identity.npub()
    ));
    let mut alice_events = alice.engine.events();

    // Bob answers whatever would ring (a synthetic peer's admission policy).

    let call_type = if options.video {
        CallType::Video
    } else {
        CallType::Voice
    };
    say(format!(
        "alice calls bob ({call_type:?}, fast mode on loopback)…"
    ));
    let dialed = Instant::now();
    let call = alice
        .engine
        .dial(bob.identity.public_key(), call_type, PrivacyMode::Fast);
    let mut offer_sent: Option<Instant> = None;
    let mut connected_at: Option<Instant> = None;
    let mut last_stats: Option<CallStats> = None;
    let mut ended_early = None;
    let mut hangup_at: Option<tokio::time::Instant> = None;
    let connect_deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        let wake = hangup_at.unwrap_or(connect_deadline);
        tokio::select! {
            event = next_event(&mut alice_events) => {
                let Some(event) = event else { break };
                match &event {
                    EngineEvent::Stats { call_id, stats } if *call_id == call => {
                        say(stats_line(stats));
                        last_stats = Some(stats.clone());
                    }
                    EngineEvent::Call(e) if e.call_id == call => {
                        say(format!("{:>7.1} ms  {}", dialed.elapsed().as_secs_f64() * 1000.0, describe(&event).unwrap_or_default()));
                        match (e.state, e.reason) {
                            (CallState::Ringing, Reason::OfferSent) => offer_sent = Some(Instant::now()),
                            (CallState::Connected, _) => {
                                connected_at = Some(Instant::now());
                                hangup_at = Some(tokio::time::Instant::now() + duration);
                            }
                            (CallState::Ended, reason) => {
                                if hangup_at.is_none_or(|t| tokio::time::Instant::now() < t) {
                                    ended_early = Some(reason);
                                }
                                break;
                            }
                            _ => {}
                        }
                    }
                    other => if let Some(line) = describe(other) { say(line) },
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if hangup_at.is_none() {
                    bail!("the call did not connect within {} s", CONNECT_TIMEOUT.as_secs());
                }
                // Listen to the last second of audio before hanging up.
                break;
            }
        }
    }
    if let Some(reason) = ended_early {
        bail!("the call ended early: {reason:?}");
    }
    let (bob_heard_alice, _) = heard(&bob, ALICE_HZ);
    let (alice_heard_bob, _) = heard(&alice, BOB_HZ);
    // When Alice first heard Bob.
    let first_audio = last_stats.as_ref().and_then(|s| s.first_audio_at);

    // Bob's view of Alice's camera.
    let video = bob.devices.probes.videos().pop().map(|p| p.snapshot());
    let mut frame_png = None;
    // The newest frame with something to see (the filter sends whole frames black while
    // the scene is new to it), or the newest black one.
    let to_save = video
        .as_ref()
        .and_then(|v| v.last_shown.as_ref().or(v.last.as_ref()));
    if let Some(last) = to_save {
        last.save_png(&options.frame_png)
            .with_context(|| format!("saving {}", options.frame_png.display()))?;
        say(format!(
            "saved one received frame: {}",
            options.frame_png.display()
        ));
        frame_png = Some(options.frame_png.display().to_string());
    }

    alice.engine.hangup(call);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = next_event(&mut alice_events).await {
            if let EngineEvent::Call(e) = event {
                if e.call_id == call && e.state == CallState::Ended {
                    return true;
                }
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
    alice.transport.shutdown().await;
    bob.transport.shutdown().await;
    relay.shutdown().await;

    let ms = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
        (Some(a), Some(b)) => Some(round1(
            b.saturating_duration_since(a).as_secs_f64() * 1000.0,
        )),
        _ => None,
    };
    let stats = last_stats.unwrap_or_default();
    let audio_tone_ok = bob_heard_alice && alice_heard_bob;
    let video_frames = video.as_ref().map_or(0, |v| v.frames);
    println!(
        "{}",
        serde_json::json!({
            "mode": "fast",
            "call_type": if options.video { "video" } else { "voice" },
            "seconds": duration.as_secs(),
            "dial_to_connected_ms": ms(Some(dialed), connected_at),
            "setup_ms": ms(offer_sent, connected_at),
            "first_audio_ms": ms(offer_sent, first_audio),
            "rtt_ms": stats.peer.rtt_ms.map(round1),
            "jitter_ms": stats.peer.audio_jitter_ms.map(round1),
            "packets_lost": stats.peer.packets_lost.max(0),
            "bitrate_in_kbps": round1(stats.bitrate_in_kbps),
            "audio_tone_ok": audio_tone_ok,
            "bob_heard_440hz": bob_heard_alice,
            "alice_heard_660hz": alice_heard_bob,
            "video_frames": video_frames,
            "video_black_frames": video.as_ref().map_or(0, |v| v.black_frames),
            "video_fps": round1(stats.video_fps),
            "frame_png": frame_png,
            "hung_up_cleanly": ended,
        })
    );
    let ok = audio_tone_ok && ended && (!options.video || video_frames > 0);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
