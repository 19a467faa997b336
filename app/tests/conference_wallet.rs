//! The wallet side of conferences with real processes and the real service on loopback: a
//! Solana CLI keypair file (written here as `solana-keygen` writes it) is imported and
//! sealed, `phantomcall room create` signs in with Sign-In With Solana and creates a room,
//! `phantomcall join --wallet` makes its creator the host; a service whose sign-in requests
//! name another host gets no signature.

mod conference_support;

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use conference_support::{Participant, Service};
use ed25519_dalek::SigningKey;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

fn phantomcall(key_file: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_phantomcall"));
    command
        .arg("--key-file")
        .arg(key_file)
        .env("PHANTOMCALL_PASSWORD", PASSWORD)
        .env("PHANTOMCALL_LOG", "warn");
    command
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A new identity in `dir` (`phantomcall keygen`); its key file.
async fn new_identity(dir: &Path) -> std::path::PathBuf {
    let key_file = dir.join("identity.ncryptsec");
    let out = run({
        let mut c = phantomcall(&key_file);
        c.arg("keygen");
        c
    })
    .await;
    assert!(out.status.success(), "keygen: {}", text(&out.stderr));
    key_file
}

/// A keypair file as `solana-keygen new` writes it: the 64 keypair bytes as a JSON array.
fn write_solana_keypair_file(path: &Path, key: &SigningKey) {
    let numbers: Vec<String> = key
        .to_keypair_bytes()
        .iter()
        .map(|b| b.to_string())
        .collect();
    std::fs::write(path, format!("[{}]", numbers.join(","))).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_keypair_signs_in_creates_a_room_and_hosts_it() {
    let service = Service::start_at_its_own_address().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = new_identity(dir.path()).await;

    let wallet = SigningKey::from_bytes(&[42; 32]);
    let address = bs58::encode(wallet.verifying_key().as_bytes()).into_string();
    let keypair_file = dir.path().join("id.json");
    write_solana_keypair_file(&keypair_file, &wallet);
    let out = run({
        let mut c = phantomcall(&key_file);
        c.args(["wallet", "import"]).arg(&keypair_file);
        c
    })
    .await;
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), address);
    let sealed = std::fs::read(dir.path().join("wallet.sealed")).unwrap();
    assert!(
        !sealed.windows(32).any(|w| w == [42u8; 32]),
        "the wallet's secret is never on disk in clear"
    );

    let token_file = dir.path().join("session-token");
    let out = run({
        let mut c = phantomcall(&key_file);
        c.args([
            "room",
            "create",
            &format!("http://127.0.0.1:{}", service.port),
        ])
        .arg("--json")
        .arg("--token-out")
        .arg(&token_file);
        c
    })
    .await;
    assert!(out.status.success(), "room create: {}", text(&out.stderr));
    let room: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(room["tier"], "free");
    let app_url = room["app_url"].as_str().unwrap();
    assert_eq!(
        app_url,
        format!(
            "phantomcall://join/127.0.0.1:{}/{}",
            service.port,
            room["room"].as_str().unwrap()
        )
    );
    assert!(
        !text(&out.stderr).contains(&address),
        "progress never shows the address whole"
    );
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT was saved");

    // The creator joins with the wallet and hosts; leaving ends the process with 0.
    let key_env: [(&str, &std::ffi::OsStr); 2] = [
        ("PHANTOMCALL_KEY_FILE", key_file.as_os_str()),
        ("PHANTOMCALL_PASSWORD", PASSWORD.as_ref()),
    ];
    let mut host = Participant::spawn_with(
        room["invite_url"].as_str().unwrap(),
        "Host",
        440,
        &[OsString::from("--wallet")],
        &key_env,
    );
    let joined = host
        .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    assert_eq!(joined["host"], true, "the room's creator hosts it");
    assert_eq!(joined["anonymous"], false);
    host.command("leave");
    assert_eq!(host.exit_code(Duration::from_secs(30)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_request_naming_another_host_is_not_signed() {
    // This service names itself meet.phantomcall.test, but is reached at 127.0.0.1: a
    // request to sign in to a name other than the one the user gave is refused.
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = new_identity(dir.path()).await;
    let wallet = SigningKey::from_bytes(&[43; 32]);
    let out = run({
        let mut c = phantomcall(&key_file);
        c.args(["wallet", "import"]).env(
            "PHANTOMCALL_WALLET_SECRET",
            bs58::encode(wallet.to_keypair_bytes()).into_string(),
        );
        c
    })
    .await;
    assert!(out.status.success(), "import: {}", text(&out.stderr));

    let out = run({
        let mut c = phantomcall(&key_file);
        c.args([
            "room",
            "create",
            &format!("http://127.0.0.1:{}", service.port),
        ]);
        c
    })
    .await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("meet.phantomcall.test") && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no room was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_host_part_imports_signs_in_and_creates_a_room() {
    use phantomcall::gui::hosting::{Hosting, HostingPhase, WalletSecret};
    use phantomcall::wallet::WalletFile;

    let service = Service::start_at_its_own_address().await;
    let dir = tempfile::tempdir().unwrap();
    let file = || WalletFile::beside(&dir.path().join("identity.ncryptsec"));
    let identity = nostr_signal::Identity::generate();
    let wallet = SigningKey::from_bytes(&[44; 32]);
    let handle = tokio::runtime::Handle::current();
    let mut hosting = Hosting::default();
    let mut error = None;
    hosting.import(
        &handle,
        file(),
        identity.clone(),
        WalletSecret(bs58::encode(wallet.to_keypair_bytes()).into_string().into()),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while hosting.wallet_address.is_none() {
        assert!(
            std::time::Instant::now() < deadline && error.is_none(),
            "{error:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        hosting.poll(&mut error);
    }
    assert_eq!(
        hosting.wallet_address.as_deref(),
        Some(
            bs58::encode(wallet.verifying_key().as_bytes())
                .into_string()
                .as_str()
        )
    );

    hosting.create_room(
        &handle,
        file(),
        identity,
        &format!("127.0.0.1:{}", service.port),
    );
    assert!(matches!(hosting.phase, HostingPhase::Working(_)));
    while matches!(hosting.phase, HostingPhase::Working(_)) {
        assert!(std::time::Instant::now() < deadline, "still creating");
        tokio::time::sleep(Duration::from_millis(50)).await;
        hosting.poll(&mut error);
    }
    let HostingPhase::Created(links) = &hosting.phase else {
        panic!("no room: {:?}", hosting.phase);
    };
    assert!(links
        .app_url
        .starts_with(&format!("phantomcall://join/127.0.0.1:{}/", service.port)));
    assert_eq!(links.plan, "Free plan: up to 2 participants, 30 minutes");
    assert!(hosting.take_host_token().is_some());
    assert!(hosting.take_host_token().is_none(), "one join per creation");
}

#[test]
fn register_links_writes_a_desktop_entry_for_phantomcall_urls() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phantomcall"))
        .arg("register-links")
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entry = std::fs::read_to_string(
        dir.path()
            .join("data/applications/phantomcall-links.desktop"),
    )
    .unwrap();
    assert!(
        entry.contains("MimeType=x-scheme-handler/phantomcall;"),
        "{entry}"
    );
    let exec = entry.lines().find(|l| l.starts_with("Exec=")).unwrap();
    assert_eq!(
        exec,
        format!("Exec=\"{}\" open %u", env!("CARGO_BIN_EXE_phantomcall"))
    );
}
