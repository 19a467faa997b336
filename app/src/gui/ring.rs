//! An incoming call rings: a synthetic ring tone on the speaker the user picked (through
//! the same [`MediaDevices`] as calls, so a synthetic speaker records it and tests stay
//! silent), and a desktop notification (notify-rust over D-Bus, pure-Rust zbus backend).
//!
//! The notification shows a contact's display name and nothing else: an unknown caller is
//! "Unknown caller", never an npub, because notifications appear on lock screens. Failing
//! to notify (no D-Bus session under Xvfb or CI, no notification daemon) is logged once
//! and ignored: the window still asks for attention and the ring still plays.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::MediaDevices;
use media::audio::{AudioSource, ToneSource, FRAME_SAMPLES, SAMPLE_RATE};
use phantomcall_schemas::CallType;

/// Ring tone frequency, Hz: distinct from the lobby's 440 Hz test tone.
pub const RING_HZ: f32 = 523.0;
/// Ring tone amplitude (fraction of full scale): audible across a room, not startling.
const RING_AMPLITUDE: f32 = 0.25;
/// One ring, then a pause, repeated: the usual cadence of a phone (1 s on, 2 s off).
const RING_ON: Duration = Duration::from_secs(1);
const RING_OFF: Duration = Duration::from_secs(2);

/// The ring tone, while it plays. Dropping it stops the tone within one frame (20 ms);
/// nothing waits for the thread.
pub struct Ringer {
    stop: Arc<AtomicBool>,
}

impl Ringer {
    /// Starts ringing on `devices`' speaker. A speaker that fails to open is logged and
    /// the call still rings in the window.
    pub fn start(devices: Arc<dyn MediaDevices>) -> Ringer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("ring-tone".into())
            .spawn(move || {
                if let Err(e) = ring(devices.as_ref(), &flag) {
                    tracing::warn!(error = %e, "ring tone not played");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "ring tone thread not started");
        }
        Ringer { stop }
    }
}

impl Drop for Ringer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn ring(devices: &dyn MediaDevices, stop: &AtomicBool) -> Result<(), media::audio::AudioError> {
    let mut speaker = devices.speaker()?;
    let mut tone = ToneSource::new(RING_HZ, RING_AMPLITUDE);
    let silence = vec![0i16; FRAME_SAMPLES];
    let frame = Duration::from_secs_f64(FRAME_SAMPLES as f64 / f64::from(SAMPLE_RATE));
    let period = RING_ON + RING_OFF;
    let start = Instant::now();
    let mut next = start;
    while !stop.load(Ordering::Relaxed) {
        let on = (next - start).as_nanos() % period.as_nanos() < RING_ON.as_nanos();
        if on {
            speaker.write_frame(&tone.read_frame()?.samples)?;
        } else {
            speaker.write_frame(&silence)?;
        }
        // Paced by the clock: a synthetic sink takes frames at once, and a real one has a
        // bounded queue; either way the tone lasts its real time.
        next += frame;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

/// Title and body of the incoming-call notification. `contact` is the caller's name in the
/// contact list; a stranger is "Unknown caller" (never a key: lock screens show this).
pub fn notification_text(contact: Option<&str>, call_type: CallType) -> (String, String) {
    let title = match call_type {
        CallType::Video => "Incoming video call",
        CallType::Voice => "Incoming call",
    };
    let who = match contact {
        Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => "Unknown caller".to_owned(),
    };
    (title.to_owned(), who)
}

/// Sends desktop notifications, off the UI thread; the first failure is logged, later
/// ones are not (a machine without a notification service would fill the log otherwise).
#[derive(Clone, Default)]
pub struct Notifier {
    failed: Arc<AtomicBool>,
    /// Whether any notification attempt finished (sent or failed): for tests.
    attempted: Arc<AtomicBool>,
}

impl Notifier {
    /// Shows `title`/`body` on the runtime's blocking pool.
    pub fn notify(&self, runtime: &tokio::runtime::Handle, title: String, body: String) {
        let this = self.clone();
        runtime.spawn_blocking(move || {
            let shown = notify_rust::Notification::new()
                .appname("PhantomCall")
                .summary(&title)
                .body(&body)
                .urgency(notify_rust::Urgency::Critical)
                .timeout(notify_rust::Timeout::Milliseconds(30_000))
                .show();
            if let Err(e) = shown {
                if !this.failed.swap(true, Ordering::Relaxed) {
                    tracing::info!(error = %e, "desktop notifications unavailable; calls still ring in the window");
                }
            }
            this.attempted.store(true, Ordering::Relaxed);
        });
    }

    /// Whether a notification was tried and finished.
    pub fn attempted(&self) -> bool {
        self.attempted.load(Ordering::Relaxed)
    }

    /// Whether notifying failed (logged once).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strangers_are_unknown_callers() {
        assert_eq!(
            notification_text(None, CallType::Voice),
            ("Incoming call".into(), "Unknown caller".into())
        );
        assert_eq!(
            notification_text(Some("  "), CallType::Video),
            ("Incoming video call".into(), "Unknown caller".into())
        );
        assert_eq!(
            notification_text(Some("Bob"), CallType::Voice).1,
            "Bob".to_string()
        );
    }
}
