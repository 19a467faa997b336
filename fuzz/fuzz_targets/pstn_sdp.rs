//! The phone gateway's own parsers on untrusted input (a carrier, or anyone who reaches
//! the SIP or RTP port): the SDP offer/answer reader (G.711 and RFC 7587 Opus
//! negotiation, the telephone-event at /8000 or in the codec's clock), the
//! `Proxy-Authorization` digest reader, the SDES `a=crypto` reader, RTP headers, RFC 4733
//! events and the jitter buffer. Never a panic; an answer built from any accepted offer
//! parses back to the same codec and telephone-event (and key, when it carries one); an
//! RTP packet re-serialised parses back to the same payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../pstn-gateway/src/digest.rs"]
mod digest;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/rtp/dtmf.rs"]
mod dtmf;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/g711.rs"]
mod g711;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/rtp/jitter.rs"]
mod jitter;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/rtp/packet.rs"]
mod packet;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/rtp/sdes.rs"]
mod sdes;
#[allow(dead_code)]
#[path = "../../pstn-gateway/src/sdp.rs"]
mod sdp;

use g711::G711;
use sdp::Codec;

const ALL: [Codec; 3] = [Codec::G711(G711::Pcmu), Codec::G711(G711::Pcma), Codec::Opus];

fuzz_target!(|data: &[u8]| {
    if let Ok(offer) = sdp::parse(data) {
        // Whatever is picked is a codec the offer has, on the payload type it wrote:
        // never one it did not offer, never Opus when the trunk has it off.
        for (allowed, opus_first) in [(&ALL[..], true), (&ALL[..2], true), (&ALL[2..], false)] {
            if let Ok(n) = offer.negotiate_with(allowed, opus_first) {
                assert!(allowed.contains(&n.codec));
                assert!(offer.formats.contains(&n.codec_pt));
                if n.codec == Codec::Opus {
                    let map = offer.rtpmaps.iter().find(|m| m.payload_type == n.codec_pt);
                    assert!(map.is_some_and(|m| m.clock_rate == 48_000 && m.channels == Some(2)));
                }
            }
        }
        if let Ok(agreed) = offer.negotiate(&ALL) {
            let local = sdp::LocalMedia {
                address: "192.0.2.1".parse().unwrap(),
                port: 40000,
                session_id: 7,
            };
            // Every usable key of the offer, written back as our answer's line.
            let key = offer
                .crypto
                .iter()
                .find_map(|value| sdes::CryptoAttribute::parse(value).ok());
            let crypto = key.as_ref().map(|k| sdp::LocalCrypto {
                attribute: k.to_value(),
                savp: offer.savp,
            });
            let answer = sdp::build_secure_answer(&local, &agreed, 2, crypto.as_ref());
            let back = sdp::parse(answer.as_bytes()).expect("our own answer parses");
            let again = back
                .negotiate(&[agreed.codec])
                .expect("our answer negotiates");
            assert_eq!(again.codec, agreed.codec);
            // The telephone-event too, at the clock rate the offer wrote for it (the one
            // in the codec's clock when offered, else /8000).
            assert_eq!(
                (again.dtmf_pt, again.dtmf_clock),
                (agreed.dtmf_pt, agreed.dtmf_clock)
            );
            if agreed.dtmf_pt.is_some() {
                let clock = agreed.dtmf_clock;
                assert!(clock == 8000 || clock == agreed.codec.clock_rate());
            }
            if let Some(key) = key {
                assert_eq!(back.crypto.len(), 1);
                assert_eq!(sdes::CryptoAttribute::parse(&back.crypto[0]).ok(), Some(key));
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sdes::CryptoAttribute::parse(text);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(creds) = digest::parse_credentials(text) {
            let _ = digest::verify(&creds, "INVITE", "u", "r", "p");
        }
    }
    if let Ok(packet) = packet::RtpPacket::parse(data) {
        let bytes = packet.to_bytes();
        let again = packet::RtpPacket::parse(&bytes).expect("re-serialised packet parses");
        assert_eq!(again.payload, packet.payload);
        let _ = dtmf::DtmfReceiver::default().receive(packet.timestamp, packet.payload);
    }
    // Sequence numbers from the input, pushed and played interleaved.
    let mut jb = jitter::JitterBuffer::default();
    for pair in data.chunks(3) {
        if let [hi, lo, op] = pair {
            jb.push(u16::from_be_bytes([*hi, *lo]), *op);
            if op & 1 == 0 {
                let _ = jb.pop();
            }
            assert!(jb.len() <= jitter::MAX_DEPTH);
        }
    }
});
