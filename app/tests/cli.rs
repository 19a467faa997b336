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
fn bluetooth_only_signaling_without_a_radio_says_so_and_contacts_no_relay() {
    // This machine has no Bluetooth controller (and CI no BlueZ daemon).
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice");
    keygen(&alice);
    let bob_npub = keygen(&dir.path().join("bob"));
    let args = [
        "call",
        &bob_npub,
        "--mode",
        "fast",
        "--signaling",
        "bluetooth-only",
    ];
    let out = run(phantomcall(&alice).args(args));
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(
        said.contains("Bluetooth signaling is not available"),
        "{said}"
    );
    assert!(
        !said.contains("connecting"),
        "no relay was needed or contacted: {said}"
    );
}

#[test]
fn relays_and_bluetooth_without_a_radio_says_so_and_goes_on_over_the_relays() {
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice");
    keygen(&alice);
    let bob_npub = keygen(&dir.path().join("bob"));
    let args = [
        "call",
        &bob_npub,
        "--mode",
        "fast",
        "--signaling",
        "relays-and-bluetooth",
        "--relay",
        "ws://127.0.0.1:9",
    ];
    let out = run(phantomcall(&alice).args(args));
    let said = stderr(&out);
    assert!(said.contains("Bluetooth is not available"), "{said}");
    assert!(
        said.contains("call messages go over the relays only"),
        "{said}"
    );
    assert!(said.contains("connecting to 1 relay(s)"), "{said}");
}

/// Runs `phantomcall demo --quiet --video --seconds SECONDS` with `extra` arguments; returns
/// its JSON line and the frame it saved.
fn video_demo(seconds: &str, extra: &[&str]) -> (serde_json::Value, image::DynamicImage) {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("frame.png");
    let mut cmd = Command::new(BIN);
    cmd.args([
        "demo",
        "--quiet",
        "--video",
        "--seconds",
        seconds,
        "--frame-png",
    ])
    .arg(&png)
    .args(extra);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let saved = image::open(&png).expect("the saved frame is a readable PNG");
    (json, saved)
}

#[test]
fn demo_call_carries_both_tones_and_black_video_and_saves_a_frame() {
    let (json, saved) = video_demo("2", &["--no-blackout"]);
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
    // The people clip's size (the checkout has it).
    assert_eq!((saved.width(), saved.height()), (384, 288));
}

/// Share of pixels darker than the blackout's black after VP8 (every channel below 24).
fn dark_share(picture: &image::RgbImage) -> f64 {
    let dark = picture
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c < 24))
        .count();
    dark as f64 / (picture.width() * picture.height()) as f64
}

#[test]
fn demo_video_blacks_out_the_people_of_its_clip_and_keeps_the_scene() {
    let (_, saved) = video_demo("4", &[]);
    let saved = saved.to_rgb8();
    // Which clip frame it shows: the one closest on the pixels left visible.
    let clip = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../calling/blackout/model/evaldata/vtest");
    let visible: Vec<usize> = saved
        .pixels()
        .enumerate()
        .filter(|(_, p)| p.0.iter().any(|&c| c >= 24))
        .map(|(i, _)| i)
        .collect();
    let frames: Vec<image::RgbImage> = (0..795)
        .map(|n| {
            image::open(clip.join(format!("{n:04}.jpg")))
                .unwrap()
                .to_rgb8()
        })
        .collect();
    let mut best: Option<(f64, &image::RgbImage)> = None;
    for raw in &frames {
        let diff = visible
            .iter()
            .map(|&i| {
                let (x, y) = (i as u32 % saved.width(), i as u32 / saved.width());
                let (a, b) = (saved.get_pixel(x, y).0, raw.get_pixel(x, y).0);
                (0..3).map(|c| a[c].abs_diff(b[c]) as f64).sum::<f64>() / 3.0
            })
            .sum::<f64>()
            / visible.len().max(1) as f64;
        if best.as_ref().is_none_or(|(d, _)| diff < *d) {
            best = Some((diff, raw));
        }
    }
    let (diff, raw) = best.unwrap();
    let (sent_dark, raw_dark) = (dark_share(&saved), dark_share(raw));
    // The scene is kept: most of the frame is shown, and it is the clip's (VP8 changes
    // pixels by a few levels, a different frame or scene by far more).
    assert!(
        sent_dark < 0.8,
        "{:.0} % of the frame black",
        sent_dark * 100.0
    );
    assert!(
        diff < 12.0,
        "visible pixels differ from the clip by {diff:.1} levels"
    );
    // People are blacked out: far more of the frame is black than the clip's own shadows.
    assert!(
        sent_dark > raw_dark + 0.02,
        "{:.1} % black sent, {:.1} % dark in the clip frame",
        sent_dark * 100.0,
        raw_dark * 100.0
    );
    // Truth that is not the filter's: the camera is still, so the people are where the
    // frame differs from the median of the clip (the empty scene).
    let people = moving_pixels(raw, &frames);
    assert!(people.len() > 300, "people in the shown frame");
    let left_visible = people
        .iter()
        .filter(|&&(x, y)| saved.get_pixel(x, y).0.iter().any(|&c| c >= 24))
        .count();
    assert!(
        left_visible * 100 <= people.len(),
        "{left_visible} of {} moving pixels visible",
        people.len()
    );
}

/// Pixels of `frame` that differ by more than 60 levels in a channel from the median of
/// every 16th frame of the clip.
fn moving_pixels(frame: &image::RgbImage, clip: &[image::RgbImage]) -> Vec<(u32, u32)> {
    let samples: Vec<&image::RgbImage> = clip.iter().step_by(16).collect();
    let mut moving = Vec::new();
    let mut values = Vec::with_capacity(samples.len());
    for (x, y, pixel) in frame.enumerate_pixels() {
        let differs = (0..3).any(|c| {
            values.clear();
            values.extend(samples.iter().map(|s| s.get_pixel(x, y).0[c]));
            values.sort_unstable();
            pixel.0[c].abs_diff(values[values.len() / 2]) > 60
        });
        if differs {
            moving.push((x, y));
        }
    }
    moving
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

#[test]
fn calling_a_phone_number_that_is_not_e164_says_how_to_write_it_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let alice = dir.path().join("alice");
    keygen(&alice);
    let gateway = keygen(&dir.path().join("gateway"));
    let args = [
        "call",
        &gateway,
        "--phone",
        "555-1234",
        "--relay",
        "ws://127.0.0.1:9",
    ];
    let out = run(phantomcall(&alice).args(args));
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(
        said.contains("not a telephone number in E.164 form"),
        "{said}"
    );
    assert!(!said.contains("connecting"), "nothing was sent: {said}");
}
