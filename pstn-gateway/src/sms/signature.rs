//! Provider request signatures: proof that a webhook request comes from the provider that
//! holds our auth token, and that neither the URL nor the parameters were changed.
//!
//! - Twilio (`X-Twilio-Signature`): base64 HMAC-SHA1, keyed with the auth token, over the
//!   full URL the provider called followed by every POST parameter, sorted by name, as
//!   name and value concatenated with no separator.
//! - Plivo V3 (`X-Plivo-Signature-V3`, `X-Plivo-Signature-V3-Nonce`): base64 HMAC-SHA256,
//!   keyed with the auth token, over `URL.nonce`, where for a POST the URL is the base URL
//!   (scheme, host, path), `?`, the URL's own query parameters sorted (`k=v&...`), a `.` if
//!   there were any, then the POST parameters sorted as name+value. The header may carry
//!   several signatures separated by commas (one per active token); any one matching is
//!   enough. This follows Plivo's SDKs, which Plivo's documentation points to for V3.
//!
//! Plivo's older V2 signature covers only the URL and the nonce, not the parameters, so a
//! captured V2 header would authenticate a forged message body: it is not accepted.
//!
//! Comparisons are constant-time (`hmac`'s `verify_slice` on the decoded signature).

use base64::Engine as _;
use hmac::{Hmac, Mac};

type HmacSha1 = Hmac<sha1::Sha1>;
type HmacSha256 = Hmac<sha2::Sha256>;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Sorts parameters by name, then value (repeated names keep a stable, defined order).
fn sorted(params: &[(String, String)]) -> Vec<&(String, String)> {
    let mut v: Vec<_> = params.iter().collect();
    v.sort();
    v
}

/// The string Twilio signs for a POST to `url` with `params`.
pub fn twilio_signed_string(url: &str, params: &[(String, String)]) -> String {
    let mut s = url.to_string();
    for (k, v) in sorted(params) {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

/// The `X-Twilio-Signature` value for a POST to `url` with `params`.
pub fn twilio_signature(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut mac = HmacSha1::new_from_slice(auth_token).expect("HMAC takes any key length");
    mac.update(twilio_signed_string(url, params).as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// Whether `header` is Twilio's signature of a POST to `url` with `params`.
pub fn verify_twilio(
    auth_token: &[u8],
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(given) = B64.decode(header.trim()) else {
        return false;
    };
    let mut mac = HmacSha1::new_from_slice(auth_token).expect("HMAC takes any key length");
    mac.update(twilio_signed_string(url, params).as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// A URL cut into its base (scheme, authority, path) and raw query, without normalising
/// anything: the provider signs the URL as configured, so `https://h` stays `https://h`
/// (no `/` added) and an explicit `:443` stays.
fn cut_url(url: &str) -> (&str, &str) {
    let url = url.split('#').next().unwrap_or(url);
    match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    }
}

/// `k=v&k=v` for the query parameters, sorted by name and, for a repeated name, by value.
fn sorted_query(pairs: &[(String, String)]) -> String {
    sorted(pairs)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// HTTP method of the request a Plivo signature is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Parameters in the query string only.
    Get,
    /// Parameters in a form body (what the SMS webhooks use).
    Post,
}

/// The string Plivo signs (before `.nonce` is appended) for a request to `url`.
pub fn plivo_v3_base(method: Method, url: &str, params: &[(String, String)]) -> String {
    let (base, query) = cut_url(url);
    let mut query_pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match method {
        Method::Get => {
            query_pairs.extend(params.iter().cloned());
            let q = sorted_query(&query_pairs);
            if q.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{q}")
            }
        }
        Method::Post => {
            let q = sorted_query(&query_pairs);
            let mut s = base.to_string();
            if !q.is_empty() || !params.is_empty() {
                s.push('?');
                s.push_str(&q);
            }
            if !q.is_empty() && !params.is_empty() {
                s.push('.');
            }
            for (k, v) in sorted(params) {
                s.push_str(k);
                s.push_str(v);
            }
            s
        }
    }
}

/// The `X-Plivo-Signature-V3` value for a request.
pub fn plivo_v3_signature(
    auth_token: &[u8],
    method: Method,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
) -> String {
    let mut mac = HmacSha256::new_from_slice(auth_token).expect("HMAC takes any key length");
    mac.update(format!("{}.{nonce}", plivo_v3_base(method, url, params)).as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// Whether one of the comma-separated signatures in `header` is Plivo's V3 signature of
/// the request.
pub fn verify_plivo_v3(
    auth_token: &[u8],
    method: Method,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
    header: &str,
) -> bool {
    if nonce.is_empty() {
        return false;
    }
    let signed = format!("{}.{nonce}", plivo_v3_base(method, url, params));
    // At most a handful of tokens are active at once; more is not a genuine header.
    header.split(',').take(4).any(|candidate| {
        let Ok(given) = B64.decode(candidate.trim()) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(auth_token).expect("HMAC takes any key length");
        mac.update(signed.as_bytes());
        mac.verify_slice(&given).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Twilio's documented example ("Validating requests", twilio.com/docs/usage/security
    /// and the twilio-php validation guide): auth token 12345, a POST to
    /// https://mycompany.com/myapp.php?foo=1&bar=2 with these parameters, signature
    /// RSOYDt4T1cUTdK1PDd93/VVr8B8=.
    fn twilio_doc_example() -> (&'static str, Vec<(String, String)>) {
        (
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            p(&[
                ("CallSid", "CA1234567890ABCDE"),
                ("Caller", "+14158675309"),
                ("Digits", "1234"),
                ("From", "+14158675309"),
                ("To", "+18005551212"),
            ]),
        )
    }

    #[test]
    fn twilio_documentation_example_verifies() {
        let (url, params) = twilio_doc_example();
        assert!(verify_twilio(
            b"12345",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert_eq!(
            twilio_signature(b"12345", url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn twilio_signature_fails_for_another_token_url_or_parameter() {
        let (url, mut params) = twilio_doc_example();
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(!verify_twilio(b"12346", url, &params, sig));
        assert!(!verify_twilio(
            b"12345",
            "https://mycompany.com/myapp.php?foo=1",
            &params,
            sig
        ));
        params[2].1 = "1235".into();
        assert!(!verify_twilio(b"12345", url, &params, sig));
        assert!(!verify_twilio(b"12345", url, &params, "not base64!"));
        assert!(!verify_twilio(b"12345", url, &params, ""));
    }

    /// An inbound-SMS callback as Plivo posts it (From, To, Text, Type, MessageUUID: the
    /// parameters of Plivo's "Incoming Message Parameters" page), signed by Plivo's own
    /// Python SDK (package `plivo` from PyPI, `plivo.utils.signature_v3`:
    /// `get_signature_v3(token, construct_post_url(url, params), nonce)`), token
    /// my_auth_token, nonce 87654321. The values below are that SDK's output, not ours.
    fn plivo_sdk_post() -> Vec<(String, String)> {
        p(&[
            ("From", "4930901820"),
            ("To", "15550100101"),
            ("Text", "Hello from Plivo"),
            ("Type", "sms"),
            ("MessageUUID", "3a2e1c9e-1111-4c5e-9a1b-0123456789ab"),
        ])
    }

    #[test]
    fn plivo_v3_sdk_signed_post_verifies() {
        let params = plivo_sdk_post();
        let url = "https://gw.example.org/sms/inbound";
        let sig = "QutVNy8YttTWSMKcsqrbX/5et7+SEFv3eCNtEnmbt88=";
        assert!(verify_plivo_v3(
            b"my_auth_token",
            Method::Post,
            url,
            &params,
            "87654321",
            sig
        ));
        assert!(!verify_plivo_v3(
            b"my_auth_token",
            Method::Post,
            url,
            &params,
            "87654322",
            sig
        ));
        assert!(!verify_plivo_v3(
            b"other_token",
            Method::Post,
            url,
            &params,
            "87654321",
            sig
        ));
    }

    #[test]
    fn plivo_v3_sdk_signed_post_with_query_verifies() {
        let params = plivo_sdk_post();
        let url = "https://gw.example.org/sms/inbound?b=2&a=1";
        let sig = "zpDvpcyRwKU+GlxIjzkPXo/oQ6GseBrNJTf1vtGgH6c=";
        assert!(verify_plivo_v3(
            b"my_auth_token",
            Method::Post,
            url,
            &params,
            "87654321",
            sig
        ));
        let mut edited = params.clone();
        edited[2].1 = "Hello from Plovi".into();
        assert!(!verify_plivo_v3(
            b"my_auth_token",
            Method::Post,
            url,
            &edited,
            "87654321",
            sig
        ));
    }

    /// A GET callback signed by the same SDK (`construct_get_url`): query parameters
    /// merged and sorted as `k=v&k=v`.
    #[test]
    fn plivo_v3_sdk_signed_get_verifies() {
        let params = p(&[
            ("CallUUID", "97ceeb52-58b6-11e1-86da-77300b68f8bb"),
            ("Duration", "300"),
        ]);
        let sig = "MX+6eaJNdwpXJUAzjKuuuzLZkpa2CFRmA08aag1PeE4=";
        assert!(verify_plivo_v3(
            b"my_auth_token",
            Method::Get,
            "https://answer.url",
            &params,
            "12345",
            sig
        ));
    }

    #[test]
    fn plivo_v3_post_string_follows_the_sdk_layout() {
        let params = p(&[("To", "2"), ("From", "1")]);
        assert_eq!(
            plivo_v3_base(Method::Post, "https://h.example/sms?b=2&a=1", &params),
            "https://h.example/sms?a=1&b=2.From1To2"
        );
        assert_eq!(
            plivo_v3_base(Method::Post, "https://h.example/sms", &params),
            "https://h.example/sms?From1To2"
        );
        assert_eq!(
            plivo_v3_base(Method::Post, "https://h.example/sms", &[]),
            "https://h.example/sms"
        );
    }

    #[test]
    fn plivo_v3_accepts_any_signature_of_a_list_and_refuses_an_empty_nonce() {
        let params = p(&[("Text", "hi")]);
        let url = "https://h.example/sms";
        let sig = plivo_v3_signature(b"tok", Method::Post, url, &params, "n1");
        let header = format!("AAAA, {sig}");
        assert!(verify_plivo_v3(
            b"tok",
            Method::Post,
            url,
            &params,
            "n1",
            &header
        ));
        assert!(!verify_plivo_v3(
            b"tok",
            Method::Post,
            url,
            &params,
            "n2",
            &header
        ));
        assert!(!verify_plivo_v3(
            b"tok",
            Method::Post,
            url,
            &params,
            "",
            &header
        ));
    }
}
