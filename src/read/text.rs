//! Text from bytes: the encodings CSV and text inputs arrive in, and the
//! invisible characters that must not change what a header or an order
//! number says.

use std::borrow::Cow;

/// How a text file's bytes are text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Gb18030,
}

/// The text of a file: UTF-8 with or without BOM, else GB18030 (which Excel
/// on Chinese Windows writes for "CSV").
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = strip_bom(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    }
}

/// The bytes without a UTF-8 byte order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Characters that show as nothing: byte order marks, zero-width spaces and
/// joiners, direction marks and embeddings. A header cell or an order number
/// copied from a web page or re-saved by some tools carries them unseen.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{FEFF}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{202A}'..='\u{202E}'
    )
}

/// `text` without its invisible characters (see [`is_invisible`]).
pub fn strip_invisible(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_invisible) {
        Cow::Owned(text.chars().filter(|c| !is_invisible(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_with_bom_and_gb18030() {
        assert_eq!(decode_text("\u{feff}订单编号".as_bytes()), "订单编号");
        let (gbk, _, _) = encoding_rs::GB18030.encode("订单编号,实付款(元)");
        assert_eq!(decode_text(&gbk), "订单编号,实付款(元)");
    }

    #[test]
    fn strips_what_cannot_be_seen() {
        assert_eq!(strip_invisible("\u{feff}订单编号"), "订单编号");
        assert_eq!(
            strip_invisible("2420101234567540001\u{200b}"),
            "2420101234567540001"
        );
        assert_eq!(strip_invisible("\u{202e}abc\u{2060}"), "abc");
        assert!(matches!(strip_invisible("plain"), Cow::Borrowed(_)));
    }
}
