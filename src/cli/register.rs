//! `selfbill register uuids | list | export`: each finds the register as
//! convert does (`--register FILE`, else `[register] path` in the config,
//! else `selfbill.db` beside the config file, else in the current folder).

use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;

use selfbill::config::Config;
use selfbill::register::{self, ListState, Register, export, uuids};
use selfbill::report::{Report, Summary};

use super::{
    ExportArgs, ListArgs, RegisterCommand, RegisterLocation, StateArg, Ui, UuidsArgs, config_path,
    parse_month, print_report,
};

pub(super) fn run(command: RegisterCommand, ui: &Ui) -> Result<i32> {
    match command {
        RegisterCommand::Uuids(args) => record_uuids(args, ui),
        RegisterCommand::List(args) => list(args),
        RegisterCommand::Export(args) => export_workbook(args),
    }
}

/// `--register`, else the config's `[register] path` or `selfbill.db`
/// beside it; without a config file, `./selfbill.db`.
fn locate(location: RegisterLocation) -> Result<PathBuf> {
    if let Some(path) = location.register.register {
        return Ok(path);
    }
    let named = location.config.is_some()
        || std::env::var_os("SELFBILL_CONFIG").is_some_and(|v| !v.is_empty());
    let path = config_path(location.config, std::env::var_os("SELFBILL_CONFIG"));
    if !named && !path.exists() {
        return Ok(register::locate(None, None, None));
    }
    let config = Config::load(&path)?;
    Ok(register::locate(
        None,
        Some(&path),
        config.register.path.as_deref(),
    ))
}

fn open(location: RegisterLocation) -> Result<Register> {
    Register::open(&locate(location)?, false, register::DEFAULT_WAIT)
}

fn record_uuids(args: UuidsArgs, ui: &Ui) -> Result<i32> {
    let mut register = open(args.location)?;
    let plan = uuids::plan(&register, &args.file)?;
    let recorded = if plan.has_errors() {
        0
    } else {
        register.record_uuids(&plan.entries, &args.file.display().to_string())?;
        plan.entries.len()
    };
    let summary = Summary {
        files: 1,
        invoices: plan.entries.len() + plan.already,
        register: Some(register.path().display().to_string()),
        validated: Some(recorded),
        already_validated: Some(plan.already),
        ..Summary::default()
    };
    print_report(&Report::new(summary, plan.findings), args.report.json, ui)
}

fn list(args: ListArgs) -> Result<i32> {
    if let Some(month) = &args.month {
        parse_month(month)?;
    }
    let state = args.state.map(|s| match s {
        StateArg::Written => ListState::Written,
        StateArg::Validated => ListState::Validated,
        StateArg::Held => ListState::Held,
        StateArg::Refunded => ListState::Refunded,
    });
    let register = open(args.location)?;
    let entries = register.list(args.month.as_deref().map(str::trim), state)?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string(&entries)?)
    } else {
        register::list_table(&entries)
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(0)
}

fn export_workbook(args: ExportArgs) -> Result<i32> {
    selfbill::write::check_targets(std::slice::from_ref(&args.output), &[], args.force)?;
    let register = open(args.location)?;
    let documents = register.documents(None)?;
    let holds = register.open_holds(None)?;
    let bytes = export::workbook_bytes(&documents, &holds)?;
    selfbill::write::write_atomic(&args.output, &bytes, args.force)?;
    if !args.quiet {
        writeln!(
            std::io::stdout().lock(),
            "wrote {}: {} invoices and notes, {} open holds",
            args.output.display(),
            documents.len(),
            holds.len()
        )?;
    }
    Ok(0)
}
