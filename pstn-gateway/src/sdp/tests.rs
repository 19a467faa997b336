use super::*;

const TWILIO_LIKE: &str = "v=0\r\no=root 1 1 IN IP4 203.0.113.5\r\ns=Twilio Media Gateway\r\n\
c=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 12000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
a=sendrecv\r\n";

#[test]
fn a_carrier_offer_is_read() {
    let sdp = parse(TWILIO_LIKE.as_bytes()).unwrap();
    assert_eq!(sdp.address, "203.0.113.5".parse::<IpAddr>().unwrap());
    assert_eq!(sdp.port, 12000);
    assert_eq!(sdp.formats, vec![0, 8, 101]);
    assert_eq!(sdp.telephone_event(), Some(101));
    assert_eq!(sdp.ptime, Some(20));
    let n = sdp.negotiate(&[G711::Pcma, G711::Pcmu]).unwrap();
    assert_eq!(n.codec, G711::Pcmu, "the offerer's order wins");
    assert_eq!(n.dtmf_pt, Some(101));
    assert_eq!(n.remote, "203.0.113.5:12000".parse().unwrap());
    let only_a = sdp.negotiate(&[G711::Pcma]).unwrap();
    assert_eq!((only_a.codec, only_a.codec_pt), (G711::Pcma, 8));
}

#[test]
fn static_payload_types_need_no_rtpmap_and_media_c_wins() {
    let body =
        "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8\r\nc=IN IP4 10.0.0.2\r\na=sendonly\r\n";
    let sdp = parse(body.as_bytes()).unwrap();
    let n = sdp.negotiate(&[G711::Pcmu, G711::Pcma]).unwrap();
    assert_eq!(n.codec, G711::Pcma);
    assert_eq!(n.dtmf_pt, None);
    assert_eq!(n.remote.ip().to_string(), "10.0.0.2");
    assert_eq!(n.direction, MediaDirection::RecvOnly);
}

#[test]
fn offer_and_answer_round_trip_through_the_parser() {
    let local = LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: 30000,
        session_id: 42,
    };
    let offer = parse(build_offer(&local, &[G711::Pcmu, G711::Pcma]).as_bytes()).unwrap();
    assert_eq!(offer.formats, vec![0, 8, OFFER_DTMF_PT]);
    let agreed = offer.negotiate(&[G711::Pcma]).unwrap();
    let answer = parse(build_answer(&local, &agreed, 2).as_bytes()).unwrap();
    assert_eq!(answer.formats, vec![8, OFFER_DTMF_PT]);
    assert_eq!(answer.negotiate(&[G711::Pcma]).unwrap().codec, G711::Pcma);
}

#[test]
fn bad_input_is_a_typed_error() {
    let cases: &[(&[u8], SdpError)] = &[
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\n", SdpError::NoAudio),
        (b"v=0\r\nm=audio 5 RTP/AVP 0\r\n", SdpError::NoConnection),
        (
            b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n",
            SdpError::NoAudio,
        ),
        (b"garbage", SdpError::BadLine(1)),
        (
            b"v=0\r\nc=IN IP4 999.1.1.1\r\n",
            SdpError::BadField("c= address"),
        ),
        (
            b"v=0\r\nc=IN IP6 1.1.1.1\r\n",
            SdpError::BadField("c= address type"),
        ),
        (
            b"v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
            SdpError::BadField("m= port"),
        ),
        (
            b"v=0\r\nm=audio 5 RTP/AVP 200\r\n",
            SdpError::BadField("payload type"),
        ),
        (
            b"v=0\r\nm=audio 5 RTP/SAVP 0\r\n",
            SdpError::BadField("m= proto"),
        ),
        (
            b"v=0\r\nm=audio 5 RTP/AVP 0\r\na=rtpmap:0\r\n",
            SdpError::BadField("a=rtpmap"),
        ),
        (
            b"v=0\r\nm=audio 5 RTP/AVP 0\r\na=ptime:0\r\n",
            SdpError::BadField("a=ptime"),
        ),
        (b"\xff\xfe", SdpError::NotText),
    ];
    for (body, want) in cases {
        assert_eq!(
            parse(body).unwrap_err(),
            *want,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        parse(&vec![b'a'; MAX_SDP_LEN + 1]).unwrap_err(),
        SdpError::TooLong
    );
}

#[test]
fn no_common_codec_is_refused() {
    let body =
        "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 9 96\r\na=rtpmap:96 opus/48000/2\r\n";
    let sdp = parse(body.as_bytes()).unwrap();
    assert_eq!(sdp.negotiate(&[G711::Pcmu]), Err(SdpError::NoCommonCodec));
}
