//! How a phone caller's number is shown on the PhantomCall side.

use crate::config::CallerNumber;

/// A number the carrier did not give: a lone ellipsis, since a `phone` tag carries digits
/// and punctuation only (the app words it).
pub const WITHHELD: &str = "…";

/// `number` (E.164 or a SIP user part) as the PhantomCall user sees it: in full, or with
/// the middle hidden (`+1 555 …12`: North American country and area code, or the first
/// four digits elsewhere, then the last two). Anything that is not a `+` and digits (a
/// trunk may send a name or `anonymous`) is shown as [`WITHHELD`].
pub fn shown_number(number: &str, policy: CallerNumber) -> String {
    let Some(digits) = number.strip_prefix('+') else {
        return WITHHELD.into();
    };
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return WITHHELD.into();
    }
    if policy == CallerNumber::Full {
        return number.to_owned();
    }
    let tail = &digits[digits.len() - 2..];
    match digits.strip_prefix('1') {
        Some(national) if national.len() == 10 => format!("+1 {} …{tail}", &national[..3]),
        _ => format!("+{} …{tail}", &digits[..4.min(digits.len() - 2)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phantomcall_schemas::PhoneLeg;

    #[test]
    fn partial_numbers_keep_the_area_and_the_last_two_digits() {
        assert_eq!(
            shown_number("+15551234512", CallerNumber::Partial),
            "+1 555 …12"
        );
        assert_eq!(
            shown_number("+4930123456", CallerNumber::Partial),
            "+4930 …56"
        );
        assert_eq!(shown_number("+12345", CallerNumber::Partial), "+123 …45");
        assert_eq!(
            shown_number("+15551234512", CallerNumber::Full),
            "+15551234512"
        );
    }

    #[test]
    fn what_is_not_a_number_is_shown_as_unknown() {
        for odd in ["anonymous", "+1", "+1555abc12", "", "1000"] {
            assert_eq!(shown_number(odd, CallerNumber::Full), WITHHELD);
        }
    }

    #[test]
    fn every_shown_form_fits_a_phone_tag() {
        for n in [
            "+15551234512",
            "+4930123456",
            "+123456789012345",
            "anonymous",
        ] {
            for policy in [CallerNumber::Partial, CallerNumber::Full] {
                let shown = shown_number(n, policy);
                assert!(PhoneLeg::phone(&shown).is_some(), "{shown}");
            }
        }
    }
}
