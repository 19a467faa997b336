//! Phone numbers: E.164 validation for what the gateway dials, and the log-safe form
//! (last two digits only) used everywhere a number reaches a log line.

use std::fmt;

/// Why a dialled number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Not `+` followed by 8 to 15 digits, the first not 0 (ITU-T E.164).
    #[error("not an E.164 number (+ and 8 to 15 digits)")]
    NotE164,
}

/// A validated E.164 number, stored as `+` and digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// Validates a number; spaces, dashes, dots and brackets people type are removed.
    pub fn parse(input: &str) -> Result<Self, NumberError> {
        let cleaned: String = input
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = cleaned.strip_prefix('+').ok_or(NumberError::NotE164)?;
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(E164(cleaned))
        } else {
            Err(NumberError::NotE164)
        }
    }

    /// The digits without `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// The full number, `+` and digits: for SIP only, never for logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Debug shows the redacted form, so a number never reaches a log by accident.
impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", Redacted(&self.0))
    }
}

/// Displays any number (or SIP user part) as `…NN`: its last two characters only.
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        let tail: String = chars[chars.len().saturating_sub(2)..].iter().collect();
        write!(f, "…{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_is_validated() {
        assert_eq!(
            E164::parse("+1 (555) 010-0199").unwrap().as_str(),
            "+15550100199"
        );
        for bad in [
            "15550100199",
            "+0555010019",
            "+1555",
            "+1234567890123456",
            "+1555abc0199",
            "",
        ] {
            assert_eq!(E164::parse(bad), Err(NumberError::NotE164), "{bad}");
        }
    }

    #[test]
    fn logs_see_two_digits() {
        let n = E164::parse("+4930123456").unwrap();
        assert_eq!(format!("{n:?}"), "E164(…56)");
        assert_eq!(Redacted("7").to_string(), "…7");
    }
}
