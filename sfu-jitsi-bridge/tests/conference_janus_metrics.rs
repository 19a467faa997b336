//! Forwarded bitrate and packet loss per Janus instance on `/metrics`, from a real Janus's
//! Admin API (Debian's `janus`, started with the Admin API on loopback and a random secret):
//! participants send through Janus at a known rate, and the figures the service exports
//! match it, name no room, participant or address, and go stale when Janus is gone.

mod conf_support;
mod janus_support;
mod sfu_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use conf_support::peer::{stream_all, Peer};
use conf_support::{Options, Service, Wallet};
use janus_support::Janus;
use sfu_support::Kind;

/// Each participant sends 100 B of audio and 600 B of video payload every 20 ms
/// (`Peer::stream`): 280 kbit/s of payload.
const SENT_BITS_PER_SECOND: f64 = (100.0 + 600.0) * 50.0 * 8.0;
const PARTICIPANTS: u8 = 3;

/// The value of the sample `series` (name and labels) in exposition `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until `/metrics` has `series`, for `within`; its value.
async fn await_sample(service: &Service, series: &str, within: Duration) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let text = service.request("GET", "/metrics", &[], b"").await.text();
        if let Some(v) = sample(&text, series) {
            return v;
        }
        assert!(Instant::now() < deadline, "no {series} in\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn janus_metrics_give_bitrate_and_loss_per_instance_but_name_no_room_participant_or_secret() {
    sfu_support::use_client_ip(janus_support::host_ip());
    let janus = Janus::start("solo");
    let config = format!(
        "[janus]\nstats_every_ms = 500\n[[janus.instances]]\nname = \"solo\"\nregion = \"a\"\n\
         url = \"{}\"\nadmin_url = \"{}\"\nadmin_secret_file = \"{}\"\n",
        janus.url(),
        janus.admin_url(),
        janus.admin_secret_file().display()
    );
    let service = Service::start(Options {
        extra: config,
        ..Options::default()
    });
    let host = Wallet::new(47);
    service.buy_pro(&host, "evt_janus_metrics").await;
    let session = service.sign_in(&host).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let created = service.create_room(&token).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let room = created.json()["room"].as_str().unwrap().to_owned();

    let mut peers = Vec::new();
    let mut identifiers = vec![room.clone(), host.address.clone(), token.clone()];
    for marker in 1..=PARTICIPANTS {
        let peer = Arc::new(Peer::connect(&service.ws_url(), marker, false).await);
        let joined = peer
            .join(&room, (marker == 1).then_some(token.as_str()))
            .await;
        assert_eq!(joined["type"], "joined", "{joined}");
        identifiers.push(joined["participant_id"].as_str().unwrap().to_owned());
        peers.push(peer);
    }
    let streams = stream_all(&peers, Duration::from_secs(600));
    // Everyone receives everyone before the figures are read.
    let deadline = Instant::now() + Duration::from_secs(30);
    for peer in &peers {
        for other in (1..=PARTICIPANTS).filter(|o| *o != peer.marker) {
            while peer.flow(other, Kind::Video).packets < 20
                || peer.flow(other, Kind::Audio).packets < 20
            {
                assert!(
                    Instant::now() < deadline,
                    "participant {} lacks {other}",
                    peer.marker
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    // Every subscriber gets every other participant: N * (N - 1) streams forwarded.
    let fan_out = f64::from(PARTICIPANTS) * f64::from(PARTICIPANTS - 1);
    let expected = SENT_BITS_PER_SECOND * fan_out;
    let forwarded = "phantomcall_media_server_forwarded_bits_per_second{server=\"solo\"}";
    let received = "phantomcall_media_server_received_bits_per_second{server=\"solo\"}";
    await_sample(&service, forwarded, Duration::from_secs(10)).await;
    // The median of several polls (the machine is shared: one interval can run short).
    let mut seen = (Vec::new(), Vec::new());
    let mut text = String::new();
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        text = service.request("GET", "/metrics", &[], b"").await.text();
        seen.0
            .push(sample(&text, forwarded).expect("forwarded bitrate"));
        seen.1
            .push(sample(&text, received).expect("received bitrate"));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (fwd, rcv) = (median(&mut seen.0), median(&mut seen.1));
    eprintln!(
        "janus metrics: forwarded {:.3} Mbit/s (payload sent x subscribers {:.3}), received \
         {:.3} Mbit/s (payload sent {:.3})",
        fwd / 1e6,
        expected / 1e6,
        rcv / 1e6,
        SENT_BITS_PER_SECOND * f64::from(PARTICIPANTS) / 1e6
    );
    // Janus counts whole RTP packets (header and extensions over the payload: about 10 %
    // more here), and a loaded machine sends a little late: a generous band, still far from
    // a count of the wrong streams (x 0.5 or x 2).
    assert!(
        (0.75 * expected..=1.45 * expected).contains(&fwd),
        "forwarded {fwd} vs {expected}\n{text}"
    );
    let sent = SENT_BITS_PER_SECOND * f64::from(PARTICIPANTS);
    assert!(
        (0.75 * sent..=1.45 * sent).contains(&rcv),
        "received {rcv}\n{text}"
    );
    for direction in ["in", "out"] {
        let series = format!(
            "phantomcall_media_server_packet_loss_ratio{{server=\"solo\",direction=\"{direction}\"}}"
        );
        let loss = sample(&text, &series).unwrap_or_else(|| panic!("{series} in\n{text}"));
        assert!((0.0..0.05).contains(&loss), "{series} = {loss}");
    }
    assert_eq!(
        sample(&text, "phantomcall_media_server_stats_up{server=\"solo\"}"),
        Some(1.0)
    );
    let total = sample(&text, "phantomcall_media_forwarded_bytes_total").unwrap();
    assert!(total > 0.0, "{text}");

    // Nothing identifying: no room, wallet, token, participant, address or admin secret.
    for id in identifiers.iter().chain([&janus.admin_secret]) {
        assert!(!text.contains(id.as_str()), "{id} in\n{text}");
    }
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(
        !service.log().contains(&janus.admin_secret),
        "admin secret logged"
    );

    // Janus gone: the instance's figures turn stale (rates absent), the counter stays.
    drop(janus);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = service.request("GET", "/metrics", &[], b"").await.text();
        let stale =
            sample(&text, "phantomcall_media_server_stats_up{server=\"solo\"}") == Some(0.0);
        if stale {
            assert_eq!(sample(&text, forwarded), None, "{text}");
            assert!(sample(
                &text,
                "phantomcall_media_server_forwarded_bytes_total{server=\"solo\"}"
            )
            .is_some_and(|v| v > 0.0));
            break;
        }
        assert!(Instant::now() < deadline, "never stale:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for s in streams {
        s.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_admin_api_marks_the_figures_stale_and_leaves_calls_alone() {
    sfu_support::use_client_ip(janus_support::host_ip());
    let janus = Janus::start("solo");
    // Nothing listens there: the Admin API is unreachable, the calls' API is fine.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let config = format!(
        "[janus]\nstats_every_ms = 200\n[[janus.instances]]\nname = \"solo\"\nregion = \"a\"\n\
         url = \"{}\"\nadmin_url = \"ws://127.0.0.1:{dead_port}\"\nadmin_secret_file = \"{}\"\n",
        janus.url(),
        janus.admin_secret_file().display()
    );
    let service = Service::start(Options {
        extra: config,
        ..Options::default()
    });
    let host = Wallet::new(48);
    service.buy_pro(&host, "evt_janus_metrics_dead").await;
    let (token, room) = service.signed_in_room(&host).await;
    let mut peers = Vec::new();
    for marker in 1..=2u8 {
        let peer = Arc::new(Peer::connect(&service.ws_url(), marker, false).await);
        let joined = peer
            .join(&room, (marker == 1).then_some(token.as_str()))
            .await;
        assert_eq!(joined["type"], "joined", "{joined}");
        peers.push(peer);
    }
    let streams = stream_all(&peers, Duration::from_secs(600));
    let deadline = Instant::now() + Duration::from_secs(30);
    for (peer, other) in [(&peers[0], 2), (&peers[1], 1)] {
        while peer.flow(other, Kind::Video).packets < 20
            || peer.flow(other, Kind::Audio).packets < 20
        {
            assert!(
                Instant::now() < deadline,
                "participant {} lacks {other}",
                peer.marker
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for s in streams {
        s.abort();
    }
    let text = service.request("GET", "/metrics", &[], b"").await.text();
    assert_eq!(
        sample(&text, "phantomcall_media_server_stats_up{server=\"solo\"}"),
        Some(0.0),
        "{text}"
    );
    assert!(
        !text.contains("phantomcall_media_server_forwarded_bits_per_second{"),
        "{text}"
    );
    assert!(text.contains("phantomcall_media_servers_up 1"), "{text}");
    // Many failed polls by now (every 200 ms), one line in the log.
    let log = service.log();
    assert_eq!(
        log.matches("media counters unavailable").count(),
        1,
        "{log}"
    );
    assert!(!log.contains(&janus.admin_secret), "admin secret logged");
}
