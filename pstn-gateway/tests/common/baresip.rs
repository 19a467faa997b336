//! baresip (Debian `baresip`), a SIP phone the project did not write: it says a sine
//! tone (module `ausine`), answers or dials, and records what it hears to a WAV file
//! (module `sndfile`). Audio goes to ALSA's `null` device: no sound card needed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::tempdir::Dir;

/// The baresip binary, or a panic naming the package (scripts/setup.sh installs it).
pub fn binary() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("baresip"))
                .find(|p| p.is_file())
        })
        .expect("baresip not installed (Debian package baresip; scripts/setup.sh installs it)")
}

/// A running baresip; killed on drop.
pub struct Baresip {
    child: Child,
    pub dir: Dir,
    /// Its SIP address.
    pub sip: SocketAddr,
    /// Its console (module `cons`, UDP), with [`PhoneOptions::keypad`].
    console: Option<SocketAddr>,
}

/// Optional phone settings.
#[derive(Default)]
pub struct PhoneOptions {
    /// SDES-SRTP only (module `srtp`, account `;mediaenc=srtp-mand`): baresip offers
    /// RTP/SAVP with an `a=crypto` key and refuses plain RTP.
    pub srtp: bool,
    /// CA file baresip trusts for TLS (`sip_cafile`); dial a `;transport=tls` URI.
    pub tls_ca: Option<PathBuf>,
    /// Certificate and key in one PEM file (`sip_certificate`): baresip then listens for
    /// TLS on its SIP port + 1 ([`Baresip::tls_addr`]).
    pub tls_certificate: Option<PathBuf>,
    /// Only the Opus codec (module `opus` instead of `g711`): baresip offers and accepts
    /// nothing but `opus/48000/2` (and telephone-event).
    pub opus_only: bool,
    /// A keypad: the `cons` module listens for menu commands on a UDP port, so a test
    /// can press keys during a call ([`Baresip::press`]).
    pub keypad: bool,
}

impl PhoneOptions {
    fn config_lines(&self) -> String {
        let mut lines = String::new();
        if self.srtp {
            lines += "module srtp.so\n";
        }
        if let Some(ca) = &self.tls_ca {
            lines += &format!("sip_cafile {}\n", ca.display());
        }
        if let Some(cert) = &self.tls_certificate {
            lines += &format!("sip_certificate {}\n", cert.display());
        }
        lines
    }

    fn account_params(&self) -> &'static str {
        if self.srtp {
            ";mediaenc=srtp-mand"
        } else {
            ""
        }
    }
}

/// What the phone does when started.
pub enum Role<'a> {
    /// Dials this SIP URI at once.
    Dial(&'a str),
    /// Waits and answers every call at once.
    AutoAnswer,
}

impl Baresip {
    /// Starts baresip on 127.0.0.1 as `user` (e.g. `+15551234512`), saying `tone_hz`,
    /// quitting after `seconds`.
    pub fn start(user: &str, tone_hz: u32, role: Role<'_>, seconds: u32) -> Self {
        Self::start_on("127.0.0.1", user, tone_hz, role, seconds)
    }

    /// [`Baresip::start`] on the loopback address `ip` (another source address than the
    /// gateway's allow-list, for instance).
    pub fn start_on(ip: &str, user: &str, tone_hz: u32, role: Role<'_>, seconds: u32) -> Self {
        Self::start_with(ip, user, tone_hz, role, seconds, &PhoneOptions::default())
    }

    /// [`Baresip::start_on`] with [`PhoneOptions`] (SRTP, TLS). The ports are picked free
    /// but may be taken by another process before baresip binds them (it also opens TLS
    /// and TCP beside UDP): then it is started again on others.
    pub fn start_with(
        ip: &str,
        user: &str,
        tone_hz: u32,
        role: Role<'_>,
        seconds: u32,
        options: &PhoneOptions,
    ) -> Self {
        for _ in 0..4 {
            let phone = Self::start_once(ip, user, tone_hz, &role, seconds, options);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                let log = phone.log();
                if log.contains("Address already in use") {
                    break; // dropped (killed); try other ports
                }
                if log.contains("baresip is ready") || std::time::Instant::now() > deadline {
                    return phone;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        panic!("baresip found no free ports in four tries")
    }

    fn start_once(
        ip: &str,
        user: &str,
        tone_hz: u32,
        role: &Role<'_>,
        seconds: u32,
        options: &PhoneOptions,
    ) -> Self {
        let dir = Dir::new("baresip");
        let port = super::free_port();
        let rtp = super::free_port();
        let sip: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let console = options
            .keypad
            .then(|| SocketAddr::new(sip.ip(), super::free_port()));
        std::fs::create_dir_all(dir.0.join("rec")).unwrap();
        let mut config = format!(
            "poll_method epoll\nsip_listen {sip}\nmodule_path /usr/lib/baresip/modules\n\
             module {codec}.so\nmodule ausine.so\nmodule alsa.so\nmodule sndfile.so\n\
             module_app account.so\nmodule_app menu.so\n\
             audio_source ausine,{tone_hz}\naudio_player alsa,null\naudio_alert alsa,null\n\
             ausrc_srate 48000\nausrc_channels 2\nsnd_path {}\nrtp_ports {rtp}-{}\n",
            dir.0.join("rec").display(),
            rtp + 10,
            codec = if options.opus_only { "opus" } else { "g711" },
        ) + &options.config_lines();
        if let Some(console) = console {
            config += &format!("module cons.so\ncons_listen {console}\n");
        }
        std::fs::write(dir.0.join("config"), config).unwrap();
        let answer = match role {
            Role::AutoAnswer => ";answermode=auto",
            Role::Dial(_) => "",
        };
        std::fs::write(
            dir.0.join("accounts"),
            format!(
                "<sip:{user}@{ip}>;regint=0{answer}{}\n",
                options.account_params()
            ),
        )
        .unwrap();
        std::fs::write(dir.0.join("contacts"), "").unwrap();
        let mut command = Command::new(binary());
        command
            .arg("-f")
            .arg(&dir.0)
            .args(["-n", ip, "-t", &seconds.to_string()]);
        if let Role::Dial(uri) = role {
            command.args(["-e", &format!("/dial {uri}")]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.0.join("out.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip starts");
        Self {
            child,
            dir,
            sip,
            console,
        }
    }

    /// Presses `keys` on the phone's keypad during its call (menu command `/sndcode`:
    /// each key as an RFC 4733 event, then the release). Needs [`PhoneOptions::keypad`].
    pub fn press(&self, keys: &str) {
        let console = self.console.expect("a phone started with a keypad");
        let socket = std::net::UdpSocket::bind(SocketAddr::new(console.ip(), 0)).unwrap();
        socket
            .send_to(format!("/sndcode {keys}\n").as_bytes(), console)
            .unwrap();
    }

    /// The keys the phone received as RFC 4733 events, in order (baresip logs each
    /// event's start as `received event: '5' (end=0)`).
    pub fn keys_received(&self) -> String {
        self.log()
            .lines()
            .filter_map(|line| {
                line.split_once("received event: '")?
                    .1
                    .split_once("' (end=0)")
            })
            .filter_map(|(key, _)| key.chars().next())
            .collect()
    }

    /// Quits the way a person hangs up and closes the app (SIGTERM: baresip ends its
    /// calls with BYE first).
    pub fn quit(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Its TLS listener (with [`PhoneOptions::tls_certificate`]): baresip puts TLS on the
    /// SIP port + 1.
    pub fn tls_addr(&self) -> SocketAddr {
        SocketAddr::new(self.sip.ip(), self.sip.port() + 1)
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("out.log")).unwrap_or_default()
    }

    /// What it heard: the samples of its decoder dump, as 8 kHz mono (a G.711 dump is
    /// that already; an Opus one, 48 kHz and maybe stereo, is mixed down and decimated).
    pub fn heard(&self) -> Vec<i16> {
        let rec = self.dir.0.join("rec");
        std::fs::read_dir(&rec)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .map(|p| wav_samples(&p))
            .unwrap_or_default()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 16-bit samples of a PCM WAV file (its `data` chunk; a dump still being written
/// may say a length of 0, so everything after the chunk header is taken), as 8 kHz mono.
fn wav_samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let Some(at) = bytes.windows(4).position(|w| w == b"data") else {
        return Vec::new();
    };
    // The `fmt ` chunk: channels at +10, sample rate at +12 from its id.
    let (channels, rate) = bytes
        .windows(4)
        .position(|w| w == b"fmt ")
        .and_then(|f| {
            let ch = u16::from_le_bytes(bytes.get(f + 10..f + 12)?.try_into().ok()?);
            let rate = u32::from_le_bytes(bytes.get(f + 12..f + 16)?.try_into().ok()?);
            Some((usize::from(ch.max(1)), rate))
        })
        .unwrap_or((1, 8000));
    let mono: Vec<i16> = bytes
        .get(at + 8..)
        .unwrap_or_default()
        .chunks_exact(2 * channels)
        .map(|frame| {
            let sum: i32 = frame
                .chunks_exact(2)
                .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
                .sum();
            (sum / channels as i32) as i16
        })
        .collect();
    // Averaging each group is a crude low-pass, enough for the test tones (<= 1.4 kHz).
    let step = (rate / 8000).max(1) as usize;
    mono.chunks(step)
        .map(|g| (g.iter().map(|&s| i32::from(s)).sum::<i32>() / g.len() as i32) as i16)
        .collect()
}
