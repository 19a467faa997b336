//! One window per config directory: a running window listens on a Unix socket in its
//! config directory, and `phantomcall open <link>` (what the desktop runs for a
//! `phantomcall://` link) hands the link to it instead of opening a second window on the
//! same identity. The socket is the owner's only (mode 0600 in the config directory), and
//! what arrives on it is an invite link or nothing: bounded, checked, answered `ok` or
//! `bad`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use calling::conference::{ConferenceLink, MAX_LINK_BYTES};

/// The socket's name in the config directory.
pub const SOCKET: &str = "window.sock";
/// How long `open` waits for the running window's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// Hands `link` to the window running on `config_dir`; `false` when none runs (or it did
/// not take the link), and the caller opens a window itself.
pub fn hand_over(config_dir: &Path, link: &str) -> bool {
    let Ok(mut stream) = UnixStream::connect(config_dir.join(SOCKET)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
    let _ = stream.set_write_timeout(Some(ANSWER_TIMEOUT));
    if writeln!(stream, "{}", link.trim()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = BufReader::new(stream.take(16)).read_line(&mut answer);
    answer.trim() == "ok"
}

/// The running window's side: links handed over by `open`, checked.
pub struct LinkListener {
    links: Receiver<String>,
    path: PathBuf,
}

impl LinkListener {
    /// Listens on `config_dir`'s socket; `None` if another window already does (or the
    /// socket cannot be made: the window then works without hand-over).
    pub fn start(config_dir: &Path) -> Option<LinkListener> {
        let path = config_dir.join(SOCKET);
        if UnixStream::connect(&path).is_ok() {
            return None; // another window has it
        }
        // A socket file nobody answers on is a crashed window's: replace it.
        let _ = std::fs::remove_file(&path);
        std::fs::create_dir_all(config_dir).ok()?;
        let listener = UnixListener::bind(&path).ok()?;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        let (tx, links) = channel();
        std::thread::Builder::new()
            .name("open-links".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    if let Some(link) = read_link(stream) {
                        if tx.send(link).is_err() {
                            return;
                        }
                    }
                }
            })
            .ok()?;
        Some(LinkListener { links, path })
    }

    /// A link handed over since the last call, if any (never waits).
    pub fn try_recv(&self) -> Option<String> {
        self.links.try_recv().ok()
    }
}

impl Drop for LinkListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One line from `open`: an invite link, answered `ok`, or anything else, answered `bad`.
fn read_link(stream: UnixStream) -> Option<String> {
    let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
    let mut line = String::new();
    let mut reader = BufReader::new((&stream).take(MAX_LINK_BYTES as u64 + 2));
    reader.read_line(&mut line).ok()?;
    let link = ConferenceLink::parse(line.trim()).ok();
    let answer = if link.is_some() { "ok\n" } else { "bad\n" };
    let _ = (&stream).write_all(answer.as_bytes());
    link.map(|l| l.app_link())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "phantomcall://join/meet.example.org/3f2b8c1e-9d4a-4e7b-a1c2-0123456789ab";

    #[test]
    fn a_running_window_takes_the_link_and_refuses_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!hand_over(dir.path(), LINK), "no window runs yet");
        let listener = LinkListener::start(dir.path()).expect("listening");
        assert!(
            LinkListener::start(dir.path()).is_none(),
            "one window per directory"
        );
        assert!(hand_over(dir.path(), LINK));
        assert!(!hand_over(dir.path(), "https://evil.example/not-an-invite"));
        let mut got = None;
        for _ in 0..100 {
            got = got.or_else(|| listener.try_recv());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(got.as_deref(), Some(LINK));
        assert_eq!(listener.try_recv(), None, "the bad one was not passed on");
        let mode = std::fs::metadata(dir.path().join(SOCKET))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the socket is the owner's only");
    }

    #[test]
    fn a_crashed_windows_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // A socket file with nobody listening, as a crash leaves it.
        drop(UnixListener::bind(dir.path().join(SOCKET)).unwrap());
        let listener = LinkListener::start(dir.path()).expect("the stale socket is replaced");
        assert!(hand_over(dir.path(), LINK));
        drop(listener);
        assert!(
            !dir.path().join(SOCKET).exists(),
            "removed when the window closes"
        );
    }
}
