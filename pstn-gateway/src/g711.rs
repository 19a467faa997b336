//! G.711 μ-law (PCMU) and A-law (PCMA), ITU-T G.711 segment coding.
//!
//! Hand-written rather than taken from `ezk-g711`: that crate pulls in the ezk media
//! framework (`ezk`, `ezk-audio`, `ezk-rtp`) for what is two small pure functions each
//! way, and these are checked below against the standard's fixed points and bounds.

/// μ-law bias added before segment search (G.711: 33 in 14-bit units, 0x84 in 16-bit).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude μ-law represents before the bias is added.
const ULAW_CLIP: i32 = 32_635;

/// Encodes one 16-bit linear sample as μ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
    // pcm is in 132..=32767, so its highest set bit is bit 7..=14: the segment is 0..=7.
    let exponent = (31 - (pcm as u32).leading_zeros()) as i32 - 7;
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Decodes one μ-law byte to a 16-bit linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Upper bounds of A-law's eight segments, in 13-bit units.
const ALAW_SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Encodes one 16-bit linear sample as A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let Some(segment) = ALAW_SEGMENT_END.iter().position(|&end| pcm <= end) else {
        return 0x7F ^ mask;
    };
    let mantissa = if segment < 2 {
        (pcm >> 1) & 0x0F
    } else {
        (pcm >> segment) & 0x0F
    };
    (((segment as i32) << 4) | mantissa) as u8 ^ mask
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut magnitude = i32::from(a & 0x0F) << 4;
    let segment = i32::from((a & 0x70) >> 4);
    match segment {
        0 => magnitude += 8,
        1 => magnitude += 0x108,
        _ => magnitude = (magnitude + 0x108) << (segment - 1),
    }
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// The two G.711 laws a trunk may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// μ-law, static RTP payload type 0 (North America, Japan).
    Pcmu,
    /// A-law, static RTP payload type 8 (most of the rest of the world).
    Pcma,
}

impl G711 {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }

    /// The rtpmap encoding name.
    pub fn name(self) -> &'static str {
        match self {
            G711::Pcmu => "PCMU",
            G711::Pcma => "PCMA",
        }
    }

    /// The codec for an rtpmap encoding name (case-insensitive, as SDP says).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(G711::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(G711::Pcma)
        } else {
            None
        }
    }

    /// Encodes linear samples, one byte each.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        let f = match self {
            G711::Pcmu => linear_to_ulaw,
            G711::Pcma => linear_to_alaw,
        };
        samples.iter().map(|&s| f(s)).collect()
    }

    /// Decodes bytes to linear samples.
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        let f = match self {
            G711::Pcmu => ulaw_to_linear,
            G711::Pcma => alaw_to_linear,
        };
        bytes.iter().map(|&b| f(b)).collect()
    }

    /// The byte that decodes to silence (what a gap is filled with on the wire).
    pub fn silence(self) -> u8 {
        match self {
            G711::Pcmu => 0xFF,
            G711::Pcma => 0xD5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_points_of_the_standard() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x80), 32_124);
        assert_eq!(ulaw_to_linear(0x00), -32_124);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0xAA), 32_256);
        assert_eq!(alaw_to_linear(0x2A), -32_256);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_round_trips_through_its_decoded_value() {
        for byte in 0..=255u8 {
            let u = ulaw_to_linear(byte);
            // 0x7F and 0xFF are +0 and -0; both decode to 0, which encodes as 0xFF.
            if u != 0 {
                assert_eq!(linear_to_ulaw(u), byte, "μ-law {byte:#x}");
            }
            assert_eq!(
                linear_to_alaw(alaw_to_linear(byte)),
                byte,
                "A-law {byte:#x}"
            );
        }
    }

    #[test]
    fn quantisation_error_is_within_half_a_step() {
        for sample in (i16::MIN..=i16::MAX).step_by(7) {
            for law in [G711::Pcmu, G711::Pcma] {
                let back = law.decode(&law.encode(&[sample]))[0];
                let err = (i32::from(back) - i32::from(sample)).abs();
                // The largest step of either law is 1024 (μ) / 1024 (A) in 16-bit units.
                let bound = (i32::from(sample).abs() / 16).max(16) + 512;
                assert!(err <= bound, "{law:?} {sample} -> {back}");
            }
        }
    }

    #[test]
    fn silence_bytes_decode_near_zero() {
        for law in [G711::Pcmu, G711::Pcma] {
            assert!(law.decode(&[law.silence()])[0].abs() <= 8);
        }
    }
}
