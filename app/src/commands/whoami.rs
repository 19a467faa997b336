//! `phantomcall whoami`: show the npub; export the key only when asked.

use std::process::ExitCode;

use anyhow::Result;
use nostr_signal::{KeyFile, KeyStrength};

use crate::identity;

pub fn run(file: &KeyFile, export_nsec: bool, export_ncryptsec: bool) -> Result<ExitCode> {
    let id = identity::load(file)?;
    println!("npub: {}", id.npub());
    println!("hex:  {}", id.public_key().to_hex());
    println!("file: {}", file.path().display());
    if export_ncryptsec {
        let pw = identity::password("Password to encrypt the export with: ")?;
        println!(
            "ncryptsec: {}",
            id.export_ncryptsec(&pw, KeyStrength::Standard)?
        );
    }
    if export_nsec {
        eprintln!("warning: anyone who sees this nsec can impersonate you");
        println!("nsec: {}", id.export_nsec());
    }
    Ok(ExitCode::SUCCESS)
}
