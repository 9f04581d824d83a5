//! What is written of each invoice, kept on disk from the moment its part
//! is built until the report and the register are done with it: the
//! report's line and the register's record. A run's memory then does not
//! grow with its number of invoices.

use std::io;
use std::path::Path;

use super::parts::Brief;
use crate::register::{Document, Kind, State};
use crate::report::{INVOICE_TABLE_ROWS, InvoiceLines, InvoiceSource, InvoiceSummary};
use crate::spool::{self, Decode, Input, Record, Section, Shared, Spooled};

/// One invoice written: its report line, and its record when convert keeps
/// a register.
pub struct Line {
    pub brief: Brief,
    pub document: Option<Document>,
}

/// A part's lines, as they are written: on disk, with what the text
/// report shows of them.
pub struct Lines<'s> {
    spool: Section<'s, Line>,
    glance: Glance,
}

/// The file a builder's parts spool their lines into, one after another.
pub type SharedLines = Shared<Line>;

/// What decides the text report's table's columns, of a part's lines (the
/// first lines it shows are read back from the spool: a split output's
/// thousands of parts keep none in memory).
struct Glance {
    currency: Option<String>,
    one_currency: bool,
    rate_dates: bool,
}

impl<'s> Lines<'s> {
    pub fn new(shared: &'s SharedLines) -> Lines<'s> {
        Lines {
            spool: shared.section(),
            glance: Glance {
                currency: None,
                one_currency: true,
                rate_dates: false,
            },
        }
    }

    pub fn push(&mut self, line: &Line) -> io::Result<()> {
        let brief = &line.brief;
        let glance = &mut self.glance;
        match &glance.currency {
            None => glance.currency = Some(brief.currency.to_string()),
            Some(currency) => glance.one_currency &= *currency == brief.currency,
        }
        glance.rate_dates |= brief.rate_date.is_some();
        self.spool.push(line)
    }

    pub fn is_empty(&self) -> bool {
        self.spool.is_empty()
    }

    pub fn finish(self) -> io::Result<PartLines> {
        Ok(PartLines {
            spooled: self.spool.finish()?,
            glance: Some(self.glance),
        })
    }
}

/// A built part's lines.
#[derive(Default)]
pub struct PartLines {
    spooled: Spooled<Line>,
    glance: Option<Glance>,
}

impl PartLines {
    pub fn is_empty(&self) -> bool {
        self.spooled.is_empty()
    }

    /// Each line's report line, from the first: `each` returns false to stop.
    pub fn for_each_brief(
        &self,
        mut each: impl FnMut(Brief) -> io::Result<bool>,
    ) -> io::Result<()> {
        self.spooled.for_each_as(|BriefOnly(brief)| each(brief))
    }
}

/// The folder a run's spools are made in: the output's (a workbook's
/// folder, or the CSV folder's parent), where its parts are staged too.
pub fn spool_dir(output: &Path) -> &Path {
    match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A spool that cannot be written (a full disk) stops the run.
pub fn spool_error(error: &io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot write a temporary file of this run (in the output's folder): {error}; nothing \
         was written"
    )
}

/// Every part's lines, with the name each part is written under.
#[derive(Default)]
pub struct Written {
    parts: Vec<(PartLines, String)>,
}

impl Written {
    pub fn push(&mut self, lines: PartLines, output: String) {
        self.parts.push((lines, output));
    }

    /// The report's invoice lines: what the text shows, the first lines
    /// read back; the rest read back only for `--json`.
    pub fn into_report(self) -> io::Result<InvoiceLines> {
        let mut shown = Vec::new();
        let mut len = 0;
        let mut currency: Option<&str> = None;
        let mut one_currency = true;
        let mut rate_dates = false;
        let mut outputs: Option<&str> = None;
        let mut one_output = true;
        for (lines, output) in &self.parts {
            let Some(glance) = &lines.glance else {
                continue;
            };
            if lines.is_empty() {
                continue;
            }
            one_output &= outputs.is_none_or(|first| first == output);
            outputs.get_or_insert(output);
            len += lines.spooled.len();
            if shown.len() < INVOICE_TABLE_ROWS {
                lines.for_each_brief(|brief| {
                    shown.push(brief.summary(output));
                    Ok(shown.len() < INVOICE_TABLE_ROWS)
                })?;
            }
            if let Some(first) = glance.currency.as_deref() {
                one_currency &= glance.one_currency && currency.is_none_or(|c| c == first);
                currency.get_or_insert(first);
            }
            rate_dates |= glance.rate_dates;
        }
        Ok(InvoiceLines::glanced(
            shown,
            len,
            one_currency,
            one_output,
            rate_dates,
            self,
        ))
    }

    /// Each line, with the name of the part it is in.
    pub fn for_each(&self, mut each: impl FnMut(Line, &str) -> io::Result<()>) -> io::Result<()> {
        for (lines, output) in &self.parts {
            lines
                .spooled
                .for_each(|line| each(line, output).map(|()| true))?;
        }
        Ok(())
    }
}

impl Written {
    /// Each line's register record, with the name of the part it is in.
    pub fn for_each_document(
        &self,
        mut each: impl FnMut(Document, &str) -> io::Result<()>,
    ) -> io::Result<()> {
        for (lines, output) in &self.parts {
            lines.spooled.for_each_as(|DocumentOnly(document)| {
                if let Some(document) = document {
                    each(document, output)?;
                }
                Ok(true)
            })?;
        }
        Ok(())
    }
}

impl InvoiceSource for Written {
    fn each(&self, each: &mut dyn FnMut(InvoiceSummary) -> io::Result<()>) -> io::Result<()> {
        for (lines, output) in &self.parts {
            lines.for_each_brief(|brief| each(brief.summary(output)).map(|()| true))?;
        }
        Ok(())
    }
}

impl Record for Line {
    fn put(&self, out: &mut Vec<u8>) {
        let b = &self.brief;
        spool::put_str(out, &b.number);
        spool::put_str(out, &b.order_no);
        spool::put_str(out, &b.currency);
        spool::put_decimal(out, b.payable);
        spool::put_decimal(out, b.rate);
        put_option(out, b.rate_date, spool::put_date);
        put_option(out, b.exchange_rate, spool::put_decimal);
        let Some(d) = &self.document else {
            spool::put_u8(out, 0);
            return;
        };
        spool::put_u8(out, 1);
        spool::put_str(out, &d.number);
        spool::put_u8(out, kind_code(d.kind));
        spool::put_str(out, &d.type_code);
        spool::put_str(out, &d.order_no);
        put_option(out, d.original.as_deref(), spool::put_str);
        spool::put_str(out, &d.seller);
        spool::put_str(out, &d.currency);
        spool::put_decimal(out, d.total);
        spool::put_decimal(out, d.total_cny);
        spool::put_decimal(out, d.total_myr);
        spool::put_decimal(out, d.rate);
        spool::put_str(out, &d.digest);
        spool::put_time(out, d.issued_at);
        spool::put_str(out, &d.output);
        spool::put_u8(out, state_code(d.state));
        put_option(out, d.uuid.as_deref(), spool::put_str);
    }
}

impl Decode for Line {
    fn take(input: &mut Input<'_>) -> io::Result<Line> {
        Ok(Line {
            brief: take_brief(input)?,
            document: take_document(input)?,
        })
    }
}

/// A line's report line alone (the rest of the record is not read).
pub struct BriefOnly(pub Brief);

impl Decode for BriefOnly {
    fn take(input: &mut Input<'_>) -> io::Result<BriefOnly> {
        take_brief(input).map(BriefOnly)
    }
}

/// A line's register record alone.
pub struct DocumentOnly(pub Option<Document>);

impl Decode for DocumentOnly {
    fn take(input: &mut Input<'_>) -> io::Result<DocumentOnly> {
        // The brief: three texts, two amounts, an optional date and amount.
        for _ in 0..3 {
            input.skip_str()?;
        }
        input.skip(32)?;
        if input.u8()? != 0 {
            input.skip(4)?;
        }
        if input.u8()? != 0 {
            input.skip(16)?;
        }
        take_document(input).map(DocumentOnly)
    }
}

fn take_brief(input: &mut Input<'_>) -> io::Result<Brief> {
    Ok(Brief {
        number: input.str()?,
        order_no: input.str()?,
        currency: input.str()?.into(),
        payable: input.decimal()?,
        rate: input.decimal()?,
        rate_date: take_option(input, Input::date)?,
        exchange_rate: take_option(input, Input::decimal)?,
    })
}

fn take_document(input: &mut Input<'_>) -> io::Result<Option<Document>> {
    Ok(match input.u8()? {
        0 => None,
        _ => Some(Document {
            number: input.str()?,
            kind: kind_of_code(input.u8()?),
            type_code: input.str()?,
            order_no: input.str()?,
            original: take_option(input, Input::str)?,
            seller: input.str()?,
            currency: input.str()?,
            total: input.decimal()?,
            total_cny: input.decimal()?,
            total_myr: input.decimal()?,
            rate: input.decimal()?,
            digest: input.str()?,
            issued_at: input.time()?,
            output: input.str()?,
            state: state_of_code(input.u8()?),
            uuid: take_option(input, Input::str)?,
        }),
    })
}

fn put_option<T>(out: &mut Vec<u8>, value: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        Some(value) => {
            spool::put_u8(out, 1);
            put(out, value);
        }
        None => spool::put_u8(out, 0),
    }
}

fn take_option<'a, 'b, T>(
    input: &'b mut Input<'a>,
    take: impl FnOnce(&'b mut Input<'a>) -> io::Result<T>,
) -> io::Result<Option<T>> {
    match input.u8()? {
        0 => Ok(None),
        _ => take(input).map(Some),
    }
}

fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::Invoice => 0,
        Kind::RefundNote => 1,
        Kind::CreditNote => 2,
    }
}

fn kind_of_code(code: u8) -> Kind {
    match code {
        1 => Kind::RefundNote,
        2 => Kind::CreditNote,
        _ => Kind::Invoice,
    }
}

fn state_code(state: State) -> u8 {
    match state {
        State::Written => 0,
        State::Validated => 1,
        State::Refunded => 2,
    }
}

fn state_of_code(code: u8) -> State {
    match code {
        1 => State::Validated,
        2 => State::Refunded,
        _ => State::Written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn a_line_comes_back_as_written() {
        let issued_at = chrono::NaiveDate::from_ymd_opt(2026, 11, 28)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        let line = |document: bool| Line {
            brief: Brief {
                number: "INV-2420101234567500001".into(),
                order_no: "2420101234567500001".into(),
                currency: "CNY".into(),
                payable: Decimal::new(1234567, 2),
                rate: Decimal::new(6097, 4),
                rate_date: chrono::NaiveDate::from_ymd_opt(2026, 10, 31),
                exchange_rate: Some(Decimal::new(6097, 4)),
            },
            document: document.then(|| Document {
                number: "CN-1".into(),
                kind: Kind::CreditNote,
                type_code: "12".into(),
                order_no: "2420101234567500001".into(),
                original: Some("INV-1".into()),
                seller: "深圳市样本电子".into(),
                currency: "CNY".into(),
                total: Decimal::new(-5, 0),
                total_cny: Decimal::new(-5, 0),
                total_myr: Decimal::new(-305, 2),
                rate: Decimal::new(6097, 4),
                digest: "ab".repeat(32),
                issued_at,
                output: String::new(),
                state: State::Refunded,
                uuid: None,
            }),
        };
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedLines::new(dir.path());
        let mut lines = Lines::new(&shared);
        lines.push(&line(true)).unwrap();
        lines.push(&line(false)).unwrap();
        let mut written = Written::default();
        written.push(lines.finish().unwrap(), "out.xlsx".into());
        let mut back = Vec::new();
        written
            .for_each(|line, output| {
                back.push((line, output.to_string()));
                Ok(())
            })
            .unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0.document, line(true).document);
        assert_eq!(back[1].0.document, None);
        let summary = back[1].0.brief.summary(&back[1].1);
        let expected = line(false).brief.summary("out.xlsx");
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }
}
