//! Lay out: invoices → LHDN's batch-upload sheets. The stage between map
//! and check: the rule engine checks the rows laid out here, and the writers
//! write them.

use rust_decimal::Decimal;

use crate::batch::{Batch, Cell, sheets, template};
use crate::model::{Invoice, Party};

/// LHDN's sheets for these invoices, as the workbook `file` will hold them.
pub fn lay_out(file: impl Into<String>, invoices: &[Invoice]) -> Batch {
    let mut batch = Batch::empty(file);
    for invoice in invoices {
        add_invoice(&mut batch, invoice);
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
pub fn row_counts(invoices: &[Invoice]) -> Vec<usize> {
    use sheets::*;
    let mut counts = vec![0; template().sheets.len()];
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

fn add_invoice(batch: &mut Batch, invoice: &Invoice) {
    use sheets::*;
    let number = || Cell::text(&invoice.number);
    let money = |d: Decimal| Cell::Number(d);
    let origin = &invoice.source;
    let mut document = vec![
        ("eInvoiceNumber", number()),
        ("eInvoiceTypeCode", Cell::text(&*invoice.type_code)),
        ("eInvoiceVersion", Cell::text(&*invoice.version)),
        ("IssuanceDateTime", Cell::DateTime(invoice.issued_at)),
        ("CurrencyCode", Cell::text(&*invoice.currency)),
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
    batch.push(DOCUMENTS, document, origin.clone());

    for line in &invoice.lines {
        let line_origin = origin.with_row(line.source_row);
        let id = Cell::Number(Decimal::from(line.id));
        batch.push(
            LINE_ITEMS,
            [
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
                ("CountryofOrigin", Cell::text(&*line.country_of_origin)),
            ],
            line_origin.clone(),
        );
        batch.push(
            LINE_TAXES,
            [
                ("eInvoiceNumber", number()),
                ("LineItem.ID", id),
                ("TaxType", Cell::text(&invoice.tax_type)),
                ("TaxRate", money(Decimal::ZERO)),
                ("TaxAmount", money(line.tax_amount)),
                ("TaxableAmount", money(line.total_excluding_tax)),
            ],
            line_origin,
        );
    }
    batch.push(
        DOCUMENT_TOTAL_TAX,
        [
            ("eInvoiceNumber", number()),
            ("TaxType", Cell::text(&invoice.tax_type)),
            ("TotalTaxableAmount", money(totals.excluding_tax)),
            ("TotalTaxAmount", money(totals.tax)),
        ],
        origin.clone(),
    );
    for discount in &invoice.discounts {
        batch.push(
            DOCUMENT_DISCOUNTS,
            [
                ("eInvoiceNumber", number()),
                ("DiscountDescription", Cell::text(&discount.description)),
                ("DiscountAmount", money(discount.amount)),
            ],
            origin.clone(),
        );
    }
    for charge in &invoice.charges {
        batch.push(
            DOCUMENT_CHARGES,
            [
                ("eInvoiceNumber", number()),
                ("ChargeDescription", Cell::text(&charge.description)),
                ("ChargeAmount", money(charge.amount)),
            ],
            origin.clone(),
        );
    }
    for reference in &invoice.references {
        let serial = batch.sheets[DOCUMENT_REFERENCES].rows.len() as u32 + 1;
        batch.push(
            DOCUMENT_REFERENCES,
            [
                ("SerialNo", Cell::Number(Decimal::from(serial))),
                ("eInvoiceNumber", number()),
                ("OriginaleInvoiceNumber", Cell::text(&reference.number)),
                (
                    "OriginaleInvoiceReferenceNumberUUID",
                    Cell::text(&reference.uuid),
                ),
            ],
            origin.clone(),
        );
    }
    if let Some(refs) = &invoice.customs_refs {
        let serial = batch.sheets[CUSTOMS_FORMS].rows.len() as u32 + 1;
        batch.push(
            CUSTOMS_FORMS,
            [
                ("SerialNo", Cell::Number(Decimal::from(serial))),
                ("eInvoiceNumber", number()),
                ("ReferenceNumberofCustomsFormNo1or9", Cell::text(refs)),
            ],
            origin.clone(),
        );
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
