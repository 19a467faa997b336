//! Opt-out keywords. Carriers (and the CTIA guidelines US long codes follow) require that a
//! message consisting of STOP and its synonyms stops all further messages to the sender,
//! START/UNSTOP undoes it and HELP gets an answer. Only a message that *is* the keyword
//! counts ("stop" alone, any case, surrounding spaces and a final full stop allowed): "please
//! don't stop calling" is a conversation, not an opt-out.

/// What an inbound text asks of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT: no more messages to this sender.
    OptOut,
    /// START, UNSTOP (and YES, which Twilio also treats as opt-in): messages allowed again.
    OptIn,
    /// HELP, INFO: answered with the configured help text.
    Help,
}

const OPT_OUT: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
const OPT_IN: [&str; 3] = ["START", "UNSTOP", "YES"];
const HELP: [&str; 2] = ["HELP", "INFO"];

/// Classifies a whole message; `None` for an ordinary message.
pub fn classify(text: &str) -> Option<Keyword> {
    let word = text.trim().trim_end_matches(['.', '!']).trim();
    // Keywords are short ASCII; anything longer is a conversation (and is not upper-cased).
    if word.len() > 12 || !word.is_ascii() {
        return None;
    }
    let word = word.to_ascii_uppercase();
    let is = |list: &[&str]| list.contains(&word.as_str());
    if is(&OPT_OUT) {
        Some(Keyword::OptOut)
    } else if is(&OPT_IN) {
        Some(Keyword::OptIn)
    } else if is(&HELP) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opt_out_word_in_any_case_opts_out() {
        for w in [
            "STOP",
            "stop",
            " Stop. ",
            "STOPALL",
            "unsubscribe",
            "Cancel",
            "END",
            "quit!",
        ] {
            assert_eq!(classify(w), Some(Keyword::OptOut), "{w}");
        }
    }

    #[test]
    fn start_and_unstop_opt_in_and_help_is_help() {
        assert_eq!(classify("start"), Some(Keyword::OptIn));
        assert_eq!(classify("UNSTOP"), Some(Keyword::OptIn));
        assert_eq!(classify("Help"), Some(Keyword::Help));
    }

    #[test]
    fn a_sentence_containing_stop_is_a_conversation() {
        for text in ["please don't stop", "stop it now", "STOP STOP", "", "ѕтор"] {
            assert_eq!(classify(text), None, "{text}");
        }
    }
}
