//! What the mesh counts: frames in and out, and every drop by its reason.

use std::collections::BTreeMap;
use std::fmt;

use crate::envelope::EnvelopeError;
use crate::frag::FragmentError;
use crate::frame::FrameError;

/// Why something from the air was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The frame did not parse.
    Frame(FrameErrorKind),
    /// A fragment was refused.
    Fragment(FragmentErrorKind),
    /// A rebuilt message was not an envelope.
    Envelope,
    /// A message past its expiry.
    Expired,
    /// An acknowledgement, Nack or voice packet that made no sense.
    BadControl,
    /// A frame from a connection the mesh does not know.
    UnknownNeighbor,
    /// A message that could not be rebuilt in time.
    ReassemblyTimeout,
}

/// [`FrameError`] as an ordered key.
pub type FrameErrorKind = u8;
/// [`FragmentError`] as an ordered key.
pub type FragmentErrorKind = u8;

impl From<FrameError> for DropReason {
    fn from(error: FrameError) -> Self {
        DropReason::Frame(error as u8)
    }
}

impl From<FragmentError> for DropReason {
    fn from(error: FragmentError) -> Self {
        DropReason::Fragment(error as u8)
    }
}

impl From<EnvelopeError> for DropReason {
    fn from(_: EnvelopeError) -> Self {
        DropReason::Envelope
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Frame(kind) => write!(f, "malformed frame ({})", frame_error_name(*kind)),
            DropReason::Fragment(kind) => {
                write!(f, "bad fragment ({})", fragment_error_name(*kind))
            }
            DropReason::Envelope => f.write_str("malformed message"),
            DropReason::Expired => f.write_str("expired message"),
            DropReason::BadControl => f.write_str("bad control frame"),
            DropReason::UnknownNeighbor => f.write_str("frame from an unknown connection"),
            DropReason::ReassemblyTimeout => f.write_str("message incomplete in time"),
        }
    }
}

fn frame_error_name(kind: u8) -> &'static str {
    match kind {
        k if k == FrameError::Truncated as u8 => "truncated",
        k if k == FrameError::TooLong as u8 => "too long",
        k if k == FrameError::UnknownVersion as u8 => "unknown version",
        k if k == FrameError::UnknownType as u8 => "unknown type",
        k if k == FrameError::LengthMismatch as u8 => "length mismatch",
        _ => "bad TTL",
    }
}

fn fragment_error_name(kind: u8) -> &'static str {
    match kind {
        k if k == FragmentError::Malformed as u8 => "malformed",
        k if k == FragmentError::OutOfRange as u8 => "out of range",
        k if k == FragmentError::Inconsistent as u8 => "inconsistent",
        k if k == FragmentError::MessageTooLong as u8 => "too long",
        _ => "reassembly full",
    }
}

/// Counters of one mesh node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshStats {
    /// Frames received.
    pub frames_in: u64,
    /// Frames transmitted.
    pub frames_out: u64,
    /// Messages delivered to the layer above.
    pub delivered: u64,
    /// Messages relayed on.
    pub relayed: u64,
    /// Messages that arrived again (over another path, or resent).
    pub duplicates: u64,
    /// Whole messages sent again after no acknowledgement.
    pub resends: u64,
    /// Fragments sent again after a Nack.
    pub fragments_resent: u64,
    /// Neighbours given up on for one message after every resend.
    pub gave_up: u64,
    /// Drops by reason.
    pub dropped: BTreeMap<DropReason, u64>,
}

impl MeshStats {
    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    pub(crate) fn drop(&mut self, reason: impl Into<DropReason>) {
        *self.dropped.entry(reason.into()).or_default() += 1;
    }
}
