//! A streaming reader for xlsx worksheets: the sheet's XML is inflated in
//! blocks and scanned for rows and cells directly, keeping only the columns
//! asked for. It gives the same cell values as calamine (shared and inline
//! strings, numbers, booleans, errors, and dates by the cell's number
//! format), several times faster on the large sheets a month of orders
//! makes. Anything it does not understand is an error, and the caller reads
//! the file with calamine instead.

use anyhow::{Context, Result, anyhow, bail};
use calamine::{CellErrorType, Data, ExcelDateTime, ExcelDateTimeType};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use zip::ZipArchive;

use super::sheet::{GridRow, Stop};

/// The parts of a workbook every sheet needs: names, shared strings, formats.
pub struct Workbook {
    /// Sheet name → zip entry, in workbook order.
    sheets: Vec<(String, String)>,
    strings: Vec<String>,
    /// Per cell style (xf) index: what its number format makes of a number.
    formats: Vec<NumberKind>,
    is_1904: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberKind {
    Number,
    DateTime,
    TimeDelta,
}

impl Workbook {
    pub fn open(bytes: &[u8]) -> Result<Workbook> {
        let mut zip = ZipArchive::new(Cursor::new(bytes))?;
        let workbook = read_text(&mut zip, "xl/workbook.xml")?;
        let rels = read_text(&mut zip, "xl/_rels/workbook.xml.rels")?;
        let mut targets = HashMap::new();
        let mut shared_strings = None;
        let mut styles = None;
        for tag in tags(&rels, "Relationship") {
            let (Some(id), Some(target)) = (attr(tag, "Id"), attr(tag, "Target")) else {
                continue;
            };
            let path = match target.strip_prefix('/') {
                Some(absolute) => absolute.to_string(),
                None => format!("xl/{target}"),
            };
            let kind = attr(tag, "Type").unwrap_or_default();
            if kind.ends_with("/sharedStrings") {
                shared_strings = Some(path.clone());
            } else if kind.ends_with("/styles") {
                styles = Some(path.clone());
            }
            targets.insert(id.to_string(), path);
        }
        let mut sheets = Vec::new();
        for tag in tags(&workbook, "sheet") {
            let name = attr(tag, "name")
                .map(|n| unescape(&n))
                .ok_or_else(|| anyhow!("a sheet without name"))?;
            let id = attr_ns(tag, "id").ok_or_else(|| anyhow!("sheet {name} without r:id"))?;
            let path = targets
                .get(id.as_ref())
                .ok_or_else(|| anyhow!("sheet {name}: no relation {id}"))?;
            sheets.push((name, path.clone()));
        }
        let is_1904 = tags(&workbook, "workbookPr")
            .next()
            .and_then(|tag| attr(tag, "date1904"))
            .is_some_and(|v| v == "1" || v == "true");
        let strings = match shared_strings {
            Some(path) if zip.by_name(&path).is_ok() => {
                shared_string_table(&read_text(&mut zip, &path)?)?
            }
            _ => Vec::new(),
        };
        let formats = match styles {
            Some(path) if zip.by_name(&path).is_ok() => number_kinds(&read_text(&mut zip, &path)?),
            _ => Vec::new(),
        };
        Ok(Workbook {
            sheets,
            strings,
            formats,
            is_1904,
        })
    }

    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Streams the rows of a sheet, in order, keeping the columns `wanted`;
    /// rows with no kept cell are not reported.
    pub fn for_each_row(
        &self,
        bytes: &[u8],
        sheet: &str,
        wanted: &dyn Fn(usize) -> bool,
        each: &mut dyn FnMut(GridRow) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let (_, path) = self
            .sheets
            .iter()
            .find(|(name, _)| name == sheet)
            .ok_or_else(|| anyhow!("no sheet {sheet}"))?;
        let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(anyhow::Error::from)?;
        let mut entry = zip.by_name(path).map_err(anyhow::Error::from)?;
        let mut scanner = Scanner {
            book: self,
            wanted,
            row: None,
            next_row: 1,
            next_col: 0,
            in_data: false,
            done: false,
        };
        let mut buffer: Vec<u8> = Vec::with_capacity(BLOCK * 2);
        let mut block = vec![0u8; BLOCK];
        loop {
            let read = entry.read(&mut block).map_err(anyhow::Error::from)?;
            if read == 0 {
                break;
            }
            buffer.extend_from_slice(&block[..read]);
            // Scan up to the last complete tag; the rest waits for more bytes.
            let Some(end) = last_complete(&buffer) else {
                continue;
            };
            let text = std::str::from_utf8(&buffer[..end]).map_err(|e| {
                // A multi-byte character is never split by a tag boundary.
                anyhow!("not UTF-8 XML: {e}")
            })?;
            scanner.scan(text, each)?;
            buffer.drain(..end);
            if scanner.done {
                return Ok(());
            }
        }
        let text = std::str::from_utf8(&buffer).map_err(|e| anyhow!("not UTF-8 XML: {e}"))?;
        scanner.scan(text, each)?;
        emit(scanner.row.take(), each)
    }
}

const BLOCK: usize = 1 << 20;

/// The end of the last `</row>` or `</sheetData>` in `buffer`, so that a
/// scan never stops inside a cell.
fn last_complete(buffer: &[u8]) -> Option<usize> {
    let last = |needle: &[u8]| memchr::memmem::rfind(buffer, needle).map(|at| at + needle.len());
    last(b"</row>")
        .or_else(|| last(b"</sheetData>"))
        .or_else(|| {
            // Rows with a namespace prefix end in `</x:row>`.
            memchr::memmem::rfind(buffer, b":row>").map(|at| at + b":row>".len())
        })
}

struct Scanner<'a> {
    book: &'a Workbook,
    wanted: &'a dyn Fn(usize) -> bool,
    row: Option<GridRow>,
    next_row: u32,
    /// The column of a cell written without a reference.
    next_col: usize,
    in_data: bool,
    done: bool,
}

impl Scanner<'_> {
    fn scan(
        &mut self,
        text: &str,
        each: &mut dyn FnMut(GridRow) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let mut rest = text;
        while !self.done {
            let Some(open) = memchr::memchr(b'<', rest.as_bytes()) else {
                break;
            };
            rest = &rest[open..];
            let close = memchr::memchr(b'>', rest.as_bytes())
                .ok_or_else(|| anyhow!("a tag without its >"))?;
            let tag = &rest[1..close];
            let (closing, name) = tag_name(tag);
            if !self.in_data {
                if name == "sheetData" && !closing {
                    self.in_data = !tag.ends_with('/');
                    self.done = tag.ends_with('/');
                }
                rest = &rest[close + 1..];
                continue;
            }
            match (closing, name) {
                (false, "row") => {
                    emit(self.row.take(), each)?;
                    let number = match attr(tag, "r") {
                        Some(r) => r.parse::<u32>().map_err(|_| anyhow!("row number {r:?}"))?,
                        None => self.next_row,
                    };
                    self.next_row = number + 1;
                    self.next_col = 0;
                    self.row = Some(GridRow {
                        number,
                        cells: Vec::new(),
                    });
                    if tag.ends_with('/') {
                        emit(self.row.take(), each)?;
                    }
                    rest = &rest[close + 1..];
                }
                (true, "row") => {
                    emit(self.row.take(), each)?;
                    rest = &rest[close + 1..];
                }
                (false, "c") => {
                    let self_closing = tag.ends_with('/');
                    let body_end = if self_closing {
                        close + 1
                    } else if !tag.starts_with("c ") && !tag.starts_with("c>") {
                        // A prefixed cell (`<x:c>`): the general search.
                        find_close(rest, close + 1, "c")
                            .ok_or_else(|| anyhow!("a cell without </c>"))?
                    } else {
                        close
                            + 1
                            + memchr::memmem::find(&rest.as_bytes()[close + 1..], b"</c>")
                                .ok_or_else(|| anyhow!("a cell without </c>"))?
                    };
                    let body = if self_closing {
                        ""
                    } else {
                        &rest[close + 1..body_end]
                    };
                    self.cell(tag, body)?;
                    rest = &rest[skip_close(rest, body_end, self_closing)..];
                }
                (true, "sheetData") => {
                    emit(self.row.take(), each)?;
                    self.done = true;
                }
                _ => rest = &rest[close + 1..],
            }
        }
        Ok(())
    }

    fn cell(&mut self, tag: &str, body: &str) -> Result<()> {
        let (mut reference, mut style, mut kind) = (None, None, None);
        for (key, value) in attrs(tag) {
            match key {
                "r" => reference = Some(value),
                "s" => style = Some(value),
                "t" => kind = Some(value),
                _ => {}
            }
        }
        let col = match reference {
            Some(reference) => {
                column_of(reference).ok_or_else(|| anyhow!("cell reference {reference:?}"))?
            }
            None => self.next_col,
        };
        self.next_col = col + 1;
        if !(self.wanted)(col) {
            return Ok(());
        }
        let value = self.value(style, kind, body)?;
        if matches!(value, Data::Empty) {
            return Ok(());
        }
        let next_row = self.next_row;
        let row = self.row.get_or_insert_with(|| GridRow {
            number: next_row,
            cells: Vec::new(),
        });
        if row.cells.len() <= col {
            row.cells.resize(col + 1, Data::Empty);
        }
        row.cells[col] = value;
        Ok(())
    }

    fn value(&self, style: Option<&str>, kind: Option<&str>, body: &str) -> Result<Data> {
        if matches!(kind, Some("inlineStr") | Some("is")) {
            // The usual shape first: <is><t>text</t></is>.
            if let Some(text) = body
                .strip_prefix("<is><t>")
                .or_else(|| body.strip_prefix("<is><t xml:space=\"preserve\">"))
                .and_then(|t| t.strip_suffix("</t></is>"))
                .filter(|t| !t.contains('<'))
            {
                return Ok(Data::String(unescape(text)));
            }
            return Ok(match element(body, "is") {
                Some(inline) => Data::String(rich_text(inline)),
                None => Data::Empty,
            });
        }
        let v = match body
            .strip_prefix("<v>")
            .and_then(|b| b.strip_suffix("</v>"))
        {
            Some(v) if !v.contains('<') => v,
            _ => match element(body, "v") {
                Some(v) => v,
                None => return Ok(Data::Empty),
            },
        };
        Ok(match kind {
            Some("s") => {
                if v.is_empty() {
                    return Ok(Data::Empty);
                }
                let index: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("shared string index {v:?}"))?;
                Data::String(
                    self.book
                        .strings
                        .get(index)
                        .cloned()
                        .ok_or_else(|| anyhow!("shared string {index} not in the table"))?,
                )
            }
            Some("b") => match v.trim() {
                "1" | "true" => Data::Bool(true),
                "0" | "false" => Data::Bool(false),
                other => bail!("boolean {other:?}"),
            },
            Some("d") => Data::DateTimeIso(unescape(v)),
            Some("e") => Data::Error(
                v.trim()
                    .parse::<CellErrorType>()
                    .map_err(|_| anyhow!("cell error {v:?}"))?,
            ),
            Some("str") => Data::String(unescape(v)),
            Some("n") | None => {
                if v.is_empty() {
                    return Ok(Data::Empty);
                }
                match v.trim().parse::<f64>() {
                    Ok(number) => {
                        let kind = match style {
                            Some(style) => self
                                .book
                                .formats
                                .get(style.parse::<usize>().unwrap_or(0))
                                .copied(),
                            None => Some(NumberKind::Number),
                        };
                        match kind {
                            Some(NumberKind::DateTime) => Data::DateTime(ExcelDateTime::new(
                                number,
                                ExcelDateTimeType::DateTime,
                                self.book.is_1904,
                            )),
                            Some(NumberKind::TimeDelta) => Data::DateTime(ExcelDateTime::new(
                                number,
                                ExcelDateTimeType::TimeDelta,
                                self.book.is_1904,
                            )),
                            _ => Data::Float(number),
                        }
                    }
                    Err(_) if kind.is_none() => Data::String(v.to_string()),
                    Err(_) => bail!("number {v:?}"),
                }
            }
            Some(other) => bail!("cell type {other:?}"),
        })
    }
}

/// Hands on a row that has cells; blank rows are not reported.
fn emit(
    row: Option<GridRow>,
    each: &mut dyn FnMut(GridRow) -> Result<(), Stop>,
) -> Result<(), Stop> {
    match row {
        Some(row) if !row.cells.is_empty() => each(row),
        _ => Ok(()),
    }
}

/// Where `</name>` (with any prefix) starts, searching from `from`.
fn find_close(text: &str, from: usize, name: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = from;
    loop {
        let found = at + memchr::memchr(b'<', &bytes[at..])?;
        if bytes.get(found + 1) == Some(&b'/') {
            let after = &text[found + 2..];
            let end = memchr::memchr(b'>', after.as_bytes())?;
            if local_name(&after[..end]) == name {
                return Some(found);
            }
        }
        at = found + 1;
    }
}

/// The position after a cell's closing tag.
fn skip_close(text: &str, body_end: usize, self_closing: bool) -> usize {
    if self_closing {
        return body_end;
    }
    body_end
        + memchr::memchr(b'>', &text.as_bytes()[body_end..])
            .map_or(text.len() - body_end, |i| i + 1)
}

/// The text between `<name ...>` and `</name>` in `body`, or `None`.
fn element<'t>(body: &'t str, name: &str) -> Option<&'t str> {
    let mut at = 0;
    while let Some(open) = memchr::memchr(b'<', &body.as_bytes()[at..]) {
        let start = at + open;
        let close = start + memchr::memchr(b'>', &body.as_bytes()[start..])?;
        let tag = &body[start + 1..close];
        if tag_name(tag) == (false, name) {
            if tag.ends_with('/') {
                return Some("");
            }
            let end = find_close(body, close + 1, name)?;
            return Some(&body[close + 1..end]);
        }
        at = close + 1;
    }
    None
}

/// The text of a string item: every `<t>` run, without phonetic (`<rPh>`) runs.
fn rich_text(item: &str) -> String {
    let mut out = String::new();
    let mut at = 0;
    while let Some(open) = memchr::memchr(b'<', &item.as_bytes()[at..]) {
        let start = at + open;
        let Some(close) = memchr::memchr(b'>', &item.as_bytes()[start..]).map(|c| start + c) else {
            break;
        };
        let tag = &item[start + 1..close];
        match tag_name(tag) {
            (false, "rPh") if !tag.ends_with('/') => {
                at = find_close(item, close + 1, "rPh").map_or(item.len(), |end| end + 1);
            }
            (false, "t") if !tag.ends_with('/') => {
                let end = find_close(item, close + 1, "t").unwrap_or(item.len());
                out.push_str(&unescape(&item[close + 1..end]));
                at = end;
            }
            _ => at = close + 1,
        }
    }
    out
}

fn shared_string_table(xml: &str) -> Result<Vec<String>> {
    let mut strings = Vec::new();
    let mut at = 0;
    while let Some(open) = xml[at..].find("<si") {
        let start = at + open;
        let close = start
            + xml[start..]
                .find('>')
                .ok_or_else(|| anyhow!("bad shared string"))?;
        let tag = &xml[start + 1..close];
        if tag_name(tag) != (false, "si") {
            at = close + 1;
            continue;
        }
        if tag.ends_with('/') {
            strings.push(String::new());
            at = close + 1;
            continue;
        }
        let end = find_close(xml, close + 1, "si")
            .ok_or_else(|| anyhow!("a string item without </si>"))?;
        strings.push(rich_text(&xml[close + 1..end]));
        at = end + 1;
    }
    Ok(strings)
}

/// What each cell style does to numbers, from `styles.xml`.
fn number_kinds(xml: &str) -> Vec<NumberKind> {
    let mut custom = HashMap::new();
    for tag in tags(xml, "numFmt") {
        if let (Some(id), Some(code)) = (attr(tag, "numFmtId"), attr(tag, "formatCode")) {
            custom.insert(id.to_string(), unescape(&code));
        }
    }
    let Some(start) = xml.find("<cellXfs") else {
        return Vec::new();
    };
    let end = xml[start..]
        .find("</cellXfs>")
        .map_or(xml.len(), |e| start + e);
    tags(&xml[start..end], "xf")
        .map(|tag| {
            let id = attr(tag, "numFmtId").unwrap_or_else(|| "0".into());
            match custom.get(id.as_ref()) {
                Some(code) => custom_format_kind(code),
                None => builtin_format_kind(&id),
            }
        })
        .collect()
}

/// Built-in number formats that show dates and times (ECMA-376 18.8.30),
/// as calamine reads them.
fn builtin_format_kind(id: &str) -> NumberKind {
    match id.parse::<u16>() {
        Ok(14..=22 | 27..=36 | 45 | 47 | 50..=58) => NumberKind::DateTime,
        Ok(46) => NumberKind::TimeDelta,
        _ => NumberKind::Number,
    }
}

/// Whether a custom format code shows a date or time. Follows calamine's
/// `detect_custom_number_format` (MIT, Johann Tuffe), so both readers agree.
fn custom_format_kind(format: &str) -> NumberKind {
    let mut escaped = false;
    let mut is_quote = false;
    let mut brackets = 0u8;
    let mut prev = ' ';
    let mut hms = false;
    let mut ap = false;
    for s in format.chars() {
        match (s, escaped, is_quote, ap, brackets) {
            (_, true, ..) => escaped = false,
            ('_' | '\\' | '*', ..) => escaped = true,
            ('"', _, true, _, _) => is_quote = false,
            (_, _, true, _, _) => (),
            ('"', _, _, _, _) => is_quote = true,
            (';', ..) => return NumberKind::Number,
            ('[', ..) => brackets += 1,
            (']', .., 1) if hms => return NumberKind::TimeDelta,
            (']', ..) => brackets = brackets.saturating_sub(1),
            ('a' | 'A', _, _, false, 0) => ap = true,
            ('p' | 'm' | '/' | 'P' | 'M', _, _, true, 0) => return NumberKind::DateTime,
            ('d' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S', _, _, false, 0) => {
                return NumberKind::DateTime;
            }
            _ => {
                if !(hms && s.eq_ignore_ascii_case(&prev)) {
                    hms = prev == '[' && matches!(s, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                }
            }
        }
        prev = s;
    }
    NumberKind::Number
}

fn read_text(zip: &mut ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<String> {
    let mut text = String::new();
    zip.by_name(name)
        .with_context(|| format!("no {name}"))?
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Every start tag named `name` (any prefix) in `xml`, without its `<` and `>`.
fn tags<'x>(xml: &'x str, name: &'x str) -> impl Iterator<Item = &'x str> + 'x {
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(open) = xml[at..].find('<') {
            let start = at + open;
            let close = start + xml[start..].find('>')?;
            at = close + 1;
            let tag = &xml[start + 1..close];
            if tag_name(tag) == (false, name) {
                return Some(tag);
            }
        }
        None
    })
}

/// A start tag's name without namespace prefix (`x:c r="A1"` → `c`). For an
/// end tag (`/x:c`) the name keeps no slash; see [`tag_name`].
fn local_name(tag: &str) -> &str {
    let bytes = tag.as_bytes();
    let end = bytes
        .iter()
        .position(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'>'))
        .unwrap_or(bytes.len());
    let name = &tag[..end];
    match memchr::memrchr(b':', name.as_bytes()) {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

/// Whether a tag closes an element, and its local name.
fn tag_name(tag: &str) -> (bool, &str) {
    match tag.strip_prefix('/') {
        Some(end) => (true, local_name(end)),
        None => (false, local_name(tag)),
    }
}

/// An attribute's value (`name="v"` or `name='v'`), unescaped lazily.
fn attr<'t>(tag: &'t str, name: &str) -> Option<std::borrow::Cow<'t, str>> {
    attrs(tag).find(|(key, _)| *key == name).map(|(_, value)| {
        if value.contains('&') {
            std::borrow::Cow::Owned(unescape_entities(value))
        } else {
            std::borrow::Cow::Borrowed(value)
        }
    })
}

/// The `key="value"` pairs of a start tag, raw.
fn attrs(tag: &str) -> impl Iterator<Item = (&str, &str)> {
    let bytes = tag.as_bytes();
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    // Skip the element name.
    let mut i = bytes
        .iter()
        .position(|b| is_space(*b))
        .unwrap_or(bytes.len());
    std::iter::from_fn(move || {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !is_space(bytes[i]) {
            i += 1;
        }
        let key = &tag[key_start..i];
        while i < bytes.len() && (is_space(bytes[i]) || bytes[i] == b'=') {
            i += 1;
        }
        let quote = *bytes.get(i)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let value_start = i + 1;
        let value_end = value_start + memchr::memchr(quote, &bytes[value_start..])?;
        i = value_end + 1;
        Some((key, &tag[value_start..value_end]))
    })
}

/// An attribute whatever its namespace prefix (`r:id` → `id`).
fn attr_ns<'t>(tag: &'t str, local: &str) -> Option<std::borrow::Cow<'t, str>> {
    attrs(tag)
        .find(|(key, _)| key.contains(':') && key.rsplit(':').next() == Some(local))
        .map(|(_, value)| std::borrow::Cow::Owned(unescape_entities(value)))
}

/// `A1` → 0, `B7` → 1, `AA3` → 26.
fn column_of(reference: &str) -> Option<usize> {
    let mut col = 0usize;
    let mut letters = 0;
    for c in reference.chars() {
        match c {
            'A'..='Z' => col = col * 26 + (c as usize - 'A' as usize + 1),
            'a'..='z' => col = col * 26 + (c as usize - 'a' as usize + 1),
            _ => break,
        }
        letters += 1;
        if letters > 3 {
            return None;
        }
    }
    col.checked_sub(1)
}

/// XML line ends (`\r\n` and `\r` read as `\n`), entities, then Excel's
/// `_xHHHH_` escapes.
fn unescape(raw: &str) -> String {
    let normalised;
    let text = if raw.contains('\r') {
        normalised = raw.replace("\r\n", "\n").replace('\r', "\n");
        normalised.as_str()
    } else {
        raw
    };
    let entities = if text.contains('&') {
        unescape_entities(text)
    } else {
        text.to_string()
    };
    if entities.contains("_x") {
        unescape_excel(&entities)
    } else {
        entities
    }
}

fn unescape_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|s| *s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Excel writes characters XML cannot carry as `_xHHHH_` (UTF-16 units).
fn unescape_excel(text: &str) -> String {
    let bytes = text.as_bytes();
    let unit_at = |i: usize| -> Option<u16> {
        let candidate = bytes.get(i..i + 7)?;
        if candidate[0] != b'_' || candidate[1] != b'x' || candidate[6] != b'_' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&candidate[2..6]).ok()?, 16).ok()
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match unit_at(i) {
            Some(unit) => {
                out.push_str(&text[copied..i]);
                i += 7;
                let c = match unit {
                    0xD800..=0xDBFF => match unit_at(i) {
                        Some(low @ 0xDC00..=0xDFFF) => {
                            i += 7;
                            char::from_u32(
                                0x10000
                                    + ((u32::from(unit) - 0xD800) << 10)
                                    + (u32::from(low) - 0xDC00),
                            )
                        }
                        _ => None,
                    },
                    0xDC00..=0xDFFF => None,
                    _ => char::from_u32(u32::from(unit)),
                };
                out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
                copied = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::Reader;

    /// Every non-empty cell of every sheet, as (sheet, row, column, value).
    fn cells_by_calamine(path: &std::path::Path) -> Vec<(String, u32, usize, Data)> {
        let mut workbook = calamine::open_workbook_auto(path).unwrap();
        let mut out = Vec::new();
        for name in workbook.sheet_names() {
            let range = workbook.worksheet_range(&name).unwrap();
            let (r0, c0) = range.start().unwrap_or((0, 0));
            for (r, row) in range.rows().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    if !matches!(cell, Data::Empty) {
                        out.push((
                            name.clone(),
                            r0 + r as u32 + 1,
                            c0 as usize + c,
                            cell.clone(),
                        ));
                    }
                }
            }
        }
        out
    }

    fn cells_by_scanner(bytes: &[u8]) -> Vec<(String, u32, usize, Data)> {
        let book = Workbook::open(bytes).unwrap();
        let mut out = Vec::new();
        for name in book.sheet_names() {
            let read = book.for_each_row(bytes, &name, &|_| true, &mut |row| {
                for (c, cell) in row.cells.into_iter().enumerate() {
                    if !matches!(cell, Data::Empty) {
                        out.push((name.clone(), row.number, c, cell));
                    }
                }
                Ok(())
            });
            assert!(read.is_ok(), "{name}: {read:?}");
        }
        out
    }

    #[test]
    fn reads_every_committed_workbook_as_calamine_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![
            root.join("fixtures/orders-2024-10.xlsx"),
            root.join("assets/lhdn-batch-upload-template.xlsx"),
        ];
        for entry in std::fs::read_dir(root.join("tests/data")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "xlsx") {
                files.push(path);
            }
        }
        let mut compared = 0;
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            if Workbook::open(&bytes).is_err() {
                // Not a readable xlsx (truncated, encrypted, not a spreadsheet).
                continue;
            }
            let (ours, theirs) = (cells_by_scanner(&bytes), cells_by_calamine(&path));
            let first_difference = ours.iter().zip(&theirs).find(|(a, b)| a != b);
            assert!(
                first_difference.is_none() && ours.len() == theirs.len(),
                "{}: {} cells against {}; first difference {first_difference:?}",
                path.display(),
                ours.len(),
                theirs.len()
            );
            compared += 1;
        }
        assert!(compared >= 15, "{compared} workbooks compared");
    }

    #[test]
    fn format_codes_and_escapes() {
        assert_eq!(
            custom_format_kind("yyyy\\-mm\\-dd\\Thh:mm:ss\\Z"),
            NumberKind::DateTime
        );
        assert_eq!(custom_format_kind("0.00000"), NumberKind::Number);
        assert_eq!(custom_format_kind("[h]:mm:ss"), NumberKind::TimeDelta);
        assert_eq!(custom_format_kind("\"m\"0"), NumberKind::Number);
        assert_eq!(builtin_format_kind("14"), NumberKind::DateTime);
        assert_eq!(builtin_format_kind("49"), NumberKind::Number);
        assert_eq!(
            unescape("A&amp;B &#x4E2D;&#25991; _x000D_ok"),
            "A&B 中文 \rok"
        );
        assert_eq!(unescape("a\r\nb\rc&#13;"), "a\nb\nc\r");
        assert_eq!(column_of("A1"), Some(0));
        assert_eq!(column_of("BW6"), Some(74));
        assert_eq!(column_of("1"), None);
        assert_eq!(tag_name("/x:row"), (true, "row"));
        assert_eq!(tag_name("c r=\"A1\" s=\"2\"/"), (false, "c"));
    }
}
