//! LHDN's batch-upload workbook: the 11 visible sheets in LHDN's order, rows
//! 1–5 exactly as in LHDN's template, data from row 6, each sheet's Excel
//! table over its data.
//!
//! The template part is built once per run with rust_xlsxwriter (the "base"
//! workbook). Each output then reuses the base's parts as they are and only
//! appends its data rows to the sheets and widens the tables: a month of
//! orders makes hundreds of workbooks that differ only in their rows.

use anyhow::{Context, Result, anyhow};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, Formula, Table, TableColumn, TableStyle, Workbook,
    Worksheet,
};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::batch::{
    Batch, Cell, FIRST_DATA_ROW, HEADER_ROW, SheetTemplate, TemplateCellKind, template,
};

/// Builds workbooks for one run. `created` is stored as the documents'
/// creation time, so the same inputs give the same bytes.
pub struct XlsxWriter {
    base: Vec<u8>,
    sheets: Vec<BaseSheet>,
}

/// What an output changes in one base sheet.
struct BaseSheet {
    /// Zip entry names of the sheet and of its table.
    sheet_entry: String,
    table_entry: String,
    /// The sheet's XML up to `</sheetData>` and from it, without the
    /// dimension, which depends on the data.
    head: String,
    tail: String,
    table_xml: String,
    /// ` s="N"` (the style of LHDN's row-5 format) of each data column, or
    /// nothing for the default style.
    style_attrs: Vec<String>,
    /// Column letters of each data column (B, C, …).
    letters: Vec<String>,
    last_letter: String,
}

impl XlsxWriter {
    pub fn new(created: NaiveDateTime) -> Result<XlsxWriter> {
        let base = base_workbook(created).context("building LHDN's template")?;
        let mut archive = ZipArchive::new(Cursor::new(&base[..]))?;
        let rels = workbook_relations(&mut archive)?;
        let mut sheets = Vec::new();
        for schema in &template().sheets {
            let sheet_entry = rels
                .get(&schema.name)
                .cloned()
                .ok_or_else(|| anyhow!("base workbook lacks sheet {}", schema.name))?;
            let sheet_xml = read_entry(&mut archive, &sheet_entry)?;
            let sheet_rels = read_entry(&mut archive, &sheet_rels_name(&sheet_entry))?;
            let table_entry = format!(
                "xl/{}",
                between(&sheet_rels, "Target=\"../", "\"")
                    .ok_or_else(|| anyhow!("no table for {}", schema.name))?
            );
            let table_xml = read_entry(&mut archive, &table_entry)?;
            sheets.push(BaseSheet::from_xml(
                schema,
                sheet_entry,
                table_entry,
                &sheet_xml,
                table_xml,
            )?);
        }
        Ok(XlsxWriter { base, sheets })
    }

    /// The workbook for a batch.
    pub fn workbook_bytes(&self, batch: &Batch) -> Result<Vec<u8>> {
        let mut archive = ZipArchive::new(Cursor::new(&self.base[..]))?;
        let mut changed: HashMap<&str, String> = HashMap::new();
        for (base, data) in self.sheets.iter().zip(&batch.sheets) {
            let last_row = (FIRST_DATA_ROW - 1) + data.rows.len() as u32;
            let mut xml =
                String::with_capacity(base.head.len() + base.tail.len() + data.rows.len() * 512);
            xml.push_str(&base.head.replacen(
                "<dimension ref=\"\"/>",
                &format!(
                    "<dimension ref=\"A1:{}{}\"/>",
                    base.last_letter,
                    last_row.max(5)
                ),
                1,
            ));
            for row in &data.rows {
                write_row(&mut xml, base, row);
            }
            xml.push_str(&base.tail);
            changed.insert(&base.sheet_entry, xml);
            let range = format!(
                "B{HEADER_ROW}:{}{}",
                base.last_letter,
                last_row.max(HEADER_ROW + 1)
            );
            changed.insert(
                &base.table_entry,
                base.table_xml.replace("B4:RANGE", &range),
            );
        }
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(2))
            .unix_permissions(0o600)
            .last_modified_time(zip::DateTime::default());
        let mut out = ZipWriter::new(Cursor::new(Vec::with_capacity(self.base.len() * 2)));
        for i in 0..archive.len() {
            let name = archive.by_index_raw(i)?.name()?.to_string();
            match changed.get(name.as_str()) {
                Some(xml) => {
                    out.start_file(name, options)?;
                    out.write_all(xml.as_bytes())?;
                }
                None => out.raw_copy_file(archive.by_index_raw(i)?)?,
            }
        }
        Ok(out.finish()?.into_inner())
    }
}

impl BaseSheet {
    fn from_xml(
        schema: &SheetTemplate,
        sheet_entry: String,
        table_entry: String,
        sheet_xml: &str,
        table_xml: String,
    ) -> Result<BaseSheet> {
        let name = &schema.name;
        // The probe row 6 carries one formatted blank cell per data column.
        let probe_start = sheet_xml
            .find("<row r=\"6\"")
            .ok_or_else(|| anyhow!("{name}: no probe row"))?;
        let probe_end = probe_start
            + sheet_xml[probe_start..]
                .find("</row>")
                .ok_or_else(|| anyhow!("{name}: bad probe row"))?
            + 6;
        let probe = &sheet_xml[probe_start..probe_end];
        let letters: Vec<String> = (1..=schema.headers.len()).map(column_letter).collect();
        let styles: Vec<String> = letters
            .iter()
            .map(|letter| {
                let cell = format!("<c r=\"{letter}6\"");
                probe
                    .find(&cell)
                    .and_then(|at| {
                        let rest = &probe[at + cell.len()..];
                        let end = rest.find('>')?;
                        between(&rest[..end], "s=\"", "\"")
                    })
                    .map(str::to_owned)
                    .unwrap_or_default()
            })
            .collect();
        let without_probe = format!("{}{}", &sheet_xml[..probe_start], &sheet_xml[probe_end..]);
        let dimension_start = without_probe
            .find("<dimension ref=\"")
            .ok_or_else(|| anyhow!("{name}: no dimension"))?;
        let dimension_end = dimension_start
            + without_probe[dimension_start..]
                .find("/>")
                .ok_or_else(|| anyhow!("{name}: bad dimension"))?
            + 2;
        let without_probe = format!(
            "{}<dimension ref=\"\"/>{}",
            &without_probe[..dimension_start],
            &without_probe[dimension_end..]
        );
        let split = without_probe
            .find("</sheetData>")
            .ok_or_else(|| anyhow!("{name}: no sheetData"))?;
        let last_letter = letters.last().cloned().unwrap_or_else(|| "B".into());
        let base_range = format!("B{HEADER_ROW}:{last_letter}6");
        if !table_xml.contains(&base_range) {
            return Err(anyhow!("{name}: table does not span {base_range}"));
        }
        Ok(BaseSheet {
            sheet_entry,
            table_entry,
            head: without_probe[..split].to_string(),
            tail: without_probe[split..].to_string(),
            table_xml: table_xml.replace(&base_range, "B4:RANGE"),
            style_attrs: styles
                .into_iter()
                .map(|s: String| {
                    if s.is_empty() || s == "0" {
                        String::new()
                    } else {
                        format!(" s=\"{s}\"")
                    }
                })
                .collect(),
            letters,
            last_letter,
        })
    }
}

fn write_row(xml: &mut String, base: &BaseSheet, row: &crate::batch::DataRow) {
    let r = row.row;
    let _ = write!(xml, "<row r=\"{r}\">");
    for (index, cell) in row.cells.iter().enumerate() {
        let letter = &base.letters[index];
        let style = &base.style_attrs[index];
        match cell {
            Cell::Empty => {}
            Cell::Text(text) => {
                let preserve = if text.starts_with(char::is_whitespace)
                    || text.ends_with(char::is_whitespace)
                {
                    " xml:space=\"preserve\""
                } else {
                    ""
                };
                let _ = write!(
                    xml,
                    "<c r=\"{letter}{r}\"{style} t=\"inlineStr\"><is><t{preserve}>"
                );
                escape_into(xml, text);
                xml.push_str("</t></is></c>");
            }
            Cell::Number(value) => {
                // The decimal's own text: no binary float between the model and the file.
                let _ = write!(
                    xml,
                    "<c r=\"{letter}{r}\"{style}><v>{}</v></c>",
                    value.normalize()
                );
            }
            Cell::DateTime(value) => {
                let _ = write!(
                    xml,
                    "<c r=\"{letter}{r}\"{style}><v>{}</v></c>",
                    excel_serial(*value)
                );
            }
        }
    }
    xml.push_str("</row>");
}

/// XML text escaping; characters XML 1.0 cannot carry are dropped.
fn escape_into(xml: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => xml.push_str("&amp;"),
            '<' => xml.push_str("&lt;"),
            '>' => xml.push_str("&gt;"),
            '\t' | '\n' | '\r' => xml.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => xml.push(c),
        }
    }
}

/// Excel's serial date-time: days since 1899-12-30, the time as a fraction.
fn excel_serial(value: NaiveDateTime) -> String {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default();
    let days = (value.date() - epoch).num_days();
    let seconds = value.num_seconds_from_midnight();
    if seconds == 0 {
        return days.to_string();
    }
    // A date-time is not money: a double is what Excel stores here.
    (days as f64 + f64::from(seconds) / 86_400.0).to_string()
}

/// 1 → B … (0 = A).
fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    Some(&text[from..to])
}

fn read_entry(archive: &mut ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<String> {
    let mut text = String::new();
    archive
        .by_name(name)
        .with_context(|| format!("base workbook lacks {name}"))?
        .read_to_string(&mut text)?;
    Ok(text)
}

fn sheet_rels_name(sheet_entry: &str) -> String {
    match sheet_entry.rsplit_once('/') {
        Some((dir, file)) => format!("{dir}/_rels/{file}.rels"),
        None => format!("_rels/{sheet_entry}.rels"),
    }
}

/// Sheet name → zip entry of its XML, from the workbook and its relations.
fn workbook_relations(archive: &mut ZipArchive<Cursor<&[u8]>>) -> Result<HashMap<String, String>> {
    let workbook = read_entry(archive, "xl/workbook.xml")?;
    let rels = read_entry(archive, "xl/_rels/workbook.xml.rels")?;
    let mut targets = HashMap::new();
    for relation in rels.split("<Relationship ").skip(1) {
        if let (Some(id), Some(target)) = (
            between(relation, "Id=\"", "\""),
            between(relation, "Target=\"", "\""),
        ) {
            targets.insert(
                id.to_string(),
                format!("xl/{}", target.trim_start_matches("/xl/")),
            );
        }
    }
    let mut sheets = HashMap::new();
    for sheet in workbook.split("<sheet ").skip(1) {
        if let (Some(name), Some(id)) = (
            between(sheet, "name=\"", "\""),
            between(sheet, "r:id=\"", "\""),
        ) && let Some(target) = targets.get(id)
        {
            sheets.insert(name.replace("&amp;", "&"), target.clone());
        }
    }
    Ok(sheets)
}

/// LHDN's template rows with a probe row 6: one blank cell per data column in
/// the column's row-5 format, so that each format has a style index to reuse.
fn base_workbook(created: NaiveDateTime) -> Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    let properties = DocProperties::new()
        .set_author("selfbill")
        .set_creation_datetime(&excel_datetime(created)?);
    workbook.set_properties(&properties);
    workbook.set_zip_compression_level(2);
    let mut formats = Formats::default();
    for schema in &template().sheets {
        let sheet = workbook.add_worksheet();
        sheet.set_name(&schema.name)?;
        write_template(sheet, schema, &mut formats)
            .with_context(|| format!("sheet {}", schema.name))?;
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

fn write_template(
    sheet: &mut Worksheet,
    schema: &SheetTemplate,
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
    let probe_row = FIRST_DATA_ROW - 1;
    for (index, code) in schema.data_formats.iter().enumerate() {
        let format = formats.get(code).clone();
        sheet.write_blank(probe_row, index as u16 + 1, &format)?;
    }
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
        probe_row,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(1), "B");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(74), "BW");
    }

    #[test]
    fn serials_and_escaping() {
        let at = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(excel_serial(at.and_hms_opt(0, 0, 0).unwrap()), "46352");
        assert_eq!(excel_serial(at.and_hms_opt(12, 0, 0).unwrap()), "46352.5");
        let mut xml = String::new();
        escape_into(&mut xml, "A&B <c> \u{1}ok");
        assert_eq!(xml, "A&amp;B &lt;c&gt; ok");
    }
}
