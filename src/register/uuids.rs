//! `selfbill register uuids FILE`: LHDN's UUIDs for documents selfbill
//! wrote, from a CSV or XLSX with an internal-ID column (`eInvoiceNumber` or
//! `Internal ID`) and a `UUID` column, such as the MyInvois portal's list of
//! submitted documents. Every row is checked first; with any error nothing
//! is recorded.

use anyhow::{Result, bail};
use calamine::Data;
use std::collections::HashMap;
use std::path::Path;

use super::{Register, UuidEntry};
use crate::finding::Finding;
use crate::model::Location;
use crate::read::grid::{self, GridRow};
use crate::read::sheet;
use crate::rules;

/// Header names of the internal-ID column, compared without case and spaces.
const NUMBER_HEADERS: [&str; 3] = ["einvoicenumber", "internalid", "internalidno"];
const UUID_HEADERS: [&str; 1] = ["uuid"];
const STATUS_HEADERS: [&str; 2] = ["status", "documentstatus"];
/// How far down the header row may be.
const HEADER_SEARCH_ROWS: usize = 10;
/// LHDN's UUIDs are 26 letters and digits.
pub const UUID_CHARS: usize = 26;

/// What a UUID file holds, checked against the register.
#[derive(Debug, Default)]
pub struct Plan {
    /// UUIDs to record.
    pub entries: Vec<UuidEntry>,
    /// Rows whose UUID is recorded already.
    pub already: usize,
    pub findings: Vec<Finding>,
}

impl Plan {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '.')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `text` is an LHDN UUID: 26 ASCII letters and digits.
pub fn is_uuid(text: &str) -> bool {
    text.len() == UUID_CHARS && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Reads the file and checks every row against the register.
pub fn plan(register: &Register, path: &Path) -> Result<Plan> {
    let shown = path.display().to_string();
    let grid = sheet::open_first_sheet(path, &|_, _| Ok(None), None)?;
    let Some((header_at, columns)) = find_header(&grid.rows) else {
        bail!(
            "{shown}: no header row with an internal-ID column (eInvoiceNumber or Internal ID) \
             and a UUID column in the first {HEADER_SEARCH_ROWS} rows; download the list of \
             documents from the MyInvois portal, or write a CSV with the header eInvoiceNumber,UUID"
        );
    };
    let mut plan = Plan::default();
    // number → (uuid, where first given)
    let mut given: HashMap<String, (String, Location)> = HashMap::new();
    let mut by_uuid: HashMap<String, String> = HashMap::new();
    let text = |row: &GridRow, column: usize| {
        row.cells
            .get(column)
            .map(grid::cell_text)
            .unwrap_or_default()
    };
    let headers = &grid.rows[header_at];
    let header = |column: usize| text(headers, column);
    for row in &grid.rows[header_at + 1..] {
        let at = Location::new(&shown, grid.sheet.clone(), Some(row.number));
        let number = text(row, columns.number);
        let uuid_text = text(row, columns.uuid);
        if number.is_empty() && uuid_text.is_empty() {
            continue;
        }
        if let Some(status_column) = columns.status {
            let status = text(row, status_column);
            if !status.is_empty() && !status.eq_ignore_ascii_case("valid") {
                plan.findings.push(
                    Finding::new(
                        &rules::REGISTER_UUID_NOT_VALID,
                        format!("document {number} is {status} at LHDN; its UUID is not recorded"),
                    )
                    .at(&at)
                    .column(header(status_column))
                    .invoice(&number)
                    .value(&status),
                );
                continue;
            }
        }
        let uuid = uuid_text.to_ascii_uppercase();
        if !is_uuid(&uuid) {
            let message = format!(
                "the UUID of {number} is {uuid_text:?}; LHDN's UUIDs are {UUID_CHARS} letters and \
                 digits"
            );
            plan.findings.push(
                Finding::new(&rules::REGISTER_UUID_MALFORMED, message)
                    .at(&at)
                    .column(header(columns.uuid))
                    .invoice(&number)
                    .value(&uuid_text),
            );
            continue;
        }
        let Some(document) = register.document(&number)? else {
            plan.findings.push(
                Finding::new(
                    &rules::REGISTER_UUID_UNKNOWN_INVOICE,
                    format!(
                        "{number:?} is not a document in the register {}",
                        register.path().display()
                    ),
                )
                .at(&at)
                .column(header(columns.number))
                .invoice(&number)
                .value(&number),
            );
            continue;
        };
        let conflict = |message: String| {
            Finding::new(&rules::REGISTER_UUID_CONFLICT, message)
                .at(&at)
                .column(header(columns.uuid))
                .invoice(&number)
                .value(&uuid)
        };
        if let Some((first, first_at)) = given.get(&number) {
            if *first != uuid {
                plan.findings.push(conflict(format!(
                    "{number} is given UUID {uuid} here and {first} in row {}",
                    first_at.row.unwrap_or_default()
                )));
            }
            continue;
        }
        if let Some(other) = by_uuid.get(&uuid)
            && *other != number
        {
            plan.findings.push(conflict(format!(
                "UUID {uuid} is given to {number} and to {other}"
            )));
            continue;
        }
        match &document.uuid {
            Some(recorded) if *recorded == uuid => {
                plan.already += 1;
            }
            Some(recorded) => {
                plan.findings.push(conflict(format!(
                    "{number} already has UUID {recorded} in the register; this file says {uuid}"
                )));
            }
            None => match register.number_of_uuid(&uuid)? {
                Some(other) => plan.findings.push(conflict(format!(
                    "UUID {uuid} is already recorded for {other}, not {number}"
                ))),
                None => plan.entries.push(UuidEntry {
                    number: number.clone(),
                    uuid: uuid.clone(),
                }),
            },
        }
        given.insert(number.clone(), (uuid.clone(), at.clone()));
        by_uuid.insert(uuid, number);
    }
    Ok(plan)
}

struct Columns {
    number: usize,
    uuid: usize,
    status: Option<usize>,
}

fn find_header(rows: &[GridRow]) -> Option<(usize, Columns)> {
    rows.iter()
        .take(HEADER_SEARCH_ROWS)
        .enumerate()
        .find_map(|(i, row)| {
            let names: Vec<String> = row
                .cells
                .iter()
                .map(|c| match c {
                    Data::String(s) => squash(s),
                    _ => String::new(),
                })
                .collect();
            let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
            Some((
                i,
                Columns {
                    number: find(&NUMBER_HEADERS)?,
                    uuid: find(&UUID_HEADERS)?,
                    status: find(&STATUS_HEADERS),
                },
            ))
        })
}
