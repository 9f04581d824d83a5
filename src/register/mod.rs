//! The register: one SQLite file that remembers, from one month's run to the
//! next, which orders were invoiced (where and when, with a digest of the
//! order), which were held, and LHDN's UUIDs once recorded. It keeps an
//! order from being invoiced twice, follows up held orders and turns refunds
//! after invoicing into self-billed refund or credit notes.
//!
//! Safety: a file that is not a selfbill register, or is corrupt, is refused
//! before anything is written to it; a run takes the register's write lock
//! before it reads it (a second run waits, then fails with a clear message)
//! and records everything in one transaction, after its outputs are in place.

pub mod export;
pub mod reconcile;
mod schema;
pub mod uuids;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use rust_decimal::Decimal;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use schema::VERSION as SCHEMA_VERSION;

/// A query of documents: the columns [`document_of_row`] reads, then `$clause`.
macro_rules! select_documents {
    ($clause:literal) => {
        concat!(
            "SELECT number, kind, type_code, order_no, original, seller, currency, total, \
             total_cny, total_myr, rate, digest, issued_at, output, state, uuid FROM documents ",
            $clause
        )
    };
}

/// The register's file name beside the config file.
pub const DEFAULT_FILE: &str = "selfbill.db";

/// How long a run waits for another run to release the register.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Where the register is: `--register FILE`, else `[register] path` (relative
/// to the config file), else `selfbill.db` beside the config file (the
/// current folder when there is none).
pub fn locate(
    explicit: Option<&Path>,
    config_file: Option<&Path>,
    configured: Option<&Path>,
) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let base = config_file.and_then(Path::parent).unwrap_or(Path::new(""));
    base.join(configured.unwrap_or(Path::new(DEFAULT_FILE)))
}

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A self-billed e-invoice (type 11).
    Invoice,
    /// A self-billed refund note (type 14): money returned.
    RefundNote,
    /// A self-billed credit note (type 12): value reduced.
    CreditNote,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        self.text()
    }

    /// The text, as a value to bind that outlives any row.
    fn text(self) -> &'static &'static str {
        match self {
            Kind::Invoice => &"invoice",
            Kind::RefundNote => &"refund-note",
            Kind::CreditNote => &"credit-note",
        }
    }

    pub fn type_code(self) -> &'static str {
        match self {
            Kind::Invoice => "11",
            Kind::RefundNote => "14",
            Kind::CreditNote => "12",
        }
    }

    pub fn is_note(self) -> bool {
        self != Kind::Invoice
    }

    fn parse(text: &str) -> Result<Kind> {
        Ok(match text {
            "invoice" => Kind::Invoice,
            "refund-note" => Kind::RefundNote,
            "credit-note" => Kind::CreditNote,
            other => bail!("unknown document kind {other:?}"),
        })
    }
}

/// Where a document stands with LHDN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Written to a workbook; no UUID recorded yet.
    Written,
    /// LHDN's UUID recorded.
    Validated,
    /// Validated, and a refund or credit note has been issued against it.
    Refunded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Written => "written",
            State::Validated => "validated",
            State::Refunded => "refunded",
        }
    }

    fn parse(text: &str) -> Result<State> {
        Ok(match text {
            "written" => State::Written,
            "validated" => State::Validated,
            "refunded" => State::Refunded,
            other => bail!("unknown document state {other:?}"),
        })
    }
}

/// One document selfbill wrote: an invoice or a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub number: String,
    pub kind: Kind,
    pub type_code: String,
    pub order_no: String,
    /// For a note: the invoice it refers to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// The 1688 seller (卖家会员名).
    pub seller: String,
    pub currency: String,
    /// TotalPayableAmount in `currency`.
    pub total: Decimal,
    pub total_cny: Decimal,
    pub total_myr: Decimal,
    /// MYR per 1 CNY.
    pub rate: Decimal,
    /// Digest of the order as it was when the document was written.
    pub digest: String,
    /// IssuanceDateTime, UTC.
    pub issued_at: NaiveDateTime,
    /// The workbook (or CSV folder) it was written to.
    pub output: String,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

impl Document {
    /// `YYYY-MM` of the issue date.
    pub fn month(&self) -> String {
        self.issued_at.format("%Y-%m").to_string()
    }
}

/// An order held by the status policy (e.g. 退款中), not invoiced yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub order_no: String,
    pub status: String,
    pub seller: String,
    pub paid_cny: Decimal,
    /// The export it was read from.
    pub export: String,
    /// The issue time of the run that held it.
    pub held_at: NaiveDateTime,
}

impl Hold {
    /// `YYYY-MM` of the run that held it.
    pub fn month(&self) -> String {
        self.held_at.format("%Y-%m").to_string()
    }
}

/// What one convert run records, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub issued_at: NaiveDateTime,
    pub exports: Vec<String>,
    pub outputs: Vec<String>,
    /// Documents written for the first time.
    pub written: Vec<Document>,
    /// `written` invoices written again under their number (`--reissue`).
    pub reissued: Vec<Document>,
    /// Orders held this run; an order already held stays held once.
    pub held: Vec<Hold>,
    /// Orders whose hold ends, and how ("invoiced", "交易关闭", …).
    pub settled: Vec<(String, String)>,
}

/// Documents to record, given one at a time to the function handed over.
pub type MoreDocuments<'a> =
    &'a mut dyn FnMut(&mut dyn FnMut(Document) -> Result<()>) -> Result<()>;

/// Documents inserted by one statement: its overhead is shared by many rows.
const DOCUMENTS_PER_INSERT: usize = 50;

/// The values [`insert_documents_sql`] takes per document.
const DOCUMENT_VALUES: usize = 15;

/// An INSERT of `rows` documents, [`DOCUMENT_VALUES`] values each, in the
/// order of [`document_values`].
fn insert_documents_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO documents (number, kind, type_code, order_no, original, seller, currency, \
         total, total_cny, total_myr, rate, digest, issued_at, output, run_id, state) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for _ in 0..DOCUMENT_VALUES {
            sql.push_str("?, ");
        }
        sql.push_str("'written')");
    }
    sql
}

/// The statements that record a run's documents, prepared once for the run
/// (a statement of 750 values costs more to fetch from the cache and clear
/// than to fill), and the texts of the rows being inserted.
struct DocumentInserts<'c> {
    conn: &'c Connection,
    many: rusqlite::Statement<'c>,
    one: rusqlite::Statement<'c>,
    refunded: rusqlite::Statement<'c>,
    texts: Vec<RowText>,
}

impl<'c> DocumentInserts<'c> {
    fn new(conn: &'c Connection) -> Result<Self> {
        let mut texts = Vec::new();
        texts.resize_with(DOCUMENTS_PER_INSERT, RowText::default);
        Ok(DocumentInserts {
            conn,
            many: conn.prepare(&insert_documents_sql(DOCUMENTS_PER_INSERT))?,
            one: conn.prepare(&insert_documents_sql(1))?,
            refunded: conn.prepare("UPDATE documents SET state = 'refunded' WHERE number = ?1")?,
            texts,
        })
    }

    /// Inserts `documents` (the check constraints off: see
    /// [`Register::insert_documents`]).
    fn insert(&mut self, documents: &[Document], run_id: i64) -> Result<()> {
        for batch in documents.chunks(DOCUMENTS_PER_INSERT) {
            for (text, d) in self.texts.iter_mut().zip(batch) {
                text.of(d);
            }
            let mut inserted = false;
            if batch.len() == DOCUMENTS_PER_INSERT {
                let mut values: Vec<&dyn rusqlite::ToSql> =
                    Vec::with_capacity(DOCUMENTS_PER_INSERT * DOCUMENT_VALUES);
                for (d, text) in batch.iter().zip(&self.texts) {
                    values.extend(document_values(d, text, &run_id));
                }
                match self.many.execute(values.as_slice()) {
                    Ok(_) => inserted = true,
                    // One of them is recorded already: undone, the
                    // transaction goes on, one at a time to say which.
                    Err(e)
                        if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
                            && !self.conn.is_autocommit() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if !inserted {
                for (d, text) in batch.iter().zip(&self.texts) {
                    self.one
                        .execute(document_values(d, text, &run_id))
                        .with_context(|| format!("document {} is already recorded", d.number))?;
                }
            }
            for original in batch.iter().filter_map(|d| d.original.as_ref()) {
                self.refunded.execute(params![original])?;
            }
        }
        Ok(())
    }
}

/// What [`insert_documents_sql`] takes of a document.
fn document_values<'a>(
    d: &'a Document,
    text: &'a RowText,
    run_id: &'a i64,
) -> [&'a dyn rusqlite::ToSql; DOCUMENT_VALUES] {
    [
        &d.number,
        d.kind.text(),
        &d.type_code,
        &d.order_no,
        &d.original,
        &d.seller,
        &d.currency,
        &text.total,
        &text.total_cny,
        &text.total_myr,
        &text.rate,
        &d.digest,
        &text.issued_at,
        &d.output,
        run_id,
    ]
}

/// A document's amounts and issue time as the register writes them, in
/// buffers reused from one row to the next.
#[derive(Default)]
struct RowText {
    total: String,
    total_cny: String,
    total_myr: String,
    rate: String,
    issued_at: String,
}

impl RowText {
    fn of(&mut self, d: &Document) {
        for (text, amount) in [
            (&mut self.total, d.total),
            (&mut self.total_cny, d.total_cny),
            (&mut self.total_myr, d.total_myr),
            (&mut self.rate, d.rate),
        ] {
            text.clear();
            crate::money::push_decimal(text, amount);
        }
        self.issued_at.clear();
        write_time(&mut self.issued_at, d.issued_at);
    }
}

/// A UUID to record: the document's number and LHDN's UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UuidEntry {
    pub number: String,
    pub uuid: String,
}

/// An open register file.
pub struct Register {
    conn: Connection,
    path: PathBuf,
    /// A run's write lock is held (BEGIN IMMEDIATE, not yet committed).
    locked: bool,
    /// The orders the register has documents of, once looked up under the
    /// lock (no other run can add any meanwhile); cleared when this run
    /// records or the lock ends.
    known: RefCell<KnownOrders>,
}

/// Which orders have documents, so that an order never invoiced (most of a
/// month's) is answered without a query. Read once lookups outnumber a
/// fraction of the register's documents: reading an order number costs far
/// less than a query; at once for an empty register.
#[derive(Debug, Default)]
struct KnownOrders {
    /// Lookups so far under this lock.
    lookups: usize,
    /// The documents' highest rowid: their number, at most.
    documents: Option<i64>,
    /// Hashes of the order numbers with documents; a collision only costs a query.
    hashes: Option<HashSet<u64, BuildHasherDefault<DefaultHasher>>>,
}

/// Lookups per document in the register before the order numbers are read.
const LOOKUPS_PER_SCAN: i64 = 32;

fn order_hash(order_no: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(order_no)
}

impl std::fmt::Debug for Register {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Register")
            .field("path", &self.path)
            .finish()
    }
}

impl Register {
    /// Opens the register at `path`; with `create`, a missing one is made
    /// (atomically: built beside it, then moved into place). A file that is
    /// not a selfbill register, or is corrupt, is an error and stays as it
    /// was. `wait` is how long to wait for another run's lock.
    pub fn open(path: &Path, create: bool, wait: Duration) -> Result<Register> {
        let shown = path.display().to_string();
        if !path.exists() {
            if !create {
                bail!(
                    "{shown}: no register here yet; `selfbill convert` creates it, or give its \
                     path with --register FILE"
                );
            }
            create_new(path)?;
        }
        check_header(path)?;
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("{shown}: the register cannot be opened"))?;
        conn.busy_timeout(wait)?;
        let verdict: Result<String, rusqlite::Error> =
            conn.query_row("PRAGMA quick_check(1)", [], |row| row.get(0));
        match verdict {
            Ok(ok) if ok == "ok" => {}
            Ok(problem) => bail!(
                "{shown}: the register is corrupt ({problem}); restore it from a backup (nothing \
                 was changed)"
            ),
            Err(e) => return Err(sqlite_error(e, &shown)),
        }
        let found = schema::version(&conn).map_err(|e| match e.downcast::<rusqlite::Error>() {
            Ok(e) => sqlite_error(e, &shown),
            Err(e) => e,
        })?;
        if found == 0 || !has_tables(&conn)? {
            bail!(
                "{shown}: not a selfbill register (its tables are missing); give another file \
                 with --register FILE (nothing was changed)"
            );
        }
        schema::migrate(&mut conn, &shown)?;
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        Ok(Register {
            conn,
            path: path.to_path_buf(),
            locked: false,
            known: RefCell::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the register's write lock for a run: a second run waits for the
    /// first (up to the busy timeout), then fails with a clear message. The
    /// lock is released by [`Register::record_run`] or when the register is
    /// dropped, which records nothing.
    pub fn lock(&mut self) -> Result<()> {
        if self.locked {
            return Ok(());
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sqlite_error(e, &self.path.display().to_string()))?;
        self.locked = true;
        self.known.take();
        Ok(())
    }

    /// The documents of an order, oldest first.
    pub fn documents_of(&self, order_no: &str) -> Result<Vec<Document>> {
        if !self.may_have_documents(order_no)? {
            return Ok(Vec::new());
        }
        self.select_documents(
            select_documents!("WHERE order_no = ?1 ORDER BY issued_at, number"),
            params![order_no],
        )
    }

    /// Whether the order may have documents: false only when the register
    /// is known, under this run's lock, to have none of it. Counts the
    /// lookups; once they are many for the register's size, reads which
    /// orders have documents.
    fn may_have_documents(&self, order_no: &str) -> Result<bool> {
        if !self.locked {
            return Ok(true);
        }
        let mut known = self.known.borrow_mut();
        if let Some(hashes) = &known.hashes {
            return Ok(hashes.contains(&order_hash(order_no)));
        }
        known.lookups = known.lookups.saturating_add(1);
        let documents = match known.documents {
            Some(documents) => documents,
            None => {
                let documents: Option<i64> =
                    self.conn
                        .query_row("SELECT max(rowid) FROM documents", [], |row| row.get(0))?;
                *known.documents.insert(documents.unwrap_or(0))
            }
        };
        let lookups = i64::try_from(known.lookups).unwrap_or(i64::MAX);
        if lookups.saturating_mul(LOOKUPS_PER_SCAN) < documents {
            return Ok(true);
        }
        let mut hashes = HashSet::default();
        let mut statement = self.conn.prepare_cached("SELECT order_no FROM documents")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            hashes.insert(order_hash(row.get_ref(0)?.as_str()?));
        }
        let may = hashes.contains(&order_hash(order_no));
        known.hashes = Some(hashes);
        Ok(may)
    }

    pub fn document(&self, number: &str) -> Result<Option<Document>> {
        Ok(self
            .select_documents(select_documents!("WHERE number = ?1"), params![number])?
            .into_iter()
            .next())
    }

    /// Every document, by issue time and number; `month` (`YYYY-MM`) keeps those issued then.
    pub fn documents(&self, month: Option<&str>) -> Result<Vec<Document>> {
        match month {
            Some(month) => self.select_documents(
                select_documents!("WHERE substr(issued_at, 1, 7) = ?1 ORDER BY issued_at, number"),
                params![month],
            ),
            None => {
                self.select_documents(select_documents!("ORDER BY issued_at, number"), params![])
            }
        }
    }

    fn select_documents(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Document>> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let mut rows = statement.query(args)?;
        let mut documents = Vec::new();
        while let Some(row) = rows.next()? {
            documents.push(document_of_row(row)?);
        }
        Ok(documents)
    }

    /// Open holds, oldest first; `month` keeps those held in that month.
    pub fn open_holds(&self, month: Option<&str>) -> Result<Vec<Hold>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT order_no, status, seller, paid_cny, export, held_at FROM holds \
             WHERE closed_run IS NULL AND (?1 IS NULL OR substr(held_at, 1, 7) = ?1) \
             ORDER BY held_at, order_no",
        )?;
        let rows = statement.query_map(params![month], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
            ))
        })?;
        let mut holds = Vec::new();
        for row in rows {
            let (order_no, status, seller, paid, export, held_at) = row?;
            holds.push(Hold {
                order_no,
                status,
                seller,
                paid_cny: decimal(&paid)?,
                export,
                held_at: parse_time(&held_at)?,
            });
        }
        Ok(holds)
    }

    /// Records a run in one transaction (under the lock taken by
    /// [`Register::lock`], or a new one) and commits it.
    pub fn record_run(&mut self, run: &RunRecord) -> Result<()> {
        self.record_run_with(run, &mut |_| Ok(()))
    }

    /// [`Register::record_run`], with more documents written for the first
    /// time than `run.written`: `more` gives them one at a time to the
    /// function it is handed, so a run of any size is recorded in little
    /// memory (convert keeps its documents on disk until then).
    pub fn record_run_with(&mut self, run: &RunRecord, more: MoreDocuments<'_>) -> Result<()> {
        self.stage_run_with(run, more)?;
        self.commit_run()
    }

    /// The first half of [`Register::record_run_with`]: the run's rows are
    /// inserted under the lock, and not committed. [`Register::commit_run`]
    /// keeps them, [`Register::abandon_run`] (or dropping the register)
    /// drops them. Convert inserts while its outputs are moved into place,
    /// and commits only once they are.
    pub fn stage_run_with(&mut self, run: &RunRecord, more: MoreDocuments<'_>) -> Result<()> {
        self.lock()?;
        let result = self.insert_run(run, more);
        // This run's documents are in (or rolled back): what was known is not.
        self.known.take();
        result.map_err(|e| self.not_recorded(e))
    }

    /// Commits the rows [`Register::stage_run_with`] inserted, and ends the lock.
    pub fn commit_run(&mut self) -> Result<()> {
        crate::register::pause_for_tests("record");
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.locked = false;
                Ok(())
            }
            Err(e) => Err(self.not_recorded(e.into())),
        }
    }

    /// Drops the rows [`Register::stage_run_with`] inserted, and ends the lock.
    pub fn abandon_run(&mut self) {
        if self.locked {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.locked = false;
        }
    }

    /// Rolls the run back and ends the lock: `error`, saying nothing was recorded.
    fn not_recorded(&mut self, error: anyhow::Error) -> anyhow::Error {
        self.abandon_run();
        error.context(format!(
            "{}: the run could not be recorded (nothing was recorded)",
            self.path.display()
        ))
    }

    fn insert_run(&self, run: &RunRecord, more: MoreDocuments<'_>) -> Result<()> {
        let conn = &self.conn;
        conn.execute(
            "INSERT INTO runs (started_at, issued_at, exports, outputs, version) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                format_time(Utc::now().naive_utc()),
                format_time(run.issued_at),
                run.exports.join("\n"),
                run.outputs.join("\n"),
                env!("CARGO_PKG_VERSION"),
            ],
        )?;
        let run_id = conn.last_insert_rowid();
        self.insert_documents(run_id, &mut |insert| {
            for document in &run.written {
                insert(document.clone())?;
            }
            more(insert)
        })?;
        let mut text = RowText::default();
        let mut update = conn.prepare_cached(
            "UPDATE documents SET seller = ?2, currency = ?3, total = ?4, total_cny = ?5, \
             total_myr = ?6, rate = ?7, digest = ?8, issued_at = ?9, output = ?10, run_id = ?11 \
             WHERE number = ?1 AND state = 'written'",
        )?;
        for d in &run.reissued {
            text.of(d);
            let changed = update.execute(params![
                d.number,
                d.seller,
                d.currency,
                text.total,
                text.total_cny,
                text.total_myr,
                text.rate,
                d.digest,
                text.issued_at,
                d.output,
                run_id,
            ])?;
            if changed != 1 {
                bail!(
                    "invoice {} is no longer `written`; it cannot be reissued",
                    d.number
                );
            }
        }
        let mut seen = conn.prepare_cached(
            "UPDATE holds SET seen_run = ?2, status = ?3 WHERE order_no = ?1 AND closed_run IS NULL",
        )?;
        let mut hold = conn.prepare_cached(
            "INSERT INTO holds (order_no, status, seller, paid_cny, export, held_at, run_id, seen_run) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )?;
        for h in &run.held {
            if seen.execute(params![h.order_no, run_id, h.status])? == 0 {
                hold.execute(params![
                    h.order_no,
                    h.status,
                    h.seller,
                    h.paid_cny.to_string(),
                    h.export,
                    format_time(h.held_at),
                    run_id,
                ])?;
            }
        }
        let mut settle = conn.prepare_cached(
            "UPDATE holds SET closed_run = ?2, closed_how = ?3 WHERE order_no = ?1 AND closed_run IS NULL",
        )?;
        for (order_no, how) in &run.settled {
            settle.execute(params![order_no, run_id, how])?;
        }
        Ok(())
    }

    /// Inserts the documents written by run `run_id`, many to a statement;
    /// a note's original becomes `refunded`.
    ///
    /// The schema's CHECKs on `kind` and `state` cannot fail here (kinds are
    /// [`Kind::text`], the states literals), and SQLite builds a temporary
    /// table per row to check each: they are left out of these statements
    /// only, and hold again for every statement after.
    fn insert_documents(&self, run_id: i64, documents: MoreDocuments<'_>) -> Result<()> {
        self.conn
            .pragma_update(None, "ignore_check_constraints", true)?;
        let inserted = DocumentInserts::new(&self.conn).and_then(|mut inserts| {
            let mut batch = Vec::with_capacity(DOCUMENTS_PER_INSERT);
            documents(&mut |document| {
                batch.push(document);
                if batch.len() == DOCUMENTS_PER_INSERT {
                    inserts.insert(&batch, run_id)?;
                    batch.clear();
                }
                Ok(())
            })?;
            inserts.insert(&batch, run_id)
        });
        let restored = self
            .conn
            .pragma_update(None, "ignore_check_constraints", false);
        inserted?;
        Ok(restored?)
    }

    /// Records LHDN's UUIDs (already checked: see [`uuids::plan`]) in one
    /// transaction: each document becomes `validated` (a `refunded` one stays so).
    pub fn record_uuids(&mut self, entries: &[UuidEntry], source: &str) -> Result<()> {
        let shown = self.path.display().to_string();
        let now = format_time(Utc::now().naive_utc());
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite_error(e, &shown))?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE documents SET uuid = ?2, validated_at = ?3, uuid_source = ?4, \
                 state = CASE state WHEN 'written' THEN 'validated' ELSE state END \
                 WHERE number = ?1 AND (uuid IS NULL OR uuid = ?2)",
            )?;
            for entry in entries {
                if update.execute(params![entry.number, entry.uuid, now, source])? != 1 {
                    bail!(
                        "{shown}: document {} changed meanwhile; nothing was recorded",
                        entry.number
                    );
                }
            }
        }
        tx.commit().with_context(|| {
            format!("{shown}: the UUIDs could not be recorded (nothing was recorded)")
        })
    }

    /// The document holding a UUID, if any.
    pub fn number_of_uuid(&self, uuid: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT number FROM documents WHERE uuid = ?1",
                params![uuid],
                |row| row.get(0),
            )
            .optional()?)
    }
}

/// `register list --state`: a document state, or `held` for open holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListState {
    Written,
    Validated,
    Held,
    Refunded,
}

/// One line of `register list`: a document, or an open hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListEntry {
    /// `invoice`, `refund-note`, `credit-note` or `hold`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    pub order: String,
    pub seller: String,
    /// `written`, `validated`, `refunded` or `held`.
    pub state: &'static str,
    pub month: String,
    /// IssuanceDateTime of a document; the holding run's for a hold.
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A document's total in its currency; a hold's 实付款 in CNY.
    pub total: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_myr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The output a document was written to; the export a hold was read from.
    pub file: String,
}

impl Register {
    /// Documents (by issue time) then open holds, filtered by month (`YYYY-MM`) and state.
    pub fn list(&self, month: Option<&str>, state: Option<ListState>) -> Result<Vec<ListEntry>> {
        let mut entries = Vec::new();
        if state != Some(ListState::Held) {
            for d in self.documents(month)? {
                let keep = match state {
                    None => true,
                    Some(ListState::Written) => d.state == State::Written,
                    Some(ListState::Validated) => d.state == State::Validated,
                    Some(ListState::Refunded) => d.state == State::Refunded,
                    Some(ListState::Held) => false,
                };
                if !keep {
                    continue;
                }
                entries.push(ListEntry {
                    kind: d.kind.as_str(),
                    month: d.month(),
                    at: format_time(d.issued_at),
                    number: Some(d.number),
                    order: d.order_no,
                    seller: d.seller,
                    state: d.state.as_str(),
                    currency: Some(d.currency),
                    total: d.total.to_string(),
                    total_myr: Some(d.total_myr.to_string()),
                    uuid: d.uuid,
                    original: d.original,
                    status: None,
                    file: d.output,
                });
            }
        }
        if state.is_none() || state == Some(ListState::Held) {
            for h in self.open_holds(month)? {
                entries.push(ListEntry {
                    kind: "hold",
                    number: None,
                    month: h.month(),
                    at: format_time(h.held_at),
                    order: h.order_no,
                    seller: h.seller,
                    state: "held",
                    currency: Some("CNY".into()),
                    total: h.paid_cny.to_string(),
                    total_myr: None,
                    uuid: None,
                    original: None,
                    status: Some(h.status),
                    file: h.export,
                });
            }
        }
        Ok(entries)
    }
}

/// `register list` as a table.
pub fn list_table(entries: &[ListEntry]) -> String {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "kind", "number", "order", "state", "month", "total", "MYR", "UUID", "file",
    ]);
    for e in entries {
        let total = match (&e.currency, &e.status) {
            (_, Some(status)) => format!("{} CNY ({status})", e.total),
            (Some(currency), None) => format!("{} {currency}", e.total),
            (None, None) => e.total.clone(),
        };
        table.add_row(vec![
            e.kind.to_string(),
            e.number.clone().unwrap_or_default(),
            e.order.clone(),
            e.state.to_string(),
            e.month.clone(),
            total,
            e.total_myr.clone().unwrap_or_default(),
            e.uuid.clone().unwrap_or_default(),
            e.file.clone(),
        ]);
    }
    format!("{table}\n")
}

/// Makes an empty register at `path`: built in a temporary file beside it
/// and moved into place, so a run killed meanwhile leaves no half-made file.
fn create_new(path: &Path) -> Result<()> {
    let shown = path.display();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "{shown}: the folder {} does not exist; create it first or choose another --register FILE",
            dir.display()
        );
    }
    let temp = tempfile::Builder::new()
        .prefix(".selfbill-register-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("{shown}: cannot create the register in {}", dir.display()))?;
    {
        let mut conn = Connection::open(temp.path())
            .with_context(|| format!("{shown}: cannot create the register"))?;
        schema::migrate(&mut conn, &shown.to_string())?;
        conn.close()
            .map_err(|(_, e)| e)
            .with_context(|| format!("{shown}: cannot create the register"))?;
    }
    temp.as_file().sync_all()?;
    match crate::write::persist(temp.into_temp_path(), path, false) {
        Ok(()) => Ok(()),
        // Another run made it meanwhile: use that one.
        Err(_) if path.exists() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{shown}: cannot create the register")),
    }
}

/// Reads the file's first 100 bytes (SQLite's header) without SQLite, so
/// that a file that is not a selfbill register is never opened for writing.
fn check_header(path: &Path) -> Result<()> {
    let shown = path.display();
    if path.is_dir() {
        bail!("{shown}: is a folder; give the register's file name with --register FILE");
    }
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|f| f.take(100).read_to_end(&mut header))
        .with_context(|| format!("{shown}: the register cannot be read"))?;
    if header.is_empty() {
        bail!(
            "{shown}: is an empty file, not a selfbill register; remove it, or give the register \
             with --register FILE (nothing was changed)"
        );
    }
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        bail!(
            "{shown}: not a selfbill register (not an SQLite database); give the register with \
             --register FILE, or move this file away (nothing was changed)"
        );
    }
    let application_id = i32::from_be_bytes([header[68], header[69], header[70], header[71]]);
    if application_id != schema::APPLICATION_ID {
        bail!(
            "{shown}: an SQLite database of another program, not a selfbill register; give the \
             register with --register FILE (nothing was changed)"
        );
    }
    Ok(())
}

/// A row of [`select_documents!`].
fn document_of_row(row: &rusqlite::Row<'_>) -> Result<Document> {
    let text = |column: usize| -> Result<&str> { Ok(row.get_ref(column)?.as_str()?) };
    Ok(Document {
        number: row.get(0)?,
        kind: Kind::parse(text(1)?)?,
        type_code: row.get(2)?,
        order_no: row.get(3)?,
        original: row.get(4)?,
        seller: row.get(5)?,
        currency: row.get(6)?,
        total: decimal(text(7)?)?,
        total_cny: decimal(text(8)?)?,
        total_myr: decimal(text(9)?)?,
        rate: decimal(text(10)?)?,
        digest: row.get(11)?,
        issued_at: parse_time(text(12)?)?,
        output: row.get(13)?,
        state: State::parse(text(14)?)?,
        uuid: row.get(15)?,
    })
}

fn has_tables(conn: &Connection) -> Result<bool> {
    let count: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('runs', 'documents', 'holds')",
        [],
        |row| row.get(0),
    )?;
    Ok(count == 3)
}

/// SQLite's errors in a bookkeeper's words.
fn sqlite_error(error: rusqlite::Error, shown: &str) -> anyhow::Error {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => anyhow::anyhow!(
            "{shown}: the register is in use by another selfbill run; try again when it has \
             finished (nothing was written)"
        ),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => anyhow::anyhow!(
            "{shown}: the register is corrupt ({error}); restore it from a backup (nothing was changed)"
        ),
        _ => anyhow::Error::from(error).context(format!("{shown}: register error")),
    }
}

fn decimal(text: &str) -> Result<Decimal> {
    Decimal::from_str(text)
        .with_context(|| format!("the register holds {text:?} where an amount belongs"))
}

/// How the register writes a time: UTC, to the second.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

pub(crate) fn format_time(time: NaiveDateTime) -> String {
    let mut text = String::with_capacity(20);
    write_time(&mut text, time);
    text
}

/// Appends `time` as [`TIME_FORMAT`] writes it; the digits by hand for the
/// years 0 to 9999 (chrono's formatting costs more than the rest of a row).
fn write_time(text: &mut String, time: NaiveDateTime) {
    if crate::model::push_seconds(text, time, b'T') {
        text.push('Z');
    } else {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        let _ = write!(text, "{}", time.format(TIME_FORMAT));
    }
}

fn parse_time(text: &str) -> Result<NaiveDateTime> {
    if let Some(time) = parse_written_time(text.as_bytes()) {
        return Ok(time);
    }
    NaiveDateTime::parse_from_str(text, TIME_FORMAT)
        .with_context(|| format!("the register holds {text:?} where a time belongs"))
}

/// A time exactly as [`write_time`] writes it, read without chrono's
/// parser; anything else is left to it.
fn parse_written_time(text: &[u8]) -> Option<NaiveDateTime> {
    crate::model::parse_seconds(text.strip_suffix(b"Z")?, b'T')
}

/// For the crash and concurrency tests only: with
/// `SELFBILL_TEST_PAUSE=STAGE:FILE`, a run reaching STAGE creates FILE and
/// waits there (to be killed) for as long as FILE exists. The stages:
/// `outputs`, the outputs about to be moved into place (the run's rows being
/// inserted beside); `record`, the outputs in place and the run's rows
/// inserted, not yet committed.
pub(crate) fn pause_for_tests(stage: &str) {
    let Some(setting) = std::env::var_os("SELFBILL_TEST_PAUSE") else {
        return;
    };
    let setting = setting.to_string_lossy();
    if let Some((wanted, marker)) = setting.split_once(':')
        && wanted == stage
        && std::fs::write(marker, std::process::id().to_string()).is_ok()
    {
        while Path::new(marker).exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests;
