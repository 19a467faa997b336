//! The self-hosting kit's smoke test: `deploy/try-local.sh --hotline` brings up the whole
//! stack from `deploy/` (nostr-rs-relay, coturn with TURN REST secrets, the conference
//! service, the hotline), and then, through that stack only:
//!
//! - a conference: a wallet signs in to the service, creates a room, and two `phantomcall
//!   join` processes hear each other's tone and decode each other's video;
//! - a 1:1 Private call between `phantomcall listen --auto-answer` and `phantomcall call`,
//!   relay-only through the stack's coturn, across a secret rotation
//!   (`deploy/turn-secret.sh rotate`): the listener derives its credentials from the old
//!   secret, the caller from the new one, and both are relayed with media flowing both ways;
//!   then `turn-secret.sh prune` leaves only the new secret;
//! - then SIGTERM to the script stops every part (their ports close) and removes its files.
//!
//! Needs `scripts/setup.sh` (coturn, nostr-rs-relay). Run (`conference_http` so that cargo
//! builds the conference service's binary too):
//! `cargo test --workspace --locked --test selfhost_smoke --test conference_http -- --nocapture`
//! (prints the times).

mod conference_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conference_support::{conference_bin, Api, Participant};
use ed25519_dalek::SigningKey;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_phantomcall");
const PASSWORD: &str = "smoke test password";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// `deploy/try-local.sh` running: its `try-local: NAME=VALUE` lines.
struct Stack {
    child: Child,
    vars: HashMap<String, String>,
    output: Arc<Mutex<String>>,
}

impl Stack {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new("bash")
            .arg(deploy().join("try-local.sh"))
            .args(args)
            .env("PHANTOMCALL_BIN", BIN)
            .env("PHANTOMCALL_CONFERENCE_BIN", conference_bin())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bash runs");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (sink, tx) = (output.clone(), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            });
        }
        let mut vars = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line == "try-local: up (Ctrl-C stops everything)" => break,
                Ok(line) => {
                    let pair = line
                        .strip_prefix("try-local: ")
                        .and_then(|l| l.split_once('='));
                    if let Some((name, value)) = pair {
                        if !name.contains(' ') {
                            vars.insert(name.to_owned(), value.to_owned());
                        }
                    }
                }
                Err(_) => panic!("try-local.sh did not come up:\n{}", output.lock().unwrap()),
            }
        }
        Self {
            child,
            vars,
            output,
        }
    }

    fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("try-local printed no {name}: {:?}", self.vars))
    }

    /// The loopback port of a `scheme://127.0.0.1:PORT...` value.
    fn port(&self, name: &str) -> u16 {
        let value = self.var(name);
        let rest = value
            .split("127.0.0.1:")
            .nth(1)
            .expect("a loopback address");
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// SIGTERM, as systemd or Ctrl-C would stop it; how long it took to exit.
    fn stop(&mut self) -> Duration {
        let asked = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return asked.elapsed();
            }
            assert!(
                asked.elapsed() < Duration::from_secs(30),
                "try-local.sh did not stop:\n{}",
                self.output.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

fn tcp_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn phantomcall(key_file: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("PHANTOMCALL_PASSWORD", PASSWORD)
        .env("PHANTOMCALL_LOG", "warn")
        .env_remove("PHANTOMCALL_RELAYS")
        .arg("--key-file")
        .arg(key_file);
    cmd
}

fn keygen(key_file: &Path) -> String {
    let out = phantomcall(key_file).arg("keygen").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The options of a Private call through the stack's relay and coturn, with `secret_file`.
fn private_call_args(stack: &Stack, secret_file: &Path, tone: &str) -> Vec<String> {
    let strings = [
        "--synthetic",
        "--tone",
        tone,
        "--mode",
        "private",
        "--bind-ip",
        "127.0.0.1",
        "--relay",
        stack.var("relay"),
        "--turn",
        stack.var("turn"),
        "--turn-secret-file",
    ];
    let mut args: Vec<String> = strings.iter().map(|s| s.to_string()).collect();
    args.push(secret_file.display().to_string());
    args
}

/// The figures lines of a call (`... in 45 kbit/s ... path relay (relayed)`) that show
/// media arriving through the TURN relay.
fn relayed_with_media_in(said: &str) -> usize {
    said.lines()
        .filter(|l| l.contains("(relayed)") && l.contains("path relay"))
        .filter(|l| {
            l.split("  in ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<f64>().ok())
                .is_some_and(|kbps| kbps > 0.0)
        })
        .count()
}

/// Whether `figures` shows the other participant `other`'s tone near `hz` and its video.
fn hears(figures: &Value, other: &str, hz: u32) -> bool {
    figures["key_members"] == 2
        && figures["senders"].as_array().is_some_and(|senders| {
            senders.iter().any(|s| {
                s["participant"] == other
                    && s["video_frames"].as_u64().unwrap_or(0) > 0
                    && s["tone_hz"]
                        .as_f64()
                        .is_some_and(|t| (t - f64::from(hz)).abs() <= 15.0)
            })
        })
}

async fn conference_through(stack: &Stack) {
    let api = Api {
        port: stack.port("conference"),
    };
    // A Free plan is enough: two participants, the smallest room.
    let wallet = SigningKey::from_bytes(&[11; 32]);
    let token = api.sign_in(&wallet).await;
    let room = api.create_room(&token).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("session-token");
    std::fs::write(&token_file, &token).unwrap();
    let link = api.link(&room);
    let host = Participant::spawn(&link, "Host", 440, Some(&token_file));
    let guest = Participant::spawn(&link, "Guest", 660, None);
    let mut ids = Vec::new();
    for p in [&host, &guest] {
        let joined = p
            .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
            .await;
        ids.push(joined["participant_id"].as_str().unwrap().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let host_hears = host.figures().is_some_and(|f| hears(&f, &ids[1], 660));
        let guest_hears = guest.figures().is_some_and(|f| hears(&f, &ids[0], 440));
        if host_hears && guest_hears {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the two participants do not hear each other: {:#?} {:#?}",
            host.figures(),
            guest.figures()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn private_call_through(stack: &Stack) {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
    keygen(&alice);
    let bob_npub = keygen(&bob);
    // Bob keeps the secret he read before the rotation, as a long-running service would.
    let secret_file = PathBuf::from(stack.var("turn_secret_file"));
    let old_secret = dir.path().join("old.secret");
    std::fs::copy(&secret_file, &old_secret).unwrap();
    let mut listener = phantomcall(&bob)
        .args(["listen", "--auto-answer"])
        .args(private_call_args(stack, &old_secret, "660"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let heard = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let (sink, stderr) = (heard.clone(), listener.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening as") {
                let _ = tx.send(());
            }
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("listen did not start: {}", heard.lock().unwrap()));

    // The rotation: a new secret beside the old one, written where the services read it.
    let rotated = Command::new("bash")
        .arg(deploy().join("turn-secret.sh"))
        .arg("rotate")
        .env("TURN_USERDB", Path::new(stack.var("dir")).join("turndb"))
        .env("TURN_REALM", "phantomcall.local")
        .env("TURN_SECRET_FILE", &secret_file)
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    // Two secrets valid now: the old one (Bob's) and the new one (Alice's).
    assert_ne!(
        std::fs::read(&secret_file).unwrap(),
        std::fs::read(&old_secret).unwrap(),
        "the secret changed"
    );

    let out = phantomcall(&alice)
        .args(["call", &bob_npub, "--seconds", "4"])
        .args(private_call_args(stack, &secret_file, "440"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    let _ = listener.kill();
    let _ = listener.wait();
    let listener_said = heard.lock().unwrap().clone();
    assert!(out.status.success(), "{said}\nlistener:\n{listener_said}");
    assert!(said.contains("Connected"), "{said}");
    assert!(
        relayed_with_media_in(&said) > 0,
        "the caller received media through the TURN relay: {said}"
    );
    assert!(
        relayed_with_media_in(&listener_said) > 0,
        "the listener received media through the TURN relay: {listener_said}"
    );
    // Pruned: only the new secret is left, as the daily timer leaves it.
    let turn_secret = |command: &str| {
        let out = Command::new("bash")
            .arg(deploy().join("turn-secret.sh"))
            .arg(command)
            .env("TURN_USERDB", Path::new(stack.var("dir")).join("turndb"))
            .env("TURN_REALM", "phantomcall.local")
            .env("TURN_SECRET_FILE", &secret_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    turn_secret("prune");
    let new_secret = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(turn_secret("show").trim(), new_secret.trim());
    // Both allocations were on this coturn (the stack's log): its sessions are the call's.
    let turn_log = std::fs::read_to_string(stack.var("turn_log")).unwrap();
    assert!(
        turn_log.matches("ALLOCATE processed, success").count() >= 2,
        "coturn allocated for both sides: {turn_log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_local_brings_up_the_stack_and_a_conference_and_a_private_call_go_through_it() {
    let began = Instant::now();
    let mut stack = Stack::start(&["--hotline"]);
    let up = began.elapsed();
    assert!(
        stack.var("hotline").starts_with("npub1"),
        "{:?}",
        stack.vars
    );
    let ports = [
        stack.port("relay"),
        stack.port("turn"),
        stack.port("conference"),
    ];
    assert!(ports.iter().all(|p| tcp_open(*p)), "every part listens");

    let started = Instant::now();
    conference_through(&stack).await;
    let conference = started.elapsed();
    let started = Instant::now();
    private_call_through(&stack);
    let call = started.elapsed();

    let dir = PathBuf::from(stack.var("dir"));
    let stopped_in = stack.stop();
    let said = stack.output.lock().unwrap().clone();
    assert!(said.contains("try-local: stopped"), "{said}");
    for port in ports {
        assert!(!tcp_open(port), "port {port} still open after the stop");
    }
    assert!(!dir.exists(), "the trial's files are removed");
    println!(
        "selfhost smoke: stack up in {} ms, conference heard both ways in {} ms, Private \
         call across a secret rotation in {} ms, stopped in {} ms; {} ms in all",
        up.as_millis(),
        conference.as_millis(),
        call.as_millis(),
        stopped_in.as_millis(),
        began.elapsed().as_millis()
    );
}

#[test]
fn the_kits_hotline_and_gateway_files_are_valid_configurations() {
    let hotline = hotline::config::HotlineConfig::load(&deploy().join("hotline.toml"))
        .expect("deploy/hotline.toml");
    assert_eq!(hotline.dispatchers.len(), 1);
    let text = std::fs::read_to_string(deploy().join("gateway.toml")).unwrap();
    let gateway = pstn_gateway::GatewayConfig::from_toml(&text).expect("deploy/gateway.toml");
    assert_eq!(gateway.trunks.len(), 1);
}
