//! What the peer's description asks of the Opus we send it (RFC 7587 section 6.1): the
//! `useinbandfec` and `usedtx` parameters of the Opus format of its first audio section.
//! They state what the peer's decoder wants to receive; a peer that does not ask for FEC
//! gets none (it would only cost it bits), and the call works either way.

use rtc::sdp::description::media::MediaDescription;
use rtc::sdp::SessionDescription;

/// Longest `fmtp` value read; real ones are under 100 bytes.
const MAX_FMTP_LEN: usize = 1024;

/// The peer's wishes for the Opus stream it receives from us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpusWishes {
    /// `useinbandfec=1`: the peer decodes in-band FEC, so each packet may carry a coarse
    /// copy of the previous frame.
    pub inband_fec: bool,
    /// `usedtx=1`: the peer accepts discontinuous transmission during silence.
    pub dtx: bool,
}

/// The wishes stated for the first Opus format of the first audio section of `desc`;
/// none (`Default`) when it has no Opus or no `fmtp` for it. Never fails: parameters this
/// reader does not know, or values other than `0`/`1`, are ignored (RFC 7587: absent
/// means 0).
pub fn peer_opus_wishes(desc: &SessionDescription) -> OpusWishes {
    let Some(audio) = desc
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio")
    else {
        return OpusWishes::default();
    };
    let Some(pt) = first_opus_payload_type(audio) else {
        return OpusWishes::default();
    };
    let mut wishes = OpusWishes::default();
    for params in attribute_values(audio, "fmtp").filter_map(|v| for_payload_type(v, &pt)) {
        if params.len() > MAX_FMTP_LEN {
            continue;
        }
        for (key, value) in params.split(';').filter_map(|p| p.split_once('=')) {
            let on = value.trim() == "1";
            match key.trim().to_ascii_lowercase().as_str() {
                "useinbandfec" => wishes.inband_fec = on,
                "usedtx" => wishes.dtx = on,
                _ => {}
            }
        }
    }
    wishes
}

/// The first payload type of the m-line's list whose `rtpmap` names Opus.
fn first_opus_payload_type(audio: &MediaDescription) -> Option<String> {
    audio.media_name.formats.iter().find_map(|pt| {
        attribute_values(audio, "rtpmap")
            .filter_map(|v| for_payload_type(v, pt))
            .any(|codec| {
                codec
                    .split('/')
                    .next()
                    .is_some_and(|name| name.trim().eq_ignore_ascii_case("opus"))
            })
            .then(|| pt.clone())
    })
}

fn attribute_values<'a>(
    media: &'a MediaDescription,
    key: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    media
        .attributes
        .iter()
        .filter(move |a| a.key == key)
        .filter_map(|a| a.value.as_deref())
}

/// The rest of an `rtpmap`/`fmtp` value (`"111 opus/48000/2"`) when it is for `pt`.
fn for_payload_type<'a>(value: &'a str, pt: &str) -> Option<&'a str> {
    let (first, rest) = value.trim_start().split_once(char::is_whitespace)?;
    (first == pt).then_some(rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An audio offer as browsers send it (Chrome's Opus line, RFC 7587 section 7 form),
    /// with `fmtp` for Opus given by the test.
    fn offer(opus_fmtp: &str) -> SessionDescription {
        let sdp = format!(
            "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9\r\nc=IN IP4 0.0.0.0\r\n\
             a=rtpmap:111 opus/48000/2\r\n{opus_fmtp}\
             a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n\
             a=rtpmap:9 G722/8000\r\n"
        );
        SessionDescription::unmarshal(&mut std::io::Cursor::new(sdp)).unwrap()
    }

    #[test]
    fn a_browser_offer_asks_for_fec() {
        let wishes = peer_opus_wishes(&offer("a=fmtp:111 minptime=10;useinbandfec=1\r\n"));
        assert_eq!(
            wishes,
            OpusWishes {
                inband_fec: true,
                dtx: false
            }
        );
    }

    #[test]
    fn dtx_and_fec_are_read_in_any_order_and_case() {
        let wishes = peer_opus_wishes(&offer("a=fmtp:111 usedtx=1; UseInbandFec = 1\r\n"));
        assert!(wishes.inband_fec && wishes.dtx);
    }

    #[test]
    fn no_fmtp_or_zero_means_no_fec() {
        assert_eq!(peer_opus_wishes(&offer("")), OpusWishes::default());
        let off = peer_opus_wishes(&offer("a=fmtp:111 minptime=10;useinbandfec=0\r\n"));
        assert!(!off.inband_fec);
        let junk = peer_opus_wishes(&offer("a=fmtp:111 useinbandfec=yes;;=;x\r\n"));
        assert!(!junk.inband_fec);
    }

    #[test]
    fn an_fmtp_of_another_format_does_not_count() {
        // The RED format's fmtp names Opus's payload type, but is not Opus's fmtp.
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 63 111\r\n\
                   a=rtpmap:63 red/48000/2\r\na=fmtp:63 useinbandfec=1\r\n\
                   a=rtpmap:111 OPUS/48000/2\r\na=fmtp:111 usedtx=1\r\n";
        let desc = SessionDescription::unmarshal(&mut std::io::Cursor::new(sdp)).unwrap();
        assert_eq!(
            peer_opus_wishes(&desc),
            OpusWishes {
                inband_fec: false,
                dtx: true
            }
        );
    }

    #[test]
    fn no_audio_or_no_opus_asks_nothing() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n\
                   a=fmtp:0 useinbandfec=1\r\n";
        let desc = SessionDescription::unmarshal(&mut std::io::Cursor::new(sdp)).unwrap();
        assert_eq!(peer_opus_wishes(&desc), OpusWishes::default());
    }
}
