//! Opening a spreadsheet's sheet (xlsx, xls or CSV) as rows: the first
//! sheet of an export, kept to the columns its reader plans for once the
//! header is among the first rows; and the rows of CSV files and .xls
//! sheets, for any reader.

use anyhow::{Context, Result, bail};
use calamine::{Data, Range, Reader, Xls, open_workbook_auto_from_rs};
use std::io::Cursor;
use std::path::Path;

use super::file::{self, FileKind, MAX_CELL_CHARS, MAX_COLUMNS, MAX_ROWS, Spreadsheet};
use super::grid::{self, Grid, GridRow, RowSink, is_blank};
use super::text::{self, TextEncoding};
use super::{sheet_xml, xls};
use crate::model::Location;

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
    guarded_read(path, planner, encoding, None).map_err(ReadError::into_error)
}

/// Why reading a sheet into a row handler stopped.
pub enum ReadError {
    /// The file or sheet could not be read.
    Sheet(anyhow::Error),
    /// The row handler stopped the reading; the grid holds what was read
    /// of the sheet's shape (the rows before the plan, ragged rows).
    Rows { grid: Grid, error: anyhow::Error },
}

impl ReadError {
    fn into_error(self) -> anyhow::Error {
        match self {
            ReadError::Sheet(error) | ReadError::Rows { error, .. } => error,
        }
    }
}

/// A handler of planned rows, told the file and sheet they are from.
pub type RowHandler<'h> = &'h mut dyn FnMut(&Location, GridRow) -> Result<()>;

/// As [`open_first_sheet`], but every row from the plan on (the rows before
/// it too, once planned) goes to `rows` as it is read, and the grid keeps
/// only the rows read before the plan: a sheet of any length is read in
/// little memory.
pub fn read_first_sheet(
    path: &Path,
    planner: ColumnPlanner<'_>,
    encoding: Option<TextEncoding>,
    rows: RowHandler<'_>,
) -> Result<Grid, ReadError> {
    guarded_read(path, planner, encoding, Some(rows))
}

/// [`read_sheet`] under [`super::guard`]: a panic in a reader is a damaged file.
fn guarded_read(
    path: &Path,
    planner: ColumnPlanner<'_>,
    encoding: Option<TextEncoding>,
    handler: Option<RowHandler<'_>>,
) -> Result<Grid, ReadError> {
    super::guard(path, || Ok(read_sheet(path, planner, encoding, handler)))
        .unwrap_or_else(|error| Err(ReadError::Sheet(error)))
}

fn read_sheet(
    path: &Path,
    planner: ColumnPlanner<'_>,
    encoding: Option<TextEncoding>,
    handler: Option<RowHandler<'_>>,
) -> Result<Grid, ReadError> {
    let input = file::open_spreadsheet(path).map_err(ReadError::Sheet)?;
    let shown = path.display().to_string();
    let no_sheets = || {
        ReadError::Sheet(anyhow::anyhow!(
            "{shown}: the workbook has no sheets; export the orders again"
        ))
    };
    let place = |sheet: Option<String>| Location::new(shown.clone(), sheet, None);
    let mut rows;
    let read = match input {
        Spreadsheet::Read(bytes, FileKind::Csv) => {
            rows = Collector::new(planner, place(None), handler);
            csv_rows(path, &bytes, encoding, &mut rows)
        }
        Spreadsheet::Xlsx(opened) => {
            let source = opened.reader();
            // What a file that changed while it was read made is not said:
            // that it changed is.
            let changed = |error| match opened.unchanged() {
                Ok(()) => error,
                Err(changed) => changed,
            };
            let mut workbook =
                sheet_xml::open(path, source).map_err(|e| ReadError::Sheet(changed(e)))?;
            let name = workbook
                .sheet_names()
                .first()
                .cloned()
                .ok_or_else(no_sheets)?;
            rows = Collector::new(planner, place(Some(name.clone())), handler);
            let read = workbook.stream_sheet(path, &name, &mut rows);
            drop(workbook);
            if let Err(error) = opened.unchanged() {
                return Err(ReadError::Sheet(error));
            }
            read
        }
        Spreadsheet::Read(bytes, kind) => {
            let mut workbook = open_xls(path, bytes, kind).map_err(ReadError::Sheet)?;
            let name = workbook
                .sheet_names()
                .first()
                .cloned()
                .ok_or_else(no_sheets)?;
            let range = xls_range(path, &mut workbook, &name).map_err(ReadError::Sheet)?;
            drop(workbook);
            rows = Collector::new(planner, place(Some(name)), handler);
            range_rows(&range, &mut rows)
        }
    };
    let stopped = rows.stopped.take();
    let grid = Grid {
        file: shown,
        sheet: rows.place.sheet,
        rows: rows.rows,
        ragged: rows.ragged,
    };
    match (read, stopped) {
        (_, Some(error)) => Err(ReadError::Rows { grid, error }),
        (Err(error), None) => Err(ReadError::Sheet(error)),
        (Ok(()), None) => Ok(grid),
    }
}

/// Rows as a planner wants them: every column until the plan, then the
/// planned ones in their slots, kept or handed to a handler.
struct Collector<'a, 'h> {
    planner: ColumnPlanner<'a>,
    place: Location,
    where_: String,
    plan: Option<ColumnPlan>,
    /// File column → slot, once planned.
    slots: Vec<Option<usize>>,
    rows: Vec<GridRow>,
    /// Where planned rows go, instead of `rows`.
    handler: Option<RowHandler<'h>>,
    /// The handler's error, which stopped the reading.
    stopped: Option<anyhow::Error>,
    /// Rows with a cell past the header's width, before it was dropped.
    ragged: Vec<u32>,
}

impl<'a, 'h> Collector<'a, 'h> {
    fn new(planner: ColumnPlanner<'a>, place: Location, handler: Option<RowHandler<'h>>) -> Self {
        Collector {
            planner,
            // "file, sheet S": the place has no row.
            where_: place.to_string(),
            place,
            plan: None,
            slots: Vec::new(),
            rows: Vec::new(),
            handler,
            stopped: None,
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

    /// A planned row: to the handler, if any, else kept.
    fn planned(&mut self, row: GridRow) -> Result<()> {
        let Some(handler) = self.handler.as_mut() else {
            self.rows.push(row);
            return Ok(());
        };
        if let Err(error) = handler(&self.place, row) {
            // Kept for the caller, who tells it from a reading error.
            self.stopped = Some(error);
            bail!("stopped by the row handler");
        }
        Ok(())
    }
}

impl Collector<'_, '_> {
    /// Refuses a kept cell longer than Excel's cells hold: no export has it,
    /// and no output could carry it.
    fn fits_cells(&self, row: &GridRow) -> Result<()> {
        for (index, cell) in row.cells.iter().enumerate() {
            let Data::String(text) = cell else {
                continue;
            };
            let Some(chars) = file::too_long_for_a_cell(text) else {
                continue;
            };
            let col = match &self.plan {
                Some(plan) => plan.columns.get(index).copied().flatten().unwrap_or(index),
                None => index,
            };
            bail!(
                "{}, row {}, column {}: a cell of {chars} characters, starting {}; Excel holds at \
                 most {MAX_CELL_CHARS} characters in a cell, so no export has it: export the file \
                 again",
                self.where_,
                row.number,
                grid::column_letters(col),
                quote_start(text.as_bytes())
            );
        }
        Ok(())
    }
}

impl RowSink for Collector<'_, '_> {
    fn slot(&self, col: usize) -> Option<usize> {
        match &self.plan {
            None => Some(col),
            Some(_) => self.slots.get(col).copied().flatten(),
        }
    }

    fn row(&mut self, row: GridRow) -> Result<()> {
        self.fits_cells(&row)?;
        if let Some(plan) = &self.plan {
            if row.width > plan.width {
                self.ragged.push(row.number);
            }
            return self.planned(row);
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
            if self.handler.is_none() {
                self.rows = rows;
            } else {
                for row in rows {
                    self.planned(row)?;
                }
            }
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
    // A panic in calamine's BIFF parser is caught by the reader's guard
    // (see [`super::guard`]).
    match open_workbook_auto_from_rs(Cursor::new(bytes)) {
        Ok(calamine::Sheets::Xls(workbook)) => Ok(workbook),
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

/// The most bytes one CSV record (a line, or lines joined by line breaks in
/// quotes) may hold while it is read: many times a real row of 1688's 49
/// columns, and what bounds memory for a file that is one endless line.
const MAX_RECORD_BYTES: usize = 16 << 20;

/// Decoded text is handed to the CSV parser in pieces of this size.
const DECODE_CHUNK: usize = 64 << 10;

/// Hands the records of a CSV file to `sink` as rows of text cells, each
/// numbered by the line it starts on, as a text editor shows it. The
/// encoding is detected (UTF-8 with or without BOM, else GB18030, which
/// Excel on Chinese Windows writes for "CSV") unless given.
///
/// The file is parsed where it lies (UTF-8) or decoded piece by piece
/// (GB18030): no copy of it is made, and no record is held past
/// [`MAX_RECORD_BYTES`], nor a cell past Excel's [`MAX_CELL_CHARS`] (one
/// more for the quote selfbill puts before text that would start a
/// formula).
pub fn csv_rows(
    path: &Path,
    bytes: &[u8],
    encoding: Option<TextEncoding>,
    sink: &mut dyn RowSink,
) -> Result<()> {
    let shown = path.display().to_string();
    let unbommed = text::strip_bom(bytes);
    let utf8 = match encoding {
        None => std::str::from_utf8(unbommed).is_ok(),
        Some(TextEncoding::Utf8) => {
            std::str::from_utf8(unbommed)
                .with_context(|| format!("{shown}: not UTF-8 text; try --encoding gb18030"))?;
            true
        }
        Some(TextEncoding::Gb18030) => false,
    };
    let mut parser = CsvParser::new(&shown);
    if utf8 {
        parser.feed(unbommed, sink)?;
    } else {
        // As before: a forced GB18030 still honours a BOM the file has.
        let mut rest = if encoding.is_some() { bytes } else { unbommed };
        let mut decoder = encoding_rs::GB18030.new_decoder();
        let mut decoded = String::with_capacity(DECODE_CHUNK);
        loop {
            let (result, read, _) = decoder.decode_to_string(rest, &mut decoded, true);
            rest = &rest[read..];
            parser.feed(decoded.as_bytes(), sink)?;
            decoded.clear();
            if result == encoding_rs::CoderResult::InputEmpty {
                break;
            }
        }
    }
    parser.finish(sink)
}

/// A CSV parser over text fed to it in pieces, with the record and its
/// cells bounded (see [`csv_rows`]).
struct CsvParser<'f> {
    file: &'f str,
    core: csv_core::Reader,
    /// The current record's cells, one after another.
    record: Vec<u8>,
    /// Where each cell of the current record ends in `record`.
    ends: Vec<usize>,
    used: usize,
    cells: usize,
    lines: LineCounter,
}

impl<'f> CsvParser<'f> {
    fn new(file: &'f str) -> Self {
        CsvParser {
            file,
            core: csv_core::Reader::new(),
            record: vec![0; 64 << 10],
            ends: vec![0; 64],
            used: 0,
            cells: 0,
            lines: LineCounter::default(),
        }
    }

    /// Parses `input`; `Ok(true)` once the end of the text is reached (only
    /// when `input` is empty: the text has ended).
    fn feed(&mut self, mut input: &[u8], sink: &mut dyn RowSink) -> Result<bool> {
        use csv_core::ReadRecordResult as Parsed;
        loop {
            let (parsed, read, wrote, ended) = self.core.read_record(
                input,
                &mut self.record[self.used..],
                &mut self.ends[self.cells..],
            );
            self.lines.count(&input[..read]);
            input = &input[read..];
            self.used += wrote;
            self.cells += ended;
            match parsed {
                Parsed::InputEmpty => return Ok(false),
                Parsed::End => return Ok(true),
                Parsed::OutputFull => self.grow_record()?,
                Parsed::OutputEndsFull => self.grow_ends()?,
                Parsed::Record => {
                    self.emit(sink)?;
                    self.used = 0;
                    self.cells = 0;
                    self.lines.start = None;
                }
            }
        }
    }

    fn finish(mut self, sink: &mut dyn RowSink) -> Result<()> {
        while !self.feed(&[], sink)? {}
        Ok(())
    }

    fn line(&self) -> u32 {
        self.lines.start.unwrap_or(self.lines.line)
    }

    fn grow_record(&mut self) -> Result<()> {
        let cell_start = self.cells.checked_sub(1).map_or(0, |c| self.ends[c]);
        let cell = &self.record[cell_start..self.used];
        // A cell of more than 4 bytes per character allowed is too long,
        // whatever its characters.
        if cell.len() > 4 * (MAX_CELL_CHARS + 1) {
            return Err(self.too_long(self.cells, cell, None));
        }
        if self.record.len() >= MAX_RECORD_BYTES {
            bail!(
                "{}, line {}: a row of more than {} MB; no export or sheet has rows that long: \
                 the file is not a table saved by Excel or 1688; export it again",
                self.file,
                self.line(),
                MAX_RECORD_BYTES >> 20
            );
        }
        let size = (self.record.len() * 2).min(MAX_RECORD_BYTES);
        self.record.resize(size, 0);
        Ok(())
    }

    fn grow_ends(&mut self) -> Result<()> {
        if self.ends.len() > MAX_COLUMNS {
            bail!(
                "{}, line {}: more than the {MAX_COLUMNS} columns a spreadsheet holds; the file \
                 is not a table: export it again",
                self.file,
                self.line()
            );
        }
        let size = (self.ends.len() * 2).min(MAX_COLUMNS + 1);
        self.ends.resize(size, 0);
        Ok(())
    }

    fn too_long(&self, col: usize, cell: &[u8], chars: Option<usize>) -> anyhow::Error {
        let count = match chars {
            Some(n) => format!("{n} characters"),
            None => format!("more than {MAX_CELL_CHARS} characters"),
        };
        anyhow::anyhow!(
            "{}, line {}, column {}: a cell of {count}, starting {}; Excel holds at most \
             {MAX_CELL_CHARS} characters in a cell, so no export has it: export the file again",
            self.file,
            self.line(),
            grid::column_letters(col),
            quote_start(cell)
        )
    }

    /// Hands on the record just read, its non-blank cells that `sink` keeps.
    fn emit(&mut self, sink: &mut dyn RowSink) -> Result<()> {
        let line = self.line();
        if line > MAX_ROWS {
            bail!(
                "{}: more than {MAX_ROWS} lines, the most a spreadsheet holds; split the export \
                 by date range",
                self.file
            );
        }
        let mut row = GridRow {
            number: line,
            ..GridRow::default()
        };
        let mut from = 0;
        for (col, &end) in self.ends[..self.cells].iter().enumerate() {
            let cell = &self.record[from..end];
            from = end;
            if cell.is_empty() {
                continue;
            }
            let text = std::str::from_utf8(cell).with_context(|| {
                format!(
                    "{}, line {line}: not UTF-8 text; try --encoding gb18030",
                    self.file
                )
            })?;
            if text.len() > MAX_CELL_CHARS + 1 {
                let chars = text.chars().count();
                if chars > MAX_CELL_CHARS + 1 {
                    return Err(self.too_long(col, cell, Some(chars)));
                }
            }
            if text.trim().is_empty() {
                continue;
            }
            row.width = col + 1;
            if let Some(slot) = sink.slot(col) {
                if row.cells.len() <= slot {
                    row.cells.resize(slot + 1, Data::Empty);
                }
                row.cells[slot] = Data::String(text.to_owned());
            }
        }
        if row.cells.is_empty() {
            return Ok(());
        }
        sink.row(row)
    }
}

/// The first characters of a long value, quoted, for a message.
pub fn quote_start(value: &[u8]) -> String {
    let head = &value[..value.len().min(200)];
    let head = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&head[..error.valid_up_to()]).unwrap_or_default(),
    };
    let start: String = head.chars().take(40).collect();
    format!("{:?}…", start)
}

/// Line numbers as a text editor shows them, counted over the text as the
/// parser reads it: `\r\n`, `\r` and `\n` each end a line. A record is on
/// the line of its first character that is not a line break (the parser
/// skips blank lines, and reads a `\n` after a record's `\r` with the next
/// record).
#[derive(Debug)]
struct LineCounter {
    /// The line of the next character.
    line: u32,
    /// The last character counted was `\r`.
    after_cr: bool,
    /// The line the current record starts on, once a character of it is seen.
    start: Option<u32>,
}

impl Default for LineCounter {
    fn default() -> Self {
        LineCounter {
            line: 1,
            after_cr: false,
            start: None,
        }
    }
}

impl LineCounter {
    fn count(&mut self, text: &[u8]) {
        let mut at = 0;
        if self.start.is_none() {
            let content = text
                .iter()
                .position(|b| !matches!(b, b'\r' | b'\n'))
                .unwrap_or(text.len());
            for &byte in &text[..content] {
                self.line_break(byte);
            }
            if content == text.len() {
                return;
            }
            self.start = Some(self.line);
            self.after_cr = false;
            at = content;
        }
        while let Some(found) = memchr::memchr2(b'\r', b'\n', &text[at..]) {
            if found > 0 {
                self.after_cr = false;
            }
            self.line_break(text[at + found]);
            at += found + 1;
        }
        if at < text.len() {
            self.after_cr = false;
        }
    }

    fn line_break(&mut self, byte: u8) {
        if byte == b'\n' && self.after_cr {
            self.after_cr = false;
        } else {
            self.line = self.line.saturating_add(1);
            self.after_cr = byte == b'\r';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An xlsx export is read where it lies; one that changes while it is
    /// read (longer, or written again at its length) is refused, naming it,
    /// rather than read as what its bytes then say.
    #[test]
    fn an_export_that_changes_while_it_is_read_is_refused() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/orders-oct.xlsx");
        let every: ColumnPlanner<'_> = &|_, _| {
            Ok(Some(ColumnPlan {
                columns: (0..49).map(Some).collect(),
                width: 49,
            }))
        };
        let read = |path: &Path, change: &dyn Fn(&Path)| {
            let mut rows = 0;
            let result = read_first_sheet(path, every, None, &mut |_, _| {
                rows += 1;
                if rows == 1 {
                    change(path);
                }
                Ok(())
            });
            (
                result.map(|grid| grid.file).map_err(ReadError::into_error),
                rows,
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.xlsx");
        std::fs::copy(&fixture, &path).unwrap();
        let (read_whole, rows) = read(&path, &|_| {});
        assert!(read_whole.is_ok() && rows > 5, "{read_whole:?}");
        let longer = |path: &Path| {
            let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            std::io::Write::write_all(&mut file, b" ").unwrap();
        };
        let rewritten = |path: &Path| {
            let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            let later = std::time::SystemTime::now() + std::time::Duration::from_secs(10);
            file.set_modified(later).unwrap();
        };
        for change in [&longer as &dyn Fn(&Path), &rewritten] {
            std::fs::copy(&fixture, &path).unwrap();
            let error = read(&path, change).0.unwrap_err().to_string();
            assert!(error.contains("orders.xlsx"), "{error}");
            assert!(error.contains("changed while it was read"), "{error}");
        }
    }

    /// The rows a CSV text gives: (line, cells).
    fn rows_of(text: &[u8], encoding: Option<TextEncoding>) -> Result<Vec<(u32, Vec<String>)>> {
        struct All(Vec<(u32, Vec<String>)>);
        impl RowSink for All {
            fn slot(&self, col: usize) -> Option<usize> {
                Some(col)
            }
            fn row(&mut self, row: GridRow) -> Result<()> {
                let cells = row.cells.iter().map(grid::cell_text).collect();
                self.0.push((row.number, cells));
                Ok(())
            }
        }
        let mut all = All(Vec::new());
        csv_rows(Path::new("t.csv"), text, encoding, &mut all)?;
        Ok(all.0)
    }

    #[test]
    fn counts_lines_as_a_text_editor_does() {
        for text in [
            "a\nb\n\nc\n",
            "a\r\nb\r\n\r\nc\r\n",
            "a\rb\r\rc\r",
            "a\nb\r\n\rc",
        ] {
            let rows = rows_of(text.as_bytes(), None).unwrap();
            let numbers: Vec<u32> = rows.iter().map(|(n, _)| *n).collect();
            assert_eq!(numbers, [1, 2, 4], "{text:?}");
        }
        let rows = rows_of(b"\"x\ny\",b\r\nc", None).unwrap();
        assert_eq!(rows[0], (1, vec!["x\ny".to_string(), "b".to_string()]));
        assert_eq!(rows[1].0, 3);
    }

    #[test]
    fn reads_utf8_with_bom_and_gb18030_alike() {
        let text = "订单编号,实付款(元)\n1,2\n";
        let (gbk, _, _) = encoding_rs::GB18030.encode(text);
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        let expected = rows_of(text.as_bytes(), None).unwrap();
        assert_eq!(expected[0].1[0], "订单编号");
        assert_eq!(rows_of(&with_bom, None).unwrap(), expected);
        assert_eq!(rows_of(&gbk, None).unwrap(), expected);
        assert_eq!(
            rows_of(&gbk, Some(TextEncoding::Gb18030)).unwrap(),
            expected
        );
        let error = rows_of(&gbk, Some(TextEncoding::Utf8)).unwrap_err();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
        // Pieces of decoded text meet inside characters and records.
        let long: String = (0..20_000).map(|i| format!("订单{i},{i}\r\n")).collect();
        let (gbk, _, _) = encoding_rs::GB18030.encode(&long);
        let rows = rows_of(&gbk, None).unwrap();
        assert_eq!(rows.len(), 20_000);
        assert_eq!(
            rows[19_999],
            (20_000, vec!["订单19999".into(), "19999".into()])
        );
    }

    #[test]
    fn a_cell_longer_than_excel_holds_is_refused_naming_it() {
        let mut text = b"a,b\nx,".to_vec();
        text.extend(std::iter::repeat_n(b' ', 10 << 20));
        let error = rows_of(&text, None).unwrap_err().to_string();
        assert!(error.contains("t.csv, line 2, column B"), "{error}");
        assert!(error.contains("32767 characters"), "{error}");
        let text = format!("a\n{}\n", "长".repeat(MAX_CELL_CHARS + 2));
        let error = rows_of(text.as_bytes(), None).unwrap_err().to_string();
        assert!(
            error.contains("line 2, column A: a cell of 32769 characters"),
            "{error}"
        );
        assert!(
            error.contains(&format!("{:?}…", "长".repeat(40))),
            "{error}"
        );
        let text = format!("a\n{}\n", "长".repeat(MAX_CELL_CHARS));
        assert_eq!(rows_of(text.as_bytes(), None).unwrap().len(), 2);
    }

    #[test]
    fn a_row_past_the_record_limit_is_refused() {
        let cell = "x".repeat(30_000);
        let line = vec![cell.as_str(); 600].join(",");
        let error = rows_of(format!("a\n{line}\n").as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2: a row of more than 16 MB"),
            "{error}"
        );
    }
}
