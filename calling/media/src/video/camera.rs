//! [`NokhwaCamera`]: the real camera, through nokhwa's Video4Linux backend.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use blackout::{FrameError, PixelFormat, MAX_DIMENSION};
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};
use nokhwa::{Camera, NokhwaError};

use super::{CapturedFrame, VideoError, VideoSource};

/// Camera formats we can use, best first: YUYV and NV12 go to blackout as they are (cheap),
/// packed RGB nearly so, MJPEG costs a JPEG decode per frame, grey is a last resort.
const PREFERRED: [FrameFormat; 6] = [
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
    FrameFormat::MJPEG,
    FrameFormat::GRAY,
];

/// A video capture device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// The N of /dev/videoN: what [`NokhwaCamera::open`] takes.
    pub index: u32,
    /// The device's name as the driver gives it.
    pub name: String,
}

/// Runs a camera-driver call, turning its errors and panics into [`VideoError::Camera`]: a
/// misbehaving driver must not bring the call down.
fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, NokhwaError>) -> Result<T, VideoError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(VideoError::Camera(format!("{what}: {e}"))),
        Err(_) => Err(VideoError::Camera(format!(
            "{what}: the camera driver panicked"
        ))),
    }
}

/// The video capture devices present, by index. Empty when there is none (not an error).
pub fn list_cameras() -> Result<Vec<CameraInfo>, VideoError> {
    let devices = guard("listing cameras", || nokhwa::query(ApiBackend::Video4Linux))?;
    let mut cameras: Vec<CameraInfo> = devices
        .iter()
        .filter_map(|d| {
            let index = d.index().as_index().ok()?;
            Some(CameraInfo {
                index,
                name: d.human_name(),
            })
        })
        .collect();
    cameras.sort_by_key(|c| c.index);
    Ok(cameras)
}

/// A camera opened through nokhwa (Video4Linux on Linux), read synchronously:
/// [`read_frame`](VideoSource::read_frame) blocks until the device delivers the next frame,
/// so the camera itself paces the loop.
///
/// Frames come out in the camera's own format when blackout reads it (YUYV, NV12; RGB for
/// RGB, BGR and grey cameras; MJPEG is decoded to RGB), never converted more than needed.
pub struct NokhwaCamera {
    camera: Camera,
    index: u32,
    name: String,
    format: CameraFormat,
}

impl std::fmt::Debug for NokhwaCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NokhwaCamera")
            .field("index", &self.index)
            .field("name", &self.name)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl NokhwaCamera {
    /// Opens camera `index` (the N of /dev/videoN) in the mode closest to
    /// `width x height` at `fps` (see [`list_cameras`]), and starts streaming.
    ///
    /// Errors: [`VideoError::NoCamera`] when the machine has no camera,
    /// [`VideoError::CameraNotFound`] for an index that does not exist,
    /// [`VideoError::UnsupportedCameraFormat`] or [`VideoError::Camera`] otherwise.
    pub fn open(index: u32, width: u32, height: u32, fps: u32) -> Result<NokhwaCamera, VideoError> {
        let cameras = list_cameras()?;
        if cameras.is_empty() {
            return Err(VideoError::NoCamera);
        }
        let Some(info) = cameras.iter().find(|c| c.index == index) else {
            return Err(VideoError::CameraNotFound {
                index,
                available: cameras.iter().map(|c| c.index).collect(),
            });
        };
        let opening = format!("opening camera {index}");
        let mut camera = guard(&opening, || {
            Camera::with_backend(
                CameraIndex::Index(index),
                RequestedFormat::with_formats(RequestedFormatType::None, &PREFERRED),
                ApiBackend::Video4Linux,
            )
        })?;
        let modes = guard(&opening, || camera.compatible_camera_formats())?;
        let Some(mode) = choose_mode(&modes, width, height, fps) else {
            let mut offered: Vec<String> = modes.iter().map(|m| m.format().to_string()).collect();
            offered.sort();
            offered.dedup();
            return Err(VideoError::UnsupportedCameraFormat {
                index,
                offered: offered.join(", "),
            });
        };
        let exact = [mode.format()];
        let request = RequestedFormat::with_formats(RequestedFormatType::Exact(mode), &exact);
        guard(&opening, || camera.set_camera_requset(request))?;
        guard(&opening, || camera.open_stream())?;
        let format = camera.camera_format();
        tracing::info!(index, name = %info.name, %format, "camera opened");
        Ok(NokhwaCamera {
            camera,
            index,
            name: info.name.clone(),
            format,
        })
    }
}

impl VideoSource for NokhwaCamera {
    fn read_frame(&mut self) -> Result<CapturedFrame, VideoError> {
        let buffer = guard("reading a camera frame", || self.camera.frame())?;
        let res = buffer.resolution();
        let (width, height, format, data) = convert_camera_frame(
            buffer.source_frame_format(),
            res.width(),
            res.height(),
            buffer.buffer(),
        )?;
        Ok(CapturedFrame {
            width,
            height,
            format,
            data,
            captured_at: Instant::now(),
        })
    }

    fn describe(&self) -> String {
        format!("camera {} \"{}\" ({})", self.index, self.name, self.format)
    }

    fn resolution(&self) -> (u32, u32) {
        (self.format.width(), self.format.height())
    }

    fn fps(&self) -> u32 {
        self.format.frame_rate()
    }
}

/// The camera mode closest to the request: nearest resolution first, then a frame rate at or
/// just above the one asked (frames can be dropped, missing ones cannot be made up), then the
/// cheapest format. nokhwa's own "closest" request is not used: it finds no frame rate when
/// the exact resolution is missing.
pub(crate) fn choose_mode(
    modes: &[CameraFormat],
    width: u32,
    height: u32,
    fps: u32,
) -> Option<CameraFormat> {
    modes
        .iter()
        .filter_map(|m| {
            let rank = PREFERRED.iter().position(|f| *f == m.format())?;
            let dw = i64::from(m.width()) - i64::from(width);
            let dh = i64::from(m.height()) - i64::from(height);
            let rate = m.frame_rate();
            let fps_penalty = if rate >= fps {
                u64::from(rate - fps)
            } else {
                u64::from(fps - rate) * 1000
            };
            Some(((dw * dw + dh * dh, fps_penalty, rank), *m))
        })
        .min_by_key(|(key, _)| *key)
        .map(|(_, m)| m)
}

/// Copies `rows` rows of `row` bytes out of a buffer whose rows may be padded to a stride
/// (V4L2's bytesperline), checking that the length fits such a layout.
fn unpad(data: &[u8], row: usize, rows: usize) -> Result<Vec<u8>, FrameError> {
    let tight = row * rows;
    if data.len() == tight {
        return Ok(data.to_vec());
    }
    // V4L2 hands over whole strides (sizeimage = bytesperline * rows).
    let len = data.len();
    let stride = len / rows.max(1);
    if rows == 0 || !len.is_multiple_of(rows) || stride < row {
        return Err(FrameError::BufferLength {
            plane: 0,
            len,
            min: tight,
            max: tight,
        });
    }
    Ok(data
        .chunks(stride)
        .take(rows)
        .flat_map(|r| &r[..row])
        .copied()
        .collect())
}

/// Turns a camera buffer into a tight frame blackout reads: `(width, height, format, data)`.
pub(crate) fn convert_camera_frame(
    format: FrameFormat,
    width: u32,
    height: u32,
    data: &[u8],
) -> Result<(u32, u32, PixelFormat, Vec<u8>), VideoError> {
    if width == 0 || height == 0 {
        return Err(FrameError::ZeroSize { width, height }.into());
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(FrameError::TooLarge { width, height }.into());
    }
    let (w, h) = (width as usize, height as usize);
    let tight = |f: PixelFormat, data: Vec<u8>| Ok((width, height, f, data));
    match format {
        FrameFormat::YUYV => tight(PixelFormat::Yuyv, unpad(data, w.div_ceil(2) * 4, h)?),
        FrameFormat::NV12 => {
            if w % 2 == 1 || h % 2 == 1 {
                return Err(FrameError::OddDimension {
                    format: PixelFormat::Nv12,
                    axis: if w % 2 == 1 { "width" } else { "height" },
                    value: if w % 2 == 1 { width } else { height },
                }
                .into());
            }
            // Y rows then UV rows, all with the same stride.
            tight(PixelFormat::Nv12, unpad(data, w, h + h / 2)?)
        }
        FrameFormat::RAWRGB => tight(PixelFormat::Rgb24, unpad(data, w * 3, h)?),
        FrameFormat::RAWBGR => {
            let mut rgb = unpad(data, w * 3, h)?;
            rgb.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
            tight(PixelFormat::Rgb24, rgb)
        }
        FrameFormat::GRAY => {
            let grey = unpad(data, w, h)?;
            tight(
                PixelFormat::Rgb24,
                grey.iter().flat_map(|&g| [g; 3]).collect(),
            )
        }
        FrameFormat::MJPEG => {
            let mut reader = image::ImageReader::with_format(
                std::io::Cursor::new(data),
                image::ImageFormat::Jpeg,
            );
            let mut limits = image::Limits::default();
            limits.max_image_width = Some(MAX_DIMENSION);
            limits.max_image_height = Some(MAX_DIMENSION);
            reader.limits(limits);
            let rgb = reader
                .decode()
                .map_err(|e| VideoError::Camera(format!("bad MJPEG frame: {e}")))?
                .to_rgb8();
            let (jw, jh) = rgb.dimensions();
            Ok((jw, jh, PixelFormat::Rgb24, rgb.into_raw()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(w: u32, h: u32, f: FrameFormat, fps: u32) -> CameraFormat {
        CameraFormat::new_from(w, h, f, fps)
    }

    #[test]
    fn mode_choice() {
        let modes = [
            mode(1280, 720, FrameFormat::MJPEG, 30),
            mode(640, 480, FrameFormat::MJPEG, 30),
            mode(640, 480, FrameFormat::YUYV, 30),
            mode(640, 480, FrameFormat::YUYV, 15),
            mode(1280, 720, FrameFormat::YUYV, 10),
        ];
        let pick = |w, h, fps| choose_mode(&modes, w, h, fps).unwrap();
        assert_eq!(
            pick(640, 480, 24),
            modes[2],
            "YUYV at the size, fps >= asked"
        );
        assert_eq!(pick(640, 480, 15), modes[3]);
        assert_eq!(pick(1280, 720, 30), modes[0], "YUYV at 10 fps is too slow");
        assert_eq!(pick(1200, 700, 30), modes[0], "nearest size");
        assert!(choose_mode(&[], 640, 480, 24).is_none());
    }

    #[test]
    fn padded_rows_are_dropped() {
        // 2x2 YUYV, rows padded from 4 to 6 bytes.
        let data = [1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0];
        let (w, h, f, out) = convert_camera_frame(FrameFormat::YUYV, 2, 2, &data).unwrap();
        assert_eq!((w, h, f), (2, 2, PixelFormat::Yuyv));
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            convert_camera_frame(FrameFormat::YUYV, 2, 2, &[1, 2, 3, 4, 5, 6, 7, 8])
                .unwrap()
                .3,
            [1, 2, 3, 4, 5, 6, 7, 8],
            "tight"
        );
        // Too short, or not whole rows, is an error.
        assert!(convert_camera_frame(FrameFormat::YUYV, 2, 2, &data[..6]).is_err());
        assert!(convert_camera_frame(FrameFormat::YUYV, 2, 2, &data[..9]).is_err());
        assert!(convert_camera_frame(FrameFormat::NV12, 3, 2, &[0; 9]).is_err());
        assert!(convert_camera_frame(FrameFormat::RAWRGB, 0, 2, &[]).is_err());
    }

    #[test]
    fn bgr_grey_and_mjpeg_become_rgb() {
        let (.., f, out) = convert_camera_frame(FrameFormat::RAWBGR, 1, 1, &[1, 2, 3]).unwrap();
        assert_eq!((f, out), (PixelFormat::Rgb24, vec![3, 2, 1]));
        let (.., out) = convert_camera_frame(FrameFormat::GRAY, 2, 1, &[7, 9]).unwrap();
        assert_eq!(out, [7, 7, 7, 9, 9, 9]);

        let mut jpeg = Vec::new();
        image::RgbImage::from_pixel(16, 8, image::Rgb([200, 30, 30]))
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        // The JPEG's own size wins over what the driver reported.
        let (w, h, f, out) = convert_camera_frame(FrameFormat::MJPEG, 640, 480, &jpeg).unwrap();
        assert_eq!(
            (w, h, f, out.len()),
            (16, 8, PixelFormat::Rgb24, 16 * 8 * 3)
        );
        assert!(out[0] > 150 && out[1] < 80, "{:?}", &out[..3]);
        assert!(convert_camera_frame(FrameFormat::MJPEG, 16, 8, b"not a jpeg").is_err());
    }
}
