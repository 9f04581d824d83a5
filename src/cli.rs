//! The command line: clap lives here and only here. Parses arguments,
//! resolves them into pipeline options, runs, prints the report and returns
//! the exit code (0 done, 1 errors found, 2 could not run).

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use rust_decimal::Decimal;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use selfbill::codes::Table;
use selfbill::config::{Config, SupplierDirectory};
use selfbill::pipeline::{self, ConvertOptions, OutputFormat};
use selfbill::rates::RateTable;
use selfbill::read::sheet::TextEncoding;
use selfbill::report::Report;

#[derive(Debug, Parser)]
#[command(
    name = "selfbill",
    version,
    about = "Turn 1688.com order exports into LHDN MyInvois self-billed e-invoices, and check batch-upload workbooks",
    after_help = "Exit codes: 0 done (warnings allowed), 1 errors found, 2 could not run.\n\
                  Docs: README.md, docs/mapping.md, docs/rules.md"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// When to colour the tables: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    /// No progress, and no tables unless errors were found (JSON is still printed with --json).
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum RatesCommand {
    /// Fetch a month of BNM rates and save the response as-is, for convert --rates.
    #[command(after_help = "Examples:\n  \
        selfbill rates fetch --month 2026-10 -o bnm-cny-2026-10.json\n  \
        selfbill convert orders-2026-10.xlsx -o e.xlsx --rates bnm-cny-2026-10.json\n\n\
        The API base URL can be overridden with SELFBILL_BNM_URL.")]
    Fetch {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        #[arg(long, default_value = "CNY")]
        currency: String,
        /// BNM session: 0900, 1130, 1200 (noon reference, default) or 1700.
        #[arg(long, default_value = "1200")]
        session: String,
        #[arg(short, long)]
        output: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// CSV exports' encoding, when detection is not wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Encoding {
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    #[value(name = "gb18030", alias = "gbk")]
    Gb18030,
}

impl From<Encoding> for TextEncoding {
    fn from(encoding: Encoding) -> Self {
        match encoding {
            Encoding::Utf8 => TextEncoding::Utf8,
            Encoding::Gb18030 => TextEncoding::Gb18030,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Xlsx,
    Csv,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert 1688 buyer order exports into LHDN's batch-upload workbook.
    #[command(after_help = "Examples:\n  \
        selfbill convert orders-2026-10.xlsx -o einvoices-2026-10.xlsx --rate 0.6097\n  \
        selfbill convert sep.xlsx oct.xlsx -o q3.xlsx --config selfbill.toml --suppliers suppliers.csv\n  \
        selfbill convert orders.xlsx -o out/ --format csv --json")]
    Convert {
        /// 1688 buyer order exports (.xlsx, .xls or .csv).
        #[arg(required = true)]
        exports: Vec<PathBuf>,
        /// The workbook to write (split into NAME-001.xlsx, … past --max-per-file), or a folder with --format csv.
        #[arg(short, long)]
        output: PathBuf,
        /// Config file [default: $SELFBILL_CONFIG, else ./selfbill.toml].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Supplier directory [default: `suppliers` in the config, else ./suppliers.csv when present].
        #[arg(long)]
        suppliers: Option<PathBuf>,
        /// Exchange rate for every order: MYR per 1 CNY (e.g. 0.6097).
        #[arg(long, conflicts_with = "rates")]
        rate: Option<String>,
        /// Rates by date: a BNM API response saved as-is, or a CSV date,currency,rate. Each order
        /// takes the rate of its payment date, or of the latest earlier date. Repeatable.
        #[arg(long, value_name = "FILE")]
        rates: Vec<PathBuf>,
        /// IssuanceDateTime for every invoice, RFC 3339 (e.g. 2026-11-26T08:00:00+08:00) [default: now].
        #[arg(long)]
        issued_at: Option<String>,
        /// CSV `order_no,customs_ref` filling ReferenceNumberCustomsForms.
        #[arg(long)]
        customs: Option<PathBuf>,
        /// Output format [default: xlsx for a .xlsx name, csv for a folder].
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Invoices per workbook.
        #[arg(long, default_value_t = 100)]
        max_per_file: usize,
        /// Encoding of CSV exports [default: detected: UTF-8, with or without BOM, else GB18030].
        #[arg(long, value_enum)]
        encoding: Option<Encoding>,
        /// Write the valid invoices even when others have errors (still exits 1).
        #[arg(long)]
        skip_invalid: bool,
        /// Replace existing outputs.
        #[arg(long)]
        force: bool,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Check batch-upload workbooks (or CSV folders) against LHDN's rules.
    #[command(after_help = "Examples:\n  \
        selfbill check einvoices-2026-10.xlsx\n  \
        selfbill check a.xlsx b.xlsx --json")]
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Search LHDN's code tables by code or by words of the description.
    #[command(
        after_help = "Tables: classification, msic, unit, state, country, currency, tax, payment, type\n\
        Examples:\n  selfbill codes unit piece\n  selfbill codes classification import\n  selfbill codes state 14"
    )]
    Codes {
        table: String,
        query: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write a starter selfbill.toml and an empty suppliers.csv (never overwrites).
    #[command(after_help = "Examples:\n  selfbill init\n  selfbill init ~/books/selfbill")]
    Init {
        /// The folder to write them in.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Add the sellers seen in exports to the supplier directory.
    #[command(
        after_help = "Existing rows are kept exactly as they are; new sellers get member_id and name,\n\
        the rest blank for you to fill in (the seller's address is on its 1688 page under 联系方式).\n\
        Examples:\n  selfbill suppliers orders-2026-10.xlsx\n  selfbill suppliers *.xlsx --suppliers books/suppliers.csv"
    )]
    Suppliers {
        #[arg(required = true)]
        exports: Vec<PathBuf>,
        /// Supplier directory [default: `suppliers` in the config, else ./suppliers.csv].
        #[arg(long)]
        suppliers: Option<PathBuf>,
        /// Config file, to find the directory [default: $SELFBILL_CONFIG, else ./selfbill.toml].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Encoding of CSV exports [default: detected].
        #[arg(long, value_enum)]
        encoding: Option<Encoding>,
    },
    /// Exchange rates from Bank Negara Malaysia.
    #[command(subcommand)]
    Rates(RatesCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  selfbill completions bash > /etc/bash_completion.d/selfbill"
    )]
    Completions { shell: clap_complete::Shell },
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { 2 } else { 0 };
        }
    };
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let ui = Ui {
        color,
        width: report_width(),
        quiet: cli.quiet,
        progress: !cli.quiet && std::io::stderr().is_terminal(),
    };
    match execute(cli.command, &ui) {
        Ok(code) => code,
        Err(err) => {
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return 0;
            }
            eprintln!("selfbill: error: {err:#}");
            2
        }
    }
}

/// How to talk to the person (or script) at the other end.
struct Ui {
    color: bool,
    /// Columns to fit the text report to: `$COLUMNS`, else the terminal's;
    /// none when piped, so nothing is padded.
    width: Option<usize>,
    quiet: bool,
    /// A spinner on stderr for long work: only on a terminal, never with --quiet.
    progress: bool,
}

impl Ui {
    fn spinner(&self, message: &str) -> Option<indicatif::ProgressBar> {
        if !self.progress {
            return None;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    }
}

fn execute(command: Command, ui: &Ui) -> Result<i32> {
    match command {
        Command::Convert {
            exports,
            output,
            config,
            suppliers,
            rate,
            rates,
            issued_at,
            customs,
            format,
            max_per_file,
            encoding,
            skip_invalid,
            force,
            json,
        } => {
            let config_path = config_path(config, std::env::var_os("SELFBILL_CONFIG"));
            let config = Config::load(&config_path)?;
            let suppliers = match supplier_path(suppliers, &config, &config_path) {
                Some(path) => SupplierDirectory::load(&path)?,
                None => SupplierDirectory::default(),
            };
            let (rate, rate_table, rate_source) = if !rates.is_empty() {
                let mut table = RateTable::default();
                for path in &rates {
                    table.load(path)?;
                }
                let source = format!("{} (by payment date)", table.sources.join(", "));
                (None, Some(table), Some(source))
            } else {
                match rate {
                    Some(text) => (
                        Some(parse_rate(&text)?),
                        None,
                        Some(format!("--rate {text}")),
                    ),
                    None => (
                        config.invoice.rate,
                        None,
                        config
                            .invoice
                            .rate
                            .map(|r| format!("{} [invoice] rate {r}", config_path.display())),
                    ),
                }
            };
            let now = Utc::now()
                .naive_utc()
                .with_nanosecond(0)
                .unwrap_or_default();
            let issued_at = match issued_at {
                Some(text) => parse_issued_at(&text)?,
                None => now,
            };
            let customs = match customs {
                Some(path) => pipeline::read_customs(&path)?,
                None => Default::default(),
            };
            let format = match format {
                Some(Format::Xlsx) => OutputFormat::Xlsx,
                Some(Format::Csv) => OutputFormat::Csv,
                None => guess_format(&output)?,
            };
            let spinner = ui.spinner("converting");
            let report = pipeline::convert(ConvertOptions {
                exports,
                output,
                format,
                config,
                suppliers,
                rate,
                rate_table,
                rate_source,
                issued_at,
                now,
                customs,
                max_per_file,
                encoding: encoding.map(TextEncoding::from),
                skip_invalid,
                force,
            });
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
            print_report(&report?, json, ui)
        }
        Command::Check { files, json } => {
            let now = Utc::now()
                .naive_utc()
                .with_nanosecond(0)
                .unwrap_or_default();
            let spinner = ui.spinner("checking");
            let report = pipeline::check_files(&files, now);
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
            print_report(&report?, json, ui)
        }
        Command::Init { dir } => {
            let written = selfbill::init::init(&dir)?;
            if !ui.quiet {
                let mut stdout = std::io::stdout().lock();
                for path in written {
                    writeln!(stdout, "created {}", path.display())?;
                }
                writeln!(
                    stdout,
                    "next: fill in [buyer] in selfbill.toml, then `selfbill suppliers EXPORT` \
                     and `selfbill convert EXPORT -o OUT.xlsx --rate R`"
                )?;
            }
            Ok(0)
        }
        Command::Suppliers {
            exports,
            suppliers,
            config,
            encoding,
        } => suppliers_command(
            &exports,
            suppliers,
            config,
            encoding.map(TextEncoding::from),
            ui,
        ),
        Command::Codes { table, query, json } => {
            codes(&table, query.as_deref().unwrap_or(""), json)
        }
        Command::Rates(RatesCommand::Fetch {
            month,
            currency,
            session,
            output,
            force,
        }) => {
            let (year, month_number) = parse_month(&month)?;
            if output.exists() && !force {
                bail!(
                    "{}: already exists; choose another name, or pass --force to replace it",
                    output.display()
                );
            }
            let base = std::env::var("SELFBILL_BNM_URL")
                .unwrap_or_else(|_| selfbill::rates::BNM_BASE_URL.to_string());
            let spinner = ui.spinner("fetching BNM rates");
            let fetched = selfbill::rates::fetch_month(
                &base,
                &currency.to_uppercase(),
                year,
                month_number,
                &session,
            );
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
            selfbill::write::write_atomic(&output, &fetched?, force)?;
            if !ui.quiet {
                writeln!(
                    std::io::stdout().lock(),
                    "saved BNM {} rates for {month} (session {session}) to {}",
                    currency.to_uppercase(),
                    output.display()
                )?;
            }
            Ok(0)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "selfbill",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

fn report_width() -> Option<usize> {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok());
    columns.filter(|&c: &usize| c >= 20).or_else(|| {
        std::io::stdout()
            .is_terminal()
            .then(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
            .flatten()
    })
}

fn print_report(report: &Report, json: bool, ui: &Ui) -> Result<i32> {
    let text = if json {
        report.to_json()
    } else if ui.quiet && report.exit_code() == 0 {
        String::new()
    } else {
        report.to_text(ui.color, ui.width)
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(report.exit_code())
}

fn suppliers_command(
    exports: &[PathBuf],
    suppliers: Option<PathBuf>,
    config: Option<PathBuf>,
    encoding: Option<TextEncoding>,
    ui: &Ui,
) -> Result<i32> {
    let config_path = config_path(config, std::env::var_os("SELFBILL_CONFIG"));
    let path = match suppliers {
        Some(path) => path,
        None if config_path.exists() => {
            let config = Config::load(&config_path)?;
            supplier_path(None, &config, &config_path)
                .unwrap_or_else(|| PathBuf::from("suppliers.csv"))
        }
        None => PathBuf::from("suppliers.csv"),
    };
    let mut orders = Vec::new();
    for export in exports {
        orders.extend(selfbill::read::export::read_export(export, encoding)?.orders);
    }
    let existing = match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("{}: cannot be read", path.display())),
    };
    let result = selfbill::directory::add_sellers(existing.as_deref(), &orders)
        .with_context(|| format!("{}: bad supplier directory", path.display()))?;
    if !result.added.is_empty() || existing.is_none() {
        selfbill::write::write_atomic(&path, &result.bytes, true)?;
    }
    if !ui.quiet {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "{}: {} seller{} added; {} seller{} still lack an address or phone",
            path.display(),
            result.added.len(),
            if result.added.len() == 1 { "" } else { "s" },
            result.lacking_details.len(),
            if result.lacking_details.len() == 1 {
                ""
            } else {
                "s"
            },
        )?;
        for member in &result.lacking_details {
            writeln!(stdout, "  {member}")?;
        }
    }
    Ok(0)
}

fn codes(table: &str, query: &str, json: bool) -> Result<i32> {
    let Some(table) = Table::from_name(table) else {
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        bail!(
            "unknown code table {table:?}; the tables are {}",
            names.join(", ")
        );
    };
    let found = table.search(query);
    let mut stdout = std::io::stdout().lock();
    if json {
        let rows: Vec<serde_json::Value> = found
            .iter()
            .map(|c| serde_json::json!({"code": c.code, "description": c.description.trim()}))
            .collect();
        writeln!(stdout, "{}", serde_json::Value::Array(rows))?;
    } else {
        let mut out = comfy_table::Table::new();
        out.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        out.set_header(vec!["code", "description"]);
        for code in &found {
            out.add_row(vec![code.code.as_str(), code.description.trim()]);
        }
        writeln!(stdout, "{out}")?;
    }
    Ok(if found.is_empty() { 1 } else { 0 })
}

/// `--config`, else `$SELFBILL_CONFIG`, else `./selfbill.toml`.
fn config_path(explicit: Option<PathBuf>, env: Option<std::ffi::OsString>) -> PathBuf {
    explicit
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("selfbill.toml"))
}

/// `--suppliers`, else `suppliers` in the config (relative to it), else
/// `./suppliers.csv` when present.
fn supplier_path(
    explicit: Option<PathBuf>,
    config: &Config,
    config_path: &Path,
) -> Option<PathBuf> {
    if explicit.is_some() {
        return explicit;
    }
    if let Some(path) = &config.suppliers {
        let base = config_path.parent().unwrap_or(Path::new(""));
        return Some(base.join(path));
    }
    let default = PathBuf::from("suppliers.csv");
    default.exists().then_some(default)
}

fn parse_rate(text: &str) -> Result<Decimal> {
    let rate = Decimal::from_str(text.trim())
        .ok()
        .filter(|r| *r > Decimal::ZERO && *r < Decimal::from(10_000))
        .with_context(|| {
            format!("--rate {text:?}: expected MYR per 1 CNY, a positive number such as 0.6097")
        })?;
    Ok(rate)
}

fn parse_month(text: &str) -> Result<(i32, u32)> {
    let date = chrono::NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .with_context(|| format!("--month {text:?}: expected YYYY-MM, e.g. 2026-10"))?;
    Ok((
        chrono::Datelike::year(&date),
        chrono::Datelike::month(&date),
    ))
}

fn parse_issued_at(text: &str) -> Result<NaiveDateTime> {
    let parsed = DateTime::parse_from_rfc3339(text.trim()).with_context(|| {
        format!("--issued-at {text:?}: expected an RFC 3339 date-time such as 2026-11-26T08:00:00+08:00 or 2026-11-26T00:00:00Z")
    })?;
    Ok(parsed.naive_utc().with_nanosecond(0).unwrap_or_default())
}

fn guess_format(output: &Path) -> Result<OutputFormat> {
    match output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("xlsx") => Ok(OutputFormat::Xlsx),
        None => Ok(OutputFormat::Csv),
        Some(other) => bail!(
            "{}: .{other} is not an output format; write a .xlsx workbook, or give a folder with --format csv",
            output.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_path_precedence() {
        assert_eq!(
            config_path(Some("a.toml".into()), Some("b.toml".into())),
            PathBuf::from("a.toml")
        );
        assert_eq!(
            config_path(None, Some("b.toml".into())),
            PathBuf::from("b.toml")
        );
        assert_eq!(config_path(None, None), PathBuf::from("selfbill.toml"));
    }

    #[test]
    fn issued_at_is_utc_whole_seconds() {
        let at = parse_issued_at("2026-11-26T08:00:00.750+08:00").unwrap();
        assert_eq!(at.to_string(), "2026-11-26 00:00:00");
        assert!(parse_issued_at("yesterday").is_err());
    }

    #[test]
    fn rates_must_be_positive_decimals() {
        assert_eq!(parse_rate("0.6097").unwrap().to_string(), "0.6097");
        assert!(parse_rate("-1").is_err());
        assert!(parse_rate("abc").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
