//! Reading a batch-upload workbook in LHDN's layout (or a folder of the CSVs
//! `convert --format csv` writes) into a batch: sheets by name, columns by
//! their row-4 header (trimmed), data from row 6, LHDN's row-5 sample and
//! blank rows skipped.

use anyhow::{Result, bail};
use calamine::{Data, Range, Reader};
use std::path::Path;

use super::sheet::{self, FileKind};
use crate::batch::{Batch, Cell, DataRow, FIRST_DATA_ROW, HEADER_ROW, SheetData, template};
use crate::finding::Finding;
use crate::money;

/// Columns LHDN added in the newer template; a workbook made from the older
/// copy lacks them and is still LHDN's layout.
const ADDED_IN_NEWER_TEMPLATE: [(&str, &str); 1] = [("LineItemsTaxes", "TaxableAmount")];

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
    let (bytes, kind) = sheet::read_file(path)?;
    if kind == FileKind::Csv {
        bail!(
            "{file}: is a single CSV file; check reads LHDN's batch-upload workbook (.xlsx) or a \
             folder of per-sheet CSV files (Documents.csv, DocumentLineItems.csv, …)"
        );
    }
    let mut workbook = sheet::open_workbook(path, bytes, kind)?;
    let names = workbook.sheet_names().to_vec();
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
    for (index, schema) in template().sheets.iter().enumerate() {
        let Some(name) = names.iter().find(|n| n.trim() == schema.name) else {
            findings.push(missing_sheet(&file, &schema.name));
            batch.sheets[index] = absent();
            continue;
        };
        let range = sheet::sheet_range(path, &mut workbook, name)?;
        batch.sheets[index] = read_sheet(&file, index, &range, &mut findings);
    }
    Ok(ReadBatch { batch, findings })
}

fn absent() -> SheetData {
    SheetData {
        rows: Vec::new(),
        present: false,
        missing_columns: Vec::new(),
    }
}

fn missing_sheet(file: &str, name: &str) -> Finding {
    Finding::error(
        "structure.missing-sheet",
        format!("{file}: sheet {name} is missing"),
        "Start from LHDN's batch-upload template, which has all 11 sheets",
    )
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
                Finding::error(
                    "structure.missing-header",
                    format!(
                        "{file}: sheet {} has no column {:?} in row {header_row}",
                        schema.name,
                        header.trim()
                    ),
                    "Restore LHDN's header; the portal matches columns by these names",
                )
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
                Finding::warning(
                    "structure.unknown-header",
                    format!(
                        "{file}: sheet {} has a column {:?} that LHDN's template does not have",
                        schema.name, header
                    ),
                    "Remove the column, or correct its header to LHDN's spelling",
                )
                .file(file)
                .sheet(&schema.name)
                .row(header_row)
                .column(header.trim()),
            );
        }
    }
    (positions, missing)
}

fn read_sheet(
    file: &str,
    index: usize,
    range: &Range<Data>,
    findings: &mut Vec<Finding>,
) -> SheetData {
    let Some((_, (end_row, end_col))) = range.start().zip(range.end()) else {
        let schema = &template().sheets[index];
        let (_, missing) = map_headers(file, index, &[], HEADER_ROW, findings);
        let _ = schema;
        return SheetData {
            rows: Vec::new(),
            present: true,
            missing_columns: missing,
        };
    };
    let header_row = HEADER_ROW - 1;
    // Column A holds LHDN's row labels; headers start at B.
    let headers: Vec<(u32, String)> = (1..=end_col)
        .map(|c| {
            (
                c,
                range
                    .get_value((header_row, c))
                    .map(sheet::cell_text)
                    .unwrap_or_default(),
            )
        })
        .filter(|(_, h)| !h.is_empty())
        .collect();
    let (positions, missing) = map_headers(file, index, &headers, HEADER_ROW, findings);
    let mut rows = Vec::new();
    for r in (FIRST_DATA_ROW - 1)..=end_row {
        let cells: Vec<Cell> = positions
            .iter()
            .map(|p| {
                p.and_then(|c| range.get_value((r, c)))
                    .map(to_cell)
                    .unwrap_or_default()
            })
            .collect();
        if cells.iter().all(Cell::is_empty) {
            continue;
        }
        rows.push(DataRow {
            row: r + 1,
            cells,
            origin: None,
        });
    }
    SheetData {
        rows,
        present: true,
        missing_columns: missing,
    }
}

fn to_cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::text(s.clone()),
        Data::Float(f) => money::from_cell_number(*f)
            .map(Cell::Number)
            .unwrap_or_default(),
        Data::Int(i) => Cell::Number((*i).into()),
        Data::DateTime(d) => d
            .as_datetime()
            .map(Cell::DateTime)
            .unwrap_or_else(|| Cell::text(d.as_f64().to_string())),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::text(s.clone()),
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
        let range = sheet::csv_range(&path, &bytes)?;
        let width = range.end().map(|(_, c)| c).unwrap_or(0);
        let headers: Vec<(u32, String)> = (0..=width)
            .map(|c| {
                (
                    c,
                    range
                        .get_value((0, c))
                        .map(sheet::cell_text)
                        .unwrap_or_default(),
                )
            })
            .filter(|(_, h)| !h.is_empty())
            .collect();
        let (positions, missing) = map_headers(&file, index, &headers, 1, &mut findings);
        let end = range.end().map(|(r, _)| r).unwrap_or(0);
        let mut rows = Vec::new();
        for r in 1..=end {
            let cells: Vec<Cell> = positions
                .iter()
                .map(|p| {
                    p.and_then(|c| range.get_value((r, c)))
                        .map(to_cell)
                        .unwrap_or_default()
                })
                .collect();
            if cells.iter().all(Cell::is_empty) {
                continue;
            }
            rows.push(DataRow {
                row: r + 1,
                cells,
                origin: None,
            });
        }
        batch.sheets[index] = SheetData {
            rows,
            present: true,
            missing_columns: missing,
        };
    }
    Ok(ReadBatch { batch, findings })
}
