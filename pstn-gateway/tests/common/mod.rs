//! Shared test helpers: a gateway on loopback, sipp as the carrier or trunk, a tone
//! generator, a Goertzel tone check and a pcap writer for RFC 4733 packets.
#![allow(dead_code)]

pub mod baresip;
pub mod kamailio;
#[cfg(feature = "bridge")]
pub mod service;
pub mod tls;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pstn_gateway::g711::G711;
use pstn_gateway::rtp::dtmf;
use pstn_gateway::rtp::packet::RtpPacket;
use pstn_gateway::{Gateway, GatewayConfig, PhoneCall};
use tokio::sync::mpsc;

/// The DID the tests call.
pub const DID: &str = "+15550100101";
/// Where that DID goes.
pub const TARGET: &str = "hotline:test";
/// The carrier's credentials for inbound digest tests.
pub const CARRIER_USER: &str = "carrier";
pub const CARRIER_PASS: &str = "carrier-secret-123";
/// The gateway's credentials toward sipp-as-trunk.
pub const TRUNK_USER: &str = "gateway";
pub const TRUNK_PASS: &str = "trunk-secret-4567";
/// A user (npub hex) with credit.
pub const USER: &str = "5eed0000000000000000000000000000000000000000000000000000000000aa";

/// The sipp binary, or `None` with a note on stderr (the test then passes vacuously).
pub fn sipp() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("sipp"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!(
            "SKIP: sipp not installed (Debian package sip-tester; scripts/setup.sh installs it)"
        );
    }
    found
}

/// A UDP port free right now on loopback.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Options for a test gateway.
#[derive(Default)]
pub struct GwOptions {
    pub inbound_auth: bool,
    /// The trunk (sipp as UAS) for outbound calls.
    pub trunk_server: Option<SocketAddr>,
    pub trunk_password: Option<&'static str>,
    /// Leave 127.0.0.1 out of the allow-list.
    pub foreign_only: bool,
    pub rules: &'static str,
    /// Seconds an outbound call may ring (default 10).
    pub answer_timeout: Option<u64>,
    /// Extra trunk keys (e.g. `transport = "tcp"`), one per line, each ending in `\n`.
    pub trunk_extra: &'static str,
    /// Like `trunk_extra`, built at run time (certificate paths).
    pub trunk_keys: String,
}

pub async fn gateway(opts: GwOptions) -> (Gateway, mpsc::Receiver<PhoneCall>, SocketAddr) {
    let server = opts
        .trunk_server
        .map_or("127.0.0.1:9".to_string(), |a| a.to_string());
    let timeout = opts.answer_timeout.unwrap_or(10);
    let allow = if opts.foreign_only {
        "192.0.2.1"
    } else {
        "127.0.0.1"
    };
    let mut toml = format!(
        "[[trunk]]\nname = \"test\"\nserver = \"{server}\"\nlisten = \"127.0.0.1:0\"\n\
         media_ip = \"127.0.0.1\"\ninbound_allow = [\"{allow}\"]\nanswer_timeout_secs = {timeout}\n"
    );
    if let Some(pass) = opts.trunk_password {
        toml += &format!("username = \"{TRUNK_USER}\"\npassword = \"{pass}\"\n");
    }
    if opts.inbound_auth {
        toml += &format!(
            "inbound_auth = {{ realm = \"gw.test\", username = \"{CARRIER_USER}\", password = \"{CARRIER_PASS}\" }}\n"
        );
    }
    toml += opts.trunk_extra;
    toml += &opts.trunk_keys;
    toml += &format!("[trunk.dids]\n\"{DID}\" = \"{TARGET}\"\n");
    toml += if opts.rules.is_empty() {
        "[rules]\nhome_country_code = \"1\"\n"
    } else {
        opts.rules
    };
    let config = GatewayConfig::from_toml(&toml).unwrap();
    let (gw, calls) = Gateway::start(config).await.unwrap();
    let addr = gw.sip_addr("test").unwrap();
    (gw, calls, addr)
}

/// The next inbound call the gateway lets through, within 10 s; `what` says what was
/// expected (and what to show) if none comes.
pub async fn next_call(calls: &mut mpsc::Receiver<PhoneCall>, what: &str) -> PhoneCall {
    next_call_or(calls, || what.to_owned()).await
}

/// [`next_call`] whose failure message is made when it fails (a peer's log by then).
pub async fn next_call_or(
    calls: &mut mpsc::Receiver<PhoneCall>,
    what: impl FnOnce() -> String,
) -> PhoneCall {
    match tokio::time::timeout(Duration::from_secs(10), calls.recv()).await {
        Ok(call) => call.expect("the gateway is running"),
        Err(_) => panic!("no call within 10 s: {}", what()),
    }
}

/// A sipp process; killed on drop if still running.
pub struct Sipp {
    child: Child,
    pub dir: tempdir::Dir,
}

pub mod tempdir {
    use std::path::PathBuf;
    /// A temporary directory removed on drop.
    pub struct Dir(pub PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "pstn-{tag}-{}-{:x}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            // PSTN_KEEP_SIPP_LOGS=1 keeps sipp's message traces for debugging.
            if std::env::var_os("PSTN_KEEP_SIPP_LOGS").is_some() {
                eprintln!("sipp logs kept in {}", self.0.display());
                return;
            }
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// Starts sipp with a scenario. `target` is the gateway for a UAC, None for a UAS.
pub fn start_sipp(
    bin: &Path,
    scenario_file: &str,
    port: u16,
    target: Option<SocketAddr>,
    extra: &[&str],
    dir: tempdir::Dir,
) -> Sipp {
    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir.0)
        .arg("-sf")
        .arg(scenario(scenario_file))
        .args([
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-m",
            "1",
            "-l",
            "1",
            "-nostdin",
        ])
        .args([
            "-timeout",
            "20s",
            "-timeout_error",
            "-trace_err",
            "-trace_msg",
        ])
        .args(["-p", &port.to_string(), "-mp", &free_port().to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(target) = target {
        cmd.arg(target.to_string());
    }
    Sipp {
        child: cmd.spawn().expect("sipp starts"),
        dir,
    }
}

impl Sipp {
    /// Waits for sipp to finish; panics with its error log if a call failed.
    pub async fn finish(mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if !status.success() {
                    let mut logs = String::new();
                    for entry in std::fs::read_dir(&self.dir.0).unwrap().flatten() {
                        let name = entry.file_name().to_string_lossy().to_string();
                        if name.ends_with(".log") {
                            logs += &format!(
                                "--- {name}\n{}\n",
                                std::fs::read_to_string(entry.path()).unwrap_or_default()
                            );
                        }
                    }
                    let mut stderr = String::new();
                    if let Some(mut e) = self.child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut stderr);
                    }
                    panic!("sipp failed ({status}): {stderr}\n{logs}");
                }
                return;
            }
            assert!(std::time::Instant::now() < deadline, "sipp did not finish");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sine tone as 16-bit PCM at 8 kHz.
pub fn tone(freq: f64, seconds: f64, amplitude: f64) -> Vec<i16> {
    let n = (8000.0 * seconds) as usize;
    (0..n)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// Goertzel power of `freq` relative to the signal's total power (1.0 = a pure tone).
pub fn tone_share(samples: &[i16], freq: f64) -> f64 {
    let n = samples.len() as f64;
    let k = (0.5 + n * freq / 8000.0).floor();
    let w = 2.0 * std::f64::consts::PI * k / n;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0;
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 {
        0.0
    } else {
        2.0 * power / (n * energy)
    }
}

/// Writes a raw μ-law file of a tone (sipp's `rtp_stream` plays it).
pub fn write_ulaw_tone(path: &Path, freq: f64, seconds: f64) {
    std::fs::write(path, G711::Pcmu.encode(&tone(freq, seconds, 8000.0))).unwrap();
}

/// Writes a pcap (Ethernet/IPv4/UDP) of one RFC 4733 key press, PT 101, 20 ms apart,
/// for sipp's `play_pcap_audio`.
pub fn write_dtmf_pcap(path: &Path, key: char) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // DLT_EN10MB
    let event = dtmf::event_of(key).unwrap();
    for (i, (marker, payload)) in dtmf::key_press(event, 160).into_iter().enumerate() {
        let bytes = payload.to_bytes();
        let rtp = RtpPacket {
            marker,
            payload_type: 101,
            sequence: 1000 + i as u16,
            timestamp: 48_000,
            ssrc: 0x5157_0001,
            payload: &bytes,
        }
        .to_bytes();
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6002u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&rtp);
        let usec = (i as u32) * 20_000;
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&usec.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

/// Whether `samples` (8 kHz) hold at least a second of loud audio, mostly `hz`.
pub fn mostly(samples: &[i16], hz: f64) -> bool {
    let loud: Vec<i16> = samples
        .chunks(160)
        .filter(|f| f.iter().any(|s| s.abs() > 1000))
        .flatten()
        .copied()
        .collect();
    loud.len() >= 8_000 && tone_share(&loud, hz) > 0.8
}

/// Says `hz` to the phone for 3 s, paced at 20 ms, while collecting what the phone says
/// (the baresip tests' listening step).
pub async fn talk(call: &mut PhoneCall, hz: f64) -> Vec<i16> {
    let to_phone = call.audio_to_phone();
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(pstn_gateway::FRAME_TIME);
        for frame in tone(hz, 3.0, 8_000.0).chunks(pstn_gateway::FRAME_SAMPLES) {
            tick.tick().await;
            if to_phone.send(frame.to_vec()).await.is_err() {
                break;
            }
        }
    });
    let heard = collect(call, 150).await;
    sender.await.unwrap();
    heard
}

/// Collects `count` frames from a call (20 ms each).
pub async fn collect(call: &mut PhoneCall, count: usize) -> Vec<i16> {
    let mut pcm = Vec::new();
    for _ in 0..count {
        match tokio::time::timeout(Duration::from_secs(2), call.audio_from_phone().recv()).await {
            Ok(Some(frame)) => pcm.extend(frame),
            _ => break,
        }
    }
    pcm
}
