//! `selfbill check` on workbooks filled in LHDN's template as a bookkeeper would.

use crate::common::*;
use serde_json::Value;

fn check_json(path: &std::path::Path) -> (i32, Value) {
    let output = selfbill()
        .args(["check", "--json"])
        .arg(path)
        .output()
        .unwrap();
    (output.status.code().unwrap(), json(&output.stdout))
}

fn errors(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect()
}

#[test]
fn a_correctly_filled_workbook_has_no_error() {
    let (code, report) = check_json(&data("good-batch.xlsx"));
    assert_eq!(code, 0, "{report}");
    assert!(errors(&report).is_empty(), "{report}");
    assert_eq!(report["summary"]["invoices"], 4);
    assert_eq!(report["summary"]["files"], 1);
}

#[test]
fn every_planted_mistake_is_an_error_at_its_sheet_row_and_column() {
    let (code, report) = check_json(&data("faulty-batch.xlsx"));
    assert_eq!(code, 1);
    let found = errors(&report);
    let expected = [
        ("format.tin", "Documents", 7, "Supplier.TIN"),
        (
            "currency.rate-missing",
            "Documents",
            8,
            "CurrencyExchangeRate",
        ),
        (
            "code.state-withdrawn",
            "Documents",
            9,
            "Buyer.Address.State",
        ),
        ("format.phone", "Documents", 10, "Buyer.ContactNumber"),
        ("format.email", "Documents", 11, "Buyer.Email"),
        ("math.payable", "Documents", 12, "TotalPayableAmount"),
        ("field.mandatory", "Documents", 13, "Supplier.Name"),
        (
            "duplicate.invoice-number",
            "Documents",
            14,
            "eInvoiceNumber",
        ),
        ("code.unknown", "Documents", 15, "eInvoiceTypeCode"),
        ("code.unknown", "DocumentLineItems", 15, "Classification"),
        ("math.subtotal", "DocumentLineItems", 17, "Subtotal"),
        (
            "field.too-long",
            "DocumentLineItems",
            18,
            "DescriptionProductService",
        ),
        (
            "code.leading-zero-lost",
            "DocumentLineItems",
            19,
            "Classification",
        ),
        (
            "ref.unknown-invoice",
            "DocumentLineItems",
            20,
            "eInvoiceNumber",
        ),
        ("line.missing-tax", "DocumentLineItems", 21, "ID"),
    ];
    for (rule, sheet, row, column) in expected {
        assert!(
            found.iter().any(|f| f["rule"] == rule
                && f["sheet"] == sheet
                && f["row"] == row
                && f["column"] == column),
            "missing {rule} at {sheet} row {row} {column}; found: {found:#?}"
        );
    }
    // LHDN postponed enforcing its unit table (RN 10 Dec 2025): a warning.
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "code.unknown-unit"
                && f["severity"] == "warning"
                && f["sheet"] == "DocumentLineItems"
                && f["row"] == 16
                && f["column"] == "UnitOfMeasurement"),
        "{report:#}"
    );
    // The correct first rows raise nothing.
    assert!(
        !found
            .iter()
            .any(|f| f["sheet"] == "Documents" && f["row"] == 6)
    );
    let tin = found.iter().find(|f| f["rule"] == "format.tin").unwrap();
    assert_eq!(tin["value"], "C01234567890");
    assert_eq!(tin["invoice"], "SB-2026-102");
    assert!(tin["hint"].as_str().unwrap().contains("EI00000000030"));
}

#[test]
fn the_table_lists_every_fault() {
    let output = selfbill()
        .arg("check")
        .arg(data("faulty-batch.xlsx"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let table = String::from_utf8(output.stdout).unwrap();
    for rule in [
        "format.tin",
        "currency.rate-missing",
        "code.state-withdrawn",
        "format.phone",
        "format.email",
        "math.payable",
        "field.mandatory",
        "duplicate.invoice-number",
        "code.unknown",
        "math.subtotal",
        "field.too-long",
        "ref.unknown-invoice",
        "line.missing-tax",
    ] {
        assert!(table.contains(rule), "{rule} not in the table:\n{table}");
    }
    assert!(!table.contains('\u{1b}'), "no colour codes through a pipe");
}

#[test]
fn a_file_that_is_not_a_batch_upload_workbook_cannot_run() {
    let output = selfbill()
        .arg("check")
        .arg(root().join(SAMPLE))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a batch-upload workbook"), "{stderr}");
    assert!(stderr.contains("Documents"), "{stderr}");
    let output = selfbill()
        .arg("check")
        .arg(data("not-a-spreadsheet.xlsx"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn lhdns_empty_template_has_no_invoices_and_no_errors() {
    let (code, report) = check_json(&root().join("assets/lhdn-batch-upload-template.xlsx"));
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["invoices"], 0);
}

#[test]
fn lhdns_older_template_copy_is_accepted() {
    let (code, report) = check_json(&data("lhdn-template-2024-10.xlsx"));
    assert_eq!(code, 0, "{report}");
    assert!(errors(&report).is_empty(), "{report}");
}
