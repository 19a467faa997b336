//! The gateway's "devices": each bridged call's microphone is its phone line (8 kHz,
//! resampled to the call's 48 kHz) and its speaker goes back down the line. One engine
//! serves every call, so lines are found by call id (`MediaDevices::microphone_for`).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use blackout::{BlackFrameFilter, PrivacyFilter};
use calling::{MediaDevices, RemoteVideoSink, ScreenTarget, ScreenTargets};
use media::audio::{dtmf_tone, AudioError, AudioFrame, AudioSink, AudioSource, DtmfDetector};
use media::video::{DecodedFrame, ScreenSource, VideoError, VideoSource};
use nostr_signal::PublicKey;
use phantomcall_schemas::CallId;
use tokio::sync::mpsc;

use super::resample::{Downsampler, Upsampler};

/// Samples in one 20 ms frame at 8 kHz.
pub const PHONE_FRAME: usize = 160;
/// The phone side's sample rate.
pub const PHONE_RATE: u32 = 8_000;
/// How long a call's media waits for its line to be connected before giving up.
const LINE_WAIT: Duration = Duration::from_secs(10);

/// One phone call's audio as the phone leg carries it: 20 ms frames of
/// [`PHONE_FRAME`] samples at 8 kHz, both ways.
#[derive(Debug)]
pub struct PhoneAudio {
    /// What the phone says (the leg sends a frame every 20 ms, silence included).
    pub from_phone: mpsc::Receiver<Vec<i16>>,
    /// What the phone hears.
    pub to_phone: mpsc::Sender<Vec<i16>>,
    /// Keys pressed on the telephone (RFC 4733 events of the leg): played to the user as
    /// keypad tones.
    pub keys_from_phone: Option<mpsc::Receiver<char>>,
    /// Keys the user pressed (keypad tones found in the user's audio): the leg sends
    /// them to the telephone as RFC 4733 events.
    pub keys_to_phone: Option<mpsc::Sender<char>>,
}

#[derive(Default)]
struct Lines {
    by_call: Mutex<HashMap<CallId, Arc<Line>>>,
    connected: Condvar,
}

/// What a call's microphone takes from its line: the phone's audio and keys.
type FromPhone = (mpsc::Receiver<Vec<i16>>, Option<mpsc::Receiver<char>>);

/// One phone leg's audio. Shared, not owned by a call: a hand-over moves the leg to
/// another call ([`PhoneDevices::move_line`]) and the new call's microphone reads on
/// where the old one stopped.
struct Line {
    /// Read by the microphone of the call the line belongs to (locked while it waits
    /// for a frame: one reader at a time).
    from_phone: Mutex<FromPhone>,
    to_phone: mpsc::Sender<Vec<i16>>,
    keys_to_phone: Option<mpsc::Sender<char>>,
    /// Sounds the gateway itself plays to the user (8 kHz), shared with the microphone.
    announcements: Announcements,
}

/// 8 kHz samples the gateway plays to the user in place of the line (a low-credit
/// warning), as a phone company plays its own tones over a call.
type Announcements = Arc<Mutex<std::collections::VecDeque<i16>>>;

impl Lines {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, Arc<Line>>> {
        self.by_call.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `line` is still `call`'s (not moved to another call, not disconnected).
    fn still_has(&self, call: &CallId, line: &Arc<Line>) -> bool {
        self.lock().get(call).is_some_and(|l| Arc::ptr_eq(l, line))
    }
}

/// The devices of a phone gateway's engine. Voice only: no camera, no screen.
#[derive(Clone, Default)]
pub struct PhoneDevices {
    lines: Arc<Lines>,
}

impl PhoneDevices {
    /// Connects `call`'s media to `audio` (before or after the engine opens the call's
    /// media: an open microphone waits for its line).
    pub fn connect(&self, call: CallId, audio: PhoneAudio) {
        self.lines.lock().insert(
            call,
            Arc::new(Line {
                from_phone: Mutex::new((audio.from_phone, audio.keys_from_phone)),
                to_phone: audio.to_phone,
                keys_to_phone: audio.keys_to_phone,
                announcements: Announcements::default(),
            }),
        );
        self.lines.connected.notify_all();
    }

    /// Moves `from`'s line to the call `to` (a hotline's hand-over: the phone leg stays,
    /// the call on the PhantomCall side changes). From now on `to`'s microphone reads the
    /// phone and `to`'s speaker is heard on it; `from`'s media stops using the line at its
    /// next frame. `false` if `from` has no line.
    pub fn move_line(&self, from: CallId, to: CallId) -> bool {
        let mut lines = self.lines.lock();
        let Some(line) = lines.remove(&from) else {
            return false;
        };
        lines.insert(to, line);
        drop(lines);
        self.lines.connected.notify_all();
        true
    }

    /// Plays `samples` (8 kHz) to the user of `call` in place of the line's audio, after
    /// anything still playing. `false` if the call has no line.
    pub fn announce(&self, call: CallId, samples: &[i16]) -> bool {
        let lines = self.lines.lock();
        let Some(line) = lines.get(&call) else {
            return false;
        };
        line.announcements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(samples);
        true
    }

    /// Forgets `call`'s line (the call ended).
    pub fn disconnect(&self, call: CallId) {
        self.lines.lock().remove(&call);
    }

    /// Calls with a line connected.
    pub fn connected(&self) -> usize {
        self.lines.lock().len()
    }
}

fn no_device(kind: &'static str) -> AudioError {
    AudioError::NoDevice {
        kind,
        reason: "a phone gateway has no device of its own: each call has its phone line".into(),
    }
}

impl MediaDevices for PhoneDevices {
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        Err(no_device("microphone"))
    }
    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        Err(no_device("speaker"))
    }
    fn microphone_for(
        &self,
        call: CallId,
        _participant: &PublicKey,
    ) -> Result<Box<dyn AudioSource>, AudioError> {
        Ok(Box::new(LineSource {
            call,
            lines: self.lines.clone(),
            line: None,
            tones: std::collections::VecDeque::new(),
            up: Upsampler::default(),
        }))
    }
    fn speaker_for(
        &self,
        call: CallId,
        _participant: &PublicKey,
    ) -> Result<Box<dyn AudioSink>, AudioError> {
        Ok(Box::new(LineSink {
            call,
            lines: self.lines.clone(),
            detector: DtmfDetector::new(PHONE_RATE),
            down: Downsampler::default(),
        }))
    }
    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        Err(VideoError::NoCamera)
    }
    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        Box::new(BlackFrameFilter::new())
    }
    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        Box::new(Discard)
    }
    fn screen_targets(&self) -> ScreenTargets {
        ScreenTargets::default()
    }
    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        Err(VideoError::Screen(format!(
            "a phone gateway shares no screen ({target})"
        )))
    }
    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        Box::new(Discard)
    }
}

/// Video nobody watches (a phone has no screen).
struct Discard;

impl RemoteVideoSink for Discard {
    fn on_frame(&mut self, _frame: &DecodedFrame) {}
}

/// A call's microphone: its phone line, up to 48 kHz.
struct LineSource {
    call: CallId,
    lines: Arc<Lines>,
    line: Option<Arc<Line>>,
    /// Keypad tones still to play to the user (8 kHz samples).
    tones: std::collections::VecDeque<i16>,
    up: Upsampler,
}

impl LineSource {
    fn line_closed(&self) -> AudioError {
        AudioError::Device {
            kind: "microphone",
            message: "the phone line closed".into(),
        }
    }

    /// Waits (on the audio thread) until the gateway connects this call's line; an
    /// error once the line was moved to another call or disconnected.
    fn take_line(&mut self) -> Result<Arc<Line>, AudioError> {
        if let Some(line) = &self.line {
            if !self.lines.still_has(&self.call, line) {
                return Err(self.line_closed());
            }
            return Ok(line.clone());
        }
        let deadline = Instant::now() + LINE_WAIT;
        let mut lines = self.lines.lock();
        loop {
            if let Some(line) = lines.get(&self.call) {
                self.line = Some(line.clone());
                return Ok(line.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AudioError::Device {
                    kind: "microphone",
                    message: "no phone line was connected to this call".into(),
                });
            }
            lines = self
                .lines
                .connected
                .wait_timeout(lines, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl AudioSource for LineSource {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        let line = self.take_line()?;
        let mut samples = {
            let mut from_phone = line
                .from_phone
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (audio, keys) = &mut *from_phone;
            let Some(frame) = audio.blocking_recv() else {
                return Err(self.line_closed());
            };
            while let Some(key) = keys.as_mut().and_then(|k| k.try_recv().ok()) {
                self.tones
                    .extend(dtmf_tone(key, PHONE_RATE).unwrap_or_default());
            }
            frame
        };
        // A frame of the wrong size (a bug of the leg) is fitted, not trusted.
        samples.resize(PHONE_FRAME, 0);
        {
            let mut queued = line
                .announcements
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !queued.is_empty() {
                for sample in samples.iter_mut() {
                    *sample = queued.pop_front().unwrap_or(0);
                }
            }
        }
        // A key pressed on the phone sounds to the user in place of the line, as in a
        // phone's own earpiece.
        if !self.tones.is_empty() {
            for sample in samples.iter_mut() {
                *sample = self.tones.pop_front().unwrap_or(0);
            }
        }
        Ok(AudioFrame {
            samples: self.up.process(&samples),
            captured_at: Instant::now(),
        })
    }

    fn describe(&self) -> String {
        "phone line".into()
    }
}

/// A call's speaker: down to 8 kHz and into its phone line.
struct LineSink {
    call: CallId,
    lines: Arc<Lines>,
    detector: DtmfDetector,
    down: Downsampler,
}

impl AudioSink for LineSink {
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        let narrow = self.down.process(samples);
        // Looked up at every frame: a hand-over moves the line to another call, and
        // this call's sound must stop reaching the phone at once.
        let line = self.lines.lock().get(&self.call).cloned();
        let Some(line) = line else {
            // Before the line is connected, or after it moved: the audio is dropped.
            return Ok(());
        };
        for key in self.detector.push(&narrow) {
            tracing::debug!("a keypad key from the user, for the phone");
            if let Some(keys) = &line.keys_to_phone {
                let _ = keys.try_send(key);
            }
        }
        // When the leg lags, the audio is dropped: the phone leg paces itself and late
        // audio is worse than a gap.
        let _ = line.to_phone.try_send(narrow);
        Ok(())
    }

    fn describe(&self) -> String {
        "phone line".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> (PhoneAudio, mpsc::Sender<Vec<i16>>, mpsc::Receiver<Vec<i16>>) {
        let (phone_tx, from_phone) = mpsc::channel(64);
        let (to_phone, phone_rx) = mpsc::channel(64);
        let audio = PhoneAudio {
            from_phone,
            to_phone,
            keys_from_phone: None,
            keys_to_phone: None,
        };
        (audio, phone_tx, phone_rx)
    }

    fn key() -> PublicKey {
        nostr_signal::Identity::generate().public_key()
    }

    #[test]
    fn a_moved_line_feeds_the_new_call_and_the_old_call_stops_using_it() {
        let devices = PhoneDevices::default();
        let (waiting, dispatcher) = (CallId::new_random(), CallId::new_random());
        let (audio, phone_says, mut phone_hears) = line();
        devices.connect(waiting, audio);
        let mut old_mic = devices.microphone_for(waiting, &key()).unwrap();
        let mut old_speaker = devices.speaker_for(waiting, &key()).unwrap();
        phone_says.blocking_send(vec![1_000; PHONE_FRAME]).unwrap();
        assert!(old_mic.read_frame().is_ok());
        old_speaker.write_frame(&[500; 960]).unwrap();
        assert!(phone_hears.try_recv().is_ok(), "the waiting line is heard");

        assert!(devices.move_line(waiting, dispatcher));
        assert!(!devices.move_line(waiting, dispatcher), "moved once");
        let mut new_mic = devices.microphone_for(dispatcher, &key()).unwrap();
        let mut new_speaker = devices.speaker_for(dispatcher, &key()).unwrap();
        phone_says.blocking_send(vec![1_000; PHONE_FRAME]).unwrap();
        let frame = new_mic.read_frame().unwrap();
        assert!(
            frame.samples.iter().any(|&s| s != 0),
            "the new call hears the phone"
        );
        assert!(
            old_mic.read_frame().is_err(),
            "the old call no longer reads it"
        );
        old_speaker.write_frame(&[500; 960]).unwrap();
        assert!(phone_hears.try_recv().is_err(), "the old call is not heard");
        new_speaker.write_frame(&[500; 960]).unwrap();
        assert!(phone_hears.try_recv().is_ok(), "the new call is heard");
        assert_eq!(devices.connected(), 1);
    }
}
