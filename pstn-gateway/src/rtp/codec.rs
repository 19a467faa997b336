//! The SIP leg's audio codec state for one call. G.711 is stateless; Opus (RFC 7587, with
//! the `bridge` feature, which brings the workspace's libopus wrapper) keeps an encoder, a
//! decoder and the 8 <-> 48 kHz resamplers. Either way the phone leg's frames stay 20 ms
//! of 8 kHz PCM ([`PhoneFrame`]), so the bridge and its callers are the same for both
//! (docs/decisions.md: the narrowband frame contract is kept for Opus trunks).

use crate::g711::G711;
use crate::sdp::Codec;

use super::session::{PhoneFrame, FRAME_SAMPLES};

/// Encoder and decoder state of the codec a call negotiated.
pub(crate) enum LegCodec {
    G711(G711),
    #[cfg(feature = "bridge")]
    Opus(Box<OpusLeg>),
    /// Opus negotiated but no encoder to be had (a build without libopus, which the
    /// configuration never lets offer it, or libopus refusing to start): silence both
    /// ways, never another codec's bytes on the payload type the peer agreed to.
    Unsupported,
}

impl LegCodec {
    /// The state for `codec`.
    pub(crate) fn new(codec: Codec) -> Self {
        match codec {
            Codec::G711(law) => LegCodec::G711(law),
            #[cfg(feature = "bridge")]
            Codec::Opus => match OpusLeg::new() {
                Some(leg) => LegCodec::Opus(Box::new(leg)),
                None => {
                    tracing::warn!("pstn: libopus would not start; the call is silent");
                    LegCodec::Unsupported
                }
            },
            #[cfg(not(feature = "bridge"))]
            Codec::Opus => LegCodec::Unsupported,
        }
    }

    /// RTP timestamp units per 20 ms frame (the codec's clock rate / 50).
    pub(crate) fn frame_ticks(codec: Codec) -> u32 {
        codec.clock_rate() / 50
    }

    /// One 20 ms frame from a received payload, or concealment when `payload` is `None`
    /// (lost) or empty (a telephone-event stood in for audio).
    pub(crate) fn decode(&mut self, payload: Option<&[u8]>) -> PhoneFrame {
        match self {
            LegCodec::G711(law) => match payload {
                Some(bytes) if !bytes.is_empty() => {
                    // Other packet sizes (10 or 30 ms ptime) are fitted to 20 ms.
                    let mut pcm = law.decode(bytes);
                    pcm.resize(FRAME_SAMPLES, 0);
                    pcm
                }
                _ => vec![0; FRAME_SAMPLES],
            },
            #[cfg(feature = "bridge")]
            LegCodec::Opus(leg) => leg.decode(payload.filter(|p| !p.is_empty())),
            LegCodec::Unsupported => vec![0; FRAME_SAMPLES],
        }
    }

    /// The payload for one 20 ms frame (at most [`FRAME_SAMPLES`] samples are used).
    pub(crate) fn encode(&mut self, frame: &[i16]) -> Vec<u8> {
        let frame = &frame[..frame.len().min(FRAME_SAMPLES)];
        match self {
            LegCodec::G711(law) => law.encode(frame),
            #[cfg(feature = "bridge")]
            LegCodec::Opus(leg) => leg.encode(frame),
            LegCodec::Unsupported => Vec::new(),
        }
    }
}

/// Opus on the SIP leg: 48 kHz mono inside, 8 kHz frames outside.
#[cfg(feature = "bridge")]
pub(crate) struct OpusLeg {
    encoder: media::audio::OpusEncoder,
    decoder: media::audio::OpusDecoder,
    up: crate::bridge::resample::Upsampler,
    down: crate::bridge::resample::Downsampler,
}

#[cfg(feature = "bridge")]
impl OpusLeg {
    fn new() -> Option<Self> {
        // The phone side is narrowband speech: the wrapper's default bitrate is plenty.
        let encoder = media::audio::OpusEncoder::new(media::audio::DEFAULT_BITRATE).ok()?;
        Some(Self {
            encoder,
            decoder: media::audio::OpusDecoder::new().ok()?,
            up: Default::default(),
            down: Default::default(),
        })
    }

    fn decode(&mut self, packet: Option<&[u8]>) -> PhoneFrame {
        // A malformed packet (anyone may aim at the RTP port of a plain-RTP call) is
        // concealed like a lost one.
        let wide = match self.decoder.decode(packet) {
            Ok(pcm) => pcm,
            Err(_) => self.decoder.decode(None).unwrap_or_default(),
        };
        let mut pcm = self.down.process(&wide);
        // Peers may send 10-60 ms packets: fitted to 20 ms like G.711's other ptimes.
        pcm.resize(FRAME_SAMPLES, 0);
        pcm
    }

    fn encode(&mut self, frame: &[i16]) -> Vec<u8> {
        let mut narrow = frame.to_vec();
        narrow.resize(FRAME_SAMPLES, 0);
        let wide = self.up.process(&narrow);
        self.encoder.encode(&wide).unwrap_or_default()
    }
}

#[cfg(all(test, feature = "bridge"))]
mod tests {
    use super::*;

    fn tone(hz: f64, n: usize, from: usize) -> Vec<i16> {
        (from..from + n)
            .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn opus_carries_a_tone_through_encode_and_decode_at_8_khz() {
        let mut tx = LegCodec::new(Codec::Opus);
        let mut rx = LegCodec::new(Codec::Opus);
        assert_eq!(LegCodec::frame_ticks(Codec::Opus), 960);
        let mut heard = Vec::new();
        for f in 0..50 {
            let packet = tx.encode(&tone(700.0, FRAME_SAMPLES, f * FRAME_SAMPLES));
            assert!(!packet.is_empty() && packet.len() < 400);
            let pcm = rx.decode(Some(&packet));
            assert_eq!(pcm.len(), FRAME_SAMPLES);
            heard.extend(pcm);
        }
        let last = &heard[heard.len() - 4000..];
        let at = media::audio::goertzel_power(last, 700.0, 8000);
        let off = media::audio::goertzel_power(last, 1300.0, 8000);
        assert!(at > 100.0 * off, "700 Hz {at} vs 1300 Hz {off}");
        // Garbage and a loss are concealed, never a panic or a short frame.
        assert_eq!(rx.decode(Some(&[0xff; 3])).len(), FRAME_SAMPLES);
        assert_eq!(rx.decode(None).len(), FRAME_SAMPLES);
    }
}
