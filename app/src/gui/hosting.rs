//! Hosting a conference from the app: the wallet (imported once, sealed beside the
//! identity) signs in to a conference service, which creates a room; the app shows its
//! links and joins it as host. The slow parts (decrypting, HTTP, signing) run on the
//! background runtime's blocking pool; the controller polls for their results.

use std::fmt;
use std::sync::mpsc::{channel, Receiver, TryRecvError};

use nostr_signal::Identity;
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use crate::wallet::service::{ConferenceService, CreatedRoom};
use crate::wallet::{SolanaKeypair, WalletFile, WalletSigner as _};

/// A pasted wallet secret on its way to being sealed: never printed.
pub struct WalletSecret(pub Zeroizing<String>);

impl fmt::Debug for WalletSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WalletSecret(…)")
    }
}

/// Where hosting stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostingPhase {
    /// Nothing asked yet.
    #[default]
    Idle,
    /// Working, with what to show ("Signing in to meet.example.org…").
    Working(String),
    /// A room exists and we may join it as host.
    Created(RoomLinks),
    /// The last attempt failed, with why.
    Failed(String),
}

/// A created room as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomLinks {
    /// The web link to share.
    pub invite_url: String,
    /// The app link.
    pub app_url: String,
    /// "Free: up to 2 participants, 30 minutes".
    pub plan: String,
}

type Created = Result<(CreatedRoom, Zeroizing<String>), String>;

/// The wallet and the room we host.
#[derive(Default)]
pub struct Hosting {
    /// The imported wallet's address, once known.
    pub wallet_address: Option<String>,
    /// The room being created or created.
    pub phase: HostingPhase,
    /// The session of the room's creation (joining as host uses it).
    token: Option<Zeroizing<String>>,
    creating: Option<Receiver<Created>>,
    importing: Option<Receiver<Result<String, String>>>,
    /// Whether the wallet file was looked for since the app started.
    looked: bool,
}

impl Hosting {
    /// Reads the wallet's address (after the identity is unlocked), off the UI thread.
    pub fn look_for_wallet(&mut self, handle: &Handle, file: WalletFile, identity: Identity) {
        if self.looked || self.importing.is_some() {
            return;
        }
        self.looked = true;
        if !file.exists() {
            return;
        }
        let (tx, rx) = channel();
        handle.spawn_blocking(move || {
            let _ = tx.send(
                file.load(&identity)
                    .map(|k| k.address())
                    .map_err(|e| format!("{e:#}")),
            );
        });
        self.importing = Some(rx);
    }

    /// Imports a pasted secret and seals it.
    pub fn import(
        &mut self,
        handle: &Handle,
        file: WalletFile,
        identity: Identity,
        secret: WalletSecret,
    ) {
        let (tx, rx) = channel();
        handle.spawn_blocking(move || {
            let result = SolanaKeypair::import(&secret.0)
                .map_err(|e| e.to_string())
                .and_then(|keypair| {
                    file.save(&identity, &keypair, true)
                        .map(|()| keypair.address())
                        .map_err(|e| format!("{e:#}"))
                });
            let _ = tx.send(result);
        });
        self.importing = Some(rx);
    }

    /// Signs in to `service` with the wallet and creates a room.
    pub fn create_room(
        &mut self,
        handle: &Handle,
        file: WalletFile,
        identity: Identity,
        service: &str,
    ) {
        if self.creating.is_some() {
            return;
        }
        let service = match ConferenceService::new(service) {
            Ok(s) => s,
            Err(e) => {
                self.phase = HostingPhase::Failed(format!("{e:#}"));
                return;
            }
        };
        self.phase = HostingPhase::Working(format!(
            "Signing in to {} with your wallet…",
            service.domain()
        ));
        let (tx, rx) = channel();
        handle.spawn_blocking(move || {
            let result = (|| {
                let keypair = file.load(&identity)?;
                let session = service.sign_in(&keypair)?;
                let room = service.create_room(&session)?;
                anyhow::Ok((room, session.access_token))
            })();
            let _ = tx.send(result.map_err(|e| format!("{e:#}")));
        });
        self.creating = Some(rx);
    }

    /// The session token to join the created room as host (taken: one join per room).
    pub fn take_host_token(&mut self) -> Option<Zeroizing<String>> {
        self.token.take()
    }

    /// Takes the results of background work.
    pub fn poll(&mut self, errors: &mut Option<String>) {
        if let Some(rx) = &self.importing {
            match rx.try_recv() {
                Ok(Ok(address)) => {
                    self.wallet_address = Some(address);
                    self.importing = None;
                }
                Ok(Err(why)) => {
                    *errors = Some(format!("Wallet: {why}"));
                    self.importing = None;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.importing = None,
            }
        }
        if let Some(rx) = &self.creating {
            match rx.try_recv() {
                Ok(Ok((room, token))) => {
                    self.phase = HostingPhase::Created(RoomLinks {
                        plan: plan_line(&room),
                        invite_url: room.invite_url,
                        app_url: room.app_url,
                    });
                    self.token = Some(token);
                    self.creating = None;
                }
                Ok(Err(why)) => {
                    self.phase = HostingPhase::Failed(why);
                    self.creating = None;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.phase = HostingPhase::Failed("The room could not be created.".into());
                    self.creating = None;
                }
            }
        }
    }

    /// Whether background work is under way (the window then repaints on its own).
    pub fn busy(&self) -> bool {
        self.creating.is_some() || self.importing.is_some()
    }
}

/// "Free plan: up to 2 participants, 30 minutes".
pub fn plan_line(room: &CreatedRoom) -> String {
    let mut tier = room.tier.clone();
    if let Some(first) = tier.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    format!(
        "{tier} plan: up to {} participants, {} minutes",
        room.max_participants,
        room.max_duration_secs / 60
    )
}
