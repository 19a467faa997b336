//! The microphone's processing chain in a call ([`media::audio::AudioChain`]): the
//! capture side wraps the microphone, the render side is the render stage's far-end tap,
//! both sharing one chain. A processing fault is noted and the frame goes out as captured:
//! the call never goes silent because of it.

use std::sync::{Arc, Mutex};

use media::audio::{
    AudioChain, AudioError, AudioFrame, AudioSource, ProcessingConfig, ProcessingFault, Processor,
};

use super::render::FarEndTap;
use super::{Controls, Notes, PipelineNote};

/// Whether and how a set of devices' microphone is processed (echo cancellation, noise
/// suppression, gain control, high-pass).
#[derive(Clone, Default)]
pub enum VoiceProcessing {
    /// The whole chain: what a real microphone near a real speaker needs.
    #[default]
    On,
    /// The microphone as captured.
    Off,
    /// The chain with some parts on ([`ProcessingConfig`]).
    Parts(ProcessingConfig),
    /// A processor of one's own (tests inject faults this way).
    Custom(Arc<dyn Fn() -> Box<dyn Processor> + Send + Sync>),
}

impl std::fmt::Debug for VoiceProcessing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VoiceProcessing::On => f.write_str("On"),
            VoiceProcessing::Off => f.write_str("Off"),
            VoiceProcessing::Parts(config) => write!(f, "Parts({config:?})"),
            VoiceProcessing::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl VoiceProcessing {
    /// The chain this setting asks for; `None` when off.
    pub fn chain(&self) -> Option<AudioChain> {
        match self {
            VoiceProcessing::On => Some(AudioChain::sonora(ProcessingConfig::default())),
            VoiceProcessing::Off => None,
            VoiceProcessing::Parts(config) => Some(AudioChain::sonora(*config)),
            VoiceProcessing::Custom(make) => {
                let make = make.clone();
                Some(AudioChain::new(Box::new(move || make())))
            }
        }
    }
}

/// Wraps a call's microphone and its speaker's far-end tap in one processing chain, when
/// `setting` asks for one; otherwise gives them back as they are.
pub(crate) fn process(
    microphone: Box<dyn AudioSource>,
    device_tap: Option<Box<dyn FarEndTap>>,
    setting: &VoiceProcessing,
    controls: Arc<Controls>,
    notes: Notes,
) -> (Box<dyn AudioSource>, Option<Box<dyn FarEndTap>>) {
    let Some(chain) = setting.chain() else {
        return (microphone, device_tap);
    };
    let chain = Arc::new(Mutex::new(chain));
    let microphone = ProcessedMicrophone {
        inner: microphone,
        chain: chain.clone(),
        controls,
        notes: notes.clone(),
    };
    let tap = EchoReference {
        chain,
        device_tap,
        notes,
    };
    (Box::new(microphone), Some(Box::new(tap)))
}

/// Reports a fault: the frame went out as captured; `gave_up` once the chain stopped.
fn note_fault(notes: &Notes, chain: &AudioChain, fault: ProcessingFault) {
    tracing::warn!(%fault, "voice processing fault; frame sent unprocessed");
    let _ = notes.send(PipelineNote::VoiceProcessingFault {
        fault: fault.0,
        gave_up: !chain.is_running(),
    });
}

/// The microphone, processed unless the call turned processing off.
struct ProcessedMicrophone {
    inner: Box<dyn AudioSource>,
    chain: Arc<Mutex<AudioChain>>,
    controls: Arc<Controls>,
    notes: Notes,
}

impl AudioSource for ProcessedMicrophone {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        let mut frame = self.inner.read_frame()?;
        if Controls::get(&self.controls.voice_processing_off) {
            return Ok(frame);
        }
        let mut chain = self.chain.lock().expect("voice chain lock");
        if let Err(fault) = chain.capture(&mut frame.samples) {
            note_fault(&self.notes, &chain, fault);
        }
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!(
            "{} (echo cancelled, noise suppressed)",
            self.inner.describe()
        )
    }
}

/// What the speaker played, to the chain (the echo canceller's reference) and to the
/// devices' own tap.
struct EchoReference {
    chain: Arc<Mutex<AudioChain>>,
    device_tap: Option<Box<dyn FarEndTap>>,
    notes: Notes,
}

impl FarEndTap for EchoReference {
    fn far_end(&mut self, played: &[i16]) {
        if let Some(tap) = self.device_tap.as_mut() {
            tap.far_end(played);
        }
        let mut chain = self.chain.lock().expect("voice chain lock");
        if let Err(fault) = chain.far_end(played) {
            note_fault(&self.notes, &chain, fault);
        }
    }
}

#[cfg(test)]
mod tests {
    use media::audio::{ToneSource, FRAME_SAMPLES};

    use super::*;

    /// A processor that halves the microphone and panics on its `panic_at`th capture.
    struct Halves {
        captures: u32,
        panic_at: u32,
    }

    impl Processor for Halves {
        fn render(&mut self, _: &[i16]) -> Result<(), ProcessingFault> {
            Ok(())
        }
        fn capture(&mut self, input: &[i16], out: &mut [i16]) -> Result<(), ProcessingFault> {
            self.captures += 1;
            assert!(self.captures != self.panic_at, "injected fault");
            for (o, i) in out.iter_mut().zip(input) {
                *o = i / 2;
            }
            Ok(())
        }
    }

    fn wrapped(
        setting: VoiceProcessing,
    ) -> (
        Box<dyn AudioSource>,
        Arc<Controls>,
        tokio::sync::mpsc::UnboundedReceiver<PipelineNote>,
    ) {
        let controls = Arc::new(Controls::default());
        let (notes, rx) = tokio::sync::mpsc::unbounded_channel();
        let tone = ToneSource::new(440.0, 0.3).paced(false);
        let (mic, _) = process(Box::new(tone), None, &setting, controls.clone(), notes);
        (mic, controls, rx)
    }

    #[test]
    fn a_fault_is_noted_and_the_frame_goes_out_as_captured() {
        let setting = VoiceProcessing::Custom(Arc::new(|| {
            Box::new(Halves {
                captures: 0,
                panic_at: 3,
            })
        }));
        let (mut mic, _, mut notes) = wrapped(setting);
        let mut reference = ToneSource::new(440.0, 0.3).paced(false);
        let mut expect = |halved: bool| {
            let raw = reference.read_frame().unwrap().samples;
            let got = mic.read_frame().unwrap().samples;
            let want: Vec<i16> = raw
                .iter()
                .map(|s| if halved { s / 2 } else { *s })
                .collect();
            assert_eq!(got.len(), FRAME_SAMPLES);
            assert_eq!(got, want, "halved: {halved}");
        };
        expect(true);
        expect(false); // the third capture (second frame's first half) panics
        assert!(matches!(
            notes.try_recv(),
            Ok(PipelineNote::VoiceProcessingFault { gave_up: false, .. })
        ));
        expect(true); // a fresh processor
    }

    #[test]
    fn processing_turned_off_for_the_call_passes_the_microphone_untouched() {
        let setting = VoiceProcessing::Custom(Arc::new(|| {
            Box::new(Halves {
                captures: 0,
                panic_at: 0,
            })
        }));
        let (mut mic, controls, _) = wrapped(setting);
        let mut reference = ToneSource::new(440.0, 0.3).paced(false);
        Controls::set(&controls.voice_processing_off, true);
        assert_eq!(
            mic.read_frame().unwrap().samples,
            reference.read_frame().unwrap().samples
        );
    }

    #[test]
    fn off_gives_back_the_devices_as_they_are() {
        let (notes, _rx) = tokio::sync::mpsc::unbounded_channel();
        let tone = ToneSource::new(440.0, 0.3).paced(false);
        let (mic, tap) = process(
            Box::new(tone),
            None,
            &VoiceProcessing::Off,
            Arc::default(),
            notes,
        );
        assert!(tap.is_none());
        assert!(!mic.describe().contains("echo cancelled"));
    }
}
