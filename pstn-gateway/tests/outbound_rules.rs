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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_of_call_attempts_posts_one_alert_to_the_webhook() {
    use std::io::{Read, Write};
    let hook = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hook.local_addr().unwrap().port();
    let received = std::thread::spawn(move || {
        let (mut conn, _) = hook.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&request).contains("}") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8(request).unwrap()
    });
    let rules = format!(
        "[rules]\nhome_country_code = \"1\"\nspike_alert_per_minute = 3\n\
         alert_webhook_url = \"http://127.0.0.1:{port}/pstn-alerts\"\n"
    );
    let (gw, _calls, _) = gateway(GwOptions {
        rules: Box::leak(rules.into_boxed_str()),
        ..Default::default()
    })
    .await;
    // Strangers hammering the gateway: each refused, the third attempt is a spike.
    for i in 0..3 {
        let stranger = format!("{i:064x}");
        assert_eq!(
            gw.dial(&stranger, "test", "+15550100142")
                .await
                .unwrap_err(),
            DialError::Refused(Refusal::NotEnrolled)
        );
    }
    let request = tokio::task::spawn_blocking(move || received.join().unwrap())
        .await
        .unwrap();
    assert!(request.starts_with("POST /pstn-alerts "), "{request}");
    assert!(
        request.contains("\"alert\":\"pstn_outbound_call_spike\""),
        "{request}"
    );
    assert!(request.contains("\"attempts_last_minute\":3"), "{request}");
    assert!(!request.contains("0142"), "no number in the alert");
    assert_eq!(gw.stats().spike_alerts, 1);
}
