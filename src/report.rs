//! Report: findings and counts → a summary table and a findings table, or one
//! JSON object. Renders to strings; the CLI decides where they go.

use comfy_table::{Cell, ColumnConstraint, ContentArrangement, Table, Width, presets};
use serde::Serialize;

use crate::finding::{Counts, Finding};
use crate::rules::Severity;

/// The text report shows this many invoices and leaves the rest to `--json`.
pub const INVOICE_TABLE_ROWS: usize = 20;

/// What a run has to say.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub findings: Vec<Finding>,
    /// Per invoice written: number, order, totals and rate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invoices: Vec<InvoiceSummary>,
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

impl Report {
    /// The findings are ordered once here, errors first, then warnings,
    /// then infos, each in the order found; text and JSON show this order.
    pub fn new(mut summary: Summary, mut findings: Vec<Finding>) -> Report {
        findings.sort_by_key(|f| f.severity);
        let counts = Counts::of(&findings);
        summary.errors = counts.errors;
        summary.warnings = counts.warnings;
        summary.infos = counts.infos;
        Report {
            summary,
            findings,
            invoices: Vec::new(),
        }
    }

    /// 0 when no errors were found, 1 otherwise. (2, "could not run", is an
    /// `Err` before any report exists.)
    pub fn exit_code(&self) -> i32 {
        if self.summary.errors > 0 { 1 } else { 0 }
    }

    pub fn to_json(&self) -> String {
        let mut json =
            serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        json.push('\n');
        json
    }

    /// The summary table, the first invoices, and one diagnostic per
    /// finding. `color` adds ANSI colour; `width` is the terminal's, when
    /// known (tables and diagnostics wrap to it; otherwise nothing is padded).
    pub fn to_text(&self, color: bool, width: Option<usize>) -> String {
        let mut out = String::new();
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
        out.push_str(&summary.to_string());
        out.push('\n');
        if !self.invoices.is_empty() {
            out.push_str(&invoice_table(&self.invoices, color, width));
            if self.invoices.len() > INVOICE_TABLE_ROWS {
                out.push_str(&format!(
                    "… and {} more invoices; --json lists every invoice\n",
                    self.invoices.len() - INVOICE_TABLE_ROWS
                ));
            }
        }
        for finding in &self.findings {
            out.push('\n');
            out.push_str(&diagnostic(finding, color, width));
        }
        out
    }
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
/// MYR total of MYR invoices, the file with a single output).
fn invoice_table(invoices: &[InvoiceSummary], color: bool, width: Option<usize>) -> String {
    type Column<'a> = (String, bool, fn(&InvoiceSummary) -> String);
    let shown = &invoices[..invoices.len().min(INVOICE_TABLE_ROWS)];
    let first = &invoices[0];
    let one_currency = invoices.iter().all(|i| i.currency == first.currency);
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
    if invoices.iter().any(|i| i.rate_date.is_some()) {
        columns.push(("rate date".into(), true, |i| {
            i.rate_date.clone().unwrap_or_else(|| "-".into())
        }));
    }
    if !(one_currency && first.currency == "MYR") {
        columns.push(("total (MYR)".into(), true, |i| {
            i.total_myr.clone().unwrap_or_default()
        }));
    }
    if invoices.iter().any(|i| i.output != first.output) {
        columns.push(("written to".into(), false, |i| i.output.clone()));
    }
    let mut table = new_table(color, width);
    table.set_header(columns.iter().map(|(name, _, _)| name));
    for invoice in shown {
        table.add_row(columns.iter().map(|(_, _, cell)| cell(invoice)));
    }
    // A kept-whole column is at least as wide as its widest value and its
    // header's longest word (the header may wrap between words), plus the
    // padding comfy-table counts in.
    for (column, (name, whole, cell)) in table.column_iter_mut().zip(&columns) {
        if *whole {
            let values = shown.iter().map(|i| display_width(&cell(i)));
            let words = name.split(' ').map(display_width);
            let least = values.chain(words).max().unwrap_or(0) + 2;
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
                u16::try_from(least).unwrap_or(u16::MAX),
            )));
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
