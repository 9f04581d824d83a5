//! Findings: what the pipeline has to say about an input, with where it is.

use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::model::Location;
use crate::rules::{Rule, Severity};
use crate::spool::{self, Decode, Input, Record, Spool, Spooled};

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

/// Findings kept in memory by a list; the rest wait on disk. A run with a
/// finding for each of a million orders then holds a few thousand.
pub const FINDINGS_IN_MEMORY: usize = 2000;

/// Findings in the order they were made: the first [`FINDINGS_IN_MEMORY`]
/// in memory, those after on disk ([`crate::spool`]), once they are many.
#[derive(Debug, Default)]
pub struct Findings {
    kept: Vec<Finding>,
    /// Each rule's findings, by count, in the order each rule first came.
    rules: Vec<RuleCount>,
    errors: usize,
    /// Where the spool is made; `None` keeps every finding in memory.
    dir: Option<PathBuf>,
    spool: Option<Spool<Finding>>,
    spooled: Spooled<Finding>,
}

/// How many findings of a rule a list holds, and the first one's severity.
#[derive(Debug, Clone, Copy)]
pub struct RuleCount {
    pub rule: &'static str,
    pub severity: Severity,
    pub count: usize,
}

impl From<Vec<Finding>> for Findings {
    /// Findings all in memory.
    fn from(kept: Vec<Finding>) -> Self {
        let mut findings = Findings::default();
        for finding in &kept {
            findings.count(finding);
        }
        findings.kept = kept;
        findings
    }
}

impl Findings {
    /// An empty list that spools what it cannot keep in `dir`.
    pub fn spooled_in(dir: &Path) -> Findings {
        Findings {
            dir: Some(dir.to_path_buf()),
            ..Findings::default()
        }
    }

    pub fn len(&self) -> usize {
        self.kept.len() + self.spooled.len() + self.spool.as_ref().map_or(0, Spool::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Findings in memory.
    pub fn in_memory(&self) -> usize {
        self.kept.len()
    }

    /// Each rule's findings, by count, in the order each rule first came.
    pub fn rules(&self) -> &[RuleCount] {
        &self.rules
    }

    /// How many findings of `rule` the list holds.
    pub fn count_of(&self, rule: &Rule) -> usize {
        self.rules
            .iter()
            .find(|r| r.rule == rule.id)
            .map_or(0, |r| r.count)
    }

    pub fn errors(&self) -> usize {
        self.errors
    }

    fn count(&mut self, finding: &Finding) {
        let id = finding.rule.id;
        self.errors += usize::from(finding.is_error());
        // Findings of one rule mostly come together: the last rule first.
        match self.rules.iter_mut().rev().find(|r| r.rule == id) {
            Some(rule) => rule.count += 1,
            None => self.rules.push(RuleCount {
                rule: id,
                severity: finding.severity,
                count: 1,
            }),
        }
    }

    pub fn push(&mut self, finding: Finding) -> io::Result<()> {
        self.count(&finding);
        match &self.dir {
            Some(dir) if self.kept.len() >= FINDINGS_IN_MEMORY => {
                if !self.spooled.is_empty() {
                    return Err(io::Error::other("findings added after they were read"));
                }
                self.spool
                    .get_or_insert_with(|| Spool::new(dir))
                    .push(&finding)
            }
            _ => {
                self.kept.push(finding);
                Ok(())
            }
        }
    }

    pub fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) -> io::Result<()> {
        findings.into_iter().try_for_each(|f| self.push(f))
    }

    /// No more findings: the list is ready to be read.
    pub fn seal(&mut self) -> io::Result<()> {
        if let Some(spool) = self.spool.take() {
            self.spooled = spool.finish()?;
        }
        Ok(())
    }

    /// Each finding, in order (borrowed when in memory, read back when on
    /// disk), until `each` says to stop (false); the list must be sealed.
    pub fn for_each(
        &self,
        mut each: impl FnMut(Cow<'_, Finding>) -> io::Result<bool>,
    ) -> io::Result<()> {
        if self.spool.is_some() {
            return Err(io::Error::other("findings read before they were all made"));
        }
        for finding in &self.kept {
            if !each(Cow::Borrowed(finding))? {
                return Ok(());
            }
        }
        self.spooled.for_each(|finding| each(Cow::Owned(finding)))
    }
}

/// A rule's place in [`crate::rules::ALL`], by its id: how a spooled
/// finding names its rule.
fn rule_index(id: &str) -> Option<u32> {
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, u32>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| {
            crate::rules::ALL
                .iter()
                .enumerate()
                .map(|(i, rule)| (rule.id, i as u32))
                .collect()
        })
        .get(id)
        .copied()
}

impl Record for Finding {
    fn put(&self, out: &mut Vec<u8>) {
        // Every rule is in the catalogue (a test holds it to docs/rules.md).
        spool::put_u32(out, rule_index(self.rule.id).unwrap_or(u32::MAX));
        spool::put_u8(out, self.severity as u8);
        spool::put_str(out, &self.message);
        if self.hint == self.rule.hint {
            spool::put_u8(out, 0);
        } else {
            spool::put_u8(out, 1);
            spool::put_str(out, &self.hint);
        }
        for text in [
            &self.file,
            &self.sheet,
            &self.column,
            &self.invoice,
            &self.value,
        ] {
            match text {
                Some(text) => {
                    spool::put_u8(out, 1);
                    spool::put_str(out, text);
                }
                None => spool::put_u8(out, 0),
            }
        }
        match self.row {
            Some(row) => {
                spool::put_u8(out, 1);
                spool::put_u32(out, row);
            }
            None => spool::put_u8(out, 0),
        }
    }
}

impl Decode for Finding {
    fn take(input: &mut Input<'_>) -> io::Result<Self> {
        let rule = crate::rules::ALL
            .get(input.u32()? as usize)
            .copied()
            .ok_or_else(|| io::Error::other("a finding of a rule not in the catalogue"))?;
        let severity = match input.u8()? {
            0 => Severity::Error,
            1 => Severity::Warning,
            _ => Severity::Info,
        };
        let message = input.str()?;
        let hint = match input.u8()? {
            0 => Cow::Borrowed(rule.hint),
            _ => Cow::Owned(input.str()?),
        };
        let mut text = || -> io::Result<Option<String>> {
            match input.u8()? {
                0 => Ok(None),
                _ => input.str().map(Some),
            }
        };
        let (file, sheet, column, invoice, value) = (text()?, text()?, text()?, text()?, text()?);
        let row = match input.u8()? {
            0 => None,
            _ => Some(input.u32()?),
        };
        Ok(Finding {
            severity,
            rule,
            message,
            hint,
            file,
            sheet,
            row,
            column,
            invoice,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    #[test]
    fn a_long_list_keeps_few_findings_in_memory_and_gives_all_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut findings = Findings::spooled_in(dir.path());
        let made: Vec<Finding> = (0..FINDINGS_IN_MEMORY * 3)
            .map(|n| {
                let finding = Finding::new(&rules::CUSTOMS_MISSING, format!("order {n:019}"))
                    .invoice(format!("{n:019}"))
                    .file("exports/订单 2026-10.xlsx")
                    .row(n as u32 + 2);
                match n % 3 {
                    0 => finding,
                    1 => finding.hint("a hint of its own").column("订单编号"),
                    _ => finding.sheet("Sheet1").value(""),
                }
            })
            .collect();
        findings.extend(made.iter().cloned()).unwrap();
        assert_eq!(findings.len(), made.len());
        assert_eq!(findings.in_memory(), FINDINGS_IN_MEMORY);
        // Read only once all are made.
        assert!(findings.for_each(|_| Ok(true)).is_err());
        findings.seal().unwrap();
        let mut back = Vec::new();
        findings
            .for_each(|f| {
                back.push(f.into_owned());
                Ok(true)
            })
            .unwrap();
        assert_eq!(back, made);
        assert!(matches!(back[0].hint, Cow::Borrowed(_)));
        // Without a folder, every finding stays in memory.
        let all = Findings::from(made);
        assert_eq!(all.in_memory(), all.len());
    }
}
