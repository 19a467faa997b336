//! `phantomcall register-links`: makes this program the desktop's handler of
//! `phantomcall://` links (conference invites), the freedesktop way: a desktop entry whose
//! `MimeType` is `x-scheme-handler/phantomcall`, made the default with `xdg-mime`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result};

/// The desktop entry's file name.
pub const DESKTOP_FILE: &str = "phantomcall-links.desktop";

pub fn run() -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let dir = applications_dir().context("neither XDG_DATA_HOME nor HOME is set")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(DESKTOP_FILE);
    std::fs::write(&path, desktop_entry(&exe.display().to_string()))
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    let _ = Command::new("update-desktop-database").arg(&dir).status();
    match Command::new("xdg-mime")
        .args(["default", DESKTOP_FILE, "x-scheme-handler/phantomcall"])
        .status()
    {
        Ok(status) if status.success() => {
            eprintln!("phantomcall:// links now open PhantomCall");
        }
        Ok(status) => {
            eprintln!("xdg-mime failed ({status}): the entry is written; pick PhantomCall for phantomcall:// links in your desktop's settings");
        }
        Err(_) => eprintln!(
            "xdg-mime is not installed (Debian: xdg-utils): the entry is written; your desktop \
             may use it after the next login"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `$XDG_DATA_HOME/applications`, else `~/.local/share/applications`.
fn applications_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("applications"))
}

/// The entry: `Exec` quotes the program's path as the Desktop Entry specification says
/// (double quotes; `"`, `` ` ``, `$` and `\` escaped with a backslash).
fn desktop_entry(exe: &str) -> String {
    let mut quoted = String::from("\"");
    for c in exe.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    format!(
        "[Desktop Entry]\nType=Application\nName=PhantomCall\n\
         Comment=Private calls by npub and end-to-end encrypted conferences\n\
         Exec={quoted} open %u\nTerminal=false\nNoDisplay=true\nCategories=Network;Telephony;\n\
         MimeType=x-scheme-handler/phantomcall;\n"
    )
}
