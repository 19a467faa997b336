//! Value types carried in call message tags and contents.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A string could not be parsed into one of this crate's value types.
///
/// Names only what was expected, never the rejected input.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("invalid {what}")]
pub struct ParseValueError {
    /// What was expected, e.g. `"privacy mode"`.
    pub what: &'static str,
}

/// Implements `as_str`, `Display` and `FromStr` for a fieldless enum from one name table.
macro_rules! string_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The wire name (lowercase).
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = ParseValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(ParseValueError { what: $what }),
                }
            }
        }
    };
}

/// PhantomCall privacy mode. Ordered by privacy: `Fast < Private < Paranoid`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyMode {
    /// Direct peer-to-peer media, lowest latency.
    Fast,
    /// The default mode.
    #[default]
    Private,
    /// Strongest protection, highest cost.
    Paranoid,
}
string_enum!(PrivacyMode, "privacy mode", { Fast => "fast", Private => "private", Paranoid => "paranoid" });

/// Media of a call (NIP-AC `call-type` tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallType {
    /// Audio only.
    Voice,
    /// Audio and video.
    Video,
}
string_enum!(CallType, "call type", { Voice => "voice", Video => "video" });

/// How another device of the same user handled a call (kind 25062).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandledOutcome {
    /// The call was answered on that device.
    Answered,
    /// The call was rejected on that device.
    Rejected,
}
string_enum!(HandledOutcome, "handled outcome", { Answered => "answered", Rejected => "rejected" });

/// Which MLS message a group-keys message (kind 25063) carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupKeysKind {
    /// A joining member's key package, for whoever commits.
    KeyPackage,
    /// The welcome that lets a newcomer into the group.
    Welcome,
    /// A commit (someone joined or left): a new epoch.
    Commit,
}
string_enum!(GroupKeysKind, "group keys message", { KeyPackage => "key-package", Welcome => "welcome", Commit => "commit" });

/// Call identifier: a UUID, written in lowercase canonical 8-4-4-4-12 form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(Uuid);

impl CallId {
    /// A fresh random (v4) call id.
    pub fn new_random() -> Self {
        CallId(Uuid::new_v4())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for CallId {
    fn from(uuid: Uuid) -> Self {
        CallId(uuid)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Uuid`'s Display is the lowercase hyphenated form.
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for CallId {
    type Err = ParseValueError;

    /// Accepts only the lowercase canonical form (what the schema's `uuid` pattern allows).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const ERR: ParseValueError = ParseValueError { what: "call id" };
        if s.len() != 36 {
            return Err(ERR);
        }
        let uuid = Uuid::try_parse(s).map_err(|_| ERR)?;
        let mut buf = Uuid::encode_buffer();
        if uuid.hyphenated().encode_lower(&mut buf) != s {
            return Err(ERR);
        }
        Ok(CallId(uuid))
    }
}

/// Random per-install device id: 8 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(String);

impl DeviceId {
    /// Shortest accepted device id.
    pub const MIN_LEN: usize = 8;
    /// Longest accepted device id.
    pub const MAX_LEN: usize = 64;

    /// A fresh random device id: 16 URL-safe characters (about 94 random bits, drawn from
    /// the OS generator through a v4 UUID).
    pub fn new_random() -> Self {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let id = Uuid::new_v4()
            .as_bytes()
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 63)]))
            .collect();
        DeviceId(id)
    }

    /// The id as sent in the `device` tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DeviceId {
    type Err = ParseValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(DeviceId(s.to_owned()))
        } else {
            Err(ParseValueError { what: "device id" })
        }
    }
}

/// Serde as the `Display` string; deserialization validates like `FromStr`.
macro_rules! serde_via_str {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(CallId);
serde_via_str!(DeviceId);

/// One ICE candidate, as WebRTC's `RTCIceCandidateInit` serializes it
/// (`{"candidate": ..., "sdpMid": ..., "sdpMLineIndex": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IceCandidate {
    /// The `candidate:` line; empty for the end-of-candidates marker.
    pub candidate: String,
    /// Media stream identification of the m-line, if known.
    #[serde(rename = "sdpMid", default)]
    pub sdp_mid: Option<String>,
    /// Index of the m-line, if known.
    #[serde(rename = "sdpMLineIndex", default)]
    pub sdp_mline_index: Option<u16>,
}

impl IceCandidate {
    /// Reads a candidate from an already schema-validated JSON value. Unlike serde, this
    /// also takes an integral float (`0.0`) as index, as JSON Schema's `integer` does.
    pub(crate) fn from_validated(value: &serde_json::Value) -> Option<Self> {
        use serde_json::Value;
        let obj = value.as_object()?;
        let candidate = obj.get("candidate")?.as_str()?.to_owned();
        let sdp_mid = match obj.get("sdpMid") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_str()?.to_owned()),
        };
        let sdp_mline_index = match obj.get("sdpMLineIndex") {
            None | Some(Value::Null) => None,
            Some(v) => Some(integral_u16(v)?),
        };
        Some(IceCandidate {
            candidate,
            sdp_mid,
            sdp_mline_index,
        })
    }
}

fn integral_u16(v: &serde_json::Value) -> Option<u16> {
    if let Some(n) = v.as_u64() {
        return u16::try_from(n).ok();
    }
    let f = v.as_f64()?;
    if f.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&f) {
        // In range and integral: the cast is exact.
        Some(f as u16)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privacy_modes_are_ordered_by_privacy_and_default_to_private() {
        assert!(PrivacyMode::Fast < PrivacyMode::Private);
        assert!(PrivacyMode::Private < PrivacyMode::Paranoid);
        assert_eq!(PrivacyMode::default(), PrivacyMode::Private);
        for m in [
            PrivacyMode::Fast,
            PrivacyMode::Private,
            PrivacyMode::Paranoid,
        ] {
            assert_eq!(m.to_string().parse::<PrivacyMode>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        assert!("Fast".parse::<PrivacyMode>().is_err());
        assert!("turbo".parse::<PrivacyMode>().is_err());
    }

    #[test]
    fn call_id_accepts_only_lowercase_canonical_form() {
        let id = CallId::new_random();
        assert_eq!(id.to_string().parse::<CallId>(), Ok(id));
        let canonical = "550e8400-e29b-41d4-a716-446655440000";
        assert_eq!(canonical.parse::<CallId>().unwrap().to_string(), canonical);
        for bad in [
            "550E8400-E29B-41D4-A716-446655440000",
            "550e8400e29b41d4a716446655440000",
            "{550e8400-e29b-41d4-a716-446655440000}",
            "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
            "550e8400-e29b-41d4-a716-44665544000g",
            "",
        ] {
            assert!(bad.parse::<CallId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn random_device_ids_are_valid_and_distinct() {
        let a = DeviceId::new_random();
        let b = DeviceId::new_random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 16);
        assert_eq!(a.as_str().parse::<DeviceId>(), Ok(a));
        assert!("short".parse::<DeviceId>().is_err());
        assert!("has space in it".parse::<DeviceId>().is_err());
        assert!("x".repeat(65).parse::<DeviceId>().is_err());
        assert!("x".repeat(64).parse::<DeviceId>().is_ok());
    }

    #[test]
    fn ice_candidate_uses_webrtc_member_names() {
        let c = IceCandidate {
            candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["sdpMid"], "0");
        assert_eq!(v["sdpMLineIndex"], 0);
        assert_eq!(IceCandidate::from_validated(&v), Some(c.clone()));
        let float_index =
            serde_json::json!({"candidate": c.candidate, "sdpMid": "0", "sdpMLineIndex": 0.0});
        assert_eq!(IceCandidate::from_validated(&float_index), Some(c));
    }
}
