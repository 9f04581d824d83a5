//! LHDN's batch-upload workbook: the 11 visible sheets in LHDN's order, rows
//! 1–5 exactly as in LHDN's template, data from row 6, each sheet's Excel
//! table over its data.

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDateTime, Timelike};
use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, Formula, Table, TableColumn, TableStyle, Workbook,
    Worksheet,
};
use std::collections::HashMap;

use crate::batch::{
    Batch, Cell, FIRST_DATA_ROW, HEADER_ROW, SheetTemplate, TemplateCellKind, template,
};
use crate::money::to_cell_number;

/// The workbook's bytes. `created` is stored as the document's creation time
/// so that the same inputs give the same bytes.
pub fn workbook_bytes(batch: &Batch, created: NaiveDateTime) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    let properties = DocProperties::new()
        .set_author("selfbill")
        .set_creation_datetime(&excel_datetime(created)?);
    workbook.set_properties(&properties);
    // Level 2 of 9: a workbook of 100 invoices is small either way, and a
    // month of 1688 orders converts in about half the time of level 6.
    workbook.set_zip_compression_level(2);
    let mut formats = Formats::default();
    for (schema, data) in template().sheets.iter().zip(&batch.sheets) {
        let sheet = workbook.add_worksheet();
        sheet.set_name(&schema.name)?;
        write_sheet(sheet, schema, data, &mut formats)
            .with_context(|| format!("writing sheet {}", schema.name))?;
    }
    Ok(workbook.save_to_buffer()?)
}

#[derive(Default)]
struct Formats {
    by_code: HashMap<String, Format>,
}

impl Formats {
    fn get(&mut self, code: &str) -> &Format {
        self.by_code.entry(code.to_string()).or_insert_with(|| {
            if code == "General" {
                Format::new()
            } else {
                Format::new().set_num_format(code)
            }
        })
    }
}

fn write_sheet(
    sheet: &mut Worksheet,
    schema: &SheetTemplate,
    data: &crate::batch::SheetData,
    formats: &mut Formats,
) -> Result<()> {
    // LHDN's sample formulas carry no cached result; neither do ours.
    sheet.set_formula_result_default("");
    for (col, width) in schema.widths.iter().enumerate() {
        if let Some(width) = width {
            sheet.set_column_width(col as u16, *width)?;
        }
    }
    for (r, cells) in schema.rows.iter().enumerate() {
        let row = r as u32;
        for cell in cells {
            let format = formats.get(&cell.format).clone();
            match cell.kind {
                TemplateCellKind::Text => {
                    sheet.write_string_with_format(row, cell.col, &cell.value, &format)?;
                }
                TemplateCellKind::Number => {
                    let value: f64 = cell.value.parse().unwrap_or_default();
                    sheet.write_number_with_format(row, cell.col, value, &format)?;
                }
                TemplateCellKind::Datetime => {
                    // Excel's own serial, so the sample date is LHDN's to the last bit.
                    let serial: f64 = cell.value.parse().unwrap_or_default();
                    sheet.write_number_with_format(row, cell.col, serial, &format)?;
                }
                TemplateCellKind::Formula => {
                    sheet.write_formula_with_format(
                        row,
                        cell.col,
                        Formula::new(&cell.value),
                        &format,
                    )?;
                }
            }
        }
    }
    // One format per data column, made once; General columns need none.
    let column_formats: Vec<Option<Format>> = schema
        .data_formats
        .iter()
        .map(|code| (code != "General").then(|| formats.get(code).clone()))
        .collect();
    for data_row in &data.rows {
        let row = data_row.row - 1;
        for (index, cell) in data_row.cells.iter().enumerate() {
            let col = index as u16 + 1;
            let format = column_formats[index].as_ref();
            match (cell, format) {
                (Cell::Empty, _) => {}
                // Text cells are text whatever the format; writing them
                // without one keeps large batches fast.
                (Cell::Text(text), _) => {
                    sheet.write_string(row, col, text)?;
                }
                (Cell::Number(value), Some(format)) => {
                    sheet.write_number_with_format(row, col, to_cell_number(*value), format)?;
                }
                (Cell::Number(value), None) => {
                    sheet.write_number(row, col, to_cell_number(*value))?;
                }
                (Cell::DateTime(value), format) => {
                    let default = Format::new().set_num_format("yyyy\\-mm\\-dd\\Thh:mm:ss\\Z");
                    sheet.write_datetime_with_format(
                        row,
                        col,
                        excel_datetime(*value)?,
                        format.unwrap_or(&default),
                    )?;
                }
            }
        }
    }
    let last_row = (FIRST_DATA_ROW - 2) + data.rows.len() as u32;
    let columns: Vec<TableColumn> = schema
        .headers
        .iter()
        .map(|h| TableColumn::new().set_header(h))
        .collect();
    let table = Table::new()
        .set_name(&schema.table)
        .set_style(TableStyle::Medium1)
        .set_columns(&columns);
    sheet.add_table(
        HEADER_ROW - 1,
        1,
        last_row.max(HEADER_ROW),
        schema.headers.len() as u16,
        &table,
    )?;
    Ok(())
}

fn excel_datetime(value: NaiveDateTime) -> Result<ExcelDateTime> {
    Ok(
        ExcelDateTime::from_ymd(value.year() as u16, value.month() as u8, value.day() as u8)?
            .and_hms(value.hour() as u16, value.minute() as u8, value.second())?,
    )
}
