//! Output parts, as invoices stream in: each part (a workbook, or the CSV
//! folder) takes invoices until the next one would not fit, and is then
//! laid out, checked and built while the next fills.

use anyhow::{Result, anyhow};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{ConvertOptions, OutputFormat};
use crate::batch::Batch;
use crate::check;
use crate::finding::Finding;
use crate::model::Invoice;
use crate::money::cents;
use crate::register::Document;
use crate::report::InvoiceSummary;
use crate::write;
use crate::write::OutputSet;
use crate::write::template::{EXCEL_MAX_ROWS, MAX_DATA_ROWS, TemplatePackage};
use crate::write::xlsx::WorkbookWriter;

/// An invoice waiting for its part.
pub struct Pending {
    pub invoice: Invoice,
    /// An error was already found for it (mapping, the register, or a
    /// finding of an earlier pass): with `--skip-invalid` it is not written.
    pub bad: bool,
    /// The register's record of it, when convert keeps a register.
    pub document: Option<Document>,
}

/// One output's invoices, in the order they came.
pub struct Part<T = Pending> {
    /// 0 for the first output, 1 for the second, ….
    pub index: usize,
    /// Whether the output set has more than one part (known once a second starts).
    pub several: bool,
    pub invoices: Vec<T>,
}

/// Groups invoices into parts: at most `--max-per-file` invoices per
/// workbook (a CSV folder takes them all), and never a sheet past Excel's
/// last row.
pub struct PartPlan<T = Pending> {
    max_invoices: usize,
    max_rows: usize,
    current: Vec<T>,
    rows: Vec<usize>,
    parts: usize,
}

/// An invoice with more rows on a sheet than a part can hold: (sheet, rows).
#[derive(Debug, PartialEq, Eq)]
pub struct TooBig(pub usize, pub usize);

impl<T> PartPlan<T> {
    pub fn new(max_invoices: usize, max_rows: usize) -> PartPlan<T> {
        PartPlan {
            max_invoices,
            max_rows,
            current: Vec::new(),
            rows: Vec::new(),
            parts: 0,
        }
    }

    /// The plan for `options`' output.
    pub fn for_output(options: &ConvertOptions) -> PartPlan<T> {
        match options.format {
            OutputFormat::Xlsx => PartPlan::new(options.max_per_file, MAX_DATA_ROWS),
            // A CSV sheet has its header on row 1 and data from row 2.
            OutputFormat::Csv => PartPlan::new(usize::MAX, EXCEL_MAX_ROWS - 1),
        }
    }

    /// Adds an invoice with `counts` rows per sheet; gives back the part it
    /// closed, when it does not fit in the current one.
    pub fn push(
        &mut self,
        invoice: T,
        counts: &[usize],
    ) -> std::result::Result<Option<Part<T>>, TooBig> {
        let fits = self.current.len() < self.max_invoices
            && counts
                .iter()
                .enumerate()
                .all(|(sheet, n)| self.rows.get(sheet).copied().unwrap_or(0) + n <= self.max_rows);
        let closed = if !fits && !self.current.is_empty() {
            self.rows.clear();
            Some(self.close(true))
        } else {
            None
        };
        self.rows.resize(counts.len().max(self.rows.len()), 0);
        for (sheet, n) in counts.iter().enumerate() {
            self.rows[sheet] += n;
            if self.rows[sheet] > self.max_rows {
                return Err(TooBig(sheet, self.rows[sheet]));
            }
        }
        self.current.push(invoice);
        Ok(closed)
    }

    /// The last part, if it has invoices.
    pub fn finish(mut self) -> Option<Part<T>> {
        let several = self.parts > 0;
        (!self.current.is_empty()).then(|| self.close(several))
    }

    fn close(&mut self, several: bool) -> Part<T> {
        let part = Part {
            index: self.parts,
            several,
            invoices: std::mem::take(&mut self.current),
        };
        self.parts += 1;
        part
    }
}

/// What the report and the register need of a written invoice, once the
/// invoice itself is freed.
pub struct Brief {
    pub number: String,
    pub order_no: String,
    pub currency: Cow<'static, str>,
    pub payable: Decimal,
    pub rate: Decimal,
    pub rate_date: Option<NaiveDate>,
    pub exchange_rate: Option<Decimal>,
}

impl Brief {
    fn of(invoice: &Invoice) -> Brief {
        Brief {
            number: invoice.number.clone(),
            order_no: invoice.order_no.clone(),
            currency: invoice.currency.clone(),
            payable: invoice.totals.payable,
            rate: invoice.rate,
            rate_date: invoice.rate_date,
            exchange_rate: invoice.exchange_rate,
        }
    }

    pub fn summary(&self, output: &str) -> InvoiceSummary {
        InvoiceSummary {
            invoice: self.number.clone(),
            order: self.order_no.clone(),
            currency: self.currency.to_string(),
            total: self.payable.to_string(),
            rate: Some(self.rate.to_string()),
            rate_date: self.rate_date.map(|d| d.to_string()),
            total_myr: Some(myr(self.payable, self.exchange_rate).to_string()),
            output: output.to_string(),
        }
    }
}

/// A payable amount in MYR: converted at the invoice's rate for a CNY
/// invoice, as it stands for an MYR one.
pub fn myr(payable: Decimal, exchange_rate: Option<Decimal>) -> Decimal {
    match exchange_rate {
        Some(rate) => cents(payable * rate),
        None => payable,
    }
}

/// A part, built: its checked findings, its files (not yet in place), and
/// what was written of each invoice that stays in it.
pub struct Rendered {
    pub index: usize,
    /// The name its findings were made with; the final name may differ when
    /// an earlier part lost all its invoices (`--skip-invalid`).
    pub provisional: String,
    pub findings: Vec<Finding>,
    pub files: Files,
    pub written: Vec<Brief>,
    /// The register's records of `written`, in the same order; none
    /// without a register.
    pub documents: Vec<Document>,
    /// Invoice numbers left out (`--skip-invalid`).
    pub dropped: Vec<String>,
}

/// A part's built files: the workbook (its name left empty), or the CSV
/// folder's files by name.
pub type Files = Vec<(String, Built)>;

/// A built file: in memory, or written to a temporary file beside its target.
pub enum Built {
    Bytes(Vec<u8>),
    Temp(tempfile::TempPath),
}

/// Invoices per batch of a workbook: each batch is built, checked, written
/// and dropped before the next, so a workbook of any size is built in
/// little memory.
const INVOICES_PER_BATCH: usize = 250;

/// The output name of part `index`: the `-o` name for a lone workbook or a
/// CSV folder, `out-001.xlsx`, `out-002.xlsx`, … when there are several.
pub fn part_name(options: &ConvertOptions, index: usize, several: bool) -> PathBuf {
    match options.format {
        OutputFormat::Csv => options.output.clone(),
        OutputFormat::Xlsx if !several => options.output.clone(),
        OutputFormat::Xlsx => write::split_names(&options.output, index + 2).swap_remove(index),
    }
}

/// Lays out, checks and builds one part. With `--skip-invalid`, invoices
/// with errors (found now, or before) are then left out, and the part is
/// built again without them (and not checked again).
pub fn render(
    options: &ConvertOptions,
    set: &OutputSet,
    template: Option<&TemplatePackage>,
    part: Part,
) -> Result<Rendered> {
    let target = part_name(options, part.index, part.several);
    let provisional = target.display().to_string();
    let (mut pending, mut bad): (Vec<Invoice>, HashSet<String>) = (Vec::new(), HashSet::new());
    let mut documents = Vec::new();
    for p in part.invoices {
        if p.bad {
            bad.insert(p.invoice.number.clone());
        }
        documents.push(p.document);
        pending.push(p.invoice);
    }
    let (findings, mut files) = build(options, set, template, &pending, &target, true)?;
    let mut dropped = Vec::new();
    if options.skip_invalid {
        for finding in findings.iter().filter(|f| f.is_error()) {
            if let Some(invoice) = &finding.invoice {
                bad.insert(invoice.clone());
            }
        }
        let is_bad = |i: &Invoice| bad.contains(&i.number) || bad.contains(&i.order_no);
        if pending.iter().any(is_bad) {
            let mut kept = Vec::new();
            let mut kept_documents = Vec::new();
            for (invoice, document) in pending.into_iter().zip(documents) {
                if is_bad(&invoice) {
                    dropped.push(invoice.number);
                } else {
                    kept.push(invoice);
                    kept_documents.push(document);
                }
            }
            pending = kept;
            documents = kept_documents;
            files = if pending.is_empty() {
                Vec::new()
            } else {
                build(options, set, template, &pending, &target, false)?.1
            };
        }
    }
    Ok(Rendered {
        index: part.index,
        provisional,
        findings,
        files,
        written: pending.iter().map(Brief::of).collect(),
        documents: documents.into_iter().flatten().collect(),
        dropped,
    })
}

/// Builds (and with `check`, checks) a part's files.
fn build(
    options: &ConvertOptions,
    set: &OutputSet,
    template: Option<&TemplatePackage>,
    invoices: &[Invoice],
    target: &Path,
    check: bool,
) -> Result<(Vec<Finding>, Files)> {
    let output = target.display().to_string();
    let check_batch = |batch: &Batch| {
        if check {
            relocate(check::check_batch(batch, options.now), batch)
        } else {
            Vec::new()
        }
    };
    match template {
        Some(template) => {
            let (built, findings) = build_workbook(set, template, invoices, target, &check_batch)
                .map_err(|e| write::set::write_error(target, e))?;
            Ok((findings, vec![(String::new(), Built::Temp(built))]))
        }
        None => {
            let batch = crate::layout::lay_out(output, invoices);
            let files = write::csv::sheet_files(&batch)?
                .into_iter()
                .map(|(name, bytes)| (name, Built::Bytes(bytes)))
                .collect();
            Ok((check_batch(&batch), files))
        }
    }
}

/// Builds one workbook, a batch of [`INVOICES_PER_BATCH`] invoices at a
/// time, as a temporary file of the output set: a second thread lays out and
/// checks the next batch while this one writes the last into the workbook.
fn build_workbook(
    set: &OutputSet,
    template: &TemplatePackage,
    invoices: &[Invoice],
    target: &Path,
    check_batch: &(dyn Fn(&Batch) -> Vec<Finding> + Sync),
) -> Result<(tempfile::TempPath, Vec<Finding>)> {
    let output = target.display().to_string();
    let mut writer = WorkbookWriter::new(template, &crate::layout::row_counts(invoices))?;
    // A workbook of one batch is laid out, checked and written in this
    // thread: parts are already built side by side, and a thread more per
    // workbook would only hold more memory.
    if invoices.len() <= INVOICES_PER_BATCH {
        let batch = crate::layout::lay_out(output, invoices);
        let findings = check_batch(&batch);
        writer.append(&batch)?;
        drop(batch);
        return finish_workbook(set, writer, findings);
    }
    let findings = std::thread::scope(|scope| -> Result<Vec<Finding>> {
        let (batches, laid_out) = std::sync::mpsc::sync_channel::<Batch>(1);
        let checker = scope.spawn(move || {
            let mut findings = Vec::new();
            let mut before = vec![0; crate::batch::template().sheets.len()];
            for chunk in invoices.chunks(INVOICES_PER_BATCH) {
                let batch = crate::layout::lay_out_after(output.clone(), chunk, &before);
                for (rows, added) in before.iter_mut().zip(crate::layout::row_counts(chunk)) {
                    *rows += added;
                }
                findings.extend(check_batch(&batch));
                if batches.send(batch).is_err() {
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
            .map_err(|_| anyhow!("checking the invoices failed"))
    })?;
    finish_workbook(set, writer, findings)
}

/// Writes a built workbook as a temporary file of the output set (which
/// flushes it to disk when the set is committed).
fn finish_workbook(
    set: &OutputSet,
    writer: WorkbookWriter<'_>,
    findings: Vec<Finding>,
) -> Result<(tempfile::TempPath, Vec<Finding>)> {
    Ok((writer.finish_into(set)?, findings))
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

/// Splits invoices, given each one's rows per sheet, into consecutive parts
/// of at most `max_invoices` invoices and `max_rows` rows on every sheet, as
/// [`PartPlan`] does. Err((invoice, sheet, rows)) when that cannot be done.
#[cfg(test)]
pub fn split_by_rows(
    rows: &[Vec<usize>],
    max_invoices: usize,
    max_rows: usize,
) -> std::result::Result<Vec<std::ops::Range<usize>>, (usize, usize, usize)> {
    let mut plan = PartPlan::new(max_invoices, max_rows);
    let mut parts = Vec::new();
    let mut start = 0;
    let mut range = |part: Part<usize>| {
        let range = start..start + part.invoices.len();
        start = range.end;
        range
    };
    for (index, counts) in rows.iter().enumerate() {
        match plan.push(index, counts) {
            Ok(Some(part)) => parts.push(range(part)),
            Ok(None) => {}
            Err(TooBig(sheet, count)) => return Err((index, sheet, count)),
        }
    }
    parts.extend(plan.finish().map(range));
    Ok(parts)
}

/// The error for an invoice that no part can hold.
pub fn too_big(
    options: &ConvertOptions,
    invoice: &str,
    TooBig(sheet, count): TooBig,
) -> anyhow::Error {
    let schema = &crate::batch::template().sheets[sheet];
    match options.format {
        OutputFormat::Xlsx => anyhow!(
            "invoice {invoice}: sheet {} would get {count} rows, more than the {MAX_DATA_ROWS} \
             Excel allows below LHDN's rows 1–5; split the order in the export",
            schema.name
        ),
        OutputFormat::Csv => anyhow!(
            "{}: {}.csv would get {count} rows, more than the {} Excel shows below the header; \
             write workbooks instead (-o NAME.xlsx), which are split at Excel's limit",
            options.output.display(),
            schema.name,
            EXCEL_MAX_ROWS - 1
        ),
    }
}
