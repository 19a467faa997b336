//! DESIGN.md section 4: no public STUN server is ever configured by default. A STUN server
//! learns the caller's address and when they call; only one the user chose may.

use std::path::{Path, PathBuf};

use calling::peer::NetworkConfig;

/// Hosts of well-known public STUN services, as they would appear in a URL.
const PUBLIC_STUN_HOSTS: &[&str] = &[
    "stun.l.google.com",
    "stun1.l.google.com",
    "stun.services.mozilla.com",
    "stun.cloudflare.com",
    "global.stun.twilio.com",
    "stun.stunprotocol.org",
    "stun.ekiga.net",
    "stun.nextcloud.com",
];

#[test]
fn no_stun_or_turn_server_is_configured_by_default() {
    for (name, config) in [
        ("default", NetworkConfig::default()),
        ("loopback", NetworkConfig::loopback()),
    ] {
        assert!(config.stun_servers.is_empty(), "{name}: {config:?}");
        assert!(config.turn_servers.is_empty(), "{name}: {config:?}");
        let printed = format!("{config:?}");
        assert!(!printed.contains("stun:"), "{name}: {printed}");
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("calling/ sits in the workspace")
        .to_path_buf()
}

fn source_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            // Build output and VCS data are not ours to scan.
            if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                source_files(&path, found);
            }
        } else if [".rs", ".toml", ".json", ".sh"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            found.push(path);
        }
    }
}

#[test]
fn no_public_stun_server_appears_anywhere_in_the_code_or_configuration() {
    let mut files = Vec::new();
    source_files(&workspace_root(), &mut files);
    assert!(
        files.len() > 50,
        "the scan found the workspace: {}",
        files.len()
    );
    let this_file = Path::new(file!()).file_name().unwrap();
    for file in files {
        if file.file_name() == Some(this_file) {
            continue; // the list of hosts to look for
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for host in PUBLIC_STUN_HOSTS {
            assert!(
                !text.contains(host),
                "{} names the public STUN server {host}",
                file.display()
            );
        }
    }
}
