use super::*;

const PCMU: Codec = Codec::G711(G711::Pcmu);
const PCMA: Codec = Codec::G711(G711::Pcma);

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
    assert_eq!(sdp.telephone_event_at(8000), Some(101));
    assert_eq!(sdp.ptime, Some(20));
    let n = sdp.negotiate(&[PCMA, PCMU]).unwrap();
    assert_eq!(n.codec, PCMU, "the offerer's order wins");
    assert_eq!(n.dtmf_pt, Some(101));
    assert_eq!(n.remote, "203.0.113.5:12000".parse::<SocketAddr>().unwrap());
    let only_a = sdp.negotiate(&[PCMA]).unwrap();
    assert_eq!((only_a.codec, only_a.codec_pt), (PCMA, 8));
}

#[test]
fn static_payload_types_need_no_rtpmap_and_media_c_wins() {
    let body =
        "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8\r\nc=IN IP4 10.0.0.2\r\na=sendonly\r\n";
    let sdp = parse(body.as_bytes()).unwrap();
    let n = sdp.negotiate(&[PCMU, PCMA]).unwrap();
    assert_eq!(n.codec, PCMA);
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
    let offer = parse(build_offer(&local, &[PCMU, PCMA]).as_bytes()).unwrap();
    assert_eq!(offer.formats, vec![0, 8, OFFER_DTMF_PT]);
    let agreed = offer.negotiate(&[PCMA]).unwrap();
    let answer = parse(build_answer(&local, &agreed, 2).as_bytes()).unwrap();
    assert_eq!(answer.formats, vec![8, OFFER_DTMF_PT]);
    assert_eq!(answer.negotiate(&[PCMA]).unwrap().codec, PCMA);
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
            b"v=0\r\nm=audio 5 UDP/TLS/RTP/SAVP 0\r\n",
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
    assert_eq!(sdp.negotiate(&[PCMU]), Err(SdpError::NoCommonCodec));
    // Opus disabled on the trunk: never picked even though offered.
    assert_eq!(
        sdp.negotiate_with(&[PCMU, PCMA], true),
        Err(SdpError::NoCommonCodec)
    );
}

const BARESIP_OPUS: &str = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0 96 101\r\n\
a=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

#[test]
fn opus_is_taken_on_the_peers_payload_type_in_the_peers_order_unless_preferred() {
    let sdp = parse(BARESIP_OPUS.as_bytes()).unwrap();
    let n = sdp.negotiate(&[PCMU, Codec::Opus]).unwrap();
    assert_eq!(n.codec, PCMU, "the peer listed PCMU first");
    let n = sdp.negotiate_with(&[PCMU, Codec::Opus], true).unwrap();
    assert_eq!((n.codec, n.codec_pt), (Codec::Opus, 96));
    assert_eq!(n.dtmf_pt, Some(101));
    let local = LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: 30000,
        session_id: 1,
    };
    let answer = build_answer(&local, &n, 2);
    assert!(
        answer.contains("m=audio 30000 RTP/AVP 96 101\r\n"),
        "{answer}"
    );
    assert!(answer.contains("a=rtpmap:96 opus/48000/2\r\n"), "{answer}");
    let back = parse(answer.as_bytes()).unwrap();
    assert_eq!(back.negotiate(&[Codec::Opus]).unwrap().codec_pt, 96);
}

#[test]
fn opus_needs_its_rfc_7587_rtpmap() {
    for map in [
        "opus/48000",
        "opus/16000/2",
        "opus/48000/1",
        "speex/48000/2",
    ] {
        let body =
            format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 {map}\r\n");
        let sdp = parse(body.as_bytes()).unwrap();
        assert_eq!(
            sdp.negotiate_with(&[Codec::Opus], true),
            Err(SdpError::NoCommonCodec),
            "{map}"
        );
    }
    // A dynamic type without rtpmap is nothing we know.
    let body = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 111\r\n";
    let sdp = parse(body.as_bytes()).unwrap();
    assert_eq!(sdp.negotiate(&[Codec::Opus]), Err(SdpError::NoCommonCodec));
}

#[test]
fn an_offer_with_opus_lists_it_where_the_trunk_put_it() {
    let local = LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: 30000,
        session_id: 1,
    };
    let offer = build_offer(&local, &[Codec::Opus, PCMU]);
    let sdp = parse(offer.as_bytes()).unwrap();
    assert_eq!(
        sdp.formats,
        vec![OFFER_OPUS_PT, 0, OFFER_DTMF_PT, OFFER_DTMF_48K_PT]
    );
    assert_eq!(sdp.telephone_event_at(48_000), Some(OFFER_DTMF_48K_PT));
    assert_eq!(sdp.telephone_event_at(8000), Some(OFFER_DTMF_PT));
    assert_eq!(
        sdp.negotiate(&[PCMU, Codec::Opus]).unwrap().codec,
        Codec::Opus
    );
    assert!(offer.contains("a=fmtp:111 stereo=0;sprop-stereo=0\r\n"));
}

/// Asterisk and FreeSWITCH offer Opus with telephone-event/48000 only.
const PBX_OPUS: &str = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 107 0 8 101 102\r\n\
a=rtpmap:107 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n\
a=rtpmap:102 telephone-event/48000\r\na=fmtp:102 0-16\r\n";

#[test]
fn telephone_event_is_taken_in_the_codecs_clock_and_answered_in_it() {
    let local = LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: 30000,
        session_id: 1,
    };
    // Both rates offered: Opus takes /48000 (RFC 4733: the audio's clock), G.711 /8000.
    let sdp = parse(PBX_OPUS.as_bytes()).unwrap();
    let opus = sdp.negotiate_with(&[Codec::Opus, PCMU], true).unwrap();
    assert_eq!((opus.dtmf_pt, opus.dtmf_clock), (Some(102), 48_000));
    let answer = build_answer(&local, &opus, 2);
    assert!(
        answer.contains("m=audio 30000 RTP/AVP 107 102\r\n"),
        "{answer}"
    );
    assert!(answer.contains("a=rtpmap:102 telephone-event/48000\r\n"));
    assert!(!answer.contains("telephone-event/8000"), "{answer}");
    let g711 = sdp.negotiate(&[PCMU]).unwrap();
    assert_eq!((g711.dtmf_pt, g711.dtmf_clock), (Some(101), 8000));

    // Only /48000 beside Opus: still DTMF (before, only /8000 was recognised).
    let only_wide = PBX_OPUS.replace("101 102", "102");
    let sdp = parse(only_wide.as_bytes()).unwrap();
    let opus = sdp.negotiate_with(&[Codec::Opus], true).unwrap();
    assert_eq!((opus.dtmf_pt, opus.dtmf_clock), (Some(102), 48_000));
    // ... but not beside G.711, whose clock it is not.
    assert_eq!(sdp.negotiate(&[PCMU]).unwrap().dtmf_pt, None);

    // baresip: Opus with /8000 only. Taken, and answered as /8000.
    let sdp = parse(BARESIP_OPUS.as_bytes()).unwrap();
    let opus = sdp.negotiate_with(&[Codec::Opus], true).unwrap();
    assert_eq!((opus.dtmf_pt, opus.dtmf_clock), (Some(101), 8000));
    let answer = build_answer(&local, &opus, 2);
    assert!(answer.contains("a=rtpmap:101 telephone-event/8000\r\n"));
}

#[test]
fn our_opus_offer_gets_dtmf_from_an_answer_at_either_rate() {
    let local = LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: 30000,
        session_id: 1,
    };
    let offer = parse(build_offer(&local, &[Codec::Opus, PCMU]).as_bytes()).unwrap();
    for (pt, rate) in [(OFFER_DTMF_PT, 8000), (OFFER_DTMF_48K_PT, 48_000)] {
        // The answerer keeps the telephone-event it knows.
        let mut agreed = offer.negotiate(&[Codec::Opus]).unwrap();
        assert_eq!(agreed.dtmf_clock, 48_000, "the offer's own clock first");
        agreed.dtmf_pt = Some(pt);
        agreed.dtmf_clock = rate;
        let answer = parse(build_answer(&local, &agreed, 1).as_bytes()).unwrap();
        let back = answer.negotiate(&[Codec::Opus, PCMU]).unwrap();
        assert_eq!((back.dtmf_pt, back.dtmf_clock), (Some(pt), rate));
    }
    // A G.711-only offer has no /48000.
    let g711 = build_offer(&local, &[PCMU, PCMA]);
    assert!(!g711.contains("telephone-event/48000"), "{g711}");
}
