//! The two pipelines, stage by stage:
//! convert: read export → map → check → write → report;
//! check: read workbook → check → report.

use anyhow::{Result, bail};
use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::batch::Batch;
use crate::check;
use crate::config::{Config, SupplierDirectory};
use crate::finding::Finding;
use crate::map::{self, MapContext, RateSource};
use crate::model::Invoice;
use crate::money::cents;
use crate::rates::RateTable;
use crate::read::customs::Customs;
use crate::read::text::TextEncoding;
use crate::read::{export, workbook};
use crate::register::reconcile::{self, Triage};
use crate::register::{self, Register};
use crate::report::{InvoiceSummary, Report, Summary};
use crate::rules;
use crate::write;
use crate::write::template::{EXCEL_MAX_ROWS, MAX_DATA_ROWS, TemplatePackage};
use crate::write::xlsx::WorkbookWriter;
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

    // Read.
    let mut findings = template
        .as_ref()
        .map(|t| t.notes.clone())
        .unwrap_or_default();
    if let RateSource::Fixed(rate) = rates {
        findings.extend(implausible_rate(rate, None, options.rate_source.as_deref()));
    }
    findings.extend(set.recovered().iter().map(|note| {
        Finding::new(&rules::OUTPUT_INTERRUPTED_RUN, note.clone())
            .file(options.output.display().to_string())
    }));
    let mut orders = Vec::new();
    let mut orders_seen = 0;
    for path in &options.exports {
        let export = export::read_export(path, options.encoding)?;
        orders_seen += export.orders_seen;
        findings.extend(export.findings);
        if orders.is_empty() {
            orders = export.orders;
        } else {
            orders.extend(export.orders);
        }
    }
    orders.shrink_to_fit();
    let unreadable = orders_seen - orders.len();
    if let Some(customs) = &options.customs {
        let known: HashSet<&str> = orders.iter().map(|o| o.order_no.as_str()).collect();
        findings.extend(customs.unknown_orders(|order| known.contains(order)));
    }
    let distinct = orders
        .iter()
        .map(|o| o.order_no.as_str())
        .collect::<HashSet<_>>()
        .len();

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
    let mut triage = match &register {
        Some(register) => Triage::new(
            register,
            orders,
            &reconcile::Settings {
                config: &options.config,
                suppliers: &options.suppliers,
                issued_at: options.issued_at,
                reissue: &options.reissue,
            },
        )?,
        None => Triage::without_register(orders),
    };

    // Map.
    let mapped = map::map_owned_orders(
        std::mem::take(&mut triage.to_map),
        &MapContext {
            config: &options.config,
            suppliers: &options.suppliers,
            rates,
            issued_at: options.issued_at,
            customs: options.customs.as_ref(),
            svdp: options.svdp,
        },
    );
    // Mapping's findings are most of a run's: the few before them go in
    // front, rather than all of them being copied.
    let mut mapped_findings = mapped.findings;
    mapped_findings.splice(0..0, findings);
    let mut findings = mapped_findings;
    findings.append(&mut triage.findings);
    let mut invoices = mapped.invoices;
    if let RateSource::ByDate(_) = rates {
        findings.extend(implausible_table_rates(&invoices));
    }
    for invoice in &mut invoices {
        if let Some(number) = triage.reissue_number(&invoice.order_no) {
            invoice.number = number.to_string();
        }
    }
    invoices.append(&mut triage.notes);

    // Check the invoices in the chunks that will be written, building each
    // chunk's files on the way (workbooks as temporary files beside their
    // targets); no output is in place until all is checked.
    let mut parts = plan_parts(&options, &invoices)?;
    let mut rendered = render_chunks(&options, &set, template.as_ref(), &invoices, &parts, true)?;
    // What mapping already said of an invoice (a seller without a phone, at
    // the seller's row with the directory's hint), checking its laid-out
    // rows does not say again.
    let mut checked: Vec<Finding> = rendered
        .iter_mut()
        .flat_map(|chunk| std::mem::take(&mut chunk.findings))
        .collect();
    let said: HashSet<(&str, &str)> = findings
        .iter()
        .filter_map(|f| Some((f.rule.id, f.invoice.as_deref()?)))
        .collect();
    checked.retain(|f| {
        !f.invoice
            .as_deref()
            .is_some_and(|invoice| said.contains(&(f.rule.id, invoice)))
    });
    drop(said);
    findings.append(&mut checked);
    one_issue_time_warning(&mut findings, options.issued_at, options.now);

    // What the orders make, whether or not it is written: --skip-invalid
    // changes what is written, not what was read and invoiced.
    let is_note = |i: &&Invoice| !i.references.is_empty();
    let invoiced = invoices.len() - invoices.iter().filter(is_note).count();
    let notes = invoices.iter().filter(is_note).count();
    let total: Decimal = invoices
        .iter()
        .filter(|i| !is_note(i))
        .map(|i| i.total_cny)
        .sum();
    let total_myr: Decimal = invoices.iter().filter(|i| !is_note(i)).map(myr).sum();

    let has_errors = findings.iter().any(Finding::is_error);
    if has_errors && options.skip_invalid {
        let bad: HashSet<String> = findings
            .iter()
            .filter(|f| f.is_error())
            .filter_map(|f| f.invoice.clone())
            .collect();
        let before = invoices.len();
        invoices.retain(|i| !bad.contains(&i.number) && !bad.contains(&i.order_no));
        if invoices.len() != before {
            parts = plan_parts(&options, &invoices)?;
            rendered = render_chunks(&options, &set, template.as_ref(), &invoices, &parts, false)?;
        }
    }
    let completes = !has_errors || options.skip_invalid;
    let write_anything = completes && !invoices.is_empty();
    triage.follow_up_holds(if write_anything { &invoices } else { &[] });
    findings.append(&mut triage.findings);

    let mut summary = Summary {
        files: options.exports.len(),
        orders: Some(distinct + unreadable),
        invoiced: Some(invoiced),
        held: Some(mapped.held + triage.held),
        skipped: Some(mapped.skipped),
        outputs: Some(Vec::new()),
        rate_source: options.rate_source.clone(),
        register: register.as_ref().map(|r| r.path().display().to_string()),
        already_invoiced: register.as_ref().map(|_| triage.already_invoiced),
        notes: register.as_ref().map(|_| notes),
        still_held: register.as_ref().map(|_| triage.still_held),
        ..Summary::default()
    };
    if invoices.is_empty() && !has_errors {
        findings.push(
            Finding::new(
                &rules::CONVERT_NOTHING_TO_WRITE,
                if orders_seen == 0 {
                    "no orders in the export".to_string()
                } else {
                    "no orders to invoice".to_string()
                },
            )
            .hint("Nothing is written when there is nothing to invoice"),
        );
    }
    // Each part's invoices (a range of `invoices`) and the file they went to.
    let mut written_to: Vec<(Range<usize>, String)> = Vec::new();
    if write_anything {
        written_to = parts
            .iter()
            .zip(&rendered)
            .map(|(part, chunk)| (part.clone(), chunk.output.clone()))
            .collect();
        let committed = write_rendered(&mut set, rendered).and_then(|()| set.commit())?;
        summary.invoices = invoices.len();
        summary.outputs = Some(
            committed
                .written
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        );
        summary.removed = Some(
            committed
                .removed
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        );
    }
    // Only now that the outputs are in place: one transaction records them.
    if let Some(register) = &mut register
        && completes
    {
        let written: Vec<(&Invoice, &str)> = written_to
            .iter()
            .flat_map(|(part, output)| {
                invoices[part.clone()]
                    .iter()
                    .map(move |invoice| (invoice, output.as_str()))
            })
            .collect();
        let run = triage.record(
            &written,
            options.issued_at,
            options
                .exports
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            summary.outputs.clone().unwrap_or_default(),
        );
        register.record_run(&run)?;
    }
    // The invoices become the report's lines, each freed once summarised.
    let mut summaries = Vec::with_capacity(if write_anything { invoices.len() } else { 0 });
    let mut outputs = written_to.iter();
    let mut current = outputs.next();
    for (index, invoice) in invoices.into_iter().enumerate() {
        while let Some((part, _)) = current
            && index >= part.end
        {
            current = outputs.next();
        }
        let Some((_, output)) = current else {
            break;
        };
        summaries.push(invoice_summary(&invoice, output));
    }
    summary.total_cny = Some(format!("{total:.2}"));
    summary.total_myr = Some(format!("{total_myr:.2}"));
    let mut report = Report::new(summary, findings);
    report.invoices = summaries;
    Ok(report)
}

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

/// Every invoice of a run has the same IssuanceDateTime: when LHDN would
/// refuse it (more than 72 hours old, or in the future), one warning for the
/// run says so, instead of one per invoice.
fn one_issue_time_warning(
    findings: &mut Vec<Finding>,
    issued_at: NaiveDateTime,
    now: NaiveDateTime,
) {
    let is_time =
        |f: &Finding| f.rule == &rules::ISSUANCE_TOO_OLD || f.rule == &rules::ISSUANCE_FUTURE;
    let count = findings.iter().filter(|f| is_time(f)).count();
    let Some(first) = findings.iter().find(|f| is_time(f)).cloned() else {
        return;
    };
    findings.retain(|f| !is_time(f));
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
    findings.push(
        Finding::new(first.rule, message)
            .hint("Fine for reproducing a file; to upload, convert again without --issued-at just before uploading")
            .column("IssuanceDateTime")
            .value(stamp.to_string()),
    );
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

/// One warning per rates-file date, of those the invoices use, outside the band.
fn implausible_table_rates(invoices: &[Invoice]) -> Vec<Finding> {
    let mut seen = HashSet::new();
    invoices
        .iter()
        .filter(|i| seen.insert((i.rate, i.rate_date)))
        .filter_map(|i| implausible_rate(i.rate, i.rate_date, None))
        .collect()
}

/// The invoices of each output, as ranges: at most `--max-per-file` per
/// workbook (a CSV folder takes them all), and never a sheet past Excel's
/// last row: a workbook that would get more rows is split further. An
/// invoice that alone has more lines than a sheet holds, or a CSV folder
/// whose sheet would, stops the run before anything is built.
fn plan_parts(options: &ConvertOptions, invoices: &[Invoice]) -> Result<Vec<Range<usize>>> {
    let (max_invoices, max_rows) = match options.format {
        OutputFormat::Xlsx => (options.max_per_file, MAX_DATA_ROWS),
        // A CSV sheet has its header on row 1 and data from row 2.
        OutputFormat::Csv => (usize::MAX, EXCEL_MAX_ROWS - 1),
    };
    let rows: Vec<Vec<usize>> = invoices
        .iter()
        .map(|i| crate::layout::row_counts(std::slice::from_ref(i)))
        .collect();
    split_by_rows(&rows, max_invoices, max_rows).map_err(|(invoice, sheet, count)| {
        let schema = &crate::batch::template().sheets[sheet];
        match options.format {
            OutputFormat::Xlsx => anyhow::anyhow!(
                "invoice {}: sheet {} would get {count} rows, more than the {max_rows} Excel \
                 allows below LHDN's rows 1–5; split the order in the export",
                invoices[invoice].number,
                schema.name
            ),
            OutputFormat::Csv => anyhow::anyhow!(
                "{}: {}.csv would get {count} rows, more than the {max_rows} Excel shows below \
                 the header; write workbooks instead (-o NAME.xlsx), which are split at Excel's \
                 limit",
                options.output.display(),
                schema.name
            ),
        }
    })
}

/// Splits invoices, given each one's rows per sheet, into consecutive parts
/// of at most `max_invoices` invoices and `max_rows` rows on every sheet.
/// Err((invoice, sheet, rows)) when that cannot be done.
fn split_by_rows(
    rows: &[Vec<usize>],
    max_invoices: usize,
    max_rows: usize,
) -> Result<Vec<Range<usize>>, (usize, usize, usize)> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut totals: Vec<usize> = Vec::new();
    for (index, counts) in rows.iter().enumerate() {
        let fits = index - start < max_invoices
            && counts
                .iter()
                .enumerate()
                .all(|(sheet, n)| totals.get(sheet).copied().unwrap_or(0) + n <= max_rows);
        if !fits && index > start {
            parts.push(start..index);
            start = index;
            totals.clear();
        }
        totals.resize(counts.len().max(totals.len()), 0);
        for (sheet, n) in counts.iter().enumerate() {
            totals[sheet] += n;
            if totals[sheet] > max_rows {
                return Err((index, sheet, totals[sheet]));
            }
        }
    }
    if start < rows.len() {
        parts.push(start..rows.len());
    }
    Ok(parts)
}

/// One output's worth of invoices: its findings, and its files.
struct Rendered {
    /// The workbook, or the CSV folder.
    output: String,
    findings: Vec<Finding>,
    files: Vec<(PathBuf, Built)>,
}

/// A built file: in memory, or written to a temporary file beside its target.
enum Built {
    Bytes(Vec<u8>),
    Temp(tempfile::TempPath),
}

/// Invoices per part of a workbook: each part is built, checked, written
/// and dropped before the next, so a workbook of any size is built in
/// little memory.
const INVOICES_PER_PART: usize = 250;

/// Builds (and with `check`, checks) every chunk, on all cores.
fn render_chunks(
    options: &ConvertOptions,
    set: &OutputSet,
    template: Option<&TemplatePackage>,
    invoices: &[Invoice],
    parts: &[Range<usize>],
    check: bool,
) -> Result<Vec<Rendered>> {
    let chunks: Vec<&[Invoice]> = parts.iter().map(|p| &invoices[p.clone()]).collect();
    let targets = match options.format {
        OutputFormat::Xlsx => write::split_names(&options.output, chunks.len()),
        OutputFormat::Csv => vec![options.output.clone(); chunks.len()],
    };
    let check_part = |batch: &Batch| {
        if check {
            relocate(check::check_batch(batch, options.now), batch)
        } else {
            Vec::new()
        }
    };
    let render = |chunk: &[Invoice], target: &Path| -> Result<Rendered> {
        let output = target.display().to_string();
        let (findings, files) = match template {
            Some(template) => {
                let (built, findings) = build_workbook(set, template, chunk, target, &check_part)
                    .map_err(|e| write::set::write_error(target, e))?;
                (findings, vec![(target.to_path_buf(), Built::Temp(built))])
            }
            None => {
                let batch = crate::layout::lay_out(output.clone(), chunk);
                let files = write::csv::sheet_files(&batch)?
                    .into_iter()
                    .map(|(name, bytes)| (target.join(name), Built::Bytes(bytes)))
                    .collect();
                (check_part(&batch), files)
            }
        };
        Ok(Rendered {
            output,
            findings,
            files,
        })
    };
    crate::parallel::map_indexed(chunks.len(), |i| render(chunks[i], &targets[i]))
        .into_iter()
        .collect()
}

/// Builds one workbook, a part of [`INVOICES_PER_PART`] invoices at a time,
/// as a temporary file of the output set: a second thread lays out and
/// checks the next part while this one writes the last into the workbook.
fn build_workbook(
    set: &OutputSet,
    template: &TemplatePackage,
    chunk: &[Invoice],
    target: &Path,
    check_part: &(dyn Fn(&Batch) -> Vec<Finding> + Sync),
) -> Result<(tempfile::TempPath, Vec<Finding>)> {
    let output = target.display().to_string();
    let mut writer = WorkbookWriter::new(template, &crate::layout::row_counts(chunk))?;
    // A workbook of one part is laid out, checked and written in this
    // thread: split output already builds a workbook per core, and a thread
    // more per workbook would only hold more memory.
    if chunk.len() <= INVOICES_PER_PART {
        let batch = crate::layout::lay_out(output, chunk);
        let findings = check_part(&batch);
        writer.append(&batch)?;
        drop(batch);
        return finish_workbook(set, writer, findings);
    }
    let findings = std::thread::scope(|scope| -> Result<Vec<Finding>> {
        let (parts, laid_out) = std::sync::mpsc::sync_channel::<Batch>(1);
        let checker = scope.spawn(move || {
            let mut findings = Vec::new();
            let mut before = vec![0; crate::batch::template().sheets.len()];
            for part in chunk.chunks(INVOICES_PER_PART) {
                let batch = crate::layout::lay_out_after(output.clone(), part, &before);
                for (rows, added) in before.iter_mut().zip(crate::layout::row_counts(part)) {
                    *rows += added;
                }
                findings.extend(check_part(&batch));
                if parts.send(batch).is_err() {
                    // The writer stopped on an error of its own.
                    break;
                }
            }
            findings
        });
        for batch in laid_out {
            writer.append(&batch)?;
        }
        checker
            .join()
            .map_err(|_| anyhow::anyhow!("checking the invoices failed"))
    })?;
    finish_workbook(set, writer, findings)
}

/// Writes a built workbook as a temporary file of the output set.
fn finish_workbook(
    set: &OutputSet,
    writer: WorkbookWriter<'_>,
    findings: Vec<Finding>,
) -> Result<(tempfile::TempPath, Vec<Finding>)> {
    let temp = set.temp_file()?;
    let file = writer.finish(std::io::BufWriter::new(temp))?;
    let temp = file.into_inner().map_err(|e| e.into_error())?;
    temp.as_file().sync_all()?;
    Ok((temp.into_temp_path(), findings))
}

/// Stages every built file in the output set.
fn write_rendered(set: &mut OutputSet, rendered: Vec<Rendered>) -> Result<()> {
    for (path, built) in rendered.into_iter().flat_map(|r| r.files) {
        match built {
            Built::Bytes(bytes) => set.add_bytes(path, &bytes)?,
            Built::Temp(temp) => set.add(temp, path)?,
        }
    }
    Ok(())
}

/// The invoice's payable amount in MYR: converted at its rate for a CNY
/// invoice, as it stands for an MYR one.
fn myr(invoice: &Invoice) -> Decimal {
    match invoice.exchange_rate {
        Some(rate) => cents(invoice.totals.payable * rate),
        None => invoice.totals.payable,
    }
}

fn invoice_summary(invoice: &Invoice, output: &str) -> InvoiceSummary {
    InvoiceSummary {
        invoice: invoice.number.clone(),
        order: invoice.order_no.clone(),
        currency: invoice.currency.to_string(),
        total: invoice.totals.payable.to_string(),
        rate: Some(invoice.rate.to_string()),
        rate_date: invoice.rate_date.map(|d| d.to_string()),
        total_myr: Some(myr(invoice).to_string()),
        output: output.to_string(),
    }
}

/// Findings on invoices built from an export point at the export row the
/// data came from; the column names LHDN's sheet and header ("Documents
/// Supplier.TIN"), since most LHDN fields have no 1688 column.
fn relocate(findings: Vec<Finding>, batch: &Batch) -> Vec<Finding> {
    let origins: HashMap<(String, u32), &crate::model::Location> = crate::batch::template()
        .sheets
        .iter()
        .zip(&batch.sheets)
        .flat_map(|(schema, data)| {
            data.rows.iter().filter_map(move |row| {
                row.origin
                    .as_ref()
                    .map(|o| ((schema.name.clone(), row.row), o))
            })
        })
        .collect();
    findings
        .into_iter()
        .map(|mut finding| {
            let key = (
                finding.sheet.clone().unwrap_or_default(),
                finding.row.unwrap_or_default(),
            );
            if let Some(origin) = origins.get(&key) {
                let lhdn_place =
                    format!("{} {}", key.0, finding.column.clone().unwrap_or_default());
                finding.file = Some(origin.file.clone());
                finding.sheet = origin.sheet.clone();
                finding.row = origin.row;
                finding.column = Some(lhdn_place.trim().to_string());
            }
            finding
        })
        .collect()
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
    use super::*;

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
