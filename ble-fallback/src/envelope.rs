//! What the mesh carries for the layer above: an opaque body (a gift wrap's JSON), the
//! recipient key the wrap already names in the clear (its `p` tag, which relays see too),
//! and when it stops being worth carrying.
//!
//! ```text
//! recipient [32] | expires_at u64 (unix seconds) | body
//! ```

/// The largest body the mesh carries (a gift-wrapped offer with a long SDP is a few KB).
pub const MAX_BODY_LEN: usize = 48 * 1024;
/// Bytes before the body.
pub const ENVELOPE_HEADER_LEN: usize = 40;
/// The largest envelope on the mesh.
pub const MAX_ENVELOPE_LEN: usize = ENVELOPE_HEADER_LEN + MAX_BODY_LEN;

/// A message on the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The x-only public key the wrap is addressed to.
    pub recipient: [u8; 32],
    /// Unix seconds after which no node carries or delivers it.
    pub expires_at: u64,
    /// The gift wrap, opaque.
    pub body: Vec<u8>,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Shorter than its header.
    #[error("envelope shorter than its header")]
    Truncated,
    /// Body over [`MAX_BODY_LEN`].
    #[error("envelope body over {MAX_BODY_LEN} bytes")]
    TooLong,
}

impl Envelope {
    /// The bytes the mesh moves.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + self.body.len());
        out.extend_from_slice(&self.recipient);
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses a reassembled message.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() < ENVELOPE_HEADER_LEN {
            return Err(EnvelopeError::Truncated);
        }
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::TooLong);
        }
        let mut recipient = [0u8; 32];
        recipient.copy_from_slice(&bytes[..32]);
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&bytes[32..40]);
        Ok(Self {
            recipient,
            expires_at: u64::from_be_bytes(expires),
            body: bytes[ENVELOPE_HEADER_LEN..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_and_short_or_long_ones_are_refused() {
        let envelope = Envelope {
            recipient: [9; 32],
            expires_at: 1_800_000_000,
            body: b"{\"kind\":1059}".to_vec(),
        };
        assert_eq!(Envelope::decode(&envelope.encode()), Ok(envelope));
        assert_eq!(Envelope::decode(&[0; 39]), Err(EnvelopeError::Truncated));
        assert_eq!(
            Envelope::decode(&vec![0; MAX_ENVELOPE_LEN + 1]),
            Err(EnvelopeError::TooLong)
        );
    }
}
