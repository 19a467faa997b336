//! [`FileSource`]: a still image (PNG, JPEG) or a Y4M clip played as a camera.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use blackout::{FrameError, PixelFormat, MAX_DIMENSION};

use super::convert::{crop_even_rgb, i420_len};
use super::source::Pacer;
use super::{CapturedFrame, VideoError, VideoSource};

/// What every Y4M file starts with.
const Y4M_MAGIC: &[u8] = b"YUV4MPEG2 ";
/// Longest stream header accepted (real ones are well under 100 bytes); a file without a
/// newline near the start is not Y4M.
const MAX_HEADER: usize = 1024;
/// Longest frame header ("FRAME" and optional parameters).
const MAX_FRAME_HEADER: usize = 256;
/// Highest frame rate accepted from a header.
const MAX_Y4M_FPS: f64 = 240.0;

/// A camera stand-in backed by a file, yielding I420 frames:
///
/// - a PNG or JPEG, repeated as a still at the frame rate given to [`open`](Self::open)
///   (cropped to even width and height, as 4:2:0 needs);
/// - a Y4M clip (`C420`, `C420jpeg`, `C420paldv`, `C420mpeg2` or no `C`, 8 bits), looped at
///   the frame rate of its header (the one given to `open` if the header has none).
///
/// The whole file is checked when it is opened (header, every frame header, every frame's
/// length), so a broken file is refused up front with a clear error, never mid-call.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    width: u32,
    height: u32,
    pacer: Pacer,
    content: Content,
}

#[derive(Debug)]
enum Content {
    /// One I420 picture.
    Still(Vec<u8>),
    /// A checked Y4M file and where each frame's pixels start.
    Y4m {
        file: BufReader<File>,
        frames: Vec<u64>,
    },
}

impl FileSource {
    /// Opens a PNG/JPEG (repeated at `fps`) or a Y4M file (at its own rate, or `fps` if the
    /// header has none). The format is recognised by content, not by extension.
    pub fn open(path: impl AsRef<Path>, fps: u32) -> Result<FileSource, VideoError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| VideoError::Io {
            path: path.clone(),
            source,
        };
        let mut file = BufReader::new(File::open(&path).map_err(io)?);
        let is_y4m = file.fill_buf().map_err(io)?.starts_with(Y4M_MAGIC);
        let (width, height, pacer, content) = if is_y4m {
            let (header, frames) = scan_y4m(&mut file, &path)?;
            let (num, den) = header.rate.unwrap_or((fps, 1));
            let content = Content::Y4m { file, frames };
            (header.width, header.height, Pacer::new(num, den), content)
        } else {
            drop(file);
            let (w, h, still) = load_still(&path)?;
            (w, h, Pacer::new(fps, 1), Content::Still(still))
        };
        Ok(FileSource {
            path,
            width,
            height,
            pacer,
            content,
        })
    }

    /// Turns real-time pacing on (the default) or off.
    pub fn paced(mut self, paced: bool) -> FileSource {
        self.pacer.set_paced(paced);
        self
    }

    /// Frames in the file (1 for a still image).
    pub fn frame_count(&self) -> usize {
        match &self.content {
            Content::Still(_) => 1,
            Content::Y4m { frames, .. } => frames.len(),
        }
    }

    fn y4m_error(&self, reason: String) -> VideoError {
        VideoError::Y4m {
            path: self.path.clone(),
            reason,
        }
    }
}

impl VideoSource for FileSource {
    fn read_frame(&mut self) -> Result<CapturedFrame, VideoError> {
        let slot = self.pacer.wait();
        let len = i420_len(self.width, self.height);
        let data = match &mut self.content {
            Content::Still(picture) => picture.clone(),
            Content::Y4m { file, frames } => {
                // Slot modulo length: the clip loops, and stays in real time if slots were
                // skipped.
                let index = (slot % frames.len() as u64) as usize;
                let mut data = vec![0u8; len];
                let read = file
                    .seek(SeekFrom::Start(frames[index]))
                    .and_then(|_| file.read_exact(&mut data));
                if let Err(e) = read {
                    return Err(self.y4m_error(format!(
                        "frame {index} can no longer be read (file changed?): {e}"
                    )));
                }
                data
            }
        };
        Ok(CapturedFrame {
            width: self.width,
            height: self.height,
            format: PixelFormat::I420,
            data,
            captured_at: Instant::now(),
        })
    }

    fn describe(&self) -> String {
        let kind = match self.content {
            Content::Still(_) => "still image".to_string(),
            Content::Y4m { ref frames, .. } => format!("Y4M, {} frames", frames.len()),
        };
        format!(
            "file {} ({kind}, {}x{} @ {} fps)",
            self.path.display(),
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

/// Decodes a PNG/JPEG into I420, cropped to even size.
pub(crate) fn load_still(path: &Path) -> Result<(u32, u32, Vec<u8>), VideoError> {
    let image_error = |source| VideoError::Image {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = image::ImageReader::open(path)
        .map_err(|source| VideoError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| VideoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    // Refuse huge pictures before decoding them, not after allocating them.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    reader.limits(limits);
    let rgb = reader.decode().map_err(image_error)?.to_rgb8();
    let (w, h) = rgb.dimensions();
    let (w, h, rgb) = crop_even_rgb(rgb.into_raw(), w, h);
    if w == 0 || h == 0 {
        return Err(FrameError::ZeroSize {
            width: w,
            height: h,
        }
        .into());
    }
    Ok((w, h, blackout::pack_rgb(&rgb, w, h, PixelFormat::I420)))
}

/// What a Y4M stream header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Y4mHeader {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Frame rate as numerator and denominator, if given.
    pub(crate) rate: Option<(u32, u32)>,
}

/// Parses the stream header line (without its newline).
pub(crate) fn parse_y4m_header(line: &[u8]) -> Result<Y4mHeader, String> {
    let rest = line
        .strip_prefix(Y4M_MAGIC)
        .ok_or("does not start with \"YUV4MPEG2 \"")?;
    let text = std::str::from_utf8(rest).map_err(|_| "header is not ASCII".to_string())?;
    let (mut width, mut height, mut rate) = (None, None, None);
    let mut seen = Vec::new();
    for token in text.split(' ') {
        let mut chars = token.chars();
        let tag = chars.next().ok_or("empty header field (double space?)")?;
        let value = chars.as_str();
        if tag != 'X' {
            if seen.contains(&tag) {
                return Err(format!("header field {tag} given twice"));
            }
            seen.push(tag);
        }
        match tag {
            'W' => width = Some(parse_dimension("width", value)?),
            'H' => height = Some(parse_dimension("height", value)?),
            'F' => {
                let (num, den) = parse_ratio(value).ok_or(format!("bad frame rate F{value}"))?;
                let fps = f64::from(num) / f64::from(den);
                if num == 0 || den == 0 || fps > MAX_Y4M_FPS {
                    return Err(format!("unusable frame rate F{value}"));
                }
                rate = Some((num, den));
            }
            'I' if matches!(value, "p" | "t" | "b" | "m" | "?") => {}
            'I' => return Err(format!("bad interlacing I{value}")),
            'A' => {
                parse_ratio(value).ok_or(format!("bad pixel aspect A{value}"))?;
            }
            'C' if matches!(value, "420" | "420jpeg" | "420paldv" | "420mpeg2") => {}
            'C' => {
                return Err(format!(
                    "unsupported colour space C{value} (only 8-bit 4:2:0: C420, C420jpeg, \
                     C420paldv, C420mpeg2)"
                ))
            }
            'X' => {} // extensions: free-form, ignored
            other => return Err(format!("unknown header field {other:?}")),
        }
    }
    Ok(Y4mHeader {
        width: width.ok_or("no width (W)")?,
        height: height.ok_or("no height (H)")?,
        rate,
    })
}

fn parse_dimension(name: &str, value: &str) -> Result<u32, String> {
    let v: u32 = value.parse().map_err(|_| format!("bad {name} {value:?}"))?;
    if v == 0 || v > MAX_DIMENSION {
        return Err(format!("{name} {v} out of range 1..={MAX_DIMENSION}"));
    }
    if v % 2 == 1 {
        return Err(format!("odd {name} {v} (4:2:0 frames need even sizes)"));
    }
    Ok(v)
}

fn parse_ratio(value: &str) -> Option<(u32, u32)> {
    let (n, d) = value.split_once(':')?;
    Some((n.parse().ok()?, d.parse().ok()?))
}

/// Reads one line of at most `max` bytes (newline excluded). `Ok(None)` at a clean end of
/// file.
fn read_line(file: &mut impl BufRead, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    file.take(max as u64 + 1).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > max {
            std::io::Error::new(
                ErrorKind::InvalidData,
                format!("no newline within {max} bytes"),
            )
        } else {
            std::io::Error::new(ErrorKind::UnexpectedEof, "file ends inside a header line")
        });
    }
    line.pop();
    Ok(Some(line))
}

/// Checks the whole file: the stream header, then every frame header and length. Returns the
/// header and the offset of each frame's pixels.
fn scan_y4m(file: &mut BufReader<File>, path: &Path) -> Result<(Y4mHeader, Vec<u64>), VideoError> {
    let err = |reason: String| VideoError::Y4m {
        path: path.to_path_buf(),
        reason,
    };
    let header = match read_line(file, MAX_HEADER) {
        Ok(Some(line)) => parse_y4m_header(&line).map_err(err)?,
        Ok(None) => return Err(err("empty file".into())),
        Err(e) => return Err(err(format!("stream header: {e}"))),
    };
    let file_len = file
        .get_ref()
        .metadata()
        .map_err(|source| VideoError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let frame_len = i420_len(header.width, header.height) as u64;
    let mut frames = Vec::new();
    loop {
        let index = frames.len();
        let line = match read_line(file, MAX_FRAME_HEADER) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => return Err(err(format!("frame {index}: header: {e}"))),
        };
        if line != b"FRAME" && !line.starts_with(b"FRAME ") {
            return Err(err(format!("frame {index}: expected a FRAME header")));
        }
        let start = file
            .stream_position()
            .map_err(|e| err(format!("frame {index}: {e}")))?;
        let left = file_len.saturating_sub(start);
        if left < frame_len {
            return Err(err(format!(
                "frame {index} is truncated: {left} of {frame_len} bytes"
            )));
        }
        frames.push(start);
        file.seek_relative(frame_len as i64)
            .map_err(|e| err(format!("frame {index}: {e}")))?;
    }
    if frames.is_empty() {
        return Err(err("no frames".into()));
    }
    Ok((header, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let h =
            parse_y4m_header(b"YUV4MPEG2 W640 H480 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG")
                .unwrap();
        assert_eq!(
            h,
            Y4mHeader {
                width: 640,
                height: 480,
                rate: Some((30000, 1001))
            }
        );
        assert_eq!(parse_y4m_header(b"YUV4MPEG2 W2 H2").unwrap().rate, None);
    }

    #[test]
    fn bad_headers() {
        for (line, why) in [
            (&b"YUV4MPEG W2 H2"[..], "start"),
            (b"YUV4MPEG2 H2", "width"),
            (b"YUV4MPEG2 W2", "height"),
            (b"YUV4MPEG2 W0 H2", "range"),
            (b"YUV4MPEG2 W3 H2", "odd"),
            (b"YUV4MPEG2 W2 H99999", "range"),
            (b"YUV4MPEG2 W2 H2 W4", "twice"),
            (b"YUV4MPEG2 W2 H2 F0:1", "frame rate"),
            (b"YUV4MPEG2 W2 H2 F30", "frame rate"),
            (b"YUV4MPEG2 W2 H2 F1000:1", "frame rate"),
            (b"YUV4MPEG2 W2 H2 C444", "colour space"),
            (b"YUV4MPEG2 W2 H2 C420p10", "colour space"),
            (b"YUV4MPEG2 W2 H2 Ix", "interlacing"),
            (b"YUV4MPEG2 W2 H2 Q1", "unknown"),
            (b"YUV4MPEG2 W2  H2", "empty"),
            (b"YUV4MPEG2 W-2 H2", "width"),
            (b"YUV4MPEG2 W2 H2 \xff", "ASCII"),
        ] {
            let e = parse_y4m_header(line).unwrap_err();
            assert!(e.contains(why), "{line:?}: {e}");
        }
    }
}
