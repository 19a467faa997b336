//! Log-safe views of identifiers that could de-anonymise a user.
//!
//! Logs may end up in bug reports; a full npub or call id there links a person to a call.
//! These wrappers print a short prefix only, enough to correlate lines within one log.

use std::fmt;

use nostr_sdk::PublicKey;
use phantomcall_schemas::CallId;

/// Prints the first 8 hex characters of a public key.
pub struct ShortKey<'a>(pub &'a PublicKey);

impl fmt::Display for ShortKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.0.to_hex();
        write!(f, "{}…", &hex[..8])
    }
}

/// Prints the first 8 characters of a call id.
pub struct ShortCallId<'a>(pub &'a CallId);

impl fmt::Display for ShortCallId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.0.to_string();
        write!(f, "{}…", &full[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr_sdk::Keys;

    #[test]
    fn log_views_do_not_print_full_identifiers() {
        let key = Keys::generate().public_key();
        let shown = ShortKey(&key).to_string();
        assert!(shown.len() < 16);
        assert!(!shown.contains(&key.to_hex()));
        let call = CallId::new_random();
        let shown = ShortCallId(&call).to_string();
        assert!(!shown.contains(&call.to_string()));
    }
}
