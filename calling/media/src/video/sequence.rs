//! [`SequenceSource`]: a directory of numbered pictures played as a camera (a real clip
//! with people for the demo, whose camera must show what the blackout filter does).

use std::path::{Path, PathBuf};
use std::time::Instant;

use blackout::{PixelFormat, MAX_DIMENSION};

use super::file::load_still;
use super::source::Pacer;
use super::{CapturedFrame, VideoError, VideoSource};

/// Most pictures a sequence may hold: a directory of millions of files is a mistake, and
/// the list of names is kept in memory.
pub const MAX_SEQUENCE_FRAMES: usize = 100_000;

/// A camera stand-in that plays the PNG/JPEG pictures of a directory, in file-name order,
/// in a loop at the clip's own frame rate, yielding I420 frames.
///
/// Every picture's header is checked when the directory is opened (all the same size, at
/// most [`MAX_DIMENSION`] on a side); each picture is decoded when its turn comes, so a
/// long clip costs no memory. Pictures are cropped to even width and height, as 4:2:0
/// needs.
#[derive(Debug)]
pub struct SequenceSource {
    dir: PathBuf,
    frames: Vec<PathBuf>,
    width: u32,
    height: u32,
    pacer: Pacer,
}

impl SequenceSource {
    /// Opens `dir` and plays its `.png`/`.jpg`/`.jpeg` files (other files are ignored) at
    /// `fps` frames per second.
    pub fn open(dir: impl AsRef<Path>, fps: u32) -> Result<SequenceSource, VideoError> {
        let dir = dir.as_ref().to_path_buf();
        let io = |source| VideoError::Io {
            path: dir.clone(),
            source,
        };
        let mut frames = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if is_picture(&path) {
                frames.push(path);
                if frames.len() > MAX_SEQUENCE_FRAMES {
                    return Err(VideoError::InvalidConfig(format!(
                        "{} holds more than {MAX_SEQUENCE_FRAMES} pictures",
                        dir.display()
                    )));
                }
            }
        }
        frames.sort();
        let Some(first) = frames.first() else {
            return Err(VideoError::InvalidConfig(format!(
                "{} holds no PNG or JPEG picture",
                dir.display()
            )));
        };
        let (width, height) = dimensions(first)?;
        for path in &frames[1..] {
            let size = dimensions(path)?;
            if size != (width, height) {
                return Err(VideoError::InvalidConfig(format!(
                    "{} is {}x{}, the sequence's first picture {}x{}",
                    path.display(),
                    size.0,
                    size.1,
                    width,
                    height
                )));
            }
        }
        // The frames come out cropped to even size.
        let (width, height) = (width & !1, height & !1);
        if width == 0 || height == 0 {
            return Err(blackout::FrameError::ZeroSize { width, height }.into());
        }
        Ok(SequenceSource {
            dir,
            frames,
            width,
            height,
            pacer: Pacer::new(fps, 1),
        })
    }

    /// Turns real-time pacing on (the default) or off.
    pub fn paced(mut self, paced: bool) -> SequenceSource {
        self.pacer.set_paced(paced);
        self
    }

    /// Pictures in the sequence.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }
}

impl VideoSource for SequenceSource {
    fn read_frame(&mut self) -> Result<CapturedFrame, VideoError> {
        let slot = self.pacer.wait();
        // Slot modulo length: the clip loops, and stays in real time if slots were skipped.
        let path = &self.frames[(slot % self.frames.len() as u64) as usize];
        let (w, h, data) = load_still(path)?;
        if (w, h) != (self.width, self.height) {
            return Err(VideoError::InvalidConfig(format!(
                "{} changed size since the sequence was opened ({w}x{h})",
                path.display()
            )));
        }
        Ok(CapturedFrame {
            width: w,
            height: h,
            format: PixelFormat::I420,
            data,
            captured_at: Instant::now(),
        })
    }

    fn describe(&self) -> String {
        format!(
            "picture sequence {} ({} frames, {}x{} @ {} fps)",
            self.dir.display(),
            self.frames.len(),
            self.width,
            self.height,
            self.pacer.fps()
        )
    }

    fn resolution(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn fps(&self) -> u32 {
        self.pacer.fps()
    }
}

fn is_picture(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) && path.is_file()
}

/// A picture's size from its header, refusing sizes no frame may have.
fn dimensions(path: &Path) -> Result<(u32, u32), VideoError> {
    let (w, h) = image::image_dimensions(path).map_err(|source| VideoError::Image {
        path: path.to_path_buf(),
        source,
    })?;
    if w > MAX_DIMENSION || h > MAX_DIMENSION {
        return Err(VideoError::InvalidConfig(format!(
            "{} is {w}x{h}, more than {MAX_DIMENSION} on a side",
            path.display()
        )));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_picture(dir: &Path, name: &str, w: u32, h: u32, value: u8) {
        image::RgbImage::from_pixel(w, h, image::Rgb([value, value, value]))
            .save(dir.join(name))
            .unwrap();
    }

    #[test]
    fn plays_pictures_in_name_order_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        write_picture(dir.path(), "0002.png", 8, 6, 200);
        write_picture(dir.path(), "0001.png", 8, 6, 20);
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let mut source = SequenceSource::open(dir.path(), 10).unwrap().paced(false);
        assert_eq!(source.frame_count(), 2);
        let lumas: Vec<u8> = (0..3)
            .map(|_| source.read_frame().unwrap().data[0])
            .collect();
        assert!(lumas[0] < 60 && lumas[1] > 150, "name order: {lumas:?}");
        assert_eq!(lumas[2], lumas[0], "loops back to the first picture");
    }

    #[test]
    fn odd_sizes_are_cropped_to_even() {
        let dir = tempfile::tempdir().unwrap();
        write_picture(dir.path(), "a.png", 9, 7, 100);
        let mut source = SequenceSource::open(dir.path(), 10).unwrap().paced(false);
        assert_eq!(source.resolution(), (8, 6));
        let frame = source.read_frame().unwrap();
        assert_eq!((frame.width, frame.height), (8, 6));
        assert_eq!(frame.data.len(), 8 * 6 * 3 / 2);
    }

    #[test]
    fn refuses_an_empty_directory_and_mixed_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let empty = SequenceSource::open(dir.path(), 10).unwrap_err();
        assert!(empty.to_string().contains("no PNG or JPEG"), "{empty}");
        write_picture(dir.path(), "1.png", 8, 6, 0);
        write_picture(dir.path(), "2.png", 10, 6, 0);
        let mixed = SequenceSource::open(dir.path(), 10).unwrap_err();
        assert!(mixed.to_string().contains("10x6"), "{mixed}");
    }

    #[test]
    fn a_picture_that_is_not_one_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.jpg"), b"not a jpeg").unwrap();
        assert!(matches!(
            SequenceSource::open(dir.path(), 10),
            Err(VideoError::Image { .. })
        ));
    }
}
