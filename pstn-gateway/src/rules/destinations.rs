//! Destination allow/deny by prefix, decided by the longest matching prefix.
//!
//! Defaults (DESIGN: premium-rate and international blocked unless configured):
//! - allowed: the trunk's home country code only (`rules.home_country_code`); with none
//!   configured, nothing is allowed, so an unconfigured gateway cannot be abused;
//! - denied always, whatever the allow list says at the same or shorter length: the
//!   premium-rate and high-cost ranges in [`PREMIUM_PREFIXES`]; an operator who really
//!   wants one allows a longer prefix explicitly.

/// Premium-rate and revenue-share ranges refused by default (country code + range):
/// NANP 900/976, UK 09 and 070 personal numbers, France 089, Germany 0900/0137,
/// Australia 190, Italy 89, Spain 80x/90x, and satellite and international networks
/// (+870, +881, +882, +883), which are the classic IRSF targets.
pub const PREMIUM_PREFIXES: &[&str] = &[
    "1900", "1976", "449", "4470", "3389", "49900", "49137", "61190", "3989", "34803", "34806",
    "34807", "34905", "870", "881", "882", "883",
];

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Matches a premium-rate or high-cost range.
    PremiumRate,
    /// Matches the operator's deny list.
    Denied,
    /// Outside the home country and every allowed prefix (international by default).
    NotAllowed,
}

/// The compiled prefix lists (digits without `+`).
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    allow: Vec<String>,
    deny: Vec<(String, Blocked)>,
}

impl Destinations {
    /// Builds the lists from configuration.
    pub fn new(home_country_code: Option<&str>, allow: &[String], deny: &[String]) -> Self {
        let mut lists = Destinations::default();
        lists.allow.extend(home_country_code.map(str::to_string));
        lists.allow.extend(allow.iter().cloned());
        lists.deny.extend(
            PREMIUM_PREFIXES
                .iter()
                .map(|p| (p.to_string(), Blocked::PremiumRate)),
        );
        lists
            .deny
            .extend(deny.iter().map(|p| (p.clone(), Blocked::Denied)));
        lists
    }

    /// Checks a number's digits (E.164 without `+`).
    pub fn check(&self, digits: &str) -> Result<(), Blocked> {
        let allow = self
            .allow
            .iter()
            .filter(|p| digits.starts_with(p.as_str()))
            .map(String::len)
            .max();
        let deny = self
            .deny
            .iter()
            .filter(|(p, _)| digits.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len());
        match (allow, deny) {
            // A deny at least as specific as the best allow wins.
            (a, Some((p, why))) if a.is_none_or(|a| p.len() >= a) => Err(why.clone()),
            (Some(_), _) => Ok(()),
            (None, _) => Err(Blocked::NotAllowed),
        }
    }
}

/// Finds the longest prefix of `digits` in a rate table.
pub fn longest_match<'a, V>(
    table: impl IntoIterator<Item = (&'a String, V)>,
    digits: &str,
) -> Option<V> {
    table
        .into_iter()
        .filter(|(p, _)| digits.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, v)| v)
}
