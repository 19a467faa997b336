//! The frame transform seam: whole encoded frames pass through it between the encoder and
//! the packetizer on the way out, and between the depacketizer and the decoder on the way
//! in. The identity by default; end-to-end frame encryption (SFrame, for group calls and
//! conferences) plugs in here, so a media server forwards only what it cannot read.

use std::fmt;

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// An Opus packet (one 20 ms frame).
    Audio,
    /// A VP8 frame of the camera (after the privacy filter).
    Camera,
    /// A VP8 frame of the screen share.
    Screen,
}

/// Why a frame did not pass the transform (it is dropped; the stream goes on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// An incoming frame failed authentication or could not be decrypted.
    #[error("the frame could not be authenticated")]
    Unauthenticated,
    /// No key is available for this frame (yet).
    #[error("no key for the frame")]
    NoKey,
    /// An incoming frame was taken before (a replay), or is too old to tell.
    #[error("the frame was seen before")]
    Replayed,
}

/// A transform on whole encoded frames, both ways. Called on the media threads: it must
/// be cheap and never block.
pub trait FrameTransform: fmt::Debug + Send + Sync {
    /// A frame we encoded, before it is packetized and sent.
    fn outgoing(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError>;
    /// A frame the peer sent, reassembled, before it is decoded.
    fn incoming(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError>;
}

/// Frames pass unchanged (1:1 calls: DTLS-SRTP protects them hop by hop, and the hop is
/// the peer or a TURN relay that cannot read SRTP).
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityTransform;

impl FrameTransform for IdentityTransform {
    fn outgoing(&self, _kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        Ok(frame)
    }

    fn incoming(&self, _kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        Ok(frame)
    }
}
