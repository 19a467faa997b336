use crate::config::{ConfigError, GatewayConfig};
use crate::number::E164;
use crate::sms::Provider;

const GOOD: &str = r#"
[sms]
provider = "twilio"
account_id = "AC0123456789abcdef"
auth_token = "s3cr3t-t0ken-value"
public_url = "https://gw.example.org/sms/"
listen = "127.0.0.1:8088"
state_db = "/var/lib/phantomcall/sms.sqlite"
[sms.numbers]
"+15550100101" = "hotline:community-line"
"#;

fn err_field(text: &str) -> String {
    match GatewayConfig::from_toml(text) {
        Err(ConfigError::Invalid { field, .. }) => field,
        Err(other) => panic!("expected a field error, got {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn sms_table_is_optional() {
    assert!(GatewayConfig::from_toml("").unwrap().sms.is_none());
}

#[test]
fn a_complete_sms_table_parses_with_defaults() {
    let c = GatewayConfig::from_toml(GOOD).unwrap().sms.unwrap();
    assert_eq!(c.provider, Provider::Twilio);
    assert_eq!(c.public_url, "https://gw.example.org/sms");
    assert_eq!(c.inbound_url(), "https://gw.example.org/sms/inbound");
    assert_eq!(c.api_base_url, "https://api.twilio.com");
    assert_eq!(c.max_segments, 5);
    assert_eq!(
        c.numbers
            .get(&E164::parse("+15550100101").unwrap())
            .map(String::as_str),
        Some("hotline:community-line")
    );
}

#[test]
fn debug_hides_the_auth_token() {
    let c = GatewayConfig::from_toml(GOOD).unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cr3t-t0ken-value"), "{shown}");
    assert!(shown.contains("Secret(hidden)"));
}

#[test]
fn the_token_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "file-token-123456\n").unwrap();
    let text = GOOD.replace(
        "auth_token = \"s3cr3t-t0ken-value\"",
        &format!("auth_token_file = {:?}", path.display().to_string()),
    );
    let c = GatewayConfig::from_toml(&text).unwrap().sms.unwrap();
    assert_eq!(c.auth_token.expose(), "file-token-123456");
}

#[test]
fn unknown_keys_are_refused() {
    let text = GOOD.replace("listen =", "lisen = \"x\"\nlisten =");
    let err = GatewayConfig::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("lisen"), "{err}");
}

#[test]
fn bad_values_name_their_field() {
    assert_eq!(
        err_field(&GOOD.replace("https://gw", "http://gw")),
        "sms.public_url"
    );
    assert_eq!(
        err_field(&GOOD.replace("AC0123456789abcdef", "AC/../x")),
        "sms.account_id"
    );
    assert_eq!(
        err_field(&GOOD.replace("127.0.0.1:8088", "nowhere")),
        "sms.listen"
    );
    assert_eq!(
        err_field(&GOOD.replace("auth_token = \"s3cr3t-t0ken-value\"", "")),
        "sms.auth_token"
    );
    assert_eq!(
        err_field(&GOOD.replace("\"+15550100101\"", "\"15550100101\"")),
        "sms.numbers.\"…01\""
    );
    assert_eq!(
        err_field(&GOOD.replace(
            "[sms.numbers]\n\"+15550100101\" = \"hotline:community-line\"",
            ""
        )),
        "sms.numbers"
    );
    // A user's npub takes calls through a DID, never SMS: refused at start, not dropped.
    assert_eq!(
        err_field(&GOOD.replace("\"hotline:community-line\"", "\"npub1someone\"")),
        "sms.numbers.\"…01\""
    );
    assert_eq!(
        err_field(&format!("{GOOD}\n").replace("state_db", "max_segments = 11\nstate_db")),
        "sms.max_segments"
    );
}

#[test]
fn http_is_allowed_toward_loopback_only() {
    let text = GOOD
        .replace("https://gw.example.org/sms/", "http://127.0.0.1:9/sms")
        .replace(
            "state_db",
            "api_base_url = \"http://127.0.0.1:9\"\nstate_db",
        );
    let c = GatewayConfig::from_toml(&text).unwrap().sms.unwrap();
    assert_eq!(c.api_base_url, "http://127.0.0.1:9");
    let text = GOOD.replace(
        "state_db",
        "api_base_url = \"http://api.example\"\nstate_db",
    );
    assert_eq!(err_field(&text), "sms.api_base_url");
}

/// The commented `[sms]` example in gateway.example.toml, uncommented, is a valid table
/// (with the token given inline, as the example's file does not exist here).
#[test]
fn the_commented_example_parses() {
    let example = include_str!("../../../gateway.example.toml");
    let start = example.find("# [sms]").expect("an [sms] example");
    let mut text = String::new();
    for line in example[start..].lines() {
        let Some(line) = line.strip_prefix("# ") else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with("auth_token_file") {
            text.push_str("auth_token = \"example-token-123\"\n");
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    let c = GatewayConfig::from_toml(&text).unwrap().sms.unwrap();
    assert_eq!(c.numbers.len(), 1);
    assert_eq!(c.status_url(), "https://gateway.example.org/sms/status");
}
