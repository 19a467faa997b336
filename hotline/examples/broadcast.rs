//! Send (or resume) a broadcast from the hotline's identity, printing progress and the
//! delivery report.
//!
//! ```text
//! PHANTOMCALL_PASSWORD=… cargo run -p hotline --example broadcast -- \
//!     --key hotline.key --db hotline.sqlite --config hotline.toml \
//!     --relay wss://relay.example --list recipients.txt --text "Doors open at 8 pm"
//! cargo run -p hotline --example broadcast -- --key … --db … --relay … --resume
//! ```
//!
//! `--key` is a NIP-49 key file (nostr-signal's `KeyFile`); `--config` is optional (the
//! `[broadcast]` pacing; defaults otherwise); `--relay` may repeat.

use std::path::PathBuf;

use hotline::broadcast::{read_recipients_file, BroadcastConfig, Broadcaster, Outcome};
use hotline::config::HotlineConfig;
use hotline::store::Store;
use nostr_signal::{KeyFile, RelayUrl};
use tokio::sync::mpsc;

#[derive(Default)]
struct Args {
    key: Option<PathBuf>,
    db: Option<PathBuf>,
    config: Option<PathBuf>,
    relays: Vec<RelayUrl>,
    list: Option<PathBuf>,
    text: Option<String>,
    resume: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--key" => args.key = Some(value()?.into()),
            "--db" => args.db = Some(value()?.into()),
            "--config" => args.config = Some(value()?.into()),
            "--relay" => args
                .relays
                .push(RelayUrl::parse(&value()?).map_err(|e| format!("--relay: {e}"))?),
            "--list" => args.list = Some(value()?.into()),
            "--text" => args.text = Some(value()?),
            "--resume" => args.resume = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let password = std::env::var("PHANTOMCALL_PASSWORD")
        .map_err(|_| "set PHANTOMCALL_PASSWORD to the key file's password")?;
    let identity = KeyFile::new(args.key.ok_or("--key is required")?).load(&password)?;
    let pacing = match &args.config {
        Some(path) => HotlineConfig::load(path)?.broadcast,
        None => BroadcastConfig::default(),
    };
    let store = Store::open(&args.db.ok_or("--db is required")?)?;
    let b = Broadcaster::connect(identity.keys(), args.relays, store, pacing).await?;
    let id = if args.resume {
        *b.unfinished()?.first().ok_or("no unfinished broadcast")?
    } else {
        let list = read_recipients_file(&args.list.ok_or("--list is required")?)?;
        for bad in &list.invalid {
            eprintln!("line {}: {}", bad.line, bad.error);
        }
        eprintln!(
            "{} recipients ({} duplicates, {} bad lines)",
            list.recipients.len(),
            list.duplicates,
            list.invalid.len()
        );
        b.create(&args.text.ok_or("--text is required")?, &list.recipients)?
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<hotline::broadcast::Progress>();
    let printer = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            eprint!("\r{}/{} sent", p.done, p.total);
        }
        eprintln!();
    });
    let report = b.run(id, Some(tx)).await?;
    let _ = printer.await;
    for line in &report.recipients {
        let what = match &line.outcome {
            Outcome::Delivered {
                relays_ok,
                relays_total,
                ..
            } => format!("published to {relays_ok} of {relays_total} relays"),
            Outcome::Failed { reason, .. } => format!("failed: {reason}"),
            Outcome::SkippedOptedOut => "skipped (opted out)".to_owned(),
            Outcome::Pending => "pending".to_owned(),
        };
        println!("{}\t{what}", line.recipient.to_bech32());
    }
    let p = report.progress();
    eprintln!(
        "{id}: {} delivered, {} failed, {} skipped of {}",
        p.delivered, p.failed, p.skipped, p.total
    );
    b.shutdown().await;
    Ok(())
}
