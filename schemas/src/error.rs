//! The error type of validation and parsing.

/// Why a rumor was rejected.
///
/// Nothing in here contains a value taken from the rumor (contents may be SDP with IP
/// addresses): only kind numbers, JSON pointer paths into the rumor and schema locations.
/// The `Display` text is therefore safe to log.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SchemaError {
    /// The rumor is not a JSON object.
    #[error("rumor is not a JSON object")]
    NotAnObject,
    /// The rumor has no `kind`, or it is not an unsigned integer.
    #[error("rumor has no unsigned integer kind")]
    MissingKind,
    /// The kind has no schema in `schemas/_registry.json`.
    #[error("kind {0} is not a registered call kind")]
    UnregisteredKind(u64),
    /// A `v` tag names a protocol version other than [`crate::PROTOCOL_VERSION`].
    /// Checked before the schema so that logs can say so plainly.
    #[error("kind {kind}: unsupported protocol version")]
    UnsupportedVersion {
        /// The rumor's kind.
        kind: u16,
    },
    /// The rumor (or its decoded JSON content) does not match the kind's schema.
    #[error("kind {kind}: does not match its schema: {}", .errors.join("; "))]
    Invalid {
        /// The rumor's kind.
        kind: u16,
        /// One entry per violation (at most [`crate::MAX_REPORTED_ERRORS`]):
        /// `<instance path>: <keyword> (<schema location>)`. Paths into the decoded JSON
        /// content are written `/content#/<pointer>`.
        errors: Vec<String>,
    },
    /// The content of a JSON-content kind is not JSON text.
    #[error("kind {kind}: content is not JSON")]
    BadContentJson {
        /// The rumor's kind.
        kind: u16,
    },
    /// The rumor passed its schema but a field could not be converted to its Rust type.
    /// This means the schema and the parser disagree: a bug in this crate.
    #[error("kind {kind}: schema-valid rumor has an unparsable {field}")]
    Unparsable {
        /// The rumor's kind.
        kind: u16,
        /// Which field, e.g. `"call-id tag"`.
        field: &'static str,
    },
}
