//! The conference service restarts under a running conference: its process is killed
//! (SIGKILL, nothing of it runs) and started again on the same configuration. Every
//! `phantomcall join` participant reconnects by itself, the room is reopened from the
//! service's room directory with its host, and everyone hears and sees everyone again.

mod conference_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conference_support::{conference_bin, until_all_hear, Api, Participant};
use ed25519_dalek::SigningKey;

/// Generous: two encoders and two decoders on a shared two-core machine.
const SETTLE: Duration = Duration::from_secs(150);

/// The service binary on `config`, once it printed `ready port=N`.
fn start_service(config: &std::path::Path) -> Child {
    let mut child = Command::new(conference_bin())
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the conference service starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.starts_with("ready port="));
    assert!(ready, "the service never said it was ready");
    // Keep reading so the service never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conference_survives_a_restart_of_its_service() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let config = dir.path().join("conference.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\npublic_host = \"meet.phantomcall.test\"\n\
             [auth]\nsigning_key = \"{}\"\n[store]\nsqlite = \"{}\"\n\
             [sfu]\nbind_ip = \"127.0.0.1\"\n",
            path("session-key.pem"),
            path("conference.db"),
        ),
    )
    .unwrap();
    let mut service = start_service(&config);
    let api = Api { port };
    let token = api.sign_in(&SigningKey::from_bytes(&[12; 32])).await;
    let room = api.create_room(&token).await;
    let token_file = dir.path().join("session-token");
    std::fs::write(&token_file, &token).unwrap();

    let host = Participant::spawn(&api.link(&room), "Host", 440, Some(&token_file));
    host.wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    let guest = Participant::spawn(&api.link(&room), "Guest", 660, None);
    guest
        .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    let people = vec![(host, 440), (guest, 660)];
    until_all_hear(&people, SETTLE).await;

    // The service dies and comes back on the same port, database and key.
    service.kill().unwrap();
    service.wait().unwrap();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut service = start_service(&config);

    for (p, _) in &people {
        p.wait_for(SETTLE, |v| v["event"] == "reconnecting").await;
        let back = p.wait_for(SETTLE, |v| v["event"] == "reconnected").await;
        assert_eq!(back["host"], p.name == "Host", "{back}");
    }
    until_all_hear(&people, SETTLE).await;
    eprintln!(
        "everyone hears everyone again {:.1} s after the service was killed",
        killed.elapsed().as_secs_f64()
    );
    service.kill().unwrap();
    let _ = service.wait();
}
