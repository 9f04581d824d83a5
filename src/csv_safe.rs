//! Text in the CSV files selfbill writes (the `--format csv` sheets and
//! `suppliers.csv`), safe to open in Excel. A text cell that starts with
//! `=`, `+`, `-`, `@`, a tab or a carriage return would be taken for a
//! formula (CSV injection); following OWASP's advice it is written with a
//! single quote in front. Numbers are written as they are. selfbill reads
//! such a cell back as the original text.

use std::borrow::Cow;

/// The characters that make a spreadsheet take a cell for a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a CSV text cell: a leading `'` when it would start a formula.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_START) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The original text of a cell [`neutralise`] wrote: the quote goes only
/// where it stands before a formula character.
pub fn restore(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_START) => rest,
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_read_back_as_written() {
        for payload in [
            "=HYPERLINK(\"http://x\",\"click\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "=cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1+1",
            "+60312345678",
        ] {
            let safe = neutralise(payload);
            assert!(safe.starts_with('\''), "{payload:?}");
            assert_eq!(restore(&safe), payload);
        }
        for plain in ["保温杯", "12.50", "'quoted", "'", "", "a=b"] {
            assert_eq!(neutralise(plain), plain);
            assert_eq!(restore(plain), plain);
        }
    }
}
