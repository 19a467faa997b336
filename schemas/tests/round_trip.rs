//! Property-style round trip: every message built in Rust validates against its kind's
//! schema and parses back to an equal value.

mod common;

use phantomcall_schemas::{
    validate_rumor, CallBody, CallId, CallKind, CallMessage, CallType, DeviceId, GroupKeysKind,
    HandledOutcome, IceCandidate, PhoneLeg, PhoneRef, PrivacyMode, MAX_CANDIDATES_PER_MESSAGE,
    MAX_CANDIDATE_LEN, MAX_GROUP_KEYS_LEN, MAX_REASON_LEN, MAX_SDP_LEN,
};
use serde_json::Value;
use uuid::Uuid;

use common::rumor;

/// Small deterministic PRNG (xorshift64*), so failures reproduce.
/// Seeded randomness (fastrand), with the few helpers these tests need.
struct Rng(fastrand::Rng);

impl Rng {
    fn seeded(seed: u64) -> Self {
        Rng(fastrand::Rng::with_seed(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.u64(..)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    /// A string of `len` characters mixing ASCII, JSON-escaped and multi-byte characters.
    fn text(&mut self, len: usize) -> String {
        const CHARS: &[char] = &[
            'a', 'Z', '0', ' ', ':', '=', '\r', '\n', '"', '\\', '/', '\t', '\u{0}', 'é', '€',
            '📞', '\u{7f}', '{', ']',
        ];
        (0..len).map(|_| self.pick(CHARS)).collect()
    }
    fn hex64(&mut self) -> String {
        (0..4).map(|_| format!("{:016x}", self.next())).collect()
    }
    fn call_id(&mut self) -> CallId {
        let bytes = (u128::from(self.next()) << 64 | u128::from(self.next())).to_be_bytes();
        CallId::from(Uuid::from_bytes(bytes))
    }
    fn device(&mut self) -> DeviceId {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let len = DeviceId::MIN_LEN + self.below(DeviceId::MAX_LEN - DeviceId::MIN_LEN + 1);
        let id: String = (0..len).map(|_| char::from(self.pick(ALPHABET))).collect();
        id.parse().expect("generated device id is valid")
    }
    fn mode(&mut self) -> PrivacyMode {
        self.pick(&[
            PrivacyMode::Fast,
            PrivacyMode::Private,
            PrivacyMode::Paranoid,
        ])
    }
    fn sdp(&mut self) -> String {
        let len = self.pick(&[0, 1, 100, 2000, MAX_SDP_LEN - 3]);
        format!("v=0{}", self.text(len))
    }
    fn reason(&mut self) -> Option<String> {
        // `Some("")` is sent like `None` and parses back as `None`: not generated.
        let len = self.pick(&[0, 1, 12, MAX_REASON_LEN]);
        (len > 0).then(|| self.text(len))
    }
    fn candidate(&mut self) -> IceCandidate {
        let len = self.pick(&[0, 60, MAX_CANDIDATE_LEN]);
        let mid_len = self.below(5);
        IceCandidate {
            candidate: self.text(len),
            sdp_mid: self.coin().then(|| self.text(mid_len)),
            sdp_mline_index: self.coin().then(|| self.pick(&[0, 1, 7, u16::MAX])),
        }
    }
    fn candidates(&mut self) -> Vec<IceCandidate> {
        let n = self.pick(&[1, 1, 2, 3, 17, MAX_CANDIDATES_PER_MESSAGE]);
        (0..n).map(|_| self.candidate()).collect()
    }
    fn body(&mut self, kind: CallKind) -> CallBody {
        match kind {
            CallKind::Offer => CallBody::Offer {
                sdp: self.sdp(),
                call_type: self.pick(&[CallType::Voice, CallType::Video]),
            },
            CallKind::Answer => CallBody::Answer { sdp: self.sdp() },
            CallKind::IceCandidates => CallBody::IceCandidates(self.candidates()),
            CallKind::Hangup => CallBody::Hangup {
                reason: self.reason(),
            },
            CallKind::Reject => CallBody::Reject {
                reason: self.reason(),
            },
            CallKind::Renegotiate => CallBody::Renegotiate { sdp: self.sdp() },
            CallKind::ModeSwitchRequest => CallBody::ModeSwitchRequest { mode: self.mode() },
            CallKind::ModeSwitchAck => CallBody::ModeSwitchAck {
                mode: self.mode(),
                accepted: self.coin(),
            },
            CallKind::HandledElsewhere => CallBody::HandledElsewhere {
                outcome: self.pick(&[HandledOutcome::Answered, HandledOutcome::Rejected]),
            },
            CallKind::GroupKeys => CallBody::GroupKeys {
                mls: self.pick(&[
                    GroupKeysKind::KeyPackage,
                    GroupKeysKind::Welcome,
                    GroupKeysKind::Commit,
                ]),
                data: (0..self.pick(&[1, 2, 3, 300, MAX_GROUP_KEYS_LEN]))
                    .map(|_| self.next() as u8)
                    .collect(),
            },
        }
    }
}

/// to_parts -> rumor JSON -> validate -> from_rumor_json, asserting equality.
fn assert_round_trip(message: &CallMessage, author: &str, created_at: u64) -> Value {
    let (kind, tags, content) = message.to_parts();
    assert_eq!(kind, message.kind().as_u16());
    let rumor = rumor(author, created_at, kind, &tags, &content);
    // Through text as well, as the rumor travels.
    let rumor: Value = serde_json::from_str(&rumor.to_string()).unwrap();
    assert_eq!(
        validate_rumor(&rumor),
        Ok(message.kind()),
        "{message:?} does not validate"
    );
    assert_eq!(
        CallMessage::from_rumor_json(&rumor).as_ref(),
        Ok(message),
        "round trip changed the message"
    );
    rumor
}

#[test]
fn every_kind_with_and_without_mode_and_device_round_trips() {
    let mut rng = Rng::seeded(0x5eed_0000_0000_0001);
    let modes = [
        None,
        Some(PrivacyMode::Fast),
        Some(PrivacyMode::Private),
        Some(PrivacyMode::Paranoid),
    ];
    for kind in CallKind::ALL {
        for mode in modes {
            for with_device in [false, true] {
                let message = CallMessage {
                    phone: None,
                    call_id: CallId::new_random(),
                    peer: rng.hex64(),
                    also_to: Vec::new(),
                    pq_share: None,
                    mode,
                    device: with_device.then(DeviceId::new_random),
                    body: rng.body(kind),
                };
                let rumor = assert_round_trip(&message, &rng.hex64(), 1_767_225_600);
                let names: Vec<&str> = rumor["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t[0].as_str().unwrap())
                    .collect();
                assert!(names.contains(&"v"), "v is always sent");
                assert_eq!(names.contains(&"mode"), mode.is_some());
                assert_eq!(names.contains(&"device"), with_device);
                assert_eq!(names.contains(&"call-type"), kind == CallKind::Offer);
            }
        }
    }
}

#[test]
fn random_messages_of_every_kind_round_trip() {
    let mut rng = Rng::seeded(0x0dd5_eed5_1234_5678);
    for _ in 0..40 {
        for kind in CallKind::ALL {
            let message = CallMessage {
                phone: None,
                call_id: rng.call_id(),
                peer: rng.hex64(),
                also_to: Vec::new(),
                pq_share: None,
                mode: rng.coin().then(|| rng.mode()),
                device: rng.coin().then(|| rng.device()),
                body: rng.body(kind),
            };
            let author = rng.hex64();
            let created_at = rng.next() >> 20;
            assert_round_trip(&message, &author, created_at);
        }
    }
}

#[test]
fn single_candidate_is_sent_as_an_object_and_a_batch_as_an_array() {
    let mut rng = Rng::seeded(42);
    for n in [1, 2, MAX_CANDIDATES_PER_MESSAGE] {
        let candidates: Vec<IceCandidate> = (0..n).map(|_| rng.candidate()).collect();
        let message = CallMessage {
            phone: None,
            call_id: CallId::new_random(),
            peer: rng.hex64(),
            also_to: Vec::new(),
            pq_share: None,
            mode: Some(PrivacyMode::Private),
            device: Some(DeviceId::new_random()),
            body: CallBody::IceCandidates(candidates),
        };
        let rumor = assert_round_trip(&message, &rng.hex64(), 1);
        let content: Value = serde_json::from_str(rumor["content"].as_str().unwrap()).unwrap();
        if n == 1 {
            assert!(content.is_object(), "NIP-AC form for one candidate");
            assert!(content.get("sdpMLineIndex").is_some() && content.get("sdpMid").is_some());
        } else {
            assert_eq!(content.as_array().map(Vec::len), Some(n));
        }
    }
}

#[test]
fn empty_reasons_parse_as_none() {
    for body in [
        CallBody::Hangup {
            reason: Some(String::new()),
        },
        CallBody::Reject {
            reason: Some(String::new()),
        },
    ] {
        let message = CallMessage {
            phone: None,
            call_id: CallId::new_random(),
            peer: common::BOB.into(),
            also_to: Vec::new(),
            pq_share: None,
            mode: None,
            device: None,
            body,
        };
        let (kind, tags, content) = message.to_parts();
        assert_eq!(content, "");
        let parsed = CallMessage::from_rumor_json(&rumor(common::ALICE, 1, kind, &tags, &content))
            .expect("valid");
        match parsed.body {
            CallBody::Hangup { reason } | CallBody::Reject { reason } => assert_eq!(reason, None),
            other => panic!("unexpected body {other:?}"),
        }
    }
}

#[test]
fn pq_shares_round_trip_on_offers_and_answers_only() {
    let mut rng = Rng::seeded(0x9a_5eed);
    for kind in CallKind::ALL {
        let share: Vec<u8> = (0..1216).map(|i| (i * 7 % 251) as u8).collect();
        let message = CallMessage {
            phone: None,
            call_id: CallId::new_random(),
            peer: rng.hex64(),
            also_to: Vec::new(),
            pq_share: Some(share),
            mode: Some(PrivacyMode::Private),
            device: None,
            body: rng.body(kind),
        };
        let (_, tags, _) = message.to_parts();
        let carries = tags.iter().any(|t| t[0] == "pq");
        let expected = matches!(kind, CallKind::Offer | CallKind::Answer);
        assert_eq!(carries, expected, "{kind:?}");
        if expected {
            assert_round_trip(&message, &rng.hex64(), 7);
        }
    }
}

#[test]
fn phone_legs_round_trip_where_they_belong_and_bad_numbers_are_refused() {
    let mut rng = Rng::seeded(0x7e1e_70e5);
    let shown = PhoneLeg::phone("+1 555 …12").expect("a masked number");
    let dial = PhoneLeg::dial("+15551234567").expect("an E.164 number");
    let reference = PhoneRef::from_hex("0123456789abcdef0123456789abcdef").expect("32 hex digits");
    let named = PhoneLeg::phone_with_reference("+1 555 …12", reference).expect("a masked number");
    for kind in CallKind::ALL {
        for leg in [&shown, &named, &dial] {
            let message = CallMessage {
                phone: Some(leg.clone()),
                call_id: CallId::new_random(),
                peer: rng.hex64(),
                also_to: Vec::new(),
                pq_share: None,
                mode: Some(PrivacyMode::Fast),
                device: None,
                body: rng.body(kind),
            };
            let (_, tags, _) = message.to_parts();
            let carried = tags.iter().any(|t| t[0] == "phone" || t[0] == "dial");
            let belongs = match leg {
                PhoneLeg::Phone { .. } => matches!(kind, CallKind::Offer | CallKind::Answer),
                PhoneLeg::Dial { .. } => kind == CallKind::Offer,
            };
            assert_eq!(carried, belongs, "{kind:?} {leg:?}");
            if belongs {
                assert_round_trip(&message, &rng.hex64(), 9);
            }
        }
    }
    for bad in [
        "15551234567",
        "+0551234567",
        "+12345",
        "+1234567890123456",
        "+1 555 123",
    ] {
        assert_eq!(PhoneLeg::dial(bad), None, "{bad}");
    }
    for bad in ["", "call me", "+1 555 0000 0000 0000 0000 0000 0000 0"] {
        assert_eq!(PhoneLeg::phone(bad), None, "{bad}");
    }
    // What a hand-made rumor says is checked by the schema and the parser alike.
    let offer = CallMessage {
        phone: Some(dial),
        call_id: CallId::new_random(),
        peer: rng.hex64(),
        also_to: Vec::new(),
        pq_share: None,
        mode: None,
        device: None,
        body: rng.body(CallKind::Offer),
    };
    let (kind, mut tags, content) = offer.to_parts();
    let bad_tags: [&[&str]; 6] = [
        &["dial", "+1-555-1234"],
        &["phone", "<script>"],
        // A reference must be 32 lowercase hex digits: never the number, never free text.
        &["phone", "+1 555 …12", "+15551234512"],
        &["phone", "+1 555 …12", "0123456789ABCDEF0123456789ABCDEF"],
        &["phone", "+1 555 …12", "0123456789abcdef"],
        &[
            "phone",
            "+1 555 …12",
            "0123456789abcdef0123456789abcdef",
            "x",
        ],
    ];
    for bad in bad_tags {
        let at = tags
            .iter()
            .position(|t| t[0] == "dial" || t[0] == "phone")
            .unwrap();
        tags[at] = bad.iter().map(|v| v.to_string()).collect();
        let rumor = rumor(&rng.hex64(), 9, kind, &tags, &content);
        assert!(validate_rumor(&rumor).is_err(), "{bad:?}");
        assert!(CallMessage::from_rumor_json(&rumor).is_err(), "{bad:?}");
    }
    // The reference survives the trip and is what the recipient reads back.
    let at = tags.iter().position(|t| t[0] == "phone").unwrap();
    tags[at] = named_tag(&named);
    let rumor = rumor(&rng.hex64(), 9, kind, &tags, &content);
    validate_rumor(&rumor).expect("a phone tag with a reference is valid");
    let parsed = CallMessage::from_rumor_json(&rumor).expect("parses");
    assert_eq!(
        parsed.phone.and_then(|leg| leg.reference()),
        Some(reference)
    );
}

fn named_tag(leg: &PhoneLeg) -> Vec<String> {
    let mut tag = vec!["phone".to_owned(), leg.shown().unwrap().to_owned()];
    tag.extend(leg.reference().map(|r| r.to_hex()));
    tag
}
