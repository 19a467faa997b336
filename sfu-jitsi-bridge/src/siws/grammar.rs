//! The ABNF rules of the SIWS message's fields (phantom's sign-in-with-solana README, with
//! RFC 3986 for `authority`, `URI` and `pchar`), each a check returning the reason it fails.
//! A child of `message.rs`, included by path so the fuzz crate compiles the pair on its own.

use super::{
    MAX_DOMAIN_LEN, MAX_NONCE_LEN, MAX_REQUEST_ID_LEN, MAX_STATEMENT_LEN, MAX_URI_LEN,
    MIN_NONCE_LEN,
};

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~".contains(&c)
}

fn is_sub_delim(c: u8) -> bool {
    b"!$&'()*+,;=".contains(&c)
}

fn is_reserved(c: u8) -> bool {
    b":/?#[]@".contains(&c) || is_sub_delim(c)
}

/// Percent-encoded triplets are well formed.
fn pct_ok(s: &[u8], i: usize) -> bool {
    s.len() > i + 2 && s[i + 1].is_ascii_hexdigit() && s[i + 2].is_ascii_hexdigit()
}

pub(super) fn check_domain(d: &str) -> Result<(), &'static str> {
    if d.is_empty() || d.len() > MAX_DOMAIN_LEN {
        return Err("domain is empty or too long");
    }
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err("unterminated IPv6 literal in domain");
        };
        let literal = &rest[..end];
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return Err("bad IPv6 literal in domain");
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(port) => (literal, Some(port)),
            None if after.is_empty() => (literal, None),
            None => return Err("unexpected characters after IPv6 literal"),
        }
    } else {
        match d.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (d, None),
        }
    };
    if !d.starts_with('[') && (host.is_empty() || !host.bytes().all(is_unreserved)) {
        return Err("domain host may hold only letters, digits and '-._~'");
    }
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit()) {
            return Err("domain port must be 1 to 5 digits");
        }
        if port.parse::<u32>().map_or(true, |p| p > 65535) {
            return Err("domain port above 65535");
        }
    }
    Ok(())
}

pub(super) fn check_address(a: &str) -> Result<(), &'static str> {
    // The ABNF: 32 to 44 characters of the base58 alphabet.
    if !(32..=44).contains(&a.len()) {
        return Err("address must be 32 to 44 base58 characters");
    }
    match bs58::decode(a).into_vec() {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        Ok(_) => Err("address does not decode to a 32-byte key"),
        Err(_) => Err("address is not base58"),
    }
}

pub(super) fn check_statement(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty statement");
    }
    if s.len() > MAX_STATEMENT_LEN {
        return Err("statement too long");
    }
    if !s
        .bytes()
        .all(|c| is_reserved(c) || is_unreserved(c) || c == b' ')
    {
        return Err("statement holds a character outside the specification's set");
    }
    Ok(())
}

/// RFC 3986 `URI`, checked for a scheme and the URI character set; its structure is read by
/// the `url` crate where it matters (the `URI:` origin check at verification).
pub(super) fn check_uri(u: &str) -> Result<(), &'static str> {
    if u.is_empty() || u.len() > MAX_URI_LEN {
        return Err("URI is empty or too long");
    }
    let Some((scheme, _)) = u.split_once(':') else {
        return Err("URI has no scheme");
    };
    let sb = scheme.as_bytes();
    if sb.is_empty()
        || !sb[0].is_ascii_alphabetic()
        || !sb
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
    {
        return Err("URI scheme is malformed");
    }
    // The two hex digits after a '%' are themselves unreserved characters.
    let b = u.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if !(is_unreserved(c) || is_reserved(c) || (c == b'%' && pct_ok(b, i))) {
            return Err("URI holds a character outside RFC 3986");
        }
    }
    Ok(())
}

pub(super) fn check_nonce(n: &str) -> Result<(), &'static str> {
    if n.len() < MIN_NONCE_LEN || n.len() > MAX_NONCE_LEN {
        return Err("nonce must be 8 to 128 characters");
    }
    if !n.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err("nonce may hold only letters and digits");
    }
    Ok(())
}

pub(super) fn check_request_id(r: &str) -> Result<(), &'static str> {
    if r.len() > MAX_REQUEST_ID_LEN {
        return Err("request id too long");
    }
    let b = r.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let pchar = is_unreserved(c) || is_sub_delim(c) || c == b':' || c == b'@';
        if !(pchar || (c == b'%' && pct_ok(b, i))) {
            return Err("request id holds a character outside RFC 3986 pchar");
        }
    }
    Ok(())
}
