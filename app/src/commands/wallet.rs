//! `phantomcall wallet import|address` and `phantomcall room create`: the Solana wallet that
//! signs in to conference services, and the rooms it hosts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use nostr_signal::KeyFile;
use phantomcall::wallet::service::{ConferenceService, Session};
use phantomcall::wallet::{SolanaKeypair, WalletFile, WalletSigner as _};
use serde_json::json;
use zeroize::Zeroizing;

use crate::identity;

/// Environment variable that supplies a base58 wallet secret to `wallet import` (scripts).
pub const WALLET_SECRET_ENV: &str = "PHANTOMCALL_WALLET_SECRET";

/// `wallet import [FILE]`: seals the keypair beside the identity.
pub fn import(key_file: &KeyFile, file: Option<&Path>, force: bool) -> Result<ExitCode> {
    let text = match file {
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the keypair file {}", path.display()))?,
        ),
        None => match std::env::var(WALLET_SECRET_ENV) {
            Ok(secret) => Zeroizing::new(secret),
            Err(_) => Zeroizing::new(
                rpassword::prompt_password("Paste the wallet's secret key (base58): ")
                    .with_context(|| {
                        format!(
                            "cannot read from the terminal; give a keypair file or set \
                             {WALLET_SECRET_ENV}"
                        )
                    })?,
            ),
        },
    };
    let keypair = SolanaKeypair::import(&text)?;
    let identity = identity::load(key_file)?;
    let wallet = WalletFile::beside(key_file.path());
    wallet.save(&identity, &keypair, force)?;
    println!("{}", keypair.address());
    eprintln!(
        "wallet imported, sealed with your identity in {}",
        wallet.path().display()
    );
    if file.is_some() {
        eprintln!("the keypair file itself is untouched: delete it if it has no other use");
    }
    Ok(ExitCode::SUCCESS)
}

/// `wallet address`.
pub fn address(key_file: &KeyFile) -> Result<ExitCode> {
    let identity = identity::load(key_file)?;
    let keypair = WalletFile::beside(key_file.path()).load(&identity)?;
    println!("{}", keypair.address());
    Ok(ExitCode::SUCCESS)
}

/// Signs in to `service` with the imported wallet (off the runtime: HTTP and signing block).
pub async fn sign_in(key_file: &KeyFile, service: ConferenceService) -> Result<Session> {
    let identity = identity::load(key_file)?;
    let keypair = WalletFile::beside(key_file.path()).load(&identity)?;
    eprintln!(
        "signing in to {} as {}…",
        service.domain(),
        short(&keypair.address())
    );
    tokio::task::spawn_blocking(move || service.sign_in(&keypair))
        .await
        .context("the sign-in task failed")?
}

/// `room create <service>`: signs in, creates a room, prints its links.
pub async fn create_room(
    key_file: &KeyFile,
    service: &str,
    token_out: Option<PathBuf>,
    json_out: bool,
) -> Result<ExitCode> {
    let service = ConferenceService::new(service)?;
    let again = ConferenceService::new(service.domain())?;
    let session = sign_in(key_file, service).await?;
    let session = std::sync::Arc::new(session);
    let for_task = session.clone();
    let room = tokio::task::spawn_blocking(move || again.create_room(&for_task))
        .await
        .context("the room task failed")??;
    if let Some(path) = &token_out {
        phantomcall::gui::vault::write_private(path, session.access_token.as_bytes())?;
    }
    if json_out {
        println!(
            "{}",
            json!({"room": room.room, "invite_url": room.invite_url, "app_url": room.app_url,
                "tier": room.tier, "max_participants": room.max_participants,
                "max_duration_secs": room.max_duration_secs})
        );
    } else {
        println!("{}", room.invite_url);
        println!("{}", room.app_url);
        eprintln!(
            "room created on the {} plan: up to {} participants, {} minutes; share the first \
             link, join as host with `phantomcall join <link> --wallet`",
            room.tier,
            room.max_participants,
            room.max_duration_secs / 60
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The first and last characters of an address (logs and progress never show it whole).
fn short(address: &str) -> String {
    if address.len() <= 10 {
        return address.to_owned();
    }
    format!("{}…{}", &address[..4], &address[address.len() - 4..])
}
