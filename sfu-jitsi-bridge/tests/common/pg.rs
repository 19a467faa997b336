//! A throwaway PostgreSQL cluster for tests: Debian's server binaries, a data directory and a
//! Unix socket in a temporary directory, no TCP listener, trust authentication, stopped and
//! deleted on drop. As root the server runs as the `postgres` user (it refuses root).
//!
//! If the server binaries are absent the caller skips, and the reason is written straight to
//! the test process's stderr (past libtest's capture), so a skip is never silent.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct PgCluster {
    dir: TempDir,
    bin: PathBuf,
    run_as: Option<String>,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`
/// (`PHANTOMCALL_PG_BIN` overrides).
fn server_bin_dir() -> Option<PathBuf> {
    let has_tools = |bin: &Path| bin.join("initdb").exists() && bin.join("pg_ctl").exists();
    if let Some(dir) = std::env::var_os("PHANTOMCALL_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|bin| has_tools(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn id_of(user: &str, flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .expect("id runs");
    assert!(
        out.status.success(),
        "no user {user}: the postgresql package creates it"
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

/// Tells the person running the tests, past libtest's output capture.
pub fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

impl PgCluster {
    /// Starts a cluster, or returns `None` (after saying why) when the server is not installed.
    /// Any other failure panics: an installed server that does not start is a broken setup.
    pub fn start() -> Option<Self> {
        let Some(bin) = server_bin_dir() else {
            say(
                "SKIPPED PostgreSQL store tests: no PostgreSQL server binaries (initdb, pg_ctl) \
                 under /usr/lib/postgresql/*/bin (or $PHANTOMCALL_PG_BIN). Install Debian's \
                 `postgresql` package (scripts/setup.sh does) to run them.",
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("phantomcall-pg-")
            .tempdir()
            .expect("temporary directory");
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            std::os::unix::fs::chown(dir.path(), Some(id_of(user, "-u")), Some(id_of(user, "-g")))
                .expect("hand the directory to the postgres user");
        }
        let cluster = Self { dir, bin, run_as };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "phantom",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let options = format!(
            "-c listen_addresses='' -k {} -c fsync=off -c max_connections=40",
            cluster.dir.path().display()
        );
        let log = cluster.dir.path().join("server.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        Some(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run PostgreSQL tool");
        if !out.status.success() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!(
                "{tool} failed: {}\n{}\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The connection string for database `name` on this cluster's socket.
    pub fn conn(&self, name: &str) -> String {
        format!(
            "host={} user=phantom dbname={name}",
            self.socket_dir().display()
        )
    }

    fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates an empty database and returns its connection string.
    pub fn create_db(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.conn("postgres"), postgres::NoTls)
            .expect("connect to the test cluster");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        self.conn(name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let program = self.bin.join("pg_ctl");
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let _ = cmd
            .args([
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}
