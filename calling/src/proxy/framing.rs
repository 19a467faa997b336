//! TURN messages between a UDP datagram and a TCP byte stream (RFC 8656 sections 5 and
//! 12.5): STUN messages carry their own length; ChannelData messages carry theirs and, over
//! TCP, are padded to a multiple of four bytes.

/// STUN header: type, length, magic cookie, transaction id.
const STUN_HEADER: usize = 20;
/// ChannelData header: channel number and length.
const CHANNEL_DATA_HEADER: usize = 4;
/// RFC 5389's fixed value in every STUN header, bytes 4..8.
const MAGIC_COOKIE: [u8; 4] = 0x2112_A442u32.to_be_bytes();

/// Why bytes are not a TURN message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Neither STUN (first two bits 00) nor ChannelData (01).
    #[error("not a STUN or ChannelData message (first byte {0:#04x})")]
    UnknownKind(u8),
    /// The length field does not match the datagram.
    #[error("length field says {declared} bytes, the datagram has {actual}")]
    BadLength {
        /// Bytes the header declares, header included.
        declared: usize,
        /// Bytes there are.
        actual: usize,
    },
    /// A STUN message without RFC 5389's magic cookie.
    #[error("STUN message without the magic cookie")]
    NoMagicCookie,
    /// ChannelData on a channel number outside 0x4000-0x4FFF.
    #[error("channel number {0:#06x} is outside 0x4000-0x4fff")]
    BadChannel(u16),
    /// A STUN message length must be a multiple of four.
    #[error("STUN length {0} is not a multiple of four")]
    UnalignedStun(usize),
}

enum Kind {
    Stun,
    ChannelData,
}

fn kind(first: u8) -> Result<Kind, FramingError> {
    match first >> 6 {
        0b00 => Ok(Kind::Stun),
        0b01 => Ok(Kind::ChannelData),
        _ => Err(FramingError::UnknownKind(first)),
    }
}

/// Total length of the message whose header starts `bytes`, without TCP padding, and with
/// it. `None` until the header is there.
fn frame_len(bytes: &[u8]) -> Result<Option<(usize, usize)>, FramingError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let kind = kind(first)?;
    if bytes.len() < 4 {
        return Ok(None);
    }
    let body = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    Ok(Some(match kind {
        Kind::Stun => {
            if body % 4 != 0 {
                return Err(FramingError::UnalignedStun(body));
            }
            if bytes.len() < 8 {
                return Ok(None);
            }
            if bytes[4..8] != MAGIC_COOKIE {
                return Err(FramingError::NoMagicCookie);
            }
            (STUN_HEADER + body, STUN_HEADER + body)
        }
        Kind::ChannelData => {
            let channel = u16::from_be_bytes([bytes[0], bytes[1]]);
            if !(0x4000..=0x4FFF).contains(&channel) {
                return Err(FramingError::BadChannel(channel));
            }
            let len = CHANNEL_DATA_HEADER + body;
            (len, len.next_multiple_of(4))
        }
    }))
}

/// The bytes to write on the TCP connection for one datagram from the TURN client: the
/// message as is, ChannelData padded to four bytes. Trailing bytes past the declared
/// length (UDP padding) are not carried.
pub fn datagram_to_stream(datagram: &[u8]) -> Result<Vec<u8>, FramingError> {
    let too_short = || FramingError::BadLength {
        declared: CHANNEL_DATA_HEADER,
        actual: datagram.len(),
    };
    let (len, padded) = frame_len(datagram)?.ok_or_else(too_short)?;
    if len > datagram.len() {
        return Err(FramingError::BadLength {
            declared: len,
            actual: datagram.len(),
        });
    }
    let mut out = Vec::with_capacity(padded);
    out.extend_from_slice(&datagram[..len]);
    out.resize(padded, 0);
    Ok(out)
}

/// Cuts the TCP byte stream from the TURN server back into messages, one datagram each.
#[derive(Debug, Default)]
pub struct StreamDeframer {
    buffer: Vec<u8>,
}

impl StreamDeframer {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message (padding removed), `Ok(None)` until one is complete. An
    /// error means the stream is not TURN: the connection must be closed, since there is
    /// no way to find the next message boundary.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        let Some((len, padded)) = frame_len(&self.buffer)? else {
            return Ok(None);
        };
        if self.buffer.len() < padded {
            return Ok(None);
        }
        let message = self.buffer[..len].to_vec();
        self.buffer.drain(..padded);
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(body: usize) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body as u16).to_be_bytes());
        m.extend_from_slice(&0x2112_A442u32.to_be_bytes());
        m.extend_from_slice(&[7; 12]);
        m.extend(std::iter::repeat_n(0xAB, body));
        m
    }

    fn channel_data(payload: &[u8]) -> Vec<u8> {
        let mut m = vec![0x40, 0x01];
        m.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn channel_data_is_padded_on_the_stream_and_unpadded_back() {
        let message = channel_data(&[1, 2, 3, 4, 5]);
        let framed = datagram_to_stream(&message).unwrap();
        assert_eq!(framed.len(), 12);
        assert_eq!(&framed[..9], &message[..]);
        let mut deframer = StreamDeframer::default();
        deframer.push(&framed);
        assert_eq!(deframer.next_message().unwrap(), Some(message));
        assert_eq!(deframer.next_message().unwrap(), None);
    }

    #[test]
    fn messages_split_across_reads_come_out_whole_and_in_order() {
        let first = stun(8);
        let second = channel_data(&[9; 3]);
        let mut stream = datagram_to_stream(&first).unwrap();
        stream.extend(datagram_to_stream(&second).unwrap());
        let mut deframer = StreamDeframer::default();
        let mut out = Vec::new();
        for byte in stream {
            deframer.push(&[byte]);
            while let Some(m) = deframer.next_message().unwrap() {
                out.push(m);
            }
        }
        assert_eq!(out, vec![first, second]);
    }

    #[test]
    fn a_datagram_shorter_than_its_length_field_is_refused() {
        let mut message = stun(8);
        message.truncate(24);
        assert_eq!(
            datagram_to_stream(&message),
            Err(FramingError::BadLength {
                declared: 28,
                actual: 24
            })
        );
        assert!(datagram_to_stream(&[0x40, 0x01, 0x00]).is_err());
        assert!(datagram_to_stream(&[]).is_err());
    }

    #[test]
    fn bytes_that_are_not_turn_stop_the_stream() {
        let mut deframer = StreamDeframer::default();
        // A TLS record (a server expecting turns:), a reserved channel, plain text.
        deframer.push(&[0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00]);
        assert_eq!(deframer.next_message(), Err(FramingError::NoMagicCookie));
        let mut deframer = StreamDeframer::default();
        deframer.push(b"\x5f\x00\x00\x04abcd");
        assert_eq!(
            deframer.next_message(),
            Err(FramingError::BadChannel(0x5f00))
        );
        let mut deframer = StreamDeframer::default();
        deframer.push(b"\x93 not turn");
        assert_eq!(
            deframer.next_message(),
            Err(FramingError::UnknownKind(0x93))
        );
        assert_eq!(
            datagram_to_stream(&[0x80, 0, 0, 0]),
            Err(FramingError::UnknownKind(0x80))
        );
    }

    #[test]
    fn a_stun_header_with_an_unaligned_length_is_refused() {
        let mut message = stun(8);
        message[3] = 7;
        assert_eq!(
            datagram_to_stream(&message),
            Err(FramingError::UnalignedStun(7))
        );
    }
}
