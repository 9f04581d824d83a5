//! Legacy `.xls` workbooks (BIFF inside a Compound File). calamine parses
//! every sheet into a dense grid as it opens the file, sized by the sheet's
//! farthest cell and its DIMENSIONS record: one stray cell at IV65536 makes
//! 16 million cells of a 6 KB file. So the records are scanned here first;
//! a sheet whose cells would span more than [`MAX_XLS_CELLS`] is refused,
//! naming its farthest cell. calamine also reads the whole shared-string
//! table, every string a `String` (24 bytes even when empty, from 3 bytes
//! of file), and gathers the CONTINUE records of a record by removing each
//! from the front of a list (time quadratic in their number): a table of
//! more than [`MAX_XLS_STRINGS`] strings, or a record continued more than
//! [`MAX_XLS_CONTINUES`] times, is refused before calamine opens the file.
//! The scan also gives what calamine does not: which rows are hidden.

use anyhow::{Result, bail};
use std::path::Path;

use super::grid::cell_reference;

/// The most cells an .xls sheet may span (its rows × its columns, from the
/// first cell to the last): 65,536 rows of 64 columns.
pub const MAX_XLS_CELLS: u64 = 65_536 * 64;

/// The most strings an .xls shared-string table may hold: 30 different
/// texts on every row of a full .xls sheet (65,536 rows).
pub const MAX_XLS_STRINGS: u64 = 2_000_000;

/// The most CONTINUE records one record may have: Excel continues a record
/// every 8,224 bytes, so this is a shared-string table of 135 MB.
pub const MAX_XLS_CONTINUES: usize = 16_384;

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
    let continues = longest_continuation(&stream);
    if continues > MAX_XLS_CONTINUES {
        bail!(
            "{shown}: a record of the workbook is continued {continues} times, more than the \
             {MAX_XLS_CONTINUES} of the largest workbook Excel writes; the file was not written \
             by Excel: open it in Excel and save it as .xlsx, or export it again"
        );
    }
    if let Some(strings) = shared_strings(&stream).filter(|n| *n > MAX_XLS_STRINGS) {
        bail!(
            "{shown}: its shared-string table holds {strings} strings or more, more than the \
             {MAX_XLS_STRINGS} selfbill reads (30 different texts on every row of a full .xls \
             sheet); the file was not written by Excel for these orders: open it in Excel and \
             save it as .xlsx, or export it again"
        );
    }
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

/// The most CONTINUE records (type 0x003C) that follow one record.
fn longest_continuation(stream: &[u8]) -> usize {
    let (mut longest, mut run) = (0, 0);
    for (kind, _) in records(stream, 0) {
        if kind == 0x003C {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// How many strings calamine reads from the workbook's shared-string table
/// (SST), counted no further than one past [`MAX_XLS_STRINGS`]; `None`
/// without a table, or when it is damaged (calamine then refuses it).
fn shared_strings(stream: &[u8]) -> Option<u64> {
    let mut table = None;
    let mut pieces = Vec::new();
    for (kind, data) in records(stream, 0) {
        match kind {
            0x00FC => table = Some(data),
            0x003C if table.is_some() => pieces.push(data),
            _ if table.is_some() => break,
            0x000A => break,
            _ => {}
        }
    }
    count_strings(table?, &pieces, MAX_XLS_STRINGS)
}

/// Counts the strings of an SST record's `data` and its CONTINUE `pieces`
/// as calamine reads them (MS-XLS 2.4.265: each string's character count,
/// flags, optional run and extension sizes, characters that may go on in
/// the next piece behind a new flags byte), up to `limit + 1`.
fn count_strings(data: &[u8], pieces: &[&[u8]], limit: u64) -> Option<u64> {
    let mut pieces = pieces.iter().copied();
    let mut data = data.get(8..)?;
    let mut count = 0u64;
    loop {
        if data.is_empty() {
            match pieces.next() {
                Some(next) => data = next,
                None => return Some(count),
            }
        }
        count += 1;
        if count > limit {
            return Some(count);
        }
        // An empty piece is an empty string to calamine.
        if data.is_empty() {
            continue;
        }
        let chars = usize::from(u16_at(data, 0)?);
        let flags = *data.get(2)?;
        data = &data[3..];
        let mut skip = 0usize;
        if flags & 0x8 != 0 {
            skip += 4 * usize::from(u16_at(data, 0)?);
            data = &data[2..];
        }
        if flags & 0x4 != 0 {
            let extension = u32_at(data, 0)? as i32 as usize;
            skip = skip.checked_add(extension)?;
            data = &data[4..];
        }
        let mut wide = flags & 0x1 != 0;
        let mut left = chars;
        loop {
            let width = if wide { 2 } else { 1 };
            let taken = (data.len() / width).min(left);
            data = &data[taken * width..];
            left -= taken;
            if left == 0 {
                break;
            }
            let next = pieces.next()?;
            wide = *next.first()? & 0x1 != 0;
            data = &next[1..];
        }
        while skip > 0 {
            if data.is_empty() {
                data = pieces.next()?;
            }
            let taken = skip.min(data.len());
            data = &data[taken..];
            skip -= taken;
        }
    }
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
    fn counts_shared_strings_as_calamine_reads_them() {
        let header = [0u8; 8];
        // "ab" (one byte each), "é" (two bytes), "xyz" split over a piece
        // that switches to two bytes a character, then a rich string whose
        // runs go on in the next piece.
        let mut sst = header.to_vec();
        sst.extend([2, 0, 0, b'a', b'b']);
        sst.extend([1, 0, 1, 0xE9, 0]);
        sst.extend([3, 0, 0, b'x']);
        let second = [1, b'y', 0, b'z', 0, 1, 0, 0x8, 1, 0, b'q', 0, 0];
        let third = [0, 0];
        assert_eq!(count_strings(&sst, &[&second, &third], 10), Some(4));
        // An empty piece is one more (empty) string.
        assert_eq!(count_strings(&sst, &[&second, &third, &[]], 10), Some(5));
        assert_eq!(count_strings(&sst, &[&second, &third], 2), Some(3));
        // Characters promised and never given: damaged.
        assert_eq!(count_strings(&sst, &[], 10), None);
        let empties = [header.to_vec(), [0u8; 3].repeat(1000)].concat();
        assert_eq!(count_strings(&empties, &[], 5000), Some(1000));
    }

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
