//! A real SOCKS5 proxy for the Paranoid tests: Debian's Dante (`danted`), started on
//! loopback with a generated configuration (no authentication, CONNECT only), stopped
//! when the handle is dropped. Its log names the address of every connection it made on
//! a client's behalf, which is how the tests tell proxied connections from direct ones.
#![allow(dead_code)] // each test file uses a different part

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the proxy listens and connects from (Dante needs an address of an interface).
pub const PROXY_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `danted`.
pub struct Dante {
    child: Option<Child>,
    /// Where clients connect.
    pub addr: SocketAddr,
    dir: PathBuf,
}

fn danted_binary() -> PathBuf {
    ["/usr/sbin/danted", "/usr/bin/danted"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`danted` (Debian package dante-server) is not installed: run scripts/setup.sh \
                 (or `apt-get install dante-server`) before the Paranoid tests"
            )
        })
}

impl Dante {
    /// Starts a proxy on a free loopback port and waits until it accepts connections.
    pub fn start() -> Dante {
        let port = TcpListener::bind(SocketAddr::new(PROXY_IP, 0))
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("phantomcall-dante-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dante temp dir");
        let config = format!(
            "logoutput: {log}\n\
             internal: {PROXY_IP} port = {port}\n\
             external: {PROXY_IP}\n\
             socksmethod: none\n\
             clientmethod: none\n\
             user.privileged: root\n\
             user.unprivileged: nobody\n\
             client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  log: error\n}}\n\
             socks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n  log: connect error\n}}\n",
            log = dir.join("danted.log").display(),
        );
        let config_path = dir.join("danted.conf");
        std::fs::write(&config_path, config).expect("dante config written");
        let binary = danted_binary();
        let child = Command::new(&binary)
            .arg("-f")
            .arg(&config_path)
            .arg("-p")
            .arg(dir.join("danted.pid"))
            .args(["-N", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
        let mut dante = Dante {
            child: Some(child),
            addr: SocketAddr::new(PROXY_IP, port),
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(dante.addr).is_err() {
            if let Some(Ok(Some(status))) = dante.child.as_mut().map(Child::try_wait) {
                panic!(
                    "danted exited at start ({status}); its log:\n{}",
                    dante.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "danted did not listen within {START_TIMEOUT:?}; its log:\n{}",
                dante.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        dante
    }

    /// Stops the proxy (its worker processes with it) and waits until nothing listens.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM, so the mother process takes its children down with it.
            // SAFETY: kill(2) on a pid we spawned and have not reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(self.addr).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("danted.log")).unwrap_or_default()
    }

    /// The local address of every connection the proxy opened for a client, from its
    /// log lines `pass(1): tcp/connect [: CLIENT PROXY -> OURS TARGET`.
    pub fn outgoing(&self) -> Vec<SocketAddr> {
        self.log()
            .lines()
            .filter_map(|line| line.split_once("tcp/connect [: ")?.1.split_once(" -> "))
            .filter_map(|(_, to)| dante_addr(to.split_whitespace().next()?))
            .collect()
    }
}

/// Dante writes addresses as `127.0.0.1.5000`.
fn dante_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.rsplit_once('.')?;
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

impl Drop for Dante {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
