//! What convert remembers of each order (to find a later copy, or an
//! invoice number taken twice) waits on disk past a cap: the run reports
//! and writes exactly what it would with everything in memory. The cap is
//! made tiny (`SELFBILL_TEST_ORDER_CAP`) so that a small month goes past it
//! many times.

use crate::common::*;
use crate::workflow::gen_export;
use std::path::Path;

/// A month in `dir`: a generated export and its copy (every order twice,
/// in two exports), October's and November's exports (two orders in
/// both), the supplier directory and a customs file naming one order read
/// first and one that is in no export.
fn month(dir: &Path, november: &str) -> Vec<String> {
    let big = dir.join("big.xlsx");
    gen_export::write_export(120, big.to_str().unwrap()).unwrap();
    std::fs::copy(&big, dir.join("big-again.xlsx")).unwrap();
    // The fixture directory's sellers, and the generated export's.
    let generated = dir.join("generated.csv");
    gen_export::write_suppliers(generated.to_str().unwrap()).unwrap();
    let mut suppliers = std::fs::read_to_string(root().join("fixtures/suppliers.csv")).unwrap();
    for row in std::fs::read_to_string(&generated).unwrap().lines().skip(1) {
        let [id, name, phone, address, city, state, country] =
            row.split(',').collect::<Vec<_>>()[..]
        else {
            panic!("{row}");
        };
        suppliers.push_str(&format!(
            "{id},{name},,,,,,{phone},{address},,,,{city},{state},{country}\n"
        ));
    }
    std::fs::write(dir.join("suppliers.csv"), suppliers).unwrap();
    std::fs::write(
        dir.join("customs.csv"),
        "order_no,customs_ref\n2410000000000000001,B10-1\n2420999999999999999,B10-2\n",
    )
    .unwrap();
    let oct = data("orders-oct.xlsx");
    let nov = data(november);
    vec![
        big.display().to_string(),
        oct.display().to_string(),
        dir.join("big-again.xlsx").display().to_string(),
        nov.display().to_string(),
    ]
}

/// What a run said and wrote: its JSON report with its folder's name
/// taken out, and the data of each workbook.
#[derive(Debug, PartialEq)]
struct Run {
    code: Option<i32>,
    report: String,
    outputs: Vec<std::collections::BTreeMap<String, Vec<Vec<String>>>>,
}

/// The month converted, then converted again with the same register (every
/// order then already invoiced); no temporary file is left behind.
fn convert_month(november: &str, cap: Option<&str>, extra: &[&str]) -> [Run; 2] {
    let dir = tempfile::tempdir().unwrap();
    let exports = month(dir.path(), november);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let run = |name: &str| {
        let mut cmd = selfbill();
        cmd.arg("convert")
            .args(&exports)
            .arg("-o")
            .arg(dir.path().join("out").join(name));
        cmd.args(["--config", "fixtures/selfbill.toml", "--suppliers"])
            .arg(dir.path().join("suppliers.csv"))
            .arg("--customs")
            .arg(dir.path().join("customs.csv"))
            .args(["--rate", "0.6097", "--issued-at", ISSUED_AT, "--json"])
            .arg("--register")
            .arg(dir.path().join("register.db"))
            .args(extra);
        if let Some(cap) = cap {
            cmd.env("SELFBILL_TEST_ORDER_CAP", cap);
        }
        let output = cmd.output().unwrap();
        let report = String::from_utf8(output.stdout).unwrap();
        let value = json(report.as_bytes());
        let outputs = value["summary"]["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| invoice_data(Path::new(o.as_str().unwrap())))
            .collect();
        Run {
            code: output.status.code(),
            report: report.replace(&dir.path().display().to_string(), "DIR"),
            outputs,
        }
    };
    let runs = [run("e.xlsx"), run("again.xlsx")];
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    runs
}

fn assert_same(november: &str, extra: &[&str]) {
    let whole = convert_month(november, None, extra);
    for run in &whole {
        assert!(
            run.report.contains("order.duplicate-identical"),
            "{}",
            run.report
        );
    }
    assert!(!whole[0].outputs.is_empty(), "{}", whole[0].report);
    assert_ne!(
        whole[0].report, whole[1].report,
        "the second run finds the register's"
    );
    for cap in ["1", "7"] {
        let capped = convert_month(november, Some(cap), extra);
        for (capped, whole) in capped.iter().zip(&whole) {
            assert_eq!(capped, whole, "cap {cap}");
        }
    }
}

#[test]
fn orders_past_the_memory_cap_are_judged_as_those_within_it() {
    // Every order of the generated export has an identical copy in the
    // other; October's and November's share two orders.
    assert_same("orders-nov.xlsx", &["--max-per-file", "25"]);
}

#[test]
fn a_differing_copy_past_the_memory_cap_is_found_as_within_it() {
    // November's copy of an October order differs: the exports are read
    // again knowing it, and its copies are left out.
    assert_same("orders-nov-differs.xlsx", &["--skip-invalid"]);
}
