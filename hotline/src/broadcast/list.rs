//! Reading a broadcast's recipient list: a text file with one npub (`npub1…`, optionally
//! `nostr:`-prefixed) or 64-digit hex public key per line. Blank lines and `#` comments
//! are skipped; anything after the key on its line (a label) is ignored. A bad line is
//! reported with its number and why, never fatal, and never echoed back (a list may hold
//! other people's data). Duplicates are sent to once.

use std::collections::HashSet;

use crate::ids::{Npub, NpubError};

/// Longest line looked at; longer ones are refused without parsing.
pub const MAX_LINE_LEN: usize = 1024;
/// Most recipients one list may name.
pub const MAX_RECIPIENTS: usize = 100_000;

/// Why a line was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Longer than [`MAX_LINE_LEN`].
    #[error("line longer than {MAX_LINE_LEN} bytes")]
    TooLong,
    /// Neither an npub nor 64 hex digits.
    #[error("not an npub or a 64-digit hex public key")]
    NotAKey,
    /// Bech32 for something else (an `nsec` would be a leaked secret: it is not kept).
    #[error("bech32 {0:?}, not an npub")]
    WrongPrefix(String),
    /// An npub whose checksum or length is wrong.
    #[error("broken npub: {0}")]
    BrokenNpub(NpubError),
    /// Past [`MAX_RECIPIENTS`].
    #[error("more than {MAX_RECIPIENTS} recipients")]
    OverLimit,
}

/// A line that was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLine {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub error: LineError,
}

/// A parsed recipient list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientList {
    /// Distinct recipients, in file order.
    pub recipients: Vec<Npub>,
    /// Lines that were not taken.
    pub invalid: Vec<InvalidLine>,
    /// Lines naming a recipient already listed.
    pub duplicates: usize,
}

/// Parses one line's key (already trimmed, non-empty, not a comment).
pub fn parse_key(token: &str) -> Result<Npub, LineError> {
    let token = token.strip_prefix("nostr:").unwrap_or(token);
    if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut bytes = [0u8; 32];
        for (i, pair) in token.as_bytes().chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16).unwrap_or(0);
            let lo = (pair[1] as char).to_digit(16).unwrap_or(0);
            bytes[i] = (hi * 16 + lo) as u8;
        }
        return Ok(Npub::from_bytes(bytes));
    }
    match Npub::parse(token) {
        Ok(npub) => Ok(npub),
        Err(NpubError::WrongPrefix(prefix)) => Err(LineError::WrongPrefix(prefix)),
        Err(e)
            if token
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("npub1")) =>
        {
            Err(LineError::BrokenNpub(e))
        }
        Err(_) => Err(LineError::NotAKey),
    }
}

/// Largest list file read (a 100 000-line list of npubs with labels is about 8 MB).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads and parses a list file. Bytes that are not UTF-8 spoil only their own line
/// (reported as not a key). Errors: the file cannot be read, or is over
/// [`MAX_FILE_BYTES`].
pub fn read_recipients_file(path: &std::path::Path) -> std::io::Result<RecipientList> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("recipient list larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(parse_recipients(&String::from_utf8_lossy(&bytes)))
}

/// Parses a whole list.
pub fn parse_recipients(text: &str) -> RecipientList {
    let mut out = RecipientList::default();
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.len() > MAX_LINE_LEN {
            out.invalid.push(InvalidLine {
                line: number,
                error: LineError::TooLong,
            });
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let token = line.split_whitespace().next().unwrap_or_default();
        match parse_key(token) {
            Ok(npub) if !seen.contains(&npub) => {
                if out.recipients.len() >= MAX_RECIPIENTS {
                    out.invalid.push(InvalidLine {
                        line: number,
                        error: LineError::OverLimit,
                    });
                    continue;
                }
                seen.insert(npub);
                out.recipients.push(npub);
            }
            Ok(_) => out.duplicates += 1,
            Err(error) => out.invalid.push(InvalidLine {
                line: number,
                error,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npubs_hex_comments_labels_and_duplicates() {
        let a = Npub::from_bytes([1; 32]);
        let b = Npub::from_bytes([0xab; 32]);
        let text = format!(
            "# staff\n{}\n\n  nostr:{}  Alice\n{}\n{}\n",
            a.to_bech32(),
            b.to_bech32(),
            b.to_hex().to_uppercase(),
            a.to_hex()
        );
        let list = parse_recipients(&text);
        assert_eq!(list.recipients, vec![a, b]);
        assert_eq!(list.duplicates, 2);
        assert!(list.invalid.is_empty());
    }

    #[test]
    fn bad_lines_are_reported_by_number_and_the_rest_is_kept() {
        let a = Npub::from_bytes([1; 32]);
        let mut broken = a.to_bech32();
        broken.pop();
        broken.push(if a.to_bech32().ends_with('q') {
            'p'
        } else {
            'q'
        });
        let nsec = bech32::encode::<bech32::Bech32>(bech32::Hrp::parse_unchecked("nsec"), &[7; 32])
            .unwrap();
        let text = format!(
            "hello\n{broken}\n{nsec}\n{}\n{}\n{}",
            "f".repeat(63),
            "x".repeat(MAX_LINE_LEN + 1),
            a.to_bech32()
        );
        let list = parse_recipients(&text);
        assert_eq!(list.recipients, vec![a]);
        let got: Vec<(usize, LineError)> = list
            .invalid
            .iter()
            .map(|l| (l.line, l.error.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, LineError::NotAKey),
                (2, LineError::BrokenNpub(NpubError::Bech32)),
                (3, LineError::WrongPrefix("nsec".into())),
                (4, LineError::NotAKey),
                (5, LineError::TooLong),
            ]
        );
        // An nsec's text never appears in what is reported.
        assert!(!format!("{:?}", list.invalid).contains(&nsec));
    }

    #[test]
    fn a_file_with_broken_bytes_loses_only_that_line() {
        let a = Npub::from_bytes([1; 32]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        let mut bytes = b"\xff\xfe junk\n".to_vec();
        bytes.extend_from_slice(a.to_bech32().as_bytes());
        std::fs::write(&path, bytes).unwrap();
        let list = read_recipients_file(&path).unwrap();
        assert_eq!(list.recipients, vec![a]);
        assert_eq!(list.invalid.len(), 1);
        assert_eq!(list.invalid[0].line, 1);
        assert!(read_recipients_file(&dir.path().join("missing.txt")).is_err());
    }
}
