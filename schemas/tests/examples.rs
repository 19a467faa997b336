//! The example rumors in `schemas/examples` are the schemas' executable documentation.

mod common;

use std::collections::BTreeSet;

use phantomcall_schemas::{validate_rumor, CallKind, CallMessage, SchemaError};
use serde_json::Value;

use common::{examples_dir, json_files};

#[test]
fn every_valid_example_validates_and_parses_as_the_kind_its_name_says() {
    let examples = json_files(&examples_dir());
    assert!(!examples.is_empty());
    let mut kinds_seen = BTreeSet::new();
    for (name, rumor) in &examples {
        let kind = validate_rumor(rumor).unwrap_or_else(|e| panic!("{name}: {e}"));
        let message = CallMessage::from_rumor_json(rumor).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(message.kind(), kind, "{name}");
        let prefix = name.split('.').next().unwrap();
        assert_eq!(
            kind.name(),
            prefix,
            "{name}: file name must start with its kind's name"
        );
        kinds_seen.insert(kind);
    }
    let all: BTreeSet<CallKind> = CallKind::ALL.into_iter().collect();
    assert_eq!(kinds_seen, all, "every kind has at least one example");
}

#[test]
fn the_amethyst_nip_ac_offer_parses_without_phantomcall_tags() {
    let (_, rumor) = json_files(&examples_dir())
        .into_iter()
        .find(|(name, _)| name == "offer.amethyst-nip-ac.json")
        .expect("Amethyst offer example exists");
    let names: Vec<&str> = rumor["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alt", "p", "call-id", "call-type", "expiration"]);
    let message = CallMessage::from_rumor_json(&rumor).expect("valid");
    assert_eq!(message.mode, None);
    assert_eq!(message.device, None);
    assert_eq!(message.peer, rumor["tags"][1][1]);
}

#[test]
fn every_invalid_example_is_rejected() {
    let examples = json_files(&examples_dir().join("invalid"));
    assert!(
        examples.len() >= 20,
        "the invalid corpus is unexpectedly small"
    );
    for (name, rumor) in &examples {
        let validated = validate_rumor(rumor);
        assert!(validated.is_err(), "{name} was accepted");
        let parsed = CallMessage::from_rumor_json(rumor);
        assert_eq!(
            parsed.err(),
            validated.err(),
            "{name}: parse and validate disagree"
        );
        if std::env::var_os("SHOW_ERRORS").is_some() {
            eprintln!("{name}: {}", validate_rumor(rumor).unwrap_err());
        }
    }
}

/// Every string in a rumor long enough to be recognizable in an error text.
fn long_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.chars().count() >= 8 => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| long_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| long_strings(v, out)),
        _ => {}
    }
}

#[test]
fn rejection_errors_never_quote_values_from_the_rumor() {
    for (name, rumor) in json_files(&examples_dir().join("invalid")) {
        let err = validate_rumor(&rumor).unwrap_err();
        let texts = [err.to_string(), format!("{err:?}")];
        let mut values = Vec::new();
        long_strings(&rumor, &mut values);
        // Decoded JSON contents too: their strings are what content errors are about.
        if let Some(decoded) = rumor["content"]
            .as_str()
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
        {
            long_strings(&decoded, &mut values);
        }
        for value in &values {
            for text in &texts {
                assert!(
                    !text.contains(value.as_str()),
                    "{name}: error quotes a value"
                );
            }
        }
        if let SchemaError::Invalid { errors, .. } = &err {
            assert!(!errors.is_empty(), "{name}: Invalid without reasons");
        }
    }
}

#[test]
fn nip_ac_group_answers_and_hangups_name_every_member() {
    for file in ["answer.nip-ac-group.json", "hangup.nip-ac-group.json"] {
        let (_, rumor) = json_files(&examples_dir())
            .into_iter()
            .find(|(name, _)| name == file)
            .unwrap_or_else(|| panic!("{file} exists"));
        let message = CallMessage::from_rumor_json(&rumor).expect(file);
        let named: Vec<&str> = rumor["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t[0] == "p")
            .map(|t| t[1].as_str().unwrap())
            .collect();
        assert_eq!(named.len(), 3, "{file}");
        assert_eq!(message.peer, named[0], "{file}");
        assert_eq!(message.also_to, named[1..], "{file}");
    }
}
