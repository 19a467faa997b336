//! The conference service as the client's tests meet it: the real service (its library,
//! started in the test with a forwarding hook on its SFU) on loopback, a wallet that signs
//! in over its HTTP API and buys Pro through a signed Stripe delivery, and `phantomcall
//! join` processes whose JSON lines are collected.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};
use sfu_jitsi_bridge::service::config::ServiceConfig;
use sfu_jitsi_bridge::service::Server;
use sfu_jitsi_bridge::sfu::{ForwardHook, ForwardedPacket, MediaKind};
use sfu_jitsi_bridge::siws::SignInInput;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const STRIPE_SECRET: &str = "whsec_PhantomCallClientTestSecret001";

/// How much of each forwarded payload the capture keeps.
pub const KEPT_BYTES: usize = 48;

/// One packet as the SFU's forwarding hook saw it.
pub struct Seen {
    pub at: Instant,
    pub publisher: String,
    pub audio: bool,
    /// The payload's first [`KEPT_BYTES`] bytes (headers and codec start codes).
    pub payload: Vec<u8>,
    /// The payload's whole length.
    pub len: usize,
}

/// What the SFU's forwarding hook saw.
#[derive(Default)]
pub struct Capture {
    pub packets: Mutex<Vec<Seen>>,
}

impl ForwardHook for Capture {
    fn on_forward(&self, packet: &ForwardedPacket<'_>) {
        let mut packets = self.packets.lock().unwrap();
        // The head is enough to judge; a long run must not hold every payload whole.
        let payload = packet.payload[..packet.payload.len().min(KEPT_BYTES)].to_vec();
        packets.push(Seen {
            at: Instant::now(),
            publisher: packet.publisher.as_str().to_owned(),
            audio: packet.kind == MediaKind::Audio,
            payload,
            len: packet.payload.len(),
        });
    }
}

/// The service, running on the test's runtime. Its HTTP API is [`Api`] (through `Deref`).
pub struct Service {
    pub port: u16,
    pub capture: Arc<Capture>,
    api: Api,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for Service {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A conference service's HTTP API on a loopback port: this test's own service, or one
/// started elsewhere (deploy/try-local.sh).
pub struct Api {
    pub port: u16,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Service {
    pub async fn start() -> Self {
        Self::start_named(None).await
    }

    /// A service that names itself by the address it listens on (`127.0.0.1:<port>`), as a
    /// real deployment names itself by its public host: a wallet then signs its sign-in
    /// requests, which name that host.
    pub async fn start_at_its_own_address() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_named(Some(port)).await
    }

    async fn start_named(port: Option<u16>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(path("stripe-secret"), STRIPE_SECRET).unwrap();
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\npublic_host = \"{host}\"\n\
             [auth]\nsigning_key = \"{key}\"\n[store]\nsqlite = \"{db}\"\n\
             [stripe]\nwebhook_secret_file = \"{secret}\"\n\
             [stripe.prices]\nprice_1PhantomProMonthly = \"pro\"\n\
             [sfu]\nbind_ip = \"127.0.0.1\"\n",
            key = path("session-key.pem"),
            db = path("conference.db"),
            secret = path("stripe-secret"),
            port = port.unwrap_or(0),
            host = port.map_or("meet.phantomcall.test".to_owned(), |p| format!(
                "127.0.0.1:{p}"
            )),
        );
        std::fs::write(path("conference.toml"), config).unwrap();
        let config = ServiceConfig::load(&dir.path().join("conference.toml")).unwrap();
        let capture = Arc::new(Capture::default());
        let hook: Arc<dyn ForwardHook> = capture.clone();
        let server = Server::bind_with_forward_hook(config, Some(hook))
            .await
            .unwrap();
        let port = server.local_addr().unwrap().port();
        let task = tokio::spawn(server.run());
        Self {
            port,
            capture,
            api: Api { port },
            _dir: dir,
            task,
        }
    }
}

impl Api {
    /// `http://127.0.0.1:<port>/join/<room>`: the web link with the port the test got.
    pub fn link(&self, room: &str) -> String {
        format!("http://127.0.0.1:{}/join/{room}", self.port)
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut head = format!("POST {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        tcp.write_all(head.as_bytes()).await.unwrap();
        tcp.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut raw)).await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        self.post(path, &headers, body.to_string().as_bytes()).await
    }

    /// Signs `wallet` in (SIWS over the HTTP API); returns the session token.
    pub async fn sign_in(&self, wallet: &SigningKey) -> String {
        let address = bs58::encode(wallet.verifying_key().to_bytes()).into_string();
        let (status, challenge) = self.post_json("/v1/auth/challenge", None, &json!({})).await;
        assert_eq!(status, 200, "{challenge}");
        let input: SignInInput = serde_json::from_value(challenge).unwrap();
        let message = input.to_message(&address).unwrap().build().unwrap();
        let signature = wallet.sign(message.as_bytes()).to_bytes();
        let body = json!({"message": message, "address": address,
            "signature": base64::engine::general_purpose::STANDARD.encode(signature)});
        let (status, session) = self.post_json("/v1/auth/sign-in", None, &body).await;
        assert_eq!(status, 200, "{session}");
        session["access_token"]
            .as_str()
            .expect("a session token")
            .to_owned()
    }

    /// Makes `wallet` Pro through a signed `checkout.session.completed` delivery.
    pub async fn buy_pro(&self, wallet: &SigningKey) {
        use hmac::Mac as _;
        let address = bs58::encode(wallet.verifying_key().to_bytes()).into_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let event = json!({"id": "evt_client_pro", "object": "event", "created": now,
            "type": "checkout.session.completed",
            "data": {"object": {"id": "cs_client", "object": "checkout.session",
                "client_reference_id": address, "customer": "cus_client",
                "metadata": {"tier": "pro"}, "mode": "subscription",
                "payment_status": "paid", "status": "complete"}}})
        .to_string();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()).unwrap();
        mac.update(format!("{now}.").as_bytes());
        mac.update(event.as_bytes());
        let header = format!("t={now},v1={}", hex::encode(mac.finalize().into_bytes()));
        let (status, body) = self
            .post(
                "/v1/stripe/webhook",
                &[("Stripe-Signature", &header)],
                event.as_bytes(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Creates a room; returns its id.
    pub async fn create_room(&self, token: &str) -> String {
        let (status, room) = self.post_json("/v1/rooms", Some(token), &json!({})).await;
        assert_eq!(status, 201, "{room}");
        room["room"].as_str().unwrap().to_owned()
    }
}

/// A `phantomcall join --json` process: its JSON lines, its standard input.
pub struct Participant {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    pub lines: Arc<Mutex<Vec<Value>>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Participant {
    /// Starts `phantomcall join <link>` with a synthetic camera (black video: no person
    /// detection to pay for) and a `tone` Hz tone.
    pub fn spawn(link: &str, name: &str, tone: u32, token_file: Option<&std::path::Path>) -> Self {
        let mut extra = Vec::new();
        if let Some(file) = token_file {
            extra.push(std::ffi::OsString::from("--token-file"));
            extra.push(file.as_os_str().to_owned());
        }
        Self::spawn_with(link, name, tone, &extra, &[])
    }

    /// [`Participant::spawn`] with `extra` arguments to `join` and `env` set.
    pub fn spawn_with(
        link: &str,
        name: &str,
        tone: u32,
        extra: &[std::ffi::OsString],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_phantomcall"));
        command
            .args([
                "join",
                link,
                "--json",
                "--synthetic",
                "--no-blackout",
                "--seconds",
                "600",
            ])
            .args(["--name", name, "--tone", &tone.to_string()])
            .env("PHANTOMCALL_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .args(extra)
            .envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(value);
                }
            }
        });
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = stderr_text.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Self {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: stderr_text,
        }
    }

    /// Sends one command line.
    pub fn command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The first line matching `pred`, waiting up to `within`.
    pub async fn wait_for(&self, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = self.lines.lock().unwrap().iter().find(|v| pred(v)) {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{}: no such line within {within:?}; last lines {:?}\nstderr:\n{}",
                self.name,
                self.lines
                    .lock()
                    .unwrap()
                    .iter()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>(),
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The latest `figures` line.
    pub fn figures(&self) -> Option<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|v| v["event"] == "figures")
            .cloned()
    }

    /// The exit status, waiting up to `within`.
    pub async fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether everyone's latest figures show every other participant's tone (by its current
/// id) and video, under a key all hold, and no one is reconnecting.
pub fn all_hear_each_other(people: &[(Participant, u32)]) -> bool {
    let figures: Vec<Value> = people.iter().filter_map(|(p, _)| p.figures()).collect();
    if figures.len() != people.len() {
        return false;
    }
    let tones: HashMap<String, u32> = figures
        .iter()
        .zip(people)
        .map(|(f, (_, tone))| (f["participant_id"].as_str().unwrap_or("").to_owned(), *tone))
        .collect();
    figures.iter().all(|f| {
        let me = f["participant_id"].as_str().unwrap_or("");
        let senders = f["senders"].as_array().cloned().unwrap_or_default();
        f["key_members"] == people.len()
            && f["reconnecting"].is_null()
            && tones.iter().filter(|(id, _)| *id != me).all(|(id, tone)| {
                senders.iter().any(|s| {
                    s["participant"] == id.as_str()
                        && s["video_frames"].as_u64().unwrap_or(0) > 0
                        && s["tone_hz"]
                            .as_f64()
                            .is_some_and(|hz| (hz - f64::from(*tone)).abs() <= 15.0)
                })
            })
    })
}

pub async fn until_all_hear(people: &[(Participant, u32)], within: Duration) -> Duration {
    let from = Instant::now();
    loop {
        if all_hear_each_other(people) {
            return from.elapsed();
        }
        assert!(
            from.elapsed() < within,
            "not everyone hears everyone: {:#?}",
            people.iter().map(|(p, _)| p.figures()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The conference service binary, beside this package's `phantomcall`: cargo builds only
/// the selected packages' binaries, so the test command names one of the conference
/// service's tests too (`--test conference_http`); the full suite builds it anyway. A binary
/// older than the service's sources is refused rather than tested.
pub fn conference_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PHANTOMCALL_CONFERENCE_BIN") {
        return bin.into();
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_phantomcall")).with_file_name("phantomcall-conference");
    let how = "run `cargo test --workspace --locked --test selfhost_smoke --test conference_http` \
               (or set PHANTOMCALL_CONFERENCE_BIN)";
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is not built: {how}", bin.display()));
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sfu-jitsi-bridge/src");
    if let Some(newer) = newest_file(&sources).filter(|(t, _)| *t > built) {
        panic!(
            "{} is older than {}: {how}",
            bin.display(),
            newer.1.display()
        );
    }
    bin
}

/// The most recently modified file under `dir`.
fn newest_file(dir: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let found = if path.is_dir() {
            newest_file(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, path))
        };
        if let Some(f) = found {
            if newest.as_ref().is_none_or(|n| f.0 > n.0) {
                newest = Some(f);
            }
        }
    }
    newest
}
