//! `phantomcall`: the PhantomCall desktop app (no subcommand, or `demo --gui`) and
//! command line.
//!
//! Headless commands: `keygen`, `whoami`, `relay`, `call`, `listen`, `join`, `send-test`, `demo`,
//! `blackout`, `turn-credentials`. Errors are
//! printed for a person to read and end the process with a non-zero status; nothing here
//! prints a secret unless the user asked for an export.

mod call_args;
mod commands;
mod identity;
mod relays;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Private calls between Nostr identities.
#[derive(Parser)]
#[command(name = "phantomcall", version, about)]
struct Cli {
    /// Encrypted identity file (NIP-49). Default: identity.ncryptsec in the config directory.
    #[arg(long, global = true, env = "PHANTOMCALL_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Without a command the desktop app opens.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new identity (or import one with --import) and save it encrypted.
    Keygen {
        /// Import an existing nsec, hex key or ncryptsec (read from the terminal, hidden).
        #[arg(long)]
        import: bool,
        /// Replace an existing identity file.
        #[arg(long)]
        force: bool,
    },
    /// Show your npub; optionally export the key.
    Whoami {
        /// Print the secret key as nsec (keep it secret!).
        #[arg(long)]
        export_nsec: bool,
        /// Print the key encrypted with its password as ncryptsec (NIP-49).
        #[arg(long)]
        export_ncryptsec: bool,
    },
    /// Run the embedded Nostr relay (in memory) until Ctrl-C.
    Relay {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7777")]
        bind: SocketAddr,
    },
    /// Call NPUB: audio (and video with --video) until --seconds pass or someone hangs up.
    Call {
        /// The peer: npub, nprofile or hex public key. Give several for a group call
        /// (everyone connected to everyone, up to 8 people on voice, 6 on video).
        #[arg(required = true, num_args = 1..)]
        npubs: Vec<String>,
        /// Video call (the camera goes through human blackout first).
        #[arg(long)]
        video: bool,
        /// Paranoid video calls start audio only; this confirms sending (blacked-out)
        /// video from the start.
        #[arg(long, requires = "video")]
        camera_on: bool,
        /// Hang up this many seconds after the call connects.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Call this telephone number (E.164, e.g. +15551234567) through the phone
        /// gateway whose npub is given: not end-to-end encrypted past the gateway.
        #[arg(long, conflicts_with = "video")]
        phone: Option<String>,
        /// Keypad keys (0-9 * #) to press once the call connects (phone menus, PINs).
        #[arg(long, requires = "phone")]
        keys: Option<String>,
        #[command(flatten)]
        relays: relays::RelayArgs,
        #[command(flatten)]
        net: call_args::NetArgs,
        #[command(flatten)]
        devices: call_args::DeviceArgs,
    },
    /// Wait for calls and take them (asks, or answers by itself with --auto-answer); also
    /// answers signaling tests from `send-test`.
    Listen {
        #[command(flatten)]
        relays: relays::RelayArgs,
        /// Accept every incoming call at once (with video when offered).
        #[arg(long)]
        auto_answer: bool,
        /// Do not answer `send-test` offers.
        #[arg(long)]
        no_test_replies: bool,
        #[command(flatten)]
        net: call_args::NetArgs,
        #[command(flatten)]
        devices: call_args::DeviceArgs,
    },
    /// Send a test offer to NPUB and wait for its reply.
    SendTest {
        /// The peer: npub, nprofile or hex public key.
        npub: String,
        #[command(flatten)]
        relays: relays::RelayArgs,
        /// Seconds to wait for the reply.
        #[arg(long, default_value_t = 15)]
        timeout: u64,
        /// SOCKS5 proxy (Tor: 127.0.0.1:9050) for every relay connection.
        #[arg(long, value_name = "HOST:PORT")]
        socks5: Option<std::net::SocketAddr>,
    },
    /// Time-limited TURN credentials (TURN REST, coturn `use-auth-secret`), printed as JSON.
    TurnCredentials {
        /// Who the credentials are for (appears in the username; no ':').
        #[arg(long, default_value = "phantomcall")]
        id: String,
        /// Lifetime in seconds (default 6 hours).
        #[arg(long, default_value_t = 6 * 3600)]
        ttl: u64,
        /// File holding the TURN server's shared secret (else PHANTOMCALL_TURN_SECRET, else asked).
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Human blackout: paint the people in a photo or Y4M video black, or benchmark it.
    Blackout(commands::blackout::BlackoutArgs),
    /// Join a conference room by its invite link (phantomcall://join/<host>/<room> or
    /// https://<host>/join/<room>): audio and (blacked-out) video through the service's
    /// SFU, end-to-end encrypted under the room's MLS key.
    Join {
        /// The invite link.
        link: String,
        /// A session token from signing in with your wallet (else you join as an
        /// anonymous guest: audio and blacked-out video, no screen share).
        #[arg(long, conflicts_with = "wallet")]
        token_file: Option<PathBuf>,
        /// Sign in to the link's service with your imported wallet first (the room's
        /// creator hosts it; `phantomcall wallet import`).
        #[arg(long)]
        wallet: bool,
        /// The name the others see.
        #[arg(long, default_value = "Guest")]
        name: String,
        /// Send no video.
        #[arg(long)]
        audio_only: bool,
        /// Leave after this many seconds.
        #[arg(long, default_value_t = 3600)]
        seconds: u64,
        /// Events and figures as JSON lines on standard output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        devices: call_args::DeviceArgs,
    },
    /// Open the app on a conference invite link (phantomcall://join/<host>/<room> or
    /// https://<host>/join/<room>): the lobby, then the room. The desktop runs this for
    /// phantomcall:// links once `phantomcall register-links` was run.
    Open {
        /// The invite link.
        link: String,
    },
    /// Make this program the desktop's handler of phantomcall:// links (a .desktop entry
    /// in ~/.local/share/applications, then xdg-mime).
    RegisterLinks,
    /// Your Solana wallet, which signs you in to conference services.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Conference rooms you host.
    #[command(subcommand)]
    Room(RoomCommand),
    /// The phone gateway: SIP trunks bridged to PhantomCall calls.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// A hotline: a queue of callers answered by enrolled dispatchers, and a shared inbox.
    #[command(subcommand)]
    Hotline(HotlineCommand),
    /// Local demo: embedded relay, two fresh identities, a real call between them with
    /// synthetic devices; live figures, one received frame saved as PNG, a JSON summary.
    Demo {
        /// Length of the call once connected.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Video call (the camera plays a clip of people walking, through the blackout filter).
        #[arg(long)]
        video: bool,
        /// Where to save one received video frame.
        #[arg(long, default_value = "phantomcall-demo-frame.png")]
        frame_png: PathBuf,
        /// Human blackout off: fully black video.
        #[arg(long)]
        no_blackout: bool,
        /// Print only the final JSON line.
        #[arg(long)]
        quiet: bool,
        /// Only the signaling: every call message kind both ways through the relay.
        #[arg(long)]
        signaling_only: bool,
        /// Open the desktop app with a demo contact that answers every call (embedded
        /// relay, synthetic camera and tone, a throw-away identity).
        #[arg(long, conflicts_with = "signaling_only")]
        gui: bool,
    },
}

/// `phantomcall gateway ...`.
#[derive(Subcommand)]
enum GatewayCommand {
    /// Serve phone calls: trunks, DIDs, rules and enrolled users come from the config file
    /// (see pstn-gateway/gateway.example.toml); relays, privacy mode and TURN from flags.
    Serve {
        /// The gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        relays: relays::RelayArgs,
        #[command(flatten)]
        net: call_args::NetArgs,
    },
}

/// `phantomcall wallet ...`.
#[derive(Subcommand)]
enum WalletCommand {
    /// Import a Solana keypair, sealed with your identity: a keypair file (what
    /// `solana-keygen new` writes) or, without one, its base58 secret (asked hidden, or
    /// from PHANTOMCALL_WALLET_SECRET). Prints the wallet's address.
    Import {
        /// The Solana CLI keypair file (a JSON array of 64 numbers).
        file: Option<PathBuf>,
        /// Replace a wallet imported before.
        #[arg(long)]
        force: bool,
    },
    /// Print the imported wallet's address.
    Address,
}

/// `phantomcall room ...`.
#[derive(Subcommand)]
enum RoomCommand {
    /// Sign in to a conference service with your wallet and create a room; prints its
    /// invite links (web, then app).
    Create {
        /// The service: its host (meet.example.org), URL, or any invite link of it.
        service: String,
        /// Also save the session token here (for `join --token-file`; valid one hour).
        #[arg(long)]
        token_out: Option<PathBuf>,
        /// The room as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `phantomcall hotline ...`.
#[derive(Subcommand)]
enum HotlineCommand {
    /// Serve the hotline on this identity: callers wait on a line with a waiting tone
    /// until a dispatcher takes them; rules and dispatchers from the config file (see
    /// hotline/hotline.example.toml); relays, privacy mode and TURN from flags.
    Serve {
        /// The hotline configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The SQLite file of the queue and the inbox (default: hotline.db next to the
        /// config). A restart keeps every waiting caller's place.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Most waiting lines open at once (the machine's limit; the queue's own limits
        /// overflow into callbacks first).
        #[arg(long, default_value_t = hotline::voice::DEFAULT_MAX_LINES)]
        max_lines: usize,
        #[command(flatten)]
        relays: relays::RelayArgs,
        #[command(flatten)]
        net: call_args::NetArgs,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter({
            // The relay crate logs every client that disconnects without a close frame as
            // an ERROR; that is normal network life, not worth a user's eye. webrtc-rs is
            // always off: at info and debug it logs the remote ICE password and addresses
            // (calling::peer::log_filter), and the engine reports what matters as events.
            let user = std::env::var("PHANTOMCALL_LOG")
                .unwrap_or_else(|_| "warn,nostr_relay_builder=off,nostr_relay_pool=error".into());
            // rsipstack logs whole SIP messages (phone numbers, digest headers) at info.
            let filter = format!(
                "{},{}",
                calling::peer::log_filter(&user),
                pstn_gateway::QUIET_SIP_STACK
            );
            tracing_subscriber::EnvFilter::try_new(filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rtc=off,webrtc=off"))
        })
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // The window runs its own runtime on background threads (phantomcall::gui::backend);
    // it must not start inside this one.
    let gui = match &cli.command {
        None => Some(phantomcall::gui::AppOptions::standard(cli.key_file.clone())),
        Some(Command::Open { link }) => {
            let mut options = phantomcall::gui::AppOptions::standard(cli.key_file.clone());
            // A window already open on this config directory takes the link itself.
            if phantomcall::gui::instance::hand_over(&options.config_dir, link) {
                eprintln!("the open PhantomCall window has the link");
                return ExitCode::SUCCESS;
            }
            options.open_link = Some(link.clone());
            Some(options)
        }
        Some(Command::Demo { gui: true, .. }) => Some(phantomcall::gui::AppOptions::demo()),
        Some(_) => None,
    };
    if let Some(options) = gui {
        return match phantomcall::gui::run(options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(command) = cli.command else {
        return ExitCode::FAILURE;
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let key_file = identity::key_file(cli.key_file);
    let result = runtime.block_on(async {
        match command {
            Command::Keygen { import, force } => commands::keygen::run(&key_file, import, force),
            Command::Whoami {
                export_nsec,
                export_ncryptsec,
            } => commands::whoami::run(&key_file, export_nsec, export_ncryptsec),
            Command::Relay { bind } => commands::relay::run(bind).await,
            Command::Call {
                npubs,
                video,
                camera_on,
                seconds,
                phone,
                keys,
                relays,
                net,
                devices,
            } => {
                let options = commands::call::CallOptions {
                    npubs,
                    video,
                    camera_on,
                    seconds,
                    phone,
                    keys,
                    relays,
                    net,
                    devices,
                };
                commands::call::run(&key_file, options).await
            }
            Command::Listen {
                relays,
                auto_answer,
                no_test_replies,
                net,
                devices,
            } => {
                let options = commands::listen::ListenOptions {
                    relays,
                    reply_to_tests: !no_test_replies,
                    auto_answer,
                    net,
                    devices,
                };
                commands::listen::run(&key_file, options).await
            }
            Command::SendTest {
                npub,
                relays,
                timeout,
                socks5,
            } => commands::send_test::run(&key_file, &npub, relays, timeout, socks5).await,
            Command::Demo {
                signaling_only: true,
                quiet,
                ..
            } => commands::signaling_demo::run(quiet).await,
            Command::Demo {
                seconds,
                video,
                frame_png,
                no_blackout,
                quiet,
                ..
            } => {
                let options = commands::demo::DemoOptions {
                    seconds,
                    video,
                    quiet,
                    frame_png,
                    no_blackout,
                };
                commands::demo::run(options).await
            }
            Command::Blackout(args) => commands::blackout::run(args),
            Command::Gateway(GatewayCommand::Serve {
                config,
                relays,
                net,
            }) => commands::gateway::serve(&key_file, &config, relays, net).await,
            Command::Hotline(HotlineCommand::Serve {
                config,
                state,
                max_lines,
                relays,
                net,
            }) => commands::hotline::serve(&key_file, &config, state, max_lines, relays, net).await,
            // The window took `open` above; nothing is left to run here.
            Command::Open { .. } => Ok(ExitCode::SUCCESS),
            Command::RegisterLinks => commands::register_links::run(),
            Command::Wallet(WalletCommand::Import { file, force }) => {
                commands::wallet::import(&key_file, file.as_deref(), force)
            }
            Command::Wallet(WalletCommand::Address) => commands::wallet::address(&key_file),
            Command::Room(RoomCommand::Create {
                service,
                token_out,
                json,
            }) => commands::wallet::create_room(&key_file, &service, token_out, json).await,
            Command::Join {
                link,
                token_file,
                wallet,
                name,
                audio_only,
                seconds,
                json,
                devices,
            } => {
                commands::join::run(commands::join::JoinArgs {
                    link,
                    token_file,
                    wallet: wallet.then_some(&key_file),
                    name,
                    audio_only,
                    seconds,
                    json,
                    devices,
                })
                .await
            }
            Command::TurnCredentials {
                id,
                ttl,
                secret_file,
            } => commands::turn_credentials::run(&id, ttl, secret_file.as_deref()),
        }
    });
    // A blocking read of standard input (`join`'s commands) cannot be cancelled and would
    // hold the runtime's drop until the next line: the work is done, do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
