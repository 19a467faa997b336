//! Keywords a sender may write instead of a message: "stop" (no more broadcasts) and
//! "start" (broadcasts again), as SMS services read them. Untrusted text: anything that is
//! not exactly a keyword (after trimming spaces and closing punctuation, any case) is an
//! ordinary message.

/// What a sender's text asks of the hotline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderCommand {
    /// No more broadcasts.
    Stop,
    /// Broadcasts again, after a stop.
    Start,
}

/// Longest text looked at as a keyword; longer is always a message (and cheap to reject).
const MAX_KEYWORD_TEXT: usize = 32;

const STOP_WORDS: &[&str] = &[
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
];
const START_WORDS: &[&str] = &["start", "unstop", "subscribe"];

/// The command `text` is, if it is one.
pub fn parse_command(text: &str) -> Option<SenderCommand> {
    if text.len() > MAX_KEYWORD_TEXT {
        return None;
    }
    let word = text
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .trim()
        .to_lowercase();
    if STOP_WORDS.contains(&word.as_str()) {
        Some(SenderCommand::Stop)
    } else if START_WORDS.contains(&word.as_str()) {
        Some(SenderCommand::Start)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_in_any_case_with_punctuation_is_a_stop() {
        for text in ["stop", "STOP", " Stop! ", "unsubscribe.", "Stop all"] {
            assert_eq!(parse_command(text), Some(SenderCommand::Stop), "{text:?}");
        }
        assert_eq!(parse_command("START"), Some(SenderCommand::Start));
    }

    #[test]
    fn a_sentence_containing_stop_is_an_ordinary_message() {
        for text in [
            "please stop calling my brother",
            "stop?!x",
            "",
            "stopp",
            &"stop ".repeat(20),
        ] {
            assert_eq!(parse_command(text), None, "{text:?}");
        }
    }
}
