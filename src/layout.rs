//! Lay out: invoices → LHDN's batch-upload sheets. The stage between map
//! and check: the rule engine checks the rows laid out here, and the writers
//! write them.

use rust_decimal::Decimal;
use std::sync::OnceLock;

use crate::batch::{Batch, Cell, Origin, sheets, template};
use crate::model::{Invoice, Party};

/// LHDN's sheets for these invoices, as the workbook `file` will hold them.
pub fn lay_out(file: impl Into<String>, invoices: &[Invoice]) -> Batch {
    let mut batch = Batch::empty(file);
    for (index, invoice) in invoices.iter().enumerate() {
        add_invoice(&mut batch, index, invoice);
    }
    batch
}

/// LHDN's sheets for these invoices, continuing a workbook written in parts
/// that already has `rows_before[sheet]` data rows in each sheet: row
/// numbers and the serial numbers of customs forms and document references
/// carry on from there.
pub fn lay_out_after(
    file: impl Into<String>,
    invoices: &[Invoice],
    rows_before: &[usize],
) -> Batch {
    let mut batch = lay_out(file, invoices);
    for (sheet, data) in batch.sheets.iter_mut().enumerate() {
        let before = rows_before.get(sheet).copied().unwrap_or(0);
        let serial = [sheets::CUSTOMS_FORMS, sheets::DOCUMENT_REFERENCES]
            .contains(&sheet)
            .then(|| template().sheets[sheet].column("SerialNo"))
            .flatten();
        for row in &mut data.rows {
            row.row += before as u32;
            if let Some(Cell::Number(n)) = serial.and_then(|c| row.cells.get_mut(c)) {
                *n += Decimal::from(before);
            }
        }
    }
    batch
}

/// The data rows each sheet gets for these invoices, counted without laying
/// them out.
pub fn row_counts(invoices: &[Invoice]) -> [usize; sheets::COUNT] {
    use sheets::*;
    let mut counts = [0; COUNT];
    for invoice in invoices {
        counts[DOCUMENTS] += 1;
        counts[LINE_ITEMS] += invoice.lines.len();
        counts[LINE_TAXES] += invoice.lines.len();
        counts[DOCUMENT_TOTAL_TAX] += 1;
        counts[DOCUMENT_DISCOUNTS] += invoice.discounts.len();
        counts[DOCUMENT_CHARGES] += invoice.charges.len();
        counts[CUSTOMS_FORMS] += usize::from(invoice.customs_refs.is_some());
        counts[DOCUMENT_REFERENCES] += invoice.references.len();
    }
    counts
}

/// The data columns of `headers` in `sheet`.
fn columns(sheet: usize, headers: &[&str]) -> Vec<usize> {
    let schema = &template().sheets[sheet];
    headers
        .iter()
        .map(|header| {
            schema
                .column(header)
                .unwrap_or_else(|| panic!("{header} is a column of {}", schema.name))
        })
        .collect()
}

/// The data column of a header, looked up once for the place that names it.
macro_rules! column {
    ($sheet:expr, $header:literal) => {{
        static COLUMN: OnceLock<usize> = OnceLock::new();
        *COLUMN.get_or_init(|| columns($sheet, &[$header])[0])
    }};
}

/// A data row's cells of `sheet`: these by header, the rest empty. The
/// headers' columns are looked up once for the place that names them.
macro_rules! cells {
    ($sheet:expr; $($header:literal => $value:expr),+ $(,)?) => {{
        static COLUMNS: OnceLock<Vec<usize>> = OnceLock::new();
        let columns = COLUMNS.get_or_init(|| columns($sheet, &[$($header),+]));
        let mut cells = Batch::blank($sheet);
        for (column, value) in columns.iter().zip([$($value),+]) {
            cells[*column] = value;
        }
        cells
    }};
}

/// Adds invoice `index` (its place among the invoices laid out).
fn add_invoice(batch: &mut Batch, index: usize, invoice: &Invoice) {
    use sheets::*;
    let number = || Cell::text(&invoice.number);
    let money = |d: Decimal| Cell::Number(d);
    let origin = Origin {
        invoice: index as u32,
        row: invoice.source.row,
    };
    let totals = &invoice.totals;
    let mut document = cells![DOCUMENTS;
        "eInvoiceNumber" => number(),
        "eInvoiceTypeCode" => Cell::text(&*invoice.type_code),
        "eInvoiceVersion" => Cell::text(&*invoice.version),
        "IssuanceDateTime" => Cell::DateTime(invoice.issued_at),
        "CurrencyCode" => Cell::text(&*invoice.currency),
        "CurrencyExchangeRate" => invoice.exchange_rate.map(Cell::Number).unwrap_or_default(),
        "TotalExcludingTax" => money(totals.excluding_tax),
        "TotalIncludingTax" => money(totals.including_tax),
        "TotalPayableAmount" => money(totals.payable),
        "TotalNetAmount" => money(totals.net),
        "TotalTaxAmount" => money(totals.tax),
    ];
    party_cells(&mut document, Role::Supplier, &invoice.supplier);
    party_cells(&mut document, Role::Buyer, &invoice.buyer);
    if !totals.discount.is_zero() {
        document[column!(DOCUMENTS, "TotalDiscountValue")] = money(totals.discount);
    }
    if !totals.charge.is_zero() {
        document[column!(DOCUMENTS, "TotalChargeAmount")] = money(totals.charge);
    }
    if !totals.rounding.is_zero() {
        document[column!(DOCUMENTS, "TotalRoundingAmount")] = money(totals.rounding);
    }
    if let Some(incoterms) = &invoice.incoterms {
        document[column!(DOCUMENTS, "Incoterms")] = Cell::text(incoterms);
    }
    batch.push(DOCUMENTS, document, origin);

    for line in &invoice.lines {
        let line_origin = Origin {
            row: Some(line.source_row),
            ..origin
        };
        let id = Cell::Number(Decimal::from(line.id));
        let cells = cells![LINE_ITEMS;
            "eInvoiceNumber" => number(),
            "ID" => id.clone(),
            "Classification" => Cell::text(&line.classification),
            "DescriptionProductService" => Cell::text(&line.description),
            "UnitPrice" => money(line.unit_price),
            "Quantity" => money(line.quantity),
            "UnitOfMeasurement" => line.unit.as_deref().map(Cell::text).unwrap_or_default(),
            "Subtotal" => money(line.subtotal),
            "TotalTaxAmount" => money(line.tax_amount),
            "TotalExcludingTax" => money(line.total_excluding_tax),
            "CountryofOrigin" => Cell::text(&*line.country_of_origin),
        ];
        batch.push(LINE_ITEMS, cells, line_origin);
        let cells = cells![LINE_TAXES;
            "eInvoiceNumber" => number(),
            "LineItem.ID" => id,
            "TaxType" => Cell::text(&invoice.tax_type),
            "TaxRate" => money(Decimal::ZERO),
            "TaxAmount" => money(line.tax_amount),
            "TaxableAmount" => money(line.total_excluding_tax),
        ];
        batch.push(LINE_TAXES, cells, line_origin);
    }
    let cells = cells![DOCUMENT_TOTAL_TAX;
        "eInvoiceNumber" => number(),
        "TaxType" => Cell::text(&invoice.tax_type),
        "TotalTaxableAmount" => money(totals.excluding_tax),
        "TotalTaxAmount" => money(totals.tax),
    ];
    batch.push(DOCUMENT_TOTAL_TAX, cells, origin);
    for discount in &invoice.discounts {
        let cells = cells![DOCUMENT_DISCOUNTS;
            "eInvoiceNumber" => number(),
            "DiscountDescription" => Cell::text(&discount.description),
            "DiscountAmount" => money(discount.amount),
        ];
        batch.push(DOCUMENT_DISCOUNTS, cells, origin);
    }
    for charge in &invoice.charges {
        let cells = cells![DOCUMENT_CHARGES;
            "eInvoiceNumber" => number(),
            "ChargeDescription" => Cell::text(&charge.description),
            "ChargeAmount" => money(charge.amount),
        ];
        batch.push(DOCUMENT_CHARGES, cells, origin);
    }
    for reference in &invoice.references {
        let serial = batch.sheets[DOCUMENT_REFERENCES].rows.len() as u32 + 1;
        let cells = cells![DOCUMENT_REFERENCES;
            "SerialNo" => Cell::Number(Decimal::from(serial)),
            "eInvoiceNumber" => number(),
            "OriginaleInvoiceNumber" => Cell::text(&reference.number),
            "OriginaleInvoiceReferenceNumberUUID" => Cell::text(&reference.uuid),
        ];
        batch.push(DOCUMENT_REFERENCES, cells, origin);
    }
    if let Some(refs) = &invoice.customs_refs {
        let serial = batch.sheets[CUSTOMS_FORMS].rows.len() as u32 + 1;
        let cells = cells![CUSTOMS_FORMS;
            "SerialNo" => Cell::Number(Decimal::from(serial)),
            "eInvoiceNumber" => number(),
            "ReferenceNumberofCustomsFormNo1or9" => Cell::text(refs),
        ];
        batch.push(CUSTOMS_FORMS, cells, origin);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Supplier,
    Buyer,
}

fn party_cells(cells: &mut [Cell], role: Role, party: &Party) {
    static SUPPLIER: OnceLock<Vec<usize>> = OnceLock::new();
    static BUYER: OnceLock<Vec<usize>> = OnceLock::new();
    let (columns, supplier) = match role {
        Role::Supplier => (
            SUPPLIER.get_or_init(|| columns(sheets::DOCUMENTS, &SUPPLIER_HEADERS)),
            true,
        ),
        Role::Buyer => (
            BUYER.get_or_init(|| columns(sheets::DOCUMENTS, &BUYER_HEADERS)),
            false,
        ),
    };
    let values = [
        Some(party.tin.as_str()),
        Some(&party.name),
        Some(&party.id_type),
        Some(&party.id_no),
        Some(&party.sst_no),
        supplier.then(|| party.ttx_no.as_deref().unwrap_or("")),
        Some(&party.email),
        supplier.then(|| party.msic.as_deref().unwrap_or("")),
        supplier.then(|| party.business_activity.as_deref().unwrap_or("")),
        Some(&party.address[0]),
        Some(&party.address[1]),
        Some(&party.address[2]),
        Some(&party.postcode),
        Some(&party.city),
        Some(&party.state),
        Some(&party.country),
        Some(&party.phone),
    ];
    debug_assert_eq!(columns.len(), values.iter().flatten().count());
    for (column, value) in columns.iter().zip(values.into_iter().flatten()) {
        cells[*column] = Cell::text(value);
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
