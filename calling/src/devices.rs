//! Where a call's media comes from and goes to: the hardware behind traits, with the real
//! drivers ([`SystemDevices`]: cpal, nokhwa, the blackout filter, xcap screen capture) and
//! synthetic ones ([`SyntheticDevices`]: tone generator, test pattern, slide deck, recording
//! sinks) for tests and the demo.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blackout::{BlackFrameFilter, BlackoutFilter, FilterConfig, PrivacyFilter};
use nostr_signal::PublicKey;

use crate::pipeline::processing::VoiceProcessing;
use crate::pipeline::render::FarEndTap;
use crate::pipeline::transform::{FrameTransform, IdentityTransform};
use media::audio::{
    AudioError, AudioSink, AudioSource, BurstDetector, BurstLog, ClipSource, CpalMicrophone,
    CpalSpeaker, Recording, RecordingSink, ToneSource,
};
use media::video::{
    list_screen_targets, DecodedFrame, FileSource, NokhwaCamera, ScreenSource, ScreenTarget,
    ScreenTargets, SequenceSource, SyntheticScreen, TestPatternSource, VideoError, VideoSource,
    XcapScreen, DEFAULT_BLACK_TOLERANCE, DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH,
    SYNTHETIC_SCREEN_ID,
};

/// Receives the peer's decoded video (the UI's remote view, or a test probe).
pub trait RemoteVideoSink: Send + 'static {
    /// One decoded frame, in arrival order.
    fn on_frame(&mut self, frame: &DecodedFrame);
}

/// The devices a call uses. Each call asks for fresh instances when its media starts.
pub trait MediaDevices: Send + Sync + 'static {
    /// The microphone.
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError>;
    /// The speaker.
    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError>;
    /// The camera.
    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError>;
    /// The privacy filter every camera frame passes before the encoder.
    fn privacy_filter(&self) -> Box<dyn PrivacyFilter>;
    /// Where the peer's video goes.
    fn remote_video(&self) -> Box<dyn RemoteVideoSink>;
    /// The screens and windows the user can share (listing can take a moment: call it off
    /// the UI thread).
    fn screen_targets(&self) -> ScreenTargets;
    /// Opens a screen share of `target` (one of [`screen_targets`](Self::screen_targets)).
    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError>;
    /// Where the peer's screen share goes.
    fn remote_screen(&self) -> Box<dyn RemoteVideoSink>;
    /// What every encoded frame passes between the codec and RTP, both ways (see
    /// [`FrameTransform`]); the identity unless frames are end-to-end encrypted.
    fn frame_transform(&self) -> Arc<dyn FrameTransform> {
        Arc::new(IdentityTransform)
    }
    /// Where `participant`'s video goes. In a call with several people each has a view of
    /// their own; the default is [`remote_video`](Self::remote_video) for everyone.
    fn remote_video_of(&self, participant: &PublicKey) -> Box<dyn RemoteVideoSink> {
        let _ = participant;
        self.remote_video()
    }
    /// The microphone of the 1:1 call `call` with `participant` (default:
    /// [`microphone`](Self::microphone)): a phone gateway's "microphone" is the phone line
    /// of that call.
    fn microphone_for(
        &self,
        call: phantomcall_schemas::CallId,
        participant: &PublicKey,
    ) -> Result<Box<dyn AudioSource>, AudioError> {
        let _ = (call, participant);
        self.microphone()
    }
    /// The speaker of the 1:1 call `call` with `participant` (default:
    /// [`speaker`](Self::speaker)).
    fn speaker_for(
        &self,
        call: phantomcall_schemas::CallId,
        participant: &PublicKey,
    ) -> Result<Box<dyn AudioSink>, AudioError> {
        let _ = (call, participant);
        self.speaker()
    }
    /// Where `participant`'s screen share goes (default:
    /// [`remote_screen`](Self::remote_screen)).
    fn remote_screen_of(&self, participant: &PublicKey) -> Box<dyn RemoteVideoSink> {
        let _ = participant;
        self.remote_screen()
    }
    /// How the microphone is processed before it is encoded (echo cancellation against
    /// the speaker, noise suppression, gain control). Default: not at all (synthetic and
    /// test devices); real devices process.
    fn voice_processing(&self) -> VoiceProcessing {
        VoiceProcessing::Off
    }
    /// Whether the microphone's Opus may carry in-band FEC (when the peer asks for it).
    /// Default: yes; the quality bench turns it off to measure what it buys.
    fn opus_fec(&self) -> bool {
        true
    }
    /// What also gets every frame the speaker plays, after mixing: the far-end reference
    /// of an echo canceller of the devices' own (the call's voice processing has its
    /// own). `None` (the default): nothing does.
    fn far_end_tap(&self) -> Option<Box<dyn FarEndTap>> {
        None
    }
}

/// Which privacy filter the camera goes through.
#[derive(Debug, Clone, Default)]
pub enum FilterChoice {
    /// Human blackout (person segmentation): the room stays, the person is black.
    Blackout(FilterConfig),
    /// Every frame fully black (no segmentation).
    #[default]
    AllBlack,
}

impl FilterChoice {
    fn build(&self) -> Box<dyn PrivacyFilter> {
        match self {
            FilterChoice::Blackout(config) => Box::new(BlackoutFilter::new(config.clone())),
            FilterChoice::AllBlack => Box::new(BlackFrameFilter::new()),
        }
    }
}

/// The machine's real devices.
#[derive(Debug, Clone, Default)]
pub struct SystemDevices {
    /// Microphone by name (`None`: the default one).
    pub microphone: Option<String>,
    /// Speaker by name (`None`: the default one).
    pub speaker: Option<String>,
    /// Camera index.
    pub camera: u32,
    /// The camera's privacy filter.
    pub filter: FilterChoice,
    /// Echo cancellation, noise suppression and gain control on the microphone (on unless
    /// the user turned it off).
    pub voice_processing: VoiceProcessing,
}

impl MediaDevices for SystemDevices {
    fn voice_processing(&self) -> VoiceProcessing {
        self.voice_processing.clone()
    }

    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        Ok(Box::new(CpalMicrophone::open(self.microphone.as_deref())?))
    }

    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        Ok(Box::new(CpalSpeaker::open(self.speaker.as_deref())?))
    }

    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        Ok(Box::new(NokhwaCamera::open(
            self.camera,
            DEFAULT_WIDTH,
            DEFAULT_HEIGHT,
            DEFAULT_FPS,
        )?))
    }

    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        self.filter.build()
    }

    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        Box::new(VideoProbe::default())
    }

    fn screen_targets(&self) -> ScreenTargets {
        list_screen_targets()
    }

    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        Ok(Box::new(XcapScreen::open(target)?))
    }

    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        Box::new(VideoProbe::default())
    }
}

/// Synthetic devices: a tone instead of the microphone, a moving test pattern (or a
/// picture or Y4M file) instead of the camera, and sinks that record what was played and
/// shown so tests and the demo can check it.
#[derive(Clone)]
pub struct SyntheticDevices {
    /// Frequency of the tone "spoken" into the microphone.
    pub tone_hz: f32,
    /// Peak level of the steady tone, as a fraction of full scale (0.3 unless changed; a
    /// quiet talker for benches that mix many).
    pub tone_level: f32,
    /// Tone bursts (period, length) instead of a steady tone: for latency measurement.
    pub bursts: Option<(Duration, Duration)>,
    /// Camera resolution and rate.
    pub video: (u32, u32, u32),
    /// A PNG/JPEG/Y4M file, or a directory of pictures played as a clip at the rate of
    /// `video`, as the camera instead of the test pattern.
    pub video_file: Option<PathBuf>,
    /// The camera's privacy filter.
    pub filter: FilterChoice,
    /// Size of the synthetic screen offered for sharing ("Demo slides").
    pub screen_size: (u32, u32),
    /// What each speaker played and each remote view showed, newest last.
    pub probes: Probes,
    /// The frame transform of its calls; `None`: the identity.
    pub frame_transform: Option<Arc<dyn FrameTransform>>,
    /// The microphone's processing: off unless a test turns it on (noise suppression
    /// would take a steady test tone for noise).
    pub voice_processing: VoiceProcessing,
    /// Recorded samples (48 kHz mono, looped) as the microphone instead of the tone.
    pub microphone_clip: Option<Arc<[i16]>>,
    /// Whether its Opus may carry in-band FEC (see [`MediaDevices::opus_fec`]).
    pub opus_fec: bool,
}

/// Shared access to what synthetic sinks received.
#[derive(Clone, Default)]
pub struct Probes {
    speakers: Arc<Mutex<Vec<SpeakerProbe>>>,
    videos: Arc<Mutex<Vec<VideoProbe>>>,
    screens: Arc<Mutex<Vec<VideoProbe>>>,
    burst_logs: Arc<Mutex<Vec<BurstLog>>>,
}

impl Probes {
    /// Speakers opened so far (one per call), oldest first.
    pub fn speakers(&self) -> Vec<SpeakerProbe> {
        self.speakers.lock().expect("probe lock").clone()
    }

    /// Remote views opened so far (one per video call), oldest first.
    pub fn videos(&self) -> Vec<VideoProbe> {
        self.videos.lock().expect("probe lock").clone()
    }

    /// Views of the peer's screen share opened so far (one per call), oldest first.
    pub fn screens(&self) -> Vec<VideoProbe> {
        self.screens.lock().expect("probe lock").clone()
    }

    /// Burst logs of the microphones opened so far (with bursts on), oldest first.
    pub fn burst_logs(&self) -> Vec<BurstLog> {
        self.burst_logs.lock().expect("probe lock").clone()
    }

    /// Lets go of everything recorded so far (a long-running test or bench would
    /// otherwise keep every call's audio).
    pub fn forget(&self) {
        self.speakers.lock().expect("probe lock").clear();
        self.videos.lock().expect("probe lock").clear();
        self.screens.lock().expect("probe lock").clear();
        self.burst_logs.lock().expect("probe lock").clear();
    }
}

impl SyntheticDevices {
    /// A steady `tone_hz` tone and a 640x480 test pattern at 24 fps, all-black filter.
    pub fn new(tone_hz: f32) -> Self {
        Self {
            tone_hz,
            tone_level: 0.3,
            bursts: None,
            video: (DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FPS),
            video_file: None,
            filter: FilterChoice::AllBlack,
            screen_size: (1280, 720),
            probes: Probes::default(),
            frame_transform: None,
            voice_processing: VoiceProcessing::Off,
            microphone_clip: None,
            opus_fec: true,
        }
    }

    /// The camera plays [`people_clip`] (people walking past a still camera) at its own
    /// rate, when the checkout has it; otherwise the test pattern stays. For the demo: the
    /// blackout filter shows what it does on real people, and keeps the still scene (a
    /// test pattern moves everywhere, so the motion mask keeps all of it black).
    pub fn with_people_clip(mut self) -> Self {
        if let Some(dir) = people_clip() {
            self.video_file = Some(dir);
            self.video.2 = PEOPLE_CLIP_FPS;
        }
        self
    }
}

/// Frame rate of [`people_clip`] (OpenCV's `vtest.avi`, 10 fps).
pub const PEOPLE_CLIP_FPS: u32 = 10;

/// The directory of the people clip: the 795 frames of OpenCV's pedestrian sample
/// `vtest.avi` (Debian `opencv-doc`, Apache-2.0 AND BSD-3-Clause) at 384x288, which the
/// blackout evaluation also uses (`calling/blackout/model/evaldata/SOURCES.md`). Looked up
/// where this crate was built; `None` when that checkout is gone (an installed binary).
pub fn people_clip() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("blackout/model/evaldata/vtest");
    dir.is_dir().then_some(dir)
}

impl MediaDevices for SyntheticDevices {
    fn voice_processing(&self) -> VoiceProcessing {
        self.voice_processing.clone()
    }

    fn opus_fec(&self) -> bool {
        self.opus_fec
    }

    fn frame_transform(&self) -> Arc<dyn FrameTransform> {
        self.frame_transform
            .clone()
            .unwrap_or_else(|| Arc::new(IdentityTransform))
    }

    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        if let Some(clip) = &self.microphone_clip {
            return Ok(Box::new(ClipSource::new(clip.clone())));
        }
        match self.bursts {
            Some((period, length)) => {
                let (source, log) = ToneSource::bursts(self.tone_hz, period, length);
                self.probes.burst_logs.lock().expect("probe lock").push(log);
                Ok(Box::new(source))
            }
            None => Ok(Box::new(ToneSource::new(self.tone_hz, self.tone_level))),
        }
    }

    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        let (sink, recording) = RecordingSink::new();
        let probe = SpeakerProbe {
            recording,
            onsets: Arc::default(),
        };
        self.probes
            .speakers
            .lock()
            .expect("probe lock")
            .push(probe.clone());
        Ok(Box::new(ProbeSink {
            sink,
            detector: self.bursts.map(|_| BurstDetector::new(self.tone_hz)),
            onsets: probe.onsets,
        }))
    }

    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        let (w, h, fps) = self.video;
        match &self.video_file {
            Some(path) if path.is_dir() => Ok(Box::new(SequenceSource::open(path, fps)?)),
            Some(path) => Ok(Box::new(FileSource::open(path, fps)?)),
            None => Ok(Box::new(TestPatternSource::new(w, h, fps))),
        }
    }

    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        match &self.filter {
            // A camera slower than 24 fps (the people clip plays at 10) leaves the filter a
            // whole frame interval: a tighter deadline only blacks frames on a busy machine.
            FilterChoice::Blackout(config) => {
                let interval = Duration::from_secs(1) / self.video.2.max(1);
                let mut config = config.clone();
                config.deadline = config.deadline.max(interval);
                FilterChoice::Blackout(config).build()
            }
            other => other.build(),
        }
    }

    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        let probe = VideoProbe::default();
        self.probes
            .videos
            .lock()
            .expect("probe lock")
            .push(probe.clone());
        Box::new(probe)
    }

    fn screen_targets(&self) -> ScreenTargets {
        let (w, h) = self.screen_size;
        ScreenTargets {
            targets: vec![SyntheticScreen::target(w, h)],
            problems: Vec::new(),
        }
    }

    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        if target.id != SYNTHETIC_SCREEN_ID {
            return Err(VideoError::Screen(format!(
                "{target} is not a synthetic screen"
            )));
        }
        let (w, h) = self.screen_size;
        Ok(Box::new(SyntheticScreen::new(w, h)))
    }

    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        let probe = VideoProbe::default();
        self.probes
            .screens
            .lock()
            .expect("probe lock")
            .push(probe.clone());
        Box::new(probe)
    }
}

/// What a synthetic speaker played: the samples, and when tone bursts began.
#[derive(Clone)]
pub struct SpeakerProbe {
    /// Every sample played (bounded to the last 30 s).
    pub recording: Recording,
    onsets: Arc<Mutex<Vec<Instant>>>,
}

impl SpeakerProbe {
    /// When each tone burst started playing (with bursts on).
    pub fn onsets(&self) -> Vec<Instant> {
        self.onsets.lock().expect("probe lock").clone()
    }
}

struct ProbeSink {
    sink: RecordingSink,
    detector: Option<BurstDetector>,
    onsets: Arc<Mutex<Vec<Instant>>>,
}

impl AudioSink for ProbeSink {
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        if let Some(detector) = &mut self.detector {
            let found = detector.feed(samples, Instant::now());
            self.onsets.lock().expect("probe lock").extend(found);
        }
        self.sink.write_frame(samples)
    }

    fn describe(&self) -> String {
        "synthetic speaker (recording)".to_owned()
    }
}

/// Counts the peer's decoded frames, checks their blackness and keeps the latest one.
#[derive(Clone, Default)]
pub struct VideoProbe {
    state: Arc<Mutex<VideoProbeState>>,
}

/// What a [`VideoProbe`] saw.
#[derive(Clone, Default)]
pub struct VideoProbeState {
    /// Frames decoded.
    pub frames: u64,
    /// Of which entirely black (within the codec tolerance).
    pub black_frames: u64,
    /// The latest frame.
    pub last: Option<DecodedFrame>,
    /// The latest frame that was not entirely black.
    pub last_shown: Option<DecodedFrame>,
}

impl VideoProbe {
    /// A copy of what it saw so far.
    pub fn snapshot(&self) -> VideoProbeState {
        self.state.lock().expect("probe lock").clone()
    }
}

impl RemoteVideoSink for VideoProbe {
    fn on_frame(&mut self, frame: &DecodedFrame) {
        let mut state = self.state.lock().expect("probe lock");
        state.frames += 1;
        if frame.is_black(DEFAULT_BLACK_TOLERANCE) {
            state.black_frames += 1;
        } else {
            state.last_shown = Some(frame.clone());
        }
        state.last = Some(frame.clone());
    }
}
