//! Kamailio (Debian `kamailio`) as a SIP proxy in front of the gateway: it record-routes
//! and relays every request to the gateway, the way a self-hosted edge proxy does.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use super::tempdir::Dir;

/// A running Kamailio; killed on drop.
pub struct Kamailio {
    child: Child,
    pub dir: Dir,
    /// Where phones send their calls.
    pub sip: SocketAddr,
}

impl Kamailio {
    /// Starts a proxy on `ip` that sends every new call to `gateway`.
    pub fn start(ip: &str, gateway: SocketAddr) -> Self {
        let binary = ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .expect(
                "kamailio not installed (Debian package kamailio; scripts/setup.sh installs it)",
            );
        let dir = Dir::new("kamailio");
        let port = super::free_port();
        let sip: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let config = format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:{sip}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "xlog.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        # In-dialog (ACK, BYE, re-INVITE): along the recorded route.
        loose_route();
        t_relay();
        exit;
    }}
    if (is_method("INVITE")) {{
        xlog("L_NOTICE", "proxy: new call relayed to the gateway\n");
    }}
    record_route();
    $du = "sip:{gateway}";
    t_relay();
}}
"#
        );
        let cfg = dir.0.join("kamailio.cfg");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new(binary)
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "32", "-M", "4", "-Y"])
            .arg(&dir.0)
            .arg("-P")
            .arg(dir.0.join("kamailio.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.0.join("kamailio.log")).unwrap())
            .spawn()
            .expect("kamailio starts");
        Self { child, dir, sip }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
