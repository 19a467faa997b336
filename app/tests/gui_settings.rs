//! The settings screen: a bad SOCKS5 address is refused with a clear error; the DM relay
//! list is published as kind 10050 through the transport when it changes; blackout
//! strength is saved; a proxy, once set, carries the relay connections.

mod gui_common;

use std::net::TcpListener;
use std::time::Duration;

use calling::SyntheticDevices;
use gui_common::{click, pick, pump_until, shows, type_into, wait_for_text, World};
use nostr_sdk::{Client, Filter, Kind, TagKind};
use nostr_signal::Identity;
use phantomcall::gui::settings::{BlackoutStrength, Settings};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The relays named in `author`'s newest kind 10050 event on `relay`.
fn published_dm_relays(world: &World, author: &Identity) -> Vec<String> {
    let url = world.relay.as_ref().unwrap().url().clone();
    world.rt.block_on(async {
        let client = Client::default();
        client.add_relay(url).await.unwrap();
        client.connect().await;
        let filter = Filter::new()
            .kind(Kind::InboxRelays)
            .author(author.public_key());
        let events = client
            .fetch_events(filter, Duration::from_secs(5))
            .await
            .unwrap();
        client.shutdown().await;
        let newest = events.into_iter().max_by_key(|e| e.created_at);
        newest
            .map(|e| {
                e.tags
                    .iter()
                    .filter(|t| t.kind() == TagKind::Relay)
                    .filter_map(|t| t.content().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    })
}

#[test]
fn settings_publish_the_dm_relay_list_validate_the_proxy_and_save_blackout_strength() {
    let world = World::new(true);
    let relay = world.relay.as_ref().unwrap().url().to_string();
    let me = Identity::generate();
    let mut h = world.harness(world.options(SyntheticDevices::new(440.0)));
    h.state_mut().unlocked(me.clone());
    wait_for_text(&mut h, "Online", TIMEOUT);
    // With no DM relays set, the relays are the inbox.
    pump_until(&mut h, "first 10050", TIMEOUT, |_| {
        published_dm_relays(&world, &me) == vec![relay.clone()]
    });

    click(&mut h, "Settings");
    // A bad proxy is refused and nothing is saved.
    type_into(&mut h, "SOCKS5 proxy", "tor.example:9050");
    click(&mut h, "Save and reconnect");
    assert!(shows(&h, "is not a SOCKS5 proxy address"));
    assert_eq!(Settings::load(world.dir.path()).unwrap().socks5_proxy, None);
    type_into(&mut h, "SOCKS5 proxy", "");

    // A new DM relay list: saved, and published as kind 10050 through the transport.
    let inbox = "ws://127.0.0.1:9";
    type_into(&mut h, "DM relay addresses", &format!("{relay}\n{inbox}"));
    pick(
        &mut h,
        "Blackout strength",
        BlackoutStrength::Strong.label(),
    );
    click(&mut h, "Save and reconnect");
    let saved = Settings::load(world.dir.path()).unwrap();
    assert_eq!(saved.dm_relays, vec![relay.clone(), inbox.to_string()]);
    assert_eq!(saved.blackout_strength, BlackoutStrength::Strong);
    wait_for_text(&mut h, "Online", TIMEOUT);
    let expected: Vec<String> = [relay.as_str(), inbox]
        .iter()
        .map(|u| nostr_sdk::RelayUrl::parse(u).unwrap().to_string())
        .collect();
    pump_until(&mut h, "10050 with the new list", TIMEOUT, |_| {
        published_dm_relays(&world, &me) == expected
    });
    let raw = std::fs::read_to_string(Settings::path(world.dir.path())).unwrap();
    assert!(raw.contains("\"blackout_strength\": \"strong\""), "{raw}");

    // A proxy where nothing listens: the relay (reachable directly) is now unreachable,
    // so the connection really goes through the proxy.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    type_into(&mut h, "SOCKS5 proxy", &closed.to_string());
    click(&mut h, "Save and reconnect");
    assert_eq!(
        Settings::load(world.dir.path()).unwrap().socks5_proxy,
        Some(closed.to_string())
    );
    wait_for_text(&mut h, "cannot reach a relay", TIMEOUT);
    h.state_mut().shutdown();
}
