//! `phantomcall turn-credentials`: time-limited TURN credentials for a self-hosted coturn.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use calling::turn::turn_rest_credentials;

/// Environment variable holding the TURN shared secret (never a command-line argument:
/// arguments are visible to every user of the machine).
const SECRET_ENV: &str = "PHANTOMCALL_TURN_SECRET";

pub fn run(id: &str, ttl: u64, secret_file: Option<&Path>) -> Result<ExitCode> {
    let secret = match secret_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the TURN secret from {}", path.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_owned(),
        None => match std::env::var(SECRET_ENV) {
            Ok(secret) => secret,
            Err(_) => rpassword::prompt_password("TURN shared secret: ").with_context(|| {
                format!("no TURN secret: pass --secret-file or set {SECRET_ENV}")
            })?,
        },
    };
    let credentials = turn_rest_credentials(
        secret.as_bytes(),
        id,
        SystemTime::now(),
        Duration::from_secs(ttl),
    )?;
    println!(
        "{}",
        serde_json::json!({
            "username": credentials.username,
            "password": credentials.password,
            "expires_at": credentials.expires_at,
            "ttl_seconds": ttl,
        })
    );
    Ok(ExitCode::SUCCESS)
}
