//! Where the identity lives and how its password is obtained.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use nostr_signal::{Identity, KeyFile};
use zeroize::Zeroizing;

/// A password or pasted secret: wiped from memory when dropped.
pub type Secret = Zeroizing<String>;

/// Environment variable that supplies the key password non-interactively (scripts, CI).
pub const PASSWORD_ENV: &str = "PHANTOMCALL_PASSWORD";

/// The key file: the one given, else `identity.ncryptsec` in the platform config directory.
pub fn key_file(given: Option<PathBuf>) -> KeyFile {
    let path = given.unwrap_or_else(|| {
        directories::ProjectDirs::from("org", "PhantomCall", "phantomcall")
            .map(|d| d.config_dir().join("identity.ncryptsec"))
            .unwrap_or_else(|| PathBuf::from("identity.ncryptsec"))
    });
    KeyFile::new(path)
}

/// The password from the environment, else asked on the terminal (hidden).
pub fn password(prompt: &str) -> Result<Secret> {
    if let Ok(pw) = std::env::var(PASSWORD_ENV) {
        return Ok(Zeroizing::new(pw));
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .with_context(|| {
            format!(
                "cannot read a password from the terminal; set {PASSWORD_ENV} to run without one"
            )
        })
}

/// A new password, asked twice on a terminal.
pub fn new_password() -> Result<Secret> {
    if let Ok(pw) = std::env::var(PASSWORD_ENV) {
        return Ok(Zeroizing::new(pw));
    }
    let first = password("New password for your key: ")?;
    let second = password("Repeat the password: ")?;
    if first != second {
        bail!("the two passwords differ; nothing was saved");
    }
    Ok(first)
}

/// Load the saved identity, asking for its password.
pub fn load(file: &KeyFile) -> Result<Identity> {
    if !file.exists() {
        bail!(
            "no identity at {}: run `phantomcall keygen` first",
            file.path().display()
        );
    }
    let pw = password("Password for your key: ")?;
    Ok(file.load(&pw)?)
}
