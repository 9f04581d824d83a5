//! LHDN's batch-upload workbook as data: the template's 11 sheets (embedded
//! from LHDN's own workbook), and a `Batch` of data rows in that layout. Both
//! `convert` (from invoices) and `check` (from files) produce a `Batch`; the
//! rule engine checks it and the writers write it.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::OnceLock;

use crate::model::Location;
use crate::model::{Invoice, Party};

/// First data row (1-based, as Excel shows it); rows 1–5 are LHDN's.
pub const FIRST_DATA_ROW: u32 = 6;
/// The row holding the machine header names.
pub const HEADER_ROW: u32 = 4;

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
        self.index.get(header.trim()).copied()
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
            Cell::Text(s) => s.trim().is_empty(),
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
            Cell::DateTime(d) => Cow::Owned(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        }
    }
}

/// A data row with its real row number, and for converted invoices the
/// export row it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRow {
    pub row: u32,
    /// One cell per template data column (B onwards), in template order.
    pub cells: Vec<Cell>,
    pub origin: Option<Location>,
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

    /// LHDN's sheets for these invoices.
    pub fn from_invoices(file: impl Into<String>, invoices: &[Invoice]) -> Batch {
        let mut batch = Batch::empty(file);
        for invoice in invoices {
            batch.add_invoice(invoice);
        }
        batch
    }

    fn push(&mut self, sheet: usize, values: &[(&str, Cell)], origin: &Location) {
        let schema = &template().sheets[sheet];
        let mut cells = vec![Cell::Empty; schema.headers.len()];
        for (header, cell) in values {
            let index = schema
                .column(header)
                .unwrap_or_else(|| panic!("{header} is a column of {}", schema.name));
            cells[index] = cell.clone();
        }
        let data = &mut self.sheets[sheet];
        let row = FIRST_DATA_ROW + data.rows.len() as u32;
        data.rows.push(DataRow {
            row,
            cells,
            origin: Some(origin.clone()),
        });
    }

    fn add_invoice(&mut self, invoice: &Invoice) {
        use sheets::*;
        let number = || Cell::text(&invoice.number);
        let money = |d: Decimal| Cell::Number(d);
        let origin = &invoice.source;
        let mut document = vec![
            ("eInvoiceNumber", number()),
            ("eInvoiceTypeCode", Cell::text(&invoice.type_code)),
            ("eInvoiceVersion", Cell::text(&invoice.version)),
            ("IssuanceDateTime", Cell::DateTime(invoice.issued_at)),
            ("CurrencyCode", Cell::text(&invoice.currency)),
            (
                "CurrencyExchangeRate",
                invoice.exchange_rate.map(Cell::Number).unwrap_or_default(),
            ),
        ];
        party_cells(&mut document, "Supplier", &invoice.supplier);
        party_cells(&mut document, "Buyer", &invoice.buyer);
        let totals = &invoice.totals;
        document.extend([
            ("TotalExcludingTax", money(totals.excluding_tax)),
            ("TotalIncludingTax", money(totals.including_tax)),
            ("TotalPayableAmount", money(totals.payable)),
            ("TotalNetAmount", money(totals.net)),
            ("TotalTaxAmount", money(totals.tax)),
        ]);
        if !totals.discount.is_zero() {
            document.push(("TotalDiscountValue", money(totals.discount)));
        }
        if !totals.charge.is_zero() {
            document.push(("TotalChargeAmount", money(totals.charge)));
        }
        if !totals.rounding.is_zero() {
            document.push(("TotalRoundingAmount", money(totals.rounding)));
        }
        if let Some(incoterms) = &invoice.incoterms {
            document.push(("Incoterms", Cell::text(incoterms)));
        }
        self.push(DOCUMENTS, &document, origin);

        for line in &invoice.lines {
            let line_origin = origin.with_row(line.source_row);
            let id = Cell::Number(Decimal::from(line.id));
            self.push(
                LINE_ITEMS,
                &[
                    ("eInvoiceNumber", number()),
                    ("ID", id.clone()),
                    ("Classification", Cell::text(&line.classification)),
                    ("DescriptionProductService", Cell::text(&line.description)),
                    ("UnitPrice", money(line.unit_price)),
                    ("Quantity", money(line.quantity)),
                    (
                        "UnitOfMeasurement",
                        line.unit.as_deref().map(Cell::text).unwrap_or_default(),
                    ),
                    ("Subtotal", money(line.subtotal)),
                    ("TotalTaxAmount", money(line.tax_amount)),
                    ("TotalExcludingTax", money(line.total_excluding_tax)),
                    ("CountryofOrigin", Cell::text(&line.country_of_origin)),
                ],
                &line_origin,
            );
            self.push(
                LINE_TAXES,
                &[
                    ("eInvoiceNumber", number()),
                    ("LineItem.ID", id),
                    ("TaxType", Cell::text(&invoice.tax_type)),
                    ("TaxRate", money(Decimal::ZERO)),
                    ("TaxAmount", money(line.tax_amount)),
                    ("TaxableAmount", money(line.total_excluding_tax)),
                ],
                &line_origin,
            );
        }
        self.push(
            DOCUMENT_TOTAL_TAX,
            &[
                ("eInvoiceNumber", number()),
                ("TaxType", Cell::text(&invoice.tax_type)),
                ("TotalTaxableAmount", money(totals.excluding_tax)),
                ("TotalTaxAmount", money(totals.tax)),
            ],
            origin,
        );
        for discount in &invoice.discounts {
            self.push(
                DOCUMENT_DISCOUNTS,
                &[
                    ("eInvoiceNumber", number()),
                    ("DiscountDescription", Cell::text(&discount.description)),
                    ("DiscountAmount", money(discount.amount)),
                ],
                origin,
            );
        }
        for charge in &invoice.charges {
            self.push(
                DOCUMENT_CHARGES,
                &[
                    ("eInvoiceNumber", number()),
                    ("ChargeDescription", Cell::text(&charge.description)),
                    ("ChargeAmount", money(charge.amount)),
                ],
                origin,
            );
        }
        if let Some(refs) = &invoice.customs_refs {
            let serial = self.sheets[CUSTOMS_FORMS].rows.len() as u32 + 1;
            self.push(
                CUSTOMS_FORMS,
                &[
                    ("SerialNo", Cell::Number(Decimal::from(serial))),
                    ("eInvoiceNumber", number()),
                    ("ReferenceNumberofCustomsFormNo1or9", Cell::text(refs)),
                ],
                origin,
            );
        }
    }

    /// Number of invoices (Documents rows).
    pub fn invoice_count(&self) -> usize {
        self.sheets[sheets::DOCUMENTS].rows.len()
    }
}

fn party_cells(cells: &mut Vec<(&'static str, Cell)>, role: &str, party: &Party) {
    // Header names are "Supplier.TIN", "Buyer.Address.CityName", ...: built
    // from a fixed list so that each is a &'static str.
    let names: &[&'static str] = if role == "Supplier" {
        &SUPPLIER_HEADERS
    } else {
        &BUYER_HEADERS
    };
    let mut values = vec![
        party.tin.as_str(),
        &party.name,
        &party.id_type,
        &party.id_no,
        &party.sst_no,
    ];
    if role == "Supplier" {
        values.push(party.ttx_no.as_deref().unwrap_or(""));
    }
    values.push(&party.email);
    if role == "Supplier" {
        values.push(party.msic.as_deref().unwrap_or(""));
        values.push(party.business_activity.as_deref().unwrap_or(""));
    }
    values.extend([
        party.address[0].as_str(),
        &party.address[1],
        &party.address[2],
        &party.postcode,
        &party.city,
        &party.state,
        &party.country,
        &party.phone,
    ]);
    debug_assert_eq!(names.len(), values.len());
    for (name, value) in names.iter().zip(values) {
        cells.push((name, Cell::text(value)));
    }
}

const SUPPLIER_HEADERS: [&str; 17] = [
    "Supplier.TIN",
    "Supplier.Name",
    "Supplier.IDType",
    "Supplier.IDNo",
    "Supplier.SST.No",
    "Supplier.TTX.No",
    "Supplier.Email",
    "Supplier.MSIC.Code",
    "Supplier.BusinessActivityDescription",
    "Supplier.Address.AddressLine0",
    "Supplier.Address.AddressLine1",
    "Supplier.Address.AddressLine2",
    "Supplier.Address.PostalZone",
    "Supplier.Address.CityName",
    "Supplier.Address.State",
    "Supplier.Address.CountryCode",
    "Supplier.ContactNumber",
];

const BUYER_HEADERS: [&str; 14] = [
    "Buyer.TIN",
    "Buyer.Name",
    "Buyer.IDType",
    "Buyer.IDNo",
    "Buyer.SST.No",
    "Buyer.Email",
    "Buyer.Address.AddressLine0",
    "Buyer.Address.AddressLine1",
    "Buyer.Address.AddressLine2",
    "Buyer.Address.PostalZone",
    "Buyer.Address.CityName",
    "Buyer.Address.State",
    "Buyer.Address.CountryCode",
    "Buyer.ContactNumber",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_has_lhdns_eleven_sheets_in_order() {
        let names: Vec<&str> = template().sheets.iter().map(|s| s.name.as_str()).collect();
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
