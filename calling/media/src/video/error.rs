//! [`VideoError`]: everything that can go wrong in a source or the codec.

use std::path::PathBuf;

/// Why a video source, the encoder or the decoder failed. Messages are meant for the user
/// or the log; none quotes pixel data.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// No video capture device at all.
    #[error("no camera found (no Video4Linux capture device under /dev)")]
    NoCamera,
    /// Cameras exist, but not the one asked for.
    #[error("camera {index} not found (available: {available:?})")]
    CameraNotFound {
        /// The index asked for (the N of /dev/videoN).
        index: u32,
        /// The indices that exist.
        available: Vec<u32>,
    },
    /// The camera driver (nokhwa / V4L2) failed.
    #[error("camera error: {0}")]
    Camera(String),
    /// The camera delivers no pixel format this crate can convert.
    #[error("camera {index} offers no usable pixel format (has: {offered})")]
    UnsupportedCameraFormat {
        /// The camera's index.
        index: u32,
        /// What it offers.
        offered: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PNG/JPEG could not be decoded or written.
    #[error("image {path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What the image library said.
        source: image::ImageError,
    },
    /// A Y4M file is malformed or uses a layout this crate does not read.
    #[error("invalid Y4M file {path}: {reason}")]
    Y4m {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the byte offset where it helps.
        reason: String,
    },
    /// A frame with an impossible layout (size, buffer length).
    #[error("invalid frame: {0}")]
    Frame(#[from] blackout::FrameError),
    /// A frame whose size differs from the encoder's configuration.
    #[error("frame is {got_width}x{got_height}, the encoder is set up for {width}x{height}")]
    FrameSize {
        /// Configured width.
        width: u32,
        /// Configured height.
        height: u32,
        /// Width of the frame given.
        got_width: u32,
        /// Height of the frame given.
        got_height: u32,
    },
    /// An encoder or decoder setting that cannot work.
    #[error("invalid video codec configuration: {0}")]
    InvalidConfig(String),
    /// libvpx refused an operation (init, encode, configuration).
    #[error("VP8 {operation} failed: {message}")]
    Codec {
        /// What was being done.
        operation: &'static str,
        /// libvpx's message.
        message: String,
    },
    /// Screen or window capture failed (listing, opening, grabbing, a closed window).
    #[error("screen share: {0}")]
    Screen(String),
    /// The decoder was given data that is not a decodable VP8 frame.
    #[error("undecodable VP8 data: {0}")]
    Decode(String),
}
