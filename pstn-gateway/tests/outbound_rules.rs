//! Outbound refusals decided by the rules, through the gateway's API: nothing reaches a
//! trunk (its server is a port where nobody listens).

mod common;

use std::time::Duration;

use common::*;
use pstn_gateway::rules::{Blocked, Refusal, Scope};
use pstn_gateway::DialError;

#[tokio::test]
async fn refused_calls_say_why() {
    let rules = "[rules]\nhome_country_code = \"1\"\nmax_concurrent_per_user = 1\n[rules.rates]\n\"1\" = 1.0\n";
    let (gw, _calls, _) = gateway(GwOptions {
        rules,
        ..Default::default()
    })
    .await;
    let stranger = "0".repeat(64);
    assert_eq!(
        gw.dial(&stranger, "test", "+15550100142")
            .await
            .unwrap_err(),
        DialError::Refused(Refusal::NotEnrolled)
    );
    gw.add_credit(USER, 0);
    match gw.dial(USER, "test", "+15550100142").await.unwrap_err() {
        DialError::Refused(Refusal::NoCredit { minutes_left, .. }) => assert_eq!(minutes_left, 0.0),
        other => panic!("{other:?}"),
    }
    gw.add_credit(USER, 5);
    for (number, why) in [
        ("+19005550100", Blocked::PremiumRate),
        ("+4930123456", Blocked::NotAllowed),
    ] {
        assert_eq!(
            gw.dial(USER, "test", number).await.unwrap_err(),
            DialError::Refused(Refusal::Blocked(why))
        );
    }
    assert!(matches!(
        gw.dial(USER, "test", "5550100").await.unwrap_err(),
        DialError::InvalidNumber(_)
    ));
    assert!(matches!(
        gw.dial(USER, "nope", "+15550100142").await.unwrap_err(),
        DialError::UnknownTrunk(_)
    ));
    // One call ringing (nobody answers at the trunk address) holds the user's only slot.
    let ringing = {
        let gw = gw.clone();
        tokio::spawn(async move { gw.dial(USER, "test", "+15550100142").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        gw.dial(USER, "test", "+15550100143").await.unwrap_err(),
        DialError::Refused(Refusal::TooManyConcurrent(Scope::User))
    );
    ringing.abort();
    gw.shutdown();
}
