//! Every 1688 file a bookkeeper really has: re-saves, old layouts, several
//! exports, and files that cannot be used.

use crate::common::*;
use std::path::Path;

#[test]
fn every_saving_of_one_export_gives_the_same_invoices() {
    let dir = tempfile::tempdir().unwrap();
    let reference_out = dir.path().join("reference.xlsx");
    convert(&[&root().join(SAMPLE)], &reference_out, &[]).success();
    let reference = invoice_data(&reference_out);
    for variant in [
        "inline-strings-false-dimension.xlsx",
        "old-layout.xls",
        "orders-utf8-bom.csv",
        "orders-gb18030.csv",
    ] {
        let out = dir.path().join(format!("{variant}.xlsx"));
        convert(&[&data(variant)], &out, &[]).success();
        assert_eq!(invoice_data(&out), reference, "{variant}");
    }
}

#[test]
fn the_csv_encoding_can_be_forced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    convert(
        &[&data("orders-gb18030.csv")],
        &out,
        &["--encoding", "gb18030"],
    )
    .success();
    let wrong = dir.path().join("wrong.xlsx");
    let assert = convert(
        &[&data("orders-gb18030.csv")],
        &wrong,
        &["--encoding", "utf-8"],
    )
    .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("not UTF-8") && stderr.contains("--encoding gb18030"),
        "{stderr}"
    );
    assert!(!wrong.exists());
}

/// Runs convert on a bad file: exit 2, one line naming the file and the cause, nothing written.
fn refused(input: &Path, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[input], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for part in expected {
        assert!(stderr.contains(part), "{input:?}: {part:?} not in {stderr}");
    }
    assert!(assert.get_output().stdout.is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn bad_files_are_refused_with_their_cause() {
    refused(
        &data("not-a-spreadsheet.xlsx"),
        &["not-a-spreadsheet.xlsx", "not a spreadsheet"],
    );
    refused(
        &data("truncated.xlsx"),
        &["truncated.xlsx", "truncated or damaged"],
    );
    refused(
        &data("password-protected.xlsx"),
        &[
            "password-protected.xlsx",
            "password-protected",
            "remove the password",
        ],
    );
    refused(
        &data("empty-sheet.xlsx"),
        &["empty-sheet.xlsx", "sheet1", "the sheet is empty"],
    );
    refused(
        &data("no-such-file.xlsx"),
        &["no-such-file.xlsx", "cannot be read"],
    );
    refused(&root().join("tests/data"), &["tests/data", "is a folder"]);
    refused(
        &data("seller-export.xlsx"),
        &[
            "seller-export.xlsx",
            "seller (卖家) order report",
            "我的订单 → 导出",
        ],
    );
    refused(
        &data("ragged.csv"),
        &[
            "ragged.csv",
            "line 2 has more cells than the header (line 1, 49 columns)",
        ],
    );
}

#[test]
fn a_header_only_export_has_no_orders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&data("header-only.xlsx")], &out, &["--json"]).success();
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["summary"]["orders"], 0);
    assert_eq!(report["findings"][0]["rule"], "convert.nothing-to-write");
    assert_eq!(report["findings"][0]["message"], "no orders in the export");
    assert!(!out.exists());
}

#[test]
fn overlapping_monthly_exports_give_each_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(
        &[&data("orders-oct.xlsx"), &data("orders-nov.xlsx")],
        &out,
        &["--json"],
    )
    .success();
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["summary"]["files"], 2);
    assert_eq!(report["summary"]["orders"], 10);
    assert_eq!(report["summary"]["invoices"], 6);
    let documents = read_sheet(&out, "Documents");
    assert_eq!(documents.data_rows().len(), 6);
    let duplicates: Vec<&serde_json::Value> = findings_of(&report, "order.duplicate-identical");
    assert_eq!(duplicates.len(), 2, "orders 5 and 6 are in both files");
    // The finding is located at the second copy; its message names the first.
    let message = duplicates[0]["message"].as_str().unwrap();
    assert!(message.contains("orders-oct.xlsx"), "{message}");
    let file = duplicates[0]["file"].as_str().unwrap();
    assert!(file.ends_with("orders-nov.xlsx"), "{file}");
}

#[test]
fn an_order_whose_copies_differ_is_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(
        &[&data("orders-oct.xlsx"), &data("orders-nov-differs.xlsx")],
        &out,
        &["--json"],
    )
    .code(1);
    assert!(!out.exists());
    let report = json(&assert.get_output().stdout);
    let error = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "order.duplicate-differs")
        .expect("a finding for the differing order");
    assert_eq!(error["invoice"], "2420281234567540006");
    let message = error["message"].as_str().unwrap();
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with("orders-nov-differs.xlsx"),
        "{error}"
    );
    assert_eq!(
        (&error["sheet"], &error["row"]),
        (&"sheet1".into(), &3.into())
    );
    assert!(
        message.contains("orders-oct.xlsx, sheet sheet1, row 10"),
        "{message}"
    );
}

/// The differing copy comes in the second export, after its first copy's
/// workbook (one invoice per file) is already built: that invoice is still
/// left out, and the set is numbered as if it never was.
#[test]
fn a_copy_found_to_differ_late_still_keeps_its_order_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(
        &[&data("orders-oct.xlsx"), &data("orders-nov-differs.xlsx")],
        &out,
        &["--json", "--skip-invalid", "--max-per-file", "1"],
    )
    .code(1);
    let report = json(&assert.get_output().stdout);
    let differs = findings_of(&report, "order.duplicate-differs");
    assert_eq!(differs.len(), 1, "{differs:?}");
    assert_eq!(differs[0]["invoice"], "2420281234567540006");
    let invoices = report["invoices"].as_array().unwrap();
    let written: Vec<&str> = invoices
        .iter()
        .map(|i| i["order"].as_str().unwrap())
        .collect();
    assert!(!written.contains(&"2420281234567540006"), "{written:?}");
    assert_eq!(
        report["summary"]["invoiced"].as_u64().unwrap() as usize,
        written.len(),
        "the differing order is not counted as invoiced"
    );
    // One workbook per invoice, numbered without gaps, and nothing else.
    let outputs = report["summary"]["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), written.len());
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let expected: Vec<String> = (1..=written.len())
        .map(|i| format!("e-{i:03}.xlsx"))
        .collect();
    assert_eq!(on_disk, expected);
    for (index, name) in expected.iter().enumerate() {
        let documents = read_sheet(&dir.path().join(name), "Documents");
        let rows = documents.data_rows();
        assert_eq!(rows.len(), 1, "{name}");
        assert_eq!(
            text(&rows[0][documents.col("eInvoiceNumber")]),
            invoices[index]["invoice"].as_str().unwrap(),
            "{name}"
        );
    }
}
