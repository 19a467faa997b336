use super::*;

const EXAMPLE: &str = include_str!("../../gateway.example.toml");

#[test]
fn the_example_file_parses() {
    let cfg = GatewayConfig::from_toml(EXAMPLE).unwrap();
    let twilio = cfg.trunk("twilio").unwrap();
    assert_eq!(
        twilio.codecs,
        vec![
            Codec::G711(G711::Pcmu),
            Codec::G711(G711::Pcma),
            Codec::Opus
        ],
        "Opus accepted after G.711 by default"
    );
    assert_eq!(twilio.dids["+15550100101"], "hotline:community-line");
    assert!(twilio.inbound_allow[0].contains("54.172.60.3".parse().unwrap()));
    assert!(!twilio.inbound_allow[0].contains("54.172.60.4".parse().unwrap()));
    assert_eq!(cfg.rules.home_country_code.as_deref(), Some("1"));
    assert_eq!(cfg.service.outbound_trunk.as_deref(), Some("twilio"));
    assert_eq!(
        cfg.service.users.values().copied().collect::<Vec<_>>(),
        [120]
    );
    assert_eq!(twilio.media_timeout_secs, 60);
    assert_eq!(twilio.transport, Transport::Udp);
    assert_eq!(twilio.srtp, SrtpMode::Off);
    assert_eq!(twilio.tls, None);
    let debug = format!("{twilio:?}");
    assert!(
        !debug.contains("change-me"),
        "no password in Debug: {debug}"
    );
}

fn err_of(toml: &str) -> String {
    GatewayConfig::from_toml(toml).unwrap_err().to_string()
}

#[test]
fn errors_name_the_field() {
    let base =
        "[[trunk]]\nname = \"t\"\nserver = \"sip.example:5060\"\nlisten = \"127.0.0.1:5060\"\n";
    assert!(GatewayConfig::from_toml(base).is_ok());
    assert!(err_of("[[trunk]]\nname = \"t\"\n").contains("server"));
    assert!(err_of(&format!("{base}passwrd = \"x\"\n")).contains("passwrd"));
    assert!(err_of(&format!("{base}codecs = [\"G729\"]\n")).contains("trunk[0].codecs"));
    assert!(err_of(&format!("{base}opus = \"maybe\"\n")).contains("opus"));
    let prefer =
        GatewayConfig::from_toml(&format!("{base}opus = \"prefer\"\ncodecs = [\"PCMA\"]\n"))
            .unwrap();
    assert_eq!(
        prefer.trunk("t").unwrap().codecs,
        vec![Codec::Opus, Codec::G711(G711::Pcma)]
    );
    let off = GatewayConfig::from_toml(&format!("{base}opus = \"off\"\n")).unwrap();
    assert!(!off.trunk("t").unwrap().codecs.contains(&Codec::Opus));
    assert!(
        err_of(&format!("{base}inbound_allow = [\"10.0.0.0/40\"]\n"))
            .contains("trunk[0].inbound_allow[0]")
    );
    assert!(err_of(&format!("{base}username = \"u\"\n")).contains("trunk[0].password"));
    assert!(err_of(&base.replace("sip.example:5060", "sip.example")).contains("trunk[0].server"));
    assert!(err_of(&base.replace("127.0.0.1", "0.0.0.0")).contains("trunk[0].media_ip"));
    assert!(err_of(&format!("{base}{base}")).contains("duplicate"));
    assert!(err_of(&format!("{base}media_timeout_secs = 0\n")).contains("media_timeout_secs"));
    assert!(
        err_of(&format!("{base}[service]\noutbound_trunk = \"nope\"\n"))
            .contains("service.outbound_trunk")
    );
    assert!(err_of(&format!("{base}[service]\nmax_calls = 0\n")).contains("service.max_calls"));
    assert!(err_of(&format!("{base}[service]\nlines = 3\n")).contains("lines"));
    assert!(
        err_of(&format!("{base}[rules]\nrates = {{ \"1\" = -1.0 }}\n")).contains("rules.rates")
    );
}

const TRUNK: &str =
    "[[trunk]]\nname = \"t\"\nserver = \"sip.example:5061\"\nlisten = \"127.0.0.1:5061\"\n";

#[test]
fn a_tls_trunk_needs_its_certificate_and_key_and_defaults_to_required_srtp() {
    let tls = format!("{TRUNK}transport = \"tls\"\n");
    assert!(err_of(&tls).contains("trunk[0].tls_certificate"));
    assert!(err_of(&format!("{tls}tls_certificate = \"c.pem\"\n")).contains("trunk[0].tls_key"));
    let full = format!("{tls}tls_certificate = \"c.pem\"\ntls_key = \"k.pem\"\n");
    let cfg = GatewayConfig::from_toml(&full).unwrap();
    let trunk = &cfg.trunks[0];
    assert_eq!(trunk.transport, Transport::Tls);
    assert_eq!(trunk.srtp, SrtpMode::Required);
    let files = trunk.tls.as_ref().unwrap();
    assert_eq!(files.key, PathBuf::from("k.pem"));
    assert_eq!(files.ca_file, None);
    assert!(
        !format!("{trunk:?}").contains("k.pem"),
        "the key's path is not in Debug"
    );
    let optional = GatewayConfig::from_toml(&format!("{full}srtp = \"optional\"\n")).unwrap();
    assert_eq!(optional.trunks[0].srtp, SrtpMode::Optional);
}

#[test]
fn tls_files_on_a_trunk_that_is_not_tls_are_refused() {
    assert!(err_of(&format!("{TRUNK}tls_certificate = \"c.pem\"\n")).contains("trunk[0].transport"));
    assert!(err_of(&format!(
        "{TRUNK}transport = \"tcp\"\ntls_ca_file = \"ca.pem\"\n"
    ))
    .contains("trunk[0].transport"));
    assert!(err_of(&format!("{TRUNK}transport = \"sctp\"\n")).contains("transport"));
}

#[test]
fn udp_and_tcp_trunks_default_to_plain_rtp_unless_srtp_is_set() {
    let tcp = GatewayConfig::from_toml(&format!("{TRUNK}transport = \"tcp\"\n")).unwrap();
    assert_eq!(tcp.trunks[0].srtp, SrtpMode::Off);
    let udp = GatewayConfig::from_toml(&format!("{TRUNK}srtp = \"required\"\n")).unwrap();
    assert_eq!(udp.trunks[0].srtp, SrtpMode::Required);
    assert!(err_of(&format!("{TRUNK}srtp = \"maybe\"\n")).contains("srtp"));
}

#[test]
fn the_commented_tls_trunk_example_parses_as_tls_with_required_srtp() {
    let start = EXAMPLE
        .find("# [[trunk]]\n# name = \"twilio-secure\"")
        .unwrap();
    let end = start + EXAMPLE[start..].find("\n\n").unwrap();
    let mut text = String::new();
    for line in EXAMPLE[start..end].lines() {
        if let Some(line) = line.strip_prefix("# ").filter(|l| !l.starts_with('#')) {
            text.push_str(line);
            text.push('\n');
        }
    }
    let cfg = GatewayConfig::from_toml(&text).unwrap();
    let trunk = cfg.trunk("twilio-secure").unwrap();
    assert_eq!(trunk.transport, Transport::Tls);
    assert_eq!(trunk.srtp, SrtpMode::Required);
    assert_eq!(
        trunk.tls.as_ref().unwrap().ca_file,
        None,
        "system roots by default"
    );
    assert_eq!(trunk.dids.len(), 1);
}
