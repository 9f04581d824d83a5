//! Opening a spreadsheet's sheet (xlsx, xls or CSV) as rows: the first
//! sheet of an export, kept to the columns its reader plans for once the
//! header is among the first rows; and the rows of CSV files and .xls
//! sheets, for any reader.

use anyhow::{Context, Result, bail};
use calamine::{Data, Range, Reader, Xls, open_workbook_auto_from_rs};
use std::io::Cursor;
use std::path::Path;

use super::file::{self, FileKind, MAX_COLUMNS, MAX_ROWS};
use super::grid::{Grid, GridRow, RowSink, is_blank};
use super::text::{self, TextEncoding};
use super::{xls, xlsx};

/// The columns a reader keeps of a sheet, decided from its first rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    /// The file column (0 = A) each slot takes, if any.
    pub columns: Vec<Option<usize>>,
    /// The header's width: a CSV row with a cell past it was not saved as
    /// one table (see [`Grid::ragged`]).
    pub width: usize,
}

/// Decides, from the first rows of a sheet, which columns to keep
/// (`Some`), or not yet (`None`); an error stops the reading. It is told
/// where the rows are from ("file, sheet S", or the file for CSV).
pub type ColumnPlanner<'a> = &'a dyn Fn(&str, &[GridRow]) -> Result<Option<ColumnPlan>>;

/// Opens the first sheet of a workbook, or a CSV file, as a grid. Once
/// `planner` has planned from the first rows, only the planned columns are
/// kept, in the plan's order: a month of 1688 orders has 49 columns, of
/// which selfbill reads 15.
pub fn open_first_sheet(
    path: &Path,
    planner: ColumnPlanner<'_>,
    encoding: Option<TextEncoding>,
) -> Result<Grid> {
    let (bytes, kind) = file::read_spreadsheet(path)?;
    let shown = path.display().to_string();
    let no_sheets =
        || anyhow::anyhow!("{shown}: the workbook has no sheets; export the orders again");
    let (sheet, rows) = match kind {
        FileKind::Csv => {
            let mut rows = Collector::new(planner, shown.clone());
            csv_rows(path, &bytes, encoding, &mut rows)?;
            (None, rows)
        }
        FileKind::Xlsx => {
            let mut workbook = xlsx::open(path, &bytes)?;
            let name = workbook
                .sheet_names()
                .first()
                .cloned()
                .ok_or_else(no_sheets)?;
            let mut rows = Collector::new(planner, format!("{shown}, sheet {name}"));
            xlsx::stream_sheet(&mut workbook, path, &name, false, &mut rows)?;
            (Some(name), rows)
        }
        FileKind::Xls | FileKind::EncryptedOoxml => {
            let mut workbook = open_xls(path, bytes, kind)?;
            let name = workbook
                .sheet_names()
                .first()
                .cloned()
                .ok_or_else(no_sheets)?;
            let range = xls_range(path, &mut workbook, &name)?;
            drop(workbook);
            let mut rows = Collector::new(planner, format!("{shown}, sheet {name}"));
            range_rows(&range, &mut rows)?;
            (Some(name), rows)
        }
    };
    Ok(Grid {
        file: shown,
        sheet,
        rows: rows.rows,
        ragged: rows.ragged,
    })
}

/// Rows as a planner wants them: every column until the plan, then the
/// planned ones in their slots.
struct Collector<'a> {
    planner: ColumnPlanner<'a>,
    where_: String,
    plan: Option<ColumnPlan>,
    /// File column → slot, once planned.
    slots: Vec<Option<usize>>,
    rows: Vec<GridRow>,
    /// Rows with a cell past the header's width, before it was dropped.
    ragged: Vec<u32>,
}

impl<'a> Collector<'a> {
    fn new(planner: ColumnPlanner<'a>, where_: String) -> Self {
        Collector {
            planner,
            where_,
            plan: None,
            slots: Vec::new(),
            rows: Vec::new(),
            ragged: Vec::new(),
        }
    }

    fn compact(&self, row: &mut GridRow) {
        let Some(plan) = &self.plan else {
            return;
        };
        let cells = plan
            .columns
            .iter()
            .map(|c| {
                c.and_then(|c| row.cells.get_mut(c))
                    .map(std::mem::take)
                    .unwrap_or_default()
            })
            .collect();
        row.cells = cells;
    }
}

impl RowSink for Collector<'_> {
    fn slot(&self, col: usize) -> Option<usize> {
        match &self.plan {
            None => Some(col),
            Some(_) => self.slots.get(col).copied().flatten(),
        }
    }

    fn row(&mut self, row: GridRow) -> Result<()> {
        if let Some(plan) = &self.plan {
            if row.width > plan.width {
                self.ragged.push(row.number);
            }
            self.rows.push(row);
            return Ok(());
        }
        self.rows.push(row);
        if let Some(plan) = (self.planner)(&self.where_, &self.rows)? {
            self.ragged.extend(
                self.rows
                    .iter()
                    .filter(|row| row.width > plan.width)
                    .map(|row| row.number),
            );
            let last = plan.columns.iter().flatten().max().map_or(0, |c| c + 1);
            self.slots = vec![None; last];
            for (slot, col) in plan.columns.iter().enumerate() {
                if let Some(col) = col {
                    self.slots[*col] = Some(slot);
                }
            }
            self.plan = Some(plan);
            let mut rows = std::mem::take(&mut self.rows);
            for row in &mut rows {
                self.compact(row);
            }
            self.rows = rows;
        }
        Ok(())
    }
}

/// Opens an .xls workbook, once its records have been scanned (see
/// [`xls::scan`]), or explains why an OLE file cannot be read.
pub fn open_xls(path: &Path, bytes: Vec<u8>, kind: FileKind) -> Result<Xls<Cursor<Vec<u8>>>> {
    let shown = path.display();
    if kind == FileKind::EncryptedOoxml {
        bail!(
            "{shown}: the workbook is password-protected; open it in Excel, remove the password \
             (File → Info → Protect Workbook) and save it again"
        );
    }
    xls::scan(path, &bytes)?;
    // calamine's BIFF parser is not hardened against every damaged file;
    // a panic in it is a file that cannot be read.
    let opened = std::panic::catch_unwind(move || open_workbook_auto_from_rs(Cursor::new(bytes)));
    match opened {
        Ok(Ok(calamine::Sheets::Xls(workbook))) => Ok(workbook),
        _ => bail!(
            "{shown}: not a readable xls workbook (truncated or damaged?); download or save it again"
        ),
    }
}

/// A sheet of an .xls workbook.
pub fn xls_range(
    path: &Path,
    workbook: &mut Xls<Cursor<Vec<u8>>>,
    name: &str,
) -> Result<Range<Data>> {
    workbook.worksheet_range(name).with_context(|| {
        format!(
            "{}, sheet {name}: cannot be read (damaged workbook?); save it again from Excel",
            path.display()
        )
    })
}

/// Hands the rows of a range to `sink`, blank rows left out.
pub fn range_rows(range: &Range<Data>, sink: &mut dyn RowSink) -> Result<()> {
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    for (index, cells) in range.rows().enumerate() {
        let row = grid_row(
            sink,
            first_row + index as u32 + 1,
            cells
                .iter()
                .enumerate()
                .map(|(c, cell)| (first_col as usize + c, cell.clone())),
        );
        if let Some(row) = row {
            sink.row(row)?;
        }
    }
    Ok(())
}

/// The row of the cells `sink` keeps, or `None` when it keeps none.
fn grid_row(
    sink: &dyn RowSink,
    number: u32,
    cells: impl Iterator<Item = (usize, Data)>,
) -> Option<GridRow> {
    let mut row = GridRow {
        number,
        ..GridRow::default()
    };
    for (col, cell) in cells {
        if is_blank(&cell) {
            continue;
        }
        row.width = col + 1;
        let Some(slot) = sink.slot(col) else {
            continue;
        };
        if row.cells.len() <= slot {
            row.cells.resize(slot + 1, Data::Empty);
        }
        row.cells[slot] = cell;
    }
    (!row.cells.is_empty()).then_some(row)
}

/// Hands the records of a CSV file to `sink` as rows of text cells, each
/// numbered by the line it starts on, as a text editor shows it. The
/// encoding is detected (UTF-8 with or without BOM, else GB18030, which
/// Excel on Chinese Windows writes for "CSV") unless given.
pub fn csv_rows(
    path: &Path,
    bytes: &[u8],
    encoding: Option<TextEncoding>,
    sink: &mut dyn RowSink,
) -> Result<()> {
    let shown = path.display();
    let text = match encoding {
        None => text::decode_text(bytes),
        Some(encoding) => text::decode_as(bytes, encoding)
            .with_context(|| format!("{shown}: not UTF-8 text; try --encoding gb18030"))?,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut lines = Lines {
        text: text.as_bytes(),
        at: 0,
        line: 1,
    };
    loop {
        let more = reader.read_record(&mut record).with_context(|| {
            format!(
                "{shown}, line {}: not readable as CSV; save it again from Excel as CSV UTF-8",
                reader.position().line()
            )
        })?;
        if !more {
            break;
        }
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let line = lines.line_of(start);
        if line > MAX_ROWS {
            bail!(
                "{shown}: more than {MAX_ROWS} lines, the most a spreadsheet holds; split the \
                 export by date range"
            );
        }
        if record.len() > MAX_COLUMNS {
            bail!(
                "{shown}, line {line}: {} cells, more than the {MAX_COLUMNS} columns a \
                 spreadsheet holds; the file is not a table: export it again",
                record.len()
            );
        }
        let cells = record
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(c, v)| (c, Data::String(v.to_owned())));
        if let Some(row) = grid_row(sink, line, cells) {
            sink.row(row)?;
        }
    }
    Ok(())
}

/// Line numbers as a text editor shows them: `\r\n`, `\r` and `\n` each end
/// a line. (The csv crate counts `\n` only, and counts a record that follows
/// `\r\n` from the line before.)
struct Lines<'t> {
    text: &'t [u8],
    /// Counted up to here.
    at: usize,
    line: u32,
}

impl Lines<'_> {
    /// The line a record starting at byte `start` (or at the line break
    /// before it) begins on. Starts never decrease.
    fn line_of(&mut self, mut start: usize) -> u32 {
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        while self.at < start {
            match memchr::memchr2(b'\r', b'\n', &self.text[self.at..start]) {
                None => self.at = start,
                Some(i) => {
                    let at = self.at + i;
                    self.line = self.line.saturating_add(1);
                    self.at = if self.text[at] == b'\r' && self.text.get(at + 1) == Some(&b'\n') {
                        at + 2
                    } else {
                        at + 1
                    };
                }
            }
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_as_a_text_editor_does() {
        for text in ["a\nb\n\nc\n", "a\r\nb\r\n\r\nc\r\n", "a\rb\r\rc\r"] {
            let mut lines = Lines {
                text: text.as_bytes(),
                at: 0,
                line: 1,
            };
            let starts: Vec<usize> = ["a", "b", "c"]
                .iter()
                .map(|s| text.find(s).unwrap())
                .collect();
            let numbers: Vec<u32> = starts.iter().map(|s| lines.line_of(*s)).collect();
            assert_eq!(numbers, [1, 2, 4], "{text:?}");
        }
    }
}
