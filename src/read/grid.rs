//! A sheet as rows of cells, with the real row numbers, and what a cell
//! says: text, an amount, a date.

use anyhow::Result;
use calamine::{Data, DataType};
use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

use crate::money::{self, AmountError};

/// One sheet of a file: its rows, each with its real row number.
pub struct Grid {
    pub file: String,
    /// `None` for CSV, which has no sheets.
    pub sheet: Option<String>,
    pub rows: Vec<GridRow>,
    /// Rows with a cell past the header's width (see `sheet::ColumnPlan`):
    /// in a CSV file, rows not saved as one table.
    pub ragged: Vec<u32>,
}

/// A row as the file has it: its cells by column, or by the slot a reader
/// kept them in (see `sheet::ColumnPlan`). Blank rows are not kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GridRow {
    /// 1-based: the row Excel shows, or the line a text editor shows.
    pub number: u32,
    pub cells: Vec<Data>,
    /// One past the file column of the row's last non-blank cell, kept or not.
    pub width: usize,
    /// The formulas of the row's cells, by file column (0 = A), when the
    /// reader was asked for them.
    pub formulas: Vec<(usize, String)>,
}

impl Grid {
    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(|row| row.cells.iter().all(is_blank))
    }
}

/// Where a reader hands the rows it reads: which cells to keep, where, and
/// what to do with each row.
pub trait RowSink {
    /// The slot in [`GridRow::cells`] for a cell of file column `col` (0 =
    /// A), or `None` to drop the cell. Asked again for every row.
    fn slot(&self, col: usize) -> Option<usize>;
    /// A row with at least one kept cell (or formula), in file order.
    fn row(&mut self, row: GridRow) -> Result<()>;
}

/// Excel's name of a 0-based column: 0 → A, 26 → AA.
pub fn column_letters(col: usize) -> String {
    let mut letters = Vec::new();
    let mut n = col + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// `B7`: the reference of a 1-based row and a 0-based column.
pub fn cell_reference(row: u32, col: usize) -> String {
    format!("{}{row}", column_letters(col))
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
    if let Some(value) = common_date_time(text) {
        return Some(value);
    }
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

/// `2024-10-10 09:17:05`, as 1688 writes its times, read without the
/// formatting machinery when it is a real date and time: what the first of
/// [`DATE_FORMATS`] reads it as. Anything else (a leap second, which that
/// format reads, too) is left to the formats.
fn common_date_time(text: &str) -> Option<NaiveDateTime> {
    crate::model::parse_seconds(text.as_bytes(), b' ')
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

    /// What `parse_date_text` made before its shortcut.
    fn through_formats(text: &str) -> Option<NaiveDateTime> {
        let text = text.trim();
        DATE_FORMATS
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .or_else(|| {
                ["%Y-%m-%d", "%Y/%m/%d"]
                    .iter()
                    .find_map(|format| NaiveDate::parse_from_str(text, format).ok())
                    .and_then(|date| date.and_hms_opt(0, 0, 0))
            })
    }

    #[test]
    fn a_date_time_as_1688_writes_it_reads_as_the_formats_read_it() {
        for text in [
            "2024-10-10 09:17:05",
            " 2024-10-10 09:17:05 ",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59",
            "2024-02-29 12:00:00",
            "2023-02-29 12:00:00",
            "2024-13-01 00:00:00",
            "2024-00-10 00:00:00",
            "2024-10-32 00:00:00",
            "2024-10-10 24:00:00",
            "2024-10-10 23:60:00",
            "2024-10-10 23:59:60",
            "2024-10-10 23:59:61",
            "2024-10-10T09:17:05",
            "2024/10/10 09:17:05",
            "2024-10-10 9:17:05 ",
            "2024-10-10 09:17:0x",
            "+024-10-10 09:17:05",
            "2024-10-1009:17:05 ",
            "２０２４-10-10 09:17",
        ] {
            assert_eq!(parse_date_text(text), through_formats(text), "{text:?}");
        }
        assert!(common_date_time("2024-10-10 09:17:05").is_some());
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_date_time_text_reads_as_the_formats_read_it(
                parts in (0u32..10_100, 0u32..14, 0u32..33, 0u32..26, 0u32..62, 0u32..62),
                noise in prop::sample::select(vec!["", " ", "x", "-", ":", "0"]),
                at in 0usize..20,
            ) {
                let (y, mo, d, h, mi, s) = parts;
                let mut text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
                if !noise.is_empty() && at < text.len() {
                    text.replace_range(at..at + 1, noise);
                }
                prop_assert_eq!(parse_date_text(&text), through_formats(&text), "{:?}", text);
            }
        }
    }

    #[test]
    fn names_columns_and_cells_as_excel_does() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(48), "AW");
        assert_eq!(column_letters(16_383), "XFD");
        assert_eq!(cell_reference(65_536, 255), "IV65536");
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
