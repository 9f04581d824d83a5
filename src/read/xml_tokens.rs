//! The markup of an XML part as tokens, read a buffer at a time: start
//! tags with their attributes as written, end tags, text as written, CDATA,
//! and the rest (comments, processing instructions, declarations) as
//! `Other`. Nothing is decoded or checked beyond what finds the tokens'
//! ends: a token borrows the buffer, and its reader decodes what it keeps
//! (see [`decode_text`]).
//!
//! Why not quick-xml: an export's sheet is about 100 MB of XML, read on
//! convert's longest path, and reading it through quick-xml took half as
//! many instructions again (README, "Two xlsx readers"). quick-xml still
//! reads the small parts (workbook, relationships, styles), and batch
//! workbooks are read through calamine.

use anyhow::{Result, anyhow, bail};
use std::io::Read;

/// One token of the XML, borrowing the reader's buffer.
#[derive(Debug, PartialEq)]
pub enum Token<'a> {
    /// `<name attributes>`; an empty element `<name/>` is a start followed by its end.
    Start {
        name: &'a [u8],
        attributes: &'a [u8],
    },
    End {
        name: &'a [u8],
    },
    /// Character data up to the next markup, entities unresolved.
    Text(&'a [u8]),
    /// The content of `<![CDATA[…]]>`.
    CData(&'a [u8]),
    /// A comment, processing instruction or declaration.
    Other,
    Eof,
}

/// A copy of an element's name, to find its end tag by, kept without
/// allocating: names are short.
pub struct Closing {
    short: [u8; 32],
    len: usize,
    long: Vec<u8>,
}

impl Closing {
    pub fn of(name: &[u8]) -> Self {
        let mut closing = Closing {
            short: [0; 32],
            len: name.len(),
            long: Vec::new(),
        };
        match closing.short.get_mut(..name.len()) {
            Some(short) => short.copy_from_slice(name),
            None => closing.long = name.to_vec(),
        }
        closing
    }

    pub fn name(&self) -> &[u8] {
        self.short.get(..self.len).unwrap_or(&self.long)
    }
}

/// The local part of a name: `x:c` → `c`.
pub fn local_name(name: &[u8]) -> &[u8] {
    // Names are a few bytes: a loop beats memchr's setup.
    match name.iter().rposition(|&c| c == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

/// Where the next token lies in the buffer once it is whole, as offsets
/// from its start.
enum Found {
    Start {
        name: (usize, usize),
        attributes: (usize, usize),
        empty: bool,
        len: usize,
    },
    End {
        name: (usize, usize),
        len: usize,
    },
    Text(usize),
    CData(usize),
    Other(usize),
    /// The buffer ends inside the token.
    Partial,
}

/// The first buffer's size; it doubles for a token that does not fit.
/// Small in tests, so that tokens cross the buffer's end.
const FIRST_BUFFER: usize = if cfg!(test) { 64 } else { 256 << 10 };

/// The longest token read. A cell's text is at most 32,767 characters, a
/// few hundred KB even written as character references: what is longer is
/// damage, and is refused before it fills memory.
const MAX_TOKEN: usize = if cfg!(test) { 64 << 10 } else { 16 << 20 };

/// An XML part's tokens, read from `source` a buffer at a time.
pub struct Tokens<R> {
    source: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    eof: bool,
    /// The name of an empty element whose end comes next, as a range of `buf`.
    pending_end: Option<(usize, usize)>,
}

impl<R: Read> Tokens<R> {
    pub fn new(source: R) -> Self {
        Tokens {
            source,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            eof: false,
            pending_end: None,
        }
    }

    /// The next token.
    pub fn next_token(&mut self) -> Result<Token<'_>> {
        if let Some((from, to)) = self.pending_end.take() {
            return Ok(Token::End {
                name: &self.buf[from..to],
            });
        }
        let found = loop {
            let found = find(&self.buf[self.pos..self.end], self.eof)?;
            match found {
                Found::Partial if self.eof => {
                    if self.pos == self.end {
                        return Ok(Token::Eof);
                    }
                    bail!("the XML ends inside a tag");
                }
                Found::Partial if self.end - self.pos >= MAX_TOKEN => bail!(
                    "a tag, text or comment of more than {} MB, which no spreadsheet writes",
                    MAX_TOKEN >> 20
                ),
                Found::Partial => self.fill()?,
                found => break found,
            }
        };
        let at = self.pos;
        let range = |(from, to): (usize, usize)| (at + from, at + to);
        Ok(match found {
            Found::Start {
                name,
                attributes,
                empty,
                len,
            } => {
                self.pos += len;
                let (name, attributes) = (range(name), range(attributes));
                if empty {
                    self.pending_end = Some(name);
                }
                Token::Start {
                    name: &self.buf[name.0..name.1],
                    attributes: &self.buf[attributes.0..attributes.1],
                }
            }
            Found::End { name, len } => {
                self.pos += len;
                let name = range(name);
                Token::End {
                    name: &self.buf[name.0..name.1],
                }
            }
            Found::Text(len) => {
                self.pos += len;
                Token::Text(&self.buf[at..at + len])
            }
            Found::CData(len) => {
                self.pos += len;
                Token::CData(&self.buf[at + 9..at + len - 3])
            }
            Found::Other(len) => {
                self.pos += len;
                Token::Other
            }
            Found::Partial => unreachable!("handled above"),
        })
    }

    /// The unread bytes the buffer holds, for a reader that recognises a
    /// shape of markup there itself and moves past it with
    /// [`Tokens::consume`]; nothing while an empty element's end is still
    /// to come. A shape the buffer does not hold whole is the tokens' to
    /// read: they are read from the same bytes, so both ways give the same.
    pub fn buffered(&self) -> &[u8] {
        match self.pending_end {
            Some(_) => &[],
            None => &self.buf[self.pos..self.end],
        }
    }

    /// Moves past the first `len` bytes of [`Tokens::buffered`].
    pub fn consume(&mut self, len: usize) {
        assert!(
            self.pending_end.is_none() && len <= self.end - self.pos,
            "consumed past the buffer"
        );
        self.pos += len;
    }

    /// Reads on to the end of the element whose start (named `name`) was
    /// the last token: nested elements of the same name are skipped whole.
    pub fn skip_to_end(&mut self, name: &[u8]) -> Result<()> {
        let mut depth = 0usize;
        loop {
            match self.next_token()? {
                Token::Start { name: inner, .. } if inner == name => depth += 1,
                Token::End { name: inner } if inner == name => match depth {
                    0 => return Ok(()),
                    _ => depth -= 1,
                },
                Token::Eof => bail!("the XML ends inside <{}>", String::from_utf8_lossy(name)),
                _ => {}
            }
        }
    }

    /// Reads what is left of the source, to its end (where a zip part's
    /// checksum is checked), without looking at it.
    pub fn drain(&mut self) -> Result<()> {
        if !self.eof {
            std::io::copy(&mut self.source, &mut std::io::sink())?;
            self.eof = true;
        }
        Ok(())
    }

    /// Reads more of the source: the unread bytes move to the buffer's
    /// start, and the buffer doubles when they fill it, so that a long
    /// token is scanned again only as often as the buffer doubles.
    fn fill(&mut self) -> Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            let size = (self.buf.len() * 2).max(FIRST_BUFFER);
            self.buf.resize(size, 0);
        }
        while self.end < self.buf.len() {
            let read = match self.source.read(&mut self.buf[self.end..]) {
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error.into()),
            };
            if read == 0 {
                self.eof = true;
                break;
            }
            self.end += read;
        }
        Ok(())
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes looked at one by one before a search is handed to `memchr`: most
/// of a sheet's tokens end within them, sooner than `memchr` starts.
const NEAR: usize = 16;

/// Where `needle` first is in `b`.
#[inline]
pub fn find_byte(needle: u8, b: &[u8]) -> Option<usize> {
    // The near bytes 8 at a time: a byte equal to the needle is a zero
    // byte of `chunk ^ needles`, and the lowest byte the zero test marks
    // is the first zero (a borrow marks only bytes above a zero).
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let needles = u64::from_ne_bytes([needle; 8]);
    let near = b.len().min(NEAR);
    let mut at = 0;
    while let Some(chunk) = b[at..near].first_chunk::<8>() {
        let chunk = u64::from_le_bytes(*chunk) ^ needles;
        let zeros = chunk.wrapping_sub(ONES) & !chunk & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    match b[at..near].iter().position(|&c| c == needle) {
        Some(found) => Some(at + found),
        None if b.len() <= NEAR => None,
        None => memchr::memchr(needle, &b[NEAR..]).map(|found| NEAR + found),
    }
}

/// Where the first `>`, `"` or `'` is in `b`.
#[inline]
fn find_tag_end_or_quote(b: &[u8]) -> Option<usize> {
    let near = &b[..b.len().min(NEAR)];
    match near.iter().position(|&c| matches!(c, b'>' | b'"' | b'\'')) {
        Some(at) => Some(at),
        None if b.len() <= NEAR => None,
        None => memchr::memchr3(b'>', b'"', b'\'', &b[NEAR..]).map(|at| NEAR + at),
    }
}

/// The token at the start of `b`, or `Partial` when `b` ends inside it
/// (`eof`: nothing follows `b`).
fn find(b: &[u8], eof: bool) -> Result<Found> {
    let Some(&first) = b.first() else {
        return Ok(Found::Partial);
    };
    if first != b'<' {
        return Ok(match find_byte(b'<', b) {
            Some(len) => Found::Text(len),
            None if eof => Found::Text(b.len()),
            None => Found::Partial,
        });
    }
    let Some(&second) = b.get(1) else {
        return Ok(Found::Partial);
    };
    match second {
        b'/' => Ok(match find_byte(b'>', b) {
            None => Found::Partial,
            Some(gt) => {
                let name = &b[2..gt];
                let trimmed = name.len() - name.iter().rev().take_while(|&&c| is_space(c)).count();
                Found::End {
                    name: (2, 2 + trimmed),
                    len: gt + 1,
                }
            }
        }),
        b'!' => Ok(declaration(b)),
        b'?' => Ok(match memchr::memmem::find(&b[2..], b"?>") {
            Some(at) => Found::Other(2 + at + 2),
            None => Found::Partial,
        }),
        _ => start_tag(b),
    }
}

/// `<!--…-->`, `<![CDATA[…]]>`, or a declaration such as `<!DOCTYPE…>`
/// (with its internal subset in brackets).
fn declaration(b: &[u8]) -> Found {
    const COMMENT: &[u8] = b"<!--";
    const CDATA: &[u8] = b"<![CDATA[";
    let starts = |prefix: &[u8]| b.len() >= prefix.len() && b.starts_with(prefix);
    let could_be = |prefix: &[u8]| b.len() < prefix.len() && prefix.starts_with(b);
    if starts(COMMENT) {
        return match memchr::memmem::find(&b[COMMENT.len()..], b"-->") {
            Some(at) => Found::Other(COMMENT.len() + at + 3),
            None => Found::Partial,
        };
    }
    if starts(CDATA) {
        return match memchr::memmem::find(&b[CDATA.len()..], b"]]>") {
            Some(at) => Found::CData(CDATA.len() + at + 3),
            None => Found::Partial,
        };
    }
    if could_be(COMMENT) || could_be(CDATA) {
        return Found::Partial;
    }
    let mut depth = 0usize;
    for (at, &c) in b.iter().enumerate().skip(2) {
        match c {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'>' if depth == 0 => return Found::Other(at + 1),
            _ => {}
        }
    }
    Found::Partial
}

/// `<name attributes>` or `<name attributes/>`: its end is the first `>`
/// outside a quoted value.
fn start_tag(b: &[u8]) -> Result<Found> {
    let name_end = b[1..]
        .iter()
        .position(|&c| is_space(c) || c == b'/' || c == b'>')
        .map(|at| at + 1);
    let Some(name_end) = name_end else {
        return Ok(Found::Partial);
    };
    let mut at = name_end;
    loop {
        let Some(offset) = find_tag_end_or_quote(&b[at..]) else {
            return Ok(Found::Partial);
        };
        let c = b[at + offset];
        if c == b'>' {
            let gt = at + offset;
            let empty = gt > name_end && b[gt - 1] == b'/';
            let attributes_end = if empty { gt - 1 } else { gt };
            if name_end <= 1 {
                bail!("a tag without a name");
            }
            return Ok(Found::Start {
                name: (1, name_end),
                attributes: (name_end, attributes_end.max(name_end)),
                empty,
                len: gt + 1,
            });
        }
        let open = at + offset + 1;
        match find_byte(c, &b[open..]) {
            Some(close) => at = open + close + 1,
            None => return Ok(Found::Partial),
        }
    }
}

/// The attributes of a start tag, each (name, value as written).
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    pub fn new(attributes: &'a [u8]) -> Self {
        Attributes { rest: attributes }
    }

    /// The value of the attribute named exactly `key`, as written.
    pub fn get(attributes: &'a [u8], key: &[u8]) -> Result<Option<&'a [u8]>> {
        for attribute in Attributes::new(attributes) {
            let (name, value) = attribute?;
            if name == key {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        // Index loops: an attribute is a few bytes, read for every cell.
        let b = self.rest;
        let skip_space = |mut at: usize| {
            while at < b.len() && is_space(b[at]) {
                at += 1;
            }
            at
        };
        let start = skip_space(0);
        if start == b.len() {
            return None;
        }
        let mut name_end = start;
        while name_end < b.len() && b[name_end] != b'=' && !is_space(b[name_end]) {
            name_end += 1;
        }
        let name = &b[start..name_end];
        let eq = skip_space(name_end);
        let quote_at = skip_space(eq + 1);
        let found = (eq < b.len() && b[eq] == b'=')
            .then_some(())
            .and_then(|()| b.get(quote_at))
            .filter(|&&quote| quote == b'"' || quote == b'\'')
            .and_then(|&quote| find_byte(quote, &b[quote_at + 1..]));
        let Some(close) = found else {
            self.rest = &[];
            return Some(Err(anyhow!(
                "an attribute {:?} without a quoted value",
                String::from_utf8_lossy(name)
            )));
        };
        let value = &b[quote_at + 1..quote_at + 1 + close];
        self.rest = &b[quote_at + 1 + close + 1..];
        Some(Ok((name, value)))
    }
}

/// Appends text as written in the XML to `out`: UTF-8 checked, line ends
/// made `\n` (XML 1.0), and entities resolved (`&amp;`, `&#x41;`); a
/// resolved character is kept as it is, `&#13;` a carriage return.
pub fn decode_text(raw: &[u8], out: &mut String) -> Result<()> {
    let text = std::str::from_utf8(raw).map_err(|_| anyhow!("text that is not UTF-8"))?;
    // Most text has neither an entity nor a line end to make `\n`.
    if memchr::memchr2(b'&', b'\r', raw).is_none() {
        out.push_str(text);
        return Ok(());
    }
    let mut rest = text;
    while let Some(amp) = memchr::memchr(b'&', rest.as_bytes()) {
        push_normalized(&rest[..amp], out);
        let after = &rest[amp + 1..];
        let semi = memchr::memchr(b';', after.as_bytes())
            .ok_or_else(|| anyhow!("an entity without its ';' in {:?}", clip(rest)))?;
        out.push(entity(&after[..semi])?);
        rest = &after[semi + 1..];
    }
    push_normalized(rest, out);
    Ok(())
}

/// CDATA's text: UTF-8 checked, line ends made `\n`.
pub fn decode_cdata(raw: &[u8], out: &mut String) -> Result<()> {
    let text = std::str::from_utf8(raw).map_err(|_| anyhow!("text that is not UTF-8"))?;
    push_normalized(text, out);
    Ok(())
}

/// `\r\n` and a lone `\r` become `\n`.
fn push_normalized(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(cr) = memchr::memchr(b'\r', rest.as_bytes()) {
        out.push_str(&rest[..cr]);
        out.push('\n');
        rest = &rest[cr + 1..];
        if let Some(after) = rest.strip_prefix('\n') {
            rest = after;
        }
    }
    out.push_str(rest);
}

/// The character of an entity's name: one of XML's five, or a character
/// reference.
fn entity(name: &str) -> Result<char> {
    Ok(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let code = match name.strip_prefix('#') {
                Some(hex) if hex.starts_with('x') => hex_or_decimal(&hex[1..], 16),
                Some(decimal) => hex_or_decimal(decimal, 10),
                None => None,
            };
            code.filter(|&code| code != 0)
                .and_then(char::from_u32)
                .ok_or_else(|| anyhow!("an unknown entity &{};", clip(name)))?
        }
    })
}

fn hex_or_decimal(digits: &str, radix: u32) -> Option<u32> {
    if digits.starts_with(['+', '-']) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// Text cut for a message.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every token of `xml`, as text, read through a source that hands out
    /// `chunk` bytes at a time.
    fn tokens(xml: &str, chunk: usize) -> Result<Vec<String>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut tokens = Tokens::new(Trickle(xml.as_bytes(), chunk));
        let mut seen = Vec::new();
        loop {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            seen.push(match tokens.next_token()? {
                Token::Start { name, attributes } => {
                    format!("<{}|{}>", text(name), text(attributes))
                }
                Token::End { name } => format!("</{}>", text(name)),
                Token::Text(t) => format!("T{}", text(t)),
                Token::CData(t) => format!("C{}", text(t)),
                Token::Other => "O".into(),
                Token::Eof => return Ok(seen),
            });
        }
    }

    #[test]
    fn byte_searches_find_the_first_match_near_or_far() {
        for len in 0..48 {
            for at in 0..=len {
                let mut b = vec![b'x'; len];
                if at < len {
                    b[at] = b'>';
                }
                let expected = (at < len).then_some(at);
                assert_eq!(find_byte(b'>', &b), expected, "{len} {at}");
                assert_eq!(find_tag_end_or_quote(&b), expected, "{len} {at}");
                if at + 1 < len {
                    b[at + 1] = b'"';
                    assert_eq!(find_tag_end_or_quote(&b), expected, "{len} {at}");
                }
            }
        }
    }

    #[test]
    fn a_byte_search_finds_the_first_of_many_among_any_bytes() {
        let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for needle in 0..=255u8 {
            for start in 0..40 {
                for len in 0..40 {
                    let b = &bytes[start * 5..(start * 5 + len).min(bytes.len())];
                    let expected = b.iter().position(|&c| c == needle);
                    assert_eq!(find_byte(needle, b), expected, "{needle} {start} {len}");
                }
            }
        }
        let repeated = [b'<'; 40];
        for len in 1..40 {
            assert_eq!(find_byte(b'<', &repeated[..len]), Some(0));
            let mut b = [b'a'; 40];
            b[len - 1] = b'<';
            b[len..].fill(b'<');
            assert_eq!(find_byte(b'<', &b), Some(len - 1));
            // 0x3c + 1 and 0x3c - 1 on either side: no borrow is taken for a match.
            let mut near = [0x3du8; 40];
            near[len - 1] = b'<';
            near[..len - 1].fill(0x3b);
            assert_eq!(find_byte(b'<', &near), Some(len - 1));
        }
    }

    #[test]
    fn finds_every_kind_of_token_whatever_the_buffer_holds() {
        let xml = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x:c r=\"A1\" f='a>b' t = \"x\"/>\
                   text &amp; more<!-- a <comment> --><v>1</v ><![CDATA[<raw>]]><e/><s attr=\"/\">x</s>";
        let expected = [
            "O",
            "O",
            "<x:c| r=\"A1\" f='a>b' t = \"x\">",
            "</x:c>",
            "Ttext &amp; more",
            "O",
            "<v|>",
            "T1",
            "</v>",
            "C<raw>",
            "<e|>",
            "</e>",
            "<s| attr=\"/\">",
            "Tx",
            "</s>",
        ];
        for chunk in [1, 2, 3, 7, 64, 1 << 20] {
            assert_eq!(tokens(xml, chunk).unwrap(), expected, "chunk {chunk}");
        }
    }

    #[test]
    fn a_part_ending_inside_a_tag_is_refused() {
        for xml in ["<a><b attr=\"x", "<a><!-- open", "<a></a", "<![CDATA[x"] {
            assert!(tokens(xml, 3).is_err(), "{xml}");
        }
        assert_eq!(tokens("<a>tail", 2).unwrap(), ["<a|>", "Ttail"]);
    }

    #[test]
    fn attributes_are_read_as_written() {
        let all: Vec<_> = Attributes::new(b" r=\"A1\"  t = 'inlineStr' xml:space=\"preserve\" ")
            .map(|a| a.map(|(n, v)| (n.to_vec(), v.to_vec())))
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            all,
            [
                (b"r".to_vec(), b"A1".to_vec()),
                (b"t".to_vec(), b"inlineStr".to_vec()),
                (b"xml:space".to_vec(), b"preserve".to_vec())
            ]
        );
        assert_eq!(
            Attributes::get(b" a=\"1\" s=\"7\"", b"s").unwrap(),
            Some(&b"7"[..])
        );
        assert!(Attributes::get(b" a s=\"7\"", b"s").is_err());
        assert!(Attributes::get(b" a=1", b"a").is_err());
    }

    #[test]
    fn text_is_decoded_as_xml_says() {
        let mut out = String::new();
        decode_text(
            "a &amp; &lt;b&gt; &#x41;&#66;\r\nc\rd&#13;".as_bytes(),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, "a & <b> AB\nc\nd\r");
        for bad in ["&bogus;", "&#0;", "&#xD800;", "& no end", "&#+1;"] {
            assert!(
                decode_text(bad.as_bytes(), &mut String::new()).is_err(),
                "{bad}"
            );
        }
        assert!(decode_text(&[0xff, 0xfe], &mut String::new()).is_err());
    }

    #[test]
    fn an_endless_token_is_refused_before_it_fills_memory() {
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                buf.fill(b'x');
                Ok(buf.len())
            }
        }
        for start in [&b"<t>"[..], b"<t a=\"", b"<!--", b"<![CDATA["] {
            let mut tokens = Tokens::new(start.chain(Endless));
            let error = loop {
                match tokens.next_token() {
                    Ok(Token::Eof) => panic!("an endless source has no end"),
                    Ok(_) => {}
                    Err(error) => break error,
                }
            };
            assert!(error.to_string().contains("of more than"), "{error}");
            assert!(tokens.buf.len() <= 2 * MAX_TOKEN);
        }
    }

    #[test]
    fn a_token_longer_than_the_buffer_is_read_whole_in_linear_time() {
        let long = "x".repeat(MAX_TOKEN - 16);
        let xml = format!("<t>{long}</t>");
        let seen = tokens(&xml, 1000).unwrap();
        assert_eq!(seen[1].len(), long.len() + 1);
    }
}
