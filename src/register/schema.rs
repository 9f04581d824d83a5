//! The register's schema, versioned with `PRAGMA user_version`: migration
//! `n` takes a register from version `n` to `n + 1`, each in its own
//! transaction. A register newer than this build is refused, never changed.

use anyhow::{Context, Result, bail};
use rusqlite::Connection;

/// `PRAGMA application_id` of a selfbill register: "SBLR".
pub const APPLICATION_ID: i32 = 0x5342_4C52;

/// Migration `i` upgrades version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, the documents written (invoices and notes), and held orders.
    "
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        issued_at   TEXT NOT NULL,
        exports     TEXT NOT NULL,
        outputs     TEXT NOT NULL,
        version     TEXT NOT NULL
    );
    CREATE TABLE documents (
        number      TEXT PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('invoice', 'refund-note', 'credit-note')),
        type_code   TEXT NOT NULL,
        order_no    TEXT NOT NULL,
        original    TEXT REFERENCES documents(number),
        seller      TEXT NOT NULL,
        currency    TEXT NOT NULL,
        total       TEXT NOT NULL,
        total_cny   TEXT NOT NULL,
        total_myr   TEXT NOT NULL,
        rate        TEXT NOT NULL,
        digest      TEXT NOT NULL,
        issued_at   TEXT NOT NULL,
        output      TEXT NOT NULL,
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        state       TEXT NOT NULL CHECK (state IN ('written', 'validated', 'refunded'))
    );
    CREATE INDEX documents_by_order ON documents(order_no);
    CREATE TABLE holds (
        id          INTEGER PRIMARY KEY,
        order_no    TEXT NOT NULL,
        status      TEXT NOT NULL,
        seller      TEXT NOT NULL,
        paid_cny    TEXT NOT NULL,
        export      TEXT NOT NULL,
        held_at     TEXT NOT NULL,
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        seen_run    INTEGER NOT NULL REFERENCES runs(id),
        closed_run  INTEGER REFERENCES runs(id),
        closed_how  TEXT
    );
    CREATE UNIQUE INDEX holds_open ON holds(order_no) WHERE closed_run IS NULL;
    ",
    // 2: LHDN's UUIDs, recorded by `selfbill register uuids`.
    "
    ALTER TABLE documents ADD COLUMN uuid TEXT;
    ALTER TABLE documents ADD COLUMN validated_at TEXT;
    ALTER TABLE documents ADD COLUMN uuid_source TEXT;
    CREATE UNIQUE INDEX documents_by_uuid ON documents(uuid) WHERE uuid IS NOT NULL;
    ",
];

/// The schema version this build writes.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

pub fn version(conn: &Connection) -> Result<i32> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Brings the register up to [`VERSION`], one migration per transaction.
pub fn migrate(conn: &mut Connection, display: &str) -> Result<()> {
    migrate_to(conn, VERSION, display)
}

/// Applies the migrations up to `target` (tests stop early to build old registers).
pub fn migrate_to(conn: &mut Connection, target: i32, display: &str) -> Result<()> {
    let current = version(conn)?;
    if current > VERSION {
        bail!(
            "{display}: the register was written by a newer selfbill (schema {current}, this one \
             knows {VERSION}); upgrade selfbill (nothing was changed)"
        );
    }
    for step in current..target {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[step as usize])
            .and_then(|()| {
                if step == 0 {
                    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
                }
                tx.pragma_update(None, "user_version", step + 1)
            })
            .and_then(|()| tx.commit())
            .with_context(|| {
                format!(
                    "{display}: cannot upgrade the register to schema {}",
                    step + 1
                )
            })?;
    }
    Ok(())
}
