//! The two pipelines, stage by stage:
//! convert: read export → map → check → write → report;
//! check: read workbook → check → report.

mod gather;
mod parts;
mod pass;
mod written;

use anyhow::{Result, bail};
use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::collections::HashSet;
use std::path::PathBuf;

use crate::check;
use crate::config::{Config, SupplierDirectory};
use crate::finding::{Finding, Findings, InvoicesInError};
use crate::map::{MapContext, RateSource};
use crate::rates::RateTable;
use crate::read::customs::Customs;
use crate::read::text::TextEncoding;
use crate::read::workbook;
use crate::register::reconcile;
use crate::register::{self, Register};
use crate::report::{Report, Summary};
use crate::rules;
use crate::write;
use crate::write::template::TemplatePackage;
use crate::write::{OutputSet, SetKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Xlsx,
    Csv,
}

/// Everything `convert` needs, resolved.
pub struct ConvertOptions {
    pub exports: Vec<PathBuf>,
    pub output: PathBuf,
    pub format: OutputFormat,
    pub config: Config,
    pub suppliers: SupplierDirectory,
    /// MYR per 1 CNY for every order (`--rate`, `[invoice] rate`)…
    pub rate: Option<Decimal>,
    /// …or by each order's payment date (`--rates`), which wins.
    pub rate_table: Option<RateTable>,
    pub rate_source: Option<String>,
    pub issued_at: NaiveDateTime,
    /// The moment the rules judge IssuanceDateTime against.
    pub now: NaiveDateTime,
    /// `--customs FILE`, read.
    pub customs: Option<Customs>,
    /// `--svdp`: write invoices past their deadline as SVDP 1.2.
    pub svdp: bool,
    pub max_per_file: usize,
    /// LHDN's template to fill (`--template`, `[output] template`); the
    /// embedded public copy when `None`.
    pub template: Option<PathBuf>,
    /// CSV exports' encoding, when not detected.
    pub encoding: Option<TextEncoding>,
    pub skip_invalid: bool,
    pub force: bool,
    /// The register (`--register`, `[register] path`, `selfbill.db`
    /// beside the config); `None` with `--no-register`.
    pub register: Option<PathBuf>,
    /// `--reissue`: orders whose `written` invoice is written again.
    pub reissue: Vec<String>,
    /// Every other file the run reads (config, supplier directory, rates,
    /// customs, template): like the exports, never written.
    pub inputs: Vec<PathBuf>,
}

pub fn convert(options: ConvertOptions) -> Result<Report> {
    if options.max_per_file == 0 {
        bail!("--max-per-file must be at least 1");
    }
    refuse_implausible_issue_time(options.issued_at, options.now)?;
    let rates = match (&options.rate_table, options.rate) {
        (Some(table), _) if !table.has_currency("CNY") => bail!(
            "{}: no CNY rates in the rates file{}; fetch them with `selfbill rates fetch --month YYYY-MM --currency CNY`",
            table.sources.join(", "),
            if table.sources.len() > 1 { "s" } else { "" }
        ),
        (Some(table), _) => RateSource::ByDate(table),
        (None, Some(rate)) => RateSource::Fixed(rate),
        (None, None) => bail!(
            "no exchange rate: pass --rate R (MYR per 1 CNY, e.g. --rate 0.6097) or set rate under \
             [invoice] in selfbill.toml"
        ),
    };
    // The output set, before any work: an existing set (without --force),
    // an input, a dangling link stop the run here.
    let inputs: Vec<PathBuf> = options
        .exports
        .iter()
        .chain(&options.inputs)
        .chain(&options.register)
        .cloned()
        .collect();
    let mut set = OutputSet::open(
        &options.output,
        match options.format {
            OutputFormat::Xlsx => SetKind::Workbooks,
            OutputFormat::Csv => SetKind::CsvFolder,
        },
        &inputs,
        options.force,
    )?;

    // The template, read once: a template selfbill cannot fill stops the run here.
    let template = match (options.format, &options.template) {
        (OutputFormat::Csv, _) => None,
        (OutputFormat::Xlsx, Some(path)) => Some(TemplatePackage::from_file(path)?),
        (OutputFormat::Xlsx, None) => Some(TemplatePackage::embedded()?),
    };

    if options.svdp {
        // Only a template the user gave can offer SVDP 1.2; the embedded copy does not.
        let given = template
            .as_ref()
            .filter(|_| options.template.is_some())
            .map(|t| (t.source.as_str(), t.bytes()));
        crate::imports::check_svdp(
            options.issued_at,
            options.format == OutputFormat::Xlsx,
            given,
        )?;
    }

    // What is known before any order is read.
    let mut front = template
        .as_ref()
        .map(|t| t.notes.clone())
        .unwrap_or_default();
    if let RateSource::Fixed(rate) = rates {
        front.extend(implausible_rate(rate, None, options.rate_source.as_deref()));
    }
    front.extend(set.recovered().iter().map(|note| {
        Finding::new(&rules::OUTPUT_INTERRUPTED_RUN, note.clone())
            .file(options.output.display().to_string())
    }));

    // The register: what earlier runs wrote and held. Its lock is held from
    // here until this run is recorded (or fails), so a second run waits.
    let mut register = match &options.register {
        Some(path) => {
            let mut register = Register::open(path, true, register::DEFAULT_WAIT)?;
            register.lock()?;
            Some(register)
        }
        None if !options.reissue.is_empty() => {
            bail!("--reissue needs the register; leave out --no-register")
        }
        None => None,
    };

    // Read → map → check → build, all at once (see `pass`). A pass that
    // learns late of differing copies of an order, or (with --skip-invalid)
    // of an error in an invoice already built, is run again knowing it.
    let cx = pass::Context {
        options: &options,
        map: MapContext {
            config: &options.config,
            suppliers: &options.suppliers,
            rates,
            issued_at: options.issued_at,
            customs: options.customs.as_ref(),
            svdp: options.svdp,
        },
        set: &set,
        template: template.as_ref(),
        register: register.as_ref(),
        settings: reconcile::Settings {
            config: &options.config,
            suppliers: &options.suppliers,
            issued_at: options.issued_at,
            reissue: &options.reissue,
        },
    };
    let mut known = pass::Known::default();
    let mut passes = 0;
    let (mut outcome, gathered, has_errors) = loop {
        passes += 1;
        let mut outcome = pass::run(&cx, &known)?;
        let gathered = gather(front.clone(), &mut outcome, &options)?;
        let mut bad = InvoicesInError::default();
        let mut has_errors = false;
        gathered
            .each_error(&mut |f| {
                has_errors = true;
                bad.add([&*f]);
                Ok(())
            })
            .map_err(|e| written::spool_error(&e))?;
        let stale = options.skip_invalid && names_any(&outcome.rendered, &bad)?;
        if outcome.late_conflicts.is_empty() && !stale {
            break (outcome, gathered, has_errors);
        }
        let conflicted: HashSet<String> = known
            .conflicted
            .iter()
            .cloned()
            .chain(outcome.late_conflicts.drain())
            .collect();
        let next = pass::Known { conflicted, bad };
        // What one reading teaches the next never changes (nothing more to
        // learn), or keeps changing: the exports do not read the same twice.
        let settled = next.conflicted == known.conflicted && next.bad == known.bad;
        if settled || passes == MAX_PASSES {
            bail!(
                "convert could not settle what to write after reading the exports {passes} \
                 times (did they change while it ran?); convert again, or without \
                 --skip-invalid to see every error"
            );
        }
        known = next;
    };
    let mut triage = std::mem::take(&mut outcome.triage);
    let completes = !has_errors || options.skip_invalid;
    // The parts that keep invoices, and their final names.
    let mut rendered: Vec<parts::Rendered> = std::mem::take(&mut outcome.rendered)
        .into_iter()
        .filter(|part| !part.written.is_empty())
        .collect();
    let names = match options.format {
        OutputFormat::Xlsx => write::split_names(&options.output, rendered.len()),
        OutputFormat::Csv => vec![options.output.clone(); rendered.len()],
    };
    let write_anything = completes && !rendered.is_empty();
    // What is written of each invoice stays on disk: read back for the
    // register, and for the report as it is printed.
    let mut written = written::Written::default();
    if write_anything {
        for (part, name) in rendered.iter_mut().zip(&names) {
            written.push(
                std::mem::take(&mut part.written),
                name.display().to_string(),
            );
        }
    }
    // Of the orders written, those an earlier run held (whose holds this
    // run settles), and the invoices written again under their number.
    let mut invoiced_holds: HashSet<String> = HashSet::new();
    let mut reissued: Vec<register::Document> = Vec::new();
    if register.is_some() && (triage.holds_before() || !options.reissue.is_empty()) {
        written.for_each(|line, output| {
            if triage.is_held_before(&line.brief.order_no) {
                invoiced_holds.insert(line.brief.order_no.clone());
            }
            if let Some(mut document) = line.document
                && triage.is_reissue(&document)
            {
                document.output = output.to_string();
                reissued.push(document);
            }
            Ok(())
        })?;
    }
    triage.follow_up_holds_of(&invoiced_holds.iter().map(String::as_str).collect());
    // A part renamed (an earlier one lost all its invoices to
    // --skip-invalid): its findings name the workbook as written.
    let renamed = rendered
        .iter()
        .zip(&names)
        .map(|(part, name)| (part.provisional.clone(), name.display().to_string()))
        .filter(|(provisional, name)| provisional != name)
        .collect();
    // The parts, under their final names, in the output set.
    let mut outputs = Vec::new();
    if write_anything {
        for (part, name) in rendered.iter_mut().zip(&names) {
            for (path, built) in std::mem::take(&mut part.files) {
                let target = match options.format {
                    OutputFormat::Xlsx => name.clone(),
                    OutputFormat::Csv => name.join(path),
                };
                outputs.push(target.display().to_string());
                match built {
                    parts::Built::Bytes(bytes) => set.add_bytes(target, &bytes)?,
                    parts::Built::Temp(temp) => set.add(temp, target)?,
                }
            }
        }
    }
    let run = (register.is_some() && completes).then(|| {
        triage.record_documents(
            reissued,
            &invoiced_holds.iter().map(String::as_str).collect(),
            options.issued_at,
            options
                .exports
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            outputs,
        )
    });
    let triage_findings = std::mem::take(&mut triage.findings);

    let distinct = outcome.distinct;
    let unreadable = outcome.orders_seen - outcome.orders_read;
    let mut summary = Summary {
        files: options.exports.len(),
        orders: Some(distinct + unreadable),
        invoiced: Some(outcome.invoiced),
        held: Some(outcome.held + triage.held),
        skipped: Some(outcome.skipped),
        outputs: Some(Vec::new()),
        rate_source: options.rate_source.clone(),
        register: register.as_ref().map(|r| r.path().display().to_string()),
        already_invoiced: register.as_ref().map(|_| triage.already_invoiced),
        notes: register.as_ref().map(|_| outcome.notes),
        still_held: register.as_ref().map(|_| triage.still_held),
        ..Summary::default()
    };
    let mut findings = gather::Sorted::new(written::spool_dir(&options.output), renamed);
    let staging = register.as_mut().zip(run.as_ref());
    let staged = staging.is_some();
    // The register takes the run's rows while the findings are sorted and
    // the outputs moved into place; it commits only once they are.
    let (in_place, recorded) = beside_staging(staging, &written, &triage, || {
        gathered
            .each(&mut |f| findings.push(f.into_owned()))
            .map_err(|e| written::spool_error(&e))?;
        drop(gathered);
        for finding in triage_findings {
            findings
                .push(finding)
                .map_err(|e| written::spool_error(&e))?;
        }
        let made = outcome.invoiced + outcome.notes;
        if made == 0 && !has_errors {
            let nothing = Finding::new(
                &rules::CONVERT_NOTHING_TO_WRITE,
                if outcome.orders_seen == 0 {
                    "no orders in the export".to_string()
                } else {
                    "no orders to invoice".to_string()
                },
            )
            .hint("Nothing is written when there is nothing to invoice");
            findings
                .push(nothing)
                .map_err(|e| written::spool_error(&e))?;
        }
        if write_anything {
            register::pause_for_tests("outputs");
            let committed = set.commit()?;
            let shown = |paths: &[PathBuf]| paths.iter().map(|p| p.display().to_string()).collect();
            summary.outputs = Some(shown(&committed.written));
            summary.removed = Some(shown(&committed.removed));
        }
        Ok(())
    });
    drop(rendered);
    if let Err(error) = in_place {
        if let Some(register) = &mut register {
            register.abandon_run();
        }
        return Err(error);
    }
    recorded?;
    if staged && let Some(register) = &mut register {
        register.commit_run()?;
    }
    summary.total_cny = Some(format!("{:.2}", outcome.total_cny));
    summary.total_myr = Some(format!("{:.2}", outcome.total_myr));
    let invoices = written
        .into_report()
        .map_err(|e| written::spool_error(&e))?;
    summary.invoices = invoices.len();
    let findings = findings.finish().map_err(|e| written::spool_error(&e))?;
    let mut report = Report::sorted(summary, findings);
    report.invoices = invoices;
    Ok(report)
}

/// Runs `main` (which moves the outputs into place) while another thread
/// inserts the run's rows in the register, uncommitted (when there is a
/// run to record): `main`'s result, and the insertion's. The documents are
/// read back from `written`; an invoice written again under its number is
/// updated, not inserted.
fn beside_staging(
    staging: Option<(&mut Register, &register::RunRecord)>,
    written: &written::Written,
    triage: &reconcile::Triage,
    main: impl FnOnce() -> Result<()>,
) -> (Result<()>, Result<()>) {
    let Some((register, run)) = staging else {
        return (main(), Ok(()));
    };
    std::thread::scope(|scope| {
        let inserting = scope.spawn(move || {
            register.stage_run_with(run, &mut |insert| {
                let mut failed = None;
                let read = written.for_each_document(|mut document, output| {
                    if triage.is_reissue(&document) {
                        return Ok(());
                    }
                    document.output = output.to_string();
                    insert(document).map_err(|e| {
                        failed = Some(e);
                        std::io::Error::other("recording stopped")
                    })
                });
                match failed {
                    Some(error) => Err(error),
                    None => Ok(read?),
                }
            })
        });
        let done = main();
        let inserted = inserting
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("recording the run in the register failed")));
        (done, inserted)
    })
}

/// A pass's findings (see [`gather::Gathered`]).
fn gather(
    front: Vec<Finding>,
    outcome: &mut pass::Outcome,
    options: &ConvertOptions,
) -> Result<gather::Gathered> {
    let stages = vec![
        Findings::from(front),
        Findings::from(std::mem::take(&mut outcome.read)),
        std::mem::take(&mut outcome.copies),
        std::mem::take(&mut outcome.mapping),
        Findings::from(std::mem::take(&mut outcome.register_first)),
        std::mem::take(&mut outcome.register),
        Findings::from(std::mem::take(&mut outcome.rates)),
    ];
    let checked = std::mem::take(&mut outcome.checked);
    gather::Gathered::new(stages, checked, options.issued_at, options.now)
        .map_err(|e| written::spool_error(&e))
}

/// Whether a pass's parts wrote an invoice `bad` names, or left out one
/// it does not (`--skip-invalid`): the pass is then run again knowing `bad`.
fn names_any(rendered: &[parts::Rendered], bad: &InvoicesInError) -> Result<bool> {
    let mut names = false;
    for part in rendered {
        part.written.for_each_brief(|brief| {
            names = bad.names(&brief.number, &brief.order_no);
            Ok(!names)
        })?;
        if names || part.dropped.iter().any(|number| !bad.contains(number)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Readings of the exports at most: a second learns of copies found to
/// differ late; a third could only follow from an error found late.
const MAX_PASSES: usize = 3;

/// The first day an e-invoice can plausibly be issued: LHDN's e-invoicing
/// began in August 2024.
const EARLIEST_ISSUE: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 1) {
    Some(date) => date,
    None => panic!("a date"),
};

/// An issue time before 2024 or more than a year ahead is no e-invoice's
/// (and some such times Excel cannot show as themselves): refused before
/// any work.
fn refuse_implausible_issue_time(issued_at: NaiveDateTime, now: NaiveDateTime) -> Result<()> {
    let latest = now + chrono::Duration::days(366);
    if issued_at.date() < EARLIEST_ISSUE || issued_at > latest {
        bail!(
            "--issued-at {}: no e-invoice is issued then; give a time between {EARLIEST_ISSUE} and \
             {} (UTC), normally now (leave --issued-at out)",
            issued_at.format("%Y-%m-%dT%H:%M:%SZ"),
            latest.format("%Y-%m-%d")
        );
    }
    Ok(())
}

/// MYR per CNY has been about 0.55–0.70 for decades; outside 0.3–1.5 a rate
/// is mistyped, or CNY per MYR.
const PLAUSIBLE_RATE: (Decimal, Decimal) = (
    Decimal::from_parts(3, 0, 0, false, 1),
    Decimal::from_parts(15, 0, 0, false, 1),
);

/// A warning when `rate` is outside [`PLAUSIBLE_RATE`].
fn implausible_rate(
    rate: Decimal,
    date: Option<NaiveDate>,
    source: Option<&str>,
) -> Option<Finding> {
    let (low, high) = PLAUSIBLE_RATE;
    if (low..=high).contains(&rate) {
        return None;
    }
    let of = match (date, source) {
        (Some(date), _) => format!(" on {date}"),
        (None, Some(source)) => format!(" ({source})"),
        (None, None) => String::new(),
    };
    Some(
        Finding::new(
            &rules::RATE_IMPLAUSIBLE,
            format!("the rate{of} is {rate} MYR per CNY, outside the plausible {low}–{high}"),
        )
        .value(rate.to_string()),
    )
}

/// Checks batch-upload workbooks (or CSV folders).
pub fn check_files(paths: &[PathBuf], now: NaiveDateTime) -> Result<Report> {
    let mut findings = Vec::new();
    let mut invoices = 0;
    for path in paths {
        let read = workbook::read_batch(path)?;
        invoices += read.batch.invoice_count();
        findings.extend(read.findings);
        findings.extend(check::check_batch(&read.batch, now));
        drop_in_background(read.batch);
    }
    let summary = Summary {
        files: paths.len(),
        invoices,
        ..Summary::default()
    };
    Ok(Report::new(summary, findings))
}

/// Frees a large structure on another thread: a workbook of 100,000 lines is
/// millions of small strings, and freeing them would hold up the report.
fn drop_in_background<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}
#[cfg(test)]
mod tests {
    use super::parts::split_by_rows;
    use std::ops::Range;

    #[test]
    fn parts_are_split_before_any_sheet_passes_its_last_row() {
        // 1000 rows a sheet, 100 invoices a file: 600 + 600 lines do not fit
        // in one part, 600 + 300 do, and 101 more would not.
        let invoice = |lines: usize| vec![1, 0, lines, 0, lines, 1, 0, 0, 0, 0, 0];
        let rows = [invoice(600), invoice(600), invoice(300), invoice(101)];
        assert_eq!(split_by_rows(&rows, 100, 1000), Ok(vec![0..1, 1..3, 3..4]));
        let exactly = [invoice(600), invoice(400)];
        assert_eq!(
            split_by_rows(&exactly, 100, 1000),
            Ok(vec![Range { start: 0, end: 2 }])
        );
        // --max-per-file still applies.
        assert_eq!(
            split_by_rows(&rows, 1, 1000),
            Ok(vec![0..1, 1..2, 2..3, 3..4])
        );
        // One invoice with more lines than a sheet holds cannot be written.
        assert_eq!(
            split_by_rows(&[invoice(1001)], 100, 1000),
            Err((0, 2, 1001))
        );
        assert_eq!(split_by_rows(&[], 100, 1000), Ok(vec![]));
    }
}
