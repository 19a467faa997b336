//! SMS segment arithmetic: which alphabet a text needs (GSM 03.38 7-bit or UCS-2) and how
//! many message parts it costs. The provider splits and concatenates (with a UDH header),
//! but it bills per part, so the gateway computes the count itself to report it and to
//! refuse texts above the configured maximum before any money is spent.

/// Characters of the GSM 03.38 default alphabet (one septet each). ESC (0x1B) is left out:
/// it only introduces the extension table and is not a character a person sends.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Characters of the GSM 03.38 extension table: ESC plus one septet, so two each.
const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// A single GSM-7 message holds 160 septets; each part of a concatenated one 153 (the
/// 6-byte UDH takes 7 septets).
pub const GSM_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM-7 message.
pub const GSM_PART: usize = 153;
/// A single UCS-2 message holds 70 UTF-16 units; each part of a concatenated one 67.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 units per part of a concatenated UCS-2 message.
pub const UCS2_PART: usize = 67;

/// The alphabet a text is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 default alphabet with the extension table (7 bits a character).
    Gsm7,
    /// UCS-2 (UTF-16 units; a character outside the BMP takes two).
    Ucs2,
}

/// How a text is sent: alphabet, part count and the parts themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segments {
    /// The alphabet every part uses (one character outside GSM-7 makes the whole text UCS-2).
    pub encoding: Encoding,
    /// The text cut where the handset would cut it; `parts.len()` is what is billed.
    pub parts: Vec<String>,
}

impl Segments {
    /// Number of parts billed (0 for an empty text).
    pub fn count(&self) -> usize {
        self.parts.len()
    }
}

fn gsm_cost(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The alphabet `text` needs.
pub fn encoding_of(text: &str) -> Encoding {
    if text.chars().all(|c| gsm_cost(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Splits `text` into the parts a concatenated SMS carries. A character is never cut in
/// two: a GSM extension character (two septets) or a UTF-16 surrogate pair moves whole to
/// the next part, as handsets do.
pub fn split(text: &str) -> Segments {
    let encoding = encoding_of(text);
    let cost = |c: char| match encoding {
        Encoding::Gsm7 => gsm_cost(c).unwrap_or(2),
        Encoding::Ucs2 => c.len_utf16(),
    };
    let (single, part) = match encoding {
        Encoding::Gsm7 => (GSM_SINGLE, GSM_PART),
        Encoding::Ucs2 => (UCS2_SINGLE, UCS2_PART),
    };
    let total: usize = text.chars().map(cost).sum();
    if total == 0 {
        return Segments {
            encoding,
            parts: Vec::new(),
        };
    }
    if total <= single {
        return Segments {
            encoding,
            parts: vec![text.to_string()],
        };
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for c in text.chars() {
        let n = cost(c);
        if used + n > part {
            parts.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(c);
        used += n;
    }
    if !current.is_empty() {
        parts.push(current);
    }
    Segments { encoding, parts }
}

/// Joins parts back into one text (what a handset shows for a concatenated message).
pub fn join<S: AsRef<str>>(parts: &[S]) -> String {
    parts.iter().map(|p| p.as_ref()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_gsm7_and_fits_160_in_one_part() {
        let text = "a".repeat(160);
        let s = split(&text);
        assert_eq!(s.encoding, Encoding::Gsm7);
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn gsm7_over_160_is_cut_at_153() {
        let s = split(&"a".repeat(161));
        assert_eq!(s.count(), 2);
        assert_eq!(s.parts[0].chars().count(), 153);
        assert_eq!(split(&"a".repeat(306)).count(), 2);
        assert_eq!(split(&"a".repeat(307)).count(), 3);
    }

    #[test]
    fn gsm_extension_characters_cost_two_and_are_not_cut() {
        // 80 euro signs are 160 septets: one part. 81 are 162: concatenated.
        assert_eq!(split(&"€".repeat(80)).count(), 1);
        let s = split(&format!("{}€{}", "a".repeat(152), "a".repeat(10)));
        // 164 septets: concatenated; 152 + 2 > 153, so the euro sign moves whole to the
        // second part rather than leaving its escape septet behind.
        assert_eq!(s.count(), 2);
        assert_eq!(s.parts[0], "a".repeat(152));
        assert!(s.parts[1].starts_with('€'));
    }

    #[test]
    fn one_non_gsm_character_makes_the_text_ucs2() {
        assert_eq!(encoding_of("hello"), Encoding::Gsm7);
        // é is in the GSM alphabet, ê is not.
        assert_eq!(encoding_of("héllo"), Encoding::Gsm7);
        assert_eq!(encoding_of("hêllo"), Encoding::Ucs2);
        assert_eq!(encoding_of("привет"), Encoding::Ucs2);
        assert_eq!(encoding_of("ok 👍"), Encoding::Ucs2);
    }

    #[test]
    fn ucs2_limits_are_70_then_67() {
        assert_eq!(split(&"ж".repeat(70)).count(), 1);
        assert_eq!(split(&"ж".repeat(71)).count(), 2);
        assert_eq!(split(&"ж".repeat(134)).count(), 2);
        assert_eq!(split(&"ж".repeat(135)).count(), 3);
    }

    #[test]
    fn a_300_character_ucs2_message_is_5_segments() {
        let s = split(&"ж".repeat(300));
        assert_eq!(s.encoding, Encoding::Ucs2);
        assert_eq!(s.count(), 5);
    }

    #[test]
    fn surrogate_pairs_are_not_cut_and_parts_join_back() {
        let text = format!("{}👍tail", "ж".repeat(66));
        let s = split(&text);
        assert_eq!(s.count(), 2);
        assert_eq!(s.parts[1], "👍tail");
        assert_eq!(join(&s.parts), text);
    }

    #[test]
    fn empty_text_has_no_parts() {
        assert_eq!(split("").count(), 0);
    }
}
