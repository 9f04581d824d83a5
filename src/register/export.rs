//! `selfbill register export -o register.xlsx`: the accountant's workbook.
//! Sheet "Invoices": every invoice and note by month, each month closed by
//! a row with its MYR total (notes count negative); sheet "Holds": the open
//! holds. Number and date formats, a frozen header row and an autofilter on
//! each; the same register gives the same bytes.

use anyhow::Result;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};

use super::{Document, Hold, Kind};

pub const INVOICES_SHEET: &str = "Invoices";
pub const HOLDS_SHEET: &str = "Holds";

pub const INVOICE_HEADERS: [&str; 15] = [
    "Month",
    "eInvoiceNumber",
    "Type",
    "Kind",
    "Order",
    "Seller",
    "Issued (UTC)",
    "Currency",
    "Total",
    "Rate (MYR per CNY)",
    "MYR (notes negative)",
    "State",
    "UUID",
    "Original invoice",
    "Written to",
];

pub const HOLD_HEADERS: [&str; 7] = [
    "Order",
    "Status",
    "Seller",
    "Paid (CNY)",
    "Held in",
    "Held at (UTC)",
    "Export",
];

pub const MONEY_FORMAT: &str = "#,##0.00";
pub const RATE_FORMAT: &str = "0.0000";
pub const DATETIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";

/// A document's MYR amount as the register counts it: notes reduce.
pub fn signed_myr(document: &Document) -> Decimal {
    if document.kind == Kind::Invoice {
        document.total_myr
    } else {
        -document.total_myr
    }
}

/// Monthly MYR totals, in month order: (month, documents, net MYR).
pub fn monthly_totals(documents: &[Document]) -> Vec<(String, usize, Decimal)> {
    let mut months: Vec<(String, usize, Decimal)> = Vec::new();
    for document in documents {
        let month = document.month();
        match months.iter_mut().find(|(m, _, _)| *m == month) {
            Some((_, count, total)) => {
                *count += 1;
                *total += signed_myr(document);
            }
            None => months.push((month, 1, signed_myr(document))),
        }
    }
    months.sort_by(|a, b| a.0.cmp(&b.0));
    months
}

/// The workbook's bytes. `documents` in issue order; `holds` the open ones.
pub fn workbook_bytes(documents: &[Document], holds: &[Hold]) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    // Deterministic: created at the register's latest moment.
    let created = documents
        .iter()
        .map(|d| d.issued_at)
        .chain(holds.iter().map(|h| h.held_at))
        .max()
        .unwrap_or_else(|| {
            NaiveDate::from_ymd_opt(2000, 1, 1)
                .unwrap_or_default()
                .into()
        });
    workbook.set_properties(
        &DocProperties::new()
            .set_author("selfbill")
            .set_title("selfbill register")
            .set_creation_datetime(&excel_datetime(created)?),
    );
    let header = Format::new().set_bold().set_align(FormatAlign::Center);
    let money = Format::new().set_num_format(MONEY_FORMAT);
    let rate = Format::new().set_num_format(RATE_FORMAT);
    let datetime = Format::new().set_num_format(DATETIME_FORMAT);
    let total_label = Format::new().set_bold();
    let total_money = Format::new().set_bold().set_num_format(MONEY_FORMAT);

    let sheet = workbook.add_worksheet();
    sheet.set_name(INVOICES_SHEET)?;
    write_header(sheet, &INVOICE_HEADERS, &header)?;
    let mut sorted: Vec<&Document> = documents.iter().collect();
    sorted.sort_by(|a, b| {
        (a.month(), a.issued_at, &a.number).cmp(&(b.month(), b.issued_at, &b.number))
    });
    let mut row = 1u32;
    let mut grand = (0usize, Decimal::ZERO);
    let mut index = 0;
    while index < sorted.len() {
        let month = sorted[index].month();
        let mut count = 0usize;
        let mut total = Decimal::ZERO;
        while index < sorted.len() && sorted[index].month() == month {
            let d = sorted[index];
            sheet.write_string(row, 0, &month)?;
            sheet.write_string(row, 1, &d.number)?;
            sheet.write_string(row, 2, &d.type_code)?;
            sheet.write_string(row, 3, d.kind.as_str())?;
            sheet.write_string(row, 4, &d.order_no)?;
            sheet.write_string(row, 5, &d.seller)?;
            sheet.write_datetime_with_format(row, 6, excel_datetime(d.issued_at)?, &datetime)?;
            sheet.write_string(row, 7, &d.currency)?;
            sheet.write_number_with_format(row, 8, number(d.total), &money)?;
            sheet.write_number_with_format(row, 9, number(d.rate), &rate)?;
            sheet.write_number_with_format(row, 10, number(signed_myr(d)), &money)?;
            sheet.write_string(row, 11, d.state.as_str())?;
            sheet.write_string(row, 12, d.uuid.as_deref().unwrap_or(""))?;
            sheet.write_string(row, 13, d.original.as_deref().unwrap_or(""))?;
            sheet.write_string(row, 14, &d.output)?;
            count += 1;
            total += signed_myr(d);
            row += 1;
            index += 1;
        }
        sheet.write_string_with_format(row, 0, format!("{month} total"), &total_label)?;
        sheet.write_string_with_format(row, 1, documents_text(count), &total_label)?;
        sheet.write_number_with_format(row, 10, number(total), &total_money)?;
        row += 1;
        grand = (grand.0 + count, grand.1 + total);
    }
    sheet.write_string_with_format(row, 0, "Total", &total_label)?;
    sheet.write_string_with_format(row, 1, documents_text(grand.0), &total_label)?;
    sheet.write_number_with_format(row, 10, number(grand.1), &total_money)?;
    finish(
        sheet,
        row,
        INVOICE_HEADERS.len(),
        &[
            9.0, 24.0, 6.0, 12.0, 22.0, 18.0, 20.0, 9.0, 12.0, 10.0, 14.0, 10.0, 28.0, 22.0, 26.0,
        ],
    )?;

    let sheet = workbook.add_worksheet();
    sheet.set_name(HOLDS_SHEET)?;
    write_header(sheet, &HOLD_HEADERS, &header)?;
    let mut row = 1u32;
    for hold in holds {
        sheet.write_string(row, 0, &hold.order_no)?;
        sheet.write_string(row, 1, &hold.status)?;
        sheet.write_string(row, 2, &hold.seller)?;
        sheet.write_number_with_format(row, 3, number(hold.paid_cny), &money)?;
        sheet.write_string(row, 4, hold.month())?;
        sheet.write_datetime_with_format(row, 5, excel_datetime(hold.held_at)?, &datetime)?;
        sheet.write_string(row, 6, &hold.export)?;
        row += 1;
    }
    finish(
        sheet,
        row.saturating_sub(1).max(1),
        HOLD_HEADERS.len(),
        &[22.0, 12.0, 18.0, 12.0, 9.0, 20.0, 30.0],
    )?;
    Ok(workbook.save_to_buffer()?)
}

fn documents_text(count: usize) -> String {
    format!("{count} document{}", if count == 1 { "" } else { "s" })
}

fn write_header(sheet: &mut Worksheet, headers: &[&str], format: &Format) -> Result<()> {
    for (column, name) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, *name, format)?;
    }
    Ok(())
}

/// Frozen header row, an autofilter over the rows, column widths.
fn finish(sheet: &mut Worksheet, last_row: u32, columns: usize, widths: &[f64]) -> Result<()> {
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, last_row, columns as u16 - 1)?;
    for (column, width) in widths.iter().enumerate() {
        sheet.set_column_width(column as u16, *width)?;
    }
    Ok(())
}

/// An amount for display in a cell (the sums were made in decimals).
fn number(value: Decimal) -> f64 {
    value.to_f64().unwrap_or_default()
}

fn excel_datetime(value: NaiveDateTime) -> Result<ExcelDateTime> {
    Ok(
        ExcelDateTime::from_ymd(value.year() as u16, value.month() as u8, value.day() as u8)?
            .and_hms(value.hour() as u16, value.minute() as u8, value.second())?,
    )
}
