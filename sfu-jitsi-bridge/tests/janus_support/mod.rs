//! A real Janus for the tests: Debian's `janus` (scripts/setup.sh installs it) started as
//! its own process with a configuration generated in a temporary directory (VideoRoom and
//! the WebSocket transport only, API and Admin API on free loopback ports, the admin secret
//! random per process), killed on drop.

#![allow(dead_code)] // each test binary uses part of it

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts Janus's plugins.
const LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// A running Janus.
pub struct Janus {
    child: Option<Child>,
    pub port: u16,
    /// The Admin API's port (loopback).
    pub admin_port: u16,
    /// The Admin API's secret (random; what `admin_secret_file` holds).
    pub admin_secret: String,
    pub dir: tempfile::TempDir,
}

impl Janus {
    /// Starts Janus and waits (30 s at most) until its WebSocket API accepts connections.
    pub fn start(name: &str) -> Self {
        assert!(
            Path::new("/usr/bin/janus").exists(),
            "Janus is not installed: run scripts/setup.sh (Debian package janus)"
        );
        for _ in 0..5 {
            let (port, admin_port) = (free_port(), free_port());
            let dir = tempfile::tempdir().unwrap();
            let admin_secret = format!("{:032x}", fastrand::u128(..));
            write_config(dir.path(), name, port, admin_port, &admin_secret);
            std::fs::write(dir.path().join("admin.secret"), &admin_secret).unwrap();
            let log = std::fs::File::create(dir.path().join("janus.log")).unwrap();
            let child = Command::new("/usr/bin/janus")
                .arg("-C")
                .arg(dir.path().join("janus.jcfg"))
                .arg("-F")
                .arg(dir.path())
                .arg("-o")
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("start janus");
            let mut janus = Self {
                child: Some(child),
                port,
                admin_port,
                admin_secret,
                dir,
            };
            if janus.wait_ready(Duration::from_secs(30)) {
                return janus;
            }
            // The port was taken meanwhile, most likely: another one.
            janus.stop();
        }
        panic!("Janus did not start");
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if self.log().contains("WebSockets thread started")
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", self.admin_port)).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The WebSocket API's URL.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The Admin API's URL.
    pub fn admin_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.admin_port)
    }

    /// A file holding the admin secret (for the service's `admin_secret_file`).
    pub fn admin_secret_file(&self) -> std::path::PathBuf {
        self.dir.path().join("admin.secret")
    }

    /// Everything Janus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("janus.log")).unwrap_or_default()
    }

    /// Stops the process without ending it (SIGSTOP): a frozen machine, whose connections
    /// get no reset; only keep-alives going unanswered tell.
    pub fn freeze(&self) {
        let pid = self.pid().expect("janus runs");
        let status = Command::new("kill")
            .arg("-STOP")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills the process (an instance lost mid-call).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The machine's own IPv4 address on its default route (what Janus gathers candidates on:
/// it skips loopback interfaces), or 127.0.0.1 on a machine with no route.
pub fn host_ip() -> std::net::IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // No packet is sent: connecting a UDP socket only picks the route and source address.
    match probe
        .connect("192.0.2.1:9")
        .and_then(|()| probe.local_addr())
    {
        Ok(a) if !a.ip().is_unspecified() => a.ip(),
        _ => std::net::IpAddr::from([127, 0, 0, 1]),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// VideoRoom and WebSockets only (API and Admin API on loopback); no event handlers, no
/// recordings.
fn write_config(dir: &Path, name: &str, port: u16, admin_port: u16, admin_secret: &str) {
    let disabled_plugins = [
        "audiobridge",
        "duktape",
        "echotest",
        "lua",
        "nosip",
        "recordplay",
        "sip",
        "streaming",
        "textroom",
        "videocall",
        "voicemail",
    ]
    .map(|p| format!("libjanus_{p}.so"))
    .join(",");
    let disabled_transports = ["http", "mqtt", "nanomsg", "pfunix", "rabbitmq"]
        .map(|p| format!("libjanus_{p}.so"))
        .join(",");
    let main = format!(
        "general: {{\n  configs_folder = \"{dir}\"\n  plugins_folder = \"{LIB}/plugins\"\n  \
         transports_folder = \"{LIB}/transports\"\n  events_folder = \"{LIB}/events\"\n  \
         loggers_folder = \"{LIB}/loggers\"\n  debug_level = 5\n  server_name = \"{name}\"\n  \
         session_timeout = 60\n  \
         admin_secret = \"{admin_secret}\"\n}}\n\
         plugins: {{\n  disable = \"{disabled_plugins}\"\n}}\n\
         transports: {{\n  disable = \"{disabled_transports}\"\n}}\n\
         events: {{\n  broadcast = false\n}}\n\
         loggers: {{\n  disable = \"libjanus_jsonlog.so\"\n}}\n",
        dir = dir.display(),
    );
    std::fs::write(dir.join("janus.jcfg"), main).unwrap();
    std::fs::write(dir.join("janus.plugin.videoroom.jcfg"), "general: {\n}\n").unwrap();
    let ws = format!(
        "general: {{\n  json = \"compact\"\n  ws = true\n  ws_port = {port}\n  \
         ws_ip = \"127.0.0.1\"\n  wss = false\n}}\nadmin: {{\n  admin_ws = true\n  admin_ws_port = {admin_port}\n  \
         admin_ws_ip = \"127.0.0.1\"\n  admin_wss = false\n}}\n"
    );
    std::fs::write(dir.join("janus.transport.websockets.jcfg"), ws).unwrap();
}
