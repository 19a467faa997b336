//! A Solana keypair as the user brings it: the Solana CLI's keypair file (a JSON array of
//! 64 numbers, secret then public half), or a base58 secret as wallets export it (64 bytes,
//! secret then public half, or the 32-byte secret alone).
//!
//! Depends only on `ed25519-dalek`, `bs58`, `serde_json` and `thiserror`, so the fuzz
//! target (`fuzz/fuzz_targets/wallet_inputs.rs`) compiles it by path.

use ed25519_dalek::SigningKey;

/// Longest text accepted (a keypair file is about 250 bytes; whitespace aside).
pub const MAX_SECRET_TEXT: usize = 4096;

/// Why a pasted or read secret was refused. The text is shown to the user and never
/// contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing there.
    #[error("no key was given")]
    Empty,
    /// Far longer than any keypair.
    #[error("this is too long to be a Solana keypair")]
    TooLong,
    /// A JSON array, but not of 64 numbers from 0 to 255.
    #[error(
        "not a Solana keypair file: expected a JSON array of 64 numbers from 0 to 255 \
         (what `solana-keygen new` writes)"
    )]
    BadKeypairFile,
    /// Not base58.
    #[error("not a base58 secret key (the text a wallet's \"export private key\" shows)")]
    NotBase58,
    /// Base58 of the wrong length.
    #[error("a Solana secret key is 64 bytes (or 32), this one is {0}")]
    WrongLength(usize),
    /// The public half does not belong to the secret half.
    #[error("the keypair's public half does not match its secret: the key is damaged")]
    PublicHalfMismatch,
}

/// The keypair's signing key from `text` (surrounding whitespace ignored).
pub fn parse_secret(text: &str) -> Result<SigningKey, SecretError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SecretError::Empty);
    }
    if text.len() > MAX_SECRET_TEXT {
        return Err(SecretError::TooLong);
    }
    let bytes = if text.starts_with('[') {
        let numbers: Vec<u8> =
            serde_json::from_str(text).map_err(|_| SecretError::BadKeypairFile)?;
        if numbers.len() != 64 {
            return Err(SecretError::BadKeypairFile);
        }
        zeroize::Zeroizing::new(numbers)
    } else {
        zeroize::Zeroizing::new(
            bs58::decode(text)
                .into_vec()
                .map_err(|_| SecretError::NotBase58)?,
        )
    };
    from_bytes(&bytes)
}

fn from_bytes(bytes: &[u8]) -> Result<SigningKey, SecretError> {
    let (secret, public) = match bytes.len() {
        64 => bytes.split_at(32),
        32 => (bytes, &[][..]),
        n => return Err(SecretError::WrongLength(n)),
    };
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(secret);
    let key = SigningKey::from_bytes(&seed);
    if !public.is_empty() && key.verifying_key().as_bytes() != public {
        return Err(SecretError::PublicHalfMismatch);
    }
    Ok(key)
}

/// The wallet's address: its public key in base58.
pub fn address(key: &SigningKey) -> String {
    bs58::encode(key.verifying_key().as_bytes()).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair_bytes(seed: u8) -> Vec<u8> {
        SigningKey::from_bytes(&[seed; 32])
            .to_keypair_bytes()
            .to_vec()
    }

    #[test]
    fn reads_the_solana_cli_keypair_file_and_both_base58_forms() {
        let bytes = keypair_bytes(9);
        let file = serde_json::to_string(&bytes).unwrap();
        let from_file = parse_secret(&format!("{file}\n")).unwrap();
        let from_b58 = parse_secret(&bs58::encode(&bytes).into_string()).unwrap();
        let from_seed = parse_secret(&bs58::encode(&bytes[..32]).into_string()).unwrap();
        let want = address(&SigningKey::from_bytes(&[9; 32]));
        for key in [from_file, from_b58, from_seed] {
            assert_eq!(address(&key), want);
        }
    }

    #[test]
    fn a_keypair_whose_public_half_is_not_its_own_is_refused() {
        let mut bytes = keypair_bytes(9);
        bytes[32..].copy_from_slice(&keypair_bytes(10)[32..]);
        assert_eq!(
            parse_secret(&bs58::encode(&bytes).into_string()).unwrap_err(),
            SecretError::PublicHalfMismatch
        );
        let file = serde_json::to_string(&bytes).unwrap();
        assert_eq!(
            parse_secret(&file).unwrap_err(),
            SecretError::PublicHalfMismatch
        );
    }

    #[test]
    fn malformed_secrets_get_their_own_reason() {
        assert_eq!(parse_secret("  ").unwrap_err(), SecretError::Empty);
        assert_eq!(
            parse_secret("[1,2,3]").unwrap_err(),
            SecretError::BadKeypairFile
        );
        assert_eq!(
            parse_secret("[256").unwrap_err(),
            SecretError::BadKeypairFile
        );
        let too_big = format!("[{}]", vec!["300"; 64].join(","));
        assert_eq!(
            parse_secret(&too_big).unwrap_err(),
            SecretError::BadKeypairFile
        );
        assert_eq!(parse_secret("0OIl").unwrap_err(), SecretError::NotBase58);
        assert_eq!(
            parse_secret(&bs58::encode([1u8; 40]).into_string()).unwrap_err(),
            SecretError::WrongLength(40)
        );
        assert_eq!(
            parse_secret(&"1".repeat(MAX_SECRET_TEXT + 1)).unwrap_err(),
            SecretError::TooLong
        );
    }

    #[test]
    fn an_error_never_shows_the_secret() {
        let mut bytes = keypair_bytes(9);
        bytes[40] ^= 1;
        let text = bs58::encode(&bytes).into_string();
        let shown = parse_secret(&text).unwrap_err().to_string();
        assert!(!shown.contains(&text[..12]));
    }
}
