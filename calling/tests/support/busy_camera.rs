//! A camera that asks for bandwidth: the synthetic test pattern passed whole through the
//! filter (a segmenter that finds nobody), so the encoder has a picture worth hundreds of
//! kbit/s, several packets a frame (a black frame costs almost nothing).

use std::sync::Arc;
use std::time::Duration;

use blackout::{BlackoutFilter, FilterConfig, PrivacyFilter, RgbImage, SegmentError, Segmenter};
use calling::{
    FarEndTap, FrameTransform, MediaDevices, RemoteVideoSink, ScreenTarget, ScreenTargets,
    SyntheticDevices, VoiceProcessing,
};
use media::audio::{AudioError, AudioSink, AudioSource};
use media::video::{ScreenSource, VideoError, VideoSource};

/// A segmenter that finds nobody: the test pattern passes the filter whole, so the encoder
/// has a picture worth hundreds of kbit/s to send (a black frame costs almost nothing).
pub struct Nobody;

impl Segmenter for Nobody {
    fn input_size(&self, _: u32, _: u32) -> (u32, u32) {
        (64, 48)
    }

    fn segment(&mut self, _: RgbImage<'_>, mask: &mut [u8]) -> Result<(), SegmentError> {
        mask.fill(0);
        Ok(())
    }
}

/// Synthetic devices whose camera shows the moving test pattern itself.
pub struct BusyCamera(pub SyntheticDevices);

impl MediaDevices for BusyCamera {
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        self.0.microphone()
    }
    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        self.0.speaker()
    }
    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        self.0.camera()
    }
    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        let config = FilterConfig {
            detector: None,
            // Frames are not blacked for lateness on a loaded test machine: a black frame
            // would lower what the video asks for.
            deadline: Duration::from_millis(500),
            ..FilterConfig::default()
        };
        Box::new(BlackoutFilter::with_segmenter(config, || {
            Ok(Box::new(Nobody) as Box<dyn Segmenter>)
        }))
    }
    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        self.0.remote_video()
    }
    fn screen_targets(&self) -> ScreenTargets {
        self.0.screen_targets()
    }
    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        self.0.screen(target)
    }
    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        self.0.remote_screen()
    }
    fn frame_transform(&self) -> Arc<dyn FrameTransform> {
        self.0.frame_transform()
    }
    fn voice_processing(&self) -> VoiceProcessing {
        self.0.voice_processing()
    }
    fn opus_fec(&self) -> bool {
        self.0.opus_fec()
    }
    fn far_end_tap(&self) -> Option<Box<dyn FarEndTap>> {
        self.0.far_end_tap()
    }
}
