use super::*;

const EXAMPLE: &str = include_str!("../../hotline.example.toml");
const ALICE: &str = "npub1nplvpaxe7ecsfmguvvztvpug0uw22jzn7u2hxs6px6g6y6uz83cs7wrked";

fn minimal(extra: &str) -> String {
    format!("name = \"Test line\"\n{extra}\n[[dispatchers]]\nnpub = \"{ALICE}\"\n")
}

fn field_of(err: ConfigError) -> String {
    match err {
        ConfigError::Invalid { field, .. } => field,
        other => panic!("expected an Invalid error, got {other}"),
    }
}

#[test]
fn the_example_parses_to_the_documented_defaults() {
    let config = HotlineConfig::parse(EXAMPLE).unwrap();
    assert_eq!(config.name, "Example helpline");
    assert_eq!(config.core, CoreConfig::default());
    assert_eq!(config.dispatchers.len(), 3);
    assert_eq!(config.dispatchers[1].wrap_up, Some(Duration::from_secs(60)));
    assert_eq!(config.dispatchers[0].name.as_deref(), Some("Alice"));
    assert!(config.blocked.is_empty());
    assert_eq!(config.inbox, crate::inbox::InboxConfig::default());
    assert_eq!(
        config.broadcast,
        crate::broadcast::BroadcastConfig::default()
    );
}

#[test]
fn the_inbox_follows_the_queue_strategy_and_npub_rule_unless_it_sets_its_own() {
    let config = HotlineConfig::parse(&minimal(
        "strategy = \"round-robin\"\nshow_caller_npub = true",
    ))
    .unwrap();
    assert_eq!(config.inbox.strategy, Strategy::RoundRobin);
    assert!(config.inbox.show_sender_npub);
    let config = HotlineConfig::parse(&format!(
        "{}\n[inbox]\nstrategy = \"fewest-open\"\nshow_sender_npub = false\nmax_per_dispatcher = 3",
        minimal("strategy = \"round-robin\"\nshow_caller_npub = true")
    ))
    .unwrap();
    assert_eq!(config.inbox.strategy, Strategy::FewestCalls);
    assert!(!config.inbox.show_sender_npub);
    assert_eq!(config.inbox.max_per_dispatcher, 3);
}

#[test]
fn broadcast_pacing_is_read_and_bad_values_name_their_field() {
    let config = HotlineConfig::parse(&format!(
        "{}\n[broadcast]\nper_relay_rate = 4.0\njitter_ms = [0, 10]\nmax_attempts = 2",
        minimal("")
    ))
    .unwrap();
    assert_eq!(
        config.broadcast.per_relay_interval,
        Duration::from_millis(250)
    );
    assert_eq!(
        config.broadcast.jitter,
        Duration::ZERO..Duration::from_millis(10)
    );
    assert_eq!(config.broadcast.max_attempts, 2);
    for (section, field) in [
        (
            "[broadcast]\nper_relay_rate = 0.0",
            "broadcast.per_relay_rate",
        ),
        ("[broadcast]\njitter_ms = [9, 1]", "broadcast.jitter_ms"),
        ("[broadcast]\nmax_attempts = 0", "broadcast.max_attempts"),
        (
            "[broadcast]\nbackoff_first_ms = 5000\nbackoff_max_ms = 10",
            "broadcast.backoff_max_ms",
        ),
        ("[inbox]\nstrategy = \"ring-all\"", "inbox.strategy"),
        (
            "[inbox]\nmax_per_dispatcher = 0",
            "inbox.max_per_dispatcher",
        ),
    ] {
        let err = HotlineConfig::parse(&format!("{}\n{section}", minimal(""))).unwrap_err();
        assert_eq!(field_of(err), field, "{section}");
    }
    assert!(matches!(
        HotlineConfig::parse(&format!("{}\n[broadcast]\nrate = 1", minimal(""))),
        Err(ConfigError::Toml(_))
    ));
}

#[test]
fn a_minimal_file_gets_defaults_and_zero_means_no_limit() {
    let config = HotlineConfig::parse(&minimal(
        "max_wait_secs = 0\nmax_queue_len = 0\nstrategy = \"ring-all\"\noverflow = \"voicemail\"",
    ))
    .unwrap();
    assert_eq!(config.core.max_wait, None);
    assert_eq!(config.core.max_queue_len, None);
    assert_eq!(config.core.strategy, Strategy::RingAll);
    assert_eq!(config.core.overflow, OverflowAction::Voicemail);
    assert!(!config.core.show_caller_npub);
}

#[test]
fn bad_values_name_their_field() {
    let cases = [
        ("strategy = \"random\"", "strategy"),
        ("overflow = \"busy\"", "overflow"),
        ("ring_timeout_secs = 0", "ring_timeout_secs"),
        ("ring_timeout_secs = 301", "ring_timeout_secs"),
        ("position_interval_secs = 1", "position_interval_secs"),
        ("blocked_caller_ids = [\"zz\"]", "blocked_caller_ids[0]"),
        (
            "[abuse]\nmax_concurrent_per_caller = 0",
            "abuse.max_concurrent_per_caller",
        ),
        ("[abuse]\nrate_window_secs = 0", "abuse.rate_window_secs"),
    ];
    for (extra, field) in cases {
        let err = HotlineConfig::parse(&minimal(extra)).unwrap_err();
        assert_eq!(field_of(err), field, "for {extra}");
    }
    let err = HotlineConfig::parse("name = \"\"\n[[dispatchers]]\nnpub = \"x\"").unwrap_err();
    assert_eq!(field_of(err), "name");
}

#[test]
fn dispatcher_npubs_are_checked_strictly() {
    let bad = [
        "npub1nplvpaxe7ecsfmguvvztvpug0uw22jzn7u2hxs6px6g6y6uz83cs7wrkee", // checksum
        "nsec1nplvpaxe7ecsfmguvvztvpug0uw22jzn7u2hxs6px6g6y6uz83cs7wrked", // prefix
        "0f3ec0f4d9f6710..",
    ];
    for npub in bad {
        let text = format!("name = \"x\"\n[[dispatchers]]\nnpub = \"{ALICE}\"\n[[dispatchers]]\nnpub = \"{npub}\"\n");
        let err = HotlineConfig::parse(&text).unwrap_err();
        assert_eq!(field_of(err), "dispatchers[1].npub", "for {npub}");
    }
    let twice = format!(
        "name = \"x\"\n[[dispatchers]]\nnpub = \"{ALICE}\"\n[[dispatchers]]\nnpub = \"{ALICE}\"\n"
    );
    assert_eq!(
        field_of(HotlineConfig::parse(&twice).unwrap_err()),
        "dispatchers[1].npub"
    );
    assert_eq!(
        field_of(HotlineConfig::parse("name = \"x\"").unwrap_err()),
        "dispatchers"
    );
}

#[test]
fn type_errors_and_unknown_keys_show_the_key() {
    let err = HotlineConfig::parse(&minimal("ring_timeout_secs = \"soon\"")).unwrap_err();
    assert!(matches!(err, ConfigError::Toml(_)));
    assert!(err.to_string().contains("ring_timeout_secs"), "{err}");
    let err = HotlineConfig::parse(&minimal("ring_timeout = 5")).unwrap_err();
    assert!(err.to_string().contains("ring_timeout"), "{err}");
}

#[test]
fn configured_blocks_refuse_the_caller() {
    let caller = Npub::from_bytes([9; 32]);
    let key = CallerIdKey::from_bytes([1; 32]);
    let id = key.caller_id(&caller).to_hex();
    let config =
        HotlineConfig::parse(&minimal(&format!("blocked_caller_ids = [\"{id}\"]"))).unwrap();
    let now = Instant::now();
    let mut core = config.new_core(key, now, 1_000_000);
    core.handle_input(
        Input::Incoming {
            call: crate::ids::CallId("c1".into()),
            caller,
            priority: 0,
        },
        now,
    )
    .unwrap();
    assert!(core.waiting().is_empty());
    assert_eq!(core.stats().refused, 1);
}

#[test]
fn a_phone_gateway_carries_many_callers_past_the_per_caller_limits() {
    let gateway = Npub::from_bytes([7; 32]);
    let person = Npub::from_bytes([8; 32]);
    let text = minimal(&format!("phone_gateways = [\"{}\"]", gateway.to_bech32()));
    let config = HotlineConfig::parse(&text).unwrap();
    assert_eq!(config.core.phone_gateways, vec![gateway]);
    let now = Instant::now();
    let mut core = config.new_core(CallerIdKey::from_bytes([1; 32]), now, 1_000_000);
    let call = |n: u32| crate::ids::CallId(format!("c{n}"));
    for (n, caller) in [
        (1, gateway),
        (2, gateway),
        (3, gateway),
        (4, person),
        (5, person),
    ] {
        let _ = core.handle_input(
            Input::Incoming {
                call: call(n),
                caller,
                priority: 0,
            },
            now,
        );
    }
    assert_eq!(
        core.waiting().len(),
        4,
        "three phone callers through the gateway wait; the person's second call is refused"
    );
    assert_eq!(core.stats().refused, 1);
    let err = HotlineConfig::parse(&minimal("phone_gateways = [\"npub1bad\"]")).unwrap_err();
    assert_eq!(field_of(err), "phone_gateways[0]");
}

#[test]
fn each_phone_behind_a_gateway_is_its_own_caller_and_a_reference_from_anyone_else_is_ignored() {
    use phantomcall_schemas::PhoneRef;
    let gateway = Npub::from_bytes([7; 32]);
    let person = Npub::from_bytes([8; 32]);
    let (first, second) = (PhoneRef::from_bytes([1; 16]), PhoneRef::from_bytes([2; 16]));
    let key = CallerIdKey::from_bytes([1; 32]);
    let blocked = key.phone_caller_id(&gateway, &PhoneRef::from_bytes([3; 16]));
    let text = minimal(&format!(
        "phone_gateways = [\"{}\"]\nblocked_caller_ids = [\"{}\"]",
        gateway.to_bech32(),
        blocked.to_hex()
    ));
    let config = HotlineConfig::parse(&text).unwrap();
    let now = Instant::now();
    let mut core = config.new_core(key.clone(), now, 1_000_000);
    let phone_call = |n: u32, from: Npub, phone: PhoneRef| Input::IncomingFromPhone {
        call: crate::ids::CallId(format!("c{n}")),
        gateway: from,
        phone,
        priority: 0,
    };
    // Two phones through the gateway: two callers, neither the gateway's own id.
    core.handle_input(phone_call(1, gateway, first), now)
        .unwrap();
    core.handle_input(phone_call(2, gateway, second), now)
        .unwrap();
    let callers: Vec<String> = core
        .view(now)
        .entries
        .iter()
        .map(|e| e.caller.clone())
        .collect();
    assert_eq!(callers.len(), 2);
    assert_ne!(callers[0], callers[1]);
    assert!(
        !callers.contains(&key.caller_id(&gateway).short()),
        "{callers:?}"
    );
    // The first phone calling again at once meets the per-caller limit (one entry); the
    // blocked phone is refused; other phones are not affected by either.
    let refused = core.stats().refused;
    let _ = core.handle_input(phone_call(3, gateway, first), now);
    let _ = core.handle_input(phone_call(4, gateway, PhoneRef::from_bytes([3; 16])), now);
    assert_eq!(core.stats().refused, refused + 2);
    assert_eq!(core.waiting().len(), 2);
    // A person cannot pose as many phones: references from a non-gateway are ignored,
    // so their second call is their second entry and refused.
    core.handle_input(phone_call(5, person, first), now)
        .unwrap();
    let _ = core.handle_input(phone_call(6, person, second), now);
    assert_eq!(core.stats().refused, refused + 3);
    let view = core.view(now);
    assert_eq!(view.entries.len(), 3);
    assert_eq!(view.entries[2].caller, key.caller_id(&person).short());
}

#[test]
fn a_phone_gateways_caller_overflows_the_voicemail_way_not_into_a_callback() {
    let gateway = Npub::from_bytes([7; 32]);
    let person = Npub::from_bytes([8; 32]);
    let text = minimal(&format!(
        "max_queue_len = 1\nphone_gateways = [\"{}\"]",
        gateway.to_bech32()
    ));
    let config = HotlineConfig::parse(&text).unwrap();
    let now = Instant::now();
    let mut core = config.new_core(CallerIdKey::from_bytes([1; 32]), now, 1_000_000);
    for (n, caller) in [(1, person), (2, gateway)] {
        core.handle_input(
            Input::Incoming {
                call: crate::ids::CallId(format!("c{n}")),
                caller,
                priority: 0,
            },
            now,
        )
        .unwrap();
    }
    let mut outputs = Vec::new();
    while let Some(o) = core.poll_output() {
        outputs.push(o);
    }
    assert!(
        outputs.iter().any(
            |o| matches!(o, crate::core::Output::TakeVoicemail { call: Some(c), .. } if c.0 == "c2")
        ),
        "{outputs:?}"
    );
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, crate::core::Output::ConvertedToCallback { .. })));
    assert_eq!(core.waiting().len(), 1, "no callback entry for the phone");
}
