//! Log-safe forms of identifiers that could de-anonymise a user.
//!
//! A wallet address is a permanent public identity: a log line with one in full links a
//! conference to a person's on-chain history. Logs carry [`ShortAddress`] instead (the first
//! and last four characters, enough to tell two users apart while debugging), and the
//! validated [`WalletAddress`] has no `Display` and a `Debug` that prints only the short form,
//! so `{}` does not compile and `{:?}` cannot leak it. The full string is reachable only
//! through [`WalletAddress::as_str`], for storage and the token's `sub` claim.

use std::fmt;

/// Characters kept at each end of a shortened identifier.
const SHORT_KEEP: usize = 4;

/// Displays an identifier as its first and last four characters (`AbCd…wXyZ`).
///
/// Identifiers of eight characters or fewer are shown as `…` alone: shortening them would
/// show them whole.
#[derive(Clone, Copy)]
pub struct ShortAddress<'a>(pub &'a str);

impl fmt::Display for ShortAddress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let chars = s.chars().count();
        if chars <= 2 * SHORT_KEEP {
            return f.write_str("…");
        }
        let head: String = s.chars().take(SHORT_KEEP).collect();
        let tail: String = s.chars().skip(chars - SHORT_KEEP).collect();
        write!(f, "{head}…{tail}")
    }
}

impl fmt::Debug for ShortAddress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a Solana wallet address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("wallet address is not base58")]
    NotBase58,
    #[error("wallet address does not decode to 32 bytes")]
    WrongLength,
}

/// A Solana wallet address: the base58 form of a 32-byte Ed25519 public key.
///
/// Validated on construction. No `Display`; `Debug` shows only the short form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WalletAddress {
    text: String,
    key: [u8; 32],
}

impl WalletAddress {
    /// Parses a base58 address that decodes to exactly 32 bytes.
    ///
    /// The text is kept as given: base58 has a single spelling per byte string, so two
    /// addresses are equal exactly when their keys are.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        // 32 bytes are at most 44 base58 characters; refuse long input before decoding it.
        if text.is_empty() || text.len() > 44 {
            return Err(AddressError::WrongLength);
        }
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|_| AddressError::NotBase58)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| AddressError::WrongLength)?;
        Ok(Self {
            text: text.to_owned(),
            key,
        })
    }

    /// The address of a 32-byte public key.
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            text: bs58::encode(key).into_string(),
            key,
        }
    }

    /// The full address. For storage and tokens only: never pass it to a log macro.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The 32-byte Ed25519 public key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The log-safe form.
    pub fn short(&self) -> ShortAddress<'_> {
        ShortAddress(&self.text)
    }
}

impl fmt::Debug for WalletAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletAddress({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

    #[test]
    fn short_address_shows_only_first_and_last_four_characters() {
        let shown = ShortAddress(ADDR).to_string();
        assert_eq!(shown, "9xQe…VFin");
        assert!(!shown.contains(&ADDR[4..40]));
    }

    #[test]
    fn short_identifiers_are_hidden_whole() {
        assert_eq!(ShortAddress("abcdefgh").to_string(), "…");
        assert_eq!(ShortAddress("").to_string(), "…");
        assert_eq!(ShortAddress("abcdefghi").to_string(), "abcd…fghi");
    }

    #[test]
    fn wallet_address_debug_is_short() {
        let addr = WalletAddress::parse(ADDR).unwrap();
        let debug = format!("{addr:?}");
        assert_eq!(debug, "WalletAddress(9xQe…VFin)");
        assert!(!debug.contains(ADDR));
        assert_eq!(addr.as_str(), ADDR);
    }

    #[test]
    fn wallet_address_validation() {
        assert_eq!(WalletAddress::parse("0OIl"), Err(AddressError::NotBase58));
        assert_eq!(WalletAddress::parse("abc"), Err(AddressError::WrongLength));
        assert_eq!(WalletAddress::parse(""), Err(AddressError::WrongLength));
        let too_long = "1".repeat(45);
        assert_eq!(
            WalletAddress::parse(&too_long),
            Err(AddressError::WrongLength)
        );
        let key = [7u8; 32];
        let addr = WalletAddress::from_key(key);
        assert_eq!(WalletAddress::parse(addr.as_str()).unwrap().key(), &key);
    }
}
