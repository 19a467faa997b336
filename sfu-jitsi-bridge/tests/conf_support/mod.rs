//! The conference service as its tests meet it: the real `phantomcall-conference` binary
//! started on loopback with a temporary configuration, a small HTTP/1.1 client (plain or
//! TLS) and a wallet that signs in through the HTTP API.

#![allow(dead_code)] // each test binary uses part of it

pub mod peer;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};
use sfu_jitsi_bridge::siws::SignInInput;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The Stripe endpoint secret the test configurations use.
pub const STRIPE_SECRET: &str = "whsec_PhantomCallServiceTestSecret01";

/// How a test wants the service configured.
#[derive(Clone)]
pub struct Options {
    /// `listen` (default `127.0.0.1:0`).
    pub listen: String,
    pub tls: bool,
    /// Extra lines for the `[limits]` table.
    pub limits: String,
    /// Tables appended to the configuration (a `[janus]` backend).
    pub extra: String,
    /// Extra lines for the `[sfu]` table.
    pub sfu: String,
    /// The `[store]` table's line (default: SQLite in the service's directory).
    pub store: Option<String>,
    /// The session signing key's path (default: in the service's directory).
    pub signing_key: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            tls: false,
            limits: String::new(),
            extra: String::new(),
            sfu: String::new(),
            store: None,
            signing_key: None,
        }
    }
}

/// A running service process; killed on drop.
pub struct Service {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The certificate (DER) to trust, with TLS.
    pub cert_der: Option<Vec<u8>>,
}

impl Service {
    /// Writes the configuration and runs the binary with it (without waiting for it).
    pub fn spawn(options: &Options) -> (tempfile::TempDir, Child, Option<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let secret_file = path("stripe-secret");
        std::fs::write(&secret_file, STRIPE_SECRET).unwrap();
        let mut cert_der = None;
        let tls = if options.tls {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            std::fs::write(path("cert.pem"), cert.cert.pem()).unwrap();
            std::fs::write(path("key.pem"), cert.signing_key.serialize_pem()).unwrap();
            cert_der = Some(cert.cert.der().to_vec());
            format!(
                "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
                path("cert.pem"),
                path("key.pem")
            )
        } else {
            String::new()
        };
        let config = format!(
            "listen = \"{listen}\"\npublic_host = \"meet.phantomcall.test\"\n{tls}\
             [auth]\nsigning_key = \"{key}\"\n\
             [store]\n{store}\n\
             [stripe]\nwebhook_secret_file = \"{secret_file}\"\n\
             [stripe.prices]\nprice_1PhantomProMonthly = \"pro\"\n\
             [sfu]\nbind_ip = \"127.0.0.1\"\n{sfu}\n\
             [limits]\n{limits}\n{extra}\n",
            listen = options.listen,
            key = options
                .signing_key
                .clone()
                .unwrap_or_else(|| path("session-key.pem")),
            store = options
                .store
                .clone()
                .unwrap_or_else(|| format!("sqlite = \"{}\"", path("conference.db"))),
            limits = options.limits,
            extra = options.extra,
            sfu = options.sfu,
        );
        let config_path = dir.path().join("conference.toml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_phantomcall-conference"))
            .arg("--config")
            .arg(&config_path)
            .env("PHANTOMCALL_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        (dir, child, cert_der)
    }

    /// Starts the service and waits for its `ready port=N` line.
    pub fn start(options: Options) -> Self {
        let (dir, mut child, cert_der) = Self::spawn(&options);
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("ready port=") {
                    let _ = tx.send(port.parse::<u16>().unwrap());
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
                panic!("the service did not start:\n{log}");
            }
        };
        Self {
            child,
            port,
            dir,
            cert_der,
        }
    }

    /// The service process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the service logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// The signaling WebSocket's URL (plain).
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/v1/signal", self.port)
    }

    /// One HTTP request; returns status, headers (lowercase names) and body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        match &self.cert_der {
            None => exchange(tcp, method, path, headers, body).await,
            Some(der) => {
                let tls = tls_connector(der)
                    .connect("localhost".try_into().unwrap(), tcp)
                    .await
                    .unwrap();
                exchange(tls, method, path, headers, body).await
            }
        }
    }

    /// A POST with a JSON body.
    pub async fn post_json(&self, path: &str, auth: Option<&str>, body: &Value) -> HttpResponse {
        let bearer = auth.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("Authorization", b.as_str()));
        }
        self.request("POST", path, &headers, body.to_string().as_bytes())
            .await
    }

    /// Signs `wallet` in over HTTP; returns the session JSON.
    pub async fn sign_in(&self, wallet: &Wallet) -> Value {
        let challenge = self.post_json("/v1/auth/challenge", None, &json!({})).await;
        assert_eq!(challenge.status, 200, "{}", challenge.text());
        let input: SignInInput = serde_json::from_slice(&challenge.body).unwrap();
        let message = input.to_message(&wallet.address).unwrap().build().unwrap();
        let signature = wallet.key.sign(message.as_bytes()).to_bytes();
        let body = json!({
            "message": message,
            "signature": base64::engine::general_purpose::STANDARD.encode(signature),
            "address": wallet.address,
        });
        let session = self.post_json("/v1/auth/sign-in", None, &body).await;
        assert_eq!(session.status, 200, "{}", session.text());
        session.json()
    }

    /// Creates a room with a session token; returns the response.
    pub async fn create_room(&self, token: &str) -> HttpResponse {
        self.post_json("/v1/rooms", Some(token), &json!({})).await
    }

    /// Signs `wallet` in and creates a room: its session token and the room's id.
    pub async fn signed_in_room(&self, wallet: &Wallet) -> (String, String) {
        let session = self.sign_in(wallet).await;
        let token = session["access_token"].as_str().unwrap().to_owned();
        let created = self.create_room(&token).await;
        assert_eq!(created.status, 201, "{}", created.text());
        let room = created.json()["room"].as_str().unwrap().to_owned();
        (token, room)
    }

    /// Makes `wallet` Pro through a signed Stripe `checkout.session.completed` delivery.
    pub async fn buy_pro(&self, wallet: &Wallet, event_id: &str) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let event = json!({
            "id": event_id, "object": "event", "created": now,
            "type": "checkout.session.completed",
            "data": { "object": {
                "id": "cs_test_conf", "object": "checkout.session",
                "client_reference_id": wallet.address, "customer": format!("cus_{event_id}"),
                "metadata": { "tier": "pro" }, "mode": "subscription",
                "payment_status": "paid", "status": "complete"
            }}
        })
        .to_string();
        let header = stripe_header(event.as_bytes(), now, STRIPE_SECRET);
        let response = self
            .request(
                "POST",
                "/v1/stripe/webhook",
                &[("Stripe-Signature", &header)],
                event.as_bytes(),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `t=…,v1=…` for `body`, signed with `hmac` directly.
pub fn stripe_header(body: &[u8], t: i64, secret: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A rustls client trusting only `der`.
pub fn tls_connector(der: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn exchange<S>(
    mut stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream.flush().await.unwrap();
    let mut raw = Vec::new();
    // The service closes every connection after its response.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// A test wallet: an Ed25519 key and its base58 address.
pub struct Wallet {
    pub key: SigningKey,
    pub address: String,
}

impl Wallet {
    pub fn new(seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let address = bs58::encode(key.verifying_key().to_bytes()).into_string();
        Self { key, address }
    }
}
