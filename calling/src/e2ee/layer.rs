//! [`CallKeyLayer`]: a 1:1 call's end-to-end media layer. SFrame under the key the
//! post-quantum agreement of the offer and answer produced, on top of whatever transform
//! the app supplies; or nothing more than DTLS-SRTP when the peer's app has no such layer.

use std::fmt;
use std::sync::{Arc, RwLock};

use super::group_sframe::GroupSframe;
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
    /// A group call's SFrame under its MLS epoch keys, inside DTLS-SRTP.
    Group {
        /// The MLS epoch the keys are of.
        epoch: u64,
    },
}

impl MediaKeys {
    /// The safety code people may compare ("7c86 80cd 8320 4291"), when there is one.
    pub fn code(&self) -> Option<String> {
        let MediaKeys::PostQuantum { fingerprint } = self else {
            return None;
        };
        let groups: Vec<String> = fingerprint
            .chunks(2)
            .map(|pair| pair.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        Some(groups.join(" "))
    }
}

impl fmt::Display for MediaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaKeys::Pending => f.write_str("media keys: agreeing"),
            MediaKeys::PostQuantum { .. } => write!(
                f,
                "post-quantum media keys, safety code {}",
                self.code().unwrap_or_default()
            ),
            MediaKeys::TransportOnly => {
                f.write_str("no post-quantum layer: the other app does not support it")
            }
            MediaKeys::Group { epoch } => write!(f, "group keys: MLS epoch {epoch}"),
        }
    }
}

enum State {
    Pending,
    Keyed(Box<SframeTransform>, [u8; 8]),
    TransportOnly,
    /// Under the group call's keys, shared with its other connections.
    Group(Arc<GroupSframe>),
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

    /// From now on under the group call's MLS keys (media waits for its first epoch).
    pub fn key_group(&self, group: Arc<GroupSframe>) -> MediaKeys {
        *self.state.write().expect("key layer lock") = State::Group(group);
        self.keys()
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
            State::Group(group) => match group.epoch() {
                Some(epoch) => MediaKeys::Group { epoch },
                None => MediaKeys::Pending,
            },
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
            State::Group(group) => group.outgoing(kind, frame),
        }
    }

    fn incoming(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        let frame = match &*self.state.read().expect("key layer lock") {
            State::Pending => return Err(TransformError::NoKey),
            State::Keyed(sframe, _) => sframe.incoming(kind, frame)?,
            State::TransportOnly => frame,
            State::Group(group) => group.incoming(kind, frame)?,
        };
        self.app.incoming(kind, frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2ee::pq::{respond, CallBinding, PqOffer};
    use crate::pipeline::transform::IdentityTransform;

    fn layer() -> CallKeyLayer {
        CallKeyLayer::new(Arc::new(IdentityTransform))
    }

    #[test]
    fn nothing_passes_until_the_keys_are_settled() {
        let pending = layer();
        assert_eq!(pending.keys(), MediaKeys::Pending);
        assert_eq!(
            pending.outgoing(FrameKind::Audio, vec![1, 2, 3]),
            Err(TransformError::NoKey)
        );
        assert_eq!(
            pending.incoming(FrameKind::Audio, vec![1, 2, 3]),
            Err(TransformError::NoKey)
        );
        assert_eq!(pending.transport_only(), MediaKeys::TransportOnly);
        assert_eq!(
            pending.outgoing(FrameKind::Audio, vec![1, 2, 3]),
            Ok(vec![1, 2, 3])
        );
    }

    #[test]
    fn keyed_layers_encrypt_and_show_the_same_code() {
        let binding = CallBinding {
            call_id: "call",
            caller: [1; 32],
            callee: [2; 32],
        };
        let offer = PqOffer::generate().unwrap();
        let (answer, callee_keys) = respond(offer.share(), &binding).unwrap();
        let caller_keys = offer.finish(&answer, &binding).unwrap();
        let (caller, callee) = (layer(), layer());
        let shown = caller.key(&caller_keys, true).unwrap();
        assert_eq!(callee.key(&callee_keys, false).unwrap(), shown);
        assert_eq!(caller.keys(), shown);
        let code = shown.code().unwrap();
        assert_eq!(code.len(), 19, "four groups of four hex digits: {code}");
        assert!(shown.to_string().ends_with(&code));

        let wire = caller
            .outgoing(FrameKind::Audio, b"hello".to_vec())
            .unwrap();
        assert_ne!(wire, b"hello");
        assert_eq!(callee.incoming(FrameKind::Audio, wire).unwrap(), b"hello");
        assert_eq!(MediaKeys::TransportOnly.code(), None);
    }
}
