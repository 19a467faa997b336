//! Opus for the Bluetooth voice path: 48 kHz mono (the devices' rate, no resampling),
//! 40 ms frames, 6-16 kbit/s constant bitrate, in-band FEC on, DTX off.
//!
//! Why these:
//! - **40 ms frames, one per packet and per Bluetooth frame.** Each packet costs 37 bytes
//!   besides Opus (14 mesh header, 7 voice header, 16 tag). At 12 kbit/s a 20 ms frame is
//!   30 bytes, so more than half the air would be headers, at 50 packets a second, more
//!   than one per connection event at the 30-50 ms intervals phones use; 40 ms halves
//!   both, for 20 ms more delay. 60 ms would save another 300 B/s but add 20 ms again and
//!   make every lost packet a 60 ms hole, which concealment bridges badly.
//! - **Constant bitrate.** Every packet has the same size, so someone listening to the
//!   radio cannot tell speech from silence or spot phrases by packet lengths (as they can
//!   with variable bitrate), and the airtime is known in advance. DTX is off for the same
//!   reason: silence is sent like speech.
//! - **In-band FEC on, expected loss 10 %.** The expected loss also makes SILK code more
//!   robustly. But libopus 1.3 (this system's) only codes FEC data from about 19 kbit/s
//!   at constant bitrate and 10 % expected loss (its `decide_fec` thresholds, on
//!   narrowband), so at 6-16 kbit/s its FEC carries nothing (this module's tests print
//!   it). Hence [`super::BleVoiceConfig::redundancy`]:
//!   each packet also repeats the previous frame (as WebRTC's RED for Opus does), which
//!   the link has room for (about 4 KB/s of its 15 KB/s at 12 kbit/s).

use media::audio::{AudioError, SAMPLE_RATE};

/// One Bluetooth voice frame: 40 ms.
pub const FRAME_MS: u32 = 40;
/// Samples in one frame at 48 kHz.
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE / 1000 * FRAME_MS) as usize;
/// Lowest bitrate this path runs at.
pub const MIN_BITRATE: i32 = 6_000;
/// Highest bitrate this path runs at.
pub const MAX_BITRATE: i32 = 16_000;
/// The default: wideband speech that stays clear, a fifth of the link.
pub const DEFAULT_BITRATE: i32 = 12_000;
/// Loss the encoder prepares for by default, percent.
pub const DEFAULT_EXPECTED_LOSS: u8 = 10;

use media::audio::opus_codec_error as codec_error;

/// The encoder: 40 ms of 48 kHz mono in, one Opus frame out.
#[derive(Debug)]
pub struct VoiceEncoder {
    inner: ::opus::Encoder,
}

impl VoiceEncoder {
    /// An encoder at `bitrate` ([`MIN_BITRATE`]..=[`MAX_BITRATE`]) preparing for
    /// `expected_loss` percent loss.
    pub fn new(bitrate: i32, expected_loss: u8) -> Result<Self, AudioError> {
        if !(MIN_BITRATE..=MAX_BITRATE).contains(&bitrate) {
            return Err(AudioError::InvalidArgument(format!(
                "Bluetooth voice bitrate {bitrate} b/s outside {MIN_BITRATE}..={MAX_BITRATE}"
            )));
        }
        let mut inner = ::opus::Encoder::new(
            SAMPLE_RATE,
            ::opus::Channels::Mono,
            ::opus::Application::Voip,
        )
        .map_err(codec_error("encoder setup"))?;
        inner
            .set_bitrate(::opus::Bitrate::Bits(bitrate))
            .map_err(codec_error("set bitrate"))?;
        inner
            .set_vbr(false)
            .map_err(codec_error("constant bitrate"))?;
        inner.set_dtx(false).map_err(codec_error("dtx"))?;
        inner
            .set_inband_fec(true)
            .map_err(codec_error("in-band FEC"))?;
        inner
            .set_packet_loss_perc(i32::from(expected_loss.min(100)))
            .map_err(codec_error("expected loss"))?;
        inner
            .set_signal(::opus::Signal::Voice)
            .map_err(codec_error("signal"))?;
        // 8 kHz of audio is what 6-16 kbit/s can carry; above it the bits go to waste.
        inner
            .set_max_bandwidth(::opus::Bandwidth::Wideband)
            .map_err(codec_error("bandwidth"))?;
        Ok(Self { inner })
    }

    /// Encodes exactly [`FRAME_SAMPLES`] samples.
    pub fn encode(&mut self, samples: &[i16]) -> Result<Vec<u8>, AudioError> {
        if samples.len() != FRAME_SAMPLES {
            return Err(AudioError::FrameLength {
                expected: FRAME_SAMPLES,
                got: samples.len(),
            });
        }
        // 16 kbit/s for 40 ms is 80 bytes; the bound leaves room and stays one packet.
        self.inner
            .encode_vec(samples, super::packet::MAX_PLAINTEXT_LEN)
            .map_err(codec_error("encode"))
    }
}

/// The decoder: one Opus frame in, 40 ms out; concealment and FEC for lost ones.
#[derive(Debug)]
pub struct VoiceDecoder {
    inner: ::opus::Decoder,
}

impl VoiceDecoder {
    /// A decoder to 48 kHz mono.
    pub fn new() -> Result<Self, AudioError> {
        let inner = ::opus::Decoder::new(SAMPLE_RATE, ::opus::Channels::Mono)
            .map_err(codec_error("decoder setup"))?;
        Ok(Self { inner })
    }

    /// Decodes one frame; anything but exactly 40 ms of audio is an error (and the
    /// caller conceals instead), so a peer cannot change the playout's pace.
    pub fn decode(&mut self, frame: &[u8]) -> Result<Vec<i16>, AudioError> {
        if frame.is_empty() {
            return Err(AudioError::Codec {
                operation: "decode",
                message: "empty frame".into(),
            });
        }
        let samples =
            ::opus::packet::get_nb_samples(frame, SAMPLE_RATE).map_err(codec_error("decode"))?;
        if samples != FRAME_SAMPLES {
            return Err(AudioError::Codec {
                operation: "decode",
                message: format!("frame of {samples} samples, expected {FRAME_SAMPLES}"),
            });
        }
        let mut out = vec![0i16; FRAME_SAMPLES];
        let n = self
            .inner
            .decode(frame, &mut out, false)
            .map_err(codec_error("decode"))?;
        out.truncate(n);
        Ok(out)
    }

    /// 40 ms of concealment for a lost frame.
    pub fn conceal(&mut self) -> Vec<i16> {
        let mut out = vec![0i16; FRAME_SAMPLES];
        if let Ok(n) = self.inner.decode(&[], &mut out, false) {
            out.truncate(n);
        }
        out.resize(FRAME_SAMPLES, 0);
        out
    }

    /// The frame lost before `next`, from `next`'s in-band FEC (libopus conceals when
    /// `next` carries none).
    pub fn recover(&mut self, next: &[u8]) -> Vec<i16> {
        let mut out = vec![0i16; FRAME_SAMPLES];
        match self.inner.decode(next, &mut out, true) {
            Ok(n) => {
                out.truncate(n);
                out.resize(FRAME_SAMPLES, 0);
                out
            }
            Err(_) => self.conceal(),
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
