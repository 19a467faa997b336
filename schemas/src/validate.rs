//! The embedded schemas, compiled once, and rumor validation.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use jsonschema::{Draft, PatternOptions, Registry, ValidationError, Validator};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{CallKind, SchemaError, MAX_REPORTED_ERRORS, PROTOCOL_VERSION};

/// Every schema `$id` is this base followed by the file's path relative to `schemas/`.
pub(crate) const SCHEMA_BASE_URI: &str = "https://phantomcall.invalid/schemas/";

/// `schemas/_registry.json`: kind number -> name and schema file.
pub(crate) const REGISTRY_JSON: &str = include_str!("../_registry.json");

/// Every schema file, as (path relative to `schemas/`, text).
pub(crate) const SCHEMA_FILES: &[(&str, &str)] = &[
    embed!("calling/v1/common.schema.json"),
    embed!("calling/v1/offer.schema.json"),
    embed!("calling/v1/answer.schema.json"),
    embed!("calling/v1/ice-candidates.schema.json"),
    embed!("calling/v1/hangup.schema.json"),
    embed!("calling/v1/reject.schema.json"),
    embed!("calling/v1/renegotiate.schema.json"),
    embed!("calling/v1/mode-switch-request.schema.json"),
    embed!("calling/v1/mode-switch-ack.schema.json"),
    embed!("calling/v1/handled-elsewhere.schema.json"),
    embed!("calling/v1/group-keys.schema.json"),
];

/// Parsed `_registry.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegistryFile {
    pub(crate) version: u32,
    pub(crate) kinds: BTreeMap<String, RegistryEntry>,
}

/// One kind of `_registry.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegistryEntry {
    pub(crate) name: String,
    pub(crate) schema: String,
}

/// The compiled validators of one kind.
struct KindValidators {
    /// The whole rumor against the kind's schema.
    rumor: Validator,
    /// The decoded content against the schema's `contentSchema`, for JSON-content kinds.
    content: Option<Validator>,
}

/// All kinds' validators, compiled on first use.
static COMPILED: LazyLock<HashMap<CallKind, KindValidators>> = LazyLock::new(compile);

pub(crate) fn parse_registry() -> RegistryFile {
    let registry: RegistryFile =
        serde_json::from_str(REGISTRY_JSON).expect("embedded _registry.json is valid");
    assert_eq!(registry.version, 1, "_registry.json version");
    registry
}

/// Compiles every registered kind's schema. Panics on a broken embedded schema: that is a
/// build defect, caught by this crate's tests, not a runtime condition.
fn compile() -> HashMap<CallKind, KindValidators> {
    let documents: Vec<(String, Value)> = SCHEMA_FILES
        .iter()
        .map(|(path, text)| {
            let doc: Value = serde_json::from_str(text).expect("embedded schema is JSON");
            (format!("{SCHEMA_BASE_URI}{path}"), doc)
        })
        .collect();
    // All schemas are registered as local resources, so `$ref`s between files resolve
    // without any retrieval; `offline()` makes any other reference a build error.
    let resources = Registry::new()
        .extend(documents.iter().map(|(uri, doc)| (uri.as_str(), doc)))
        .and_then(|builder| builder.prepare())
        .expect("embedded schemas form a registry");
    let options = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_registry(&resources)
        .with_pattern_options(PatternOptions::regex())
        .offline();

    let mut compiled = HashMap::new();
    for (number, entry) in parse_registry().kinds {
        let kind = number
            .parse()
            .ok()
            .and_then(CallKind::from_u16)
            .expect("registry kind is a CallKind");
        assert_eq!(kind.name(), entry.name, "registry name of kind {number}");
        let uri = format!("{SCHEMA_BASE_URI}{}", entry.schema);
        let (_, doc) = documents
            .iter()
            .find(|(u, _)| *u == uri)
            .expect("registry schema is embedded");
        let rumor = options.build(doc).expect("kind schema compiles");
        let content = content_is_json(doc).then(|| {
            // A validator for exactly the `contentSchema` sub-schema of this file.
            let pointer = serde_json::json!({
                "$ref": format!("{uri}#/properties/content/contentSchema")
            });
            options.build(&pointer).expect("contentSchema compiles")
        });
        compiled.insert(kind, KindValidators { rumor, content });
    }
    compiled
}

/// Whether a kind schema declares JSON text content (and so must carry a `contentSchema`).
fn content_is_json(schema: &Value) -> bool {
    let content = &schema["properties"]["content"];
    let json = content["contentMediaType"] == "application/json";
    assert!(
        !json || content.get("contentSchema").is_some(),
        "JSON content needs a contentSchema"
    );
    json
}

/// Validate a rumor JSON value against the registered schema of its kind, plus its decoded
/// content against the kind's `contentSchema` where the content is JSON text.
///
/// Returns the kind on success. The error never contains values from the rumor.
pub fn validate_rumor(rumor: &Value) -> Result<CallKind, SchemaError> {
    check(rumor).map(|(kind, _)| kind)
}

/// [`validate_rumor`], also handing back the decoded JSON content (for JSON-content kinds)
/// so that parsing does not decode it twice.
pub(crate) fn check(rumor: &Value) -> Result<(CallKind, Option<Value>), SchemaError> {
    let obj = rumor.as_object().ok_or(SchemaError::NotAnObject)?;
    let number = obj
        .get("kind")
        .and_then(Value::as_u64)
        .ok_or(SchemaError::MissingKind)?;
    let unregistered = SchemaError::UnregisteredKind(number);
    let kind = u16::try_from(number)
        .ok()
        .and_then(CallKind::from_u16)
        .ok_or(unregistered.clone())?;
    let validators = COMPILED.get(&kind).ok_or(unregistered)?;
    let k = kind.as_u16();
    if has_foreign_version(obj) {
        return Err(SchemaError::UnsupportedVersion { kind: k });
    }
    if !validators.rumor.is_valid(rumor) {
        return Err(invalid(k, validators.rumor.iter_errors(rumor), ""));
    }
    let Some(content_validator) = &validators.content else {
        return Ok((kind, None));
    };
    let text = obj.get("content").and_then(Value::as_str).ok_or(
        // The schema requires a string content; reaching this is a schema bug.
        SchemaError::Unparsable {
            kind: k,
            field: "content",
        },
    )?;
    let content: Value =
        serde_json::from_str(text).map_err(|_| SchemaError::BadContentJson { kind: k })?;
    if !content_validator.is_valid(&content) {
        return Err(invalid(
            k,
            content_validator.iter_errors(&content),
            "/content#",
        ));
    }
    Ok((kind, Some(content)))
}

/// A `["v", x]` tag with a string `x` other than [`PROTOCOL_VERSION`]. Malformed tags are
/// left to the schema.
fn has_foreign_version(obj: &Map<String, Value>) -> bool {
    let Some(tags) = obj.get("tags").and_then(Value::as_array) else {
        return false;
    };
    tags.iter().filter_map(Value::as_array).any(|tag| {
        tag.first().and_then(Value::as_str) == Some("v")
            && tag
                .get(1)
                .and_then(Value::as_str)
                .is_some_and(|v| v != PROTOCOL_VERSION)
    })
}

pub(crate) fn invalid<'a>(
    kind: u16,
    errors: impl Iterator<Item = ValidationError<'a>>,
    prefix: &str,
) -> SchemaError {
    let errors = errors
        .take(MAX_REPORTED_ERRORS)
        .map(|e| describe(&e, prefix))
        .collect();
    SchemaError::Invalid { kind, errors }
}

/// `<instance path>: <keyword> (<schema location>)`, built from locations only: the
/// error's own `Display` would quote the offending value.
fn describe(error: &ValidationError<'_>, prefix: &str) -> String {
    let mut path = safe_pointer(error.instance_path().as_str());
    if path.is_empty() && prefix.is_empty() {
        path.push_str("(root)");
    }
    let location = match error.absolute_keyword_location() {
        Some(uri) => {
            let uri = uri.as_str();
            uri.strip_prefix(SCHEMA_BASE_URI).unwrap_or(uri).to_owned()
        }
        None => error.schema_path().as_str().to_owned(),
    };
    format!("{prefix}{path}: {} ({location})", error.kind().keyword())
}

/// The instance path with any segment that is not a plain token replaced by `*`, so that
/// an attacker-chosen object key can never reach a log line.
fn safe_pointer(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|segment| {
            let plain = segment.len() <= 32
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if plain {
                segment
            } else {
                "*"
            }
        })
        .fold(String::new(), |mut out, segment| {
            out.push('/');
            out.push_str(segment);
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn has_content_schema(kind: CallKind) -> bool {
        COMPILED.get(&kind).is_some_and(|v| v.content.is_some())
    }

    fn schemas_dir() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn registry_and_call_kind_all_agree_in_both_directions() {
        let registry = parse_registry();
        let from_registry: BTreeSet<(u16, String)> = registry
            .kinds
            .iter()
            .map(|(k, e)| (k.parse().expect("kind key is a u16"), e.name.clone()))
            .collect();
        let from_enum: BTreeSet<(u16, String)> = CallKind::ALL
            .iter()
            .map(|k| (k.as_u16(), k.name().to_owned()))
            .collect();
        assert_eq!(from_registry, from_enum);
        for kind in CallKind::ALL {
            assert!(COMPILED.contains_key(&kind), "{kind} has no validator");
        }
        assert_eq!(COMPILED.len(), CallKind::ALL.len());
    }

    #[test]
    fn every_referenced_schema_file_exists_matches_embedded_and_compiles() {
        for entry in parse_registry().kinds.values() {
            let on_disk = std::fs::read_to_string(schemas_dir().join(&entry.schema))
                .unwrap_or_else(|e| panic!("{}: {e}", entry.schema));
            let embedded = SCHEMA_FILES
                .iter()
                .find(|(p, _)| *p == entry.schema)
                .map(|(_, text)| *text);
            assert_eq!(embedded, Some(on_disk.as_str()), "{}", entry.schema);
        }
        // Forces compilation of every kind (panics if a schema does not compile).
        assert_eq!(LazyLock::force(&COMPILED).len(), CallKind::ALL.len());
    }

    #[test]
    fn every_schema_file_on_disk_is_embedded_with_its_own_id() {
        let dir = schemas_dir().join("calling/v1");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("calling/v1 exists")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8")
            })
            .filter(|n| n.ends_with(".schema.json"))
            .map(|n| format!("calling/v1/{n}"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SCHEMA_FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        for (path, text) in SCHEMA_FILES {
            let doc: Value = serde_json::from_str(text).expect("schema is JSON");
            assert_eq!(doc["$id"], format!("{SCHEMA_BASE_URI}{path}"), "{path}");
            assert_eq!(
                doc["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{path}"
            );
            assert!(
                doc["title"].is_string() && doc["description"].is_string(),
                "{path}"
            );
        }
    }

    #[test]
    fn exactly_the_json_content_kinds_have_a_content_validator() {
        let json_kinds: Vec<CallKind> = CallKind::ALL
            .into_iter()
            .filter(|k| has_content_schema(*k))
            .collect();
        assert_eq!(
            json_kinds,
            [
                CallKind::IceCandidates,
                CallKind::ModeSwitchRequest,
                CallKind::ModeSwitchAck,
                CallKind::HandledElsewhere,
                CallKind::GroupKeys
            ]
        );
    }

    #[test]
    fn the_schema_alone_rejects_an_unknown_version() {
        // `check` reports a foreign `v` before the schema runs; the schema must reject it too,
        // for any other consumer of the schema files.
        let rumor = |v: &str| {
            serde_json::json!({
                "pubkey": "a1".repeat(32),
                "created_at": 1,
                "kind": 25051,
                "tags": [["p", "b2".repeat(32)], ["call-id", "550e8400-e29b-41d4-a716-446655440000"], ["v", v]],
                "content": "v=0",
            })
        };
        let answer = &COMPILED[&CallKind::Answer].rumor;
        assert!(answer.is_valid(&rumor(PROTOCOL_VERSION)));
        assert!(!answer.is_valid(&rumor("2")));
    }

    #[test]
    fn safe_pointer_masks_unusual_segments() {
        assert_eq!(safe_pointer(""), "");
        assert_eq!(safe_pointer("/tags/3/1"), "/tags/3/1");
        assert_eq!(safe_pointer("/a b/x~1y/ok"), "/*/*/ok");
    }
}
