//! Legacy `.xls` workbooks (BIFF inside a Compound File). calamine parses
//! every sheet into a dense grid as it opens the file, sized by the sheet's
//! farthest cell and its DIMENSIONS record: one stray cell at IV65536 makes
//! 16 million cells of a 6 KB file. So the records are scanned here first;
//! a sheet whose cells would span more than [`MAX_XLS_CELLS`] is refused,
//! naming its farthest cell. The scan also gives what calamine does not:
//! which rows are hidden.

use anyhow::{Result, bail};
use std::path::Path;

use super::grid::cell_reference;

/// The most cells an .xls sheet may span (its rows × its columns, from the
/// first cell to the last): 65,536 rows of 64 columns.
pub const MAX_XLS_CELLS: u64 = 65_536 * 64;

/// What the scan learnt of one sheet, in the workbook's sheet order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SheetShape {
    pub name: String,
    /// Rows (1-based) marked hidden.
    pub hidden_rows: Vec<u32>,
}

/// Scans an .xls file's records. An error when the file cannot be read as
/// BIFF, or when a sheet spans too many cells for its data to be read.
pub fn scan(path: &Path, bytes: &[u8]) -> Result<Vec<SheetShape>> {
    let shown = path.display();
    let Some(stream) = workbook_stream(bytes) else {
        bail!("{shown}: not a readable xls workbook (truncated or damaged?); save it again");
    };
    let sheets = bound_sheets(&stream).ok_or_else(|| {
        anyhow::anyhow!("{shown}: not a readable xls workbook (damaged?); save it again")
    })?;
    let mut shapes = Vec::new();
    for (offset, name) in sheets {
        let Some(scan) = scan_sheet(&stream, offset) else {
            bail!("{shown}, sheet {name}: cannot be read (damaged workbook?); save it again");
        };
        if let Some((first, last)) = scan.extent {
            let cells = u64::from(last.0 - first.0 + 1) * u64::from(last.1 - first.1 + 1);
            if cells > MAX_XLS_CELLS {
                bail!(
                    "{shown}, sheet {name}: its cells span {}:{} ({cells} cells), far more than \
                     its data; a stray cell at {} is the likely cause: delete the empty rows and \
                     columns around the data in Excel and save again (or save as .xlsx)",
                    cell_reference(first.0 + 1, first.1 as usize),
                    cell_reference(last.0 + 1, last.1 as usize),
                    cell_reference(scan.farthest.0 + 1, scan.farthest.1 as usize),
                );
            }
        }
        if !scan.dimensions_ok {
            bail!(
                "{shown}, sheet {name}: its DIMENSIONS record claims an impossible size; the file \
                 was not written by Excel: open it in Excel and save it again"
            );
        }
        shapes.push(SheetShape {
            name,
            hidden_rows: scan.hidden_rows,
        });
    }
    Ok(shapes)
}

struct SheetScan {
    /// (row, column) of the first and last cell, 0-based.
    extent: Option<((u32, u32), (u32, u32))>,
    /// The cell farthest from A1.
    farthest: (u32, u32),
    dimensions_ok: bool,
    hidden_rows: Vec<u32>,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// BIFF records: (type, data), from `offset` on.
fn records(stream: &[u8], offset: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = offset;
    std::iter::from_fn(move || {
        let kind = u16_at(stream, at)?;
        let len = usize::from(u16_at(stream, at + 2)?);
        let data = stream.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        Some((kind, data))
    })
}

/// The sheets' BOF offsets and names, from the BOUNDSHEET records of the
/// workbook globals; `None` when one points outside the stream.
fn bound_sheets(stream: &[u8]) -> Option<Vec<(usize, String)>> {
    let mut sheets = Vec::new();
    for (kind, data) in records(stream, 0) {
        match kind {
            0x0085 => {
                let offset = u32_at(data, 0)? as usize;
                if data.len() < 8 || offset >= stream.len() {
                    return None;
                }
                let name =
                    sheet_name(&data[6..]).unwrap_or_else(|| format!("{}", sheets.len() + 1));
                sheets.push((offset, name));
            }
            0x000A => break,
            _ => {}
        }
    }
    Some(sheets)
}

/// A BIFF8 short string (length, flags, characters), else bytes as Latin-1.
fn sheet_name(data: &[u8]) -> Option<String> {
    let len = usize::from(*data.first()?);
    let flags = *data.get(1)?;
    if flags & 1 == 1 {
        let units: Vec<u16> = data
            .get(2..2 + 2 * len)?
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(String::from_utf16_lossy(&units))
    } else {
        Some(
            data.get(2..2 + len)?
                .iter()
                .map(|b| char::from(*b))
                .collect(),
        )
    }
}

/// Scans a sheet's substream for the extent of the cells calamine keeps,
/// its DIMENSIONS record and its hidden rows.
fn scan_sheet(stream: &[u8], offset: usize) -> Option<SheetScan> {
    let mut scan = SheetScan {
        extent: None,
        farthest: (0, 0),
        dimensions_ok: true,
        hidden_rows: Vec::new(),
    };
    let mut seen_bof = false;
    let mut depth = 0usize;
    let include = |scan: &mut SheetScan, row: u32, col: u32| {
        let ((r0, c0), (r1, c1)) = scan.extent.unwrap_or(((row, col), (row, col)));
        scan.extent = Some(((r0.min(row), c0.min(col)), (r1.max(row), c1.max(col))));
        let (fr, fc) = scan.farthest;
        if u64::from(row) * 256 + u64::from(col) > u64::from(fr) * 256 + u64::from(fc) {
            scan.farthest = (row, col);
        }
    };
    for (kind, data) in records(stream, offset) {
        if depth > 0 {
            match kind {
                0x0809 => depth += 1,
                0x000A => depth -= 1,
                _ => {}
            }
            continue;
        }
        match kind {
            0x0809 if seen_bof => depth += 1,
            0x0809 => seen_bof = true,
            0x000A => return Some(scan),
            // DIMENSIONS: calamine reserves room for rows × columns.
            0x0200 => {
                let (first_row, last_row, first_col, last_col) = match data.len() {
                    10 => (
                        u32::from(u16_at(data, 0)?),
                        u32::from(u16_at(data, 2)?),
                        u32::from(u16_at(data, 4)?),
                        u32::from(u16_at(data, 6)?),
                    ),
                    14 | 16 => (
                        u32_at(data, 0)?,
                        u32_at(data, 4)?,
                        u32::from(u16_at(data, 8)?),
                        u32::from(u16_at(data, 10)?),
                    ),
                    _ => return None,
                };
                let first_col = if first_col > 0xFF || last_col < first_col {
                    0
                } else {
                    first_col
                };
                if last_row >= 1 && last_col >= 1 {
                    let rows = u64::from(last_row).checked_sub(u64::from(first_row));
                    let cols = u64::from(last_col) - u64::from(first_col);
                    scan.dimensions_ok &=
                        rows.is_some_and(|r| r.max(1) * cols.max(1) <= MAX_XLS_CELLS);
                }
            }
            // Cells calamine keeps: Number, Label, RString, BoolErr, RK,
            // LabelSst, Formula.
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
                let row = u32::from(u16_at(data, 0)?);
                let col = u32::from(u16_at(data, 2)?);
                include(&mut scan, row, col);
            }
            // MulRk: one row, columns first..last.
            0x00BD => {
                let row = u32::from(u16_at(data, 0)?);
                let first = u32::from(u16_at(data, 2)?);
                let last = u32::from(u16_at(data, data.len().checked_sub(2)?)?);
                include(&mut scan, row, first);
                include(&mut scan, row, last.max(first));
            }
            // Row: fDyZero (0x20 in the flags) hides it.
            0x0208 => {
                let row = u32::from(u16_at(data, 0)?);
                if u16_at(data, 12).is_some_and(|flags| flags & 0x20 != 0) {
                    scan.hidden_rows.push(row + 1);
                }
            }
            _ => {}
        }
    }
    // A sheet with no EOF record ends with the stream.
    Some(scan)
}

/// Sector ids from here up mark free sectors and chain ends.
const FREE: u32 = 0xFFFF_FFFA;

/// A chain of sectors through `table`, `unit` bytes of each from `area`;
/// `None` when it leaves the file or loops.
fn chain<'a>(
    table: &[u32],
    start: u32,
    unit: usize,
    area: impl Fn(u32) -> Option<&'a [u8]>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut id = start;
    let mut steps = 0;
    while id < FREE {
        steps += 1;
        if steps > table.len() {
            return None;
        }
        out.extend_from_slice(area(id)?.get(..unit)?);
        id = *table.get(id as usize)?;
    }
    Some(out)
}

/// The `Workbook` (or BIFF5 `Book`) stream of a Compound File.
fn workbook_stream(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return None;
    }
    let shift = u16_at(bytes, 0x1E)?;
    if shift != 9 && shift != 12 {
        return None;
    }
    let size = 1usize << shift;
    let mini_shift = u16_at(bytes, 0x20)?;
    if mini_shift != 6 {
        return None;
    }
    let sector = |id: u32| -> Option<&[u8]> {
        let start = (id as usize).checked_add(1)?.checked_mul(size)?;
        bytes.get(start..start.checked_add(size)?)
    };
    let sectors = bytes.len() / size;
    // The FAT's own sectors: 109 in the header, the rest in the DIFAT chain.
    let mut fat_sectors: Vec<u32> = (0..109)
        .filter_map(|i| u32_at(bytes, 0x4C + 4 * i))
        .filter(|id| *id < FREE)
        .collect();
    let mut difat = u32_at(bytes, 0x44)?;
    let mut steps = 0;
    while difat < FREE {
        steps += 1;
        if steps > sectors {
            return None;
        }
        let data = sector(difat)?;
        let entries = size / 4 - 1;
        fat_sectors.extend(
            (0..entries)
                .filter_map(|i| u32_at(data, 4 * i))
                .filter(|id| *id < FREE),
        );
        difat = u32_at(data, 4 * entries)?;
    }
    if fat_sectors.len() > sectors {
        return None;
    }
    let mut fat = Vec::with_capacity(fat_sectors.len() * size / 4);
    for id in fat_sectors {
        let data = sector(id)?;
        fat.extend(
            data.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }
    let directory = chain(&fat, u32_at(bytes, 0x30)?, size, sector)?;
    let entries: Vec<&[u8]> = directory.chunks_exact(128).collect();
    let root = entries.first()?;
    let entry = entries.iter().find(|entry| {
        let len = usize::from(u16_at(entry, 64).unwrap_or(0)).min(64);
        let name: Vec<u16> = entry[..len]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|u| *u != 0)
            .collect();
        let name = String::from_utf16_lossy(&name);
        entry[66] == 2 && (name == "Workbook" || name == "Book")
    })?;
    let start = u32_at(entry, 116)?;
    let length = u32_at(entry, 120)? as usize;
    let cutoff = u32_at(bytes, 0x38)? as usize;
    let mut stream = if length < cutoff {
        let mini_stream = chain(&fat, u32_at(root, 116)?, size, sector)?;
        let mini_fat: Vec<u32> = chain(&fat, u32_at(bytes, 0x3C)?, size, sector)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mini = |id: u32| -> Option<&[u8]> {
            let start = (id as usize).checked_mul(64)?;
            mini_stream.get(start..start.checked_add(64)?)
        };
        chain(&mini_fat, start, 64, mini)?
    } else {
        chain(&fat, start, size, sector)?
    };
    if stream.len() < length {
        return None;
    }
    stream.truncate(length);
    Some(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_committed_xls_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for name in ["orders.xls", "old-layout.xls"] {
            let path = root.join(name);
            let bytes = std::fs::read(&path).unwrap();
            let shapes = scan(&path, &bytes).unwrap();
            assert!(!shapes.is_empty(), "{name}");
            assert!(shapes.iter().all(|s| s.hidden_rows.is_empty()), "{name}");
        }
    }
}
