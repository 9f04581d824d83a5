//! The bookkeeper's month and the pipeline's run, end to end in a temporary folder.

#[path = "../../examples/gen_export.rs"]
pub mod gen_export;

use crate::common::*;
use std::path::Path;

fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::selfbill();
    cmd.current_dir(dir)
        .env_remove("SELFBILL_CONFIG")
        .env_remove("NO_COLOR")
        .args(args);
    cmd.output().unwrap()
}

#[test]
fn a_new_user_goes_from_init_to_a_checked_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.xlsx");
    std::fs::copy(root().join(SAMPLE), &export).unwrap();

    let init = run_in(dir.path(), &["init"]);
    assert_eq!(init.status.code(), Some(0), "{init:?}");
    let config = dir.path().join("selfbill.toml");
    let directory = dir.path().join("suppliers.csv");
    let starter = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        std::fs::read_to_string(&directory).unwrap(),
        "member_id,name,tin,id_type,id_no,sst_no,email,phone,address0,address1,address2,postcode,city,state,country\n"
    );

    // init never overwrites.
    let again = run_in(dir.path(), &["init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), starter);

    // The bookkeeper fills in the company.
    let filled = starter
        .replace("Your Company Sdn Bhd", "Contoh Niaga Sdn Bhd")
        .replace("C0000000000", "C1234567890")
        .replace("\"000000000000\"", "\"202001012345\"")
        .replace("+60300000000", "+60312345678")
        .replace("Address line 1", "No. 1, Jalan Contoh")
        .replace("\"00000\"", "\"50450\"")
        .replace("# rate = 0.6097", "rate = 0.6097");
    std::fs::write(&config, filled).unwrap();

    let suppliers = run_in(dir.path(), &["suppliers", "orders.xlsx"]);
    assert_eq!(suppliers.status.code(), Some(0), "{suppliers:?}");
    let stdout = String::from_utf8_lossy(&suppliers.stdout);
    assert!(
        stdout.contains("4 sellers added; 4 sellers still lack an address or phone"),
        "{stdout}"
    );
    let rows = std::fs::read_to_string(&directory).unwrap();
    assert_eq!(rows.lines().count(), 5);
    assert!(rows.contains("yiwushili2019,义乌市示例日用品有限公司,"));

    // Without the sellers' phones nothing is written: LHDN needs them.
    let convert = run_in(
        dir.path(),
        &["convert", "orders.xlsx", "-o", "einvoices.xlsx", "--json"],
    );
    assert_eq!(convert.status.code(), Some(1));
    let report = json(&convert.stdout);
    let no_phone = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "supplier.phone-missing")
        .count();
    assert_eq!(no_phone, 6, "one per invoice");
    assert!(!dir.path().join("einvoices.xlsx").exists());

    // The bookkeeper fills in each seller's phone from its 1688 page.
    let with_phones: String = rows
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                format!("{line}\n")
            } else {
                // member_id,name,tin,id_type,id_no,sst_no,email,phone,…
                let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
                cells[7] = format!("+86579855501{i:02}");
                format!("{}\n", cells.join(","))
            }
        })
        .collect();
    std::fs::write(&directory, with_phones).unwrap();
    let convert = run_in(
        dir.path(),
        &["convert", "orders.xlsx", "-o", "einvoices.xlsx", "--json"],
    );
    assert_eq!(
        convert.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&convert.stdout)
    );
    let report = json(&convert.stdout);
    assert_eq!(report["summary"]["invoices"], 6);
    assert!(
        report["summary"]["rate_source"]
            .as_str()
            .unwrap()
            .contains("[invoice] rate")
    );
    // The directory's names are used; the missing details are warned about.
    let warnings = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "supplier.details-missing")
        .count();
    assert_eq!(warnings, 4);

    let check = run_in(dir.path(), &["check", "einvoices.xlsx"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn hundreds_of_invoices_split_into_workbooks_that_each_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("big.xlsx");
    let orders = gen_export::write_export(700, export.to_str().unwrap()).unwrap();
    assert!(orders >= 320, "{orders} orders");
    let suppliers = dir.path().join("suppliers.csv");
    gen_export::write_suppliers(suppliers.to_str().unwrap()).unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = selfbill()
        .arg("convert")
        .arg(&export)
        .arg("-o")
        .arg(&out)
        .args(["--config", "fixtures/selfbill.toml", "--suppliers"])
        .arg(&suppliers)
        .args(["--rate", "0.6097", "--issued-at", ISSUED_AT])
        .args(["--max-per-file", "100", "--json", "--no-register"])
        .assert()
        .success();
    let report = json(&assert.get_output().stdout);
    let invoiced = report["summary"]["invoices"].as_u64().unwrap();
    assert!(invoiced > 250, "{invoiced}");
    let outputs: Vec<String> = report["summary"]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    assert_eq!(outputs.len(), invoiced.div_ceil(100) as usize);
    let mut seen = std::collections::BTreeSet::new();
    for output in &outputs {
        let path = Path::new(output);
        let documents = read_sheet(path, "Documents");
        let numbers: Vec<String> = documents
            .data_rows()
            .iter()
            .map(|r| text(&r[documents.col("eInvoiceNumber")]))
            .collect();
        assert!(numbers.len() <= 100);
        for number in &numbers {
            assert!(seen.insert(number.clone()), "{number} in two workbooks");
        }
        for sheet in [
            "DocumentLineItems",
            "LineItemsTaxes",
            "DocumentTotalTax",
            "DocumentCharges",
            "DocumentDiscounts",
        ] {
            let rows = read_sheet(path, sheet);
            for row in rows.data_rows() {
                assert!(
                    numbers.contains(&text(&row[rows.col("eInvoiceNumber")])),
                    "{sheet} row of another workbook"
                );
            }
        }
        selfbill().arg("check").arg(path).assert().success();
    }
    assert_eq!(seen.len() as u64, invoiced);
    // Each invoice's JSON entry names the workbook holding it.
    let per_invoice = report["invoices"].as_array().unwrap();
    assert_eq!(per_invoice.len() as u64, invoiced);
    assert_eq!(per_invoice[0]["output"], outputs[0].as_str());
    assert_eq!(
        per_invoice[per_invoice.len() - 1]["output"],
        outputs[outputs.len() - 1].as_str()
    );
}

#[test]
fn output_through_a_pipe_has_no_colour_or_progress() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let output = selfbill()
        .env_remove("NO_COLOR")
        .args([
            "convert",
            SAMPLE,
            "--no-register",
            "--config",
            "fixtures/selfbill.toml",
            "--suppliers",
            "fixtures/suppliers.csv",
            "--rate",
            "0.6097",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(!output.stdout.contains(&0x1b), "no escape codes on stdout");
    assert!(!output.stderr.contains(&0x1b), "no escape codes on stderr");
    assert!(
        output.stderr.is_empty(),
        "nothing but the report: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("invoices written"));

    // Colour only when asked for, and never with --color never.
    let faulty = data("faulty-batch.xlsx");
    let coloured = selfbill()
        .args(["--color", "always", "check"])
        .arg(&faulty)
        .output()
        .unwrap();
    assert!(coloured.stdout.contains(&0x1b));
    let plain = selfbill()
        .args(["--color", "never", "check"])
        .arg(&faulty)
        .output()
        .unwrap();
    assert!(!plain.stdout.contains(&0x1b));
    let no_color = selfbill()
        .env("NO_COLOR", "1")
        .arg("check")
        .arg(&faulty)
        .output()
        .unwrap();
    assert!(!no_color.stdout.contains(&0x1b));
    let quiet = selfbill()
        .args(["check", "--quiet"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stdout.is_empty());
}

#[test]
fn codes_are_searchable_by_code_or_words() {
    let output = selfbill()
        .args(["codes", "classification", "importation goods", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let found = json(&output.stdout);
    assert!(found.as_array().unwrap().iter().any(|c| c["code"] == "034"));
    let output = selfbill().args(["codes", "unit", "H87"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("piece"));
    let output = selfbill().args(["codes", "nonsense"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("classification, msic, unit"));

    // No match: nothing on stdout (`[]` with --json), a line on stderr, exit 1.
    let output = selfbill()
        .args(["codes", "unit", "no such unit"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no code in the unit table matches \"no such unit\""),
        "{stderr}"
    );
    let output = selfbill()
        .args(["codes", "unit", "no such unit", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json(&output.stdout), serde_json::json!([]));
}

#[test]
fn codes_fit_the_terminal() {
    let output = selfbill()
        .env("COLUMNS", "60")
        .args(["codes", "msic", "wholesale"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().count() > 10, "{stdout}");
    for line in stdout.lines() {
        assert!(line.chars().count() <= 60, "{line}");
    }
}

#[test]
fn init_creates_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), &["init", "books/selfbill"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(dir.path().join("books/selfbill/selfbill.toml").is_file());
    assert!(dir.path().join("books/selfbill/suppliers.csv").is_file());
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let output = run_in(dir.path(), &["init", "a-file"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[test]
fn completions_and_help_are_there() {
    let output = selfbill().args(["completions", "bash"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let script = String::from_utf8_lossy(&output.stdout);
    assert!(script.contains("selfbill"));
    assert!(
        script.contains("classification msic unit state country currency tax payment type"),
        "completions offer the code tables"
    );
    for command in [
        "convert",
        "check",
        "init",
        "suppliers",
        "codes",
        "completions",
    ] {
        let help = selfbill().args([command, "--help"]).output().unwrap();
        assert_eq!(help.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("Example"),
            "{command} --help has examples"
        );
    }
}
