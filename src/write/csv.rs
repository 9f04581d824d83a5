//! One UTF-8 CSV (with BOM, for Excel) per sheet that has data; headers are
//! LHDN's row-4 headers, amounts plain decimals, date-times
//! `yyyy-MM-ddTHH:mm:ssZ`. Text that Excel would take for a formula gets a
//! leading `'` ([`crate::csv_safe`]); numbers are written as they are.

use anyhow::Result;

use crate::batch::{Batch, Cell, template};
use crate::csv_safe::neutralise;

/// `(file name, bytes)` for each sheet with data rows.
pub fn sheet_files(batch: &Batch) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for (schema, data) in template().sheets.iter().zip(&batch.sheets) {
        if data.rows.is_empty() {
            continue;
        }
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        {
            let mut writer = csv::Writer::from_writer(&mut bytes);
            writer.write_record(&schema.headers)?;
            for (index, row) in data.rows.iter().enumerate() {
                for column in 0..schema.headers.len() {
                    super::fits_a_cell(schema, &row.cells, column, index + 2)?;
                }
                writer.write_record(row.cells.iter().map(|cell| match cell {
                    Cell::Text(text) => neutralise(text).into_owned(),
                    other => other.as_text().into_owned(),
                }))?;
            }
            writer.flush()?;
        }
        files.push((format!("{}.csv", schema.name), bytes));
    }
    Ok(files)
}
