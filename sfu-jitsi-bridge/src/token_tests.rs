use super::*;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

fn wallet() -> WalletAddress {
    WalletAddress::parse("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin").unwrap()
}

fn b64(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

#[test]
fn issued_token_verifies_with_its_claims() {
    let keys = SessionKeys::generate();
    let (token, claims) = keys.issue(&wallet(), Tier::Pro, NOW).unwrap();
    assert_eq!(claims.sub, wallet().as_str());
    assert_eq!(claims.tier, Tier::Pro);
    assert_eq!(claims.exp - claims.iat, 3600);
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(claims.jti.len(), 32);
    assert_eq!(keys.verify(&token, NOW).unwrap(), claims);
    let later = NOW + time::Duration::seconds(3599);
    assert_eq!(keys.verify(&token, later).unwrap(), claims);

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert!(header.kid.is_some());
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let keys = SessionKeys::generate();
    let (token, _) = keys.issue(&wallet(), Tier::Free, NOW).unwrap();
    let at_exp = NOW + time::Duration::hours(1);
    assert!(matches!(
        keys.verify(&token, at_exp),
        Err(TokenError::Expired)
    ));
    let early = NOW - time::Duration::seconds(CLOCK_SKEW_SECS + 1);
    assert!(matches!(
        keys.verify(&token, early),
        Err(TokenError::NotYetValid)
    ));
    // Within the skew allowance another instance accepts it.
    let skewed = NOW - time::Duration::seconds(CLOCK_SKEW_SECS);
    assert!(keys.verify(&token, skewed).is_ok());
}

#[test]
fn another_key_is_refused() {
    let (token, _) = SessionKeys::generate()
        .issue(&wallet(), Tier::Free, NOW)
        .unwrap();
    let other = SessionKeys::generate();
    assert!(matches!(
        other.verify(&token, NOW),
        Err(TokenError::BadSignature)
    ));
}

#[test]
fn algorithm_confusion_is_refused() {
    let keys = SessionKeys::generate();
    let (_, claims) = keys.issue(&wallet(), Tier::Enterprise, NOW).unwrap();
    // HS256 keyed with our public key: the classic confusion attack.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&keys.public_key()).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        keys.verify(&hs, NOW),
        Err(TokenError::WrongAlgorithm)
    ));
    // alg "none", no signature.
    let body = b64(&serde_json::to_string(&claims).unwrap());
    let none = format!("{}.{body}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    assert!(keys.verify(&none, NOW).is_err());
    // An EdDSA header over a forged payload with an empty signature.
    let forged = format!("{}.{body}.", b64(r#"{"alg":"EdDSA","typ":"JWT"}"#));
    assert!(keys.verify(&forged, NOW).is_err());
}

#[test]
fn tampered_claims_are_refused() {
    let keys = SessionKeys::generate();
    let (token, claims) = keys.issue(&wallet(), Tier::Free, NOW).unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let upgraded = SessionClaims {
        tier: Tier::Enterprise,
        ..claims
    };
    let body = b64(&serde_json::to_string(&upgraded).unwrap());
    parts[1] = &body;
    assert!(matches!(
        keys.verify(&parts.join("."), NOW),
        Err(TokenError::BadSignature)
    ));
    assert!(matches!(
        keys.verify("not.a.jwt", NOW),
        Err(TokenError::Malformed)
    ));
}

#[test]
fn key_file_is_created_0600_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf").join("session-key.pem");
    let keys = SessionKeys::load_or_generate(&path).unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir_mode = fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    assert!(fs::read_to_string(&path)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));

    let again = SessionKeys::load_or_generate(&path).unwrap();
    assert_eq!(again.public_key(), keys.public_key());
    let (token, _) = keys.issue(&wallet(), Tier::Free, NOW).unwrap();
    assert!(again.verify(&token, NOW).is_ok());
}

#[test]
fn readable_or_garbled_key_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    SessionKeys::load_or_generate(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        SessionKeys::load_or_generate(&path),
        Err(TokenError::InsecureKeyFile { mode: 0o644, .. })
    ));
    fs::write(&path, "not a key").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        SessionKeys::load_or_generate(&path),
        Err(TokenError::BadKeyFile { .. })
    ));
}

#[test]
fn refresh_tokens_are_opaque_256_bit_and_hashed() {
    let (token, hash) = RefreshToken::generate();
    assert_eq!(token.as_str().len(), 43);
    assert_eq!(refresh_hash(token.as_str()), Some(hash));
    assert_ne!(
        &hash[..],
        URL_SAFE_NO_PAD.decode(token.as_str()).unwrap().as_slice()
    );
    let (other, _) = RefreshToken::generate();
    assert_ne!(token, other);
    assert_eq!(format!("{token:?}"), "RefreshToken(…)");
    assert_eq!(refresh_hash("short"), None);
    assert_eq!(refresh_hash(&"!".repeat(43)), None);
    assert_eq!(new_family_id().len(), 32);
}

#[test]
fn claims_debug_hides_the_wallet() {
    let (_, claims) = SessionKeys::generate()
        .issue(&wallet(), Tier::Free, NOW)
        .unwrap();
    let debug = format!("{claims:?}");
    assert!(!debug.contains(wallet().as_str()));
    assert!(debug.contains("9xQe…VFin"));
}
