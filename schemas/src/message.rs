//! Typed call messages: building rumor parts and parsing validated rumors.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::validate;
use crate::{
    CallId, CallKind, CallType, DeviceId, GroupKeysKind, HandledOutcome, IceCandidate, PrivacyMode,
    SchemaError, PROTOCOL_VERSION,
};

/// The kind-specific part of a call message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallBody {
    /// Kind 25050: starts a call.
    Offer {
        /// SDP offer.
        sdp: String,
        /// Voice or video (`call-type` tag).
        call_type: CallType,
    },
    /// Kind 25051: accepts a call.
    Answer {
        /// SDP answer.
        sdp: String,
    },
    /// Kind 25052: ICE candidates. One candidate is sent as a JSON object (NIP-AC form),
    /// several as a JSON array (at most [`crate::MAX_CANDIDATES_PER_MESSAGE`]; an empty
    /// list does not validate).
    IceCandidates(Vec<IceCandidate>),
    /// Kind 25053: ends a call. `None` and `Some("")` are both sent as empty content and
    /// parse back as `None`.
    Hangup {
        /// Optional reason.
        reason: Option<String>,
    },
    /// Kind 25054: declines a call (e.g. `"busy"`, `"declined"`). Empty reason as for
    /// [`CallBody::Hangup`].
    Reject {
        /// Optional reason.
        reason: Option<String>,
    },
    /// Kind 25055: new SDP offer during the call (ICE restart, tracks added).
    Renegotiate {
        /// SDP offer.
        sdp: String,
    },
    /// Kind 25060: asks the peer to switch to `mode`.
    ModeSwitchRequest {
        /// The mode asked for.
        mode: PrivacyMode,
    },
    /// Kind 25061: answers a mode switch request.
    ModeSwitchAck {
        /// The mode that was asked for.
        mode: PrivacyMode,
        /// Whether the switch is accepted.
        accepted: bool,
    },
    /// Kind 25062: the call was handled on another device of the same user.
    HandledElsewhere {
        /// Answered or rejected there.
        outcome: HandledOutcome,
    },
    /// Kind 25063: one MLS message of a group call's keys.
    GroupKeys {
        /// Key package, welcome or commit.
        mls: GroupKeysKind,
        /// The TLS-serialized MLS message (at most [`crate::MAX_GROUP_KEYS_LEN`] bytes).
        data: Vec<u8>,
    },
}

impl CallBody {
    /// The kind of rumor that carries this body.
    pub fn kind(&self) -> CallKind {
        match self {
            CallBody::Offer { .. } => CallKind::Offer,
            CallBody::Answer { .. } => CallKind::Answer,
            CallBody::IceCandidates(_) => CallKind::IceCandidates,
            CallBody::Hangup { .. } => CallKind::Hangup,
            CallBody::Reject { .. } => CallKind::Reject,
            CallBody::Renegotiate { .. } => CallKind::Renegotiate,
            CallBody::ModeSwitchRequest { .. } => CallKind::ModeSwitchRequest,
            CallBody::ModeSwitchAck { .. } => CallKind::ModeSwitchAck,
            CallBody::HandledElsewhere { .. } => CallKind::HandledElsewhere,
            CallBody::GroupKeys { .. } => CallKind::GroupKeys,
        }
    }
}

/// A telephone at one end of a call, through a phone gateway (offers and answers only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneLeg {
    /// From a gateway (`phone` tag): the other end is a telephone with this number, as
    /// the gateway shows it (possibly masked). The call is not end-to-end encrypted past
    /// the gateway.
    Phone {
        /// Digits, spaces, `+`, `-`, `.` and `…`; at most 32 characters.
        shown: String,
        /// Names the telephone without its number (the tag's optional third value): the
        /// same for every call of one number to one recipient, different per recipient.
        /// `None` when the gateway did not get a number (withheld) or does not send one.
        reference: Option<PhoneRef>,
    },
    /// To a gateway (`dial` tag, offers only): the telephone number to call.
    Dial {
        /// E.164: `+` and 7 to 15 digits, the first not 0.
        number: String,
    },
}

impl PhoneLeg {
    /// `number` if it is an E.164 number a `dial` tag can carry.
    pub fn dial(number: &str) -> Option<PhoneLeg> {
        let digits = number.strip_prefix('+')?;
        let valid = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        valid.then(|| PhoneLeg::Dial {
            number: number.to_owned(),
        })
    }

    /// `shown` if a `phone` tag can carry it.
    pub fn phone(shown: &str) -> Option<PhoneLeg> {
        let valid = (1..=32).contains(&shown.chars().count())
            && shown
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '.' | '-' | '…'));
        valid.then(|| PhoneLeg::Phone {
            shown: shown.to_owned(),
            reference: None,
        })
    }

    /// `shown` with the telephone's opaque `reference`, if a `phone` tag can carry `shown`.
    pub fn phone_with_reference(shown: &str, reference: PhoneRef) -> Option<PhoneLeg> {
        match Self::phone(shown)? {
            PhoneLeg::Phone { shown, .. } => Some(PhoneLeg::Phone {
                shown,
                reference: Some(reference),
            }),
            dial => Some(dial),
        }
    }

    /// The number as shown, for a `phone` leg.
    pub fn shown(&self) -> Option<&str> {
        match self {
            PhoneLeg::Phone { shown, .. } => Some(shown),
            PhoneLeg::Dial { .. } => None,
        }
    }

    /// The telephone's opaque reference, for a `phone` leg that carries one.
    pub fn reference(&self) -> Option<PhoneRef> {
        match self {
            PhoneLeg::Phone { reference, .. } => *reference,
            PhoneLeg::Dial { .. } => None,
        }
    }

    fn to_tag(&self) -> Vec<String> {
        match self {
            PhoneLeg::Phone {
                shown,
                reference: None,
            } => tag("phone", shown),
            PhoneLeg::Phone {
                shown,
                reference: Some(reference),
            } => vec!["phone".into(), shown.clone(), reference.to_hex()],
            PhoneLeg::Dial { number } => tag("dial", number),
        }
    }
}

/// An opaque name for a telephone behind a phone gateway (16 bytes, 32 lowercase hex
/// digits on the wire): a keyed hash the gateway computes from the number and the call's
/// recipient, so a recipient can tell two phones apart and recognise one calling again,
/// but cannot learn the number or link the phone's calls to other recipients.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhoneRef([u8; 16]);

impl PhoneRef {
    /// From its 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses exactly 32 lowercase hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let digits = text.as_bytes();
        if digits.len() != 32
            || !digits
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, pair) in digits.chunks(2).enumerate() {
            let nibble = |b: u8| {
                if b.is_ascii_digit() {
                    b - b'0'
                } else {
                    b - b'a' + 10
                }
            };
            bytes[i] = nibble(pair[0]) << 4 | nibble(pair[1]);
        }
        Some(Self(bytes))
    }

    /// 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Shortened: references are opaque, but logs need not carry them whole.
impl std::fmt::Debug for PhoneRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhoneRef({}…)", &self.to_hex()[..8])
    }
}

/// One call signaling message: the tags every kind shares plus the kind-specific body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallMessage {
    /// The call (`call-id` tag).
    pub call_id: CallId,
    /// Hex pubkey from the (first) `p` tag: the other party of the call.
    pub peer: String,
    /// NIP-AC group offers only: the hex pubkeys of the further `p` tags (every callee is
    /// named); empty for every 1:1 message.
    pub also_to: Vec<String>,
    /// Sender's privacy mode (`mode` tag); `None` only from non-PhantomCall NIP-AC clients.
    pub mode: Option<PrivacyMode>,
    /// Sending device (`device` tag); `None` from non-PhantomCall NIP-AC clients.
    pub device: Option<DeviceId>,
    /// Kind-specific content.
    pub body: CallBody,
    /// PhantomCall's post-quantum media key share (`pq` tag; offers and answers only):
    /// the X-Wing encapsulation key in an offer, the ciphertext in an answer. `None` from
    /// NIP-AC clients, when the layer is off, and on every other kind.
    pub pq_share: Option<Vec<u8>>,
    /// A telephone at one end (`phone` or `dial` tag; offers and answers only, a `dial`
    /// on offers only). `None` on every call between two apps.
    pub phone: Option<PhoneLeg>,
}

/// The key agreement a `pq` tag carries (the only one so far).
const PQ_SCHEME: &str = "xwing";

fn tag(name: &str, value: &str) -> Vec<String> {
    vec![name.to_owned(), value.to_owned()]
}

impl CallMessage {
    /// The kind of rumor that carries this message.
    pub fn kind(&self) -> CallKind {
        self.body.kind()
    }

    /// Kind, tags and content of the rumor to build. Tags are, in order: `p`, `call-id`,
    /// `call-type` (offers), `v`, then `mode`, `device`, `pq` and `phone` or `dial` (offers and
    /// answers) when set. A single candidate is
    /// sent as a JSON object (NIP-AC form), several as an array.
    pub fn to_parts(&self) -> (u16, Vec<Vec<String>>, String) {
        let mut tags = vec![tag("p", &self.peer)];
        tags.extend(self.also_to.iter().map(|member| tag("p", member)));
        tags.push(tag("call-id", &self.call_id.to_string()));
        if let CallBody::Offer { call_type, .. } = &self.body {
            tags.push(tag("call-type", call_type.as_str()));
        }
        tags.push(tag("v", PROTOCOL_VERSION));
        if let Some(mode) = self.mode {
            tags.push(tag("mode", mode.as_str()));
        }
        if let Some(device) = &self.device {
            tags.push(tag("device", device.as_str()));
        }
        if let (Some(share), CallBody::Offer { .. } | CallBody::Answer { .. }) =
            (&self.pq_share, &self.body)
        {
            tags.push(vec!["pq".into(), PQ_SCHEME.into(), BASE64.encode(share)]);
        }
        match (&self.phone, &self.body) {
            (
                Some(leg @ PhoneLeg::Phone { .. }),
                CallBody::Offer { .. } | CallBody::Answer { .. },
            )
            | (Some(leg @ PhoneLeg::Dial { .. }), CallBody::Offer { .. }) => {
                tags.push(leg.to_tag())
            }
            _ => {}
        }
        let content = match &self.body {
            CallBody::Offer { sdp, .. }
            | CallBody::Answer { sdp }
            | CallBody::Renegotiate { sdp } => sdp.clone(),
            CallBody::IceCandidates(candidates) => match candidates.as_slice() {
                [single] => json!(single).to_string(),
                several => json!(several).to_string(),
            },
            CallBody::Hangup { reason } | CallBody::Reject { reason } => {
                reason.clone().unwrap_or_default()
            }
            CallBody::ModeSwitchRequest { mode } => json!({ "mode": mode }).to_string(),
            CallBody::ModeSwitchAck { mode, accepted } => {
                json!({ "mode": mode, "accepted": accepted }).to_string()
            }
            CallBody::HandledElsewhere { outcome } => json!({ "outcome": outcome }).to_string(),
            CallBody::GroupKeys { mls, data } => {
                json!({ "mls": mls, "data": BASE64.encode(data) }).to_string()
            }
        };
        (self.kind().as_u16(), tags, content)
    }

    /// Validate a whole rumor JSON object against its kind's schema (and its JSON content
    /// against the content schema), then parse it. An unknown kind gives
    /// [`SchemaError::UnregisteredKind`].
    pub fn from_rumor_json(rumor: &Value) -> Result<CallMessage, SchemaError> {
        let (kind, content_json) = validate::check(rumor)?;
        let unparsable = |field| SchemaError::Unparsable {
            kind: kind.as_u16(),
            field,
        };
        // The schema guarantees the shapes read below; a mismatch is reported, not panicked on.
        let tags = rumor["tags"].as_array().ok_or(unparsable("tags"))?;
        let tag_value = |name: &str| {
            tags.iter()
                .filter_map(Value::as_array)
                .find(|t| t.first().and_then(Value::as_str) == Some(name))
                .and_then(|t| t.get(1))
                .and_then(Value::as_str)
        };
        let mut recipients = tags
            .iter()
            .filter_map(Value::as_array)
            .filter(|t| t.first().and_then(Value::as_str) == Some("p"))
            .filter_map(|t| t.get(1).and_then(Value::as_str).map(str::to_owned));
        let peer = recipients.next().ok_or(unparsable("p tag"))?;
        let also_to: Vec<String> = recipients.collect();
        let call_id = tag_value("call-id")
            .and_then(|s| s.parse().ok())
            .ok_or(unparsable("call-id tag"))?;
        let mode = tag_value("mode")
            .map(str::parse)
            .transpose()
            .map_err(|_| unparsable("mode tag"))?;
        let device = tag_value("device")
            .map(str::parse)
            .transpose()
            .map_err(|_| unparsable("device tag"))?;
        let content = rumor["content"].as_str().ok_or(unparsable("content"))?;
        let json = || content_json.as_ref().ok_or(unparsable("content"));
        let json_str = |field: &'static str| {
            json().and_then(|v| v[field].as_str().ok_or(unparsable("content")))
        };
        let optional_reason = || (!content.is_empty()).then(|| content.to_owned());

        let body = match kind {
            CallKind::Offer => CallBody::Offer {
                sdp: content.to_owned(),
                call_type: tag_value("call-type")
                    .and_then(|s| s.parse().ok())
                    .ok_or(unparsable("call-type tag"))?,
            },
            CallKind::Answer => CallBody::Answer {
                sdp: content.to_owned(),
            },
            CallKind::IceCandidates => {
                let candidates = match json()? {
                    Value::Array(items) => items.iter().map(IceCandidate::from_validated).collect(),
                    single => IceCandidate::from_validated(single).map(|c| vec![c]),
                };
                CallBody::IceCandidates(candidates.ok_or(unparsable("ice candidate"))?)
            }
            CallKind::Hangup => CallBody::Hangup {
                reason: optional_reason(),
            },
            CallKind::Reject => CallBody::Reject {
                reason: optional_reason(),
            },
            CallKind::Renegotiate => CallBody::Renegotiate {
                sdp: content.to_owned(),
            },
            CallKind::ModeSwitchRequest => CallBody::ModeSwitchRequest {
                mode: json_str("mode")?
                    .parse()
                    .map_err(|_| unparsable("content"))?,
            },
            CallKind::ModeSwitchAck => CallBody::ModeSwitchAck {
                mode: json_str("mode")?
                    .parse()
                    .map_err(|_| unparsable("content"))?,
                accepted: json()?["accepted"].as_bool().ok_or(unparsable("content"))?,
            },
            CallKind::HandledElsewhere => CallBody::HandledElsewhere {
                outcome: json_str("outcome")?
                    .parse()
                    .map_err(|_| unparsable("content"))?,
            },
            CallKind::GroupKeys => CallBody::GroupKeys {
                mls: json_str("mls")?
                    .parse()
                    .map_err(|_| unparsable("content"))?,
                data: BASE64
                    .decode(json_str("data")?)
                    .ok()
                    .filter(|d| d.len() <= crate::MAX_GROUP_KEYS_LEN)
                    .ok_or(unparsable("content"))?,
            },
        };
        let pq_share = match kind {
            CallKind::Offer | CallKind::Answer => tags
                .iter()
                .filter_map(Value::as_array)
                .find(|t| t.first().and_then(Value::as_str) == Some("pq"))
                // A scheme we do not know is ignored (a newer client's), not refused.
                .filter(|t| t.get(1).and_then(Value::as_str) == Some(PQ_SCHEME))
                .map(|t| {
                    t.get(2)
                        .and_then(Value::as_str)
                        .and_then(|b64| BASE64.decode(b64).ok())
                        .ok_or(unparsable("pq tag"))
                })
                .transpose()?,
            _ => None,
        };
        let phone = match (kind, tag_value("phone"), tag_value("dial")) {
            (CallKind::Offer | CallKind::Answer, Some(shown), None) => {
                let reference = tags
                    .iter()
                    .filter_map(Value::as_array)
                    .find(|t| t.first().and_then(Value::as_str) == Some("phone"))
                    .and_then(|t| t.get(2))
                    .map(|r| r.as_str().and_then(PhoneRef::from_hex))
                    .map(|r| r.ok_or(unparsable("phone tag reference")))
                    .transpose()?;
                let leg = match reference {
                    Some(r) => PhoneLeg::phone_with_reference(shown, r),
                    None => PhoneLeg::phone(shown),
                };
                Some(leg.ok_or(unparsable("phone tag"))?)
            }
            (CallKind::Offer, None, Some(number)) => {
                Some(PhoneLeg::dial(number).ok_or(unparsable("dial tag"))?)
            }
            // A gateway's own leg and a number to dial exclude each other.
            (CallKind::Offer, Some(_), Some(_)) => return Err(unparsable("phone and dial tags")),
            _ => None,
        };
        Ok(CallMessage {
            call_id,
            peer,
            also_to,
            mode,
            device,
            body,
            pq_share,
            phone,
        })
    }
}
