//! The two pipelines, stage by stage:
//! convert: read export → map → check → write → report;
//! check: read workbook → check → report.

use anyhow::{Context, Result, bail};
use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::batch::Batch;
use crate::check;
use crate::config::{Config, SupplierDirectory};
use crate::finding::Finding;
use crate::map::{self, MapContext};
use crate::model::Invoice;
use crate::money::cents;
use crate::read::{export, workbook};
use crate::report::{InvoiceSummary, Report, Summary};
use crate::write;

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
    /// MYR per 1 CNY; `None` only in MYR mode... or when no rate was given.
    pub rate: Option<Decimal>,
    pub rate_source: Option<String>,
    pub issued_at: NaiveDateTime,
    /// The moment the rules judge IssuanceDateTime against.
    pub now: NaiveDateTime,
    pub customs: HashMap<String, String>,
    pub max_per_file: usize,
    pub skip_invalid: bool,
    pub force: bool,
}

pub fn convert(options: ConvertOptions) -> Result<Report> {
    if options.max_per_file == 0 {
        bail!("--max-per-file must be at least 1");
    }
    if options.rate.is_none() {
        bail!(
            "no exchange rate: pass --rate R (MYR per 1 CNY, e.g. --rate 0.6097) or set rate under \
             [invoice] in selfbill.toml"
        );
    }
    // Refuse an existing output before doing any work.
    write::check_targets(
        std::slice::from_ref(&options.output),
        &options.exports,
        options.force,
    )
    .or_else(|e| {
        if options.format == OutputFormat::Csv && options.output.is_dir() {
            Ok(())
        } else {
            Err(e)
        }
    })?;

    // Read.
    let mut findings = Vec::new();
    let mut orders = Vec::new();
    let mut orders_seen = 0;
    for path in &options.exports {
        let export = export::read_export(path)?;
        orders_seen += export.orders_seen;
        findings.extend(export.findings);
        orders.extend(export.orders);
    }
    let unreadable = orders_seen - orders.len();

    // Map.
    let mapped = map::map_orders(
        &orders,
        &MapContext {
            config: &options.config,
            suppliers: &options.suppliers,
            rate: options.rate,
            issued_at: options.issued_at,
            customs: &options.customs,
        },
    );
    findings.extend(mapped.findings);
    let mut invoices = mapped.invoices;

    // Check, in the chunks that will be written.
    let chunk_size = match options.format {
        OutputFormat::Xlsx => options.max_per_file,
        OutputFormat::Csv => invoices.len().max(1),
    };
    for chunk in invoices.chunks(chunk_size) {
        let batch = Batch::from_invoices(options.output.display().to_string(), chunk);
        findings.extend(relocate(check::check_batch(&batch, options.now), &batch));
    }

    let has_errors = findings.iter().any(Finding::is_error);
    if has_errors && options.skip_invalid {
        let bad: HashSet<String> = findings
            .iter()
            .filter(|f| f.is_error())
            .filter_map(|f| f.invoice.clone())
            .collect();
        invoices.retain(|i| !bad.contains(&i.number) && !bad.contains(&i.order_no));
    }
    let write_anything = (!has_errors || options.skip_invalid) && !invoices.is_empty();

    let mut summary = Summary {
        files: options.exports.len(),
        orders: Some(mapped.orders + unreadable),
        invoiced: Some(invoices.len()),
        held: Some(mapped.held),
        skipped: Some(mapped.skipped),
        outputs: Some(Vec::new()),
        rate_source: options.rate_source.clone(),
        ..Summary::default()
    };
    if invoices.is_empty() && !has_errors {
        findings.push(Finding::info(
            "convert.nothing-to-write",
            if orders_seen == 0 {
                "no orders in the export".to_string()
            } else {
                "no orders to invoice".to_string()
            },
            "Nothing is written when there is nothing to invoice",
        ));
    }
    let mut summaries = Vec::new();
    if write_anything {
        let outputs = write_outputs(&options, &invoices)?;
        for (invoice, output) in &outputs.per_invoice {
            summaries.push(invoice_summary(invoice, output));
        }
        summary.invoices = invoices.len();
        summary.outputs = Some(outputs.files);
    }
    let total: Decimal = invoices.iter().map(|i| i.totals.payable).sum();
    let total_myr: Decimal = invoices
        .iter()
        .map(|i| myr(i).unwrap_or(i.totals.payable))
        .sum();
    summary.total_cny = Some(if options.config.invoice.currency == "MYR" {
        "-".into()
    } else {
        total.to_string()
    });
    summary.total_myr = Some(total_myr.to_string());
    let mut report = Report::new(summary, findings);
    report.invoices = summaries;
    Ok(report)
}

struct Outputs<'a> {
    files: Vec<String>,
    per_invoice: Vec<(&'a Invoice, String)>,
}

fn write_outputs<'a>(options: &ConvertOptions, invoices: &'a [Invoice]) -> Result<Outputs<'a>> {
    let mut outputs = Outputs {
        files: Vec::new(),
        per_invoice: Vec::new(),
    };
    match options.format {
        OutputFormat::Xlsx => {
            let chunks: Vec<&[Invoice]> = invoices.chunks(options.max_per_file).collect();
            let targets = write::split_names(&options.output, chunks.len());
            write::check_targets(&targets, &options.exports, options.force)?;
            for (chunk, target) in chunks.iter().zip(&targets) {
                let shown = target.display().to_string();
                let batch = Batch::from_invoices(shown.clone(), chunk);
                let bytes = write::xlsx::workbook_bytes(&batch, options.issued_at)
                    .with_context(|| format!("{shown}: cannot build the workbook"))?;
                write::write_atomic(target, &bytes, options.force)?;
                outputs
                    .per_invoice
                    .extend(chunk.iter().map(|i| (i, shown.clone())));
                outputs.files.push(shown);
            }
        }
        OutputFormat::Csv => {
            let dir = &options.output;
            let batch = Batch::from_invoices(dir.display().to_string(), invoices);
            let files = write::csv::sheet_files(&batch)?;
            let targets: Vec<PathBuf> = files.iter().map(|(name, _)| dir.join(name)).collect();
            write::check_targets(&targets, &options.exports, options.force)?;
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create the output folder", dir.display()))?;
            for ((_, bytes), target) in files.iter().zip(&targets) {
                write::write_atomic(target, bytes, options.force)?;
                outputs.files.push(target.display().to_string());
            }
            let shown = dir.display().to_string();
            outputs
                .per_invoice
                .extend(invoices.iter().map(|i| (i, shown.clone())));
        }
    }
    Ok(outputs)
}

fn myr(invoice: &Invoice) -> Option<Decimal> {
    invoice
        .exchange_rate
        .map(|rate| cents(invoice.totals.payable * rate))
}

fn invoice_summary(invoice: &Invoice, output: &str) -> InvoiceSummary {
    InvoiceSummary {
        invoice: invoice.number.clone(),
        order: invoice.order_no.clone(),
        currency: invoice.currency.clone(),
        total: invoice.totals.payable.to_string(),
        rate: invoice.exchange_rate.map(|r| r.to_string()),
        total_myr: myr(invoice).map(|d| d.to_string()),
        output: output.to_string(),
    }
}

/// Findings on invoices built from an export point at the export row the
/// data came from; the LHDN sheet and column stay in the message and column.
fn relocate(findings: Vec<Finding>, batch: &Batch) -> Vec<Finding> {
    let origins: HashMap<(String, u32), &crate::finding::Location> = crate::batch::template()
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
                if let Some((_, rest)) = finding.message.split_once(": ") {
                    finding.message = format!("{origin}: {} {}", key.0, rest);
                }
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
    }
    let summary = Summary {
        files: paths.len(),
        invoices,
        ..Summary::default()
    };
    Ok(Report::new(summary, findings))
}

/// `order_no,customs_ref` rows; several references of one order are joined
/// with commas, as LHDN wants them.
pub fn read_customs(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: customs file cannot be read", path.display()))?;
    let text = crate::read::sheet::decode_text(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut refs: HashMap<String, Vec<String>> = HashMap::new();
    for (index, record) in reader.records().enumerate() {
        let record = record
            .with_context(|| format!("{}: line {}: cannot be read", path.display(), index + 2))?;
        let order = record.get(0).unwrap_or("").to_string();
        if order.is_empty() {
            continue;
        }
        for reference in record.iter().skip(1).flat_map(|r| r.split(',')) {
            let reference = reference.trim();
            if !reference.is_empty() {
                refs.entry(order.clone())
                    .or_default()
                    .push(reference.to_string());
            }
        }
    }
    Ok(refs.into_iter().map(|(k, v)| (k, v.join(","))).collect())
}
