//! LHDN's batch-upload workbook as data: the template's 11 sheets (embedded
//! from LHDN's own workbook), and a `Batch` of data rows in that layout. Both
//! `convert` (laid out from invoices by [`crate::layout`]) and `check` (read
//! from files) produce a `Batch`; the rule engine checks it and the writers
//! write it.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::OnceLock;

use crate::model::Location;

/// First data row (1-based, as Excel shows it); rows 1–5 are LHDN's.
pub const FIRST_DATA_ROW: u32 = 6;
/// The row holding the machine header names.
pub const HEADER_ROW: u32 = 4;

/// Columns LHDN added in the newer template; a workbook made from the older
/// copy lacks them and is still LHDN's layout.
pub const ADDED_IN_NEWER_TEMPLATE: [(&str, &str); 1] = [("LineItemsTaxes", "TaxableAmount")];

/// The template's visible sheets in LHDN's order (the newer copy's).
pub mod sheets {
    pub const DOCUMENTS: usize = 0;
    pub const DOCUMENT_REFERENCES: usize = 1;
    pub const LINE_ITEMS: usize = 2;
    pub const LINE_ADD_CLASSIFICATIONS: usize = 3;
    pub const LINE_TAXES: usize = 4;
    pub const DOCUMENT_TOTAL_TAX: usize = 5;
    pub const LINE_DISCOUNTS: usize = 6;
    pub const DOCUMENT_DISCOUNTS: usize = 7;
    pub const LINE_CHARGES: usize = 8;
    pub const DOCUMENT_CHARGES: usize = 9;
    pub const CUSTOMS_FORMS: usize = 10;
    /// The number of sheets.
    pub const COUNT: usize = 11;
}

#[derive(Debug, Deserialize)]
pub struct Template {
    pub sheets: Vec<SheetTemplate>,
}

#[derive(Debug, Deserialize)]
pub struct SheetTemplate {
    pub name: String,
    pub table: String,
    pub table_style: Option<String>,
    /// Row-4 headers from column B, exactly as LHDN spells them (two carry a trailing space).
    pub headers: Vec<String>,
    /// Row-5 number format of each data column.
    pub data_formats: Vec<String>,
    pub widths: Vec<Option<f64>>,
    /// Rows 1–5, every non-empty cell from column A.
    pub rows: Vec<Vec<TemplateCell>>,
    /// Trimmed header → data column index, filled once after loading.
    #[serde(skip)]
    index: FxHashMap<String, usize>,
}

#[derive(Debug, Deserialize)]
pub struct TemplateCell {
    /// 0-based column (0 = A).
    pub col: u16,
    pub format: String,
    pub kind: TemplateCellKind,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateCellKind {
    Text,
    Number,
    Datetime,
    Formula,
}

impl SheetTemplate {
    /// Data column index of a header, compared trimmed.
    pub fn column(&self, header: &str) -> Option<usize> {
        self.index.get(trim(header)).copied()
    }

    /// Row-1 requirement text of data column `index`.
    pub fn requirement(&self, index: usize) -> &str {
        self.template_text(0, index)
    }

    /// Row-2 maximum length of data column `index`, when it is a number of characters.
    pub fn max_length(&self, index: usize) -> Option<usize> {
        let cell = self.rows[1].iter().find(|c| c.col as usize == index + 1)?;
        match cell.kind {
            TemplateCellKind::Number => cell.value.parse::<f64>().ok().map(|n| n as usize),
            _ => None,
        }
    }

    /// Row-2 type text ("Decimal", "Number", "15/Decimal") of data column `index`.
    pub fn length_or_type(&self, index: usize) -> &str {
        self.template_text(1, index)
    }

    fn template_text(&self, row: usize, index: usize) -> &str {
        self.rows[row]
            .iter()
            .find(|c| c.col as usize == index + 1)
            .map(|c| c.value.as_str())
            .unwrap_or("")
    }
}

/// LHDN's template, parsed once from the embedded JSON.
pub fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let mut template: Template =
            serde_json::from_str(include_str!("../assets/lhdn-template.json"))
                .expect("embedded template JSON is valid (checked by tests)");
        for sheet in &mut template.sheets {
            sheet.index = sheet
                .headers
                .iter()
                .enumerate()
                .map(|(i, h)| (h.trim().to_string(), i))
                .collect();
        }
        template
    })
}

/// One cell of a data row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cell {
    #[default]
    Empty,
    Text(String),
    Number(Decimal),
    DateTime(NaiveDateTime),
}

impl Cell {
    pub fn text(value: impl Into<String>) -> Cell {
        let value = value.into();
        if value.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(value)
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => trim(s).is_empty(),
            _ => false,
        }
    }

    /// The cell as text: numbers in plain decimal notation, date-times as
    /// LHDN's `yyyy-MM-ddTHH:mm:ssZ`.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(s) => Cow::Borrowed(s),
            Cell::Number(n) => Cow::Owned(n.to_string()),
            Cell::DateTime(d) => Cow::Owned(utc_stamp(*d)),
        }
    }
}

/// `text.trim()`, without its search when the text starts and ends with a
/// visible ASCII character (as nearly every cell and header does).
pub fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// A date-time as LHDN writes it, `yyyy-MM-ddTHH:mm:ssZ`: by hand, as
/// chrono's `%Y-%m-%dT%H:%M:%SZ` would (which parses its format string on
/// every call), and through chrono where a year has other than four digits
/// or the time is a leap second.
pub fn utc_stamp(at: NaiveDateTime) -> String {
    let mut text = String::with_capacity(20);
    if crate::model::push_seconds(&mut text, at, b'T') {
        text.push('Z');
        text
    } else {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

/// A data row with its real row number, and for converted invoices the
/// export row it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRow {
    pub row: u32,
    /// One cell per template data column (B onwards), in template order.
    pub cells: Vec<Cell>,
    pub origin: Option<Origin>,
}

/// Where a converted invoice's row came from: the invoice (by its place
/// among the invoices laid out), and the export row, whose file and sheet
/// are the invoice's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub invoice: u32,
    pub row: Option<u32>,
}

impl Origin {
    /// The export place: the invoice's file and sheet, at the row.
    pub fn location(&self, source: &Location) -> Location {
        Location {
            file: source.file.clone(),
            sheet: source.sheet.clone(),
            row: self.row,
        }
    }
}

impl DataRow {
    pub fn get(&self, column: usize) -> &Cell {
        self.cells.get(column).unwrap_or(&Cell::Empty)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SheetData {
    pub rows: Vec<DataRow>,
    /// False when a file lacked the sheet.
    pub present: bool,
    /// Template columns the file lacked (their cells are empty).
    pub missing_columns: Vec<usize>,
}

/// The content of one batch-upload workbook (or CSV folder).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Where it was read from, or the file it will be written to.
    pub file: String,
    /// In template order; see [`sheets`].
    pub sheets: Vec<SheetData>,
}

impl Batch {
    pub fn empty(file: impl Into<String>) -> Batch {
        Batch {
            file: file.into(),
            sheets: template()
                .sheets
                .iter()
                .map(|_| SheetData {
                    rows: Vec::new(),
                    present: true,
                    missing_columns: Vec::new(),
                })
                .collect(),
        }
    }

    /// A data row's cells for `sheet`, every one empty.
    pub fn blank(sheet: usize) -> Vec<Cell> {
        let mut cells = Vec::new();
        cells.resize_with(template().sheets[sheet].headers.len(), Cell::default);
        cells
    }

    /// Appends a data row of `cells` (one per column of the sheet) to `sheet`.
    pub fn push(&mut self, sheet: usize, cells: Vec<Cell>, origin: Origin) {
        let data = &mut self.sheets[sheet];
        let row = FIRST_DATA_ROW + data.rows.len() as u32;
        data.rows.push(DataRow {
            row,
            cells,
            origin: Some(origin),
        });
    }

    /// Number of invoices (Documents rows).
    pub fn invoice_count(&self) -> usize {
        self.sheets[sheets::DOCUMENTS].rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_is_strs() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{3000}a",
            "a\u{3000}",
            "保温杯",
            "\ta\n",
            "a b",
            "a\u{A0}",
            "\u{85}x",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn date_times_read_as_chrono_writes_them() {
        let stamps = [
            "2026-11-26T00:00:00",
            "2026-01-05T09:07:03",
            "0001-02-03T04:05:06",
            "9999-12-31T23:59:59",
            "2024-02-29T12:30:59.999",
        ];
        let mut times: Vec<NaiveDateTime> = stamps.iter().map(|t| t.parse().unwrap()).collect();
        let far = chrono::NaiveDate::from_ymd_opt(12345, 6, 7).unwrap();
        times.push(far.and_hms_opt(1, 2, 3).unwrap());
        let before = chrono::NaiveDate::from_ymd_opt(-44, 3, 15).unwrap();
        times.push(before.and_hms_opt(0, 0, 0).unwrap());
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31).unwrap();
        times.push(leap.and_hms_milli_opt(23, 59, 59, 1_500).unwrap());
        for at in times {
            assert_eq!(
                utc_stamp(at),
                at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "{at:?}"
            );
        }
    }

    #[test]
    fn template_has_lhdns_eleven_sheets_in_order() {
        let names: Vec<&str> = template().sheets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), sheets::COUNT);
        assert_eq!(
            names,
            [
                "Documents",
                "DocumentReferences",
                "DocumentLineItems",
                "LineItemsAddClassifications",
                "LineItemsTaxes",
                "DocumentTotalTax",
                "LineItemsDiscounts",
                "DocumentDiscounts",
                "LineItemsCharges",
                "DocumentCharges",
                "ReferenceNumberCustomsForms",
            ]
        );
        let documents = &template().sheets[sheets::DOCUMENTS];
        assert_eq!(documents.headers.len(), 74);
        assert!(documents.headers.contains(&"PaymentMode ".to_string()));
        assert_eq!(
            documents.column("PaymentMode"),
            documents.column("PaymentMode ")
        );
        assert_eq!(
            documents.max_length(documents.column("Supplier.TIN").unwrap()),
            Some(14)
        );
        assert_eq!(documents.requirement(0), "Mandatory");
    }
}
