//! The microphone's processing chain in real calls: with sonora's echo canceller on, the
//! voice gets through; a processor that keeps failing falls back to unprocessed audio and
//! the call goes on (never silence).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use calling::{EngineEvent, MediaEvent, VoiceProcessing};
use media::audio::{ProcessingConfig, ProcessingFault, Processor};
use nostr_signal::Identity;
use support::{phone, relay, Phone, PhoneOptions};

/// A phone whose microphone goes through `processing`.
async fn processed_phone(relay: &support::Relay, tone: f32, processing: VoiceProcessing) -> Phone {
    let mut options = PhoneOptions::tone(tone);
    options.devices = Some(Box::new(move |mut devices| {
        devices.voice_processing = processing;
        Arc::new(devices)
    }));
    phone(relay, &Identity::generate(), options).await
}

/// Passes audio through until `armed`, then panics on every capture (as the echo
/// canceller's 0.1 release once did in production). Armed by the test once the call is
/// up, so the faults come while it watches.
struct PanicsWhenArmed {
    armed: Arc<AtomicBool>,
}

impl Processor for PanicsWhenArmed {
    fn render(&mut self, _played: &[i16]) -> Result<(), ProcessingFault> {
        Ok(())
    }
    fn capture(&mut self, captured: &[i16], out: &mut [i16]) -> Result<(), ProcessingFault> {
        assert!(
            !self.armed.load(Ordering::SeqCst),
            "injected processing fault"
        );
        out.copy_from_slice(captured);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_voice_processor_falls_back_to_unprocessed_audio_and_the_call_goes_on() {
    let relay = relay().await;
    let armed = Arc::new(AtomicBool::new(false));
    let trigger = armed.clone();
    let faulty = VoiceProcessing::Custom(Arc::new(move || {
        Box::new(PanicsWhenArmed {
            armed: trigger.clone(),
        })
    }));
    let mut alice = processed_phone(&relay, 440.0, faulty).await;
    let mut bob = phone(&relay, &Identity::generate(), PhoneOptions::tone(660.0)).await;
    let call = support::connected_call(&mut alice, &mut bob).await;
    armed.store(true, Ordering::SeqCst);

    let gave_up = alice
        .wait_event(Duration::from_secs(5), |e| {
            matches!(e, EngineEvent::Media { call_id, event: MediaEvent::VoiceProcessingFault { gave_up: true, .. } } if *call_id == call)
        })
        .await;
    let EngineEvent::Media {
        event: MediaEvent::VoiceProcessingFault { fault, .. },
        ..
    } = gave_up
    else {
        unreachable!()
    };
    assert!(fault.contains("injected processing fault"), "{fault}");
    // Bob still hears Alice, unprocessed, well after processing gave up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    bob.wait_hears(440.0).await;
    alice.wait_hears(660.0).await;
    support::hang_up_and_shut_down(&alice, &mut bob, call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_echo_canceller_on_both_ways_each_side_still_hears_the_other() {
    let relay = relay().await;
    // Noise suppression would, rightly, take a steady test tone for noise; the echo
    // canceller, gain control and high-pass run as in the app.
    let chain = VoiceProcessing::Parts(ProcessingConfig {
        noise_suppression: false,
        ..ProcessingConfig::default()
    });
    let mut alice = processed_phone(&relay, 440.0, chain.clone()).await;
    let mut bob = processed_phone(&relay, 660.0, chain).await;
    let call = support::connected_call(&mut alice, &mut bob).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bob.wait_hears(440.0).await;
    alice.wait_hears(660.0).await;
    // Turned off for the call, the microphone still gets through.
    alice.engine.set_voice_processing(call, false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    bob.wait_hears(440.0).await;
    support::hang_up_and_shut_down(&alice, &mut bob, call).await;
}
