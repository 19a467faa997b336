//! The `phantomcall` command line, driven as a user would: real processes, a real relay.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_phantomcall");
const PASSWORD: &str = "test password";

fn phantomcall(key_file: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("PHANTOMCALL_PASSWORD", PASSWORD)
        .env_remove("PHANTOMCALL_RELAYS")
        .arg("--key-file")
        .arg(key_file);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("phantomcall runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keygen(key_file: &std::path::Path) -> String {
    let out = run(phantomcall(key_file).arg("keygen"));
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn keygen_whoami_and_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id.ncryptsec");
    let npub = keygen(&key);
    assert!(npub.starts_with("npub1"));
    let on_disk = std::fs::read_to_string(&key).unwrap();
    assert!(
        on_disk.starts_with("ncryptsec1"),
        "only the encrypted key is stored"
    );

    let out = run(phantomcall(&key).arg("whoami"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&npub));

    let out = run(phantomcall(&key)
        .env("PHANTOMCALL_PASSWORD", "wrong")
        .arg("whoami"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));

    let out = run(phantomcall(&key).arg("keygen"));
    assert!(
        !out.status.success(),
        "keygen must not overwrite an identity"
    );
    assert!(stderr(&out).contains("already exists"));
}

#[test]
fn readable_errors_for_bad_npub_and_unreachable_relay() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id.ncryptsec");
    keygen(&key);
    let out =
        run(phantomcall(&key).args(["send-test", "npub1nonsense", "--relay", "ws://127.0.0.1:9"]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a valid public key"),
        "{}",
        stderr(&out)
    );

    let peer = keygen(&dir.path().join("peer.ncryptsec"));
    // Port 9 (discard) is closed on loopback: nothing listens there.
    let out = run(phantomcall(&key).args(["send-test", &peer, "--relay", "ws://127.0.0.1:9"]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no relay reachable"),
        "{}",
        stderr(&out)
    );

    let out = run(phantomcall(&key).args(["send-test", &peer]));
    assert!(stderr(&out).contains("no relay given"), "{}", stderr(&out));
}

#[test]
fn send_test_gets_a_reply_from_listen_through_the_relay_command() {
    let dir = tempfile::tempdir().unwrap();
    let (relay_url, _relay) = start_relay();

    let alice = dir.path().join("alice");
    let bob = dir.path().join("bob");
    keygen(&alice);
    let bob_npub = keygen(&bob);
    let mut listener = phantomcall(&bob)
        .args(["listen", "--relay", &relay_url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stderr = wait_until_listening(&mut listener);
    let listener_stdout = listener.stdout.take().unwrap();
    let _listener = Killed(listener);

    let out = run(phantomcall(&alice).args([
        "send-test",
        &bob_npub,
        "--relay",
        &relay_url,
        "--timeout",
        "10",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("reply: reject signaling-test-ok"),
        "{stdout}"
    );

    let mut printed = String::new();
    BufReader::new(listener_stdout)
        .read_line(&mut printed)
        .unwrap();
    assert!(
        printed.starts_with("offer"),
        "listen prints the offer: {printed}"
    );
}

/// Waits until a `listen` process says it is listening; returns the rest of its stderr.
fn wait_until_listening(listener: &mut Child) -> BufReader<std::process::ChildStderr> {
    let mut err = BufReader::new(listener.stderr.take().unwrap());
    loop {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0, "listen exited early");
        if l.contains("listening as") {
            return err;
        }
    }
}

/// Starts `phantomcall relay` on a free loopback port; returns its URL and the process.
fn start_relay() -> (String, Killed) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let relay_url = format!("ws://127.0.0.1:{port}");
    let mut relay = Command::new(BIN)
        .args(["relay", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(relay.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains(&relay_url), "relay prints its URL: {line}");
    (relay_url, Killed(relay))
}

#[test]
fn call_connects_to_listen_auto_answer_and_hangs_up_after_its_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (relay_url, _relay) = start_relay();
    let alice = dir.path().join("alice");
    let bob = dir.path().join("bob");
    keygen(&alice);
    let bob_npub = keygen(&bob);
    let (_listener, heard) = auto_answering_listener(&bob, &relay_url, "660", "Ended");

    let out = run(phantomcall(&alice)
        .args(["call", &bob_npub])
        .args(fast_synthetic_call("3", &relay_url)));
    let said = stderr(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("Connected"), "{said}");
    assert!(said.contains("rtt"), "live figures are printed: {said}");
    assert!(said.contains("LocalHangup"), "{said}");
    assert_eq!(
        said.matches("done: hanging up").count(),
        1,
        "one hangup: {said}"
    );
    let listener_said = heard.join().unwrap();
    assert!(listener_said.contains("Connected"), "{listener_said}");
    assert!(listener_said.contains("RemoteHangup"), "{listener_said}");
}

#[test]
fn private_mode_without_a_turn_server_is_refused_before_anything_rings() {
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice");
    keygen(&alice);
    let bob = dir.path().join("bob");
    let bob_npub = keygen(&bob);
    let out = run(phantomcall(&alice).args(["call", &bob_npub, "--relay", "ws://127.0.0.1:9"]));
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(said.contains("TURN server"), "{said}");
    assert!(
        !said.contains("connecting"),
        "nothing was contacted: {said}"
    );
}

#[test]
fn paranoid_mode_without_a_socks5_proxy_is_refused_before_anything_is_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice");
    keygen(&alice);
    let bob_npub = keygen(&dir.path().join("bob"));
    let out = run(phantomcall(&alice)
        .env("PHANTOMCALL_TURN_PASSWORD", "secret")
        .args([
            "call",
            &bob_npub,
            "--relay",
            "ws://127.0.0.1:9",
            "--mode",
            "paranoid",
            "--turn",
            "turn:127.0.0.1:3478",
            "--turn-user",
            "alice",
        ]));
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(said.contains("--socks5"), "{said}");
    assert!(
        !said.contains("connecting"),
        "nothing was contacted: {said}"
    );
}

#[test]
fn demo_call_carries_both_tones_and_black_video_and_saves_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("frame.png");
    let out = run(Command::new(BIN).args([
        "demo",
        "--quiet",
        "--video",
        "--no-blackout",
        "--seconds",
        "2",
        "--frame-png",
        png.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(json["audio_tone_ok"], true, "{json}");
    assert_eq!(json["hung_up_cleanly"], true, "{json}");
    let frames = json["video_frames"].as_u64().unwrap();
    assert!(frames > 0, "{json}");
    assert_eq!(
        json["video_black_frames"].as_u64().unwrap(),
        frames,
        "{json}"
    );
    assert!(json["setup_ms"].as_f64().unwrap() > 0.0, "{json}");
    let saved = image::open(&png).expect("the saved frame is a readable PNG");
    assert_eq!((saved.width(), saved.height()), (640, 480));
}

#[test]
fn signaling_demo_prints_its_figures_as_json() {
    let out = run(Command::new(BIN).args(["demo", "--signaling-only", "--quiet"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(json["round_trips"], 12);
    assert_eq!(json["rejected"], 0);
    assert!(json["rtt_ms_median"].as_f64().unwrap() > 0.0);
}

#[test]
fn turn_credentials_follow_the_turn_rest_convention() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("turn.secret");
    std::fs::write(&secret, "north-wind-secret\n").unwrap();
    let out = run(Command::new(BIN)
        .args([
            "turn-credentials",
            "--id",
            "alice",
            "--ttl",
            "600",
            "--secret-file",
        ])
        .arg(&secret));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let username = json["username"].as_str().unwrap();
    let (expiry, id) = username.split_once(':').unwrap();
    assert_eq!(id, "alice");
    assert_eq!(
        expiry.parse::<u64>().unwrap(),
        json["expires_at"].as_u64().unwrap()
    );
    // Same secret, same username: same password as the library computes.
    let again = calling::turn::turn_rest_credentials(
        b"north-wind-secret",
        "alice",
        std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(json["expires_at"].as_u64().unwrap() - 600),
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    assert_eq!(json["password"], again.password);

    let out = run(Command::new(BIN)
        .args(["turn-credentials", "--id", "a:b"])
        .env("PHANTOMCALL_TURN_SECRET", "s"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("must not contain ':'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn turn_password_on_the_command_line_is_refused_before_anything_is_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice");
    keygen(&alice);
    let bob_npub = keygen(&dir.path().join("bob"));
    let out = run(phantomcall(&alice).args([
        "call",
        &bob_npub,
        "--relay",
        "ws://127.0.0.1:9",
        "--turn",
        "turn:127.0.0.1:3478",
        "--turn-user",
        "alice",
        "--turn-password",
        "visible-to-everyone",
    ]));
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(said.contains("--turn-password-file"), "{said}");
    assert!(!said.contains("visible-to-everyone"), "{said}");
    assert!(
        !said.contains("connecting"),
        "nothing was contacted: {said}"
    );
}

/// The options of a Fast call on loopback with a 440 Hz synthetic microphone, hanging up
/// `seconds` after it connects.
fn fast_synthetic_call<'a>(seconds: &'a str, relay_url: &'a str) -> [&'a str; 11] {
    [
        "--synthetic",
        "--tone",
        "440",
        "--mode",
        "fast",
        "--bind-ip",
        "127.0.0.1",
        "--seconds",
        seconds,
        "--relay",
        relay_url,
    ]
}

/// A listener with `--auto-answer` and a tone of its own, whose stderr is read on a thread
/// (so its pipe never fills) until it says `until` (returned with everything before it).
/// It takes Fast calls only because it is told so (its mode is a floor).
fn auto_answering_listener(
    key_file: &std::path::Path,
    relay_url: &str,
    tone: &str,
    until: &'static str,
) -> (Killed, std::thread::JoinHandle<String>) {
    let mut listener = phantomcall(key_file)
        .args(["listen", "--auto-answer", "--synthetic", "--tone", tone])
        .args(["--mode", "fast"])
        .args(["--bind-ip", "127.0.0.1", "--relay", relay_url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = wait_until_listening(&mut listener);
    let heard = std::thread::spawn(move || {
        let mut all = String::new();
        for line in err.lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            if line.contains(until) {
                break;
            }
        }
        all
    });
    (Killed(listener), heard)
}

#[test]
fn a_group_call_to_two_listeners_is_keyed_by_mls_and_the_others_go_on_when_the_caller_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (relay_url, _relay) = start_relay();
    let alice = dir.path().join("alice");
    let bob = dir.path().join("bob");
    let carol = dir.path().join("carol");
    keygen(&alice);
    let bob_npub = keygen(&bob);
    let carol_npub = keygen(&carol);
    let (_bob, bob_heard) = auto_answering_listener(&bob, &relay_url, "660", "left (HungUp)");
    let (_carol, carol_heard) =
        auto_answering_listener(&carol, &relay_url, "1000", "left (HungUp)");

    let out = run(phantomcall(&alice)
        .args(["call", &bob_npub, &carol_npub])
        .args(fast_synthetic_call("4", &relay_url)));
    let said = stderr(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("in a group Voice call with"), "{said}");
    assert_eq!(
        said.matches(": connected").count(),
        2,
        "both members: {said}"
    );
    // The caller created epoch 0; each member's join was a commit.
    assert!(
        said.contains("group keys: MLS epoch 2, 3 of 3 members"),
        "{said}"
    );
    assert!(said.contains("group call ended: WeLeft"), "{said}");
    for heard in [bob_heard.join().unwrap(), carol_heard.join().unwrap()] {
        assert!(heard.contains("group Voice call from"), "{heard}");
        assert!(heard.contains("3 of 3 members"), "{heard}");
        // Bob and Carol connected to each other too (the mesh), not only to Alice.
        assert!(heard.matches(": connected").count() >= 2, "{heard}");
    }
}
