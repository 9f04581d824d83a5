//! Opening an input: only regular files (a FIFO or a device never ends),
//! never more bytes than a limit, and what kind of spreadsheet the bytes are.
//! An xlsx export is read where it lies (its zip's parts as they are
//! needed), not copied into memory, and once read is checked to be the file
//! it was when opened.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

const MIB: u64 = 1024 * 1024;

/// The largest export, workbook or CSV file selfbill reads.
pub const MAX_SPREADSHEET_BYTES: u64 = 256 * MIB;
/// The largest config, supplier directory, rates or customs file.
pub const MAX_TEXT_BYTES: u64 = 16 * MIB;
/// The most one part of an xlsx file (a sheet's XML, the shared strings)
/// may unpack to, as the zip declares it; the zip reader stops at the
/// declared size.
pub const MAX_PART_BYTES: u64 = 256 * MIB;
/// The most all parts of an xlsx file together may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 512 * MIB;
/// The largest template (`--template`, `[output] template`): LHDN's is
/// 155 KB, 0.9 MB unpacked.
pub const MAX_TEMPLATE_BYTES: u64 = 16 * MIB;
/// The most one part of a template may unpack to, and all its parts.
pub const MAX_TEMPLATE_PART_BYTES: u64 = 64 * MIB;
pub const MAX_TEMPLATE_UNPACKED_BYTES: u64 = 128 * MIB;
/// Excel's last row and column: no spreadsheet holds more.
pub const MAX_ROWS: u32 = 1_048_576;
pub const MAX_COLUMNS: usize = 16_384;
/// Excel's limit on the characters of a cell.
pub const MAX_CELL_CHARS: usize = 32_767;

/// The characters of a text longer than a cell holds ([`MAX_CELL_CHARS`]).
pub fn too_long_for_a_cell(text: &str) -> Option<usize> {
    if text.len() <= MAX_CELL_CHARS {
        return None;
    }
    let chars = text.chars().count();
    (chars > MAX_CELL_CHARS).then_some(chars)
}

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Xlsx,
    Xls,
    /// A Compound File that is not a BIFF workbook: Excel stores a
    /// password-protected xlsx this way.
    EncryptedOoxml,
    Csv,
}

/// The bytes of a regular file of at most `limit` bytes. `what` names the
/// file in errors ("export", "config", …).
pub fn read_input(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>> {
    open_input(path, what, limit)?.read_all()
}

/// A regular file of at most its limit, open, and what it was when opened.
#[derive(Debug)]
pub struct Opened {
    file: Arc<File>,
    /// The path as messages show it, and what the file is ("export", …).
    shown: String,
    what: String,
    limit: u64,
    len: u64,
    modified: Option<SystemTime>,
}

/// Opens a regular file of at most `limit` bytes. `what` names the file in
/// errors ("export", "config", …).
pub fn open_input(path: &Path, what: &str, limit: u64) -> Result<Opened> {
    let shown = path.display();
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("{shown}: {what} cannot be read; check that the path is right"))?;
    if metadata.is_dir() {
        bail!("{shown}: is a folder, not a file; give the path of the {what}");
    }
    if !metadata.is_file() {
        bail!(
            "{shown}: is not a regular file (a pipe, device or socket); selfbill reads only \
             regular files: save the {what} to a file first and give its path"
        );
    }
    if metadata.len() > limit {
        bail!(
            "{shown}: the {what} is {} MB; selfbill reads files of at most {} MB",
            metadata.len().div_ceil(MIB),
            limit / MIB
        );
    }
    let file = std::fs::File::open(path).with_context(|| {
        format!("{shown}: {what} cannot be read; check that it is not open elsewhere")
    })?;
    // The file is checked again once open, and read no further than the
    // limit, in case it changed in between.
    let opened = match file.metadata() {
        Ok(opened) if opened.is_file() => opened,
        _ => bail!("{shown}: is not a regular file; selfbill reads only regular files"),
    };
    Ok(Opened {
        file: Arc::new(file),
        shown: shown.to_string(),
        what: what.to_string(),
        limit,
        len: opened.len(),
        modified: opened.modified().ok(),
    })
}

impl Opened {
    /// The file's bytes, no more than its limit.
    pub fn read_all(self) -> Result<Vec<u8>> {
        let (shown, what, limit) = (&self.shown, &self.what, self.limit);
        let mut bytes = Vec::with_capacity(self.len.min(limit) as usize);
        self.at_start()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("{shown}: {what} cannot be read"))?;
        if bytes.len() as u64 > limit {
            bail!(
                "{shown}: the {what} grew past {} MB while it was read; selfbill reads files of \
                 at most {} MB",
                limit / MIB,
                limit / MIB
            );
        }
        Ok(bytes)
    }

    /// The file from its start, read where it lies (a zip's parts, as they
    /// are needed); readers of one file, on several threads, each have their
    /// own place in it. [`Opened::unchanged`] tells, once it is read,
    /// whether it changed meanwhile.
    pub fn reader(&self) -> BufReader<FileAt> {
        BufReader::with_capacity(64 << 10, self.at_start())
    }

    fn at_start(&self) -> FileAt {
        FileAt {
            // The open file, not the path (which may now name another file).
            file: Arc::clone(&self.file),
            len: self.len,
            at: 0,
        }
    }

    /// The file's first bytes (fewer if it is shorter).
    fn start(&self, len: u64) -> Result<Vec<u8>> {
        let mut start = Vec::new();
        self.at_start()
            .take(len)
            .read_to_end(&mut start)
            .with_context(|| format!("{}: {} cannot be read", self.shown, self.what))?;
        Ok(start)
    }

    /// Whether the file is still as it was when opened (its length and the
    /// time it was last written): what was read of a file that changed
    /// meanwhile may be neither the old file nor the new one.
    pub fn unchanged(&self) -> Result<()> {
        let now = self
            .file
            .metadata()
            .with_context(|| format!("{}: {} cannot be read", self.shown, self.what))?;
        if now.len() != self.len || now.modified().ok() != self.modified {
            bail!(
                "{}: the {} changed while it was read; read it again once it is saved (or \
                 downloaded) completely",
                self.shown,
                self.what
            );
        }
        if now.len() > self.limit {
            bail!(
                "{}: the {} grew past {} MB while it was read",
                self.shown,
                self.what,
                self.limit / MIB
            );
        }
        Ok(())
    }
}

/// An open file read from a place of its own (positioned reads: readers
/// of one file do not move each other's place), as long as it was when
/// opened.
#[derive(Debug)]
pub struct FileAt {
    file: Arc<File>,
    len: u64,
    at: u64,
}

impl Read for FileAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let read = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.at)?;
        #[cfg(windows)]
        let read = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

impl Seek for FileAt {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let at = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(by) => self.len.checked_add_signed(by),
            SeekFrom::Current(by) => self.at.checked_add_signed(by),
        };
        self.at = at.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a place before the file's start",
            )
        })?;
        Ok(self.at)
    }
}

/// A spreadsheet file opened: an xlsx workbook to read where it lies, or
/// the bytes of another kind.
#[derive(Debug)]
pub enum Spreadsheet {
    Xlsx(Opened),
    Read(Vec<u8>, FileKind),
}

/// Opens a spreadsheet file (an export) and tells what it is: an xlsx
/// workbook is not read yet, another kind is read whole.
pub fn open_spreadsheet(path: &Path) -> Result<Spreadsheet> {
    let opened = open_input(path, "spreadsheet", MAX_SPREADSHEET_BYTES)?;
    if opened.start(4)?.starts_with(ZIP) {
        return Ok(Spreadsheet::Xlsx(opened));
    }
    let bytes = opened.read_all()?;
    let kind = kind_of(path, &bytes)?;
    Ok(Spreadsheet::Read(bytes, kind))
}

/// The first bytes of a zip file (an xlsx workbook).
const ZIP: &[u8] = b"PK\x03\x04";

/// Reads a spreadsheet file (export or workbook) and tells what it is.
pub fn read_spreadsheet(path: &Path) -> Result<(Vec<u8>, FileKind)> {
    let bytes = read_input(path, "spreadsheet", MAX_SPREADSHEET_BYTES)?;
    let kind = kind_of(path, &bytes)?;
    Ok((bytes, kind))
}

/// What a spreadsheet file's bytes are.
fn kind_of(path: &Path, bytes: &[u8]) -> Result<FileKind> {
    let kind = if bytes.starts_with(ZIP) {
        FileKind::Xlsx
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        let marker: Vec<u8> = "EncryptionInfo"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        if memchr::memmem::find(bytes, &marker).is_some() {
            FileKind::EncryptedOoxml
        } else {
            FileKind::Xls
        }
    } else if has_extension(path, "csv") || has_extension(path, "txt") {
        FileKind::Csv
    } else {
        bail!(
            "{}: not a spreadsheet (expected an .xlsx or .xls workbook, or a .csv file); \
             export the orders again from 1688 (我的订单 → 导出)",
            path.display()
        );
    };
    Ok(kind)
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let error = read_input(Path::new("/dev/zero"), "export", MAX_SPREADSHEET_BYTES)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a regular file"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let error = read_input(dir.path(), "export", 10)
            .unwrap_err()
            .to_string();
        assert!(error.contains("is a folder"), "{error}");
        let big = dir.path().join("big.csv");
        std::fs::write(&big, vec![b' '; 2 * MIB as usize + 1]).unwrap();
        let error = read_input(&big, "export", 2 * MIB).unwrap_err().to_string();
        assert!(error.contains("at most 2 MB"), "{error}");
        // A spreadsheet read where it lies is refused as at once.
        let error = open_spreadsheet(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a regular file"), "{error}");
        let error = open_spreadsheet(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is a folder"), "{error}");
    }

    #[test]
    fn an_xlsx_file_is_opened_not_read_and_other_kinds_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let xlsx = dir.path().join("e.xlsx");
        std::fs::write(&xlsx, b"PK\x03\x04 and the rest").unwrap();
        let Spreadsheet::Xlsx(opened) = open_spreadsheet(&xlsx).unwrap() else {
            panic!("an xlsx file");
        };
        let mut bytes = Vec::new();
        opened.reader().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"PK\x03\x04 and the rest");
        // Each reader has its own place in the file.
        let (mut first, mut second) = (opened.reader(), opened.reader());
        let mut four = [0; 4];
        first.seek(SeekFrom::End(-4)).unwrap();
        first.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"rest");
        second.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"PK\x03\x04");
        assert!(first.seek(SeekFrom::Current(-100)).is_err());
        opened.unchanged().unwrap();
        let csv = dir.path().join("e.csv");
        std::fs::write(&csv, "a,b\n").unwrap();
        assert!(matches!(
            open_spreadsheet(&csv).unwrap(),
            Spreadsheet::Read(bytes, FileKind::Csv) if bytes == b"a,b\n"
        ));
        let error = open_spreadsheet(&dir.path().join("absent.xlsx"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("absent.xlsx"), "{error}");
    }
}
