//! Findings: what the pipeline has to say about an input, with where it is.

use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashSet;

use crate::model::Location;
use crate::rules::{Rule, Severity};

/// One finding: a rule, a message that quotes the value, a hint, and where.
/// `row` is the spreadsheet row as Excel shows it (1-based, or the line a
/// text editor shows for CSV); `column` is the header text. The location is
/// only ever in these fields, never in the message. Fields that do not apply
/// stay `None` and are left out of the JSON report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    #[serde(serialize_with = "rule_id")]
    pub rule: &'static Rule,
    pub message: String,
    /// The rule's own hint unless a finding has a more specific one (kept
    /// borrowed: a run can have a finding per invoice).
    pub hint: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

fn rule_id<S: serde::Serializer>(rule: &&'static Rule, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(rule.id)
}

impl Finding {
    /// A finding of `rule`, with the rule's severity and default hint.
    pub fn new(rule: &'static Rule, message: impl Into<String>) -> Self {
        Finding {
            severity: rule.severity,
            rule,
            message: message.into(),
            hint: Cow::Borrowed(rule.hint),
            file: None,
            sheet: None,
            row: None,
            column: None,
            invoice: None,
            value: None,
        }
    }

    /// A hint more specific than the rule's own.
    pub fn hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = hint.into();
        self
    }

    pub fn at(mut self, location: &Location) -> Self {
        self.file = Some(location.file.clone());
        self.sheet = location.sheet.clone();
        self.row = location.row;
        self
    }

    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn sheet(mut self, sheet: impl Into<String>) -> Self {
        self.sheet = Some(sheet.into());
        self
    }

    pub fn row(mut self, row: u32) -> Self {
        self.row = Some(row);
        self
    }

    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    pub fn invoice(mut self, invoice: impl Into<String>) -> Self {
        self.invoice = Some(invoice.into());
        self
    }

    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Counts {
    pub fn of(findings: &[Finding]) -> Self {
        let mut counts = Counts::default();
        for finding in findings {
            match finding.severity {
                Severity::Error => counts.errors += 1,
                Severity::Warning => counts.warnings += 1,
                Severity::Info => counts.infos += 1,
            }
        }
        counts
    }
}

/// The invoices errors were found for, as their findings name them: by
/// invoice number or by order number.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InvoicesInError(HashSet<String>);

impl InvoicesInError {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut in_error = InvoicesInError::default();
        in_error.add(findings);
        in_error
    }

    /// Adds the invoices that `findings`' errors name.
    pub fn add<'a>(&mut self, findings: impl IntoIterator<Item = &'a Finding>) {
        self.0.extend(
            findings
                .into_iter()
                .filter(|f| f.is_error())
                .filter_map(|f| f.invoice.clone()),
        );
    }

    /// Marks an invoice as in error by its number.
    pub fn insert(&mut self, number: &str) {
        self.0.insert(number.to_string());
    }

    /// Whether the invoice numbered `number`, for order `order_no`, is in error.
    pub fn names(&self, number: &str, order_no: &str) -> bool {
        self.0.contains(number) || self.0.contains(order_no)
    }

    pub fn contains(&self, number: &str) -> bool {
        self.0.contains(number)
    }
}
