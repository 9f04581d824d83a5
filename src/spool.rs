//! Records kept on disk while a run goes on: written, in the order they are
//! made, to a temporary file beside the output (named as the output set's
//! temporary files, so a killed run's are removed by the next run there),
//! and read back in that order as often as needed. What a run says of each
//! of a million invoices is then not kept in its memory. A finished spool
//! keeps no file open: a run of thousands of parts has a spool each.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A record that can be spooled: written as bytes and read back.
pub trait Record: Decode {
    fn put(&self, out: &mut Vec<u8>);
}

/// What can be read from a record's bytes: the record, or part of it.
pub trait Decode: Sized {
    fn take(input: &mut Input<'_>) -> io::Result<Self>;
}

/// Records of type `T`, on disk from the first one.
#[derive(Debug)]
pub struct Spool<T> {
    /// The folder the file is made in (the file itself appears with the
    /// first record).
    dir: PathBuf,
    file: Option<BufWriter<tempfile::NamedTempFile>>,
    len: usize,
    scratch: Vec<u8>,
    _records: PhantomData<fn() -> T>,
}

impl<T: Record> Spool<T> {
    /// An empty spool whose file, once needed, is made in `dir`.
    pub fn new(dir: &Path) -> Spool<T> {
        Spool {
            dir: dir.to_path_buf(),
            file: None,
            len: 0,
            scratch: Vec::new(),
            _records: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a record.
    pub fn push(&mut self, record: &T) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self
                .file
                .insert(BufWriter::with_capacity(64 * 1024, temp_file(&self.dir)?)),
        };
        self.scratch.clear();
        record.put(&mut self.scratch);
        let len = u32::try_from(self.scratch.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
        file.write_all(&len.to_le_bytes())?;
        file.write_all(&self.scratch)?;
        self.len += 1;
        Ok(())
    }

    /// No more records: the spool, ready to be read.
    pub fn finish(self) -> io::Result<Spooled<T>> {
        let file = match self.file {
            Some(file) => Some(Arc::new(
                file.into_inner()
                    .map_err(|e| e.into_error())?
                    .into_temp_path(),
            )),
            None => None,
        };
        Ok(Spooled {
            file,
            start: 0,
            len: self.len,
            _records: PhantomData,
        })
    }
}

/// Spooled records, read back in the order written.
#[derive(Debug)]
pub struct Spooled<T> {
    /// Removed when the spool (and any other section of its file) is dropped.
    file: Option<Arc<tempfile::TempPath>>,
    /// Where its records start in the file.
    start: u64,
    len: usize,
    _records: PhantomData<fn() -> T>,
}

impl<T> Default for Spooled<T> {
    /// No records.
    fn default() -> Self {
        Spooled {
            file: None,
            start: 0,
            len: 0,
            _records: PhantomData,
        }
    }
}

impl<T: Record> Spooled<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each record, from the first: `each` returns false to stop.
    pub fn for_each(&self, each: impl FnMut(T) -> io::Result<bool>) -> io::Result<()> {
        self.for_each_as(each)
    }

    /// [`Spooled::for_each`], each record read as `U` (a part of it).
    pub fn for_each_as<U: Decode>(
        &self,
        mut each: impl FnMut(U) -> io::Result<bool>,
    ) -> io::Result<()> {
        let Some(path) = self.file.as_ref() else {
            return Ok(());
        };
        let mut file = File::open(&**path)?;
        file.seek(SeekFrom::Start(self.start))?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut bytes = Vec::new();
        for _ in 0..self.len {
            let mut len = [0; 4];
            reader.read_exact(&mut len)?;
            bytes.resize(u32::from_le_bytes(len) as usize, 0);
            reader.read_exact(&mut bytes)?;
            let record = U::take(&mut Input(&bytes))?;
            if !each(record)? {
                break;
            }
        }
        Ok(())
    }
}

/// One file for the spools of many sections written one after another (a
/// builder's parts): a split output of thousands of parts then makes a
/// file per builder, not one per part.
#[derive(Debug)]
pub struct Shared<T> {
    dir: PathBuf,
    file: RefCell<Option<SharedFile>>,
    _records: PhantomData<fn() -> T>,
}

#[derive(Debug)]
struct SharedFile {
    writer: BufWriter<File>,
    path: Arc<tempfile::TempPath>,
    /// Bytes written.
    end: u64,
    /// The section writing, by number: sections must not interleave.
    writing: u64,
    sections: u64,
}

/// A section of a [`Shared`] spool, written whole before the next one.
pub struct Section<'s, T> {
    shared: &'s Shared<T>,
    /// Its number and where it starts, once it has a record.
    started: Option<(u64, u64)>,
    len: usize,
    scratch: Vec<u8>,
}

impl<T: Record> Shared<T> {
    pub fn new(dir: &Path) -> Shared<T> {
        Shared {
            dir: dir.to_path_buf(),
            file: RefCell::new(None),
            _records: PhantomData,
        }
    }

    /// A new section, after those before.
    pub fn section(&self) -> Section<'_, T> {
        Section {
            shared: self,
            started: None,
            len: 0,
            scratch: Vec::new(),
        }
    }
}

impl<T: Record> Section<'_, T> {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, record: &T) -> io::Result<()> {
        let mut file = self.shared.file.borrow_mut();
        let file = match &mut *file {
            Some(file) => file,
            None => {
                let (writer, path) = temp_file(&self.shared.dir)?.into_parts();
                file.insert(SharedFile {
                    writer: BufWriter::with_capacity(64 * 1024, writer),
                    path: Arc::new(path),
                    end: 0,
                    writing: 0,
                    sections: 0,
                })
            }
        };
        let number = match self.started {
            Some((number, _)) => number,
            None => {
                file.sections += 1;
                file.writing = file.sections;
                self.started = Some((file.sections, file.end));
                file.sections
            }
        };
        if file.writing != number {
            return Err(io::Error::other("two sections of a spool written at once"));
        }
        self.scratch.clear();
        record.put(&mut self.scratch);
        let len = u32::try_from(self.scratch.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
        file.writer.write_all(&len.to_le_bytes())?;
        file.writer.write_all(&self.scratch)?;
        file.end += 4 + u64::from(len);
        self.len += 1;
        Ok(())
    }

    /// No more records in this section: ready to be read.
    pub fn finish(self) -> io::Result<Spooled<T>> {
        let Some((_, start)) = self.started else {
            return Ok(Spooled::default());
        };
        let mut file = self.shared.file.borrow_mut();
        let file = file
            .as_mut()
            .ok_or_else(|| io::Error::other("a section without its file"))?;
        file.writer.flush()?;
        Ok(Spooled {
            file: Some(file.path.clone()),
            start,
            len: self.len,
            _records: PhantomData,
        })
    }
}

fn temp_file(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    crate::write::set::temp_in(dir).map_err(|e| io::Error::other(format!("{e:#}")))
}

/// Writing a record's fields.
pub fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

pub fn put_decimal(out: &mut Vec<u8>, value: Decimal) {
    out.extend_from_slice(&value.serialize());
}

pub fn put_u8(out: &mut Vec<u8>, value: u8) {
    out.push(value);
}

pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_date(out: &mut Vec<u8>, date: NaiveDate) {
    out.extend_from_slice(&chrono::Datelike::num_days_from_ce(&date).to_le_bytes());
}

pub fn put_time(out: &mut Vec<u8>, time: NaiveDateTime) {
    let utc = time.and_utc();
    out.extend_from_slice(&utc.timestamp().to_le_bytes());
    out.extend_from_slice(&utc.timestamp_subsec_nanos().to_le_bytes());
}

/// A record's bytes, read field by field.
pub struct Input<'a>(&'a [u8]);

fn damaged() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "a temporary file of this run was changed while it ran",
    )
}

impl Input<'_> {
    fn bytes<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or_else(damaged)?;
        self.0 = rest;
        Ok(*head)
    }

    /// Passes over `len` bytes.
    pub fn skip(&mut self, len: usize) -> io::Result<()> {
        if len > self.0.len() {
            return Err(damaged());
        }
        self.0 = &self.0[len..];
        Ok(())
    }

    /// Passes over a text.
    pub fn skip_str(&mut self) -> io::Result<()> {
        let len = usize::try_from(u64::from_le_bytes(self.bytes()?)).map_err(|_| damaged())?;
        self.skip(len)
    }

    pub fn str(&mut self) -> io::Result<String> {
        let len = usize::try_from(u64::from_le_bytes(self.bytes()?)).map_err(|_| damaged())?;
        if len > self.0.len() {
            return Err(damaged());
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(text.to_vec()).map_err(|_| damaged())
    }

    pub fn decimal(&mut self) -> io::Result<Decimal> {
        Ok(Decimal::deserialize(self.bytes()?))
    }

    pub fn u8(&mut self) -> io::Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }

    pub fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    pub fn date(&mut self) -> io::Result<NaiveDate> {
        NaiveDate::from_num_days_from_ce_opt(i32::from_le_bytes(self.bytes()?)).ok_or_else(damaged)
    }

    pub fn time(&mut self) -> io::Result<NaiveDateTime> {
        let seconds = i64::from_le_bytes(self.bytes()?);
        let nanos = u32::from_le_bytes(self.bytes()?);
        chrono::DateTime::from_timestamp(seconds, nanos)
            .map(|t| t.naive_utc())
            .ok_or_else(damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Line(String, Decimal, NaiveDate);

    impl Record for Line {
        fn put(&self, out: &mut Vec<u8>) {
            put_str(out, &self.0);
            put_decimal(out, self.1);
            put_date(out, self.2);
        }
    }

    impl Decode for Line {
        fn take(input: &mut Input<'_>) -> io::Result<Self> {
            Ok(Line(input.str()?, input.decimal()?, input.date()?))
        }
    }

    #[test]
    fn records_come_back_in_order_as_often_as_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path());
        let date = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let lines: Vec<Line> = (0..10_000)
            .map(|n| Line(format!("订单 {n}"), Decimal::new(n, 2), date))
            .collect();
        for line in &lines {
            spool.push(line).unwrap();
        }
        let spooled = spool.finish().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(spooled.len(), 10_000);
        for _ in 0..2 {
            let mut back = Vec::new();
            spooled
                .for_each(|line| {
                    back.push(line);
                    Ok(true)
                })
                .unwrap();
            assert_eq!(back, lines);
        }
        let mut first = None;
        spooled
            .for_each(|line| {
                first = Some(line);
                Ok(false)
            })
            .unwrap();
        assert_eq!(first.as_ref(), lines.first());
        let empty = Spool::<Line>::new(dir.path()).finish().unwrap();
        empty.for_each(|_| panic!("no record")).unwrap();
        // A spool's file goes with it.
        drop(spooled);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn sections_of_one_file_come_back_apart() {
        let dir = tempfile::tempdir().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let line = |n: i64| Line(format!("订单 {n}"), Decimal::new(n, 2), date);
        let shared = Shared::new(dir.path());
        let mut parts = Vec::new();
        for part in 0..3 {
            let mut section = shared.section();
            for n in 0..part * 1000 {
                section.push(&line(part * 10_000 + n)).unwrap();
            }
            parts.push(section.finish().unwrap());
        }
        // One file for all.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        for (part, spooled) in parts.iter().enumerate().rev() {
            let mut back = Vec::new();
            spooled
                .for_each(|l| {
                    back.push(l);
                    Ok(true)
                })
                .unwrap();
            let part = part as i64;
            let made: Vec<Line> = (0..part * 1000).map(|n| line(part * 10_000 + n)).collect();
            assert_eq!(back, made);
        }
        // Sections written at once are refused.
        let (mut a, mut b) = (shared.section(), shared.section());
        a.push(&line(1)).unwrap();
        b.push(&line(2)).unwrap();
        assert!(a.push(&line(3)).is_err());
        drop(parts);
        drop((a, b));
        drop(shared);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_time_comes_back_to_the_nanosecond() {
        let time = NaiveDate::from_ymd_opt(2026, 11, 28)
            .unwrap()
            .and_hms_nano_opt(10, 0, 1, 5)
            .unwrap();
        let mut bytes = Vec::new();
        put_time(&mut bytes, time);
        put_u8(&mut bytes, 7);
        let mut input = Input(&bytes);
        assert_eq!(input.time().unwrap(), time);
        assert_eq!(input.u8().unwrap(), 7);
        assert!(input.u8().is_err());
    }
}
