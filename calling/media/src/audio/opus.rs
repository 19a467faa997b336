//! Opus at 48 kHz mono with 20 ms frames, over the system libopus (crate `opus` 0.3).

use super::frame::{AudioError, FRAME_SAMPLES, SAMPLE_RATE};

/// Lowest bitrate accepted by [`OpusEncoder`] (libopus's own floor).
pub const MIN_BITRATE: i32 = 6_000;
/// Highest bitrate accepted by [`OpusEncoder`] (libopus's own ceiling).
pub const MAX_BITRATE: i32 = 510_000;
/// A bitrate that gives clear wideband voice.
pub const DEFAULT_BITRATE: i32 = 32_000;
/// Loss the encoder prepares for until told otherwise, percent: enough for its in-band FEC
/// to carry a usable copy of each frame on an ordinary network.
pub const DEFAULT_EXPECTED_LOSS: i32 = 10;

/// Largest packet [`OpusDecoder::decode`] accepts: what one RTP payload can carry over an
/// Ethernet MTU. A legitimate 20 ms voice packet is far below it.
pub const MAX_PACKET_BYTES: usize = 1500;

/// Encoder output buffer: libopus recommends 4000 bytes as always enough for one packet.
const ENCODE_BUFFER: usize = 4000;

/// Longest frame a packet can hold: 120 ms at 48 kHz.
const MAX_DECODED_SAMPLES: usize = 5760;

/// Maps a libopus error of `operation` ("encode", "set bitrate", ...) to an [`AudioError`].
pub fn codec_error(operation: &'static str) -> impl FnOnce(::opus::Error) -> AudioError {
    move |e| AudioError::Codec {
        operation,
        message: e.description().to_string(),
    }
}

/// Opus encoder for 20 ms mono frames at 48 kHz, tuned for voice (`OPUS_APPLICATION_VOIP`).
#[derive(Debug)]
pub struct OpusEncoder {
    inner: ::opus::Encoder,
    bitrate: i32,
}

impl OpusEncoder {
    /// An encoder at `bitrate_bps` ([`MIN_BITRATE`]..=[`MAX_BITRATE`]).
    pub fn new(bitrate_bps: i32) -> Result<Self, AudioError> {
        let inner = ::opus::Encoder::new(
            SAMPLE_RATE,
            ::opus::Channels::Mono,
            ::opus::Application::Voip,
        )
        .map_err(codec_error("encoder setup"))?;
        let mut encoder = OpusEncoder { inner, bitrate: 0 };
        encoder.set_bitrate(bitrate_bps)?;
        // In-band FEC: each packet also carries a coarse copy of the previous frame, so
        // a lost packet is rebuilt from the next one (`OpusDecoder::recover`). A call
        // turns it off toward a peer whose description does not ask for it
        // (`useinbandfec`, RFC 7587 section 6.1).
        encoder.set_inband_fec(true)?;
        encoder.set_expected_loss(DEFAULT_EXPECTED_LOSS)?;
        Ok(encoder)
    }

    /// Turns in-band FEC on (the default) or off.
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), AudioError> {
        self.inner
            .set_inband_fec(on)
            .map_err(codec_error("in-band FEC"))
    }

    /// Turns discontinuous transmission on or off (off by default): with it on, silence
    /// is coded as DTX frames ([`crate::audio::is_dtx_frame`]) after about 200 ms, with a
    /// comfort noise update every 400 ms, and the sender need not send them.
    pub fn set_dtx(&mut self, on: bool) -> Result<(), AudioError> {
        self.inner.set_dtx(on).map_err(codec_error("DTX"))
    }

    /// Tells the encoder how much loss to prepare for, percent (0..=100): the share of the
    /// bitrate its in-band FEC gets. From the peer's reports of what it lost.
    pub fn set_expected_loss(&mut self, percent: i32) -> Result<(), AudioError> {
        self.inner
            .set_packet_loss_perc(percent.clamp(0, 100))
            .map_err(codec_error("expected loss"))
    }

    /// Encodes one frame of exactly [`FRAME_SAMPLES`] samples into one packet.
    pub fn encode(&mut self, samples: &[i16]) -> Result<Vec<u8>, AudioError> {
        if samples.len() != FRAME_SAMPLES {
            return Err(AudioError::FrameLength {
                expected: FRAME_SAMPLES,
                got: samples.len(),
            });
        }
        self.inner
            .encode_vec(samples, ENCODE_BUFFER)
            .map_err(codec_error("encode"))
    }

    /// Changes the target bitrate (for congestion control); out of range is an error and
    /// leaves the bitrate unchanged.
    pub fn set_bitrate(&mut self, bps: i32) -> Result<(), AudioError> {
        if !(MIN_BITRATE..=MAX_BITRATE).contains(&bps) {
            return Err(AudioError::InvalidArgument(format!(
                "opus bitrate {bps} b/s outside {MIN_BITRATE}..={MAX_BITRATE}"
            )));
        }
        self.inner
            .set_bitrate(::opus::Bitrate::Bits(bps))
            .map_err(codec_error("set bitrate"))?;
        self.bitrate = bps;
        Ok(())
    }

    /// The current target bitrate in bits per second.
    pub fn bitrate(&self) -> i32 {
        self.bitrate
    }
}

/// Opus decoder to 48 kHz mono, with packet loss concealment.
#[derive(Debug)]
pub struct OpusDecoder {
    inner: ::opus::Decoder,
}

impl OpusDecoder {
    /// A decoder to 48 kHz mono (stereo packets are downmixed by libopus).
    pub fn new() -> Result<Self, AudioError> {
        let inner = ::opus::Decoder::new(SAMPLE_RATE, ::opus::Channels::Mono)
            .map_err(codec_error("decoder setup"))?;
        Ok(OpusDecoder { inner })
    }

    /// Decodes one packet, or conceals a lost one when `packet` is `None`.
    ///
    /// Concealment returns [`FRAME_SAMPLES`] samples. A packet returns the samples it
    /// holds: [`FRAME_SAMPLES`] for our 20 ms packets, more or fewer if the peer chose
    /// another frame size. An empty, oversized ([`MAX_PACKET_BYTES`]) or malformed packet
    /// is an error and leaves the decoder usable.
    pub fn decode(&mut self, packet: Option<&[u8]>) -> Result<Vec<i16>, AudioError> {
        let (input, mut output) = match packet {
            None => (&[][..], vec![0i16; FRAME_SAMPLES]),
            Some([]) => {
                return Err(AudioError::Codec {
                    operation: "decode",
                    message: "empty packet (use None for a lost packet)".to_string(),
                })
            }
            Some(p) if p.len() > MAX_PACKET_BYTES => {
                return Err(AudioError::Codec {
                    operation: "decode",
                    message: format!("packet of {} bytes exceeds {MAX_PACKET_BYTES}", p.len()),
                })
            }
            Some(p) => (p, vec![0i16; MAX_DECODED_SAMPLES]),
        };
        let n = self
            .inner
            .decode(input, &mut output, false)
            .map_err(codec_error("decode"))?;
        output.truncate(n);
        Ok(output)
    }

    /// Rebuilds the frame lost just before `next` from `next`'s in-band FEC (a coarse
    /// copy); from a packet without FEC data libopus conceals instead. Returns
    /// [`FRAME_SAMPLES`] samples; `next` itself is decoded on its own turn.
    pub fn recover(&mut self, next: &[u8]) -> Result<Vec<i16>, AudioError> {
        if next.is_empty() || next.len() > MAX_PACKET_BYTES {
            return Err(AudioError::Codec {
                operation: "recover",
                message: format!("packet of {} bytes", next.len()),
            });
        }
        let mut output = vec![0i16; FRAME_SAMPLES];
        let n = self
            .inner
            .decode(next, &mut output, true)
            .map_err(codec_error("recover"))?;
        output.truncate(n);
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::goertzel::ToneCheck;
    use crate::audio::source::AudioSource;
    use crate::audio::tone::ToneSource;

    #[test]
    fn opus_round_trip_keeps_a_440_hz_tone() {
        let mut tone = ToneSource::new(440.0, 0.5).paced(false);
        let mut enc = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut last = Vec::new();
        for _ in 0..25 {
            let packet = enc.encode(&tone.read_frame().unwrap().samples).unwrap();
            assert!(
                !packet.is_empty() && packet.len() < 400,
                "packet {} bytes",
                packet.len()
            );
            last = dec.decode(Some(&packet)).unwrap();
            assert_eq!(last.len(), FRAME_SAMPLES);
        }
        let report = ToneCheck::detect(&last, 440.0);
        assert!(report.dominant, "440 Hz lost in Opus: {report:?}");
        assert!(!ToneCheck::detect(&last, 660.0).dominant);
        // Level kept within a few dB (power ratio 0.5..2).
        let original = ToneCheck::detect(&tone.read_frame().unwrap().samples, 440.0);
        let ratio = report.expected_power / original.expected_power;
        assert!((0.5..2.0).contains(&ratio), "level changed by {ratio}");
    }

    #[test]
    fn concealment_returns_a_frame_that_continues_the_tone() {
        let mut tone = ToneSource::new(440.0, 0.5).paced(false);
        let mut enc = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        // Before any packet, concealment is silence of the right length.
        assert_eq!(dec.decode(None).unwrap(), vec![0; FRAME_SAMPLES]);
        for _ in 0..10 {
            let p = enc.encode(&tone.read_frame().unwrap().samples).unwrap();
            dec.decode(Some(&p)).unwrap();
        }
        let concealed = dec.decode(None).unwrap();
        assert_eq!(concealed.len(), FRAME_SAMPLES);
        assert!(
            concealed.iter().any(|&s| s != 0),
            "PLC after a tone is not silence"
        );
    }

    #[test]
    fn a_lost_frame_rebuilt_from_the_next_packets_fec_is_closer_to_it_than_concealment() {
        // Voiced syllables: 160 ms of a harmonic voice whose pitch moves, 80 ms of near
        // silence. (Opus's voice detector stops coding FEC for a steady tone, which it
        // takes for background noise; speech is never steady.)
        let speech: Vec<i16> = (0..100 * FRAME_SAMPLES)
            .map(|i| {
                let frame = i / FRAME_SAMPLES;
                let t = i as f32 / SAMPLE_RATE as f32;
                if frame % 12 >= 8 {
                    return ((i * 7919 % 61) as i16) - 30;
                }
                let f0 = 140.0 + 15.0 * (frame % 5) as f32;
                let voice: f32 = (1..=4)
                    .map(|h| (std::f32::consts::TAU * f0 * h as f32 * t).sin() / h as f32)
                    .sum();
                (voice * 6000.0) as i16
            })
            .collect();
        let frames: Vec<&[i16]> = speech.chunks_exact(FRAME_SAMPLES).collect();
        let mut encoder = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
        encoder.set_expected_loss(20).unwrap();
        let packets: Vec<Vec<u8>> = frames.iter().map(|f| encoder.encode(f).unwrap()).collect();
        // Packet 50 is lost; two decoders take the same stream, one conceals, one recovers.
        let (mut concealing, mut recovering) =
            (OpusDecoder::new().unwrap(), OpusDecoder::new().unwrap());
        for p in &packets[..50] {
            concealing.decode(Some(p)).unwrap();
            recovering.decode(Some(p)).unwrap();
        }
        let concealed = concealing.decode(None).unwrap();
        let recovered = recovering.recover(&packets[51]).unwrap();
        assert_eq!(recovered.len(), FRAME_SAMPLES);
        // Opus's delay (6.5 ms) shifts the decoded signal against the input: compare with
        // what an unbroken decoder made of packet 50.
        let mut clean = OpusDecoder::new().unwrap();
        for p in &packets[..50] {
            clean.decode(Some(p)).unwrap();
        }
        let truth = clean.decode(Some(&packets[50])).unwrap();
        let error = |x: &[i16]| -> f64 {
            x.iter()
                .zip(&truth)
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                .sum()
        };
        assert!(
            error(&recovered) < 0.5 * error(&concealed),
            "FEC error {:e} against concealment {:e}",
            error(&recovered),
            error(&concealed)
        );
        assert!(
            recovering.recover(&[]).is_err(),
            "an empty packet is refused"
        );
    }

    #[test]
    fn silence_becomes_dtx_frames_only_with_dtx_on_and_they_decode_to_silence() {
        let silence = [0i16; FRAME_SAMPLES];
        let mut enc = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
        let off: Vec<usize> = (0..30)
            .map(|_| enc.encode(&silence).unwrap().len())
            .collect();
        assert!(off.iter().all(|&n| n > 2), "DTX off: {off:?}");
        enc.set_dtx(true).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut dtx = 0;
        for _ in 0..30 {
            let packet = enc.encode(&silence).unwrap();
            if crate::audio::is_dtx_frame(&packet) {
                dtx += 1;
                // What the receiver plays for a DTX turn: the decoder's comfort noise,
                // digital silence here (the voice meter's "muted").
                let comfort = dec.decode(None).unwrap();
                assert!(comfort.iter().all(|s| s.abs() <= 2), "{comfort:?}");
            } else {
                dec.decode(Some(&packet)).unwrap();
            }
        }
        assert!(dtx >= 15, "{dtx} DTX frames of 30 silent ones");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let mut enc = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
        for len in [0, 480, 959, 961, 1920] {
            match enc.encode(&vec![0; len]) {
                Err(AudioError::FrameLength { expected: 960, got }) => assert_eq!(got, len),
                other => panic!("frame of {len} samples: {other:?}"),
            }
        }
        let mut dec = OpusDecoder::new().unwrap();
        // 0xFF: a code-3 packet (several frames) with no frame-count byte.
        // 0x03 0xFF: code 3 asking for 63 frames of 20 ms, beyond Opus's 120 ms.
        // 0x01 + 3 bytes: code 1 (two equal-size frames) with an odd payload length.
        let garbage: [&[u8]; 5] = [
            &[0xFF],
            &[0x03, 0xFF],
            &[0x01, 0xAA, 0xBB, 0xCC],
            &[],
            &[0x78; 2000],
        ];
        for packet in garbage {
            assert!(
                matches!(dec.decode(Some(packet)), Err(AudioError::Codec { .. })),
                "garbage {:02x?} accepted",
                &packet[..packet.len().min(4)]
            );
        }
        // The decoder still works afterwards.
        let p = enc.encode(&[0; FRAME_SAMPLES]).unwrap();
        assert_eq!(dec.decode(Some(&p)).unwrap().len(), FRAME_SAMPLES);
    }

    #[test]
    fn bitrate_is_validated_and_changes_packet_size() {
        assert!(matches!(
            OpusEncoder::new(100),
            Err(AudioError::InvalidArgument(_))
        ));
        assert!(OpusEncoder::new(1_000_000).is_err());
        let mut enc = OpusEncoder::new(12_000).unwrap();
        assert!(enc.set_bitrate(-1).is_err());
        assert_eq!(enc.bitrate(), 12_000);
        let mut tone = ToneSource::new(440.0, 0.5).paced(false);
        let mut size_at = |enc: &mut OpusEncoder| -> usize {
            (0..10)
                .map(|_| {
                    enc.encode(&tone.read_frame().unwrap().samples)
                        .unwrap()
                        .len()
                })
                .sum()
        };
        let low = size_at(&mut enc);
        enc.set_bitrate(128_000).unwrap();
        let high = size_at(&mut enc);
        assert!(high > 2 * low, "128 kb/s gave {high} bytes, 12 kb/s {low}");
    }
}
