use super::*;

const ALICE: &str = "a1ce0000000000000000000000000000000000000000000000000000000000aa";
const BOB: &str = "b0b00000000000000000000000000000000000000000000000000000000000bb";

fn rules() -> Rules {
    let mut cfg = RulesConfig {
        home_country_code: Some("1".into()),
        allow_prefixes: vec!["44".into()],
        ..RulesConfig::default()
    };
    cfg.rates.insert("1".into(), 1.0);
    cfg.rates.insert("44".into(), 2.0);
    cfg.validate().unwrap();
    Rules::new(cfg)
}

fn num(n: &str) -> E164 {
    E164::parse(n).unwrap()
}

#[test]
fn home_country_is_allowed_international_and_premium_are_not() {
    let r = rules();
    let d = &r.destinations;
    assert_eq!(d.check("15550100199"), Ok(()));
    assert_eq!(d.check("442079460000"), Ok(()), "explicitly allowed");
    assert_eq!(
        d.check("4930123456"),
        Err(Blocked::NotAllowed),
        "international by default"
    );
    assert_eq!(d.check("19005550100"), Err(Blocked::PremiumRate));
    assert_eq!(
        d.check("449098790000"),
        Err(Blocked::PremiumRate),
        "premium inside an allowed country"
    );
    assert_eq!(
        d.check("8816000000"),
        Err(Blocked::PremiumRate),
        "satellite"
    );
    let none = Destinations::new(None, &[], &[]);
    assert_eq!(
        none.check("15550100199"),
        Err(Blocked::NotAllowed),
        "unconfigured allows nothing"
    );
    let operator = Destinations::new(Some("1"), &["1900555".into()], &["1555".into()]);
    assert_eq!(
        operator.check("19005550100"),
        Ok(()),
        "a longer explicit allow wins"
    );
    assert_eq!(operator.check("15550100199"), Err(Blocked::Denied));
}

#[test]
fn refusals_say_why() {
    let mut r = rules();
    let now = Instant::now();
    assert_eq!(
        r.authorize(1, ALICE, &num("+15550100199"), now),
        Err(Refusal::NotEnrolled)
    );
    r.add_credit(ALICE, 1);
    assert_eq!(
        r.authorize(2, ALICE, &num("+19005550100"), now),
        Err(Refusal::Blocked(Blocked::PremiumRate))
    );
    let no_credit = r
        .authorize(3, ALICE, &num("+442079460000"), now)
        .unwrap_err();
    assert_eq!(
        no_credit,
        Refusal::NoCredit {
            minutes_left: 1.0,
            rate: 2.0
        }
    );
    assert!(
        no_credit.to_string().contains("1.0 minutes left"),
        "{no_credit}"
    );
    let ok = r.authorize(4, ALICE, &num("+15550100199"), now).unwrap();
    assert_eq!(ok.max_duration, Some(Duration::from_secs(60)));
}

#[test]
fn concurrency_caps_per_user_and_overall() {
    let mut cfg = RulesConfig {
        home_country_code: Some("1".into()),
        max_concurrent_total: 3,
        ..RulesConfig::default()
    };
    cfg.calls_per_minute_per_user = 100;
    let mut r = Rules::new(cfg);
    r.add_credit(ALICE, 100);
    r.add_credit(BOB, 100);
    let now = Instant::now();
    let n = num("+15550100199");
    r.authorize(1, ALICE, &n, now).unwrap();
    r.authorize(2, ALICE, &n, now).unwrap();
    assert_eq!(
        r.authorize(3, ALICE, &n, now),
        Err(Refusal::TooManyConcurrent(Scope::User))
    );
    r.authorize(4, BOB, &n, now).unwrap();
    assert_eq!(
        r.authorize(5, BOB, &n, now),
        Err(Refusal::TooManyConcurrent(Scope::Overall))
    );
    r.ended(1, now);
    r.authorize(6, BOB, &n, now).unwrap();
    assert_eq!(r.active_calls(), 3);
}

#[test]
fn calls_per_minute_are_capped_and_spikes_alert() {
    let mut r = Rules::new(RulesConfig {
        home_country_code: Some("1".into()),
        spike_alert_per_minute: 4,
        ..RulesConfig::default()
    });
    r.add_credit(ALICE, 100);
    let t0 = Instant::now();
    let n = num("+15550100199");
    for call in 0..5 {
        r.authorize(call, ALICE, &n, t0).unwrap();
        r.ended(call, t0);
    }
    assert_eq!(
        r.authorize(9, ALICE, &n, t0),
        Err(Refusal::TooManyPerMinute(Scope::User))
    );
    assert_eq!(r.alerts(), 1, "one alert per window");
    let later = t0 + Duration::from_secs(61);
    assert!(r.authorize(10, ALICE, &n, later).is_ok());
}

#[test]
fn running_calls_are_charged_warned_and_cut_off() {
    let mut r = rules();
    r.add_credit(ALICE, 3);
    let t0 = Instant::now();
    r.authorize(1, ALICE, &num("+442079460000"), t0).unwrap();
    assert!(
        r.tick(t0 + Duration::from_secs(30)).is_empty(),
        "ringing is free"
    );
    r.answered(1, t0 + Duration::from_secs(30));
    assert!(r.tick(t0 + Duration::from_secs(45)).is_empty());
    // 3 credit minutes at rate 2 = 90 s; 60 s left after 30 s of talk.
    assert_eq!(
        r.tick(t0 + Duration::from_secs(61)),
        vec![RuleEvent::LowCredit {
            call: 1,
            seconds_left: 59
        }]
    );
    assert!(
        r.tick(t0 + Duration::from_secs(100)).is_empty(),
        "warned once"
    );
    assert_eq!(
        r.tick(t0 + Duration::from_secs(121)),
        vec![RuleEvent::CutOff { call: 1 }]
    );
    r.ended(1, t0 + Duration::from_secs(121));
    assert_eq!(r.credit_minutes(ALICE), Some(0.0));
}

#[test]
fn bad_rule_values_name_their_field() {
    let cfg = RulesConfig {
        home_country_code: Some("+1".into()),
        ..RulesConfig::default()
    };
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("rules.home_country_code"), "{err}");
}
