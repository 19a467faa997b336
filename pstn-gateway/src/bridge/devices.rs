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
    by_call: Mutex<HashMap<CallId, Line>>,
    connected: Condvar,
}

/// What a call's microphone takes from its line: the phone's audio and keys.
type FromPhone = (mpsc::Receiver<Vec<i16>>, Option<mpsc::Receiver<char>>);

struct Line {
    /// Taken by the call's microphone when it opens.
    from_phone: Option<FromPhone>,
    to_phone: mpsc::Sender<Vec<i16>>,
    keys_to_phone: Option<mpsc::Sender<char>>,
    /// Sounds the gateway itself plays to the user (8 kHz), shared with the microphone.
    announcements: Announcements,
}

/// 8 kHz samples the gateway plays to the user in place of the line (a low-credit
/// warning), as a phone company plays its own tones over a call.
type Announcements = Arc<Mutex<std::collections::VecDeque<i16>>>;

impl Lines {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, Line>> {
        self.by_call.lock().unwrap_or_else(PoisonError::into_inner)
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
            Line {
                from_phone: Some((audio.from_phone, audio.keys_from_phone)),
                to_phone: audio.to_phone,
                keys_to_phone: audio.keys_to_phone,
                announcements: Announcements::default(),
            },
        );
        self.lines.connected.notify_all();
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
            from_phone: None,
            keys: None,
            announcements: None,
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
            to_phone: None,
            keys_to_phone: None,
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
    from_phone: Option<mpsc::Receiver<Vec<i16>>>,
    keys: Option<mpsc::Receiver<char>>,
    announcements: Option<Announcements>,
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

    /// Waits (on the audio thread) until the gateway connects this call's line.
    fn take_line(&mut self) -> Result<&mut mpsc::Receiver<Vec<i16>>, AudioError> {
        if self.from_phone.is_none() {
            let deadline = Instant::now() + LINE_WAIT;
            let mut lines = self.lines.lock();
            loop {
                if let Some(line) = lines.get_mut(&self.call) {
                    if let Some((rx, keys)) = line.from_phone.take() {
                        self.from_phone = Some(rx);
                        self.keys = keys;
                        self.announcements = Some(line.announcements.clone());
                        break;
                    }
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
        let closed = self.line_closed();
        self.from_phone.as_mut().ok_or(closed)
    }
}

impl AudioSource for LineSource {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        let frame = match self.take_line()?.blocking_recv() {
            Some(frame) => frame,
            None => return Err(self.line_closed()),
        };
        // A frame of the wrong size (a bug of the leg) is fitted, not trusted.
        let mut samples = frame;
        samples.resize(PHONE_FRAME, 0);
        while let Some(key) = self.keys.as_mut().and_then(|k| k.try_recv().ok()) {
            self.tones
                .extend(dtmf_tone(key, PHONE_RATE).unwrap_or_default());
        }
        if let Some(announcements) = &self.announcements {
            let mut queued = announcements.lock().unwrap_or_else(PoisonError::into_inner);
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
    to_phone: Option<mpsc::Sender<Vec<i16>>>,
    keys_to_phone: Option<mpsc::Sender<char>>,
    detector: DtmfDetector,
    down: Downsampler,
}

impl AudioSink for LineSink {
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        let narrow = self.down.process(samples);
        if self.to_phone.is_none() {
            if let Some(line) = self.lines.lock().get(&self.call) {
                self.to_phone = Some(line.to_phone.clone());
                self.keys_to_phone = line.keys_to_phone.clone();
            }
        }
        for key in self.detector.push(&narrow) {
            tracing::debug!("a keypad key from the user, for the phone");
            if let Some(keys) = &self.keys_to_phone {
                let _ = keys.try_send(key);
            }
        }
        // Before the line is connected, or when the leg lags, the audio is dropped: the
        // phone leg paces itself and late audio is worse than a gap.
        if let Some(tx) = &self.to_phone {
            if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(narrow) {
                self.to_phone = None;
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "phone line".into()
    }
}
