//! Reading a batch-upload workbook in LHDN's layout (or a folder of the CSVs
//! `convert --format csv` writes) into a batch: sheets by name, columns by
//! their row-4 header (trimmed), data from row 6, LHDN's row-5 sample and
//! blank rows skipped. What the portal would take differently from what a
//! person sees is a finding: sheets that are not LHDN's, or twice, or out of
//! order; a header given twice; hidden rows with data; formulas in data
//! rows; an edited sample row.

use anyhow::{Result, bail};
use calamine::{Data, Reader, SheetVisible};
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;

use super::file::{self, FileKind, MAX_SPREADSHEET_BYTES, Spreadsheet};
use super::grid::{self, GridRow, RowSink, column_letters};
use super::{sheet, xls, xlsx};
use crate::batch::{
    ADDED_IN_NEWER_TEMPLATE, Batch, Cell, DataRow, FIRST_DATA_ROW, HEADER_ROW, SheetData,
    TemplateCell, TemplateCellKind, template,
};
use crate::finding::Finding;
use crate::money;
use crate::rules;

/// The older public copy of LHDN's template orders its sheets so; the newer
/// copy's order is the template's.
const OLDER_SHEET_ORDER: [&str; 11] = [
    "Documents",
    "ReferenceNumberCustomsForms",
    "DocumentReferences",
    "DocumentLineItems",
    "LineItemsAddClassifications",
    "LineItemsTaxes",
    "LineItemsDiscounts",
    "LineItemsCharges",
    "DocumentTotalTax",
    "DocumentDiscounts",
    "DocumentCharges",
];

/// The hidden sheets of LHDN's template that feed its dropdowns.
const CODE_SHEETS: [&str; 10] = [
    "PaymentModes",
    "DocumentTypeVersion",
    "CurrencyCodes",
    "DocumentTypes",
    "MSICSubCategoryCodes",
    "CountryCodes",
    "TaxTypes",
    "StateCodes",
    "ClassificationCodes",
    "UnitTypes",
];

/// Row-5 sample values of the older copy where they differ from the newer
/// one's: (sheet, header, value).
const OLDER_SAMPLES: [(&str, &str, &str); 3] = [
    ("Documents", "Supplier.ContactNumber", "+60-123456789"),
    ("DocumentLineItems", "UnitOfMeasurement", "EA"),
    (
        "ReferenceNumberCustomsForms",
        "ReferenceNumberofCustomsFormNo1or9",
        "A-4343-2322,A-12453-456",
    ),
];

/// At most this many findings of one kind (formulas, hidden rows) per
/// sheet; the last one says how many more there are.
const MAX_FINDINGS_PER_SHEET: usize = 100;

/// A batch read from a file, with the structure findings (missing sheets and
/// headers, unknown headers).
pub struct ReadBatch {
    pub batch: Batch,
    pub findings: Vec<Finding>,
}

pub fn read_batch(path: &Path) -> Result<ReadBatch> {
    super::guard(path, || read_batch_unguarded(path))
}

fn read_batch_unguarded(path: &Path) -> Result<ReadBatch> {
    if path.is_dir() {
        return read_csv_folder(path);
    }
    let file = path.display().to_string();
    match file::open_spreadsheet(path)? {
        Spreadsheet::Read(_, FileKind::Csv) => bail!(
            "{file}: is a single CSV file; check reads LHDN's batch-upload workbook (.xlsx) or a \
             folder of per-sheet CSV files (Documents.csv, DocumentLineItems.csv, …)"
        ),
        // Read where it lies; a workbook that changed meanwhile is said to have.
        Spreadsheet::Xlsx(opened) => {
            let read = read_xlsx(path, || opened.reader());
            opened.unchanged()?;
            read
        }
        Spreadsheet::Read(bytes, kind) => read_xls(path, bytes, kind),
    }
}

/// `source` gives a reader of the workbook from its start (one per thread).
fn read_xlsx<R: Read + Seek>(path: &Path, source: impl Fn() -> R + Sync) -> Result<ReadBatch> {
    let file = path.display().to_string();
    let workbook = xlsx::open(path, source())?;
    let sheets = visible_names(workbook.sheets_metadata());
    drop(workbook);
    let (present, mut findings) = lay_out(&file, &sheets)?;
    let hidden = xlsx::hidden_rows(path, &source)?;
    // Each worker opens the workbook once (calamine reads the shared strings
    // as it opens it) and streams its share of the sheets.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, present.len().max(1));
    let shares = crate::parallel::map_indexed(workers, |worker| -> Result<Vec<_>> {
        let mut workbook = xlsx::open(path, source())?;
        let mut read = Vec::new();
        for i in (worker..present.len()).step_by(workers) {
            let (index, name) = &present[i];
            let mut reader = SheetReader::new(&file, *index, HEADER_ROW);
            xlsx::stream_sheet(&mut workbook, path, name, true, &mut reader)?;
            let no_hidden = Vec::new();
            let hidden = hidden.get(name).unwrap_or(&no_hidden);
            read.push((i, reader.finish(hidden)));
        }
        Ok(read)
    });
    let mut read = Vec::new();
    for share in shares {
        read.extend(share?);
    }
    read.sort_by_key(|(i, _)| *i);
    let mut batch = Batch::empty(file.clone());
    for ((index, _), (_, (data, mut sheet_findings))) in present.iter().zip(read) {
        batch.sheets[*index] = data;
        findings.append(&mut sheet_findings);
    }
    mark_absent(&mut batch, &present);
    Ok(ReadBatch { batch, findings })
}

fn read_xls(path: &Path, bytes: Vec<u8>, kind: FileKind) -> Result<ReadBatch> {
    let file = path.display().to_string();
    let shapes = xls::scan(path, &bytes)?;
    let mut workbook = sheet::open_xls(path, bytes, kind)?;
    let sheets = visible_names(workbook.sheets_metadata());
    let (present, mut findings) = lay_out(&file, &sheets)?;
    let mut batch = Batch::empty(file.clone());
    for (index, name) in &present {
        let range = sheet::xls_range(path, &mut workbook, name)?;
        let formulas = workbook.worksheet_formula(name).unwrap_or_default();
        let mut reader = SheetReader::new(&file, *index, HEADER_ROW);
        reader.xls_formulas = formulas
            .used_cells()
            .filter(|(_, _, f)| !f.is_empty())
            .map(|(r, c, f)| {
                let (r0, c0) = formulas.start().unwrap_or((0, 0));
                (r0 + r as u32 + 1, c0 as usize + c, format!("={f}"))
            })
            .collect();
        sheet::range_rows(&range, &mut reader)?;
        let hidden = shapes
            .iter()
            .find(|shape| &shape.name == name)
            .map(|shape| shape.hidden_rows.clone())
            .unwrap_or_default();
        let (data, mut sheet_findings) = reader.finish(&hidden);
        batch.sheets[*index] = data;
        findings.append(&mut sheet_findings);
    }
    mark_absent(&mut batch, &present);
    Ok(ReadBatch { batch, findings })
}

/// The sheets' names and whether each is visible, in workbook order.
fn visible_names(sheets: &[calamine::Sheet]) -> Vec<(String, bool)> {
    sheets
        .iter()
        .map(|s| (s.name.clone(), s.visible == SheetVisible::Visible))
        .collect()
}

fn mark_absent(batch: &mut Batch, present: &[(usize, String)]) {
    for index in 0..template().sheets.len() {
        if !present.iter().any(|(i, _)| *i == index) {
            batch.sheets[index] = SheetData {
                rows: Vec::new(),
                present: false,
                missing_columns: Vec::new(),
            };
        }
    }
}

/// Which sheet of the file holds each of LHDN's sheets there is: (template
/// sheet index, the file's sheet name).
type Present = Vec<(usize, String)>;

/// Which of the workbook's sheets hold which of LHDN's sheets, and what is
/// wrong with the workbook's sheets: missing, not LHDN's, named twice or
/// with spaces, out of LHDN's order. An error when it has no Documents
/// sheet at all: then it is not a batch-upload workbook.
fn lay_out(file: &str, sheets: &[(String, bool)]) -> Result<(Present, Vec<Finding>)> {
    let schemas = &template().sheets;
    let expected: Vec<&str> = schemas.iter().map(|s| s.name.as_str()).collect();
    let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
    let is = |name: &str, lhdn: &str| name.trim().eq_ignore_ascii_case(lhdn);
    if !names.iter().any(|n| is(n, "Documents")) {
        bail!(
            "{file}: not a batch-upload workbook: it has no Documents sheet (sheets found: {}); \
             expected LHDN's MyInvois batch-upload workbook with the sheets {}",
            names.join(", "),
            expected.join(", ")
        );
    }
    let mut findings = Vec::new();
    let mut present = Vec::new();
    for (index, schema) in schemas.iter().enumerate() {
        let lhdn = schema.name.as_str();
        let candidates: Vec<&str> = names.iter().copied().filter(|n| is(n, lhdn)).collect();
        // LHDN's own spelling wins; else the first that reads as it.
        let Some(chosen) = candidates
            .iter()
            .copied()
            .find(|n| *n == lhdn)
            .or_else(|| candidates.first().copied())
        else {
            findings.push(
                Finding::new(
                    &rules::STRUCTURE_MISSING_SHEET,
                    format!("sheet {lhdn} is missing"),
                )
                .hint("Start from LHDN's batch-upload template, which has all 11 sheets")
                .file(file)
                .sheet(lhdn),
            );
            continue;
        };
        if chosen != lhdn {
            findings.push(
                Finding::new(
                    &rules::STRUCTURE_SHEET_NAME,
                    format!("sheet {chosen:?} is LHDN's {lhdn} sheet under another spelling"),
                )
                .hint(format!(
                    "Rename the sheet to {lhdn}, exactly: the portal finds sheets by LHDN's names"
                ))
                .file(file)
                .sheet(chosen)
                .value(chosen),
            );
        }
        for other in candidates.iter().filter(|n| **n != chosen) {
            findings.push(
                Finding::new(
                    &rules::STRUCTURE_DUPLICATE_SHEET,
                    format!(
                        "sheet {other:?} reads as {lhdn}, which sheet {chosen:?} already is; \
                         selfbill checked {chosen:?} only"
                    ),
                )
                .hint(format!(
                    "Keep one {lhdn} sheet: delete or rename {other:?}, so that what you check is \
                     what the portal reads"
                ))
                .file(file)
                .sheet(*other)
                .value(*other),
            );
        }
        present.push((index, chosen.to_string()));
    }
    for (name, visible) in sheets {
        let known = expected.iter().any(|lhdn| is(name, lhdn))
            || CODE_SHEETS.iter().any(|code| is(name, code));
        if !known {
            findings.push(
                Finding::new(
                    &rules::STRUCTURE_UNEXPECTED_SHEET,
                    format!(
                        "sheet {name:?}{} is not one of LHDN's template sheets",
                        if *visible { "" } else { " (hidden)" }
                    ),
                )
                .hint(
                    "Delete the sheet, or keep it in another workbook: LHDN does not say \
                     whether its portal reads sheets by name or by position",
                )
                .file(file)
                .sheet(name)
                .value(name),
            );
        }
    }
    // The order of LHDN's sheets that are there, against either copy's.
    let order: Vec<&str> = names
        .iter()
        .filter_map(|n| expected.iter().copied().find(|lhdn| *n == *lhdn))
        .collect();
    let in_order = |lhdn_order: &[&str]| {
        let wanted: Vec<&str> = lhdn_order
            .iter()
            .copied()
            .filter(|n| order.contains(n))
            .collect();
        wanted == order
    };
    if !in_order(&expected) && !in_order(&OLDER_SHEET_ORDER) {
        findings.push(
            Finding::new(
                &rules::STRUCTURE_SHEET_ORDER,
                format!(
                    "the sheets are in the order {}, which is neither of LHDN's",
                    order.join(", ")
                ),
            )
            .hint(format!(
                "Put the sheets back in LHDN's order ({}): LHDN does not say whether its portal \
                 reads sheets by name or by position",
                expected.join(", ")
            ))
            .file(file),
        );
    }
    Ok((present, findings))
}

/// Turns a sheet's rows, as they stream by, into data rows in template order.
struct SheetReader<'a> {
    file: &'a str,
    index: usize,
    /// Row 4 in a workbook; row 1 in a CSV file.
    header_row: u32,
    /// For each template column, the file column holding it.
    positions: Option<Vec<Option<usize>>>,
    /// File column → template column, once the header is read.
    slots: Vec<Option<usize>>,
    /// File column → its header, for findings about cells.
    headers: HashMap<usize, String>,
    missing: Vec<usize>,
    /// Row 5, LHDN's sample, in template order.
    sample: Option<GridRow>,
    rows: Vec<DataRow>,
    findings: Vec<Finding>,
    formulas_seen: usize,
    /// Formulas of an .xls sheet: (row, file column, formula).
    xls_formulas: Vec<(u32, usize, String)>,
}

impl<'a> SheetReader<'a> {
    fn new(file: &'a str, index: usize, header_row: u32) -> Self {
        SheetReader {
            file,
            index,
            header_row,
            positions: None,
            slots: Vec::new(),
            headers: HashMap::new(),
            missing: Vec::new(),
            sample: None,
            rows: Vec::new(),
            findings: Vec::new(),
            formulas_seen: 0,
            xls_formulas: Vec::new(),
        }
    }

    fn is_workbook(&self) -> bool {
        self.header_row == HEADER_ROW
    }

    fn sheet_name(&self) -> &'static str {
        &template().sheets[self.index].name
    }

    fn map(&mut self, headers: &[(u32, String)]) {
        let (positions, missing) = map_headers(
            self.file,
            self.index,
            headers,
            self.header_row,
            &mut self.findings,
        );
        let positions: Vec<Option<usize>> = positions
            .into_iter()
            .map(|p| p.map(|c| c as usize))
            .collect();
        let last = positions.iter().flatten().max().map_or(0, |c| c + 1);
        self.slots = vec![None; last];
        for (slot, col) in positions.iter().enumerate() {
            if let Some(col) = col {
                self.slots[*col] = Some(slot);
            }
        }
        self.headers = headers
            .iter()
            .map(|(c, h)| (*c as usize, h.trim().to_string()))
            .collect();
        self.positions = Some(positions);
        self.missing = missing;
    }

    fn header(&mut self, row: &GridRow) {
        // In a workbook column A holds LHDN's row labels; headers start at B.
        let headers: Vec<(u32, String)> = row
            .cells
            .iter()
            .enumerate()
            .skip(usize::from(self.is_workbook()))
            .map(|(c, cell)| (c as u32, grid::cell_text(cell)))
            .filter(|(_, h)| !h.is_empty())
            .collect();
        self.map(&headers);
    }

    /// Where a file column's cell is reported: its header, else its letter.
    fn column_name(&self, col: usize) -> String {
        self.headers
            .get(&col)
            .cloned()
            .unwrap_or_else(|| column_letters(col))
    }

    fn formula(&mut self, row: u32, col: usize, formula: &str) {
        self.formulas_seen += 1;
        if self.formulas_seen > MAX_FINDINGS_PER_SHEET {
            return;
        }
        let column = self.column_name(col);
        self.findings.push(
            Finding::new(
                &rules::CELL_FORMULA,
                format!(
                    "{} is the formula {formula:?}; the portal takes the value Excel last saved, \
                     which is not necessarily what the formula gives",
                    grid::cell_reference(row, col)
                ),
            )
            .file(self.file)
            .sheet(self.sheet_name())
            .row(row)
            .column(column)
            .value(formula),
        );
    }

    fn finish(mut self, hidden: &[u32]) -> (SheetData, Vec<Finding>) {
        if self.positions.is_none() {
            self.map(&[]);
        }
        for (row, col, formula) in std::mem::take(&mut self.xls_formulas) {
            if row >= FIRST_DATA_ROW {
                self.formula(row, col, &formula);
            }
        }
        if self.formulas_seen > MAX_FINDINGS_PER_SHEET {
            self.findings.push(
                Finding::new(
                    &rules::CELL_FORMULA,
                    format!(
                        "and {} more formula cells in data rows",
                        self.formulas_seen - MAX_FINDINGS_PER_SHEET
                    ),
                )
                .file(self.file)
                .sheet(self.sheet_name()),
            );
        }
        self.check_sample();
        self.check_hidden(hidden);
        (
            SheetData {
                rows: self.rows,
                present: true,
                missing_columns: self.missing,
            },
            self.findings,
        )
    }

    /// Data rows that are hidden: the portal reads them, a person does not see them.
    fn check_hidden(&mut self, hidden: &[u32]) {
        let rows: Vec<u32> = self
            .rows
            .iter()
            .map(|r| r.row)
            .filter(|r| hidden.binary_search(r).is_ok())
            .collect();
        for &row in rows.iter().take(MAX_FINDINGS_PER_SHEET) {
            self.findings.push(
                Finding::new(
                    &rules::STRUCTURE_HIDDEN_ROW,
                    format!("row {row} has data and is hidden"),
                )
                .file(self.file)
                .sheet(self.sheet_name())
                .row(row),
            );
        }
        if rows.len() > MAX_FINDINGS_PER_SHEET {
            self.findings.push(
                Finding::new(
                    &rules::STRUCTURE_HIDDEN_ROW,
                    format!(
                        "and {} more hidden rows with data",
                        rows.len() - MAX_FINDINGS_PER_SHEET
                    ),
                )
                .file(self.file)
                .sheet(self.sheet_name()),
            );
        }
    }

    /// Row 5 holds LHDN's sample, which the portal skips: anything else typed
    /// there is not uploaded.
    fn check_sample(&mut self) {
        let Some(sample) = self.sample.take() else {
            return;
        };
        let schema = &template().sheets[self.index];
        let Some(lhdn) = schema.rows.get(4) else {
            return;
        };
        let positions = self.positions.clone().unwrap_or_default();
        let mut edited = Vec::new();
        for (index, cell) in sample.cells.iter().enumerate() {
            if grid::is_blank(cell) {
                continue;
            }
            let header = schema.headers.get(index).map_or("", |h| h.trim());
            let older = OLDER_SAMPLES
                .iter()
                .find(|(s, h, _)| *s == schema.name && *h == header)
                .map(|(_, _, v)| *v);
            // LHDN's sample under this header, or in this column of LHDN's
            // layout (a template with its headers moved keeps its sample).
            let by_header = lhdn.iter().find(|c| c.col as usize == index + 1);
            let by_place = positions
                .get(index)
                .copied()
                .flatten()
                .and_then(|col| lhdn.iter().find(|c| c.col as usize == col));
            let same = [by_header, by_place]
                .into_iter()
                .flatten()
                .any(|expected| is_sample(cell, expected, older));
            if !same {
                edited.push((header.to_string(), grid::cell_text(cell)));
            }
        }
        let Some((column, value)) = edited.first().cloned() else {
            return;
        };
        let more = match edited.len() {
            1 => String::new(),
            n => format!(" (and {} more cells)", n - 1),
        };
        self.findings.push(
            Finding::new(
                &rules::STRUCTURE_SAMPLE_ROW_EDITED,
                format!(
                    "row 5 is LHDN's sample row, but {column} holds {value:?}{more}; the portal \
                     does not upload row 5"
                ),
            )
            .hint(
                "Put the data from row 6 down and restore LHDN's sample in row 5 (copy it from \
                 LHDN's template)",
            )
            .file(self.file)
            .sheet(self.sheet_name())
            .row(5)
            .column(column)
            .value(value),
        );
    }
}

/// Whether a row-5 cell holds LHDN's sample value (or the older copy's).
fn is_sample(cell: &Data, expected: &TemplateCell, older: Option<&str>) -> bool {
    match expected.kind {
        TemplateCellKind::Formula => true,
        TemplateCellKind::Datetime | TemplateCellKind::Number => {
            let wanted = expected.value.parse::<f64>().ok();
            let got = match cell {
                Data::DateTime(d) => Some(d.as_f64()),
                Data::Float(f) => Some(*f),
                Data::Int(i) => Some(*i as f64),
                Data::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            matches!((wanted, got), (Some(w), Some(g)) if (w - g).abs() < 1e-6)
        }
        TemplateCellKind::Text => {
            let text = grid::cell_text(cell);
            text == expected.value.trim() || older == Some(text.as_str())
        }
    }
}

impl RowSink for SheetReader<'_> {
    fn slot(&self, col: usize) -> Option<usize> {
        match self.positions {
            // Until the header, every column: it is one of the first rows.
            None => Some(col),
            Some(_) => self.slots.get(col).copied().flatten(),
        }
    }

    fn row(&mut self, row: GridRow) -> Result<()> {
        if row.number <= self.header_row {
            if row.number == self.header_row {
                self.header(&row);
            }
            return Ok(());
        }
        if self.positions.is_none() {
            self.map(&[]);
        }
        // LHDN's row 5 is its sample; data starts on row 6.
        let first_data_row = if self.is_workbook() {
            FIRST_DATA_ROW
        } else {
            self.header_row + 1
        };
        if row.number < first_data_row {
            if row.number == first_data_row - 1 && self.is_workbook() {
                self.sample = Some(row);
            }
            return Ok(());
        }
        for (col, formula) in &row.formulas {
            self.formula(row.number, *col, formula);
        }
        let mut cells: Vec<Cell> = row.cells.into_iter().map(to_cell).collect();
        if cells.iter().all(Cell::is_empty) {
            return Ok(());
        }
        cells.resize(template().sheets[self.index].headers.len(), Cell::Empty);
        self.rows.push(DataRow {
            row: row.number,
            cells,
            origin: None,
        });
        Ok(())
    }
}

/// Maps a file's headers onto the template's columns: for each template
/// column, the file column holding it.
fn map_headers(
    file: &str,
    sheet_index: usize,
    headers: &[(u32, String)],
    header_row: u32,
    findings: &mut Vec<Finding>,
) -> (Vec<Option<u32>>, Vec<usize>) {
    let schema = &template().sheets[sheet_index];
    let mut positions = Vec::with_capacity(schema.headers.len());
    let mut missing = Vec::new();
    for (index, header) in schema.headers.iter().enumerate() {
        let found: Vec<u32> = headers
            .iter()
            .filter(|(_, h)| h.trim() == header.trim())
            .map(|(c, _)| *c)
            .collect();
        if let [first, others @ ..] = found.as_slice() {
            for other in others {
                findings.push(
                    Finding::new(
                        &rules::STRUCTURE_DUPLICATE_HEADER,
                        format!(
                            "{} is the header of columns {} and {}; selfbill checked column {} \
                             only, and the portal may read either",
                            header.trim(),
                            column_letters(*first as usize),
                            column_letters(*other as usize),
                            column_letters(*first as usize),
                        ),
                    )
                    .file(file)
                    .sheet(&schema.name)
                    .row(header_row)
                    .column(header.trim())
                    .value(column_letters(*other as usize)),
                );
            }
        }
        let found = found.first().copied();
        if found.is_none() {
            missing.push(index);
            if ADDED_IN_NEWER_TEMPLATE.contains(&(schema.name.as_str(), header.as_str())) {
                positions.push(found);
                continue;
            }
            findings.push(
                Finding::new(
                    crate::check::missing_header_rule(schema, index),
                    format!(
                        "sheet {} has no column {:?} in row {header_row}",
                        schema.name,
                        header.trim()
                    ),
                )
                .hint("Restore LHDN's header; the portal matches columns by these names")
                .file(file)
                .sheet(&schema.name)
                .row(header_row)
                .column(header.trim()),
            );
        }
        positions.push(found);
    }
    for (_, header) in headers {
        if !header.trim().is_empty() && schema.column(header).is_none() {
            findings.push(
                Finding::new(
                    &rules::STRUCTURE_UNKNOWN_HEADER,
                    format!(
                        "sheet {} has a column {:?} that LHDN's template does not have",
                        schema.name, header
                    ),
                )
                .hint("Remove the column, or correct its header to LHDN's spelling")
                .file(file)
                .sheet(&schema.name)
                .row(header_row)
                .column(header.trim()),
            );
        }
    }
    (positions, missing)
}

fn to_cell(data: Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::text(s),
        // A number no order could hold stays text, for the rules to name.
        Data::Float(f) => money::from_cell_number(f)
            .map(Cell::Number)
            .unwrap_or_else(|| Cell::text(f.to_string())),
        Data::Int(i) => money::from_cell_number(i as f64)
            .map(Cell::Number)
            .unwrap_or_else(|| Cell::text(i.to_string())),
        Data::DateTime(d) => grid::excel_datetime(&d)
            .map(Cell::DateTime)
            .unwrap_or_else(|| Cell::text(d.as_f64().to_string())),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::text(s),
        Data::Bool(b) => Cell::text(b.to_string()),
        Data::Error(e) => Cell::text(format!("#{e:?}")),
    }
}

/// A folder with one `<Sheet>.csv` per sheet that has data (header on line 1).
fn read_csv_folder(dir: &Path) -> Result<ReadBatch> {
    let folder = dir.display().to_string();
    if !dir.join("Documents.csv").is_file() {
        bail!(
            "{folder}: not a batch-upload CSV folder: no Documents.csv; expected the files \
             `selfbill convert --format csv` writes (Documents.csv, DocumentLineItems.csv, …)"
        );
    }
    let mut batch = Batch::empty(folder.clone());
    let mut findings = Vec::new();
    for (index, schema) in template().sheets.iter().enumerate() {
        let path = dir.join(format!("{}.csv", schema.name));
        if !path.exists() {
            continue;
        }
        let file = path.display().to_string();
        let bytes = file::read_input(&path, "sheet CSV", MAX_SPREADSHEET_BYTES)?;
        let mut reader = SheetReader::new(&file, index, 1);
        sheet::csv_rows(&path, &bytes, None, &mut RestoreText(&mut reader))?;
        let (data, mut sheet_findings) = reader.finish(&[]);
        batch.sheets[index] = data;
        findings.append(&mut sheet_findings);
    }
    Ok(ReadBatch { batch, findings })
}

/// Hands rows on with text that selfbill wrote as `'=…` against CSV
/// injection ([`crate::csv_safe`]) restored to what it was.
struct RestoreText<'a, S: RowSink>(&'a mut S);

impl<S: RowSink> RowSink for RestoreText<'_, S> {
    fn slot(&self, col: usize) -> Option<usize> {
        self.0.slot(col)
    }

    fn row(&mut self, mut row: GridRow) -> Result<()> {
        for cell in &mut row.cells {
            if let Data::String(text) = cell {
                let original = crate::csv_safe::restore(text);
                if original.len() != text.len() {
                    *text = original.to_string();
                }
            }
        }
        self.0.row(row)
    }
}
