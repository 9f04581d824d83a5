//! LHDN's batch-upload workbook, filled: the template package (see
//! [`super::template`]) with data rows streamed into its visible sheets.
//!
//! Every part of the template is copied as it is (raw, without even
//! recompressing), except the visible sheets that get rows, their tables
//! (whose ranges grow over the rows) and `xl/styles.xml` (which gains one
//! data style per number format, after LHDN's own). The styles, and each
//! table for each last row, are compressed once per run and copied into
//! every workbook that has them: a workbook compresses only its sheets. In a sheet, rows 1–5
//! stay exactly as LHDN's XML has them; data rows follow from row 6; the
//! sheet's dimension, data validations and conditional formats are
//! stretched over them.
//!
//! Rows go into each sheet's compressed part as they are appended, and each
//! part grows as a one-entry zip until the workbook is finished and the part
//! is copied in, still compressed: in memory while it is small (a split
//! output's workbooks of a hundred invoices touch no other file), in a
//! temporary file past [`SPILL_AT`]: a workbook of any size is built from
//! batches of a few hundred invoices in little memory. When the rows are
//! not counted up front they wait as text the same way, and are compressed
//! when the workbook is finished. The compressors and buffers a workbook
//! uses are handed on to the run's next workbooks ([`Reuse`]), and a
//! workbook whose changed parts are all in memory is put together from the
//! template's parts as zip copies them, cut once per run ([`Assembly`]).

use anyhow::{Context, Result, anyhow, bail};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use flate2::write::DeflateEncoder;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::io::{Cursor, IoSlice, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::OutputSet;
use super::template::{MAX_DATA_ROWS, TemplatePackage, TemplateSheet, ZippedPart, column_letter};
use crate::batch::{
    ADDED_IN_NEWER_TEMPLATE, Batch, Cell, FIRST_DATA_ROW, SheetTemplate, template as layout,
};
use crate::read::file::MAX_CELL_CHARS;
use rust_decimal::Decimal;

/// Bytes of row XML gathered before they go to the compressor.
const FLUSH_AT: usize = 1 << 16;

/// Room for a row past a flush's bytes, most rows being far smaller.
const ROW_ROOM: usize = 4096;

/// Compressed bytes of a sheet's part kept in memory; past this the part
/// moves to a temporary file.
const SPILL_AT: usize = 1 << 20;

/// One workbook being written.
pub struct WorkbookWriter<'t> {
    template: &'t TemplatePackage,
    /// Per layout sheet; `None` for a sheet that gets no rows (so far).
    sheets: Vec<Option<SheetStream>>,
    /// Rows per sheet not known up front ([`WorkbookWriter::open_ended`]).
    open_ended: bool,
}

/// A sheet's part being written.
struct SheetStream {
    entry: String,
    part: SheetPart,
    /// Rows not yet moved on; rows kept as text stay here until they pass
    /// [`SPILL_AT`].
    buffer: String,
    /// Of rows kept as text in the buffer, the bytes that would have been
    /// moved on by now: the compressor gets them in one piece and the rest
    /// in another, as it always has (where the pieces end can change a
    /// byte of DEFLATE's output).
    flushed: usize,
    /// The rows it was given room for; `None` when not known up front.
    declared: Option<usize>,
    written: usize,
    /// The sheet's data cells' markup.
    markup: Arc<SheetMarkup>,
    name: &'static str,
    /// The sheet's layout.
    schema: &'static SheetTemplate,
    /// The last date-time written, and its Excel serial.
    last_serial: Option<(NaiveDateTime, String)>,
}

/// A template sheet's data cells' markup.
pub(crate) struct SheetMarkup {
    /// Layout columns in the template's column order; columns the template
    /// lacks are absent.
    columns: Vec<DataColumn>,
    /// Layout columns the template lacks, with their header when they may
    /// not hold data (a column LHDN added later is left out).
    absent: Vec<(usize, Option<&'static str>)>,
}

impl SheetMarkup {
    fn new(sheet: &TemplateSheet, schema: &'static SheetTemplate) -> SheetMarkup {
        let mut columns: Vec<DataColumn> = Vec::new();
        let mut absent = Vec::new();
        for (column, position) in sheet.columns.iter().enumerate() {
            match position {
                Some(position) => columns.push(DataColumn::new(
                    column,
                    &column_letter(*position),
                    sheet.styles[column],
                )),
                None => {
                    let header = schema.headers[column].trim();
                    let dropped = ADDED_IN_NEWER_TEMPLATE.contains(&(schema.name.as_str(), header));
                    absent.push((column, (!dropped).then_some(header)));
                }
            }
        }
        // Cells of a row go in column order.
        columns.sort_by_key(|column| sheet.columns[column.index]);
        SheetMarkup { columns, absent }
    }
}

/// A data column's cell markup around its row number, made once.
struct DataColumn {
    /// The layout column.
    index: usize,
    /// `<c r="B`
    open: String,
    /// `" s="N" t="inlineStr"><is><t`
    text: String,
    /// `" s="N"><v>`
    value: String,
}

impl DataColumn {
    fn new(index: usize, letter: &str, style: Option<u32>) -> DataColumn {
        let style = style.map(|s| format!(" s=\"{s}\"")).unwrap_or_default();
        DataColumn {
            index,
            open: format!("<c r=\"{letter}"),
            text: format!("\"{style} t=\"inlineStr\"><is><t"),
            value: format!("\"{style}><v>"),
        }
    }
}

/// The DEFLATE level of every part selfbill compresses.
const LEVEL: u32 = 1;

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(LEVEL.into()))
        .unix_permissions(0o644)
        // Fixed timestamps: the same input gives the same bytes.
        .last_modified_time(zip::DateTime::default())
}

impl<'t> WorkbookWriter<'t> {
    /// A workbook that will get `rows[sheet]` data rows in each layout
    /// sheet: the rows are compressed as they are appended.
    pub fn new(template: &'t TemplatePackage, rows: &[usize]) -> Result<WorkbookWriter<'t>> {
        let mut sheets = Vec::new();
        for index in 0..layout().sheets.len() {
            let count = rows.get(index).copied().unwrap_or(0);
            sheets.push(match count {
                0 => None,
                count => Some(SheetStream::open(template, index, Some(count))?),
            });
        }
        Ok(WorkbookWriter {
            template,
            sheets,
            open_ended: false,
        })
    }

    /// A workbook whose rows per sheet are known only once it is finished:
    /// each sheet's rows wait as text in a temporary file, and are
    /// compressed (a sheet per thread) by [`WorkbookWriter::finish`].
    pub fn open_ended(template: &'t TemplatePackage) -> WorkbookWriter<'t> {
        WorkbookWriter {
            template,
            sheets: (0..layout().sheets.len()).map(|_| None).collect(),
            open_ended: true,
        }
    }

    /// Data rows written so far, per layout sheet.
    pub fn rows_written(&self) -> Vec<usize> {
        self.sheets
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| s.written))
            .collect()
    }

    /// Appends a batch's rows after the rows already written.
    pub fn append(&mut self, batch: &Batch) -> Result<()> {
        for (index, data) in batch.sheets.iter().enumerate() {
            if data.rows.is_empty() {
                continue;
            }
            let Some(slot) = self.sheets.get_mut(index) else {
                bail!("no sheet {index}");
            };
            let sheet = match slot {
                Some(sheet) => sheet,
                None if self.open_ended => {
                    slot.insert(SheetStream::open(self.template, index, None)?)
                }
                None => bail!(
                    "sheet {} gets rows it was not given room for",
                    layout().sheets[index].name
                ),
            };
            for row in &data.rows {
                if sheet.written == sheet.declared.unwrap_or(MAX_DATA_ROWS) {
                    bail!(
                        "sheet {} gets more rows than it was given room for",
                        sheet.name
                    );
                }
                let number = FIRST_DATA_ROW + sheet.written as u32;
                sheet.write_row(number, &row.cells, &self.template.source)?;
                sheet.written += 1;
                if sheet.buffer.len() - sheet.flushed >= FLUSH_AT {
                    sheet.flush_rows()?;
                }
            }
        }
        Ok(())
    }

    /// Writes the workbook: the template's parts in their order, the filled
    /// sheets and their tables in place of the template's.
    pub fn finish<W: Write + Seek>(self, out: W) -> Result<W> {
        let template = self.template;
        let mut last_rows = vec![None; self.sheets.len()];
        let mut filled = Vec::new();
        for (index, sheet) in self.sheets.into_iter().enumerate() {
            let Some(sheet) = sheet else { continue };
            if let Some(declared) = sheet.declared
                && sheet.written != declared
            {
                bail!(
                    "sheet {} got {} rows of the {declared} it was given room for",
                    sheet.name,
                    sheet.written,
                );
            }
            last_rows[index] = Some(sheet.last_row());
            filled.push((index, sheet));
        }
        // Sheets whose rows wait as text in a file (too many to keep in
        // memory) are compressed now, each on a thread of its own; those
        // compressed as they came are finished here; those whose rows wait
        // as text in memory are compressed as the workbook gets to them.
        let (text, rest): (Vec<_>, Vec<_>) = filled
            .into_iter()
            .partition(|(_, sheet)| matches!(sheet.part, SheetPart::Text(Some(_))));
        let (mut direct, compressed): (Vec<_>, Vec<_>) = rest
            .into_iter()
            .partition(|(_, sheet)| matches!(sheet.part, SheetPart::Text(None)));
        if text.is_empty()
            && compressed.is_empty()
            && let Some(assembly) = template.assembly()
        {
            return assembly.workbook(template, direct, &last_rows, out);
        }
        let mut prepared = std::thread::scope(|scope| {
            let finishing: Vec<_> = text
                .into_iter()
                .map(|(index, sheet)| scope.spawn(move || sheet.finish(template, index)))
                .collect();
            finishing
                .into_iter()
                .map(|f| {
                    f.join()
                        .unwrap_or_else(|_| Err(anyhow!("writing a sheet failed")))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        for (index, sheet) in compressed {
            prepared.push(sheet.finish(template, index)?);
        }
        let filled = !prepared.is_empty() || !direct.is_empty();
        let mut zip_in = ZipArchive::new(Cursor::new(template.bytes()))?;
        let mut zip = ZipWriter::new(out);
        for i in 0..zip_in.len() {
            let name = zip_in.by_index_raw(i)?.name()?.to_string();
            if let Some(at) = prepared.iter().position(|(entry, _)| *entry == name) {
                let (_, mut part) = prepared.swap_remove(at);
                zip.raw_copy_file(part.by_index_raw(0)?)?;
                continue;
            }
            if let Some(at) = direct.iter().position(|(_, sheet)| sheet.entry == name) {
                let (index, sheet) = direct.swap_remove(at);
                let zipped = sheet.zipped(template, index)?;
                zip.raw_copy_file(ZipArchive::new(Cursor::new(&zipped[..]))?.by_index_raw(0)?)?;
                template.reuse.give_back(zipped);
                continue;
            }
            if let Some((sheet, table)) = template.table(&name)
                && let Some(last_row) = last_rows[*sheet]
            {
                let zipped = template.table_zipped(&name, table, last_row)?;
                zip.raw_copy_file(ZipArchive::new(Cursor::new(&zipped[..]))?.by_index_raw(0)?)?;
                continue;
            }
            if filled
                && let Some((entry, styles)) = template.styles_zipped()
                && entry == name
            {
                zip.raw_copy_file(ZipArchive::new(Cursor::new(styles))?.by_index_raw(0)?)?;
                continue;
            }
            zip.raw_copy_file(zip_in.by_index_raw(i)?)?;
        }
        if let Some(entry) = prepared
            .first()
            .map(|(entry, _)| entry)
            .or(direct.first().map(|(_, sheet)| &sheet.entry))
        {
            bail!("the template lists no part {entry}");
        }
        Ok(zip.finish()?)
    }
}

impl WorkbookWriter<'_> {
    /// Writes the workbook as a temporary file of the output set, to be
    /// staged with [`OutputSet::add`]; the set starts flushing it to disk
    /// at once, while the run goes on (see [`OutputSet::flush_early`]).
    pub fn finish_into(self, set: &OutputSet) -> Result<tempfile::TempPath> {
        let temp = set.temp_file()?;
        let reuse = &self.template.reuse;
        let staged = self.finish(Staged::new(temp, reuse.buffer()))?;
        let (temp, memory) = staged.into_file()?;
        reuse.give_back(memory);
        let temp = temp.into_temp_path();
        set.flush_early(&temp);
        Ok(temp)
    }
}

/// Bytes of a workbook kept in memory before they go to its file: the zip
/// writer seeks back over every part it writes, and a buffered file would
/// be flushed at each seek.
const STAGE_AT: usize = 4 << 20;

/// A workbook being written to its temporary file: in memory while it is
/// small (written with one call when finished), then straight to the file;
/// a workbook put together whole (written in one vectored call, nothing to
/// seek back over) goes straight to the file.
struct Staged {
    /// The bytes so far, while `in_memory`.
    memory: Cursor<Vec<u8>>,
    in_memory: bool,
    file: BufWriter<tempfile::NamedTempFile>,
}

impl Staged {
    /// Stages into `file`, gathering the bytes in `memory` (empty) first.
    fn new(file: tempfile::NamedTempFile, memory: Vec<u8>) -> Staged {
        Staged {
            memory: Cursor::new(memory),
            in_memory: true,
            file: BufWriter::with_capacity(1 << 16, file),
        }
    }

    /// Moves the bytes so far to the file, at the same position.
    fn spill(&mut self) -> std::io::Result<()> {
        if self.in_memory {
            self.file.write_all(self.memory.get_ref())?;
            self.file.seek(SeekFrom::Start(self.memory.position()))?;
            self.in_memory = false;
        }
        Ok(())
    }

    /// The file, with every byte written; and the memory the bytes were
    /// gathered in, to reuse.
    fn into_file(mut self) -> std::io::Result<(tempfile::NamedTempFile, Vec<u8>)> {
        self.spill()?;
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        Ok((file, self.memory.into_inner()))
    }
}

impl Write for Staged {
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let memory = self.memory.get_ref().len();
        if self.in_memory && (memory == 0 || memory + total > STAGE_AT) {
            self.spill()?;
        }
        if self.in_memory {
            self.memory.write_vectored(bufs)
        } else {
            // Past the buffer, which would copy the slices into itself.
            self.file.flush()?;
            self.file.get_mut().write_vectored(bufs)
        }
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.in_memory && self.memory.get_ref().len() + buf.len() > STAGE_AT {
            self.spill()?;
        }
        if self.in_memory {
            self.memory.write(buf)
        } else {
            self.file.write(buf)
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.in_memory {
            Ok(())
        } else {
            self.file.flush()
        }
    }
}

impl Seek for Staged {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        if self.in_memory {
            self.memory.seek(to)
        } else {
            self.file.seek(to)
        }
    }
}

/// Where a sheet's rows go: compressed as they come, after the sheet's
/// head (its dimension names the last row, so the count is known up front);
/// or, when the count is not known, as XML text, compressed after the head
/// once the workbook is finished.
enum SheetPart {
    /// The part, compressed as it grows, as a one-entry zip.
    Compressed(Box<ZipWriter<Spool>>),
    /// The rows as text: in the sheet's buffer until they pass
    /// [`SPILL_AT`], then in a temporary file.
    Text(Option<BufWriter<File>>),
}

impl SheetStream {
    /// Opens layout sheet `index` of the template for `count` rows (`None`:
    /// not known up front).
    fn open(template: &TemplatePackage, index: usize, count: Option<usize>) -> Result<SheetStream> {
        let schema = &layout().sheets[index];
        if let Some(count) = count
            && count > MAX_DATA_ROWS
        {
            bail!(
                "sheet {} would get {count} rows, more than the {MAX_DATA_ROWS} Excel allows \
                 below LHDN's rows 1–5; write fewer invoices per workbook (--max-per-file)",
                schema.name
            );
        }
        let Some(sheet) = template.sheet(index) else {
            bail!(
                "{}: the template has no sheet {}, which these invoices fill",
                template.source,
                schema.name
            );
        };
        let markup = Arc::clone(
            sheet
                .markup
                .get_or_init(|| Arc::new(SheetMarkup::new(sheet, schema))),
        );
        let part = match count {
            Some(count) => {
                let mut part = ZipWriter::new(Spool::Memory(Cursor::new(Vec::new())));
                part.start_file(sheet.entry.as_str(), options())?;
                let mut head = Vec::new();
                sheet.located.head(last_row(count), &mut head)?;
                part.write_all(&head)?;
                SheetPart::Compressed(Box::new(part))
            }
            None => SheetPart::Text(None),
        };
        let mut buffer = template.reuse.text();
        buffer.reserve(FLUSH_AT + ROW_ROOM);
        Ok(SheetStream {
            entry: sheet.entry.clone(),
            part,
            buffer,
            flushed: 0,
            declared: count,
            written: 0,
            markup,
            name: schema.name.as_str(),
            schema,
            last_serial: None,
        })
    }

    /// Moves the rows gathered in the buffer on: into the compressed part,
    /// or the text's file; rows kept as text stay in the buffer until they
    /// pass [`SPILL_AT`].
    fn flush_rows(&mut self) -> Result<()> {
        match &mut self.part {
            SheetPart::Compressed(part) => part.write_all(self.buffer.as_bytes())?,
            SheetPart::Text(None) if self.buffer.len() <= SPILL_AT => {
                self.flushed = self.buffer.len();
                // Room for the next flush's rows: doubling, but never far
                // past what moves to a file.
                let room = self.buffer.len() + FLUSH_AT + ROW_ROOM;
                if self.buffer.capacity() < room {
                    let room =
                        (2 * self.buffer.capacity()).clamp(room, SPILL_AT + FLUSH_AT + ROW_ROOM);
                    self.buffer.reserve_exact(room - self.buffer.len());
                }
                return Ok(());
            }
            SheetPart::Text(Some(file)) => file.write_all(self.buffer.as_bytes())?,
            SheetPart::Text(file) => {
                let mut spilled = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
                spilled.write_all(self.buffer.as_bytes())?;
                *file = Some(spilled);
                // From now on the buffer holds only the rows of one flush.
                self.buffer.clear();
                self.buffer.shrink_to(FLUSH_AT + ROW_ROOM);
            }
        }
        self.buffer.clear();
        self.flushed = 0;
        Ok(())
    }

    /// The sheet's last row: the rows given room for, or those written.
    fn last_row(&self) -> u32 {
        last_row(self.declared.unwrap_or(self.written))
    }

    /// The sheet's part, finished: (its zip entry, a one-entry zip holding it).
    fn finish(
        self,
        template: &TemplatePackage,
        index: usize,
    ) -> Result<(String, ZipArchive<SpoolReader>)> {
        let last_row = self.last_row();
        let located = &template
            .sheet(index)
            .ok_or_else(|| anyhow!("no sheet {index}"))?
            .located;
        let mut tail = Vec::new();
        located.tail(last_row, &mut tail)?;
        let mut part = match self.part {
            SheetPart::Compressed(mut part) => {
                part.write_all(self.buffer.as_bytes())?;
                *part
            }
            SheetPart::Text(text) => {
                let mut text = match text {
                    Some(mut file) => {
                        file.write_all(self.buffer.as_bytes())?;
                        file.into_inner().map_err(|e| e.into_error())?
                    }
                    None => bail!("sheet {} has no text file", self.name),
                };
                text.seek(SeekFrom::Start(0))?;
                let mut part = ZipWriter::new(Spool::Memory(Cursor::new(Vec::new())));
                part.start_file(self.entry.as_str(), options())?;
                let mut head = Vec::new();
                located.head(last_row, &mut head)?;
                part.write_all(&head)?;
                copy_in_pieces(&mut text, &mut part)?;
                part
            }
        };
        part.write_all(&tail)?;
        let part = part.finish()?.into_reader()?;
        template.reuse.give_back(self.buffer.into_bytes());
        Ok((self.entry, ZipArchive::new(part)?))
    }
}

impl SheetStream {
    /// A sheet whose rows wait as text in memory, compressed after LHDN's
    /// head and before its tail as a one-entry zip (give it back to
    /// [`Reuse`] once copied).
    fn zipped(self, template: &TemplatePackage, index: usize) -> Result<Vec<u8>> {
        let last_row = self.last_row();
        let located = &template
            .sheet(index)
            .ok_or_else(|| anyhow!("no sheet {index}"))?
            .located;
        let mut head = template.reuse.buffer();
        located.head(last_row, &mut head)?;
        let mut tail = template.reuse.buffer();
        located.tail(last_row, &mut tail)?;
        let text = self.buffer.into_bytes();
        let (flushed, rest) = text.split_at(self.flushed);
        let zipped = template
            .reuse
            .one_entry_zip(&self.entry, &[&head, flushed, rest, &tail]);
        for buffer in [head, text, tail] {
            template.reuse.give_back(buffer);
        }
        zipped
    }
}

/// The pieces rows kept in a file go to the compressor in, as
/// `std::io::copy` has always handed them on (where the pieces end can
/// change a byte of DEFLATE's output).
const COPY_PIECE: usize = 8 * 1024;

/// `text` to its end into `part`, read 128 KB at a time (a sheet on each
/// of a few threads) and written in pieces of [`COPY_PIECE`].
fn copy_in_pieces(text: &mut File, part: &mut impl Write) -> Result<()> {
    let mut block = vec![0; 16 * COPY_PIECE];
    loop {
        // A file's read stops short only at its end.
        let mut filled = 0;
        while filled < block.len() {
            match text.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        for piece in block[..filled].chunks(COPY_PIECE) {
            part.write_all(piece)?;
        }
        if filled < block.len() {
            return Ok(());
        }
    }
}

/// The last row of a sheet with `count` data rows below LHDN's rows 1–5.
fn last_row(count: usize) -> u32 {
    FIRST_DATA_ROW - 1 + count as u32
}

impl SheetStream {
    fn write_row(&mut self, r: u32, cells: &[Cell], template: &str) -> Result<()> {
        for (column, header) in &self.markup.absent {
            if let Some(header) = header
                && cells.get(*column).is_some_and(|c| !c.is_empty())
            {
                bail!(
                    "{template}: sheet {} of the template has no column {header:?}, which these \
                     invoices fill; use LHDN's batch-upload template with its row-4 headers as \
                     they are",
                    self.name
                );
            }
        }
        let xml = &mut self.buffer;
        let mut digits = [0; 10];
        let row = unsigned(r, &mut digits);
        xml.push_str("<row r=\"");
        xml.push_str(row);
        xml.push_str("\">");
        for column in &self.markup.columns {
            let cell = cells.get(column.index).unwrap_or(&Cell::Empty);
            if matches!(cell, Cell::Empty) {
                continue;
            }
            xml.push_str(&column.open);
            xml.push_str(row);
            match cell {
                Cell::Empty => {}
                Cell::Text(text) => {
                    if text.len() > MAX_CELL_CHARS {
                        super::fits_a_cell(self.schema, cells, column.index, r as usize)?;
                    }
                    xml.push_str(&column.text);
                    if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace)
                    {
                        xml.push_str(" xml:space=\"preserve\"");
                    }
                    xml.push('>');
                    escape_into(xml, text);
                    xml.push_str("</t></is></c>");
                }
                Cell::Number(value) => {
                    xml.push_str(&column.value);
                    // The decimal's own text: no binary float between the model and the file.
                    push_decimal(xml, *value);
                    xml.push_str("</v></c>");
                }
                Cell::DateTime(value) => {
                    xml.push_str(&column.value);
                    // A run's invoices are mostly issued at one moment.
                    match &mut self.last_serial {
                        Some((last, serial)) if last == value => xml.push_str(serial),
                        last => {
                            let mut serial = String::new();
                            push_excel_serial(&mut serial, *value);
                            xml.push_str(&serial);
                            *last = Some((*value, serial));
                        }
                    }
                    xml.push_str("</v></c>");
                }
            }
        }
        xml.push_str("</row>");
        Ok(())
    }
}

/// Where a sheet's compressed part grows: in memory until it passes
/// [`SPILL_AT`], then in a temporary file.
enum Spool {
    Memory(Cursor<Vec<u8>>),
    File(BufWriter<File>),
}

impl Spool {
    /// Moves the bytes so far to a temporary file, at the same position.
    fn spill(&mut self) -> std::io::Result<()> {
        if let Spool::Memory(memory) = self {
            let mut file = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
            file.write_all(memory.get_ref())?;
            file.seek(SeekFrom::Start(memory.position()))?;
            *self = Spool::File(file);
        }
        Ok(())
    }

    /// The finished part, to read back.
    fn into_reader(self) -> Result<SpoolReader> {
        Ok(match self {
            Spool::Memory(memory) => SpoolReader::Memory(memory),
            Spool::File(file) => SpoolReader::File(file.into_inner().map_err(|e| e.into_error())?),
        })
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Spool::Memory(memory) = self
            && memory.get_ref().len() + buf.len() > SPILL_AT
        {
            self.spill()?;
        }
        match self {
            Spool::Memory(memory) => memory.write(buf),
            Spool::File(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Spool::Memory(_) => Ok(()),
            Spool::File(file) => file.flush(),
        }
    }
}

impl Seek for Spool {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match self {
            Spool::Memory(memory) => memory.seek(to),
            Spool::File(file) => file.seek(to),
        }
    }
}

/// A finished part, read back to be copied into the workbook.
enum SpoolReader {
    Memory(Cursor<Vec<u8>>),
    File(File),
}

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            SpoolReader::Memory(memory) => memory.read(buf),
            SpoolReader::File(file) => file.read(buf),
        }
    }
}

impl Seek for SpoolReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match self {
            SpoolReader::Memory(memory) => memory.seek(to),
            SpoolReader::File(file) => file.seek(to),
        }
    }
}

/// `bytes` compressed as the one entry `name` of a zip, to be copied into
/// workbooks as it is.
pub(crate) fn one_entry_zip(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(name, options())?;
    zip.write_all(bytes)?;
    Ok(zip.finish()?.into_inner())
}

/// What compressing a run's parts reuses from part to part and from
/// workbook to workbook, kept by the run's template: DEFLATE compressors
/// (a fresh one allocates and clears some hundreds of KB), the byte buffers
/// a workbook's sheets, parts and file are gathered in, and the zip framing
/// of each entry. A split output's workbooks of a hundred invoices are
/// made mostly of these, over and over.
#[derive(Default)]
pub(crate) struct Reuse {
    encoders: Mutex<Vec<DeflateEncoder<Vec<u8>>>>,
    buffers: Mutex<Vec<Vec<u8>>>,
    frames: Mutex<HashMap<String, Arc<Frame>>>,
    /// Per entry: whether zip copies a one-entry zip of it as it is.
    copied_as_is: Mutex<HashMap<String, bool>>,
}

/// Buffers kept for reuse: a workbook's sheets, one part and its file, for
/// each builder thread, with room to spare.
const KEPT_BUFFERS: usize = 32;

/// A larger buffer is not kept.
const KEPT_CAPACITY: usize = STAGE_AT;

/// A one-entry zip of an entry written as [`options`] writes it, less its
/// bytes: the local header, and the central directory and its end.
struct Frame {
    local: Vec<u8>,
    central: Vec<u8>,
    end: Vec<u8>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reuse {
    /// An empty buffer, with the room a buffer given back had.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        locked(&self.buffers).pop().unwrap_or_default()
    }

    /// Keeps `buffer` for [`Reuse::buffer`] (unless it is large, or enough
    /// are kept).
    pub(crate) fn give_back(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() == 0 || buffer.capacity() > KEPT_CAPACITY {
            return;
        }
        buffer.clear();
        let mut buffers = locked(&self.buffers);
        if buffers.len() < KEPT_BUFFERS {
            buffers.push(buffer);
        }
    }

    fn text(&self) -> String {
        String::from_utf8(self.buffer()).unwrap_or_default()
    }

    /// The concatenated `pieces` compressed as the one entry `name` of a
    /// zip: the same bytes as [`one_entry_zip`] makes of them, with a
    /// compressor reused. Give the zip back when it is copied.
    pub(crate) fn one_entry_zip(&self, name: &str, pieces: &[&[u8]]) -> Result<Vec<u8>> {
        // Parts in memory, far from the 4 GB that would need ZIP64.
        let size = u32::try_from(pieces.iter().map(|p| p.len()).sum::<usize>())?;
        let frame = self.frame(name)?;
        let popped = locked(&self.encoders).pop();
        let mut encoder = match popped {
            Some(mut encoder) => {
                *encoder.get_mut() = self.buffer();
                encoder
            }
            None => DeflateEncoder::new(self.buffer(), flate2::Compression::new(LEVEL)),
        };
        encoder.get_mut().extend_from_slice(&frame.local);
        let mut crc = flate2::Crc::new();
        for piece in pieces {
            encoder.write_all(piece)?;
            crc.update(piece);
        }
        // Finishes the stream, and leaves the compressor as new.
        let mut zip = encoder.reset(Vec::new())?;
        locked(&self.encoders).push(encoder);
        let compressed = u32::try_from(zip.len() - frame.local.len())?;
        let (crc, size) = (crc.sum().to_le_bytes(), size.to_le_bytes());
        let compressed_le = compressed.to_le_bytes();
        zip[14..18].copy_from_slice(&crc);
        zip[18..22].copy_from_slice(&compressed_le);
        zip[22..26].copy_from_slice(&size);
        let central = zip.len();
        zip.extend_from_slice(&frame.central);
        zip[central + 16..central + 20].copy_from_slice(&crc);
        zip[central + 20..central + 24].copy_from_slice(&compressed_le);
        zip[central + 24..central + 28].copy_from_slice(&size);
        let end = zip.len();
        zip.extend_from_slice(&frame.end);
        zip[end + 16..end + 20].copy_from_slice(&u32::try_from(central)?.to_le_bytes());
        Ok(zip)
    }

    /// Whether zip copies `zipped`, a one-entry zip of `entry`, into a
    /// workbook as it is (the same local header and bytes, the same central
    /// directory record but for the offset): tried once per entry.
    fn copied_as_is(&self, entry: &str, zipped: &[u8]) -> Result<bool> {
        if let Some(same) = locked(&self.copied_as_is).get(entry) {
            return Ok(*same);
        }
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.raw_copy_file(ZipArchive::new(Cursor::new(zipped))?.by_index_raw(0)?)?;
        let same = zip.finish()?.into_inner() == zipped;
        locked(&self.copied_as_is).insert(entry.to_string(), same);
        Ok(same)
    }

    /// The zip framing of entry `name`, cut from a one-entry zip that zip
    /// writes with nothing in it: made once per entry.
    fn frame(&self, name: &str) -> Result<Arc<Frame>> {
        // Held while a frame is made: the builders start their first
        // workbooks together, and each frame costs a fresh compressor.
        let mut frames = locked(&self.frames);
        if let Some(frame) = frames.get(name) {
            return Ok(Arc::clone(frame));
        }
        let empty = one_entry_zip(name, &[])?;
        let u16_at = |at: usize| -> Option<usize> {
            Some(u16::from_le_bytes(empty.get(at..at + 2)?.try_into().ok()?).into())
        };
        let u32_at = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(empty.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let cut = || -> Option<Frame> {
            // No data descriptor (flag bit 3), no ZIP64 sizes, no comment.
            if !empty.starts_with(b"PK\x03\x04") || u16_at(6)? & 0x08 != 0 {
                return None;
            }
            let local = 30 + u16_at(26)? + u16_at(28)?;
            let central = local + u32_at(18)?;
            if empty.get(central..central + 4)? != b"PK\x01\x02" || u32_at(central + 42)? != 0 {
                return None;
            }
            let end = central
                + 46
                + u16_at(central + 28)?
                + u16_at(central + 30)?
                + u16_at(central + 32)?;
            if empty.get(end..end + 4)? != b"PK\x05\x06" || empty.len() != end + 22 {
                return None;
            }
            Some(Frame {
                local: empty[..local].to_vec(),
                central: empty[central..end].to_vec(),
                end: empty[end..].to_vec(),
            })
        };
        let frame =
            Arc::new(cut().ok_or_else(|| anyhow!("zip wrote {name} in an unexpected form"))?);
        frames.insert(name.to_string(), Arc::clone(&frame));
        Ok(frame)
    }
}

/// The template's parts as zip copies them into a workbook, made once per
/// run: each part's local header and compressed bytes, and its central
/// directory record. A workbook whose every changed part is in memory (a
/// split output's) is these, with its changed parts' in their place, and
/// each record given where its part starts: the bytes zip writes, without
/// copying each part through zip.
pub(crate) struct Assembly {
    bytes: Vec<u8>,
    parts: Vec<AssembledPart>,
    /// The end of central directory record.
    end: Range<usize>,
}

struct AssembledPart {
    entry: String,
    /// Local header and compressed bytes.
    local: Range<usize>,
    central: Range<usize>,
}

/// Where a central directory record gives its part's offset.
const CENTRAL_OFFSET: usize = 42;

impl Assembly {
    /// The template copied part by part by zip, cut into its parts: `None`
    /// when zip writes any of them in a form not cut here (ZIP64, a data
    /// descriptor, an extra field, a comment), and workbooks are then
    /// copied through zip.
    pub(crate) fn of(template: &[u8]) -> Result<Option<Assembly>> {
        let mut zip_in = ZipArchive::new(Cursor::new(template))?;
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..zip_in.len() {
            zip.raw_copy_file(zip_in.by_index_raw(i)?)?;
        }
        let bytes = zip.finish()?.into_inner();
        let Some((parts, end)) = zip_parts(&bytes) else {
            return Ok(None);
        };
        Ok(Some(Assembly { bytes, parts, end }))
    }

    /// Writes a workbook: the template's parts, with the filled sheets
    /// (`direct`, rows as text in memory), their tables (stretched to
    /// `last_rows`) and the styles in place of the template's.
    fn workbook<W: Write>(
        &self,
        template: &TemplatePackage,
        mut direct: Vec<(usize, SheetStream)>,
        last_rows: &[Option<u32>],
        mut out: W,
    ) -> Result<W> {
        let filled = !direct.is_empty();
        let reuse = &template.reuse;
        // Each changed part as a one-entry zip (its own, to give back, or
        // one shared by the run), or the template's.
        enum Part<'a> {
            Template(&'a AssembledPart),
            Own(Vec<u8>),
            Shared(ZippedPart),
            Styles(&'a [u8]),
        }
        let mut parts = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            let name = part.entry.as_str();
            if let Some(at) = direct.iter().position(|(_, sheet)| sheet.entry == name) {
                let (index, sheet) = direct.swap_remove(at);
                parts.push(Part::Own(sheet.zipped(template, index)?));
            } else if let Some((sheet, table)) = template.table(name)
                && let Some(last_row) = last_rows[*sheet]
            {
                parts.push(Part::Shared(template.table_zipped(name, table, last_row)?));
            } else if filled
                && let Some((entry, styles)) = template.styles_zipped()
                && entry == name
            {
                parts.push(Part::Styles(styles));
            } else {
                parts.push(Part::Template(part));
            }
        }
        if let Some((_, sheet)) = direct.first() {
            bail!("the template lists no part {}", sheet.entry);
        }
        // Each part's local header and bytes, and its central directory record.
        let mut pieces = Vec::with_capacity(parts.len());
        for part in &parts {
            pieces.push(match part {
                Part::Template(part) => (
                    &self.bytes[part.local.clone()],
                    &self.bytes[part.central.clone()],
                ),
                Part::Own(zipped) => one_entry(reuse, zipped)?,
                Part::Shared(zipped) => one_entry(reuse, zipped)?,
                Part::Styles(zipped) => one_entry(reuse, zipped)?,
            });
        }
        let mut central = reuse.buffer();
        let mut at = 0usize;
        for (local, record) in &pieces {
            let start = central.len();
            central.extend_from_slice(record);
            central[start + CENTRAL_OFFSET..start + CENTRAL_OFFSET + 4]
                .copy_from_slice(&u32::try_from(at)?.to_le_bytes());
            at += local.len();
        }
        let mut end = self.bytes[self.end.clone()].to_vec();
        end[12..16].copy_from_slice(&u32::try_from(central.len())?.to_le_bytes());
        end[16..20].copy_from_slice(&u32::try_from(at)?.to_le_bytes());
        // In one go: a workbook's file gets its parts where they lie.
        let mut slices: Vec<IoSlice> = pieces
            .iter()
            .map(|(local, _)| IoSlice::new(local))
            .chain([IoSlice::new(&central), IoSlice::new(&end)])
            .collect();
        write_all_vectored(&mut out, &mut slices)?;
        drop(slices);
        reuse.give_back(central);
        for part in parts {
            if let Part::Own(zipped) = part {
                reuse.give_back(zipped);
            }
        }
        Ok(out)
    }
}

/// `slices` written whole, in as few calls as `out` takes them.
fn write_all_vectored<W: Write>(
    out: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The one entry of `zipped` (a one-entry zip): its local header and
/// bytes, and its central directory record.
fn one_entry<'z>(reuse: &Reuse, zipped: &'z [u8]) -> Result<(&'z [u8], &'z [u8])> {
    let entry = match zip_parts(zipped) {
        Some((parts, _)) if parts.len() == 1 && reuse.copied_as_is(&parts[0].entry, zipped)? => {
            parts.into_iter().next()
        }
        _ => None,
    };
    let entry = entry.ok_or_else(|| anyhow!("a part not in the form zip copies as it is"))?;
    Ok((&zipped[entry.local], &zipped[entry.central]))
}

/// A zip's parts, cut as [`Assembly`] cuts them, and its end record:
/// `None` for a zip in another form.
fn zip_parts(bytes: &[u8]) -> Option<(Vec<AssembledPart>, Range<usize>)> {
    let u16_at = |at: usize| -> Option<usize> {
        Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?).into())
    };
    let u32_at = |at: usize| -> Option<usize> {
        let value = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        // 0xFFFFFFFF: the value is in a ZIP64 field.
        (value != u32::MAX).then_some(value as usize)
    };
    let end = bytes.len().checked_sub(22)?;
    if bytes.get(end..end + 4)? != b"PK\x05\x06" || u16_at(end + 20)? != 0 {
        return None;
    }
    let count = u16_at(end + 10)?;
    let (size, start) = (u32_at(end + 12)?, u32_at(end + 16)?);
    if start + size != end || u16_at(end + 8)? != count {
        return None;
    }
    let mut parts = Vec::with_capacity(count);
    let (mut record, mut local) = (start, 0);
    for _ in 0..count {
        if bytes.get(record..record + 4)? != b"PK\x01\x02"
            || u16_at(record + 8)? & 0x08 != 0
            || u16_at(record + 30)? + u16_at(record + 32)? != 0
            || u32_at(record + CENTRAL_OFFSET)? != local
        {
            return None;
        }
        let name_len = u16_at(record + 28)?;
        let entry = std::str::from_utf8(bytes.get(record + 46..record + 46 + name_len)?).ok()?;
        if bytes.get(local..local + 4)? != b"PK\x03\x04"
            || u16_at(local + 26)? != name_len
            || u16_at(local + 28)? != 0
        {
            return None;
        }
        let data = local + 30 + name_len;
        let next = data + u32_at(record + 20)?;
        parts.push(AssembledPart {
            entry: entry.to_string(),
            local: local..next,
            central: record..record + 46 + name_len,
        });
        record += 46 + name_len;
        local = next;
    }
    (record == end && local == start).then_some((parts, end..bytes.len()))
}

/// A whole batch as one workbook, in memory.
pub fn workbook_bytes(template: &TemplatePackage, batch: &Batch) -> Result<Vec<u8>> {
    let counts: Vec<usize> = batch.sheets.iter().map(|s| s.rows.len()).collect();
    let mut writer = WorkbookWriter::new(template, &counts)?;
    writer.append(batch)?;
    Ok(writer
        .finish(Cursor::new(Vec::new()))
        .context("writing the workbook")?
        .into_inner())
}

/// Bytes that [`escape_into`] stops at: those to escape or drop (every
/// character to escape or drop is one ASCII byte, or U+FFFE and U+FFFF,
/// which start with 0xEF).
const NOTABLE: [bool; 256] = {
    let mut notable = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        notable[byte] = !matches!(byte as u8, b'\t' | b'\n' | b'\r');
        byte += 1;
    }
    notable[b'&' as usize] = true;
    notable[b'<' as usize] = true;
    notable[b'>' as usize] = true;
    notable[0xEF] = true;
    notable
};

/// XML text escaping; characters XML 1.0 cannot carry are dropped. Runs of
/// plain text are copied whole; the text is scanned byte by byte, stopping
/// only at [`NOTABLE`] bytes.
fn escape_into(xml: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut plain = 0;
    let mut at = 0;
    loop {
        while at < bytes.len() && !NOTABLE[usize::from(bytes[at])] {
            at += 1;
        }
        let Some(&byte) = bytes.get(at) else { break };
        let (replacement, len) = match byte {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            // U+FFFE and U+FFFF: EF BF BE, EF BF BF.
            0xEF if bytes.get(at + 1) == Some(&0xBF)
                && matches!(bytes.get(at + 2), Some(0xBE | 0xBF)) =>
            {
                ("", 3)
            }
            0xEF => {
                at += 1;
                continue;
            }
            // A control character other than tab, line feed and carriage return.
            _ => ("", 1),
        };
        xml.push_str(&text[plain..at]);
        xml.push_str(replacement);
        at += len;
        plain = at;
    }
    xml.push_str(&text[plain..]);
}

/// The decimal digits of `n`, written into `digits`.
pub(crate) fn unsigned(mut n: u32, digits: &mut [u8; 10]) -> &str {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&digits[at..]).unwrap_or_default()
}

/// A decimal as plain text without trailing zeros (normalizing also makes
/// a negative zero plain `0`).
fn push_decimal(xml: &mut String, value: Decimal) {
    crate::money::push_decimal(xml, value.normalize());
}

/// Excel's serial date-time: days since 1899-12-30, the time as a fraction.
fn push_excel_serial(xml: &mut String, value: NaiveDateTime) {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default();
    let days = (value.date() - epoch).num_days();
    let seconds = value.num_seconds_from_midnight();
    if seconds == 0 {
        let _ = write!(xml, "{days}");
        return;
    }
    // A date-time is not money: a double is what Excel stores here.
    let _ = write!(xml, "{}", days as f64 + f64::from(seconds) / 86_400.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn part(bytes: &[u8], name: &str) -> String {
        let mut zip = ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut text = String::new();
        zip.by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn rows_follow_the_sample_row_and_ranges_grow_over_them() {
        let template = TemplatePackage::embedded().unwrap();
        let batch = crate::testing::batch();
        let bytes = workbook_bytes(&template, &batch).unwrap();
        let lines = part(&bytes, "xl/worksheets/sheet3.xml");
        assert!(lines.contains("<dimension ref=\"A1:M7\" />"), "{lines}");
        assert!(lines.contains("<row r=\"6\"><c r=\"B6\""));
        assert!(lines.contains("sqref=\"F5:G7 I5:K7\""));
        assert!(lines.contains("<conditionalFormatting sqref=\"B5:M7\">"));
        let table = part(&bytes, "xl/tables/table3.xml");
        assert!(table.contains("ref=\"B4:M7\""));
        assert!(table.contains("<autoFilter ref=\"B4:M7\""));
        // A sheet without rows is LHDN's, untouched.
        assert_eq!(
            part(&bytes, "xl/worksheets/sheet2.xml"),
            part(super::super::template::EMBEDDED, "xl/worksheets/sheet2.xml")
        );
    }

    #[test]
    fn tables_compressed_once_per_run_fit_each_workbook() {
        let template = TemplatePackage::embedded().unwrap();
        let one = crate::testing::batch();
        let two = {
            let mapped = crate::testing::map(
                &[
                    crate::testing::order("A-1", &[("1.00", "2", "个")], "0", "0", "2"),
                    crate::testing::order("A-2", &[("3.00", "1", "个")], "0", "0", "3"),
                ],
                &crate::testing::config(),
            );
            crate::layout::lay_out("x.xlsx", &mapped.invoices)
        };
        // Each workbook's tables end at its own last rows, whichever of
        // the run's workbooks compressed a table for that row first.
        let first = workbook_bytes(&template, &one).unwrap();
        let second = workbook_bytes(&template, &two).unwrap();
        assert!(part(&first, "xl/tables/table1.xml").contains("ref=\"B4:BW6\""));
        assert!(part(&second, "xl/tables/table1.xml").contains("ref=\"B4:BW7\""));
        assert!(part(&first, "xl/tables/table3.xml").contains("ref=\"B4:M7\""));
        assert!(part(&second, "xl/tables/table3.xml").contains("ref=\"B4:M7\""));
        // Copied in, or compressed by a run that had not: the same bytes.
        assert_eq!(workbook_bytes(&template, &one).unwrap(), first);
        let fresh = TemplatePackage::embedded().unwrap();
        assert_eq!(workbook_bytes(&fresh, &two).unwrap(), second);
        assert_eq!(workbook_bytes(&fresh, &one).unwrap(), first);
    }

    #[test]
    fn the_same_batch_gives_the_same_bytes() {
        let template = TemplatePackage::embedded().unwrap();
        let batch = crate::testing::batch();
        assert_eq!(
            workbook_bytes(&template, &batch).unwrap(),
            workbook_bytes(&template, &batch).unwrap()
        );
    }

    #[test]
    fn a_workbook_written_in_parts_is_the_workbook_written_at_once() {
        let template = TemplatePackage::embedded().unwrap();
        let mapped = crate::testing::map(
            &[
                crate::testing::order("A-1", &[("1.00", "2", "个")], "0", "0", "2"),
                crate::testing::order(
                    "A-2",
                    &[("3.00", "1", "个"), ("1", "1", "个")],
                    "0",
                    "0",
                    "4",
                ),
            ],
            &crate::testing::config(),
        );
        let mut invoices = mapped.invoices;
        // Serial numbers carry on from part to part.
        for invoice in &mut invoices {
            invoice.customs_refs = Some(format!("K1-{}", invoice.number));
            invoice.references.push(crate::model::DocumentReference {
                number: format!("{}-0", invoice.number),
                uuid: "F9D425P6DS7D8IU".into(),
            });
        }
        let whole = crate::layout::lay_out("x.xlsx", &invoices);
        let counts: Vec<usize> = whole.sheets.iter().map(|s| s.rows.len()).collect();
        assert_eq!(crate::layout::row_counts(&invoices).to_vec(), counts);
        let at_once = workbook_bytes(&template, &whole).unwrap();
        let mut writer =
            WorkbookWriter::new(&template, &crate::layout::row_counts(&invoices)).unwrap();
        for invoice in invoices.chunks(1) {
            let part = crate::layout::lay_out_after("x.xlsx", invoice, &writer.rows_written());
            writer.append(&part).unwrap();
        }
        let in_parts = writer.finish(Cursor::new(Vec::new())).unwrap().into_inner();
        assert_eq!(at_once, in_parts);
        // Nor does it matter whether the rows were counted up front.
        let mut writer = WorkbookWriter::open_ended(&template);
        for invoice in invoices.chunks(1) {
            let part = crate::layout::lay_out_after("x.xlsx", invoice, &writer.rows_written());
            writer.append(&part).unwrap();
        }
        let open_ended = writer.finish(Cursor::new(Vec::new())).unwrap().into_inner();
        assert_eq!(at_once, open_ended);
    }

    #[test]
    fn a_part_past_the_memory_limit_moves_to_a_file_and_reads_back_whole() {
        let mut part = ZipWriter::new(Spool::Memory(Cursor::new(Vec::new())));
        part.start_file("xl/worksheets/sheet1.xml", options())
            .unwrap();
        // Text that deflate cannot shrink much: a few megabytes compressed.
        let mut text = String::new();
        let mut state = 1u64;
        while text.len() < 3 * SPILL_AT {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let _ = write!(text, "{:x}", state >> 11);
        }
        for piece in text.as_bytes().chunks(10_000) {
            part.write_all(piece).unwrap();
        }
        let spool = part.finish().unwrap();
        assert!(matches!(spool, Spool::File(_)), "the part moved to a file");
        let mut zip = ZipArchive::new(spool.into_reader().unwrap()).unwrap();
        let mut back = String::new();
        zip.by_index(0).unwrap().read_to_string(&mut back).unwrap();
        assert!(back == text, "the part reads back as written");
    }

    /// `pieces` written one after another into entry `name` by zip itself.
    fn zip_writes(name: &str, pieces: &[&[u8]]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file(name, options()).unwrap();
        for piece in pieces {
            zip.write_all(piece).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn parts_compressed_with_reused_compressors_are_the_bytes_zip_writes() {
        let reuse = Reuse::default();
        // XML-like text that compresses as sheets do, a few times the
        // compressor's window and output buffer.
        let mut text = String::new();
        let mut state = 5u64;
        for row in 6..12_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let _ = write!(
                text,
                "<row r=\"{row}\"><c r=\"B{row}\" t=\"inlineStr\"><is><t>INV-{}</t></is></c>\
                 <c r=\"C{row}\"><v>{}.{:02}</v></c></row>",
                state >> 50,
                (state >> 20) % 100_000,
                state % 100
            );
        }
        let text = text.as_bytes();
        let cases: Vec<(&str, Vec<&[u8]>)> = vec![
            ("xl/worksheets/sheet1.xml", vec![]),
            ("xl/worksheets/sheet1.xml", vec![b"<worksheet/>"]),
            ("xl/tables/table1.xml", vec![&text[..500]]),
            (
                "xl/worksheets/sheet3.xml",
                vec![&text[..70_000], &text[70_000..]],
            ),
            (
                "xl/worksheets/sheet3.xml",
                vec![b"<head>", &text[..FLUSH_AT], &text[FLUSH_AT..], b"</tail>"],
            ),
            ("xl/worksheets/sheet5.xml", vec![text]),
            ("xl/worksheets/sheet1.xml", vec![&text[..3]]),
        ];
        // Twice over: compressors and buffers come back as they were.
        for _ in 0..2 {
            for (name, pieces) in &cases {
                let zipped = reuse.one_entry_zip(name, pieces).unwrap();
                assert!(
                    zipped == zip_writes(name, pieces),
                    "{name}, {} pieces",
                    pieces.len()
                );
                reuse.give_back(zipped);
            }
        }
        assert_eq!(locked(&reuse.encoders).len(), 1, "one compressor, reused");
    }

    #[test]
    fn rows_kept_as_text_move_to_a_file_past_the_memory_limit_and_read_back_whole() {
        let template = TemplatePackage::embedded().unwrap();
        let orders: Vec<_> = (0..700)
            .map(|i| {
                crate::testing::order(&format!("A-{i}"), &[("1.00", "2", "个")], "0", "0", "2")
            })
            .collect();
        let invoices = crate::testing::map(&orders, &crate::testing::config()).invoices;
        let mut writer = WorkbookWriter::open_ended(&template);
        for part in invoices.chunks(50) {
            let batch = crate::layout::lay_out_after("x.xlsx", part, &writer.rows_written());
            writer.append(&batch).unwrap();
        }
        let spilled = |writer: &WorkbookWriter| -> Vec<bool> {
            let text = |s: &SheetStream| matches!(s.part, SheetPart::Text(Some(_)));
            writer
                .sheets
                .iter()
                .map(|s| s.as_ref().is_some_and(text))
                .collect()
        };
        assert!(
            spilled(&writer)[0],
            "the Documents sheet's rows moved to a file"
        );
        assert!(
            !spilled(&writer)[2],
            "a small sheet's rows stayed in memory"
        );
        let open_ended = writer.finish(Cursor::new(Vec::new())).unwrap().into_inner();
        let whole = crate::layout::lay_out("x.xlsx", &invoices);
        let counted = workbook_bytes(&template, &whole).unwrap();
        let names: Vec<String> = ZipArchive::new(Cursor::new(&counted[..]))
            .unwrap()
            .file_names()
            .map(|name| name.unwrap().to_string())
            .collect();
        for name in &names {
            assert!(part(&open_ended, name) == part(&counted, name), "{name}");
        }
    }

    #[test]
    fn workbooks_are_assembled_from_the_parts_zip_copies() {
        let template = TemplatePackage::embedded().unwrap();
        let assembly = template
            .assembly()
            .expect("LHDN's template is cut into its parts");
        assert_eq!(
            assembly.parts.len(),
            ZipArchive::new(Cursor::new(template.bytes()))
                .unwrap()
                .len()
        );
        // A workbook without rows is the template as zip copies it.
        let empty = WorkbookWriter::open_ended(&template);
        let bytes = empty.finish(Cursor::new(Vec::new())).unwrap().into_inner();
        assert!(bytes == assembly.bytes);
        // A zip in a form not cut here is copied through zip.
        let a_zip = |comment: Option<&str>| {
            let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
            zip.start_file("a.xml", options()).unwrap();
            zip.write_all(b"<a/>").unwrap();
            if let Some(comment) = comment {
                zip.set_comment(comment).unwrap();
            }
            zip.finish().unwrap().into_inner()
        };
        assert!(zip_parts(&a_zip(None)).is_some());
        assert!(zip_parts(&a_zip(Some("a comment"))).is_none());
    }

    #[test]
    fn a_workbook_staged_in_one_vectored_write_reaches_its_file_whole() {
        let pieces: Vec<Vec<u8>> = (0..70u8)
            .map(|i| vec![i; 1000 + 977 * usize::from(i)])
            .collect();
        let whole = pieces.concat();
        for vectored in [true, false] {
            let mut staged = Staged::new(tempfile::NamedTempFile::new().unwrap(), Vec::new());
            if vectored {
                let mut slices: Vec<IoSlice> = pieces.iter().map(|p| IoSlice::new(p)).collect();
                write_all_vectored(&mut staged, &mut slices).unwrap();
            } else {
                for piece in &pieces {
                    staged.write_all(piece).unwrap();
                }
            }
            let (file, memory) = staged.into_file().unwrap();
            assert!(
                memory.is_empty() == vectored,
                "only the workbook written piece by piece waits in memory"
            );
            assert!(std::fs::read(file.path()).unwrap() == whole);
        }
    }

    #[test]
    fn rows_read_back_from_a_file_reach_the_compressor_in_the_pieces_io_copy_makes() {
        /// The bytes of each write, in order.
        #[derive(Default)]
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.push(buf.to_vec());
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for len in [
            0,
            1,
            COPY_PIECE,
            16 * COPY_PIECE,
            16 * COPY_PIECE + 1,
            3_300_001,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&bytes).unwrap();
            let mut copied = Writes::default();
            file.seek(SeekFrom::Start(0)).unwrap();
            std::io::copy(&mut file, &mut copied).unwrap();
            let mut pieces = Writes::default();
            file.seek(SeekFrom::Start(0)).unwrap();
            copy_in_pieces(&mut file, &mut pieces).unwrap();
            assert!(pieces.0 == copied.0, "{len} bytes");
        }
    }

    #[test]
    fn a_sheet_past_excels_last_row_is_refused() {
        let template = TemplatePackage::embedded().unwrap();
        let mut rows = vec![0; layout().sheets.len()];
        rows[0] = MAX_DATA_ROWS + 1;
        let error = WorkbookWriter::new(&template, &rows).err().unwrap();
        assert!(
            error.to_string().contains("more than the 1048571"),
            "{error}"
        );
        rows[0] = MAX_DATA_ROWS;
        assert!(WorkbookWriter::new(&template, &rows).is_ok());
    }

    #[test]
    fn text_is_escaped_and_stripped_of_what_xml_cannot_carry() {
        let mut xml = String::new();
        escape_into(&mut xml, "a<b & c>d\u{1}e\tf\u{FFFF}g 保温杯");
        assert_eq!(xml, "a&lt;b &amp; c&gt;de\tfg 保温杯");
        // Character by character, as XML 1.0 defines it: the same text.
        let by_char = |text: &str| -> String {
            text.chars()
                .filter_map(|c| match c {
                    '&' => Some("&amp;".to_string()),
                    '<' => Some("&lt;".to_string()),
                    '>' => Some("&gt;".to_string()),
                    '\t' | '\n' | '\r' => Some(c.to_string()),
                    c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => None,
                    c => Some(c.to_string()),
                })
                .collect()
        };
        let alphabet = [
            'a',
            ' ',
            '&',
            '<',
            '>',
            '\t',
            '\n',
            '\r',
            '\u{0}',
            '\u{1F}',
            '\u{7F}',
            'é',
            '保',
            '\u{FEFF}',
            '\u{FFFD}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{EFFF}',
            '\u{1F600}',
        ];
        let mut state = 3u64;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..(state % 12) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push(alphabet[(state >> 33) as usize % alphabet.len()]);
            }
            state = state.wrapping_add(1);
            let mut xml = String::new();
            escape_into(&mut xml, &text);
            assert_eq!(xml, by_char(&text), "{text:?}");
        }
    }

    #[test]
    fn decimals_are_written_as_their_own_text() {
        let mut values: Vec<Decimal> = [
            "0",
            "-0",
            "0.00",
            "1",
            "-1",
            "0.05",
            "-0.050",
            "123.4500",
            "1000",
            "0.0000001",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "7.9228162514264337593543950335",
            "-0.0000000000000000000000000001",
            "18446744073709551615",
            "18446744073709551616",
            "-18446744073709551617.5",
        ]
        .iter()
        .map(|text| text.parse().unwrap())
        .collect();
        let mut state = 7u64;
        for _ in 0..2000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let high = (state >> 33) as u32;
            let mid = state as u32;
            let low = (state >> 17) as u32;
            let wide = state.is_multiple_of(3);
            values.push(Decimal::from_parts(
                low,
                if wide { mid } else { 0 },
                if wide { high } else { 0 },
                state.is_multiple_of(2),
                (state >> 40) as u32 % 29,
            ));
        }
        for value in values {
            let mut text = String::new();
            push_decimal(&mut text, value);
            assert_eq!(text, value.normalize().to_string(), "{value:?}");
        }
    }

    #[test]
    fn serials_are_excels() {
        let at = NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let mut serial = String::new();
        push_excel_serial(&mut serial, at);
        assert_eq!(serial, "46352.5");
        serial.clear();
        push_excel_serial(&mut serial, at.date().and_hms_opt(0, 0, 0).unwrap());
        assert_eq!(serial, "46352");
    }
}
