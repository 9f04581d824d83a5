//! Opening a spreadsheet (xlsx, xls or CSV) as a grid of cells, with the real
//! spreadsheet row numbers, and turning cells into text, amounts and dates.

use anyhow::{Context, Result, bail};
use calamine::{Data, DataRef, DataType, Range, Reader, Sheets, Xlsx, open_workbook_auto_from_rs};
use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::io::Cursor;
use std::path::Path;

use crate::money::{self, AmountError};

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Xlsx,
    Xls,
    /// A Compound File that is not a BIFF workbook: Excel stores a
    /// password-protected xlsx this way.
    EncryptedOoxml,
    Csv,
}

/// One sheet of a file: its rows, each with its real row number.
pub struct Grid {
    pub file: String,
    /// `None` for CSV, which has no sheets.
    pub sheet: Option<String>,
    pub rows: Vec<GridRow>,
}

/// A row as the file has it: cells by column (0 = A); blank rows are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct GridRow {
    /// 1-based, as Excel shows it.
    pub number: u32,
    pub cells: Vec<Data>,
}

impl Grid {
    pub fn from_range(file: String, sheet: Option<String>, range: &Range<Data>) -> Grid {
        let start = range.start().map(|(row, _)| row).unwrap_or(0);
        let first_col = range.start().map(|(_, col)| col as usize).unwrap_or(0);
        let rows = range
            .rows()
            .enumerate()
            .map(|(index, cells)| {
                let mut row = vec![Data::Empty; first_col];
                row.extend(cells.iter().cloned());
                GridRow {
                    number: start + index as u32 + 1,
                    cells: row,
                }
            })
            .collect();
        Grid { file, sheet, rows }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(|row| row.cells.iter().all(is_blank))
    }
}

/// Chooses, from the first rows of a sheet, the columns worth keeping
/// (`Some(mask)`), or not yet (`None`); an error stops the reading.
pub type ColumnSelector<'a> = &'a dyn Fn(&[GridRow]) -> Result<Option<Vec<bool>>>;

/// Reads a whole file into memory and tells what it is.
pub fn read_file(path: &Path) -> Result<(Vec<u8>, FileKind)> {
    let shown = path.display();
    if path.is_dir() {
        bail!("{shown}: is a folder, not a file; give the path of the exported spreadsheet");
    }
    let bytes = std::fs::read(path).with_context(|| {
        format!("{shown}: cannot be read; check that the path is right and the file is not open elsewhere")
    })?;
    let kind = if bytes.starts_with(b"PK\x03\x04") {
        FileKind::Xlsx
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        if contains(&bytes, &utf16("EncryptionInfo")) {
            FileKind::EncryptedOoxml
        } else {
            FileKind::Xls
        }
    } else if has_extension(path, "csv") || has_extension(path, "txt") {
        FileKind::Csv
    } else {
        bail!(
            "{shown}: not a spreadsheet (expected an .xlsx or .xls workbook, or a .csv file); \
             export the orders again from 1688 (我的订单 → 导出)"
        );
    };
    Ok((bytes, kind))
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Opens a workbook from its bytes.
pub fn open_workbook(
    path: &Path,
    bytes: Vec<u8>,
    kind: FileKind,
) -> Result<Sheets<Cursor<Vec<u8>>>> {
    let shown = path.display();
    match kind {
        FileKind::EncryptedOoxml => bail!(
            "{shown}: the workbook is password-protected; open it in Excel, remove the password \
             (File → Info → Protect Workbook) and save it again"
        ),
        FileKind::Csv => bail!("{shown}: is a CSV file, not a workbook"),
        FileKind::Xlsx | FileKind::Xls => open_workbook_auto_from_rs(Cursor::new(bytes))
            .with_context(|| {
                format!(
                    "{shown}: not a readable {} workbook (truncated or damaged?); download or save it again",
                    if kind == FileKind::Xlsx { "xlsx" } else { "xls" }
                )
            }),
    }
}

/// Reads a named sheet of an open workbook.
pub fn sheet_range(
    path: &Path,
    workbook: &mut Sheets<Cursor<Vec<u8>>>,
    name: &str,
) -> Result<Range<Data>> {
    workbook.worksheet_range(name).with_context(|| {
        format!(
            "{}: sheet {name} cannot be read (damaged workbook?); save it again from Excel",
            path.display()
        )
    })
}

/// Opens the first sheet of a workbook, or a CSV file, as a grid. An xlsx
/// sheet is streamed, and once `select` has chosen columns from its first
/// rows only those are kept: a month of 1688 orders has 49 columns, of which
/// selfbill reads 15.
pub fn open_first_sheet(
    path: &Path,
    select: ColumnSelector<'_>,
    encoding: Option<TextEncoding>,
) -> Result<Grid> {
    let (bytes, kind) = read_file(path)?;
    let file = path.display().to_string();
    match kind {
        FileKind::Csv => csv_grid(path, &bytes, encoding),
        FileKind::Xlsx => stream_xlsx(path, bytes, select),
        FileKind::Xls | FileKind::EncryptedOoxml => {
            let mut workbook = open_workbook(path, bytes, kind)?;
            let Some(name) = workbook.sheet_names().first().cloned() else {
                bail!("{file}: the workbook has no sheets; export the orders again");
            };
            let range = sheet_range(path, &mut workbook, &name)?;
            Ok(Grid::from_range(file, Some(name), &range))
        }
    }
}

fn stream_xlsx(path: &Path, bytes: Vec<u8>, select: ColumnSelector<'_>) -> Result<Grid> {
    let file = path.display().to_string();
    let book = super::xlsx::Workbook::open(&bytes).ok();
    with_fallback(book.as_ref(), |engine| {
        let mut rows: Vec<GridRow> = Vec::new();
        let keep: RefCell<Option<Vec<bool>>> = RefCell::new(None);
        let wanted = |c: usize| {
            keep.borrow()
                .as_ref()
                .is_none_or(|mask| mask.get(c).copied().unwrap_or(false))
        };
        let name = for_each_xlsx_row(engine, path, &bytes, None, &wanted, &mut |row| {
            let decided = keep.borrow().is_some();
            rows.push(row);
            if !decided && let Some(mask) = select(&rows).map_err(Stop::Caller)? {
                for row in rows.iter_mut() {
                    apply_mask(row, &mask);
                }
                *keep.borrow_mut() = Some(mask);
            }
            Ok(())
        })?;
        Ok(Grid {
            file: file.clone(),
            sheet: Some(name),
            rows,
        })
    })
}

/// How an xlsx sheet is read: selfbill's own scanner (with the workbook's
/// shared parts, read once), or calamine where the scanner does not
/// understand a file.
#[derive(Clone, Copy)]
pub enum XlsxEngine<'b> {
    Scanner(&'b super::xlsx::Workbook),
    Calamine,
}

/// Why reading a sheet stopped: the file (the other engine may read it), or
/// the caller, whose error stands.
#[derive(Debug)]
pub enum Stop {
    File(anyhow::Error),
    Caller(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(error: anyhow::Error) -> Self {
        Stop::File(error)
    }
}

/// Runs a read with the scanner when it could open the workbook, and with
/// calamine when it could not, or could not read the sheet.
pub fn with_fallback<T>(
    book: Option<&super::xlsx::Workbook>,
    mut read: impl FnMut(XlsxEngine<'_>) -> Result<T, Stop>,
) -> Result<T> {
    let scanned = match book {
        Some(book) => read(XlsxEngine::Scanner(book)),
        None => Err(Stop::File(anyhow::anyhow!("not for the scanner"))),
    };
    match scanned {
        Ok(value) => Ok(value),
        Err(Stop::Caller(error)) => Err(error),
        Err(Stop::File(_)) => read(XlsxEngine::Calamine).map_err(|stop| match stop {
            Stop::File(error) | Stop::Caller(error) => error,
        }),
    }
}

/// The sheet names of an xlsx workbook, in order: from the scanner's
/// workbook when it has one, else from calamine.
pub fn xlsx_sheet_names(
    path: &Path,
    bytes: &[u8],
    book: Option<&super::xlsx::Workbook>,
) -> Result<Vec<String>> {
    if let Some(book) = book {
        return Ok(book.sheet_names());
    }
    let workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).with_context(|| damaged_xlsx(path))?;
    Ok(workbook.sheet_names())
}

fn damaged_xlsx(path: &Path) -> String {
    format!(
        "{}: not a readable xlsx workbook (truncated or damaged?); download or save it again",
        path.display()
    )
}

/// Streams the rows of one xlsx sheet (`None`: the first), in order, without
/// building the whole sheet in memory; only the columns `wanted` are kept.
/// Blank rows are not reported. Returns the sheet's name.
pub fn for_each_xlsx_row(
    engine: XlsxEngine<'_>,
    path: &Path,
    bytes: &[u8],
    sheet: Option<&str>,
    wanted: &dyn Fn(usize) -> bool,
    each: &mut dyn FnMut(GridRow) -> Result<(), Stop>,
) -> Result<String, Stop> {
    if let XlsxEngine::Scanner(book) = engine {
        let name = match sheet {
            Some(name) => name.to_string(),
            None => book
                .sheet_names()
                .first()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no sheets"))?,
        };
        book.for_each_row(bytes, &name, wanted, each)?;
        return Ok(name);
    }
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).with_context(|| damaged_xlsx(path))?;
    let name = match sheet {
        Some(name) => name.to_string(),
        None => match workbook.sheet_names().first() {
            Some(first) => first.clone(),
            None => {
                return Err(Stop::Caller(anyhow::anyhow!(
                    "{}: the workbook has no sheets; export the orders again",
                    path.display()
                )));
            }
        },
    };
    let mut reader = workbook
        .worksheet_cells_reader(&name)
        .with_context(|| damaged_xlsx(path))?;
    let mut current: Option<GridRow> = None;
    let mut width = 0;
    while let Some(cell) = reader.next_cell().with_context(|| damaged_xlsx(path))? {
        let (r, c) = cell.get_position();
        let c = c as usize;
        let value = cell.get_value();
        if matches!(value, DataRef::Empty) || !wanted(c) {
            continue;
        }
        if current.as_ref().is_some_and(|row| row.number != r + 1)
            && let Some(row) = current.take()
        {
            // Rows are alike: size the next one as this one.
            width = row.cells.len();
            each(row)?;
        }
        let row = current.get_or_insert_with(|| GridRow {
            number: r + 1,
            cells: Vec::with_capacity(width.max(c + 1)),
        });
        if row.cells.len() <= c {
            row.cells.resize(c + 1, Data::Empty);
        }
        row.cells[c] = Data::from(value.clone());
    }
    if let Some(row) = current.take() {
        each(row)?;
    }
    Ok(name)
}

fn apply_mask(row: &mut GridRow, mask: &[bool]) {
    let last = mask.iter().rposition(|k| *k).map(|i| i + 1).unwrap_or(0);
    row.cells.truncate(last);
    for (cell, keep) in row.cells.iter_mut().zip(mask) {
        if !keep {
            *cell = Data::Empty;
        }
    }
}

/// How a CSV file's bytes are text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Gb18030,
}

/// A CSV file as rows of text cells, each row numbered by the line it starts
/// on. The encoding is detected (UTF-8 with or without BOM, else GB18030,
/// which Excel on Chinese Windows writes for "CSV") unless given.
pub fn csv_grid(path: &Path, bytes: &[u8], encoding: Option<TextEncoding>) -> Result<Grid> {
    let text = match encoding {
        None => decode_text(bytes),
        Some(TextEncoding::Utf8) => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            std::str::from_utf8(bytes)
                .with_context(|| {
                    format!("{}: not UTF-8 text; try --encoding gb18030", path.display())
                })?
                .to_owned()
        }
        Some(TextEncoding::Gb18030) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as u32;
        let more = reader.read_record(&mut record).with_context(|| {
            format!(
                "{}: line {line}: not readable as CSV; save it again from Excel as CSV UTF-8",
                path.display()
            )
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(line, |p| p.line() as u32);
        rows.push(GridRow {
            number: line,
            cells: record
                .iter()
                .map(|v| {
                    if v.is_empty() {
                        Data::Empty
                    } else {
                        Data::String(v.to_owned())
                    }
                })
                .collect(),
        });
    }
    Ok(Grid {
        file: path.display().to_string(),
        sheet: None,
        rows,
    })
}

/// Decodes CSV bytes: UTF-8 with or without BOM, else GB18030.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    }
}

pub fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A cell as text for messages and text fields. Numbers print in their
/// shortest form; dates as `yyyy-mm-dd hh:mm:ss`.
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => excel_datetime(dt)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| dt.as_f64().to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Why a cell could not be read as what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellProblem {
    Empty,
    Scientific,
    NotANumber,
    TooLarge,
    NotADate,
}

pub fn cell_amount(cell: &Data) -> Result<Decimal, CellProblem> {
    match cell {
        Data::Float(f) => money::from_cell_number(*f).ok_or(if f.is_finite() {
            CellProblem::TooLarge
        } else {
            CellProblem::NotANumber
        }),
        Data::Int(i) => money::from_cell_number(*i as f64).ok_or(CellProblem::TooLarge),
        Data::String(s) => money::parse_amount(s).map_err(|e| match e {
            AmountError::Empty => CellProblem::Empty,
            AmountError::Scientific => CellProblem::Scientific,
            AmountError::NotANumber => CellProblem::NotANumber,
            AmountError::TooLarge => CellProblem::TooLarge,
        }),
        Data::Empty => Err(CellProblem::Empty),
        _ => Err(CellProblem::NotANumber),
    }
}

const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
];

pub fn parse_date_text(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    for format in DATE_FORMATS {
        if let Ok(value) = NaiveDateTime::parse_from_str(text, format) {
            return Some(value);
        }
    }
    for format in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(date) = NaiveDate::parse_from_str(text, format) {
            return date.and_hms_opt(0, 0, 0);
        }
    }
    None
}

/// The last day Excel can show, 9999-12-31, as a serial number.
const LAST_EXCEL_SERIAL: f64 = 2_958_465.999_99;

/// A date cell's date-time, when its serial is one Excel can show (a
/// corrupt serial would overflow the date arithmetic).
pub fn excel_datetime(value: &calamine::ExcelDateTime) -> Option<NaiveDateTime> {
    let serial = value.as_f64();
    if !(0.0..=LAST_EXCEL_SERIAL).contains(&serial) {
        return None;
    }
    value.as_datetime()
}

/// A plain number read as an Excel serial date-time, within Excel's range.
fn excel_serial(serial: f64) -> Option<NaiveDateTime> {
    if !(0.0..=LAST_EXCEL_SERIAL).contains(&serial) {
        return None;
    }
    Data::Float(serial).as_datetime()
}

/// A date-time cell: a date cell, an Excel serial number, or text.
pub fn cell_datetime(cell: &Data) -> Result<NaiveDateTime, CellProblem> {
    match cell {
        Data::Empty => Err(CellProblem::Empty),
        Data::String(s) if s.trim().is_empty() => Err(CellProblem::Empty),
        Data::String(s) | Data::DateTimeIso(s) => parse_date_text(s).ok_or(CellProblem::NotADate),
        Data::DateTime(dt) => excel_datetime(dt).ok_or(CellProblem::NotADate),
        Data::Float(f) => excel_serial(*f)
            .filter(|d| d.date() > NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default())
            .ok_or(CellProblem::NotADate),
        Data::Int(i) => excel_serial(*i as f64)
            .filter(|d| d.date() > NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default())
            .ok_or(CellProblem::NotADate),
        _ => Err(CellProblem::NotADate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dates_in_every_shape_1688_uses() {
        let expected = NaiveDate::from_ymd_opt(2024, 10, 10)
            .unwrap()
            .and_hms_opt(9, 17, 5)
            .unwrap();
        assert_eq!(
            cell_datetime(&Data::String("2024-10-10 09:17:05".into())),
            Ok(expected)
        );
        assert_eq!(
            cell_datetime(&Data::String("2024/10/10 9:17".into())).unwrap(),
            expected.date().and_hms_opt(9, 17, 0).unwrap()
        );
        // 2024-10-10 09:17:05 as an Excel serial number.
        let serial = 45575.0 + (9.0 * 3600.0 + 17.0 * 60.0 + 5.0) / 86400.0;
        assert_eq!(cell_datetime(&Data::Float(serial)), Ok(expected));
        assert_eq!(
            cell_datetime(&Data::String("soon".into())),
            Err(CellProblem::NotADate)
        );
        assert_eq!(cell_datetime(&Data::Empty), Err(CellProblem::Empty));
        // Found by the property tests: serials past Excel's last day overflowed chrono.
        assert_eq!(
            cell_datetime(&Data::Float(1e300)),
            Err(CellProblem::NotADate)
        );
        assert_eq!(
            cell_datetime(&Data::Float(-5.0)),
            Err(CellProblem::NotADate)
        );
        let huge = calamine::ExcelDateTime::new(1e18, calamine::ExcelDateTimeType::DateTime, false);
        assert_eq!(
            cell_datetime(&Data::DateTime(huge)),
            Err(CellProblem::NotADate)
        );
    }

    #[test]
    fn decodes_utf8_with_bom_and_gb18030() {
        assert_eq!(decode_text("\u{feff}订单编号".as_bytes()), "订单编号");
        let (gbk, _, _) = encoding_rs::GB18030.encode("订单编号,实付款(元)");
        assert_eq!(decode_text(&gbk), "订单编号,实付款(元)");
    }

    #[test]
    fn amounts_from_number_and_text_cells() {
        assert_eq!(
            cell_amount(&Data::Float(0.125)).unwrap().to_string(),
            "0.125"
        );
        assert_eq!(cell_amount(&Data::Int(40)).unwrap().to_string(), "40");
        assert_eq!(
            cell_amount(&Data::String("1,234.50".into()))
                .unwrap()
                .to_string(),
            "1234.50"
        );
        assert_eq!(
            cell_amount(&Data::String("1E3".into())),
            Err(CellProblem::Scientific)
        );
        assert_eq!(cell_amount(&Data::Bool(true)), Err(CellProblem::NotANumber));
    }
}
