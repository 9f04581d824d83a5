//! Reading a batch-upload workbook in LHDN's layout (or a folder of the CSVs
//! `convert --format csv` writes) into a batch: sheets by name, columns by
//! their row-4 header (trimmed), data from row 6, LHDN's row-5 sample and
//! blank rows skipped.

use anyhow::{Result, bail};
use calamine::{Data, Reader};
use std::path::Path;

use super::sheet::{self, FileKind};
use crate::batch::{
    ADDED_IN_NEWER_TEMPLATE, Batch, Cell, DataRow, FIRST_DATA_ROW, HEADER_ROW, SheetData, template,
};
use crate::finding::Finding;
use crate::money;
use crate::rules;

/// A batch read from a file, with the structure findings (missing sheets and
/// headers, unknown headers).
pub struct ReadBatch {
    pub batch: Batch,
    pub findings: Vec<Finding>,
}

pub fn read_batch(path: &Path) -> Result<ReadBatch> {
    if path.is_dir() {
        return read_csv_folder(path);
    }
    let file = path.display().to_string();
    let (mut bytes, kind) = sheet::read_file(path)?;
    if kind == FileKind::Csv {
        bail!(
            "{file}: is a single CSV file; check reads LHDN's batch-upload workbook (.xlsx) or a \
             folder of per-sheet CSV files (Documents.csv, DocumentLineItems.csv, …)"
        );
    }
    // The workbook is opened once: the scanner's shared parts for xlsx
    // (shared strings, formats), calamine's workbook for xls.
    let scanner = match kind {
        FileKind::Xlsx => super::xlsx::Workbook::open(&bytes).ok(),
        _ => None,
    };
    let mut old_workbook = match kind {
        FileKind::Xlsx => None,
        _ => Some(sheet::open_workbook(
            path,
            std::mem::take(&mut bytes),
            kind,
        )?),
    };
    let names = match &old_workbook {
        Some(workbook) => workbook.sheet_names().to_vec(),
        None => sheet::xlsx_sheet_names(path, &bytes, scanner.as_ref())?,
    };
    let expected: Vec<&str> = template().sheets.iter().map(|s| s.name.as_str()).collect();
    if !names.iter().any(|n| n == "Documents") {
        bail!(
            "{file}: not a batch-upload workbook: it has no Documents sheet (sheets found: {}); \
             expected LHDN's MyInvois batch-upload workbook with the sheets {}",
            names.join(", "),
            expected.join(", ")
        );
    }
    let mut batch = Batch::empty(file.clone());
    let mut findings = Vec::new();
    // Template sheet index → the file's sheet name.
    let mut present = Vec::new();
    for (index, schema) in template().sheets.iter().enumerate() {
        match names.iter().find(|n| n.trim() == schema.name) {
            Some(name) => present.push((index, name.clone())),
            None => {
                findings.push(missing_sheet(&file, &schema.name));
                batch.sheets[index] = absent();
            }
        }
    }
    let read = match old_workbook.as_mut() {
        None => read_xlsx_sheets(path, &bytes, scanner.as_ref(), &present)?,
        Some(workbook) => {
            let mut read = Vec::new();
            for (index, name) in &present {
                let range = sheet::sheet_range(path, workbook, name)?;
                let grid = sheet::Grid::from_range(file.clone(), Some(name.clone()), &range);
                let mut reader = SheetReader::new(&file, *index, HEADER_ROW);
                for row in grid.rows {
                    reader.row(row);
                }
                read.push(reader.finish());
            }
            read
        }
    };
    for ((index, _), (data, mut sheet_findings)) in present.iter().zip(read) {
        batch.sheets[*index] = data;
        findings.append(&mut sheet_findings);
    }
    Ok(ReadBatch { batch, findings })
}

/// Streams the sheets of an xlsx workbook, several at once.
fn read_xlsx_sheets(
    path: &Path,
    bytes: &[u8],
    scanner: Option<&super::xlsx::Workbook>,
    present: &[(usize, String)],
) -> Result<Vec<(SheetData, Vec<Finding>)>> {
    let file = path.display().to_string();
    crate::parallel::map_indexed(present.len(), |i| {
        let (index, name) = &present[i];
        sheet::with_fallback(scanner, |engine| {
            let mut reader = SheetReader::new(&file, *index, HEADER_ROW);
            sheet::for_each_xlsx_row(engine, path, bytes, Some(name), &|_| true, &mut |row| {
                reader.row(row);
                Ok(())
            })?;
            Ok(reader.finish())
        })
    })
    .into_iter()
    .collect()
}

/// Turns a sheet's rows, as they stream by, into data rows in template order.
struct SheetReader<'a> {
    file: &'a str,
    index: usize,
    /// Row 4 in a workbook; row 1 in a CSV file.
    header_row: u32,
    /// For each template column, the file column holding it.
    positions: Option<Vec<Option<usize>>>,
    missing: Vec<usize>,
    rows: Vec<DataRow>,
    findings: Vec<Finding>,
}

impl<'a> SheetReader<'a> {
    fn new(file: &'a str, index: usize, header_row: u32) -> Self {
        SheetReader {
            file,
            index,
            header_row,
            positions: None,
            missing: Vec::new(),
            rows: Vec::new(),
            findings: Vec::new(),
        }
    }

    fn map(&mut self, headers: &[(u32, String)]) {
        let (positions, missing) = map_headers(
            self.file,
            self.index,
            headers,
            self.header_row,
            &mut self.findings,
        );
        self.positions = Some(
            positions
                .into_iter()
                .map(|p| p.map(|c| c as usize))
                .collect(),
        );
        self.missing = missing;
    }

    fn row(&mut self, row: sheet::GridRow) {
        let workbook = self.header_row == HEADER_ROW;
        if row.number == self.header_row {
            // In a workbook column A holds LHDN's row labels; headers start at B.
            let headers: Vec<(u32, String)> = row
                .cells
                .iter()
                .enumerate()
                .skip(usize::from(workbook))
                .map(|(c, cell)| (c as u32, sheet::cell_text(cell)))
                .filter(|(_, h)| !h.is_empty())
                .collect();
            self.map(&headers);
            return;
        }
        // LHDN's row 5 is its sample; data starts on row 6.
        let first_data_row = if workbook {
            FIRST_DATA_ROW
        } else {
            self.header_row + 1
        };
        if row.number < first_data_row {
            return;
        }
        if self.positions.is_none() {
            self.map(&[]);
        }
        let positions = self.positions.as_deref().unwrap_or_default();
        let mut row = row;
        let cells: Vec<Cell> = positions
            .iter()
            .map(|p| {
                p.and_then(|c| row.cells.get_mut(c))
                    .map(|data| to_cell(std::mem::take(data)))
                    .unwrap_or_default()
            })
            .collect();
        if cells.iter().all(Cell::is_empty) {
            return;
        }
        self.rows.push(DataRow {
            row: row.number,
            cells,
            origin: None,
        });
    }

    fn finish(mut self) -> (SheetData, Vec<Finding>) {
        if self.positions.is_none() {
            self.map(&[]);
        }
        (
            SheetData {
                rows: self.rows,
                present: true,
                missing_columns: self.missing,
            },
            self.findings,
        )
    }
}

fn absent() -> SheetData {
    SheetData {
        rows: Vec::new(),
        present: false,
        missing_columns: Vec::new(),
    }
}

fn missing_sheet(file: &str, name: &str) -> Finding {
    Finding::new(
        &rules::STRUCTURE_MISSING_SHEET,
        format!("sheet {name} is missing"),
    )
    .hint("Start from LHDN's batch-upload template, which has all 11 sheets")
    .file(file)
    .sheet(name)
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
        let found = headers
            .iter()
            .find(|(_, h)| h.trim() == header.trim())
            .map(|(c, _)| *c);
        if found.is_none() {
            missing.push(index);
            if ADDED_IN_NEWER_TEMPLATE.contains(&(schema.name.as_str(), header.as_str())) {
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
        Data::DateTime(d) => sheet::excel_datetime(&d)
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
    if !dir.join("Documents.csv").exists() {
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
        let bytes = std::fs::read(&path)?;
        let grid = sheet::csv_grid(&path, &bytes, None)?;
        let mut reader = SheetReader::new(&file, index, 1);
        for row in grid.rows {
            reader.row(row);
        }
        let (data, mut sheet_findings) = reader.finish();
        batch.sheets[index] = data;
        findings.append(&mut sheet_findings);
    }
    Ok(ReadBatch { batch, findings })
}
