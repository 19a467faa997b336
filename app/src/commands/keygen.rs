//! `phantomcall keygen`: create or import an identity, saved as NIP-49 ncryptsec only.

use std::process::ExitCode;

use anyhow::{bail, Result};
use nostr_signal::{Identity, KeyFile, KeyStrength};

use crate::identity;

pub fn run(file: &KeyFile, import: bool, force: bool) -> Result<ExitCode> {
    if file.exists() && !force {
        bail!(
            "an identity already exists at {} (use --force to replace it; the old key is then lost)",
            file.path().display()
        );
    }
    let id = if import {
        let text = identity::password("Paste nsec, hex secret key or ncryptsec (hidden): ")?;
        if text.trim().starts_with("ncryptsec1") {
            let pw = identity::password("Password of that ncryptsec: ")?;
            Identity::from_ncryptsec(&text, &pw)?
        } else {
            Identity::from_secret(&text)?
        }
    } else {
        Identity::generate()
    };
    let pw = identity::new_password()?;
    file.save(&id, &pw, KeyStrength::Standard)?;
    println!("{}", id.npub());
    eprintln!("identity saved (encrypted) to {}", file.path().display());
    Ok(ExitCode::SUCCESS)
}
