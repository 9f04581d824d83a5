//! xlsx workbooks, read with calamine's streaming cell reader (batch
//! workbooks, with their formulas; an export's sheet is read by
//! `sheet_xml`) once the package has been checked: every part's declared size within the limits,
//! which the zip reader then holds each part to, so that a small file
//! cannot unpack without bound. Also what calamine does not expose: which
//! rows are hidden.

use anyhow::{Context, Result, bail};
use calamine::{Data, DataRef, Reader, Xlsx, XlsxFormulaMetadata};
use quick_xml::events::Event;
use std::collections::HashMap;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;
use zip::ZipArchive;

use super::file::{MAX_COLUMNS, MAX_PART_BYTES, MAX_ROWS, MAX_UNPACKED_BYTES};
use super::grid::{GridRow, RowSink};
use super::sheet_xml;

/// An open xlsx workbook, read from `R` (the file, or bytes in memory).
pub type Workbook<R> = Xlsx<R>;

/// Checks the package's declared sizes, then opens it.
pub fn open<R: Read + Seek>(path: &Path, mut source: R) -> Result<Workbook<R>> {
    let mut zip = ZipArchive::new(&mut source).with_context(|| damaged(path))?;
    check_archive(path, &mut zip, &WORKBOOK_LIMITS)?;
    drop(zip);
    source.rewind().with_context(|| damaged(path))?;
    Xlsx::new(source).with_context(|| damaged(path))
}

/// The message of a workbook that cannot be opened.
pub(super) fn damaged(path: &Path) -> String {
    format!(
        "{}: not a readable xlsx workbook (truncated or damaged?); download or save it again",
        path.display()
    )
}

/// How far an xlsx package may unpack, and what to do when it would
/// unpack further.
pub struct PackageLimits {
    /// The most one part may unpack to.
    pub part: u64,
    /// The most all parts together may unpack to.
    pub total: u64,
    /// What the file is, in messages: "workbook", "template".
    pub what: &'static str,
    /// What to do about a file past the limits.
    pub remedy: &'static str,
}

/// The limits of exports and batch workbooks.
pub const WORKBOOK_LIMITS: PackageLimits = PackageLimits {
    part: MAX_PART_BYTES,
    total: MAX_UNPACKED_BYTES,
    what: "workbook",
    remedy: "(a sheet of about 250,000 order lines); split the export by date range",
};

/// Every part unpacks to at most `limits.part`, all together to at most
/// `limits.total`, as the zip's directory declares (the zip reader refuses
/// to unpack a part past its declared size).
pub fn check_package_within(path: &Path, bytes: &[u8], limits: &PackageLimits) -> Result<()> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).with_context(|| damaged(path))?;
    check_archive(path, &mut zip, limits)
}

/// As [`check_package_within`], of a zip already open.
pub(super) fn check_archive<R: Read + Seek>(
    path: &Path,
    zip: &mut ZipArchive<R>,
    limits: &PackageLimits,
) -> Result<()> {
    let mut total = 0u64;
    for index in 0..zip.len() {
        let part = zip.by_index_raw(index).with_context(|| damaged(path))?;
        let size = part.size();
        if size > limits.part {
            bail!(
                "{}: its part {} would unpack to {} MB; selfbill reads {} parts of at most {} MB \
                 {}",
                path.display(),
                part.name().unwrap_or_default(),
                size.div_ceil(1 << 20),
                limits.what,
                limits.part >> 20,
                limits.remedy
            );
        }
        total = total.saturating_add(size);
    }
    if total > limits.total {
        bail!(
            "{}: would unpack to {} MB; selfbill reads {}s of at most {} MB unpacked {}",
            path.display(),
            total.div_ceil(1 << 20),
            limits.what,
            limits.total >> 20,
            limits.remedy
        );
    }
    Ok(())
}

/// Streams the rows of a sheet into `sink`, in order, with the formulas of
/// its cells when `formulas` is set. Blank rows are not handed on.
pub fn stream_sheet<R: Read + Seek>(
    workbook: &mut Workbook<R>,
    path: &Path,
    sheet: &str,
    formulas: bool,
    sink: &mut dyn RowSink,
) -> Result<()> {
    let where_ = format!("{}, sheet {sheet}", path.display());
    let unreadable =
        || format!("{where_}: cannot be read (damaged workbook?); save it again from Excel");
    let mut reader = workbook
        .worksheet_cells_reader(sheet)
        .with_context(unreadable)?;
    let mut rows = Rows::new(sink, where_.clone());
    // Shared formulas: the text is on the first cell of the group only.
    let mut shared: HashMap<usize, String> = HashMap::new();
    loop {
        let (pos, value, formula) = if formulas {
            match reader
                .next_cell_with_formula_metadata()
                .with_context(unreadable)?
            {
                None => break,
                Some(record) => {
                    let formula = record.formula.map(|f| formula_text(f, &mut shared));
                    (record.pos, record.value, formula)
                }
            }
        } else {
            match reader.next_cell().with_context(unreadable)? {
                None => break,
                Some(cell) => (cell.get_position(), cell.get_value().clone(), None),
            }
        };
        let blank = matches!(value, DataRef::Empty);
        rows.cell(pos.0, pos.1 as usize, blank, formula, || Data::from(value))?;
    }
    rows.finish()
}

/// Cells in file order made rows for a sink: the cells it keeps, in their
/// slots; a row handed on once a cell of a later row comes.
pub(super) struct Rows<'s> {
    sink: &'s mut dyn RowSink,
    /// "file, sheet S", for messages.
    where_: String,
    current: Option<GridRow>,
    /// The number of the last row begun.
    last: u32,
    /// The cells of the last row handed on: rows are alike.
    width: usize,
}

impl<'s> Rows<'s> {
    pub(super) fn new(sink: &'s mut dyn RowSink, where_: String) -> Self {
        Rows {
            sink,
            where_,
            current: None,
            last: 0,
            width: 0,
        }
    }

    /// Whether [`Rows::cell`] may want the value of a cell at 0-based `row`
    /// and `col`: a cell of the row being read that the sink keeps, or a
    /// cell of another row (handing on the row before may change the
    /// sink's plan). A reader need not make the value of any other cell.
    pub(super) fn may_keep(&self, row: u32, col: usize) -> bool {
        match &self.current {
            Some(current) if current.number == row.saturating_add(1) => {
                self.sink.slot(col).is_some()
            }
            _ => true,
        }
    }

    /// The next cell, at 0-based `r` and `c`; `value` makes its value
    /// when it is kept.
    pub(super) fn cell(
        &mut self,
        r: u32,
        c: usize,
        blank: bool,
        formula: Option<String>,
        value: impl FnOnce() -> Data,
    ) -> Result<()> {
        if r >= MAX_ROWS || c >= MAX_COLUMNS {
            bail!(
                "{}: a cell at row {}, column {} lies beyond Excel's last row ({MAX_ROWS}) or \
                 column (XFD); the file was not written by Excel: save it again from Excel",
                self.where_,
                u64::from(r) + 1,
                c + 1
            );
        }
        if blank && formula.is_none() {
            return Ok(());
        }
        let number = r + 1;
        if self.current.as_ref().is_none_or(|row| row.number != number) {
            if let Some(row) = self.current.take() {
                self.width = row.cells.len();
                emit(row, self.sink)?;
            }
            if number <= self.last {
                bail!(
                    "{}: row {number} comes after row {}; the rows are out of order, which \
                     Excel never writes: open the file in Excel and save it again",
                    self.where_,
                    self.last
                );
            }
            self.last = number;
            self.current = Some(GridRow {
                number,
                // Rows are alike: size the next one as this one.
                cells: Vec::with_capacity(self.width),
                ..GridRow::default()
            });
        }
        let Some(row) = self.current.as_mut() else {
            return Ok(());
        };
        if let Some(text) = formula {
            row.formulas.push((c, text));
        }
        if blank {
            return Ok(());
        }
        row.width = c + 1;
        // Asked once the previous row is handed on: the sink may have
        // changed its plan.
        if let Some(slot) = self.sink.slot(c) {
            if row.cells.len() <= slot {
                row.cells.resize(slot + 1, Data::Empty);
            }
            row.cells[slot] = value();
        }
        Ok(())
    }

    /// Hands on the last row.
    pub(super) fn finish(mut self) -> Result<()> {
        match self.current.take() {
            Some(row) => emit(row, self.sink),
            None => Ok(()),
        }
    }
}

/// Hands on a row that has a kept cell or a formula.
fn emit(row: GridRow, sink: &mut dyn RowSink) -> Result<()> {
    if row.cells.is_empty() && row.formulas.is_empty() {
        return Ok(());
    }
    sink.row(row)
}

/// A formula as the cell shows it in Excel's formula bar; cells of a shared
/// formula show the group's first formula.
fn formula_text(formula: XlsxFormulaMetadata, shared: &mut HashMap<usize, String>) -> String {
    let text = match formula {
        XlsxFormulaMetadata::Normal { formula } => formula,
        XlsxFormulaMetadata::Shared {
            shared_index,
            formula,
            ..
        } => {
            shared.insert(shared_index, formula.clone());
            formula
        }
        XlsxFormulaMetadata::SharedDerived { shared_index } => {
            shared.get(&shared_index).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    format!("={text}")
}

/// The rows of each sheet that are hidden, by sheet name. calamine reads
/// values only, so the sheets' XML is read here for the rows' attributes.
/// `source` gives a reader of the workbook from its start.
pub fn hidden_rows<R: Read + Seek>(
    path: &Path,
    source: impl Fn() -> R,
) -> Result<HashMap<String, Vec<u32>>> {
    let mut zip = ZipArchive::new(source()).with_context(|| damaged(path))?;
    let mut hidden = HashMap::new();
    for (name, part) in sheet_xml::sheet_parts(path, source())? {
        let Ok(entry) = zip.by_name(&part) else {
            continue;
        };
        let mut reader = quick_xml::Reader::from_reader(BufReader::new(entry));
        let mut buf = Vec::new();
        let mut rows = Vec::new();
        let mut next = 1u32;
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "row" => {
                    let mut number = next;
                    let mut is_hidden = false;
                    for attribute in e.attributes().with_checks(false).flatten() {
                        match attribute.key.local_name().as_ref() {
                            "r" => number = attribute.value.trim().parse().unwrap_or(next),
                            "hidden" => {
                                is_hidden = matches!(attribute.value.as_ref(), "1" | "true")
                            }
                            _ => {}
                        }
                    }
                    if is_hidden && number <= MAX_ROWS {
                        rows.push(number);
                    }
                    next = number.saturating_add(1);
                }
                Ok(Event::End(e)) if e.local_name().as_ref() == "sheetData" => break,
                Ok(Event::Eof) => break,
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!(
                            "{}, sheet {name}: cannot be read (damaged workbook?); save it again \
                             from Excel",
                            path.display()
                        )
                    });
                }
                _ => {}
            }
            buf.clear();
        }
        rows.sort_unstable();
        rows.dedup();
        hidden.insert(name, rows);
    }
    Ok(hidden)
}
