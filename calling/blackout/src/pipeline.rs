//! One frame through the whole chain, on the worker thread: downscale -> (detector schedule,
//! motion mask) -> segment -> dilate + hold -> union with boxes and motion -> upsample +
//! threshold -> paint black. Every buffer is reused from frame to frame.

use crate::composite::paint;
use crate::frame::PixelFormat;
use crate::mask::{MaskProcessor, Upsampler};
use crate::motion::MotionMask;
use crate::placeholder::Placeholder;
use crate::resize::Downscaler;
use crate::schedule::Schedule;
use crate::segmenter::{RgbImage, SegmentError, Segmenter};

/// The mask parameters of [`FilterConfig`](crate::FilterConfig), already checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaskSettings {
    pub(crate) threshold: f32,
    pub(crate) dilation: f32,
    pub(crate) hold_frames: usize,
}

/// Largest segmenter input accepted (a guard against a buggy `input_size`).
const MAX_MODEL_SIDE: u32 = 4096;

pub(crate) struct Pipeline {
    segmenter: Box<dyn Segmenter>,
    /// The person detector's schedule; `None` for segmentation alone.
    schedule: Option<Schedule>,
    /// What changed since the detector last looked (with the detector only).
    motion: Option<MotionMask>,
    settings: MaskSettings,
    down: Downscaler,
    raw_mask: Vec<u8>,
    gate: Vec<u8>,
    mask: MaskProcessor,
    up: Upsampler,
    spans: Vec<(u32, u32)>,
    placeholder: Option<Placeholder>,
    /// The placeholder rendered and filtered for (width, height, format).
    placeholder_frame: Option<((u32, u32, PixelFormat), Vec<u8>)>,
}

impl Pipeline {
    pub(crate) fn new(
        segmenter: Box<dyn Segmenter>,
        schedule: Option<Schedule>,
        settings: MaskSettings,
        placeholder: Option<Placeholder>,
    ) -> Pipeline {
        let motion = schedule
            .as_ref()
            .and_then(Schedule::motion_config)
            .map(MotionMask::new);
        Pipeline {
            segmenter,
            schedule,
            motion,
            settings,
            down: Downscaler::default(),
            raw_mask: Vec::new(),
            gate: Vec::new(),
            mask: MaskProcessor::default(),
            up: Upsampler::default(),
            spans: Vec::new(),
            placeholder,
            placeholder_frame: None,
        }
    }

    /// Whether frames are replaced by the placeholder (the camera pixels are then not read).
    pub(crate) fn uses_placeholder(&self) -> bool {
        self.placeholder.is_some()
    }

    /// Filters a tight frame in place. On error the buffer may be half-painted: the caller
    /// must not send it.
    pub(crate) fn run(
        &mut self,
        format: PixelFormat,
        width: u32,
        height: u32,
        frame: &mut Vec<u8>,
    ) -> Result<(), SegmentError> {
        if let Some(placeholder) = &self.placeholder {
            let key = (width, height, format);
            if self.placeholder_frame.as_ref().map(|(k, _)| *k) != Some(key) {
                // Render once per size, and pass it through the filter like any frame, with
                // no hold: a person in the placeholder image is blacked out too.
                let mut rendered = placeholder.render(width, height, format);
                self.segment_and_paint(format, width, height, &mut rendered, 1)?;
                self.mask.reset();
                self.placeholder_frame = Some((key, rendered));
            }
            if let Some((_, rendered)) = &self.placeholder_frame {
                frame.clear();
                frame.extend_from_slice(rendered);
            }
            return Ok(());
        }
        let hold = self.settings.hold_frames;
        self.segment_and_paint(format, width, height, frame, hold)
    }

    fn segment_and_paint(
        &mut self,
        format: PixelFormat,
        width: u32,
        height: u32,
        frame: &mut [u8],
        hold: usize,
    ) -> Result<(), SegmentError> {
        if frame.len() != format.frame_len(width, height) {
            return Err(SegmentError("frame buffer of the wrong length".into()));
        }
        let (mw, mh) = self.segmenter.input_size(width, height);
        if mw == 0 || mh == 0 || mw > MAX_MODEL_SIDE || mh > MAX_MODEL_SIDE {
            return Err(SegmentError(format!(
                "segmenter asked for a {mw}x{mh} input"
            )));
        }
        self.down.run(format, width, height, frame, mw, mh);
        // The detector's run (when due) starts before segmentation, so on two cores both
        // models work at once.
        if let Some(schedule) = self.schedule.as_mut() {
            let stepped = schedule.step(format, width, height, frame);
            if let Some(motion) = self.motion.as_mut() {
                motion.load(&self.down.rgb, mw as usize, mh as usize);
                if schedule.submitted_this_frame() {
                    motion.keep(schedule.frame_no());
                }
                motion.observe(schedule.frame_no(), schedule.newest_result());
            }
            stepped?;
        }
        self.raw_mask.clear();
        self.raw_mask.resize(mw as usize * mh as usize, 0);
        self.segmenter.segment(
            RgbImage {
                width: mw,
                height: mh,
                pixels: &self.down.rgb,
            },
            &mut self.raw_mask,
        )?;
        if let Some(schedule) = &self.schedule {
            schedule.gate(&mut self.raw_mask, mw as usize, mh as usize, &mut self.gate);
        }
        // Dilation radius: `dilation * width` frame pixels, in mask pixels on each axis
        // (the frame is squashed, so the two axes scale differently). Rounded up.
        let r_frame = self.settings.dilation as f64 * width as f64;
        let rx = (r_frame * mw as f64 / width as f64).ceil() as usize;
        let ry = (r_frame * mh as f64 / height as f64).ceil() as usize;
        self.mask.update(&self.raw_mask, mw, mh, rx, ry, hold);
        // Union with the detector's boxes: a person the segmenter misses is still covered.
        // Painted after dilation and hold: boxes carry their own margin and age growth.
        if let Some(schedule) = &self.schedule {
            schedule.paint(&mut self.mask.held, mw as usize, mh as usize);
            // And what changed since the detector last looked: people walking in.
            if let Some(motion) = &self.motion {
                motion.paint(&mut self.mask.held, schedule.newest_result());
            }
        }
        self.up.prepare(mw, mh, width, height);
        paint(
            format,
            width,
            height,
            frame,
            &self.mask.held,
            &mut self.up,
            self.settings.threshold,
            &mut self.spans,
        );
        Ok(())
    }
}
