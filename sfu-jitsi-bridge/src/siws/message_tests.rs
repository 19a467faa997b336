use super::*;

const ADDR: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

/// The specification's maximal template, filled in by hand.
fn maximal() -> String {
    format!(
        "meet.example.org wants you to sign in with your Solana account:\n\
         {ADDR}\n\
         \n\
         Sign in to PhantomCall conferences.\n\
         \n\
         URI: https://meet.example.org/login\n\
         Version: 1\n\
         Chain ID: solana:mainnet\n\
         Nonce: oBbLoEldZs\n\
         Issued At: 2026-03-01T12:00:00.000Z\n\
         Expiration Time: 2026-03-01T12:10:00.000Z\n\
         Not Before: 2026-03-01T11:59:00Z\n\
         Request ID: req-1:abc@x\n\
         Resources:\n\
         - https://example.com\n\
         - https://phantom.app/"
    )
}

fn parse(text: &str) -> Result<SiwsMessage, ParseError> {
    SiwsMessage::parse(text.as_bytes())
}

fn line_of(text: &str) -> usize {
    parse(text).unwrap_err().line
}

#[test]
fn maximal_message_parses_every_field() {
    let msg = parse(&maximal()).unwrap();
    assert_eq!(msg.domain, "meet.example.org");
    assert_eq!(msg.address, ADDR);
    assert_eq!(
        msg.statement.as_deref(),
        Some("Sign in to PhantomCall conferences.")
    );
    assert_eq!(msg.uri.as_deref(), Some("https://meet.example.org/login"));
    assert_eq!(msg.version.as_deref(), Some("1"));
    assert_eq!(msg.chain_id, Some(ChainId::SolanaMainnet));
    assert_eq!(msg.nonce.as_deref(), Some("oBbLoEldZs"));
    assert_eq!(
        msg.issued_at.as_ref().unwrap().at(),
        time::macros::datetime!(2026-03-01 12:00 UTC)
    );
    assert_eq!(
        msg.issued_at.as_ref().unwrap().as_str(),
        "2026-03-01T12:00:00.000Z"
    );
    assert_eq!(
        msg.not_before.as_ref().unwrap().as_str(),
        "2026-03-01T11:59:00Z"
    );
    assert_eq!(msg.request_id.as_deref(), Some("req-1:abc@x"));
    assert_eq!(
        msg.resources,
        Some(vec![
            "https://example.com".into(),
            "https://phantom.app/".into()
        ])
    );
    assert_eq!(msg.address_key().unwrap().len(), 32);
    assert_eq!(msg.build().unwrap(), maximal());
}

#[test]
fn minimal_and_partial_messages() {
    let minimal = format!("localhost:8443 wants you to sign in with your Solana account:\n{ADDR}");
    let msg = parse(&minimal).unwrap();
    assert_eq!(msg, SiwsMessage::new("localhost:8443", ADDR));
    assert_eq!(msg.build().unwrap(), minimal);

    let statement_only = format!("{minimal}\n\nHello there.");
    assert_eq!(
        parse(&statement_only).unwrap().statement.as_deref(),
        Some("Hello there.")
    );

    let fields_only = format!("{minimal}\n\nNonce: abcdefgh\nResources:");
    let msg = parse(&fields_only).unwrap();
    assert_eq!(msg.statement, None);
    assert_eq!(msg.resources, Some(vec![]));
    assert_eq!(msg.build().unwrap(), fields_only);

    let ipv6 = format!("[::1]:443 wants you to sign in with your Solana account:\n{ADDR}");
    assert!(parse(&ipv6).is_ok());
}

#[test]
fn builder_writes_the_specification_layout() {
    let mut msg = SiwsMessage::new("meet.example.org", ADDR);
    msg.statement = Some("Sign in to PhantomCall conferences.".into());
    msg.uri = Some("https://meet.example.org/login".into());
    msg.version = Some("1".into());
    msg.chain_id = Some(ChainId::SolanaMainnet);
    msg.nonce = Some("oBbLoEldZs".into());
    msg.issued_at = Timestamp::parse("2026-03-01T12:00:00.000Z");
    msg.expiration_time = Timestamp::parse("2026-03-01T12:10:00.000Z");
    msg.not_before = Timestamp::parse("2026-03-01T11:59:00Z");
    msg.request_id = Some("req-1:abc@x".into());
    msg.resources = Some(vec![
        "https://example.com".into(),
        "https://phantom.app/".into(),
    ]);
    assert_eq!(msg.build().unwrap(), maximal());
}

#[test]
fn builder_refuses_what_the_parser_would_read_differently() {
    let mut msg = SiwsMessage::new("meet.example.org", ADDR);
    msg.statement = Some("Nonce: looks like a field".into());
    assert!(msg.build().is_err());
    msg.statement = Some("two\nlines".into());
    assert!(msg.build().is_err());
    msg.statement = Some(String::new());
    assert!(msg.build().is_err());
    msg.statement = None;
    msg.nonce = Some("short".into());
    assert!(msg.build().is_err());
}

#[test]
fn timestamps_are_written_at_whole_seconds_in_utc() {
    let at = time::macros::datetime!(2026-03-01 13:00:00.5 +01:00);
    let ts = Timestamp::from_datetime(at);
    assert_eq!(ts.as_str(), "2026-03-01T12:00:00Z");
    assert_eq!(Timestamp::parse(ts.as_str()), Some(ts));
}

#[test]
fn malformed_messages_name_the_line() {
    let head = "meet.example.org wants you to sign in with your Solana account:";
    let ok = format!("{head}\n{ADDR}");
    let cases: Vec<(String, usize)> = vec![
        ("meet.example.org wants you to sign in:\nx".into(), 1),
        (format!("user@meet.example.org{}\n{ADDR}", &head[16..]), 1),
        (format!("meet.example.org:99999{}\n{ADDR}", &head[16..]), 1),
        (head.to_string(), 2),
        (format!("{head}\n0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl"), 2),
        (format!("{head}\n11111111111111111111111111111111111"), 2),
        (format!("{ok}\n"), 3),
        (format!("{ok}\n\n"), 4),
        (format!("{ok}\nURI: https://x"), 3),
        (format!("{ok}\n\nstatement\nURI: https://x"), 5),
        (format!("{ok}\n\nstatement\n\n"), 6),
        (format!("{ok}\n\nbad \"quote\""), 4),
        (format!("{ok}\n\nURI: https://x\nFoo: bar"), 5),
        (format!("{ok}\n\nVersion: 1\nURI: https://x"), 5),
        (format!("{ok}\n\nVersion: 1\nVersion: 1"), 5),
        (format!("{ok}\n\nVersion: 2"), 4),
        (format!("{ok}\n\nChain ID: ethereum"), 4),
        (format!("{ok}\n\nNonce: abc"), 4),
        (format!("{ok}\n\nNonce: abcdefgh!"), 4),
        (format!("{ok}\n\nIssued At: yesterday"), 4),
        (format!("{ok}\n\nIssued At: 2026-03-01"), 4),
        (format!("{ok}\n\nRequest ID: a b"), 4),
        (format!("{ok}\n\nURI: no-scheme"), 4),
        (format!("{ok}\n\nURI: https://x/a b"), 4),
        (format!("{ok}\n\nURI: https://x/%zz"), 4),
        (format!("{ok}\n\nResources: x"), 4),
        (
            format!("{ok}\n\nResources:\n- https://x\nURI: https://x"),
            6,
        ),
        (format!("{ok}\n\nResources:\n-https://x"), 5),
        (format!("{ok}\r\n\nNonce: abcdefgh"), 2),
        (format!("{ok}\n\nNonce: abcdefgh\n"), 5),
        (format!("{ok}\n\nstatément"), 4),
    ];
    for (text, line) in cases {
        assert_eq!(line_of(&text), line, "{text:?}");
    }
}

#[test]
fn sizes_are_bounded() {
    let head = format!("meet.example.org wants you to sign in with your Solana account:\n{ADDR}");
    let big = format!("{head}\n\n{}", "a".repeat(MAX_MESSAGE_BYTES));
    assert_eq!(
        parse(&big).unwrap_err(),
        ParseError {
            line: 0,
            reason: "message too large"
        }
    );
    let long_statement = format!("{head}\n\n{}", "a".repeat(MAX_STATEMENT_LEN + 1));
    assert_eq!(line_of(&long_statement), 4);
    let mut many = format!("{head}\n\nResources:");
    for _ in 0..=MAX_RESOURCES {
        many.push_str("\n- https://x");
    }
    assert_eq!(line_of(&many), 4 + MAX_RESOURCES + 1);
    assert_eq!(SiwsMessage::parse(&[0xff, 0xfe]).unwrap_err().line, 0);
}

#[test]
fn chain_ids_and_networks() {
    for c in ChainId::ALL {
        assert_eq!(ChainId::parse(c.as_str()), Some(c));
    }
    assert_eq!(ChainId::Mainnet.network(), ChainId::SolanaMainnet.network());
    assert_ne!(ChainId::Devnet.network(), ChainId::SolanaMainnet.network());
    assert_eq!(ChainId::parse("Mainnet"), None);
}
