//! The gateway's own SDP offer/answer (RFC 4566, RFC 3264) for exactly what a trunk
//! needs: G.711, and Opus (RFC 7587) toward trunks that offer or accept it. Read: `c=`,
//! the first `m=audio` (RTP/AVP, or RTP/SAVP with SDES keys), `a=rtpmap`,
//! `a=fmtp` of telephone-event, `a=ptime`, `a=crypto` (kept unparsed here; see
//! `crate::rtp::sdes`) and the direction attributes. Everything else is skipped. Input comes from carriers
//! and from anyone who can reach the SIP port, so every field is validated and bad input
//! is an [`SdpError`], never a panic (fuzzed: `fuzz/fuzz_targets/pstn_sdp.rs`).
//!
//! Depends on nothing but `std` and `crate::g711`, so the fuzz target includes it by path.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::g711::G711;

/// Largest SDP body accepted: trunks send well under 2 KiB; this bounds the work.
pub const MAX_SDP_LEN: usize = 16 * 1024;
/// The telephone-event/8000 payload type the gateway offers (any dynamic type works).
pub const OFFER_DTMF_PT: u8 = 101;
/// The telephone-event/48000 payload type offered beside Opus (RFC 4733 2.1: the audio's
/// clock; Asterisk and FreeSWITCH offer it with Opus, baresip and many phones /8000).
pub const OFFER_DTMF_48K_PT: u8 = 102;
/// The payload type the gateway offers Opus on (dynamic; an answer may use another).
pub const OFFER_OPUS_PT: u8 = 111;

/// A codec the SIP leg can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 at 8 kHz on its static payload type.
    G711(G711),
    /// Opus (RFC 7587): always `opus/48000/2` in SDP, on a dynamic payload type. The
    /// gateway sends mono and decodes whatever the peer sends.
    Opus,
}

impl Codec {
    /// The name written in configuration and logs (`PCMU`, `PCMA`, `opus`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::G711(law) => law.name(),
            Codec::Opus => "opus",
        }
    }

    /// The codec of a configuration name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("opus") {
            Some(Codec::Opus)
        } else {
            G711::from_name(name).map(Codec::G711)
        }
    }

    /// The RTP clock rate: RTP timestamps advance by this many units per second.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::G711(_) => 8000,
            Codec::Opus => 48_000,
        }
    }

    /// The payload type we offer it on.
    pub fn offer_payload_type(self) -> u8 {
        match self {
            Codec::G711(law) => law.payload_type(),
            Codec::Opus => OFFER_OPUS_PT,
        }
    }

    /// What follows the payload type in `a=rtpmap`.
    fn rtpmap_value(self) -> &'static str {
        match self {
            Codec::G711(G711::Pcmu) => "PCMU/8000",
            Codec::G711(G711::Pcma) => "PCMA/8000",
            Codec::Opus => "opus/48000/2",
        }
    }
}

/// Why an SDP body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    /// Longer than [`MAX_SDP_LEN`].
    TooLong,
    /// Not UTF-8 text.
    NotText,
    /// A line is not `<letter>=<value>`.
    BadLine(usize),
    /// A field's value could not be read: which field.
    BadField(&'static str),
    /// No connection address for the audio stream (`c=` missing at both levels).
    NoConnection,
    /// No `m=audio` line, or its port is 0 (stream refused).
    NoAudio,
    /// No payload format both sides support.
    NoCommonCodec,
    /// SRTP is required (or the stream is RTP/SAVP) and no `a=crypto` line is usable.
    NoUsableCrypto,
}

impl std::fmt::Display for SdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdpError::TooLong => write!(f, "SDP longer than {MAX_SDP_LEN} bytes"),
            SdpError::NotText => write!(f, "SDP is not UTF-8"),
            SdpError::BadLine(n) => write!(f, "SDP line {n} is not <type>=<value>"),
            SdpError::BadField(field) => write!(f, "SDP field {field} is malformed"),
            SdpError::NoConnection => write!(f, "SDP has no c= line for the audio"),
            SdpError::NoAudio => write!(f, "SDP has no usable m=audio stream"),
            SdpError::NoCommonCodec => write!(f, "no common codec (PCMU/PCMA/opus)"),
            SdpError::NoUsableCrypto => write!(f, "no usable SRTP key (a=crypto)"),
        }
    }
}

impl std::error::Error for SdpError {}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaDirection {
    /// Both ways (the default when absent).
    #[default]
    SendRecv,
    /// The describing side only sends.
    SendOnly,
    /// The describing side only receives.
    RecvOnly,
    /// Neither (hold).
    Inactive,
}

impl MediaDirection {
    /// The direction the other side answers with (RFC 3264 section 6.1).
    pub fn reversed(self) -> Self {
        match self {
            MediaDirection::SendOnly => MediaDirection::RecvOnly,
            MediaDirection::RecvOnly => MediaDirection::SendOnly,
            other => other,
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            MediaDirection::SendRecv => "sendrecv",
            MediaDirection::SendOnly => "sendonly",
            MediaDirection::RecvOnly => "recvonly",
            MediaDirection::Inactive => "inactive",
        }
    }
}

/// One `a=rtpmap` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Encoding name as written.
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// The encoding parameter after the rate (audio: channels), if given.
    pub channels: Option<u8>,
}

/// The parts of a session description the gateway uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// Where the audio goes: the media-level `c=` if present, else the session-level one.
    pub address: IpAddr,
    /// The `m=audio` port (never 0 here).
    pub port: u16,
    /// Payload types of the `m=audio` line, in preference order.
    pub formats: Vec<u8>,
    /// The stream's rtpmaps.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=ptime` in ms, if given.
    pub ptime: Option<u32>,
    /// Direction attribute (stream level wins over session level).
    pub direction: MediaDirection,
    /// The stream's profile is RTP/SAVP (SRTP only).
    pub savp: bool,
    /// The stream's `a=crypto` values, unparsed (see `crate::rtp::sdes`), in order.
    pub crypto: Vec<String>,
}

/// Largest number of payload types read from an `m=` line (more is an attack, not a trunk).
const MAX_FORMATS: usize = 64;
/// Largest number of lines read.
const MAX_LINES: usize = 512;
/// Largest number of `a=crypto` lines kept (RFC 4568 peers offer one to a few).
const MAX_CRYPTO: usize = 8;

fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    let mut parts = value.split_ascii_whitespace();
    let (Some("IN"), Some(kind), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SdpError::BadField("c="));
    };
    // Multicast TTL/count suffixes (`/127`) are not for trunks but are legal syntax.
    let addr = addr.split('/').next().unwrap_or(addr);
    let ip: IpAddr = addr.parse().map_err(|_| SdpError::BadField("c= address"))?;
    match (kind, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(SdpError::BadField("c= address type")),
    }
}

fn parse_payload_type(text: &str) -> Result<u8, SdpError> {
    match text.parse::<u8>() {
        Ok(pt) if pt <= 127 => Ok(pt),
        _ => Err(SdpError::BadField("payload type")),
    }
}

fn parse_rtpmap(value: &str) -> Result<RtpMap, SdpError> {
    let (pt, rest) = value
        .split_once(' ')
        .ok_or(SdpError::BadField("a=rtpmap"))?;
    let mut enc = rest.trim().split('/');
    let name = enc.next().unwrap_or("");
    let rate = enc.next().ok_or(SdpError::BadField("a=rtpmap rate"))?;
    if name.is_empty() || name.len() > 32 {
        return Err(SdpError::BadField("a=rtpmap name"));
    }
    // Read leniently: an odd value here only means the entry is not RFC 7587 Opus.
    let channels = enc.next().and_then(|c| c.parse::<u8>().ok());
    Ok(RtpMap {
        payload_type: parse_payload_type(pt)?,
        name: name.to_string(),
        clock_rate: rate
            .parse()
            .map_err(|_| SdpError::BadField("a=rtpmap rate"))?,
        channels,
    })
}

/// Parses an SDP body.
pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    if body.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLong);
    }
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut session_c = None;
    let mut session_dir = None;
    // Only the first m=audio is used; later m= sections are skipped entirely.
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut media_c = None;
    let mut port = 0u16;
    let mut formats = Vec::new();
    let mut rtpmaps = Vec::new();
    let mut ptime = None;
    let mut media_dir = None;
    let mut savp = false;
    let mut crypto = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if n >= MAX_LINES {
            return Err(SdpError::TooLong);
        }
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (kind, value) = line.split_once('=').ok_or(SdpError::BadLine(n + 1))?;
        if kind.len() != 1 {
            return Err(SdpError::BadLine(n + 1));
        }
        let in_session = !seen_audio && !in_audio;
        match kind {
            "m" => {
                if in_audio {
                    in_audio = false;
                    continue;
                }
                let mut parts = value.split_ascii_whitespace();
                let media = parts.next().ok_or(SdpError::BadField("m="))?;
                if media != "audio" || seen_audio {
                    continue;
                }
                let p = parts.next().ok_or(SdpError::BadField("m= port"))?;
                let p = p.split('/').next().unwrap_or(p);
                port = p.parse().map_err(|_| SdpError::BadField("m= port"))?;
                let proto = parts.next().ok_or(SdpError::BadField("m= proto"))?;
                // RTP/SAVP: SRTP with SDES keys. DTLS-SRTP (UDP/TLS/RTP/SAVP) and the
                // feedback profiles are not for trunks.
                if proto.eq_ignore_ascii_case("RTP/SAVP") {
                    savp = true;
                } else if !proto.eq_ignore_ascii_case("RTP/AVP") {
                    return Err(SdpError::BadField("m= proto"));
                }
                for pt in parts {
                    if formats.len() >= MAX_FORMATS {
                        return Err(SdpError::BadField("m= formats"));
                    }
                    formats.push(parse_payload_type(pt)?);
                }
                in_audio = true;
                seen_audio = true;
            }
            "c" if in_session => session_c = Some(parse_connection(value)?),
            "c" if in_audio => media_c = Some(parse_connection(value)?),
            "a" if in_session || in_audio => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let dir = match name {
                    "sendrecv" => Some(MediaDirection::SendRecv),
                    "sendonly" => Some(MediaDirection::SendOnly),
                    "recvonly" => Some(MediaDirection::RecvOnly),
                    "inactive" => Some(MediaDirection::Inactive),
                    _ => None,
                };
                if let Some(dir) = dir {
                    if in_audio {
                        media_dir = Some(dir);
                    } else {
                        session_dir = Some(dir);
                    }
                } else if in_audio && name == "rtpmap" {
                    if rtpmaps.len() >= MAX_FORMATS {
                        return Err(SdpError::BadField("a=rtpmap"));
                    }
                    rtpmaps.push(parse_rtpmap(arg)?);
                } else if in_audio && name == "ptime" {
                    let ms: u32 = arg
                        .trim()
                        .parse()
                        .map_err(|_| SdpError::BadField("a=ptime"))?;
                    if !(1..=1000).contains(&ms) {
                        return Err(SdpError::BadField("a=ptime"));
                    }
                    ptime = Some(ms);
                } else if in_audio && name == "crypto" {
                    if crypto.len() >= MAX_CRYPTO {
                        return Err(SdpError::BadField("a=crypto"));
                    }
                    crypto.push(arg.to_string());
                }
            }
            _ => {}
        }
    }
    if !seen_audio || port == 0 {
        return Err(SdpError::NoAudio);
    }
    Ok(SessionDescription {
        address: media_c.or(session_c).ok_or(SdpError::NoConnection)?,
        port,
        formats,
        rtpmaps,
        ptime,
        direction: media_dir.or(session_dir).unwrap_or_default(),
        savp,
        crypto,
    })
}

/// What both sides agreed on for a call's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec in use.
    pub codec: Codec,
    /// Its payload type (G.711: static 0 or 8; Opus: the one the offer named).
    pub codec_pt: u8,
    /// The telephone-event payload type, if the peer supports RFC 4733.
    pub dtmf_pt: Option<u8>,
    /// Its clock rate as the peer wrote it (events are timed in the audio's clock).
    pub dtmf_clock: u32,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// Our direction (what we may do: `SendRecv`, or `RecvOnly` when the peer only sends...).
    pub direction: MediaDirection,
}

impl SessionDescription {
    fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == pt)
    }

    /// The codec of a payload type: its rtpmap, or the static assignment of RFC 3551.
    /// Opus only as RFC 7587 writes it (`opus/48000/2`): a dynamic type needs its rtpmap.
    fn codec_of(&self, pt: u8) -> Option<Codec> {
        match self.rtpmap(pt) {
            Some(map) if map.clock_rate == 8000 => G711::from_name(&map.name).map(Codec::G711),
            Some(map)
                if map.clock_rate == 48_000
                    && map.channels == Some(2)
                    && map.name.eq_ignore_ascii_case("opus") =>
            {
                Some(Codec::Opus)
            }
            Some(_) => None,
            None => [G711::Pcmu, G711::Pcma]
                .into_iter()
                .find(|c| c.payload_type() == pt)
                .map(Codec::G711),
        }
    }

    /// The telephone-event payload type offered at `clock_rate`, if any.
    pub fn telephone_event_at(&self, clock_rate: u32) -> Option<u8> {
        self.formats.iter().copied().find(|&pt| {
            self.rtpmap(pt).is_some_and(|m| {
                m.name.eq_ignore_ascii_case("telephone-event") && m.clock_rate == clock_rate
            })
        })
    }

    /// The telephone-event to use with `codec`, and its clock rate: the one in the
    /// codec's clock (RFC 4733 section 2.1), else /8000, which baresip and many phones
    /// offer even beside Opus (they time the events in the audio's clock all the same).
    pub fn telephone_event_for(&self, codec: Codec) -> Option<(u8, u32)> {
        [codec.clock_rate(), 8000]
            .into_iter()
            .find_map(|rate| Some((self.telephone_event_at(rate)?, rate)))
    }

    /// Picks the first of the peer's formats that `allowed` contains (the peer's order
    /// wins, as RFC 3264 suggests for an answerer) and the peer's telephone-event.
    pub fn negotiate(&self, allowed: &[Codec]) -> Result<Negotiated, SdpError> {
        self.negotiate_with(allowed, false)
    }

    /// [`SessionDescription::negotiate`], but with `opus_first` Opus is taken whenever
    /// the peer offered it and `allowed` has it, wherever the peer listed it (a trunk
    /// set to prefer Opus). Only ever a codec the peer wrote.
    pub fn negotiate_with(
        &self,
        allowed: &[Codec],
        opus_first: bool,
    ) -> Result<Negotiated, SdpError> {
        let find = |want: &dyn Fn(Codec) -> bool| {
            self.formats.iter().find_map(|&pt| {
                self.codec_of(pt)
                    .filter(|&c| allowed.contains(&c) && want(c))
                    .map(|c| (pt, c))
            })
        };
        let preferred = if opus_first {
            find(&|c| c == Codec::Opus)
        } else {
            None
        };
        let (codec_pt, codec) = preferred
            .or_else(|| find(&|_| true))
            .ok_or(SdpError::NoCommonCodec)?;
        let dtmf = self.telephone_event_for(codec);
        Ok(Negotiated {
            codec,
            codec_pt,
            dtmf_pt: dtmf.map(|(pt, _)| pt),
            dtmf_clock: dtmf.map_or(8000, |(_, rate)| rate),
            remote: SocketAddr::new(self.address, self.port),
            direction: self.direction.reversed(),
        })
    }
}

/// Our side of a session: where we receive RTP and what we support.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// Our RTP address as the peer should reach it.
    pub address: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// The `o=` session id (stable for the call; the version goes up on changes).
    pub session_id: u64,
}

fn write_header(out: &mut String, local: &LocalMedia, version: u64) {
    let kind = if local.address.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    };
    let _ = write!(
        out,
        "v=0\r\no=- {id} {version} IN {kind} {addr}\r\ns=-\r\nc=IN {kind} {addr}\r\nt=0 0\r\n",
        id = local.session_id,
        addr = local.address,
    );
}

/// `dtmf`: telephone-event payload types and their clock rates.
fn write_codec_lines(out: &mut String, codecs: &[(u8, Codec)], dtmf: &[(u8, u32)]) {
    for (pt, codec) in codecs {
        let _ = write!(out, "a=rtpmap:{pt} {}\r\n", codec.rtpmap_value());
        if *codec == Codec::Opus {
            // We send mono (RFC 7587 section 7: the peer may still send stereo).
            let _ = write!(out, "a=fmtp:{pt} stereo=0;sprop-stereo=0\r\n");
        }
    }
    for (pt, rate) in dtmf {
        let _ = write!(
            out,
            "a=rtpmap:{pt} telephone-event/{rate}\r\na=fmtp:{pt} 0-15\r\n"
        );
    }
    out.push_str("a=ptime:20\r\n");
}

/// Our SRTP side of an SDP: the `a=crypto` value we send (it holds our key: `Debug`
/// hides it) and whether the stream is declared RTP/SAVP.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalCrypto {
    /// `<tag> <suite> inline:<key>`.
    pub attribute: String,
    /// RTP/SAVP (SRTP only) rather than RTP/AVP with an optional key (RFC 4568 allows
    /// both; SAVP is what an SRTP-required peer expects).
    pub savp: bool,
}

impl std::fmt::Debug for LocalCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCrypto")
            .field("savp", &self.savp)
            .finish_non_exhaustive()
    }
}

fn profile(crypto: Option<&LocalCrypto>) -> &'static str {
    match crypto {
        Some(c) if c.savp => "RTP/SAVP",
        _ => "RTP/AVP",
    }
}

fn write_crypto(out: &mut String, crypto: Option<&LocalCrypto>) {
    if let Some(c) = crypto {
        let _ = write!(out, "a=crypto:{}\r\n", c.attribute);
    }
}

/// Builds an offer of `codecs` (in preference order) plus telephone-event: /8000, and
/// /48000 as well when Opus is offered (the answerer keeps the one it knows).
pub fn build_offer(local: &LocalMedia, codecs: &[Codec]) -> String {
    build_secure_offer(local, codecs, None)
}

/// [`build_offer`] with our SRTP key, if any.
pub fn build_secure_offer(
    local: &LocalMedia,
    codecs: &[Codec],
    crypto: Option<&LocalCrypto>,
) -> String {
    let mut out = String::new();
    write_header(&mut out, local, 1);
    let pts: Vec<(u8, Codec)> = codecs
        .iter()
        .map(|c| (c.offer_payload_type(), *c))
        .collect();
    let mut dtmf = vec![(OFFER_DTMF_PT, 8000)];
    if codecs.contains(&Codec::Opus) {
        dtmf.push((OFFER_DTMF_48K_PT, 48_000));
    }
    let _ = write!(out, "m=audio {} {}", local.port, profile(crypto));
    for pt in pts.iter().map(|p| p.0).chain(dtmf.iter().map(|d| d.0)) {
        let _ = write!(out, " {pt}");
    }
    out.push_str("\r\n");
    write_codec_lines(&mut out, &pts, &dtmf);
    write_crypto(&mut out, crypto);
    out.push_str("a=sendrecv\r\n");
    out
}

/// Builds the answer to an offer that was negotiated as `agreed` (the same media every
/// time, so a re-INVITE gets an identical answer with the version bumped).
pub fn build_answer(local: &LocalMedia, agreed: &Negotiated, version: u64) -> String {
    build_secure_answer(local, agreed, version, None)
}

/// [`build_answer`] with our SRTP key (its tag the one picked from the offer), if any.
pub fn build_secure_answer(
    local: &LocalMedia,
    agreed: &Negotiated,
    version: u64,
    crypto: Option<&LocalCrypto>,
) -> String {
    let mut out = String::new();
    write_header(&mut out, local, version);
    let _ = write!(
        out,
        "m=audio {} {} {}",
        local.port,
        profile(crypto),
        agreed.codec_pt
    );
    if let Some(pt) = agreed.dtmf_pt {
        let _ = write!(out, " {pt}");
    }
    out.push_str("\r\n");
    let dtmf = agreed.dtmf_pt.map(|pt| (pt, agreed.dtmf_clock));
    let codec = [(agreed.codec_pt, agreed.codec)];
    write_codec_lines(&mut out, &codec, dtmf.as_slice());
    write_crypto(&mut out, crypto);
    let _ = write!(out, "a={}\r\n", agreed.direction.attribute());
    out
}

#[cfg(test)]
mod tests;
