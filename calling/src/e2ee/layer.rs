//! [`CallKeyLayer`]: a 1:1 call's end-to-end media layer. SFrame under the key the
//! post-quantum agreement of the offer and answer produced, on top of whatever transform
//! the app supplies; or nothing more than DTLS-SRTP when the peer's app has no such layer.

use std::fmt;
use std::sync::{Arc, RwLock};

use super::pq::CallMediaKeys;
use super::sframe::SframeTransform;
use crate::pipeline::transform::{FrameKind, FrameTransform, TransformError};

/// How a call's media is protected end to end, for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MediaKeys {
    /// The offer and answer have not settled it yet (no media flows meanwhile).
    #[default]
    Pending,
    /// SFrame under a hybrid X25519 + ML-KEM-768 key, inside DTLS-SRTP. The fingerprint is
    /// the same on both ends; people may compare it.
    PostQuantum {
        /// A digest of the key (never the key).
        fingerprint: [u8; 8],
    },
    /// DTLS-SRTP only: the other app does not offer post-quantum keys (a NIP-AC client,
    /// an older PhantomCall).
    TransportOnly,
}

impl fmt::Display for MediaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaKeys::Pending => f.write_str("media keys: agreeing"),
            MediaKeys::PostQuantum { fingerprint } => {
                write!(f, "post-quantum media keys (")?;
                for (i, byte) in fingerprint.iter().enumerate() {
                    if i > 0 && i % 2 == 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{byte:02x}")?;
                }
                f.write_str(")")
            }
            MediaKeys::TransportOnly => {
                f.write_str("no post-quantum layer: the other app does not support it")
            }
        }
    }
}

enum State {
    Pending,
    Keyed(Box<SframeTransform>, [u8; 8]),
    TransportOnly,
}

/// The call's frame transform: the app's transform on the plain frame, SFrame outside it.
pub struct CallKeyLayer {
    app: Arc<dyn FrameTransform>,
    state: RwLock<State>,
}

impl fmt::Debug for CallKeyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallKeyLayer")
            .field("keys", &self.keys())
            .finish_non_exhaustive()
    }
}

impl CallKeyLayer {
    /// A layer that passes nothing until [`Self::key`] or [`Self::transport_only`].
    pub fn new(app: Arc<dyn FrameTransform>) -> Self {
        Self {
            app,
            state: RwLock::new(State::Pending),
        }
    }

    /// Frames go under the agreed keys from now on (`we_called`: which key id is ours).
    pub fn key(&self, keys: &CallMediaKeys, we_called: bool) -> Result<MediaKeys, TransformError> {
        let transform = keys.transform(we_called)?;
        let fingerprint = keys.fingerprint();
        *self.state.write().expect("key layer lock") =
            State::Keyed(Box::new(transform), fingerprint);
        Ok(MediaKeys::PostQuantum { fingerprint })
    }

    /// The peer has no post-quantum layer: frames pass with DTLS-SRTP alone.
    pub fn transport_only(&self) -> MediaKeys {
        *self.state.write().expect("key layer lock") = State::TransportOnly;
        MediaKeys::TransportOnly
    }

    /// What protects the media now.
    pub fn keys(&self) -> MediaKeys {
        match &*self.state.read().expect("key layer lock") {
            State::Pending => MediaKeys::Pending,
            State::Keyed(_, fingerprint) => MediaKeys::PostQuantum {
                fingerprint: *fingerprint,
            },
            State::TransportOnly => MediaKeys::TransportOnly,
        }
    }
}

impl FrameTransform for CallKeyLayer {
    fn outgoing(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        let frame = self.app.outgoing(kind, frame)?;
        match &*self.state.read().expect("key layer lock") {
            State::Pending => Err(TransformError::NoKey),
            State::Keyed(sframe, _) => sframe.outgoing(kind, frame),
            State::TransportOnly => Ok(frame),
        }
    }

    fn incoming(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        let frame = match &*self.state.read().expect("key layer lock") {
            State::Pending => return Err(TransformError::NoKey),
            State::Keyed(sframe, _) => sframe.incoming(kind, frame)?,
            State::TransportOnly => frame,
        };
        self.app.incoming(kind, frame)
    }
}
