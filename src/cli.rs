//! The command line: clap lives here and only here. Parses arguments,
//! resolves them into pipeline options, runs, prints the report and returns
//! the exit code (0 done, 1 errors found, 2 could not run).

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use clap::builder::PossibleValue;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use rust_decimal::Decimal;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use selfbill::codes::Table;
use selfbill::config::{Config, SupplierDirectory};
use selfbill::pipeline::{self, ConvertOptions, OutputFormat};
use selfbill::rates::RateTable;
use selfbill::read::text::TextEncoding;
use selfbill::report::Report;

mod register;

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

    /// `selfbill --color never check …`: accepted before the command too.
    #[arg(long, value_enum, hide = true)]
    color: Option<ColorChoice>,

    /// `selfbill -q convert …`: accepted before the command too.
    #[arg(short, long, hide = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert 1688 buyer order exports into LHDN's batch-upload workbook.
    #[command(after_help = "Examples:\n  \
        selfbill convert orders-2026-10.xlsx -o einvoices-2026-10.xlsx --rate 0.6097\n  \
        selfbill convert sep.xlsx oct.xlsx -o q3.xlsx --rates bnm-q3.json\n  \
        selfbill convert orders.xlsx -o out/ --format csv --json")]
    Convert(ConvertArgs),
    /// Check batch-upload workbooks (or CSV folders) against LHDN's rules.
    #[command(after_help = "Examples:\n  \
        selfbill check einvoices-2026-10.xlsx\n  \
        selfbill check a.xlsx b.xlsx --json")]
    Check(CheckArgs),
    /// Search LHDN's code tables by code or by words of the description.
    #[command(
        after_help = "Prints the matching codes; exits 1, saying so on stderr, when none match.\n\
        Examples:\n  selfbill codes unit piece\n  selfbill codes classification import\n  selfbill codes state 14"
    )]
    Codes(CodesArgs),
    /// Write a starter selfbill.toml and an empty suppliers.csv (never overwrites).
    #[command(after_help = "Examples:\n  selfbill init\n  selfbill init ~/books/selfbill")]
    Init(InitArgs),
    /// Add the sellers seen in exports to the supplier directory.
    #[command(
        after_help = "Existing rows are kept exactly as they are; new sellers get member_id and name,\n\
        the rest blank for you to fill in (the seller's address is on its 1688 page under 联系方式).\n\
        Examples:\n  selfbill suppliers orders-2026-10.xlsx\n  selfbill suppliers *.xlsx --suppliers books/suppliers.csv"
    )]
    Suppliers(SuppliersArgs),
    /// Exchange rates from Bank Negara Malaysia.
    #[command(subcommand)]
    Rates(RatesCommand),
    /// The register of invoices, notes and held orders that convert keeps (selfbill.db).
    #[command(subcommand)]
    Register(RegisterCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  selfbill completions bash > /etc/bash_completion.d/selfbill"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
struct ConvertArgs {
    /// 1688 buyer order exports (.xlsx, .xls or .csv).
    #[arg(required = true, value_name = "EXPORT")]
    exports: Vec<PathBuf>,
    /// The workbook to write, NAME.xlsx (split into NAME-001.xlsx, … past --max-per-file), or a
    /// folder with --format csv.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Config file [default: $SELFBILL_CONFIG, else ./selfbill.toml].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Supplier directory [default: `suppliers` in the config, else ./suppliers.csv when present].
    #[arg(long, value_name = "FILE")]
    suppliers: Option<PathBuf>,
    /// Exchange rate for every order: MYR per 1 CNY (e.g. 0.6097).
    #[arg(long, value_name = "R", conflicts_with = "rates")]
    rate: Option<String>,
    /// Rates by date: a BNM API response saved as-is, or a CSV date,currency,rate. Each order
    /// takes the rate of its payment date, or of the latest earlier date. Repeat the flag for
    /// several files: --rates oct.json --rates nov.json.
    #[arg(long, value_name = "FILE")]
    rates: Vec<PathBuf>,
    /// IssuanceDateTime for every invoice, RFC 3339 (e.g. 2026-11-26T08:00:00+08:00) [default: now].
    #[arg(long, value_name = "RFC3339")]
    issued_at: Option<String>,
    /// Customs file, CSV or XLSX: order_no,customs_ref,cleared_on,concession (the last two may
    /// be left out). The references fill ReferenceNumberCustomsForms; the clearance date sets
    /// each invoice's deadline (the end of the second month after clearance); concession e-PAM
    /// or LCL stands for a reference.
    #[arg(long, value_name = "FILE")]
    customs: Option<PathBuf>,
    /// Write the invoices past their deadline as version SVDP 1.2, a voluntary disclosure under
    /// LHDN's SVDP (7 Jul 2026 - 31 Dec 2027). Needs LHDN's newest template (--template), which
    /// offers SVDP 1.2.
    #[arg(long)]
    svdp: bool,
    /// Output format: xlsx, LHDN's workbook; csv, a folder with one CSV per sheet [default: xlsx
    /// for a .xlsx name, csv for an existing folder].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Invoices per workbook.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_per_file: usize,
    /// LHDN's batch-upload template to fill, e.g. the newest one downloaded from the MyInvois
    /// Portal [default: `template` under [output] in the config, else the public copy selfbill
    /// carries].
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Encoding of CSV exports [default: detected: UTF-8, with or without BOM, else GB18030].
    #[arg(long, value_enum)]
    encoding: Option<Encoding>,
    /// Write the valid invoices even when others have errors (still exits 1).
    #[arg(long)]
    skip_invalid: bool,
    /// Replace existing outputs.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    register: RegisterArgs,
    /// Orders whose `written` invoice (never uploaded) is written again under its number.
    #[arg(long, value_name = "ORDER", num_args = 1.., conflicts_with = "no_register")]
    reissue: Vec<String>,
    /// A one-off run: the register is neither read nor written.
    #[arg(long, conflicts_with = "register")]
    no_register: bool,
    #[command(flatten)]
    report: ReportArgs,
}

/// Where the register is, for convert and the register commands.
#[derive(Debug, Args)]
struct RegisterArgs {
    /// The register [default: `path` under [register] in the config, else selfbill.db beside
    /// the config file].
    #[arg(long, value_name = "FILE")]
    register: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum RegisterCommand {
    /// Record LHDN's UUIDs of written invoices and notes, which become `validated`.
    #[command(
        after_help = "FILE is a CSV or XLSX with a header row holding an eInvoiceNumber (or Internal ID)\n\
        column and a UUID column, such as the MyInvois portal's list of submitted documents.\n\
        Every row is checked first; with any error nothing is recorded.\n\
        Example:\n  selfbill register uuids myinvois-documents-2026-10.csv"
    )]
    Uuids(UuidsArgs),
    /// List the register's invoices, notes and open holds.
    #[command(after_help = "Examples:\n  selfbill register list --month 2026-10\n  \
        selfbill register list --state held\n  selfbill register list --state written --json")]
    List(ListArgs),
    /// Write the register as a workbook for the accountant.
    #[command(
        after_help = "Sheet Invoices: every invoice and note by month, with the MYR total of each month\n\
        (notes count negative); sheet Holds: the orders still held.\n\
        Example:\n  selfbill register export -o register.xlsx"
    )]
    Export(ExportArgs),
}

/// Finding the register without running convert: --register, else the config's.
#[derive(Debug, Args)]
struct RegisterLocation {
    #[command(flatten)]
    register: RegisterArgs,
    /// Config file, to find the register [default: $SELFBILL_CONFIG, else ./selfbill.toml].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct UuidsArgs {
    /// CSV or XLSX with eInvoiceNumber (or Internal ID) and UUID columns.
    file: PathBuf,
    #[command(flatten)]
    location: RegisterLocation,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only documents issued, and holds made, in this month (YYYY-MM).
    #[arg(long, value_name = "YYYY-MM")]
    month: Option<String>,
    /// Only documents in this state, or the open holds.
    #[arg(long, value_enum)]
    state: Option<StateArg>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    location: RegisterLocation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StateArg {
    Written,
    Validated,
    Held,
    Refunded,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The workbook to write (.xlsx).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    location: RegisterLocation,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Batch-upload workbooks (.xlsx), or folders of CSVs as `convert --format csv` writes them.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    report: ReportArgs,
}

/// How convert and check print their report.
#[derive(Debug, Args)]
struct ReportArgs {
    /// Print the report as one JSON object (summary, findings, invoices) instead of text.
    #[arg(long)]
    json: bool,
    /// No progress, and no text report unless errors were found (--json prints it all the same).
    #[arg(short, long)]
    quiet: bool,
    /// When to colour the report: auto (on a terminal, and NO_COLOR unset), always, never
    /// [default: auto].
    #[arg(long, value_enum)]
    color: Option<ColorChoice>,
}

#[derive(Debug, Args)]
struct CodesArgs {
    /// The code table to search.
    table: TableArg,
    /// A code (its beginning), or words that must all appear in the description, in any case
    /// [default: the whole table].
    query: Option<String>,
    /// Print the matches as a JSON array of {code, description}.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The folder to write them in; created when it does not exist.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct SuppliersArgs {
    /// 1688 buyer order exports (.xlsx, .xls or .csv) whose sellers to add.
    #[arg(required = true, value_name = "EXPORT")]
    exports: Vec<PathBuf>,
    /// Supplier directory [default: `suppliers` in the config, else ./suppliers.csv].
    #[arg(long, value_name = "FILE")]
    suppliers: Option<PathBuf>,
    /// Config file, to find the directory [default: $SELFBILL_CONFIG, else ./selfbill.toml].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Encoding of CSV exports [default: detected].
    #[arg(long, value_enum)]
    encoding: Option<Encoding>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum RatesCommand {
    /// Fetch a month of BNM rates and save the response as-is, for convert --rates.
    #[command(after_help = "Examples:\n  \
        selfbill rates fetch --month 2026-10 -o bnm-cny-2026-10.json\n  \
        selfbill convert orders-2026-10.xlsx -o e.xlsx --rates bnm-cny-2026-10.json\n\n\
        The API base URL can be overridden with SELFBILL_BNM_URL.")]
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
struct FetchArgs {
    /// The month, YYYY-MM.
    #[arg(long)]
    month: String,
    /// The currency's ISO 4217 code.
    #[arg(long, default_value = "CNY")]
    currency: String,
    /// BNM session: 0900, 1130, 1200 (the noon reference rate) or 1700.
    #[arg(long, default_value = "1200")]
    session: String,
    /// The file to save BNM's response in, as sent (JSON), for convert --rates.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell to complete in.
    shell: clap_complete::Shell,
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

/// A code table, as `selfbill codes` names it (and completions offer it).
#[derive(Debug, Clone, Copy)]
struct TableArg(Table);

impl ValueEnum for TableArg {
    fn value_variants<'a>() -> &'a [Self] {
        const TABLES: [TableArg; Table::ALL.len()] = {
            let mut tables = [TableArg(Table::ALL[0]); Table::ALL.len()];
            let mut i = 0;
            while i < tables.len() {
                tables[i] = TableArg(Table::ALL[i]);
                i += 1;
            }
            tables
        };
        &TABLES
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.title()))
    }
}

/// Runs the command line and returns the process exit code.
/// A panic in a library (calamine, zip, quick-xml) while a file is read is
/// reported as a damaged file naming it (`selfbill::read::guard`), so it is
/// not printed as a crash too. A panic in selfbill's own code still is.
fn quiet_reader_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_library = info
            .location()
            .is_some_and(|at| !at.file().starts_with("src/"));
        if !(in_library && selfbill::read::guarded()) {
            default(info);
        }
    }));
}

pub fn run() -> i32 {
    quiet_reader_panics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { 2 } else { 0 };
        }
    };
    let json = cli.command.json();
    match execute(cli) {
        Ok(code) => code,
        Err(err) => {
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return 0;
            }
            eprintln!("selfbill: error: {err:#}");
            if json {
                // A script reading stdout learns that the run failed, and why.
                let error =
                    serde_json::json!({"error": {"message": format!("{err:#}"), "exit_code": 2}});
                let _ = writeln!(std::io::stdout().lock(), "{error}");
            }
            2
        }
    }
}

impl Command {
    /// Whether the report was asked for as JSON (then errors are JSON too).
    fn json(&self) -> bool {
        match self {
            Command::Convert(args) => args.report.json,
            Command::Check(args) => args.report.json,
            _ => false,
        }
    }
}

fn execute(cli: Cli) -> Result<i32> {
    let ui =
        |color: Option<ColorChoice>, quiet: bool| Ui::new(color.or(cli.color), quiet || cli.quiet);
    match cli.command {
        Command::Convert(args) => {
            let ui = ui(args.report.color, args.report.quiet);
            convert(args, &ui)
        }
        Command::Check(args) => {
            let ui = ui(args.report.color, args.report.quiet);
            check(args, &ui)
        }
        Command::Codes(args) => codes(args, &ui(None, false)),
        Command::Init(args) => {
            let ui = ui(None, args.quiet);
            init(args, &ui)
        }
        Command::Suppliers(args) => {
            let ui = ui(None, args.quiet);
            suppliers(args, &ui)
        }
        Command::Rates(RatesCommand::Fetch(args)) => {
            let ui = ui(None, args.quiet);
            rates_fetch(args, &ui)
        }
        Command::Register(command) => register::run(command, &ui(None, false)),
        Command::Completions(args) => {
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "selfbill",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

/// How to talk to the person (or script) at the other end.
struct Ui {
    color: bool,
    /// Columns to fit text to: `$COLUMNS`, else the terminal's; none when
    /// piped, so nothing is padded.
    width: Option<usize>,
    quiet: bool,
    /// A spinner on stderr for long work: only on a terminal, never with --quiet.
    progress: bool,
}

impl Ui {
    fn new(color: Option<ColorChoice>, quiet: bool) -> Ui {
        let color = match color.unwrap_or(ColorChoice::Auto) {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Ui {
            color,
            width: terminal_width(),
            quiet,
            progress: !quiet && std::io::stderr().is_terminal(),
        }
    }

    fn spinner(&self, message: &str) -> Option<indicatif::ProgressBar> {
        if !self.progress {
            return None;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    }

    /// Runs `work` with a spinner showing `message`.
    fn with_spinner<T>(&self, message: &str, work: impl FnOnce() -> T) -> T {
        let spinner = self.spinner(message);
        let result = work();
        if let Some(spinner) = spinner {
            spinner.finish_and_clear();
        }
        result
    }
}

fn convert(args: ConvertArgs, ui: &Ui) -> Result<i32> {
    let format = match args.format {
        Some(Format::Xlsx) => OutputFormat::Xlsx,
        Some(Format::Csv) => OutputFormat::Csv,
        None => guess_format(&args.output)?,
    };
    let config_path = config_path(args.config, std::env::var_os("SELFBILL_CONFIG"));
    let config = Config::load(&config_path)?;
    // The template: --template, else [output] template (relative to the config file).
    let template = args.template.or_else(|| {
        let base = config_path.parent().unwrap_or(Path::new(""));
        config.output.template.as_ref().map(|path| base.join(path))
    });
    let supplier_file = supplier_path(args.suppliers, &config, &config_path);
    let suppliers = match &supplier_file {
        Some(path) => SupplierDirectory::load(path)?,
        None => SupplierDirectory::default(),
    };
    // Every file read besides the exports: never an output.
    let inputs: Vec<PathBuf> = [Some(config_path.clone()), supplier_file]
        .into_iter()
        .flatten()
        .chain(args.rates.iter().cloned())
        .chain(args.customs.iter().cloned())
        .chain(template.iter().cloned())
        .collect();
    let (rate, rate_table, rate_source) = if !args.rates.is_empty() {
        let mut table = RateTable::default();
        for path in &args.rates {
            table.load(path)?;
        }
        let source = format!("{} (by payment date)", table.sources.join(", "));
        (None, Some(table), Some(source))
    } else {
        match args.rate {
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
    let now = now()?;
    let issued_at = match args.issued_at {
        Some(text) => parse_issued_at(&text)?,
        None => now,
    };
    let customs = args
        .customs
        .map(|path| selfbill::read::customs::read_customs(&path))
        .transpose()?;
    let register = (!args.no_register).then(|| {
        selfbill::register::locate(
            args.register.register.as_deref(),
            Some(&config_path),
            config.register.path.as_deref(),
        )
    });
    let options = ConvertOptions {
        exports: args.exports,
        output: args.output,
        format,
        config,
        suppliers,
        rate,
        rate_table,
        rate_source,
        issued_at,
        now,
        customs,
        svdp: args.svdp,
        max_per_file: args.max_per_file,
        template,
        encoding: args.encoding.map(TextEncoding::from),
        skip_invalid: args.skip_invalid,
        force: args.force,
        register,
        reissue: args.reissue,
        inputs,
    };
    let report = ui.with_spinner("converting", || pipeline::convert(options))?;
    print_report(&report, args.report.json, ui)
}

fn check(args: CheckArgs, ui: &Ui) -> Result<i32> {
    let now = now()?;
    let report = ui.with_spinner("checking", || pipeline::check_files(&args.files, now))?;
    print_report(&report, args.report.json, ui)
}

/// This moment, UTC, to the second; or `$SELFBILL_NOW` (RFC 3339), the
/// clock to judge IssuanceDateTime by, for reports that can be reproduced.
fn now() -> Result<NaiveDateTime> {
    match std::env::var("SELFBILL_NOW") {
        Ok(text) if !text.is_empty() => parse_date_time(&text)
            .with_context(|| format!("SELFBILL_NOW={text:?}: expected an RFC 3339 date-time")),
        _ => Ok(Utc::now()
            .naive_utc()
            .with_nanosecond(0)
            .unwrap_or_default()),
    }
}

fn init(args: InitArgs, ui: &Ui) -> Result<i32> {
    let written = selfbill::init::init(&args.dir)?;
    if !ui.quiet {
        let mut stdout = std::io::stdout().lock();
        for path in written {
            writeln!(stdout, "created {}", path.display())?;
        }
        writeln!(
            stdout,
            "next: fill in [buyer] in selfbill.toml, then `selfbill suppliers EXPORT` \
             and `selfbill convert EXPORT -o OUT.xlsx --rate R`\n\
             convert keeps a register, selfbill.db beside selfbill.toml, so that no order \
             is invoiced twice: back it up with your books"
        )?;
    }
    Ok(0)
}

fn rates_fetch(args: FetchArgs, ui: &Ui) -> Result<i32> {
    let FetchArgs {
        month,
        currency,
        session,
        output,
        force,
        quiet: _,
    } = args;
    let (year, month_number) = parse_month(&month)?;
    if output.exists() && !force {
        bail!(
            "{}: already exists; choose another name, or pass --force to replace it",
            output.display()
        );
    }
    let base = std::env::var("SELFBILL_BNM_URL")
        .unwrap_or_else(|_| selfbill::rates::BNM_BASE_URL.to_string());
    let currency = currency.to_uppercase();
    let fetched = ui.with_spinner("fetching BNM rates", || {
        selfbill::rates::fetch_month(&base, &currency, year, month_number, &session)
    });
    selfbill::write::write_atomic(&output, &fetched?, force)?;
    if !ui.quiet {
        writeln!(
            std::io::stdout().lock(),
            "saved BNM {currency} rates for {month} (session {session}) to {}",
            output.display()
        )?;
    }
    Ok(0)
}

/// Columns to fit text to: `$COLUMNS` (at least 20), else the terminal's
/// when stdout is one; none when piped.
fn terminal_width() -> Option<usize> {
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
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        report.write_json(&mut stdout)?;
    } else if !(ui.quiet && report.exit_code() == 0) {
        report.write_text(&mut stdout, ui.color, ui.width)?;
    }
    stdout.flush()?;
    Ok(report.exit_code())
}

fn suppliers(args: SuppliersArgs, ui: &Ui) -> Result<i32> {
    let config_path = config_path(args.config, std::env::var_os("SELFBILL_CONFIG"));
    let path = match args.suppliers {
        Some(path) => path,
        None if config_path.exists() => {
            let config = Config::load(&config_path)?;
            supplier_path(None, &config, &config_path)
                .unwrap_or_else(|| PathBuf::from("suppliers.csv"))
        }
        None => PathBuf::from("suppliers.csv"),
    };
    let encoding = args.encoding.map(TextEncoding::from);
    let mut orders = Vec::new();
    for export in &args.exports {
        orders.extend(selfbill::read::export::read_export(export, encoding)?.orders);
    }
    let existing = match path.try_exists() {
        Ok(false) => None,
        _ => Some(selfbill::read::file::read_input(
            &path,
            "supplier directory",
            selfbill::read::file::MAX_TEXT_BYTES,
        )?),
    };
    let result = selfbill::directory::add_sellers(existing.as_deref(), &orders)
        .with_context(|| format!("{}: bad supplier directory", path.display()))?;
    if !result.added.is_empty() || existing.is_none() {
        selfbill::directory::write_directory(&path, &result.bytes)?;
    }
    if !ui.quiet {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "{}: {} seller{} added; {} seller{} still lack an address or phone",
            path.display(),
            result.added.len(),
            plural(result.added.len()),
            result.lacking_details.len(),
            plural(result.lacking_details.len()),
        )?;
        for member in &result.lacking_details {
            writeln!(stdout, "  {member}")?;
        }
    }
    Ok(0)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The matching codes as a table fitted to the terminal, or as JSON; when
/// nothing matches, a line on stderr and exit status 1.
fn codes(args: CodesArgs, ui: &Ui) -> Result<i32> {
    let table = args.table.0;
    let query = args.query.as_deref().unwrap_or("");
    let found = table.search(query);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let rows: Vec<serde_json::Value> = found
            .iter()
            .map(|c| serde_json::json!({"code": c.code, "description": c.description.trim()}))
            .collect();
        writeln!(stdout, "{}", serde_json::Value::Array(rows))?;
    } else if !found.is_empty() {
        let rows = found
            .iter()
            .map(|c| [c.code.as_str(), c.description.trim()]);
        write!(
            stdout,
            "{}",
            selfbill::report::table(["code", "description"], rows, ui.color, ui.width)
        )?;
    }
    if found.is_empty() {
        stdout.flush()?;
        eprintln!(
            "selfbill: no code in the {} table matches {query:?}; try fewer or other words, \
             or `selfbill codes {}` for the whole table",
            table.name(),
            table.name()
        );
        return Ok(1);
    }
    Ok(0)
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
    if selfbill::money::is_scientific(text.trim()) {
        bail!(
            "--rate {text:?}: scientific notation is refused (as LHDN refuses it); write the rate \
             as a plain decimal, MYR per 1 CNY, such as 0.6097"
        );
    }
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
    parse_date_time(text).with_context(|| {
        format!("--issued-at {text:?}: expected an RFC 3339 date-time such as 2026-11-26T08:00:00+08:00 or 2026-11-26T00:00:00Z")
    })
}

/// An RFC 3339 date-time as UTC, to the second.
fn parse_date_time(text: &str) -> Result<NaiveDateTime> {
    let parsed = DateTime::parse_from_rfc3339(text.trim())?;
    Ok(parsed.naive_utc().with_nanosecond(0).unwrap_or_default())
}

/// xlsx for a `.xlsx` name, csv for a folder that exists; anything else is
/// refused rather than guessed (`-o einvoices-nov` is likelier a workbook
/// name missing its extension than a folder wanted).
fn guess_format(output: &Path) -> Result<OutputFormat> {
    match output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("xlsx") => Ok(OutputFormat::Xlsx),
        _ if output.is_dir() => Ok(OutputFormat::Csv),
        None => bail!(
            "-o {}: no .xlsx extension; name the workbook {}.xlsx, or pass --format csv to \
             write a folder of CSV files",
            output.display(),
            output.display()
        ),
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

    /// Every argument and option of every command says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut command = Cli::command();
        command.build();
        let mut missing = Vec::new();
        walk(&command, "selfbill", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
