//! Report: findings and counts → a summary table and a findings table, or one
//! JSON object. Renders to strings; the CLI decides where they go.

use comfy_table::{Cell, ColumnConstraint, ContentArrangement, Table, Width, presets};
use serde::Serialize;
use std::collections::HashMap;

use crate::finding::{Finding, Findings};
use crate::rules::Severity;

/// The text report shows this many invoices and leaves the rest to `--json`.
pub const INVOICE_TABLE_ROWS: usize = 20;

/// Diagnostics shown per rule in the text report; the rest are counted
/// (40,000 alike blocks help no reader; `--json` lists every finding).
pub const DIAGNOSTICS_PER_RULE: usize = 20;

/// What a run has to say.
#[derive(Debug, Serialize)]
pub struct Report {
    pub summary: Summary,
    /// Errors, then warnings, then infos, each in the order found.
    #[serde(serialize_with = "all_findings")]
    findings: [Findings; 3],
    /// Per invoice written: number, order, totals and rate.
    #[serde(skip_serializing_if = "InvoiceLines::is_empty")]
    pub invoices: InvoiceLines,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub files: usize,
    pub invoices: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoiced: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
    /// Parts of an earlier output of the same name that `--force` removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<String>>,
    /// Σ TotalPayableAmount in the document currency, as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cny: Option<String>,
    /// Σ of each invoice's payable amount in MYR, rounded to cents per invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_myr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_source: Option<String>,
    /// The register's file; absent with `--no-register`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
    /// Orders the register had already invoiced (or refunded), not written again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_invoiced: Option<usize>,
    /// Refund or credit notes written for orders refunded after invoicing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<usize>,
    /// Orders held in earlier runs and absent from this run's exports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_held: Option<usize>,
    /// `register uuids`: UUIDs recorded by this run, and those recorded before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validated: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_validated: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceSummary {
    pub invoice: String,
    pub order: String,
    pub currency: String,
    pub total: String,
    /// MYR per 1 CNY used for the invoice, and the date it is of (rates by date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_myr: Option<String>,
    pub output: String,
}

/// Where a report's invoice lines come from, in order: memory, or the
/// files a run kept them in.
pub trait InvoiceSource {
    /// Each line, in order, until `each` fails.
    fn each(
        &self,
        each: &mut dyn FnMut(InvoiceSummary) -> std::io::Result<()>,
    ) -> std::io::Result<()>;
}

impl InvoiceSource for Vec<InvoiceSummary> {
    fn each(
        &self,
        each: &mut dyn FnMut(InvoiceSummary) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.iter().try_for_each(|line| each(line.clone()))
    }
}

/// The invoice lines of a report: what the text report shows of them is
/// kept (the first [`INVOICE_TABLE_ROWS`], and what decides its columns);
/// the JSON report reads every line from their source as it is printed.
#[derive(Default)]
pub struct InvoiceLines {
    /// The first lines.
    shown: Vec<InvoiceSummary>,
    len: usize,
    /// Whether every line has the first one's currency, or output.
    one_currency: bool,
    one_output: bool,
    /// Whether any line has a rate's date.
    rate_dates: bool,
    all: Option<Box<dyn InvoiceSource + Send>>,
}

impl std::fmt::Debug for InvoiceLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvoiceLines")
            .field("len", &self.len)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

impl InvoiceLines {
    /// The lines of `source`, read once now for what the text report needs.
    pub fn new(source: impl InvoiceSource + Send + 'static) -> std::io::Result<InvoiceLines> {
        let mut lines = InvoiceLines {
            one_currency: true,
            one_output: true,
            ..InvoiceLines::default()
        };
        let mut first: Option<(String, String)> = None;
        source.each(&mut |line| {
            lines.len += 1;
            lines.rate_dates |= line.rate_date.is_some();
            match &first {
                None => first = Some((line.currency.clone(), line.output.clone())),
                Some((currency, output)) => {
                    lines.one_currency &= line.currency == *currency;
                    lines.one_output &= line.output == *output;
                }
            }
            if lines.shown.len() < INVOICE_TABLE_ROWS {
                lines.shown.push(line);
            }
            Ok(())
        })?;
        lines.all = Some(Box::new(source));
        Ok(lines)
    }

    /// The lines of `source`, with what the text report needs of them
    /// already known: the first lines (`shown`, at most
    /// [`INVOICE_TABLE_ROWS`]), how many there are, and what decides the
    /// table's columns.
    pub fn glanced(
        shown: Vec<InvoiceSummary>,
        len: usize,
        one_currency: bool,
        one_output: bool,
        rate_dates: bool,
        source: impl InvoiceSource + Send + 'static,
    ) -> InvoiceLines {
        InvoiceLines {
            shown,
            len,
            one_currency,
            one_output,
            rate_dates,
            all: Some(Box::new(source)),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Serialize for InvoiceLines {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        let Some(all) = &self.all else {
            return seq.end();
        };
        let mut failed = None;
        let read = all.each(&mut |line| {
            seq.serialize_element(&line).map_err(|e| {
                failed = Some(e);
                std::io::Error::other("the report could not be written")
            })
        });
        if let Some(error) = failed {
            return Err(error);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
    }
}

impl Report {
    /// The findings are ordered once here, errors first, then warnings,
    /// then infos, each in the order found; text and JSON show this order.
    pub fn new(summary: Summary, findings: Vec<Finding>) -> Report {
        let mut sorted = [Vec::new(), Vec::new(), Vec::new()];
        for finding in findings {
            sorted[finding.severity as usize].push(finding);
        }
        Report::sorted(summary, sorted.map(Findings::from))
    }

    /// A report of findings already sorted: errors, warnings, infos (each
    /// list sealed).
    pub fn sorted(mut summary: Summary, findings: [Findings; 3]) -> Report {
        let [errors, warnings, infos] = &findings;
        summary.errors = errors.len();
        summary.warnings = warnings.len();
        summary.infos = infos.len();
        Report {
            summary,
            findings,
            invoices: InvoiceLines::default(),
        }
    }

    /// Each finding, in the report's order, until `each` fails.
    pub fn each_finding(
        &self,
        mut each: impl FnMut(&Finding) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        for list in &self.findings {
            list.for_each(|f| each(&f).map(|()| true))?;
        }
        Ok(())
    }

    /// 0 when no errors were found, 1 otherwise. (2, "could not run", is an
    /// `Err` before any report exists.)
    pub fn exit_code(&self) -> i32 {
        if self.summary.errors > 0 { 1 } else { 0 }
    }

    /// The report as one line of JSON, serialised straight into `out`: no
    /// copy of it is built first, whatever the number of invoices.
    pub fn write_json(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(&mut out, self)?;
        out.write_all(b"\n")
    }

    /// The summary table, the first invoices, and one diagnostic per
    /// finding, written into `out` as they are made. `color` adds ANSI
    /// colour; `width` is the terminal's, when known (tables and diagnostics
    /// wrap to it; otherwise nothing is padded).
    pub fn write_text(
        &self,
        mut out: impl std::io::Write,
        color: bool,
        width: Option<usize>,
    ) -> std::io::Result<()> {
        let mut summary = new_table(color, width);
        summary.set_header(vec!["summary", ""]);
        let s = &self.summary;
        let mut row = |name: &str, value: String| {
            summary.add_row(vec![Cell::new(name), Cell::new(value)]);
        };
        row("files read", s.files.to_string());
        if let Some(orders) = s.orders {
            row("orders read", orders.to_string());
        }
        if let Some(invoiced) = s.invoiced {
            row("orders invoiced", invoiced.to_string());
        }
        if let Some(held) = s.held {
            row("orders held", held.to_string());
        }
        if let Some(skipped) = s.skipped {
            row("orders skipped", skipped.to_string());
        }
        // The register's counts, when there is something to count.
        for (name, count) in [
            ("already invoiced", s.already_invoiced),
            ("still held (earlier)", s.still_held),
            ("notes written", s.notes),
        ] {
            if let Some(count) = count.filter(|c| *c > 0) {
                row(name, count.to_string());
            }
        }
        row(
            if s.outputs.is_some() {
                "invoices written"
            } else {
                "invoices"
            },
            s.invoices.to_string(),
        );
        if let Some(total) = &s.total_cny {
            row("total (CNY)", total.clone());
        }
        if let Some(total) = &s.total_myr {
            row("total (MYR)", total.clone());
        }
        if let Some(source) = &s.rate_source {
            row("exchange rate", source.clone());
        }
        row("errors", s.errors.to_string());
        row("warnings", s.warnings.to_string());
        row("infos", s.infos.to_string());
        if let Some(outputs) = &s.outputs {
            row("written", written(outputs));
        }
        if let Some(validated) = s.validated {
            row("UUIDs recorded", validated.to_string());
        }
        if let Some(already) = s.already_validated {
            row("UUIDs recorded before", already.to_string());
        }
        if let Some(register) = &s.register {
            row("register", register.clone());
        }
        writeln!(out, "{summary}")?;
        if !self.invoices.is_empty() {
            out.write_all(invoice_table(&self.invoices, color, width).as_bytes())?;
            if self.invoices.len() > INVOICE_TABLE_ROWS {
                writeln!(
                    out,
                    "… and {} more invoices; --json lists every invoice",
                    self.invoices.len() - INVOICE_TABLE_ROWS
                )?;
            }
        }
        // The first few of each rule, then what was left out, by rule (in
        // the order each rule first appears).
        // A list is read only until it has nothing more to show: its
        // counts say what is left out.
        let mut shown: HashMap<&str, usize> = HashMap::new();
        let mut rules: Vec<(&str, Severity, usize)> = Vec::new();
        for list in &self.findings {
            let mut to_show: usize = 0;
            for rule in list.rules() {
                let before = shown.get(rule.rule).copied().unwrap_or_default();
                to_show += rule.count.min(DIAGNOSTICS_PER_RULE.saturating_sub(before));
                match rules.iter_mut().find(|(id, ..)| *id == rule.rule) {
                    Some((.., count)) => *count += rule.count,
                    None => rules.push((rule.rule, rule.severity, rule.count)),
                }
            }
            list.for_each(|finding| {
                if to_show == 0 {
                    return Ok(false);
                }
                let count = shown.entry(finding.rule.id).or_default();
                *count += 1;
                if *count <= DIAGNOSTICS_PER_RULE {
                    to_show -= 1;
                    writeln!(out)?;
                    out.write_all(diagnostic(&finding, color, width).as_bytes())?;
                }
                Ok(true)
            })?;
        }
        let left_out: Vec<(&str, Severity, usize)> = rules
            .into_iter()
            .filter(|(.., count)| *count > DIAGNOSTICS_PER_RULE)
            .map(|(id, severity, count)| (id, severity, count - DIAGNOSTICS_PER_RULE))
            .collect();
        if !left_out.is_empty() {
            writeln!(out)?;
            for (id, severity, more) in left_out {
                writeln!(out, "… and {more} more {severity}[{id}]")?;
            }
            writeln!(out, "--json lists every finding")?;
        }
        Ok(())
    }

    /// [`Report::write_text`] into a string.
    pub fn to_text(&self, color: bool, width: Option<usize>) -> String {
        let mut bytes = Vec::new();
        self.write_text(&mut bytes, color, width)
            .expect("writing to memory cannot fail");
        String::from_utf8(bytes).expect("the report is UTF-8")
    }
}

/// The findings, serialised as one list, read from memory or disk as they go.
fn all_findings<S: serde::Serializer>(
    lists: &[Findings; 3],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::{Error, SerializeSeq};
    let mut seq = serializer.serialize_seq(Some(lists.iter().map(Findings::len).sum()))?;
    let mut failed = None;
    for list in lists {
        let read = list.for_each(|f| {
            seq.serialize_element(&*f).map(|()| true).map_err(|e| {
                failed = Some(e);
                std::io::Error::other("the report could not be written")
            })
        });
        if let Some(error) = failed {
            return Err(error);
        }
        read.map_err(S::Error::custom)?;
    }
    seq.end()
}

/// The outputs, or the first and the last of many.
fn written(outputs: &[String]) -> String {
    match outputs {
        [] => "nothing".to_string(),
        [first, .., last] if outputs.len() > 3 => {
            format!("{first}\n…\n{last}\n({} files)", outputs.len())
        }
        _ => outputs.join("\n"),
    }
}

/// The first [`INVOICE_TABLE_ROWS`] invoices. Invoice numbers and amounts
/// never wrap; columns that would say the same on every row go into a header
/// (the currency) or are left out (the rate's date with a single rate, the
/// MYR total of MYR invoices, the file with a single output; the folder of
/// several).
fn invoice_table(invoices: &InvoiceLines, color: bool, width: Option<usize>) -> String {
    type Column<'a> = (String, bool, fn(&InvoiceSummary) -> String);
    let shown = &invoices.shown[..];
    let first = &shown[0];
    let one_currency = invoices.one_currency;
    let mut columns: Vec<Column> = vec![("invoice".into(), true, |i| i.invoice.clone())];
    if one_currency {
        columns.push((format!("total ({})", first.currency), true, |i| {
            i.total.clone()
        }));
    } else {
        columns.push(("total".into(), true, |i| i.total.clone()));
        columns.push(("currency".into(), true, |i| i.currency.clone()));
    }
    columns.push(("rate (MYR per CNY)".into(), true, |i| {
        i.rate.clone().unwrap_or_default()
    }));
    if invoices.rate_dates {
        columns.push(("rate date".into(), true, |i| {
            i.rate_date.clone().unwrap_or_else(|| "-".into())
        }));
    }
    if !(one_currency && first.currency == "MYR") {
        columns.push(("total (MYR)".into(), true, |i| {
            i.total_myr.clone().unwrap_or_default()
        }));
    }
    if !invoices.one_output {
        // The file's name: the folder is the same for all, in the summary.
        columns.push(("written to".into(), false, |i| {
            let path = std::path::Path::new(&i.output);
            let name = path.file_name().unwrap_or(path.as_os_str());
            name.to_string_lossy().into_owned()
        }));
    }
    let mut table = new_table(color, width);
    table.set_header(columns.iter().map(|(name, _, _)| name));
    for invoice in shown {
        table.add_row(columns.iter().map(|(_, _, cell)| cell(invoice)));
    }
    // When the table is too wide, a kept-whole column takes exactly its
    // widest value or its header's longest word (the header wraps between
    // words), plus the padding comfy-table counts in; the file column wraps.
    let natural: usize = columns
        .iter()
        .map(|(name, _, cell)| {
            let values = shown.iter().map(|i| display_width(&cell(i)));
            values.chain([display_width(name)]).max().unwrap_or(0) + 3
        })
        .sum::<usize>()
        + 1;
    if width.is_some_and(|width| natural > width) {
        for (column, (name, whole, cell)) in table.column_iter_mut().zip(&columns) {
            if *whole {
                let values = shown.iter().map(|i| display_width(&cell(i)));
                let words = name.split(' ').map(display_width);
                let least = values.chain(words).max().unwrap_or(0) + 2;
                column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(
                    u16::try_from(least).unwrap_or(u16::MAX),
                )));
            }
        }
    }
    let mut out = table.to_string();
    out.push('\n');
    out
}

/// One finding the way rustc and ruff print them:
///
/// ```text
/// error[order.does-not-reconcile]: order 2420… does not add up: …
///   --> orders.xlsx, sheet Sheet1, row 2, column 实付款(元), invoice 2420…
///   = value: 590.00
///   = hint: Check the order on 1688; …
/// ```
///
/// Long lines wrap between words, so a rule id, a value or an invoice number
/// never breaks.
pub fn diagnostic(finding: &Finding, color: bool, width: Option<usize>) -> String {
    let width = width.unwrap_or(usize::MAX);
    let (on, off) = match (color, finding.severity) {
        (false, _) => ("", ""),
        (true, Severity::Error) => ("\x1b[1;31m", "\x1b[0m"),
        (true, Severity::Warning) => ("\x1b[1;33m", "\x1b[0m"),
        (true, Severity::Info) => ("\x1b[1;34m", "\x1b[0m"),
    };
    let mut out = String::new();
    let head = format!("{}[{}]: ", finding.severity, finding.rule.id);
    let lines = wrap(&finding.message, width, head.chars().count(), 4);
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!(
                "{on}{}[{}]{off}: {line}\n",
                finding.severity, finding.rule.id
            ));
        } else {
            out.push_str(&format!("    {line}\n"));
        }
    }
    let place = place(finding);
    if !place.is_empty() {
        // Each part of the location ("row 12", a file name with spaces)
        // stays on one line: wrap after the commas only.
        let parts: Vec<String> = place.iter().map(|p| p.replace(' ', NBSP)).collect();
        let mut lines = String::new();
        push_wrapped(&mut lines, "  --> ", &parts.join(", "), width);
        out.push_str(&lines.replace(NBSP, " "));
    }
    if let Some(value) = &finding.value {
        push_wrapped(&mut out, "  = value: ", value, width);
    }
    if !finding.hint.is_empty() {
        push_wrapped(&mut out, "  = hint: ", &finding.hint, width);
    }
    out
}

const NBSP: &str = "\u{a0}";

fn push_wrapped(out: &mut String, lead: &str, text: &str, width: usize) {
    let indent = lead.chars().count();
    for (i, line) in wrap(text, width, indent, indent).iter().enumerate() {
        if i == 0 {
            out.push_str(lead);
        } else {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(line);
        out.push('\n');
    }
}

/// Greedy word wrap: the first line has `first` columns taken, the others
/// `rest`. Words are never split; a word longer than the line stands alone.
fn wrap(text: &str, width: usize, first: usize, rest: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut used = if lines.is_empty() { first } else { rest };
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let len = display_width(word);
            if !line.is_empty() && used + 1 + len > width {
                lines.push(std::mem::take(&mut line));
                used = rest;
            }
            if !line.is_empty() {
                line.push(' ');
                used += 1;
            }
            line.push_str(word);
            used += len;
        }
        lines.push(line);
    }
    lines
}

/// Terminal columns of a text: CJK characters take two.
fn display_width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// A table of text fitted to `width` (cells wrap between words), or as wide
/// as its content when `width` is `None`.
pub fn table<'a, const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [&'a str; N]>,
    color: bool,
    width: Option<usize>,
) -> String {
    let mut table = new_table(color, width);
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row.to_vec());
    }
    let mut out = table.to_string();
    out.push('\n');
    out
}

fn new_table(color: bool, width: Option<usize>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = width {
        table.set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// `file`, `sheet Documents`, `row 6`, `column Supplier.TIN`, `invoice
/// INV-1`: the parts of the location the finding has.
fn place(finding: &Finding) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(file) = &finding.file {
        parts.push(file.clone());
    }
    if let Some(sheet) = &finding.sheet {
        parts.push(format!("sheet {sheet}"));
    }
    if let Some(row) = finding.row {
        parts.push(format!("row {row}"));
    }
    if let Some(column) = &finding.column {
        parts.push(format!("column {column}"));
    }
    if let Some(invoice) = &finding.invoice {
        parts.push(format!("invoice {invoice}"));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    fn invoice(n: usize, output: &str, rate_date: Option<&str>) -> InvoiceSummary {
        InvoiceSummary {
            invoice: format!("24201012345675{n:05}"),
            order: format!("24201012345675{n:05}"),
            currency: "CNY".into(),
            total: "12345.67".into(),
            rate: Some("0.6097".into()),
            rate_date: rate_date.map(str::to_string),
            total_myr: Some("7527.12".into()),
            output: output.into(),
        }
    }

    fn report(invoices: Vec<InvoiceSummary>) -> Report {
        let finding = Finding::new(
            &rules::ORDER_HELD,
            "order 2421021234567540007 is 退款中; not invoiced this run",
        )
        .hint("Convert it again once the refund is settled; invoice what was finally paid")
        .file("exports/orders of October 2026.xlsx")
        .sheet("sheet1")
        .row(12)
        .column("订单状态")
        .invoice("2421021234567540007")
        .value("退款中");
        let mut report = Report::new(Summary::default(), vec![finding]);
        report.invoices = InvoiceLines::new(invoices).unwrap();
        report
    }

    fn columns(line: &str) -> usize {
        display_width(line)
    }

    #[test]
    fn at_80_columns_nothing_whole_breaks_and_no_line_is_wider() {
        let invoices = (0..25)
            .map(|n| {
                let output = format!("einvoices-2026-10-{:03}.xlsx", n / 10 + 1);
                invoice(n, &output, Some("2026-10-31"))
            })
            .collect();
        let report = report(invoices);
        let text = report.to_text(false, Some(80));
        for line in text.lines() {
            assert!(columns(line) <= 80, "{line}");
        }
        for n in 0..INVOICE_TABLE_ROWS {
            assert!(text.contains(&format!("24201012345675{n:05}")), "{text}");
        }
        assert!(
            !text.contains("2420101234567500020"),
            "only the first 20 rows"
        );
        assert!(text.contains("… and 5 more invoices; --json lists every invoice"));
        for whole in [
            "warning[order.held]:",
            "invoice 2421021234567540007",
            "exports/orders of October 2026.xlsx,",
            "row 12,",
        ] {
            assert!(text.contains(whole), "{whole} is split:\n{text}");
        }
    }

    #[test]
    fn piped_text_is_not_padded_or_wrapped() {
        let report = report(vec![invoice(1, "out.xlsx", None)]);
        let text = report.to_text(false, None);
        assert!(text.lines().all(|line| !line.ends_with(' ')), "{text}");
        assert!(text.contains(
            "  --> exports/orders of October 2026.xlsx, sheet sheet1, row 12, column 订单状态, invoice 2421021234567540007\n"
        ));
        // One output, one currency, one rate: no file, currency or date columns.
        assert!(
            text.contains(
                "│ invoice             ┆ total (CNY) ┆ rate (MYR per CNY) ┆ total (MYR) │"
            ),
            "{text}"
        );
    }

    #[test]
    fn each_rule_shows_its_first_diagnostics_and_counts_the_rest() {
        let finding = |rule: &'static crate::rules::Rule, n: usize| {
            Finding::new(rule, format!("finding {n}")).invoice(format!("{n:019}"))
        };
        let mut findings: Vec<Finding> = (0..DIAGNOSTICS_PER_RULE + 5)
            .map(|n| finding(&rules::ORDER_HELD, n))
            .collect();
        findings.extend((0..3).map(|n| finding(&rules::CUSTOMS_MISSING, n)));
        let text = Report::new(Summary::default(), findings).to_text(false, None);
        let held = format!("[{}]: ", rules::ORDER_HELD.id);
        let customs = format!("[{}]: ", rules::CUSTOMS_MISSING.id);
        assert_eq!(text.matches(&held).count(), DIAGNOSTICS_PER_RULE);
        assert_eq!(text.matches(&customs).count(), 3);
        assert!(text.contains(&format!("finding {}\n", DIAGNOSTICS_PER_RULE - 1)));
        assert!(!text.contains(&format!("finding {}\n", DIAGNOSTICS_PER_RULE)));
        assert!(
            text.ends_with(&format!(
                "… and 5 more {}[{}]\n--json lists every finding\n",
                rules::ORDER_HELD.severity,
                rules::ORDER_HELD.id
            )),
            "{text}"
        );
        // Under the cap, nothing is said about leaving out.
        let few = Report::new(Summary::default(), vec![finding(&rules::ORDER_HELD, 1)]);
        assert!(
            !few.to_text(false, None)
                .contains("--json lists every finding")
        );
    }

    #[test]
    fn findings_on_disk_are_reported_like_those_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let many = crate::finding::FINDINGS_IN_MEMORY * 2 + 5;
        let mut warnings = Findings::spooled_in(dir.path());
        for n in 0..many {
            let finding = Finding::new(&rules::CUSTOMS_MISSING, format!("finding {n}"));
            warnings.push(finding.invoice(format!("{n:019}"))).unwrap();
        }
        warnings.seal().unwrap();
        let errors = Findings::from(vec![Finding::new(&rules::ORDER_HELD, "held")]);
        let report = Report::sorted(Summary::default(), [errors, warnings, Findings::default()]);
        assert_eq!((report.summary.errors, report.summary.warnings), (1, many));
        let text = report.to_text(false, None);
        let customs = format!("[{}]: ", rules::CUSTOMS_MISSING.id);
        assert_eq!(text.matches(&customs).count(), DIAGNOSTICS_PER_RULE);
        assert!(text.contains(&format!(
            "… and {} more {}[{}]",
            many - DIAGNOSTICS_PER_RULE,
            rules::CUSTOMS_MISSING.severity,
            rules::CUSTOMS_MISSING.id
        )));
        let mut bytes = Vec::new();
        report.write_json(&mut bytes).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let findings = json["findings"].as_array().unwrap();
        assert_eq!(findings.len(), many + 1);
        assert_eq!(findings[0]["message"], "held");
        assert_eq!(findings[many]["message"], format!("finding {}", many - 1));
    }

    #[test]
    fn many_outputs_are_summarised() {
        let outputs: Vec<String> = (1..=400).map(|n| format!("e-{n:03}.xlsx")).collect();
        assert_eq!(written(&outputs), "e-001.xlsx\n…\ne-400.xlsx\n(400 files)");
        assert_eq!(written(&outputs[..2]), "e-001.xlsx\ne-002.xlsx");
        assert_eq!(written(&[]), "nothing");
    }

    #[test]
    fn words_are_never_split() {
        let lines = wrap("a 2421021234567540007 b", 10, 0, 2);
        assert_eq!(lines, ["a", "2421021234567540007", "b"]);
        let lines = wrap("深圳市样本电子 科技", 16, 0, 0);
        assert_eq!(lines, ["深圳市样本电子", "科技"]);
    }

    #[test]
    fn only_the_lines_the_text_shows_are_kept_in_memory() {
        let lines: Vec<InvoiceSummary> = (0..1000)
            .map(|n| {
                let output = format!("e-{:03}.xlsx", n / 100 + 1);
                invoice(n, &output, (n == 999).then_some("2026-10-31"))
            })
            .collect();
        let invoices = InvoiceLines::new(lines).unwrap();
        assert_eq!(invoices.len(), 1000);
        assert_eq!(invoices.shown.len(), INVOICE_TABLE_ROWS);
        // What decides the table's columns was learned from every line.
        assert!(invoices.rate_dates && !invoices.one_output && invoices.one_currency);
        let mut report = report(Vec::new());
        report.invoices = invoices;
        let text = report.to_text(false, None);
        assert!(
            text.contains("rate date") && text.contains("written to"),
            "{text}"
        );
        assert!(text.contains("… and 980 more invoices"));
        // The JSON report lists every line, read from the source.
        let mut bytes = Vec::new();
        report.write_json(&mut bytes).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["invoices"].as_array().unwrap().len(), 1000);
        assert_eq!(json["invoices"][999]["rate_date"], "2026-10-31");
        assert_eq!(json["invoices"][999]["output"], "e-010.xlsx");
    }

    #[test]
    fn json_is_written_whole() {
        let report = report(vec![invoice(1, "out.xlsx", None)]);
        let mut bytes = Vec::new();
        report.write_json(&mut bytes).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["invoices"][0]["invoice"], "2420101234567500001");
        assert_eq!(json["findings"][0]["row"], 12);
        assert!(bytes.ends_with(b"}\n"));
    }
}
