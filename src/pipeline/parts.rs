//! Output parts, as invoices stream in: each part (a workbook, or the CSV
//! folder) takes invoices until the next one would not fit, and is then
//! laid out, checked and built while the next fills.

use anyhow::{Result, anyhow};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::written::{Line, Lines, PartLines, SharedLines, spool_dir, spool_error};
use super::{ConvertOptions, OutputFormat};
use crate::batch::Batch;
use crate::check;
use crate::finding::{Finding, Findings, InvoicesInError};
use crate::model::Invoice;
use crate::money::payable_in_myr;
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

/// Groups invoices into parts as they come: at most `--max-per-file`
/// invoices per workbook (a CSV folder takes them all), and never a sheet
/// past Excel's last row.
pub struct PartPlan {
    max_invoices: usize,
    max_rows: usize,
    invoices: usize,
    rows: Vec<usize>,
    /// Parts started so far.
    parts: usize,
}

/// An invoice with more rows on a sheet than a part can hold: (sheet, rows).
#[derive(Debug, PartialEq, Eq)]
pub struct TooBig(pub usize, pub usize);

impl PartPlan {
    pub fn new(max_invoices: usize, max_rows: usize) -> PartPlan {
        PartPlan {
            max_invoices,
            max_rows,
            invoices: 0,
            rows: Vec::new(),
            parts: 0,
        }
    }

    /// The plan for `options`' output.
    pub fn for_output(options: &ConvertOptions) -> PartPlan {
        match options.format {
            OutputFormat::Xlsx => PartPlan::new(options.max_per_file, MAX_DATA_ROWS),
            // A CSV sheet has its header on row 1 and data from row 2.
            OutputFormat::Csv => PartPlan::new(usize::MAX, EXCEL_MAX_ROWS - 1),
        }
    }

    /// Places an invoice with `counts` rows per sheet: in the current part,
    /// or (true) in a new one, when it does not fit or is the first.
    pub fn place(&mut self, counts: &[usize]) -> std::result::Result<bool, TooBig> {
        let fits = self.parts > 0
            && self.invoices < self.max_invoices
            && counts
                .iter()
                .enumerate()
                .all(|(sheet, n)| self.rows.get(sheet).copied().unwrap_or(0) + n <= self.max_rows);
        if !fits {
            self.parts += 1;
            self.invoices = 0;
            self.rows.clear();
        }
        self.rows.resize(counts.len().max(self.rows.len()), 0);
        for (sheet, n) in counts.iter().enumerate() {
            self.rows[sheet] += n;
            if self.rows[sheet] > self.max_rows {
                return Err(TooBig(sheet, self.rows[sheet]));
            }
        }
        self.invoices += 1;
        Ok(!fits)
    }

    /// The current part: 0 for the first, 1 for the second, …; `None` before any.
    pub fn current(&self) -> Option<usize> {
        self.parts.checked_sub(1)
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
            total_myr: Some(payable_in_myr(self.payable, self.exchange_rate).to_string()),
            output: output.to_string(),
        }
    }
}

/// A part, built: its checked findings, its files (not yet in place), and
/// what was written of each invoice that stays in it.
pub struct Rendered {
    pub index: usize,
    /// The name its findings were made with; the final name may differ when
    /// an earlier part lost all its invoices (`--skip-invalid`).
    pub provisional: String,
    pub findings: Findings,
    pub files: Files,
    /// What was written of each invoice (with the register's record), on disk.
    pub written: PartLines,
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

/// Invoices laid out, checked and written at a time: a workbook of any
/// size is built in little memory.
pub const INVOICES_PER_BATCH: usize = 250;

/// The output name of part `index`: the `-o` name for a lone workbook or a
/// CSV folder, `out-001.xlsx`, `out-002.xlsx`, … when there are several.
pub fn part_name(options: &ConvertOptions, index: usize, several: bool) -> PathBuf {
    match options.format {
        OutputFormat::Csv => options.output.clone(),
        OutputFormat::Xlsx if !several => options.output.clone(),
        OutputFormat::Xlsx => write::split_name(&options.output, index + 1),
    }
}

/// A part being built, a batch of invoices at a time: each batch is laid
/// out after the rows already written, checked, and written. With
/// `--skip-invalid`, invoices with errors (found now, or before) are left
/// out, and the batch is laid out again without them (and not checked
/// again). A workbook's rows go straight into it; a CSV folder's invoices
/// wait for the end (its files are written whole).
pub struct PartBuilder<'a> {
    options: &'a ConvertOptions,
    set: &'a OutputSet,
    index: usize,
    /// The name the part's findings are made with (the second part of a
    /// set starts before the first is known to have a sibling).
    provisional: String,
    workbook: Option<WorkbookWriter<'a>>,
    rows_before: Vec<usize>,
    /// A CSV folder's invoices, kept.
    kept: Vec<Invoice>,
    findings: Findings,
    written: Lines<'a>,
    dropped: Vec<String>,
}

impl<'a> PartBuilder<'a> {
    pub fn new(
        options: &'a ConvertOptions,
        set: &'a OutputSet,
        template: Option<&'a TemplatePackage>,
        lines: &'a SharedLines,
        index: usize,
    ) -> PartBuilder<'a> {
        PartBuilder {
            options,
            set,
            index,
            provisional: part_name(options, index, index > 0).display().to_string(),
            workbook: template.map(WorkbookWriter::open_ended),
            rows_before: vec![0; crate::batch::template().sheets.len()],
            kept: Vec::new(),
            findings: Findings::spooled_in(spool_dir(&options.output)),
            written: Lines::new(lines),
            dropped: Vec::new(),
        }
    }

    pub fn index(&self) -> usize {
        self.index
    }

    /// Lays out, checks and writes a batch of the part's invoices.
    pub fn add(&mut self, batch: Vec<Pending>) -> Result<()> {
        let mut bad = InvoicesInError::default();
        let mut invoices = Vec::with_capacity(batch.len());
        let mut documents = Vec::with_capacity(batch.len());
        for pending in batch {
            if pending.bad {
                bad.insert(&pending.invoice.number);
            }
            invoices.push(pending.invoice);
            documents.push(pending.document);
        }
        let mut laid_out =
            crate::layout::lay_out_after(self.provisional.clone(), &invoices, &self.rows_before);
        let findings = relocate(
            check::check_batch_here(&laid_out, self.options.now),
            &laid_out,
            &invoices,
        );
        if self.options.skip_invalid {
            bad.add(&findings);
            let is_bad = |i: &Invoice| bad.names(&i.number, &i.order_no);
            if invoices.iter().any(is_bad) {
                let mut kept = Vec::new();
                let mut kept_documents = Vec::new();
                for (invoice, document) in invoices.into_iter().zip(documents) {
                    if is_bad(&invoice) {
                        self.dropped.push(invoice.number);
                    } else {
                        kept.push(invoice);
                        kept_documents.push(document);
                    }
                }
                invoices = kept;
                documents = kept_documents;
                laid_out = crate::layout::lay_out_after(
                    self.provisional.clone(),
                    &invoices,
                    &self.rows_before,
                );
            }
        }
        self.findings
            .extend(findings)
            .map_err(|e| spool_error(&e))?;
        for (rows, added) in self
            .rows_before
            .iter_mut()
            .zip(crate::layout::row_counts(&invoices))
        {
            *rows += added;
        }
        for (invoice, document) in invoices.iter().zip(documents) {
            let line = Line {
                brief: Brief::of(invoice),
                document,
            };
            self.written.push(&line).map_err(|e| spool_error(&e))?;
        }
        match &mut self.workbook {
            Some(workbook) => workbook
                .append(&laid_out)
                .map_err(|e| write::set::write_error(Path::new(&self.provisional), e))?,
            None => self.kept.extend(invoices),
        }
        Ok(())
    }

    /// The part, built: its workbook as a temporary file of the output set,
    /// or its CSV files in memory. A part left without invoices has none.
    pub fn finish(mut self) -> Result<Rendered> {
        self.findings.seal().map_err(|e| spool_error(&e))?;
        let target = PathBuf::from(&self.provisional);
        let files = if self.written.is_empty() {
            Vec::new()
        } else {
            match self.workbook {
                Some(workbook) => {
                    let temp = workbook
                        .finish_into(self.set)
                        .map_err(|e| write::set::write_error(&target, e))?;
                    vec![(String::new(), Built::Temp(temp))]
                }
                None => {
                    let batch = crate::layout::lay_out(self.provisional.clone(), &self.kept);
                    write::csv::sheet_files(&batch)?
                        .into_iter()
                        .map(|(name, bytes)| (name, Built::Bytes(bytes)))
                        .collect()
                }
            }
        };
        Ok(Rendered {
            index: self.index,
            provisional: self.provisional,
            findings: self.findings,
            files,
            written: self.written.finish().map_err(|e| spool_error(&e))?,
            dropped: self.dropped,
        })
    }
}

/// Findings on invoices built from an export point at the export row the
/// data came from; the column names LHDN's sheet and header ("Documents
/// Supplier.TIN"), since most LHDN fields have no 1688 column.
fn relocate(mut findings: Vec<Finding>, batch: &Batch, invoices: &[Invoice]) -> Vec<Finding> {
    let sheets = &crate::batch::template().sheets;
    for finding in &mut findings {
        let (Some(sheet), Some(row)) = (finding.sheet.as_deref(), finding.row) else {
            continue;
        };
        let Some(data) = sheets
            .iter()
            .position(|schema| schema.name == sheet)
            .and_then(|index| batch.sheets.get(index))
        else {
            continue;
        };
        // Rows are numbered in order.
        let Some(origin) = data
            .rows
            .binary_search_by_key(&row, |r| r.row)
            .ok()
            .and_then(|at| data.rows[at].origin)
        else {
            continue;
        };
        let Some(invoice) = invoices.get(origin.invoice as usize) else {
            continue;
        };
        let lhdn_place = format!("{sheet} {}", finding.column.as_deref().unwrap_or_default());
        let place = origin.location(&invoice.source);
        finding.file = Some(place.file);
        finding.sheet = place.sheet;
        finding.row = place.row;
        finding.column = Some(lhdn_place.trim().to_string());
    }
    findings
}

/// Splits invoices, given each one's rows per sheet, into consecutive parts
/// as [`PartPlan`] places them. Err((invoice, sheet, rows)) when that
/// cannot be done.
#[cfg(test)]
pub fn split_by_rows(
    rows: &[Vec<usize>],
    max_invoices: usize,
    max_rows: usize,
) -> std::result::Result<Vec<std::ops::Range<usize>>, (usize, usize, usize)> {
    let mut plan = PartPlan::new(max_invoices, max_rows);
    let mut parts: Vec<std::ops::Range<usize>> = Vec::new();
    for (index, counts) in rows.iter().enumerate() {
        match plan.place(counts) {
            Ok(true) => parts.push(index..index + 1),
            Ok(false) => {
                if let Some(last) = parts.last_mut() {
                    last.end = index + 1;
                }
            }
            Err(TooBig(sheet, count)) => return Err((index, sheet, count)),
        }
    }
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
