//! Report: findings and counts → a summary table and a findings table, or one
//! JSON object. Renders to strings; the CLI decides where they go.

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::finding::{Counts, Finding, Severity};

/// Past this many invoices the text report leaves the per-invoice table to `--json`.
const INVOICE_TABLE_LIMIT: usize = 500;

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
    /// Σ TotalPayableAmount in the document currency, as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cny: Option<String>,
    /// Σ of each invoice's payable amount in MYR, rounded to cents per invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_myr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_source: Option<String>,
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
    pub fn new(mut summary: Summary, findings: Vec<Finding>) -> Report {
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

    /// The summary and findings tables. `color` adds ANSI colour.
    pub fn to_tables(&self, color: bool) -> String {
        let mut out = String::new();
        let mut summary = new_table(color);
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
            row(
                "written",
                if outputs.is_empty() {
                    "nothing".to_string()
                } else {
                    outputs.join("\n")
                },
            );
        }
        out.push_str(&summary.to_string());
        out.push('\n');
        if !self.invoices.is_empty() && self.invoices.len() <= INVOICE_TABLE_LIMIT {
            let mut table = new_table(color);
            table.set_header(vec![
                "invoice",
                "total",
                "currency",
                "rate (MYR per CNY)",
                "rate date",
                "total (MYR)",
                "written to",
            ]);
            for invoice in &self.invoices {
                table.add_row(vec![
                    invoice.invoice.clone(),
                    invoice.total.clone(),
                    invoice.currency.clone(),
                    invoice.rate.clone().unwrap_or_default(),
                    invoice.rate_date.clone().unwrap_or_else(|| "-".into()),
                    invoice.total_myr.clone().unwrap_or_default(),
                    invoice.output.clone(),
                ]);
            }
            out.push_str(&table.to_string());
            out.push('\n');
        }
        if !self.findings.is_empty() {
            let mut table = new_table(color);
            table.set_header(vec!["severity", "rule", "where", "message", "hint"]);
            // Errors first, then warnings, then infos; the file's order within each.
            let mut findings: Vec<&Finding> = self.findings.iter().collect();
            findings.sort_by_key(|f| f.severity);
            for finding in findings {
                let severity = Cell::new(finding.severity.to_string());
                let severity = if color {
                    match finding.severity {
                        Severity::Error => severity.fg(Color::Red).add_attribute(Attribute::Bold),
                        Severity::Warning => severity.fg(Color::Yellow),
                        Severity::Info => severity.fg(Color::Blue),
                    }
                } else {
                    severity
                };
                table.add_row(vec![
                    severity,
                    Cell::new(finding.rule),
                    Cell::new(place(finding)),
                    Cell::new(short_message(finding)),
                    Cell::new(&finding.hint),
                ]);
            }
            out.push_str(&table.to_string());
            out.push('\n');
        }
        out
    }
}

fn new_table(color: bool) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// The message without its leading location, which the "where" column shows.
fn short_message(finding: &Finding) -> &str {
    let located = |prefix: &str| {
        finding
            .file
            .as_deref()
            .is_some_and(|f| prefix.starts_with(f))
            || finding
                .sheet
                .as_deref()
                .is_some_and(|s| prefix.starts_with(s))
    };
    match finding.message.split_once(": ") {
        Some((prefix, rest)) if located(prefix) => rest,
        _ => &finding.message,
    }
}

/// `file · sheet · row 6 · Supplier.TIN`, from what the finding has.
fn place(finding: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(file) = &finding.file {
        parts.push(file.clone());
    }
    if let Some(sheet) = &finding.sheet {
        parts.push(sheet.clone());
    }
    if let Some(row) = finding.row {
        parts.push(format!("row {row}"));
    }
    if let Some(column) = &finding.column {
        parts.push(column.clone());
    }
    if let Some(invoice) = &finding.invoice {
        parts.push(format!("invoice {invoice}"));
    }
    parts.join("\n")
}
