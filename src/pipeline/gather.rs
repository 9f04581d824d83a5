//! A run's findings, gathered in the order the stages made them, most of
//! them on disk ([`Findings`]): what convert holds of them does not grow
//! with the number of orders.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::NaiveDateTime;

use crate::finding::{Finding, Findings};
use crate::rules;

/// The parts' findings in the parts' order, gathered as each part is built
/// (by builders that finish them out of order); a part's findings wait only
/// for those of the parts before it.
pub struct Checked {
    inner: Mutex<InOrder>,
}

struct InOrder {
    next: usize,
    waiting: BTreeMap<usize, Findings>,
    all: Findings,
}

impl Checked {
    pub fn new(dir: &Path) -> Checked {
        Checked {
            inner: Mutex::new(InOrder {
                next: 0,
                waiting: BTreeMap::new(),
                all: Findings::spooled_in(dir),
            }),
        }
    }

    /// The (sealed) findings of part `index`, built.
    pub fn add(&self, index: usize, findings: Findings) -> io::Result<()> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("building the outputs failed"))?;
        inner.waiting.insert(index, findings);
        loop {
            let next = inner.next;
            let Some(part) = inner.waiting.remove(&next) else {
                return Ok(());
            };
            part.for_each(|f| inner.all.push(f.into_owned()).map(|()| true))?;
            inner.next += 1;
        }
    }

    /// Every part's findings, in order.
    pub fn finish(self) -> io::Result<Findings> {
        let inner = self
            .inner
            .into_inner()
            .map_err(|_| io::Error::other("building the outputs failed"))?;
        let InOrder {
            waiting, mut all, ..
        } = inner;
        for part in waiting.into_values() {
            part.for_each(|f| all.push(f.into_owned()).map(|()| true))?;
        }
        all.seal()?;
        Ok(all)
    }
}

/// A pass's findings in the order the stages made them: what was known
/// before reading (`front`), then reading, copies, mapping, the register,
/// rates, and the checks of the built parts, less what mapping already said
/// of the same invoice; the issue time's warnings are one, at the end.
pub struct Gathered {
    pub stages: Vec<Findings>,
    pub checked: Findings,
    /// (rule, invoice) of what the stages before the checks said, of the
    /// rules the checks also report (few), which the checks do not say again.
    said: HashSet<(&'static str, String)>,
    /// The one warning for the run's issue time, instead of one per invoice.
    issue_time: Option<Finding>,
}

fn is_issue_time(f: &Finding) -> bool {
    f.rule == &rules::ISSUANCE_TOO_OLD || f.rule == &rules::ISSUANCE_FUTURE
}

impl Gathered {
    pub fn new(
        stages: Vec<Findings>,
        checked: Findings,
        issued_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> io::Result<Gathered> {
        let mut gathered = Gathered {
            stages,
            checked,
            said: HashSet::new(),
            issue_time: None,
        };
        // What mapping already said of an invoice (a seller without a phone,
        // at the seller's row with the directory's hint), checking its
        // laid-out rows does not say again. Only lists with findings of
        // the rules concerned are read.
        let rules_checked: HashSet<&'static str> =
            gathered.checked.rules().iter().map(|r| r.rule).collect();
        let mut said = HashSet::new();
        for stage in &gathered.stages {
            if !stage.rules().iter().any(|r| rules_checked.contains(r.rule)) {
                continue;
            }
            stage.for_each(|f| {
                if let Some(invoice) = &f.invoice
                    && rules_checked.contains(f.rule.id)
                {
                    said.insert((f.rule.id, invoice.clone()));
                }
                Ok(true)
            })?;
        }
        gathered.said = said;
        let mut count = 0;
        let mut first = None;
        let has_time = |list: &Findings| {
            list.count_of(&rules::ISSUANCE_TOO_OLD) + list.count_of(&rules::ISSUANCE_FUTURE) > 0
        };
        gathered.visit(&has_time, &mut |f| {
            if is_issue_time(&f) {
                count += 1;
                first.get_or_insert_with(|| f.into_owned());
            }
            Ok(())
        })?;
        gathered.issue_time = first.map(|first| issue_time_warning(&first, count, issued_at, now));
        Ok(gathered)
    }

    /// Each finding of the lists `read` chooses, the issue time's per
    /// invoice included.
    fn visit(
        &self,
        read: &dyn Fn(&Findings) -> bool,
        each: &mut dyn FnMut(Cow<'_, Finding>) -> io::Result<()>,
    ) -> io::Result<()> {
        for stage in self.stages.iter().filter(|list| read(list)) {
            stage.for_each(|f| each(f).map(|()| true))?;
        }
        if !read(&self.checked) {
            return Ok(());
        }
        self.checked.for_each(|f| {
            let again = f
                .invoice
                .as_ref()
                .is_some_and(|invoice| self.said.contains(&(f.rule.id, invoice.clone())));
            if !again {
                each(f)?;
            }
            Ok(true)
        })
    }

    /// Each error, in order (only lists with errors are read).
    pub fn each_error(
        &self,
        each: &mut dyn FnMut(Cow<'_, Finding>) -> io::Result<()>,
    ) -> io::Result<()> {
        self.visit(&|list| list.errors() > 0, &mut |f| {
            if f.is_error() { each(f) } else { Ok(()) }
        })
    }

    /// Each finding, in order.
    pub fn each(&self, each: &mut dyn FnMut(Cow<'_, Finding>) -> io::Result<()>) -> io::Result<()> {
        self.visit(&|_| true, &mut |f| {
            if is_issue_time(&f) { Ok(()) } else { each(f) }
        })?;
        match &self.issue_time {
            Some(warning) => each(Cow::Borrowed(warning)),
            None => Ok(()),
        }
    }
}

/// Every invoice of a run has the same IssuanceDateTime: when LHDN would
/// refuse it (more than 72 hours old, or in the future), one warning for the
/// run says so, instead of one per invoice.
fn issue_time_warning(
    first: &Finding,
    count: usize,
    issued_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Finding {
    let stamp = issued_at.format("%Y-%m-%dT%H:%M:%SZ");
    let message = if first.rule == &rules::ISSUANCE_TOO_OLD {
        let hours = (now - issued_at).num_hours();
        format!(
            "--issued-at {stamp} is {hours} hours before now: LHDN will reject the {count} \
             invoice{} on upload, as it accepts documents issued at most 72 hours before",
            if count == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "--issued-at {stamp} is in the future (now {}): LHDN will reject the {count} \
             invoice{} on upload",
            now.format("%Y-%m-%dT%H:%M:%SZ"),
            if count == 1 { "" } else { "s" }
        )
    };
    Finding::new(first.rule, message)
        .hint("Fine for reproducing a file; to upload, convert again without --issued-at just before uploading")
        .column("IssuanceDateTime")
        .value(stamp.to_string())
}

/// The report's findings as they are gathered: errors, warnings and infos
/// each in the order found, most on disk.
pub struct Sorted {
    by_severity: [Findings; 3],
    /// Parts renamed (an earlier one lost all its invoices to
    /// `--skip-invalid`): their findings name the workbook as written.
    renamed: Vec<(String, String)>,
}

impl Sorted {
    pub fn new(dir: &Path, renamed: Vec<(String, String)>) -> Sorted {
        let dir: PathBuf = dir.to_path_buf();
        Sorted {
            by_severity: [(); 3].map(|()| Findings::spooled_in(&dir)),
            renamed,
        }
    }

    pub fn push(&mut self, mut finding: Finding) -> io::Result<()> {
        if let Some(file) = &finding.file
            && let Some((_, name)) = self.renamed.iter().find(|(old, _)| old == file)
        {
            finding.file = Some(name.clone());
        }
        self.by_severity[finding.severity as usize].push(finding)
    }

    /// The findings, sealed: errors, warnings, infos.
    pub fn finish(mut self) -> io::Result<[Findings; 3]> {
        for list in &mut self.by_severity {
            list.seal()?;
        }
        Ok(self.by_severity)
    }
}
