//! RTP fixed header (RFC 3550 section 5.1): parse and build. No RTCP: trunks do not
//! require it for G.711 and the gateway reports no statistics upstream.

/// Why a datagram is not an RTP packet we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than its own header says.
    Truncated,
    /// Version is not 2.
    BadVersion,
    /// Padding length larger than the payload.
    BadPadding,
}

/// A parsed RTP packet borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit (start of a talk spurt, or first packet of a DTMF event).
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp (8 kHz for everything this gateway carries).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload without padding.
    pub payload: &'a [u8],
}

const HEADER: usize = 12;

impl<'a> RtpPacket<'a> {
    /// Parses a datagram (CSRCs and header extensions are skipped, padding removed).
    pub fn parse(data: &'a [u8]) -> Result<Self, RtpError> {
        if data.len() < HEADER {
            return Err(RtpError::Truncated);
        }
        if data[0] >> 6 != 2 {
            return Err(RtpError::BadVersion);
        }
        let padding = data[0] & 0x20 != 0;
        let extension = data[0] & 0x10 != 0;
        let csrc = usize::from(data[0] & 0x0F);
        let mut start = HEADER + 4 * csrc;
        if extension {
            let ext = data.get(start..start + 4).ok_or(RtpError::Truncated)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let mut end = data.len();
        if start > end {
            return Err(RtpError::Truncated);
        }
        if padding {
            let pad = usize::from(data[end - 1]);
            if pad == 0 || pad > end - start {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7F,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: &data[start..end],
        })
    }

    /// Serialises the packet (no CSRCs, no extension, no padding).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.payload.len());
        out.push(0x80);
        out.push(u8::from(self.marker) << 7 | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(self.payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed() {
        let p = RtpPacket {
            marker: true,
            payload_type: 101,
            sequence: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 7,
            payload: &[1, 2, 3],
        };
        let bytes = p.to_bytes();
        assert_eq!(RtpPacket::parse(&bytes).unwrap(), p);
        assert_eq!(RtpPacket::parse(&bytes[..11]), Err(RtpError::Truncated));
        let mut v1 = bytes.clone();
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion));
        let mut padded = bytes.clone();
        padded[0] |= 0x20;
        *padded.last_mut().unwrap() = 9;
        assert_eq!(RtpPacket::parse(&padded), Err(RtpError::BadPadding));
        let mut csrc = bytes;
        csrc[0] |= 0x0F;
        assert_eq!(RtpPacket::parse(&csrc), Err(RtpError::Truncated));
    }
}
