//! The service's state: single-use sign-in nonces, refresh-token families, each wallet's tier
//! and Stripe customer id, the Stripe events already processed, and which service process
//! holds each open room (the room directory, for several processes on one database).
//!
//! One [`Store`] trait, two implementations with the same behaviour, proved by one test suite
//! (`tests/store.rs`): [`SqliteStore`] (embedded, the default; one file) and [`PostgresStore`]
//! (by configuration; several service instances share it). Each migrates its own schema on
//! open from SQL embedded in the binary ([`sqlite`], [`postgres`]); the `schema_migrations`
//! table records what was applied.
//!
//! Every operation that must not race is one statement or one transaction in the database, not
//! a read-then-write in Rust: consuming a nonce is a conditional `UPDATE`; rotating a refresh
//! token locks its row (`BEGIN IMMEDIATE` in SQLite, `SELECT … FOR UPDATE` in PostgreSQL); a
//! billing event is recorded and applied in one transaction, so a replay is a no-op and a crash
//! between the two cannot lose an update. Two instances on one database are tested racing.
//!
//! The trait is synchronous: the crate's logic is plain code fed with `now`, and the service's
//! async driver calls the store through `tokio::task::spawn_blocking`. The `postgres` client
//! runs its own small runtime, so calling it from inside an async task panics; from
//! `spawn_blocking` it is fine. Times are Unix seconds. Refresh tokens are stored as SHA-256
//! hashes, never as the token.

use std::fmt;

use crate::tiers::Tier;

pub mod postgres;
pub mod sqlite;

pub use self::postgres::PostgresStore;
pub use self::sqlite::SqliteStore;

/// How long a processed Stripe event id is remembered. Stripe retries a delivery for up to
/// three days; a month leaves room for manual resends from the dashboard.
pub const STRIPE_EVENT_RETENTION_SECS: i64 = 30 * 24 * 3600;

/// A database failure. The message is the driver's; it never contains a token or an address
/// (queries are parameterised and drivers do not echo parameters).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("a nonce with this value was already issued")]
    DuplicateNonce,
    #[error("stored data is invalid: {0}")]
    Corrupt(&'static str),
    #[error("the store's lock was poisoned by a panic")]
    Poisoned,
}

/// What became of a nonce presented with a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// It was issued, unused and unexpired, and is now used.
    Consumed,
    /// Never issued here (or purged after expiry).
    Unknown,
    /// Already consumed by an earlier sign-in.
    AlreadyUsed,
    /// Issued but its time ran out before use.
    Expired,
}

/// A refresh token about to be stored: its hash and expiry.
#[derive(Clone, Copy)]
pub struct NewRefreshToken {
    pub hash: [u8; 32],
    pub expires_at: i64,
}

impl fmt::Debug for NewRefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NewRefreshToken {{ expires_at: {} }}", self.expires_at)
    }
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid and unused: it is now used, and its successor was stored in the same family.
    Rotated { wallet: String, family: String },
    /// Already used once: someone holds a copy. The whole family is now revoked.
    Reused { wallet: String, family: String },
    /// Its family was revoked earlier (reuse, or sign-out everywhere).
    Revoked,
    /// Unused but past its expiry.
    Expired,
    /// Not a token this store issued.
    Unknown,
}

/// A wallet's billing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub wallet: String,
    pub tier: Tier,
    pub stripe_customer: Option<String>,
    /// `created` of the Stripe event that last set the tier (0 if none): older events no longer
    /// change it, since Stripe may deliver out of order.
    pub tier_event_created: i64,
}

/// The change a billing event asks for, already mapped from Stripe's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingChange {
    /// A completed checkout: this wallet is this customer; set the tier if known. A customer
    /// linked to another wallet before moves here (one subscription, one wallet), and the
    /// wallet it leaves drops to Free.
    Link {
        wallet: String,
        customer: String,
        tier: Option<Tier>,
    },
    /// A subscription or invoice event: set the tier of whichever wallet holds this customer.
    SetTier { customer: String, tier: Tier },
    /// An event acknowledged and recorded that changes nothing.
    Nothing,
}

/// What applying a billing event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingOutcome {
    /// The tier (and link) were written.
    Applied { wallet: String, tier: Tier },
    /// The link was written; the tier stays as it was.
    Linked { wallet: String },
    /// This event id was processed before: nothing changed.
    Duplicate,
    /// No wallet holds this customer: recorded, nothing changed.
    UnknownCustomer,
    /// A newer event already set this wallet's tier: recorded, the tier left as it was (a
    /// checkout's link is still written).
    Stale { wallet: String },
    /// Recorded; the event asked for nothing.
    Ignored,
}

/// The service's state. Implementations are safe to share between threads and between
/// service instances on the same database.
pub trait Store: Send + Sync {
    /// Records a freshly generated nonce that expires at `expires_at`.
    fn issue_nonce(&self, nonce: &str, expires_at: i64) -> Result<(), StoreError>;

    /// Consumes a nonce atomically: of two concurrent calls, at most one sees `Consumed`.
    fn consume_nonce(&self, nonce: &str, now: i64) -> Result<NonceState, StoreError>;

    /// Starts a refresh-token family for `wallet` with its first token.
    fn start_refresh_family(
        &self,
        family: &str,
        wallet: &str,
        first: &NewRefreshToken,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Uses the token whose hash is `presented`: marks it used and stores `next` in its family
    /// (`Rotated`); if it was used before, revokes the whole family (`Reused`).
    fn rotate_refresh(
        &self,
        presented: &[u8; 32],
        next: &NewRefreshToken,
        now: i64,
    ) -> Result<RefreshOutcome, StoreError>;

    /// Revokes every refresh family of a wallet (sign out everywhere). Returns how many.
    fn revoke_wallet_sessions(&self, wallet: &str) -> Result<u64, StoreError>;

    /// The wallet's billing record, if it ever had one.
    fn account(&self, wallet: &str) -> Result<Option<Account>, StoreError>;

    /// Records the Stripe event `event_id` (created at `created`) and applies `change`, in one
    /// transaction; an id seen before changes nothing and gives `Duplicate`.
    fn apply_billing_event(
        &self,
        event_id: &str,
        created: i64,
        change: &BillingChange,
        now: i64,
    ) -> Result<BillingOutcome, StoreError>;

    /// Records (or updates) `room` (its id in simple UUID form): where it lives and what
    /// reopens it after a restart. Holds no wallet, name or participant.
    fn put_room(&self, room: &str, record: &RoomRecord) -> Result<(), StoreError>;

    /// The record of `room`, unless it expired or was never made.
    fn room_record(&self, room: &str, now: i64) -> Result<Option<RoomRecord>, StoreError>;

    /// The process holding `room`, unless the record expired or was never made.
    fn room_owner(&self, room: &str, now: i64) -> Result<Option<String>, StoreError> {
        Ok(self.room_record(room, now)?.map(|r| r.owner))
    }

    /// Forgets `room` (it ended).
    fn drop_room(&self, room: &str) -> Result<(), StoreError>;

    /// Says the cluster process `process` (its advertise URL) is alive at `now`.
    fn beat(&self, process: &str, now: i64) -> Result<(), StoreError>;

    /// When `process` last said it was alive; `None` if it never did.
    fn last_beat(&self, process: &str) -> Result<Option<i64>, StoreError>;

    /// Moves `room` from the process `from` to `to`, only if `from` still holds it (two
    /// processes taking over the same room: one wins). Returns whether this call moved it.
    fn claim_room(&self, room: &str, from: &str, to: &str) -> Result<bool, StoreError>;

    /// Deletes expired nonces, refresh tokens and room records, families left without
    /// tokens, and Stripe event ids older than [`STRIPE_EVENT_RETENTION_SECS`]. Returns the
    /// rows deleted.
    fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// A room in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// The process holding it (`[cluster] advertise`; empty without a cluster).
    pub owner: String,
    /// Unix seconds after which it is gone: creation plus the unjoined wait and the plan's
    /// duration, then, once started, the end of the plan's duration.
    pub expires_at: i64,
    /// The host's wallet as a keyed hash ([`crate::token::SessionKeys::keyed_hash`]).
    pub host_key: String,
    /// The host's plan when the room was created.
    pub tier: Tier,
}

/// The tier of a wallet: its account's, or Free for a wallet never billed.
pub fn tier_of(store: &dyn Store, wallet: &str) -> Result<Tier, StoreError> {
    Ok(store.account(wallet)?.map_or(Tier::Free, |a| a.tier))
}

/// A refresh token's state as read inside a rotation's transaction; the decision is made here
/// once for both backends.
pub(crate) struct RefreshRow {
    pub family: String,
    pub wallet: String,
    pub used: bool,
    pub revoked: bool,
    pub expires_at: i64,
}

/// What a rotation must do after reading the presented token's row.
pub(crate) enum RotationStep {
    Finish(RefreshOutcome),
    RevokeFamily(RefreshOutcome),
    UseAndInsert(RefreshOutcome),
}

pub(crate) fn decide_rotation(row: Option<RefreshRow>, now: i64) -> RotationStep {
    let Some(row) = row else {
        return RotationStep::Finish(RefreshOutcome::Unknown);
    };
    if row.revoked {
        return RotationStep::Finish(RefreshOutcome::Revoked);
    }
    let (wallet, family) = (row.wallet, row.family);
    if row.used {
        return RotationStep::RevokeFamily(RefreshOutcome::Reused { wallet, family });
    }
    if row.expires_at <= now {
        return RotationStep::Finish(RefreshOutcome::Expired);
    }
    RotationStep::UseAndInsert(RefreshOutcome::Rotated { wallet, family })
}

/// Whether an event created at `created` may set the tier of `account`.
pub(crate) fn newer_or_same(account: &Account, created: i64) -> bool {
    created >= account.tier_event_created
}

pub(crate) fn parse_tier(text: &str) -> Result<Tier, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt("unknown tier"))
}

/// The reads and writes a billing change needs, inside the backend's open transaction.
pub(crate) trait BillingTx {
    /// The account of `wallet`, locked until the transaction ends.
    fn account_by_wallet(&mut self, wallet: &str) -> Result<Option<Account>, StoreError>;
    /// The account holding `customer`, locked until the transaction ends.
    fn account_by_customer(&mut self, customer: &str) -> Result<Option<Account>, StoreError>;
    /// Inserts or replaces the account row of `account.wallet`.
    fn write_account(&mut self, account: &Account) -> Result<(), StoreError>;
}

/// Applies a billing change through `tx`; the caller has recorded the event id in the same
/// transaction and commits afterwards. One implementation for both backends.
pub(crate) fn apply_change(
    tx: &mut dyn BillingTx,
    change: &BillingChange,
    created: i64,
) -> Result<BillingOutcome, StoreError> {
    match change {
        BillingChange::Nothing => Ok(BillingOutcome::Ignored),
        BillingChange::SetTier { customer, tier } => {
            let Some(mut account) = tx.account_by_customer(customer)? else {
                return Ok(BillingOutcome::UnknownCustomer);
            };
            if !newer_or_same(&account, created) {
                return Ok(BillingOutcome::Stale {
                    wallet: account.wallet,
                });
            }
            account.tier = *tier;
            account.tier_event_created = created;
            tx.write_account(&account)?;
            Ok(BillingOutcome::Applied {
                wallet: account.wallet,
                tier: *tier,
            })
        }
        BillingChange::Link {
            wallet,
            customer,
            tier,
        } => {
            if let Some(mut previous) = tx.account_by_customer(customer)? {
                if previous.wallet != *wallet {
                    previous.stripe_customer = None;
                    previous.tier = Tier::Free;
                    previous.tier_event_created = previous.tier_event_created.max(created);
                    tx.write_account(&previous)?;
                }
            }
            let mut account = tx.account_by_wallet(wallet)?.unwrap_or(Account {
                wallet: wallet.clone(),
                tier: Tier::Free,
                stripe_customer: None,
                tier_event_created: 0,
            });
            account.stripe_customer = Some(customer.clone());
            let outcome = match tier {
                Some(t) if newer_or_same(&account, created) => {
                    account.tier = *t;
                    account.tier_event_created = created;
                    BillingOutcome::Applied {
                        wallet: wallet.clone(),
                        tier: *t,
                    }
                }
                Some(_) => BillingOutcome::Stale {
                    wallet: wallet.clone(),
                },
                None => BillingOutcome::Linked {
                    wallet: wallet.clone(),
                },
            };
            tx.write_account(&account)?;
            Ok(outcome)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(used: bool, revoked: bool, expires_at: i64) -> Option<RefreshRow> {
        Some(RefreshRow {
            family: "f".into(),
            wallet: "w".into(),
            used,
            revoked,
            expires_at,
        })
    }

    fn outcome(step: RotationStep) -> (u8, RefreshOutcome) {
        match step {
            RotationStep::Finish(o) => (0, o),
            RotationStep::RevokeFamily(o) => (1, o),
            RotationStep::UseAndInsert(o) => (2, o),
        }
    }

    #[test]
    fn rotation_decisions() {
        let (w, f) = (String::from("w"), String::from("f"));
        assert_eq!(
            outcome(decide_rotation(None, 0)),
            (0, RefreshOutcome::Unknown)
        );
        assert_eq!(
            outcome(decide_rotation(row(true, true, 9), 0)),
            (0, RefreshOutcome::Revoked)
        );
        let reused = RefreshOutcome::Reused {
            wallet: w.clone(),
            family: f.clone(),
        };
        assert_eq!(
            outcome(decide_rotation(row(true, false, 9), 0)),
            (1, reused)
        );
        // A used token is reuse even after its expiry (until it is purged).
        assert_eq!(outcome(decide_rotation(row(true, false, 9), 10)).0, 1);
        assert_eq!(
            outcome(decide_rotation(row(false, false, 9), 9)),
            (0, RefreshOutcome::Expired)
        );
        let rotated = RefreshOutcome::Rotated {
            wallet: w,
            family: f,
        };
        assert_eq!(
            outcome(decide_rotation(row(false, false, 9), 8)),
            (2, rotated)
        );
    }
}
