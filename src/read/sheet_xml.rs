//! An xlsx sheet read straight from its XML (tokenized by `xml_tokens`;
//! the workbook's small parts with quick-xml), cell by cell,
//! as calamine's streaming reader reads it, but making a cell's value only
//! when the sink keeps it: an export has 49 columns, selfbill reads 15, and
//! calamine made every cell of every column (a `String` per text cell).
//! Exports are read this way (`sheet::read_first_sheet`); batch workbooks,
//! whose formulas `check` reads, through calamine (`xlsx::stream_sheet`).
//!
//! The rules follow calamine 0.38's cell reader (MIT): shared and inline
//! strings with their rich-text runs, phonetic runs (`<rPh>`) left out,
//! `xml:space`, entities and Excel's `_xHHHH_` escapes; the cell types
//! `s`, `str`, `inlineStr`, `b`, `e`, `n`, `d` and none; a number is a date
//! when its style's number format is a date format; a cell or row without
//! an `r` follows the one before. What calamine refuses, this refuses,
//! except in cells the sink does not keep (only read as XML) and a damaged
//! `<dimension>`, which nothing here needs. Tests hold the two readers
//! equal on every workbook among the test files and on generated ones.

use anyhow::{Context as _, Result, anyhow, bail};
use calamine::{CellErrorType, Data, ExcelDateTime, ExcelDateTimeType};
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;
use zip::ZipArchive;

use super::grid::RowSink;
use super::xlsx::{self, Rows, damaged};
use super::xml_tokens::{
    Attributes, Closing, Token, Tokens, decode_cdata, decode_text, find_byte, local_name,
};

type Xml<R> = quick_xml::Reader<R>;

/// What a cell's number format makes of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Number,
    DateTime,
    Duration,
}

/// An xlsx workbook opened for reading its sheets' cells, its zip read
/// from `R` (the file, or bytes in memory).
pub struct Book<R> {
    zip: ZipArchive<R>,
    /// Part names by their lower-cased, forward-slashed name: calamine
    /// finds parts whatever their case.
    parts: HashMap<String, String>,
    strings: Vec<String>,
    /// The number format of each cell style (`cellXfs`), by style index.
    formats: Vec<Format>,
    is_1904: bool,
    /// (name, part) of each sheet, in the workbook's order.
    sheets: Vec<(String, String)>,
}

/// Opens the workbook in `source` once its package has been checked (see
/// [`xlsx::check_package_within`]): its sheets, shared strings and styles.
pub fn open<R: Read + Seek>(path: &Path, source: R) -> Result<Book<R>> {
    let mut book = Book::unread(path, source)?;
    xlsx::check_archive(path, &mut book.zip, &xlsx::WORKBOOK_LIMITS)?;
    book.read_parts().with_context(|| damaged(path))?;
    Ok(book)
}

/// The zip part holding each sheet's XML, by sheet name in the workbook's
/// order, found as calamine finds them; the package is not checked again.
pub fn sheet_parts<R: Read + Seek>(path: &Path, source: R) -> Result<Vec<(String, String)>> {
    let mut book = Book::unread(path, source)?;
    book.read_sheets().with_context(|| damaged(path))?;
    let Book { sheets, parts, .. } = book;
    Ok(sheets
        .into_iter()
        .map(|(name, part)| match parts.get(&part.to_ascii_lowercase()) {
            Some(stored) => (name, stored.clone()),
            None => (name, part),
        })
        .collect())
}

impl<R: Read + Seek> Book<R> {
    /// The package's zip, its parts named, nothing read yet.
    fn unread(path: &Path, source: R) -> Result<Book<R>> {
        let zip = ZipArchive::new(source).with_context(|| damaged(path))?;
        let parts = zip
            .file_names()
            .map(|name| {
                name.map(|name| {
                    (
                        name.replace('\\', "/").to_ascii_lowercase(),
                        name.into_owned(),
                    )
                })
            })
            .collect::<Result<_, _>>()
            .with_context(|| damaged(path))?;
        Ok(Book {
            zip,
            parts,
            strings: Vec::new(),
            formats: Vec::new(),
            is_1904: false,
            sheets: Vec::new(),
        })
    }

    /// The sheets' names, in the workbook's order.
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.iter().map(|(name, _)| name.clone()).collect()
    }

    /// The XML of a part, if the package has it.
    fn part(&mut self, name: &str) -> Result<Option<Xml<BufReader<impl Read + '_>>>> {
        part(&mut self.zip, &self.parts, name)
    }

    /// The workbook's parts, as calamine's `Xlsx::new` reads them.
    fn read_parts(&mut self) -> Result<()> {
        let dir = self.read_sheets()?;
        let (zip, parts) = (&mut self.zip, &self.parts);
        if let Some(xml) = entry(zip, parts, &format!("{dir}sharedStrings.xml"))? {
            self.strings = shared_strings(&mut Tokens::new(xml))?;
        }
        if let Some(mut xml) = part(zip, parts, &format!("{dir}styles.xml"))? {
            self.formats = cell_formats(&mut xml)?;
        }
        Ok(())
    }

    /// The sheets and the date system, from the workbook part and its
    /// relationships; the workbook part's folder (with its `/`).
    fn read_sheets(&mut self) -> Result<String> {
        let (dir, workbook) = self.office_document()?;
        let (zip, parts) = (&mut self.zip, &self.parts);
        let rels = format!("{dir}_rels/{workbook}.rels");
        let relationships: HashMap<String, (String, String)> = match part(zip, parts, &rels)? {
            Some(mut xml) => relationships(&mut xml)?
                .into_iter()
                .map(|(id, kind, target)| (id, (kind, target)))
                .collect(),
            None => bail!("{rels} is missing"),
        };
        if let Some(mut xml) = part(zip, parts, &format!("{dir}{workbook}"))? {
            let (sheets, is_1904) = workbook_sheets(&mut xml, &dir, &relationships)?;
            self.sheets = sheets;
            self.is_1904 = is_1904;
        }
        Ok(dir)
    }

    /// The folder (with its `/`) and name of the workbook part.
    fn office_document(&mut self) -> Result<(String, String)> {
        let Some(mut xml) = self.part("_rels/.rels")? else {
            bail!("_rels/.rels is missing");
        };
        let target = relationships(&mut xml)?
            .into_iter()
            .filter(|(_, kind, _)| kind.ends_with("/relationships/officeDocument"))
            .map(|(_, _, target)| target)
            .next_back()
            .ok_or_else(|| anyhow!("no officeDocument relationship"))?;
        let target = decode_attribute(&target)?;
        let (dir, name) = match target.rfind('/') {
            Some(i) => target.split_at(i + 1),
            None => ("", target.as_str()),
        };
        let dir = dir.strip_prefix('/').unwrap_or(dir).to_string();
        let name = if name.is_empty() {
            "workbook.xml"
        } else {
            name
        };
        Ok((dir, name.to_string()))
    }

    /// Streams the rows of sheet `sheet` into `sink`, as
    /// [`xlsx::stream_sheet`] does without formulas.
    pub fn stream_sheet(&mut self, path: &Path, sheet: &str, sink: &mut dyn RowSink) -> Result<()> {
        let where_ = format!("{}, sheet {sheet}", path.display());
        let unreadable =
            || format!("{where_}: cannot be read (damaged workbook?); save it again from Excel");
        let Book {
            zip,
            parts,
            strings,
            formats,
            is_1904,
            sheets,
        } = self;
        let name = sheets
            .iter()
            .find(|(name, _)| name == sheet)
            .map(|(_, part)| part.as_str())
            .ok_or_else(|| anyhow!("no sheet {sheet}"))
            .with_context(unreadable)?;
        let Some(xml) = entry(zip, parts, name).with_context(unreadable)? else {
            return Err(anyhow!("its part {name} is missing")).with_context(unreadable);
        };
        let lookup = Lookup {
            strings,
            formats,
            is_1904: *is_1904,
        };
        let mut rows = Rows::new(sink, where_.clone());
        let mut cells = SheetCells::new(Tokens::new(xml), lookup);
        cells.read(&mut rows, &unreadable)?;
        // The part's end, so that the zip checks its checksum.
        cells.xml.drain().with_context(unreadable)?;
        rows.finish()
    }
}

/// The bytes of a part, if the package has it.
fn entry<'z, R: Read + Seek>(
    zip: &'z mut ZipArchive<R>,
    parts: &HashMap<String, String>,
    name: &str,
) -> Result<Option<impl Read + 'z>> {
    let Some(name) = parts.get(&name.to_ascii_lowercase()) else {
        return Ok(None);
    };
    Ok(Some(zip.by_name(name)?))
}

/// The XML of a part, if the package has it.
fn part<'z, R: Read + Seek>(
    zip: &'z mut ZipArchive<R>,
    parts: &HashMap<String, String>,
    name: &str,
) -> Result<Option<Xml<BufReader<impl Read + 'z>>>> {
    Ok(entry(zip, parts, name)?.map(|entry| xml_reader(BufReader::with_capacity(64 << 10, entry))))
}

/// A reader of a part's XML, configured as calamine's: end tags not
/// matched to start tags, text untrimmed, `<a/>` read as `<a></a>`.
fn xml_reader<R: BufRead>(source: R) -> Xml<R> {
    let mut xml = quick_xml::Reader::from_reader(source);
    let config = xml.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    xml
}

/// The raw value of attribute `key` (exactly so named) of an element.
fn attribute<'e>(e: &'e BytesStart<'_>, key: &str) -> Result<Option<Cow<'e, str>>> {
    for attribute in e.attributes().with_checks(false) {
        let attribute = attribute?;
        if attribute.key.as_ref() == key {
            return Ok(Some(attribute.value));
        }
    }
    Ok(None)
}

/// An attribute's value with its entities resolved.
fn decode_attribute(raw: &str) -> Result<String> {
    Ok(quick_xml::escape::unescape(raw)?.into_owned())
}

/// (Id, Type, Target) of the relationships of a `.rels` part, in order.
fn relationships<R: BufRead>(xml: &mut Xml<R>) -> Result<Vec<(String, String, String)>> {
    let mut buf = Vec::new();
    let mut found = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "Relationship" => {
                let (mut id, mut kind, mut target) = (None, String::new(), String::new());
                for attribute in e.attributes().with_checks(false) {
                    let attribute = attribute?;
                    match attribute.key.as_ref() {
                        "Id" => id = Some(attribute.value.into_owned()),
                        "Type" => kind = attribute.value.into_owned(),
                        "Target" => target = attribute.value.into_owned(),
                        _ => {}
                    }
                }
                if let Some(id) = id {
                    found.push((id, kind, target));
                }
            }
            Event::End(e) if e.local_name().as_ref() == "Relationships" => return Ok(found),
            Event::Eof => bail!("a relationships part ends early"),
            _ => {}
        }
    }
}

/// The sheets of the workbook part, (name, part) in order, and whether its
/// dates count from 1904.
fn workbook_sheets<R: BufRead>(
    xml: &mut Xml<R>,
    dir: &str,
    relationships: &HashMap<String, (String, String)>,
) -> Result<(Vec<(String, String)>, bool)> {
    let mut buf = Vec::new();
    let mut sheets = Vec::new();
    let mut is_1904 = false;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "sheet" => {
                let (mut name, mut id) = (String::new(), String::new());
                for attribute in e.attributes().with_checks(false) {
                    let attribute = attribute?;
                    match attribute.key.as_ref() {
                        "name" => name = decode_attribute(&attribute.value)?,
                        key if key == "id" || key.ends_with(":id") => {
                            id = attribute.value.into_owned()
                        }
                        _ => {}
                    }
                }
                let (_, target) = relationships
                    .get(&id)
                    .ok_or_else(|| anyhow!("sheet {name} has no relationship"))?;
                let part = match target.strip_prefix('/') {
                    Some(absolute) => absolute.to_string(),
                    None => format!("{dir}{target}"),
                };
                sheets.push((name, part));
            }
            Event::Start(e) if e.local_name().as_ref() == "workbookPr" => {
                if let Some(value) = attribute(&e, "date1904")? {
                    is_1904 = value == "1" || value == "true";
                }
            }
            Event::End(e) if e.local_name().as_ref() == "workbook" => {
                return Ok((sheets, is_1904));
            }
            Event::Eof => bail!("the workbook part ends early"),
            _ => {}
        }
    }
}

/// The shared strings, in order.
fn shared_strings<R: Read>(xml: &mut Tokens<R>) -> Result<Vec<String>> {
    let mut strings = Vec::new();
    let mut text = String::new();
    loop {
        match xml.next_token()? {
            Token::Start { name, attributes } => match local_name(name) {
                b"sst" => {
                    if let Some(count) = Attributes::get(attributes, b"uniqueCount")? {
                        // A hint only; a damaged count must not reserve without bound.
                        let count = std::str::from_utf8(count).ok().and_then(|c| c.parse().ok());
                        strings.reserve(count.unwrap_or(0usize).min(1 << 20));
                    }
                }
                b"si" => {
                    let closing = Closing::of(name);
                    strings.push(read_string(xml, closing.name(), &mut text)?);
                }
                _ => {}
            },
            Token::End { name } if local_name(name) == b"sst" => return Ok(strings),
            Token::Eof => bail!("the shared strings end early"),
            _ => {}
        }
    }
}

/// The text of a string item (`<si>`, `<is>`) up to its end tag named
/// `closing`: its text or its rich-text runs, phonetic runs left out.
fn read_string<R: Read>(xml: &mut Tokens<R>, closing: &[u8], text: &mut String) -> Result<String> {
    let mut value: Option<String> = None;
    let mut rich = false;
    let mut phonetic = false;
    loop {
        match xml.next_token()? {
            Token::Start { name, .. } if local_name(name) == b"r" && !rich => {
                rich = true;
                value.get_or_insert_with(String::new);
            }
            Token::Start { name, .. } if local_name(name) == b"rPh" => phonetic = true,
            Token::End { name } if name == closing => return Ok(value.unwrap_or_default()),
            Token::End { name } if local_name(name) == b"rPh" => phonetic = false,
            Token::Start { name, attributes } if local_name(name) == b"t" && !phonetic => {
                let preserve = Attributes::get(attributes, b"xml:space")? == Some(b"preserve");
                let closing = Closing::of(name);
                read_text(xml, closing.name(), text, true)?;
                let part = if preserve {
                    text.as_str()
                } else {
                    trim_xml_space(text)
                };
                let part = unescape_excel(part);
                match &mut value {
                    Some(value) if rich => value.push_str(&part),
                    _ => value = Some(part.into_owned()),
                }
            }
            Token::Eof => bail!("a string ends early"),
            _ => {}
        }
    }
}

/// The text of an element up to its end tag named `closing`, its
/// entities resolved and its line ends made `\n`, into `text`.
/// CDATA is text in a string's `<t>`, and left out of a cell's `<v>`, as
/// calamine reads them.
fn read_text<R: Read>(
    xml: &mut Tokens<R>,
    closing: &[u8],
    text: &mut String,
    cdata: bool,
) -> Result<()> {
    text.clear();
    loop {
        match xml.next_token()? {
            Token::Text(raw) => decode_text(raw, text)?,
            Token::CData(raw) if cdata => decode_cdata(raw, text)?,
            Token::End { name } if name == closing => return Ok(()),
            Token::Eof => bail!("a text ends early"),
            _ => {}
        }
    }
}

/// Text without the XML white space (space, tab, line ends) around it:
/// U+00A0 and the like are kept.
fn trim_xml_space(text: &str) -> &str {
    let space = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let b = text.as_bytes();
    let start = b.iter().position(|c| !space(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !space(c)).map_or(start, |at| at + 1);
    // Both ends are ASCII, so at a character's boundary.
    &text[start..end]
}

/// Text with Excel's `_xHHHH_` escapes (UTF-16 code units) decoded:
/// `_x000D_` is a carriage return, `_x005F_` the `_` of a literal `_xHHHH_`.
fn unescape_excel(text: &str) -> Cow<'_, str> {
    let Some((mut at, mut unit)) = find_escape(text, 0) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    loop {
        out.push_str(&text[copied..at]);
        at += ESCAPE_LEN;
        match unit {
            0xD800..=0xDBFF => match escape_at(text, at) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let code =
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                    at += ESCAPE_LEN;
                }
                _ => out.push(char::REPLACEMENT_CHARACTER),
            },
            _ => out.push(char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER)),
        }
        copied = at;
        match find_escape(text, at) {
            Some(next) => (at, unit) = next,
            None => break,
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

const ESCAPE_LEN: usize = 7;

/// The first `_xHHHH_` escape at or after `start`, and its code unit.
fn find_escape(text: &str, mut start: usize) -> Option<(usize, u16)> {
    while let Some(offset) = memchr::memchr(b'_', &text.as_bytes()[start..]) {
        let at = start + offset;
        if let Some(unit) = escape_at(text, at) {
            return Some((at, unit));
        }
        start = at + 1;
    }
    None
}

/// The code unit of an `_xHHHH_` escape at `at`, if one is there.
fn escape_at(text: &str, at: usize) -> Option<u16> {
    let bytes = text.as_bytes().get(at..at + ESCAPE_LEN)?;
    if bytes[0] != b'_' || bytes[1] != b'x' || bytes[6] != b'_' {
        return None;
    }
    let hex = std::str::from_utf8(&bytes[2..6]).ok()?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(hex, 16).ok()
}

/// The number format of each cell style (`cellXfs`), as calamine reads it:
/// a custom format is a date when its first section shows a date or time
/// part; a built-in one when its id is a date format's.
fn cell_formats<R: BufRead>(xml: &mut Xml<R>) -> Result<Vec<Format>> {
    let mut buf = Vec::new();
    let mut custom: HashMap<String, String> = HashMap::new();
    let mut formats = Vec::new();
    let mut in_num_fmts = false;
    let mut in_cell_xfs = false;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Start(e) => match e.local_name().as_ref() {
                "numFmts" => in_num_fmts = true,
                "cellXfs" => in_cell_xfs = true,
                "numFmt" if in_num_fmts => {
                    let (id, code) = (attribute(&e, "numFmtId")?, attribute(&e, "formatCode")?);
                    if let (Some(id), Some(code)) = (id, code) {
                        custom.insert(id.into_owned(), decode_attribute(&code)?);
                    }
                }
                "xf" if in_cell_xfs => {
                    formats.push(match attribute(&e, "numFmtId")? {
                        None => Format::Number,
                        Some(id) => match custom.get(id.as_ref()) {
                            Some(code) => custom_format(code),
                            None => builtin_format(&id),
                        },
                    });
                }
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "numFmts" => in_num_fmts = false,
                "cellXfs" => in_cell_xfs = false,
                "styleSheet" => return Ok(formats),
                _ => {}
            },
            Event::Eof => bail!("the styles end early"),
            _ => {}
        }
    }
}

/// What a custom number format makes of a number (calamine's
/// `detect_custom_number_format`).
fn custom_format(code: &str) -> Format {
    let mut escaped = false;
    let mut quoted = false;
    let mut brackets = 0u8;
    let mut prev = ' ';
    let mut hms = false;
    let mut ap = false;
    for s in code.chars() {
        match (s, escaped, quoted, ap, brackets) {
            (_, true, ..) => escaped = false,
            ('_' | '\\' | '*', ..) => escaped = true,
            ('"', _, true, _, _) => quoted = false,
            (_, _, true, _, _) => (),
            ('"', _, _, _, _) => quoted = true,
            (';', ..) => return Format::Number,
            ('[', ..) => brackets += 1,
            (']', .., 1) if hms => return Format::Duration,
            (']', ..) => brackets = brackets.saturating_sub(1),
            ('a' | 'A', _, _, false, 0) => ap = true,
            ('p' | 'm' | '/' | 'P' | 'M', _, _, true, 0) => return Format::DateTime,
            ('d' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S', _, _, false, 0) => {
                return Format::DateTime;
            }
            _ => {
                if !(hms && s.eq_ignore_ascii_case(&prev)) {
                    hms = prev == '[' && matches!(s, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                }
            }
        }
        prev = s;
    }
    Format::Number
}

/// What a built-in number format makes of a number.
fn builtin_format(id: &str) -> Format {
    match id {
        "14" | "15" | "16" | "17" | "18" | "19" | "20" | "21" | "22" | "45" | "47" | "27"
        | "28" | "29" | "30" | "31" | "32" | "33" | "34" | "35" | "36" | "50" | "51" | "52"
        | "53" | "54" | "55" | "56" | "57" | "58" => Format::DateTime,
        "46" => Format::Duration,
        _ => Format::Number,
    }
}

/// A 0-based (row, column) from a reference such as `AB12`; a row alone
/// (`12`) has no column.
#[inline]
fn reference(bytes: &[u8]) -> Result<(u32, Option<usize>)> {
    match short_reference(bytes) {
        Some(found) => Ok(found),
        None => any_reference(bytes),
    }
}

/// A reference of at most 3 letters and 9 digits (Excel's are at most
/// `XFD1048576`), read as [`any_reference`] reads it, without its checks
/// for overflow, which such a reference cannot reach; `None` for any other.
#[inline]
fn short_reference(bytes: &[u8]) -> Option<(u32, Option<usize>)> {
    let mut at = 0;
    let mut col = 0usize;
    while let Some(&c) = bytes.get(at).filter(|c| c.is_ascii_alphabetic()) {
        if at == 3 {
            return None;
        }
        col = col * 26 + usize::from(c.to_ascii_uppercase() - b'A') + 1;
        at += 1;
    }
    let digits = &bytes[at..];
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let mut row = 0u32;
    for &c in digits {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        row = row * 10 + u32::from(digit);
    }
    Some((row.checked_sub(1)?, col.checked_sub(1)))
}

/// A 0-based (row, column) from any reference, or why it is none.
fn any_reference(bytes: &[u8]) -> Result<(u32, Option<usize>)> {
    let text = || String::from_utf8_lossy(bytes);
    // One pass, by index: a reference is read for every cell.
    let mut at = 0;
    let mut col: usize = 0;
    while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
        // Past Excel's last column either way; saturating keeps it so.
        col = col
            .saturating_mul(26)
            .saturating_add(usize::from(bytes[at].to_ascii_uppercase() - b'A') + 1);
        at += 1;
    }
    if at == bytes.len() {
        bail!("a cell reference {:?} that is not one", text());
    }
    let mut row: u32 = 0;
    while at < bytes.len() {
        let digit = bytes[at].wrapping_sub(b'0');
        if digit > 9 {
            bail!("a cell reference {:?} that is not one", text());
        }
        row = row.saturating_mul(10).saturating_add(u32::from(digit));
        at += 1;
    }
    let row = row
        .checked_sub(1)
        .ok_or_else(|| anyhow!("a cell reference {:?} to row 0", text()))?;
    Ok((row, col.checked_sub(1)))
}

/// What a workbook's cells are read with: its shared strings and the
/// number formats of its styles.
struct Lookup<'s> {
    strings: &'s [String],
    formats: &'s [Format],
    is_1904: bool,
}

/// The cells of one sheet's XML, as they come.
struct SheetCells<'s, R> {
    xml: Tokens<R>,
    /// The text of the element being read.
    text: String,
    context: Lookup<'s>,
}

impl<'s, R: Read> SheetCells<'s, R> {
    fn new(xml: Tokens<R>, context: Lookup<'s>) -> Self {
        SheetCells {
            xml,
            text: String::new(),
            context,
        }
    }

    /// Hands every cell of `<sheetData>` to `rows`. An XML error is the
    /// sheet's, said with `unreadable`; an error of `rows` is its own.
    fn read(&mut self, rows: &mut Rows<'_>, unreadable: &dyn Fn() -> String) -> Result<()> {
        match self.cells(rows) {
            Ok(()) => Ok(()),
            Err(Stop::Xml(error)) => Err(error.context(unreadable())),
            Err(Stop::Rows(error)) => Err(error),
        }
    }

    fn cells(&mut self, rows: &mut Rows<'_>) -> Result<(), Stop> {
        loop {
            match self.xml.next_token()? {
                Token::Start { name, .. } if local_name(name) == b"sheetData" => break,
                Token::Eof => Err(anyhow!("it is not a worksheet (no sheetData)"))?,
                _ => {}
            }
        }
        let (mut row, mut col) = (0u32, 0usize);
        loop {
            if let Some(cell) = common_cell_start(&mut self.xml, row, col)? {
                col = cell.col.saturating_add(1);
                self.cell(rows, &cell)?;
                continue;
            }
            let cell = match self.xml.next_token()? {
                Token::Start { name, attributes } => match local_name(name) {
                    b"row" => {
                        if let Some(r) = Attributes::get(attributes, b"r")? {
                            row = reference(r)?.0;
                        }
                        continue;
                    }
                    b"c" => CellStart::of(attributes, row, col)?,
                    _ => continue,
                },
                Token::End { name } => {
                    match local_name(name) {
                        b"row" => {
                            row = row.saturating_add(1);
                            col = 0;
                        }
                        b"sheetData" => return Ok(()),
                        _ => {}
                    }
                    continue;
                }
                Token::Eof => Err(anyhow!("the sheet ends early"))?,
                _ => continue,
            };
            col = cell.col.saturating_add(1);
            self.cell(rows, &cell)?;
        }
    }

    /// Reads the cell begun, to its end, and hands it to `rows`.
    fn cell(&mut self, rows: &mut Rows<'_>, cell: &CellStart) -> Result<(), Stop> {
        let keep = rows.may_keep(cell.row, cell.col);
        let (xml, text, context) = (&mut self.xml, &mut self.text, &self.context);
        let value = match common_value(xml, text, context, cell, keep)? {
            Some(value) => value,
            None => cell_value(xml, text, context, cell, keep)?,
        };
        let blank = matches!(value, Data::Empty);
        rows.cell(cell.row, cell.col, blank, None, || value)
            .map_err(Stop::Rows)
    }
}

/// Why reading a sheet's cells stopped.
enum Stop {
    /// The XML is damaged, or not a sheet's.
    Xml(anyhow::Error),
    /// The rows' sink stopped the reading.
    Rows(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(error: anyhow::Error) -> Self {
        Stop::Xml(error)
    }
}

/// Bytes of the XML as text.
fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| anyhow!("text that is not UTF-8"))
}

/// The value of the cell begun, up to its end tag: the cell's last `<v>`,
/// `<is>` or `<f>` (a formula has none). Unless `keep`, a text cell's value
/// is an empty text: not blank, and nothing made.
fn cell_value<R: Read>(
    xml: &mut Tokens<R>,
    text: &mut String,
    context: &Lookup<'_>,
    cell: &CellStart,
    keep: bool,
) -> Result<Data> {
    let mut value = Data::Empty;
    loop {
        let (closing, element) = match xml.next_token()? {
            Token::Start { name, .. } => {
                let element = match local_name(name) {
                    b"is" => Element::InlineString,
                    b"v" => Element::Value,
                    b"f" => Element::Formula,
                    other => bail!(
                        "a cell holds <{}>, where <v>, <f> or <is> belongs",
                        String::from_utf8_lossy(other)
                    ),
                };
                (Closing::of(name), element)
            }
            Token::End { name } if local_name(name) == b"c" => return Ok(value),
            Token::Eof => bail!("a cell ends early"),
            _ => continue,
        };
        let closing = closing.name();
        value = match element {
            Element::InlineString if keep => Data::String(read_string(xml, closing, text)?),
            Element::InlineString => {
                xml.skip_to_end(closing)?;
                Data::String(String::new())
            }
            Element::Value if matches!(cell.kind, Kind::InlineStr) => {
                xml.skip_to_end(closing)?;
                Data::Empty
            }
            Element::Value => match cell.kind {
                Kind::Number | Kind::Shared | Kind::Bool | Kind::Error => {
                    // Plain ASCII in these types: the first text is the
                    // value, as calamine reads it.
                    let value = match xml.next_token()? {
                        Token::Text(raw) => {
                            let first = &raw[..memchr::memchr(b'&', raw).unwrap_or(raw.len())];
                            if first.is_empty() {
                                Data::Empty
                            } else {
                                typed(context, cell, utf8(first)?, keep)?
                            }
                        }
                        Token::End { name } if name == closing => {
                            value = Data::Empty;
                            continue;
                        }
                        Token::Eof => bail!("a value ends early"),
                        _ => Data::Empty,
                    };
                    xml.skip_to_end(closing)?;
                    value
                }
                _ => {
                    read_text(xml, closing, text, false)?;
                    typed(context, cell, text, keep)?
                }
            },
            Element::Formula => {
                xml.skip_to_end(closing)?;
                Data::Empty
            }
        };
    }
}

/// Whether cells of the common shapes are read from the bytes at once:
/// tests read them token by token too, and hold the two ways equal.
fn shortcuts() -> bool {
    #[cfg(test)]
    return !tests::TOKENS_ONLY.with(std::cell::Cell::get);
    #[cfg(not(test))]
    true
}

/// Counts a cell read from the bytes at once, so that a test can tell
/// that it tried the shortcuts.
fn taken() {
    #[cfg(test)]
    tests::TAKEN.with(|taken| taken.set(taken.get() + 1));
}

/// The start tag of a cell as Excel and 1688 write it, `<c r="A1"
/// t="inlineStr">`, read from the bytes at once when the buffer holds it
/// whole: each attribute one space, a name of letters, `=` and a value in
/// double quotes. The same cell as the tag's token and [`CellStart::of`]
/// make, and the same first error once the tag's end is found, as they
/// find it; `None`, and nothing read, for any other shape (`<c …/>` too).
fn common_cell_start<R: Read>(
    xml: &mut Tokens<R>,
    row: u32,
    col: usize,
) -> Result<Option<CellStart>> {
    let b = xml.buffered();
    if b.first_chunk() != Some(b"<c ") || !shortcuts() {
        return Ok(None);
    }
    let mut cell = Ok(CellStart::at(row, col));
    let mut at = 2;
    loop {
        match b.get(at) {
            Some(b'>') => break,
            Some(b' ') => {}
            _ => return Ok(None),
        }
        let name = at + 1;
        let mut eq = name;
        while eq < b.len() && b[eq].is_ascii_alphabetic() {
            eq += 1;
        }
        if eq == name || b.get(eq..eq + 2) != Some(b"=\"") {
            return Ok(None);
        }
        let value = eq + 2;
        let Some(len) = find_byte(b'"', &b[value..]) else {
            return Ok(None);
        };
        if let Ok(read) = &mut cell {
            // An error waits for the tag's end: a tag cut short is that.
            if let Err(error) = read.attribute(&b[name..eq], &b[value..value + len]) {
                cell = Err(error);
            }
        }
        at = value + len + 1;
    }
    let cell = cell?;
    taken();
    xml.consume(at + 1);
    Ok(Some(cell))
}

/// The text of `start` text `end` at the start of `b`, when `b` holds it
/// whole and the text has no markup.
fn shaped<'b, const S: usize, const E: usize>(
    b: &'b [u8],
    start: &[u8; S],
    end: &[u8; E],
) -> Option<&'b [u8]> {
    let rest = b.strip_prefix(start)?;
    let len = find_byte(b'<', rest)?;
    (rest[len..].first_chunk() == Some(end)).then_some(&rest[..len])
}

/// The value of the cell begun, as [`cell_value`] reads it, when the
/// buffer holds the rest of the cell whole in the shape Excel and 1688
/// write, `<is><t>text</t></is></c>` or `<v>text</v></c>` (the text
/// without markup): read from the bytes at once, not token by token.
/// `None`, and nothing read, for any other shape.
fn common_value<R: Read>(
    xml: &mut Tokens<R>,
    text: &mut String,
    context: &Lookup<'_>,
    cell: &CellStart,
    keep: bool,
) -> Result<Option<Data>> {
    const STRING: (&[u8; 7], &[u8; 13]) = (b"<is><t>", b"</t></is></c>");
    const VALUE: (&[u8; 3], &[u8; 8]) = (b"<v>", b"</v></c>");
    if !shortcuts() {
        return Ok(None);
    }
    let b = xml.buffered();
    let (value, read) = match cell.kind {
        Kind::InlineStr => {
            let Some(raw) = shaped(b, STRING.0, STRING.1) else {
                return Ok(None);
            };
            let value = if keep {
                // As `read_string` reads a `<t>` without `xml:space`.
                text.clear();
                decode_text(raw, text)?;
                Data::String(unescape_excel(trim_xml_space(text)).into_owned())
            } else {
                Data::String(String::new())
            };
            (value, STRING.0.len() + raw.len() + STRING.1.len())
        }
        // Read from the first text alone, as `cell_value` reads them.
        Kind::Number | Kind::Shared | Kind::Bool | Kind::Error => {
            let Some(raw) = shaped(b, VALUE.0, VALUE.1) else {
                return Ok(None);
            };
            let first = &raw[..memchr::memchr(b'&', raw).unwrap_or(raw.len())];
            let value = if first.is_empty() {
                Data::Empty
            } else {
                typed(context, cell, utf8(first)?, keep)?
            };
            (value, VALUE.0.len() + raw.len() + VALUE.1.len())
        }
        _ => return Ok(None),
    };
    taken();
    xml.consume(read);
    Ok(Some(value))
}

/// An element a cell holds.
enum Element {
    /// `<is>`
    InlineString,
    /// `<v>`
    Value,
    /// `<f>`
    Formula,
}

/// A value's text read by the cell's type and style.
fn typed(context: &Lookup<'_>, cell: &CellStart, v: &str, keep: bool) -> Result<Data> {
    Ok(match &cell.kind {
        Kind::Shared => {
            if v.is_empty() {
                return Ok(Data::Empty);
            }
            let index = v.parse::<usize>().unwrap_or(0);
            let text = context
                .strings
                .get(index)
                .ok_or_else(|| anyhow!("a shared string {index} the workbook does not have"))?;
            Data::String(if keep { text.clone() } else { String::new() })
        }
        Kind::Bool => match v.trim() {
            "" => Data::Empty,
            t if t == "0" || t.eq_ignore_ascii_case("false") => Data::Bool(false),
            t if t == "1" || t.eq_ignore_ascii_case("true") => Data::Bool(true),
            _ => bail!("a boolean cell of {v:?}"),
        },
        Kind::Date => Data::DateTimeIso(if keep { v.to_string() } else { String::new() }),
        Kind::Error => Data::Error(v.parse::<CellErrorType>()?),
        Kind::Str if keep => Data::String(unescape_excel(v).into_owned()),
        Kind::Str => Data::String(String::new()),
        Kind::Number => {
            if v.is_empty() {
                return Ok(Data::Empty);
            }
            match v.parse::<f64>() {
                Ok(n) => number(context, cell, n),
                // No type given: text, as calamine reads it.
                Err(_) if !cell.typed && keep => Data::String(v.to_string()),
                Err(_) if !cell.typed => Data::String(String::new()),
                Err(error) => bail!("a number cell of {v:?} ({error})"),
            }
        }
        Kind::InlineStr => Data::Empty,
        Kind::Other(kind) => bail!("a cell of type t={kind:?}"),
    })
}

/// A number as its style shows it: a date-time, a duration, or a number.
fn number(context: &Lookup<'_>, cell: &CellStart, n: f64) -> Data {
    let format = match cell.style {
        None => Some(Format::Number),
        Some(style) => context.formats.get(style).copied(),
    };
    let kind = match format {
        Some(Format::DateTime) => ExcelDateTimeType::DateTime,
        Some(Format::Duration) => ExcelDateTimeType::TimeDelta,
        _ => return Data::Float(n),
    };
    Data::DateTime(ExcelDateTime::new(n, kind, context.is_1904))
}

/// A cell's type, its `t`.
#[derive(Debug, PartialEq)]
enum Kind {
    /// `n`, or none.
    Number,
    /// `s`: an index into the shared strings.
    Shared,
    /// `inlineStr`: the text is in `<is>`.
    InlineStr,
    /// `str`: a formula's text.
    Str,
    Bool,
    Error,
    /// `d`: an ISO 8601 date.
    Date,
    Other(String),
}

/// A cell's start tag: where it is, its type and its style.
struct CellStart {
    row: u32,
    col: usize,
    kind: Kind,
    /// Whether the cell has a `t`.
    typed: bool,
    /// Its style index; an unreadable one is the first.
    style: Option<usize>,
}

impl CellStart {
    /// A cell without attributes, at (`row`, `col`).
    fn at(row: u32, col: usize) -> CellStart {
        CellStart {
            row,
            col,
            kind: Kind::Number,
            typed: false,
            style: None,
        }
    }

    /// The cell of `<c …>` with these attributes; without an `r`, at
    /// (`row`, `col`).
    fn of(attributes: &[u8], row: u32, col: usize) -> Result<CellStart> {
        let mut cell = CellStart::at(row, col);
        for attribute in Attributes::new(attributes) {
            let (key, value) = attribute?;
            cell.attribute(key, value)?;
        }
        Ok(cell)
    }

    /// What an attribute of the tag says of the cell.
    fn attribute(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        match key {
            b"r" => {
                let (r, c) = reference(value)?;
                let c = c.ok_or_else(|| {
                    anyhow!(
                        "a cell reference {:?} without a column",
                        String::from_utf8_lossy(value)
                    )
                })?;
                (self.row, self.col) = (r, c);
            }
            b"t" => {
                self.typed = true;
                self.kind = match value {
                    b"n" => Kind::Number,
                    b"s" => Kind::Shared,
                    b"inlineStr" | b"is" => Kind::InlineStr,
                    b"str" => Kind::Str,
                    b"b" => Kind::Bool,
                    b"e" => Kind::Error,
                    b"d" => Kind::Date,
                    other => Kind::Other(String::from_utf8_lossy(other).into_owned()),
                };
            }
            b"s" => {
                let style = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                self.style = Some(style.unwrap_or(0));
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::grid::GridRow;
    use std::io::Write;

    /// Keeps every cell in its column, or the columns of `keep` only.
    #[derive(Default)]
    struct Sink {
        keep: Option<Vec<usize>>,
        rows: Vec<GridRow>,
    }

    impl RowSink for Sink {
        fn slot(&self, col: usize) -> Option<usize> {
            match &self.keep {
                None => Some(col),
                Some(keep) => keep.iter().position(|c| *c == col),
            }
        }
        fn row(&mut self, row: GridRow) -> Result<()> {
            self.rows.push(row);
            Ok(())
        }
    }

    const RELS: &str = "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
        <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>";
    const WORKBOOK_RELS: &str = "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
        <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>";

    /// A workbook of one sheet, `S`, with the given parts' XML.
    fn package(
        sheet: impl AsRef<[u8]>,
        strings: Option<&str>,
        styles: Option<&str>,
        date1904: bool,
    ) -> Vec<u8> {
        let workbook = format!(
            "<?xml version=\"1.0\"?><workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
             xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
             <workbookPr date1904=\"{}\"/><sheets><sheet name=\"S &amp; T\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
            u8::from(date1904)
        );
        let mut parts = vec![
            ("_rels/.rels", RELS.as_bytes()),
            ("xl/workbook.xml", workbook.as_bytes()),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
            ("xl/worksheets/sheet1.xml", sheet.as_ref()),
        ];
        if let Some(strings) = strings {
            parts.push(("xl/sharedStrings.xml", strings.as_bytes()));
        }
        if let Some(styles) = styles {
            parts.push(("xl/styles.xml", styles.as_bytes()));
        }
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (name, bytes) in parts {
            zip.start_file(name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn sheet(data: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
             <dimension ref=\"A1:B2\"/><sheetData>{data}</sheetData></worksheet>"
        )
    }

    #[test]
    fn a_short_reference_reads_as_any_reference_reads_it() {
        let alphabet = b"AaZzBx09158@[`{/:\xff";
        let mut checked = 0;
        // Every text of up to 4 of these bytes, and longer ones.
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last = texts.clone();
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|t| alphabet.iter().map(move |&c| [t.as_slice(), &[c]].concat()))
                .collect();
            texts.extend(last.iter().cloned());
        }
        for long in [
            "XFD1048576",
            "XFE1048577",
            "AAAA1",
            "A999999999",
            "A4294967296",
            "ZZZ999999999",
            "A0",
            "a1",
        ] {
            texts.push(long.as_bytes().to_vec());
        }
        for text in &texts {
            let any = any_reference(text).ok();
            if let Some(short) = short_reference(text) {
                assert_eq!(Some(short), any, "{:?}", String::from_utf8_lossy(text));
                checked += 1;
            }
            assert_eq!(reference(text).ok(), any);
        }
        assert!(checked > 1000, "{checked}");
        assert_eq!(
            short_reference(b"XFD1048576"),
            Some((1_048_575, Some(16_383)))
        );
    }

    /// The rows of the first sheet, read by this reader and by calamine.
    fn both(
        bytes: &[u8],
        keep: Option<Vec<usize>>,
    ) -> (Result<Vec<GridRow>>, Result<Vec<GridRow>>) {
        let path = Path::new("t.xlsx");
        let mine = mine(bytes, keep.clone());
        let theirs = (|| {
            use calamine::Reader;
            let mut book = xlsx::open(path, std::io::Cursor::new(bytes))?;
            let name = book.sheet_names()[0].clone();
            let mut sink = Sink {
                keep,
                ..Sink::default()
            };
            xlsx::stream_sheet(&mut book, path, &name, false, &mut sink)?;
            Ok(sink.rows)
        })();
        (mine, theirs)
    }

    /// The rows of the first sheet, read by this reader.
    fn mine(bytes: &[u8], keep: Option<Vec<usize>>) -> Result<Vec<GridRow>> {
        let path = Path::new("t.xlsx");
        let mut book = open(path, std::io::Cursor::new(bytes))?;
        let name = book.sheet_names()[0].clone();
        let mut sink = Sink {
            keep,
            ..Sink::default()
        };
        book.stream_sheet(path, &name, &mut sink)?;
        Ok(sink.rows)
    }

    fn agree(bytes: &[u8]) -> Vec<GridRow> {
        for keep in [None, Some(vec![1, 3]), Some(vec![])] {
            let (mine, theirs) = both(bytes, keep);
            match (mine, theirs) {
                (Ok(mine), Ok(theirs)) => assert_eq!(mine, theirs),
                (mine, theirs) => panic!(
                    "{:?}\nand calamine:\n{:?}",
                    mine.map(|_| ()),
                    theirs.map(|_| ())
                ),
            }
        }
        both(bytes, None).0.unwrap()
    }

    const STRINGS: &str = "<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"4\" uniqueCount=\"4\">\
        <si><t>plain &amp; &#x41;&#66; &lt;x&gt;</t></si>\
        <si><r><rPr><b/></rPr><t xml:space=\"preserve\">rich </t></r><r><t>text </t></r><rPh sb=\"0\" eb=\"1\"><t>PHONETIC</t></rPh><phoneticPr fontId=\"1\"/></si>\
        <si><t>  padded\r\n  </t></si>\
        <si><t xml:space=\"preserve\">  kept_x000D_\r\nline _x005F_x000D_ _xD83D__xDE00_ </t></si>\
        <si/></sst>";

    const STYLES: &str = "<?xml version=\"1.0\"?><styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
        <numFmts count=\"2\"><numFmt numFmtId=\"164\" formatCode=\"yyyy-mm-dd hh:mm\"/><numFmt numFmtId=\"165\" formatCode=\"[h]:mm\"/>\
        <numFmt numFmtId=\"166\" formatCode=\"&quot;d&quot;0.00\"/></numFmts>\
        <cellStyleXfs count=\"1\"><xf numFmtId=\"14\"/></cellStyleXfs>\
        <cellXfs count=\"6\"><xf numFmtId=\"0\"/><xf numFmtId=\"164\"><alignment wrapText=\"1\"/></xf><xf numFmtId=\"165\"/>\
        <xf numFmtId=\"14\"/><xf numFmtId=\"166\"/><xf numFmtId=\"46\"/></cellXfs></styleSheet>";

    #[test]
    fn reads_every_kind_of_cell_as_calamine_does() {
        let data = "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c><c r=\"C1\" t=\"s\"><v>2</v></c>\
            <c r=\"D1\" t=\"s\"><v>3</v></c><c r=\"E1\" t=\"s\"><v>4</v></c><c r=\"F1\" t=\"s\"><v></v></c></row>\
            <row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t> inline &amp; _x0041_ </t></is></c>\
            <c r=\"B2\" t=\"inlineStr\"><is><r><t>a</t></r><r><t xml:space=\"preserve\"> b </t></r><rPh><t>p</t></rPh></is></c>\
            <c r=\"C2\" t=\"inlineStr\"><is></is></c><c r=\"D2\" t=\"inlineStr\"><v>9</v><is><t>after v</t></is></c>\
            <c r=\"E2\" t=\"inlineStr\"><is><t><![CDATA[<cdata>]]></t></is></c></row>\
            <row r=\"3\"><c r=\"A3\" t=\"str\"><f>A1</f><v>formula &amp; _x000D_ text</v></c><c r=\"B3\" t=\"b\"><v>1</v></c>\
            <c r=\"C3\" t=\"b\"><v>0</v></c><c r=\"D3\" t=\"e\"><v>#N/A</v></c><c r=\"E3\" t=\"d\"><v>2024-10-10T09:17:05</v></c>\
            <c r=\"F3\" t=\"n\"><v>1.5e3</v></c><c r=\"G3\"><v>-0.25</v></c><c r=\"H3\"><v>not a number</v></c>\
            <c r=\"I3\" s=\"1\"><v>45575.5</v></c><c r=\"J3\" s=\"2\"><v>1.25</v></c><c r=\"K3\" s=\"3\"><v>45575</v></c>\
            <c r=\"L3\" s=\"4\"><v>7</v></c><c r=\"M3\" s=\"5\"><v>0.5</v></c><c r=\"N3\" s=\"99\"><v>3</v></c>\
            <c r=\"O3\" s=\"1\" t=\"n\"><v></v></c><c r=\"P3\" s=\"1\"/><c r=\"Q3\"><f>1+1</f></c><c r=\"R3\"><v>2</v><f>1+1</f></c></row>\
            <row><c><v>1</v></c><c t=\"s\"><v>0</v></c><c/><c><v>4</v></c></row>\
            <row r=\"7\"><c r=\"C7\"><v>5</v></c><c><v>6</v></c></row><row><c r=\"b8\"><v>8</v></c></row>\
            <row r=\"10\" spans=\"1:2\" hidden=\"1\"><c r=\"A10\" t=\"inlineStr\"><is><t>\u{4e2d}\u{6587} \u{a0}</t></is></c></row><row r=\"11\"/>";
        let bytes = package(sheet(data), Some(STRINGS), Some(STYLES), false);
        let rows = agree(&bytes);
        assert_eq!(rows.len(), 7, "{rows:#?}");
        assert_eq!(rows[0].cells[1], Data::String("rich text".into()));
        assert_eq!(
            rows[0].cells[3],
            Data::String("  kept\r\nline _x000D_ \u{1F600} ".into())
        );
        assert_eq!(rows[3].number, 4);
        assert_eq!(rows[4].number, 7);
        assert_eq!(rows[5].number, 8);
        let rows = agree(&package(sheet(data), Some(STRINGS), Some(STYLES), true));
        assert!(matches!(&rows[2].cells[8], Data::DateTime(d) if d.is_datetime()));
    }

    #[test]
    fn refuses_what_calamine_refuses() {
        for data in [
            "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>7</v></c></row>",
            "<row r=\"1\"><c r=\"A1\" t=\"b\"><v>maybe</v></c></row>",
            "<row r=\"1\"><c r=\"A1\" t=\"e\"><v>#WHAT</v></c></row>",
            "<row r=\"1\"><c r=\"A1\" t=\"n\"><v>x</v></c></row>",
            "<row r=\"1\"><c r=\"A1\" t=\"zz\"><v>1</v></c></row>",
            "<row r=\"1\"><c r=\"A1\"><x>1</x></c></row>",
            "<row r=\"1\"><c r=\"1\"><v>1</v></c></row>",
            "<row r=\"1\"><c r=\"A0\"><v>1</v></c></row>",
            "<row r=\"x\"><c><v>1</v></c></row>",
            "<row r=\"1\"><c r=\"A1\" t=\"str\"><v>&bogus;</v></c></row>",
            "<row r=\"1\"><c r=\"A1\"><v>1</v>",
        ] {
            let bytes = package(sheet(data), Some(STRINGS), None, false);
            let (mine, theirs) = both(&bytes, None);
            assert!(
                mine.is_err() && theirs.is_err(),
                "{data}: {mine:?} {theirs:?}"
            );
            let error = format!("{:#}", mine.unwrap_err());
            assert!(
                error.starts_with("t.xlsx, sheet S & T: cannot be read (damaged workbook?)"),
                "{error}"
            );
        }
        let not_a_sheet = package("<chartsheet/>", None, None, false);
        let (mine, theirs) = both(&not_a_sheet, None);
        assert!(mine.is_err() && theirs.is_err());
    }

    #[test]
    fn a_cell_beyond_excel_or_out_of_order_is_refused_as_before() {
        for (data, says) in [
            (
                "<row r=\"1\"><c r=\"XFE1\"><v>1</v></c></row>",
                "column 16385 lies beyond",
            ),
            (
                "<row><c r=\"A1048577\"><v>1</v></c></row>",
                "row 1048577, column 1 lies beyond",
            ),
            (
                "<row r=\"1\"><c r=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1\"><v>1</v></c></row>",
                "lies beyond",
            ),
            (
                "<row r=\"2\"><c><v>1</v></c></row><row r=\"1\"><c><v>1</v></c></row>",
                "row 1 comes after row 2",
            ),
        ] {
            let bytes = package(sheet(data), None, None, false);
            // calamine's own reference parser overflows on the long column.
            let error = mine(&bytes, None).unwrap_err().to_string();
            assert!(error.contains(says), "{data}: {error}");
        }
    }

    #[test]
    fn a_sink_keeping_some_columns_gets_those_and_each_rows_width() {
        let data = "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>x</t></is></c><c r=\"B1\" t=\"inlineStr\"><is><t>y</t></is></c></row>\
            <row r=\"2\"><c r=\"B2\" t=\"inlineStr\"><is><t>kept</t></is></c><c r=\"C2\" t=\"inlineStr\"><is><t>not kept</t></is></c></row>\
            <row r=\"3\"><c r=\"C3\" t=\"inlineStr\"><is><t>z</t></is></c><c r=\"D3\" t=\"inlineStr\"><is><t>not kept</t></is></c></row>";
        let bytes = package(sheet(data), None, None, false);
        let rows = mine(&bytes, Some(vec![1])).unwrap();
        // Row 3 has no cell of column B: it is no row.
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cells, vec![Data::String("y".into())]);
        assert_eq!(rows[1].cells, vec![Data::String("kept".into())]);
        assert_eq!(rows[1].width, 3);
    }

    thread_local! {
        /// Cells are read token by token only.
        pub(super) static TOKENS_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// Cells read from the bytes at once.
        pub(super) static TAKEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// The rows of the first sheet (or its error, as said), read with the
    /// shortcuts for common cells, which must be what reading every cell
    /// token by token gives; and how many cells the shortcuts read.
    fn both_ways(bytes: &[u8], keep: Option<Vec<usize>>) -> (Result<Vec<GridRow>, String>, usize) {
        let said = |read: Result<Vec<GridRow>>| read.map_err(|error| format!("{error:#}"));
        TOKENS_ONLY.with(|only| only.set(true));
        TAKEN.with(|taken| taken.set(0));
        let tokens = said(mine(bytes, keep.clone()));
        assert_eq!(TAKEN.with(std::cell::Cell::get), 0);
        TOKENS_ONLY.with(|only| only.set(false));
        let fast = said(mine(bytes, keep));
        assert_eq!(fast, tokens);
        (fast, TAKEN.with(std::cell::Cell::get))
    }

    /// Cells in the shapes read at once, and in shapes near them, which
    /// are not.
    const SHAPES: &[&str] = &[
        "<c r=\"{C}\" t=\"inlineStr\"><is><t>2410000000000000007</t></is></c>",
        "<c r=\"{C}\"><v>62.02</v></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t> a &amp; &#x41;&lt; b_x000D_ \r\n</t></is></c>",
        "<c r=\"{C}\" s=\"1\"><v>45575.5</v></c>",
        "<c r=\"{C}\" s=\"3\" t=\"n\"><v>45575</v></c>",
        "<c r=\"{C}\" t=\"s\"><v>1</v></c>",
        "<c r=\"{C}\" t=\"b\"><v>1</v></c>",
        "<c r=\"{C}\" t=\"e\"><v>#N/A</v></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t></t></is></c>",
        "<c r=\"{C}\"><v></v></c>",
        "<c r=\"{C}\"><v>1&amp;2</v></c>",
        "<c r=\"{C}\"><v>not a number</v></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t>\u{4e2d}\u{6587} \u{a0}a>b</t></is></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t xml:space=\"preserve\"> kept </t></is></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t><![CDATA[a<b]]></t></is></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t>a<!-- x -->b</t></is></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><r><t>a</t></r><r><t> b</t></r></is></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t>a</t></is></c >",
        "<c r=\"{C}\" t=\"inlineStr\"><v>9</v><is><t>after v</t></is></c>",
        "<c r=\"{C}\" t=\"str\"><f>A1</f><v>text</v></c>",
        "<c r=\"{C}\"><f>1+1</f><v>2</v></c>",
        "<c r=\"{C}\"><v>2</v><f>1+1</f></c>",
        "<c r=\"{C}\"><v/></c>",
        "<c r=\"{C}\"/>",
        "<c r=\"{C}\" ><v>3</v></c>",
        "<c  r=\"{C}\"><v>3</v></c>",
        "<c r='{C}'><v>3</v></c>",
        "<c r=\"{C}\" x:y=\"1\"><v>3</v></c>",
        "<c r=\"{C}\" f=\"a>b\"><v>3</v></c>",
        "<c r=\"{C}\" s=\"1\" t=\"n\" cm=\"1\"><v>45575</v></c>",
        "<c r=\"{C}\" s=\"1\" t=\"n\" cm=\"1\" vm=\"1\"><v>45575</v></c>",
        "<c r=\"{C}\" t=\"d\"><v>2024-10-10T09:17:05</v></c>",
        "<c><v>4</v></c>",
        "<x:c r=\"{C}\" t=\"inlineStr\"><x:is><x:t>prefixed</x:t></x:is></x:c>",
        "<x:c r=\"{C}\"><x:v>5</x:v></x:c>",
    ];

    /// Cells whose XML is refused, in the shapes read at once and not.
    const REFUSED: &[&str] = &[
        "<c r=\"{C}\" t=\"inlineStr\"><is><t>&bogus;</t></is></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t>a & b</t></is></c>",
        "<c r=\"{C}\" t=\"n\"><v>x</v></c>",
        "<c r=\"{C}\" t=\"s\"><v>7</v></c>",
        "<c r=\"{C}\" t=\"b\"><v>maybe</v></c>",
        "<c r=\"{C}\" t=\"e\"><v>#WHAT</v></c>",
        "<c r=\"{C}\" t=\"zz\"><v>1</v></c>",
        "<c r=\"A0\"><v>1</v></c>",
        "<c r=\"1\"><v>1</v></c>",
        "<c r=\"{C}x\"><v>1</v></c>",
        "<c r=\"XFE1\"><v>1</v></c>",
        "<c r=\"{C}\"><x>1</x></c>",
        "<c r=\"{C}\" t=\"inlineStr\"><is><t>open",
    ];

    /// A sheet of one row of `cells`, after `pad` spaces: each `{C}` the
    /// reference of its cell.
    fn shaped_sheet(pad: usize, cells: &[&str]) -> String {
        let mut data = format!("<row r=\"3\">{}", " ".repeat(pad));
        for (col, cell) in cells.iter().enumerate() {
            let reference = format!("{}3", crate::read::grid::column_letters(col));
            data.push_str(&cell.replace("{C}", &reference));
        }
        data.push_str("</row>");
        sheet(&data)
    }

    #[test]
    fn common_cells_read_as_their_tokens_wherever_the_buffer_ends() {
        let mut taken = 0;
        // The test buffer is 64 bytes: every cell starts and ends at every
        // place of it, and across its end.
        for pad in 0..150 {
            let bytes = package(
                shaped_sheet(pad, SHAPES),
                Some(STRINGS),
                Some(STYLES),
                false,
            );
            for keep in [None, Some(vec![0, 2, 5, 12]), Some(vec![])] {
                let (rows, fast) = both_ways(&bytes, keep);
                assert!(rows.is_ok(), "{rows:?}");
                taken += fast;
            }
            // Calamine reads the unprefixed cells alike.
            let plain: Vec<&str> = SHAPES
                .iter()
                .copied()
                .filter(|c| !c.contains("x:"))
                .collect();
            agree(&package(
                shaped_sheet(pad, &plain),
                Some(STRINGS),
                Some(STYLES),
                false,
            ));
        }
        assert!(taken > 150 * 3 * 12, "{taken}");
    }

    #[test]
    fn damaged_cells_are_refused_as_their_tokens_refuse_them() {
        for refused in REFUSED {
            for pad in 0..70 {
                let cells = [SHAPES[0], SHAPES[1], refused, SHAPES[1]];
                let bytes = package(shaped_sheet(pad, &cells), Some(STRINGS), None, false);
                let (rows, _) = both_ways(&bytes, None);
                let error = rows.expect_err(refused);
                assert!(
                    error.contains("cannot be read") || error.contains("lies beyond"),
                    "{error}"
                );
            }
        }
        // A sheet cut inside a cell's start tag, whatever its attributes say.
        for cut in [
            "<c r=\"A0\"",
            "<c r=\"A0\" t=\"s\"",
            "<c r=\"B3\" t=\"zz\" s=\"1\" ",
        ] {
            for pad in 0..70 {
                let mut xml = shaped_sheet(pad, &[SHAPES[0], SHAPES[1]]);
                let end = xml.find("</row>").unwrap();
                xml.truncate(end);
                xml.push_str(cut);
                let (rows, _) = both_ways(&package(&xml, None, None, false), None);
                assert!(rows.unwrap_err().contains("ends inside a tag"), "{cut}");
            }
        }
        // Text that is not UTF-8, read at once or not.
        let not_utf8 = "<c r=\"B3\" t=\"inlineStr\"><is><t>a\u{1}</t></is></c>";
        for pad in 0..70 {
            let mut xml = shaped_sheet(pad, &[SHAPES[0], not_utf8]).into_bytes();
            let at = xml.iter().position(|&b| b == 1).unwrap();
            xml[at] = 0xff;
            let (rows, _) = both_ways(&package(&xml, None, None, false), None);
            assert!(rows.unwrap_err().contains("not UTF-8"));
        }
    }

    /// XML as a writer other than Excel might write it: names with a
    /// prefix, comments and processing instructions between tags, white
    /// space, CDATA, entities, rich and phonetic runs, empty elements,
    /// cells and rows with and without `r`.
    mod generated {
        use super::*;
        use proptest::prelude::*;

        fn noise() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec!["", "", "", " ", "\n  ", "<!-- <c> -->", "<?pi x?>"])
        }

        fn text() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop::sample::select(vec![
                    "a",
                    "Z",
                    " ",
                    "\u{4e2d}",
                    "&amp;",
                    "&lt;",
                    "&#x41;",
                    "&#66;",
                    "\r\n",
                    "\r",
                    "<![CDATA[a<b]]>",
                    "_x000D_",
                    "\u{a0}",
                    "1",
                    ".",
                ]),
                0..6,
            )
            .prop_map(|parts| parts.concat())
        }

        /// A cell's XML, its element names prefixed with `p`; `r` is its
        /// reference, if it has one.
        fn cell(p: &'static str) -> impl Strategy<Value = (Option<String>, String)> {
            let value = prop_oneof![
                text().prop_map(move |t| format!(" t=\"inlineStr\"><{p}is><{p}t>{t}</{p}t></{p}is>")),
                (text(), text(), noise()).prop_map(move |(a, b, n)| format!(
                    " t=\"inlineStr\">{n}<{p}is>{n}<{p}r><{p}t xml:space=\"preserve\">{a}</{p}t></{p}r>{n}\
                     <{p}r><{p}t>{b}</{p}t></{p}r><{p}rPh><{p}t>ph</{p}t></{p}rPh></{p}is>{n}"
                )),
                prop::sample::select(vec!["1", "-0.25", "1.5e3", "", "x", " 2 "])
                    .prop_map(move |v| format!("><{p}v>{v}</{p}v>")),
                (0u8..5).prop_map(move |i| format!(" t=\"s\"><{p}v>{i}</{p}v>")),
                prop::sample::select(vec!["0", "1"]).prop_map(move |v| format!(" t=\"b\"><{p}v>{v}</{p}v>")),
                text().prop_map(move |t| format!(" t=\"str\"><{p}f>A1</{p}f><{p}v>{t}</{p}v>")),
                (0u8..6, prop::sample::select(vec!["45575.5", "1.25", "7"]))
                    .prop_map(move |(s, v)| format!(" s=\"{s}\"><{p}v>{v}</{p}v>")),
                Just(String::from("/")),
                Just(format!("><{p}v/>")),
            ];
            (any::<bool>(), value, noise())
                .prop_map(move |(with_r, value, n)| (with_r.then_some(()), value, n))
                .prop_map(move |(with_r, value, n)| {
                    let close = if value == "/" {
                        String::new()
                    } else {
                        format!("{n}</{p}c>")
                    };
                    let (open, rest) = if value == "/" {
                        (format!("<{p}c"), "/>".to_string())
                    } else {
                        (format!("<{p}c"), value)
                    };
                    (
                        with_r.map(|_| String::new()),
                        format!("{open}{{R}}{rest}{close}"),
                    )
                })
        }

        fn sheet_xml() -> impl Strategy<Value = String> {
            prop::sample::select(vec!["", "x:"]).prop_flat_map(|p| {
                let row = (any::<bool>(), 0u32..3, prop::collection::vec((cell(p), 0usize..3), 0..6), noise());
                prop::collection::vec(row, 0..6).prop_map(move |rows| {
                    let mut data = String::new();
                    let mut number = 0u32;
                    for (with_r, gap, cells, n) in rows {
                        number += 1 + gap;
                        let r = if with_r { format!(" r=\"{number}\"") } else {
                            number = number.max(1);
                            String::new()
                        };
                        // Without r, a row follows the one before.
                        if !with_r && gap > 0 { number -= gap; }
                        data.push_str(&format!("<{p}row{r}>{n}"));
                        let mut col = 0usize;
                        for ((with_ref, xml), skip) in cells {
                            col += 1 + skip;
                            let reference = match with_ref {
                                Some(_) => format!(" r=\"{}{number}\"", crate::read::grid::column_letters(col - 1)),
                                None => {
                                    col -= skip;
                                    String::new()
                                }
                            };
                            data.push_str(&xml.replace("{R}", &reference));
                            data.push_str(n);
                        }
                        data.push_str(&format!("</{p}row>"));
                    }
                    let ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
                    let root = if p.is_empty() { format!("worksheet xmlns=\"{ns}\"") } else { format!("x:worksheet xmlns:x=\"{ns}\"") };
                    let end = root.split(' ').next().unwrap_or_default().to_string();
                    format!("<?xml version=\"1.0\"?>\n<{root}><{p}sheetData>{data}</{p}sheetData></{end}>")
                })
            })
        }

        proptest! {
            #[test]
            fn reads_common_cells_as_their_tokens_in_any_order_and_place(
                cells in prop::collection::vec(prop::sample::select([SHAPES, REFUSED].concat()), 0..14),
                pad in 0usize..64,
                keep in prop::option::of(prop::collection::vec(0usize..14, 0..6)),
            ) {
                let bytes = package(shaped_sheet(pad, &cells), Some(STRINGS), Some(STYLES), false);
                let _ = both_ways(&bytes, keep);
            }

            #[test]
            fn reads_any_such_sheet_as_its_tokens_say(xml in sheet_xml(), pad in 0usize..64) {
                let xml = xml.replacen("sheetData>", &format!("sheetData>{}", " ".repeat(pad)), 1);
                let bytes = package(&xml, Some(STRINGS), Some(STYLES), false);
                for keep in [None, Some(vec![1, 3]), Some(vec![])] {
                    let _ = both_ways(&bytes, keep);
                }
            }

            #[test]
            fn reads_any_such_sheet_as_calamine_does(xml in sheet_xml(), date1904 in any::<bool>()) {
                let bytes = package(&xml, Some(STRINGS), Some(STYLES), date1904);
                for keep in [None, Some(vec![1, 3]), Some(vec![])] {
                    match both(&bytes, keep) {
                        (Ok(mine), Ok(theirs)) => prop_assert_eq!(mine, theirs, "{}", xml),
                        (Err(_), Err(_)) => {}
                        (mine, theirs) => prop_assert!(false, "{}\n{:?}\nand calamine:\n{:?}", xml, mine, theirs),
                    }
                }
            }
        }
    }
}
