//! Server-side HTTP digest (RFC 2617 / RFC 3261 section 22) for challenging a carrier's
//! INVITEs with 407 when a trunk is configured with `inbound_auth`. The client side
//! (answering a trunk's 401/407) is rsipstack's.
//!
//! The `Proxy-Authorization` parser is the gateway's own and reads untrusted input: it is
//! bounded, never panics, and is fuzzed with the SDP parser.

use md5::{Digest as _, Md5};

/// Longest header value read.
const MAX_HEADER: usize = 4096;

/// The parameters of a `Digest` credentials header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestResponse {
    /// `username`
    pub username: String,
    /// `realm`
    pub realm: String,
    /// `nonce`
    pub nonce: String,
    /// `uri`
    pub uri: String,
    /// `response`
    pub response: String,
    /// `qop` (only `auth` is supported)
    pub qop: Option<String>,
    /// `nc`
    pub nc: Option<String>,
    /// `cnonce`
    pub cnonce: Option<String>,
    /// `algorithm` (only MD5)
    pub algorithm: Option<String>,
}

/// Parses `Digest k=v, k="v", ...`. Returns `None` for anything else.
pub fn parse_credentials(value: &str) -> Option<DigestResponse> {
    if value.len() > MAX_HEADER {
        return None;
    }
    let rest = value.trim_start();
    let scheme_end = rest.find(char::is_whitespace)?;
    if !rest[..scheme_end].eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut out = DigestResponse::default();
    let mut rest = rest[scheme_end..].trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let val;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"')?;
            val = &quoted[..end];
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            val = rest[..end].trim();
            rest = &rest[end..];
        }
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        let v = val.to_string();
        match key.as_str() {
            "username" => out.username = v,
            "realm" => out.realm = v,
            "nonce" => out.nonce = v,
            "uri" => out.uri = v,
            "response" => out.response = v,
            "qop" => out.qop = Some(v),
            "nc" => out.nc = Some(v),
            "cnonce" => out.cnonce = Some(v),
            "algorithm" => out.algorithm = Some(v),
            _ => {}
        }
    }
    Some(out)
}

fn md5_hex(input: &str) -> String {
    let digest = Md5::digest(input.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Proxy-Authenticate` value of a challenge.
pub fn challenge(realm: &str, nonce: &str) -> String {
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"")
}

/// Checks a response against the expected credentials and `method`. The caller checks
/// that the nonce is one it issued.
pub fn verify(
    creds: &DigestResponse,
    method: &str,
    username: &str,
    realm: &str,
    password: &str,
) -> bool {
    if creds.username != username || creds.realm != realm {
        return false;
    }
    if creds
        .algorithm
        .as_deref()
        .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return false;
    }
    let ha1 = md5_hex(&format!("{username}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{}", creds.uri));
    let expected = match (&creds.qop, &creds.nc, &creds.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) if qop.eq_ignore_ascii_case("auth") => {
            md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", creds.nonce))
        }
        (None, _, _) => md5_hex(&format!("{ha1}:{}:{ha2}", creds.nonce)),
        _ => return false,
    };
    // Not secret-dependent timing worth guarding: the nonce changes every challenge.
    expected.eq_ignore_ascii_case(&creds.response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_verifies() {
        // RFC 2617 section 3.5's worked example.
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let creds = parse_credentials(header).unwrap();
        assert_eq!(creds.nc.as_deref(), Some("00000001"));
        assert!(verify(
            &creds,
            "GET",
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life"
        ));
        assert!(!verify(
            &creds,
            "GET",
            "Mufasa",
            "testrealm@host.com",
            "wrong"
        ));
        assert!(!verify(
            &creds,
            "INVITE",
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life"
        ));
    }

    #[test]
    fn junk_is_refused() {
        for junk in [
            "",
            "Basic abc",
            "Digest",
            "Digest username=\"unterminated",
            "Digest ===",
            "Digest a",
        ] {
            let parsed = parse_credentials(junk);
            assert!(
                parsed.is_none() || parsed.unwrap().response.is_empty(),
                "{junk}"
            );
        }
        assert!(parse_credentials(&format!("Digest {}", "a=b,".repeat(2000))).is_none());
    }
}
