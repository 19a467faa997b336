//! One behaviour suite for both stores: SQLite in a temporary directory (one test per case),
//! PostgreSQL on a throwaway Debian cluster started here (every case in its own database).
//! Each case gets `open`, which opens another connection to the same database, so races
//! between service instances are tested for real.

#[path = "../common/pg.rs"]
mod pg;

mod billing;
mod rooms;
mod sessions;

use std::sync::Arc;

use billing::*;
use rooms::*;
use sessions::*;
use sfu_jitsi_bridge::store::{PostgresStore, SqliteStore, Store};

pub type Open<'a> = &'a (dyn Fn() -> Box<dyn Store> + Sync);
/// A suite case: it opens as many connections to its database as it needs.
type Case = fn(Open);

/// Every case, by name, for the PostgreSQL run.
const CASES: &[(&str, Case)] = &[
    ("nonces_are_consumed_once", nonces_are_consumed_once),
    ("nonces_expire", nonces_expire),
    ("nonce_race_has_one_winner", nonce_race_has_one_winner),
    (
        "refresh_rotates_and_reuse_revokes_the_family",
        refresh_rotates_and_reuse_revokes_the_family,
    ),
    ("refresh_tokens_expire", refresh_tokens_expire),
    (
        "refresh_race_is_detected_as_reuse",
        refresh_race_is_detected_as_reuse,
    ),
    ("sign_out_everywhere", sign_out_everywhere),
    (
        "billing_links_sets_and_ignores_older_events",
        billing_links_sets_and_ignores_older_events,
    ),
    ("billing_events_apply_once", billing_events_apply_once),
    (
        "a_customer_moves_to_the_wallet_that_last_checked_out",
        a_customer_moves_to_the_wallet_that_last_checked_out,
    ),
    (
        "duplicate_deliveries_race_to_one_application",
        duplicate_deliveries_race_to_one_application,
    ),
    (
        "purge_removes_only_what_expired",
        purge_removes_only_what_expired,
    ),
    (
        "a_room_is_found_by_another_instance_until_it_expires_or_ends",
        a_room_is_found_by_another_instance_until_it_expires_or_ends,
    ),
    (
        "a_dead_processs_room_is_claimed_by_one_process_only",
        a_dead_processs_room_is_claimed_by_one_process_only,
    ),
];

macro_rules! sqlite_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let path = dir.path().join("conference.db");
                    let open = move || -> Box<dyn super::Store> {
                        Box::new(super::SqliteStore::open(&path).unwrap())
                    };
                    super::$case(&open);
                }
            )*

            #[test]
            fn every_case_runs_on_sqlite() {
                let here = [$(stringify!($case)),*];
                for (name, _) in super::CASES {
                    assert!(here.contains(name), "{name} is not in the SQLite list");
                }
                assert_eq!(here.len(), super::CASES.len());
            }
        }
    };
}

sqlite_suite!(
    nonces_are_consumed_once,
    nonces_expire,
    nonce_race_has_one_winner,
    refresh_rotates_and_reuse_revokes_the_family,
    refresh_tokens_expire,
    refresh_race_is_detected_as_reuse,
    sign_out_everywhere,
    billing_links_sets_and_ignores_older_events,
    billing_events_apply_once,
    a_customer_moves_to_the_wallet_that_last_checked_out,
    duplicate_deliveries_race_to_one_application,
    purge_removes_only_what_expired,
    a_room_is_found_by_another_instance_until_it_expires_or_ends,
    a_dead_processs_room_is_claimed_by_one_process_only,
);

#[test]
fn sqlite_schema_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    assert_eq!(
        SqliteStore::open(&path).unwrap().schema_version().unwrap(),
        4
    );
    assert_eq!(
        SqliteStore::open(&path).unwrap().schema_version().unwrap(),
        4
    );
}

#[test]
fn postgres_store_passes_the_same_suite() {
    let Some(cluster) = pg::PgCluster::start() else {
        return;
    };
    let conn = cluster.create_db("migrations");
    let first = PostgresStore::connect(&conn).unwrap();
    assert_eq!(first.schema_version().unwrap(), 4);
    assert_eq!(
        PostgresStore::connect(&conn)
            .unwrap()
            .schema_version()
            .unwrap(),
        4
    );
    for (name, case) in CASES {
        let conn = Arc::new(cluster.create_db(name));
        let open = move || -> Box<dyn Store> { Box::new(PostgresStore::connect(&conn).unwrap()) };
        case(&open);
        pg::say(&format!("postgres store: {name} ok"));
    }
}
