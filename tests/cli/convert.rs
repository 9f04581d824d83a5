//! `selfbill convert` end to end: the real binary on real files, outputs read back.

use crate::common::*;
use calamine::Data;
use std::path::Path;

/// The sample export's invoiced orders and their 实付款 (6 of 10: two held,
/// one refunding and one not yet shipped; two closed).
const PAID: [(&str, &str); 6] = [
    ("2420101234567540001", "589.00"),
    ("2420151234567540002", "738.00"),
    ("2420221234567540003", "170.00"),
    ("2420281234567540006", "220.50"),
    ("2421111234567540009", "166.00"),
    ("2421181234567540010", "84.00"),
];

fn convert_sample(dir: &Path, export: &Path) -> std::path::PathBuf {
    let out = dir.join("einvoices.xlsx");
    convert(&[export], &out, &[]).success();
    out
}

#[test]
fn writes_lhdns_workbook_for_the_sample_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert_sample(dir.path(), &root().join(SAMPLE));

    // LHDN's sheets, in LHDN's order: the 11 visible ones first, then the
    // template's hidden code sheets.
    let template = root().join("assets/lhdn-batch-upload-template.xlsx");
    assert_eq!(sheet_names(&out), sheet_names(&template));
    assert_eq!(sheet_names(&out)[..SHEETS.len()], SHEETS);

    // Rows 1-5 of every sheet are LHDN's, cell for cell, formulas included.
    for name in SHEETS {
        let ours = read_sheet(&out, name);
        let lhdn = read_sheet(&template, name);
        for row in 1..=5u32 {
            let width = lhdn.rows[row as usize - 1]
                .len()
                .max(ours.rows[row as usize - 1].len());
            for col in 0..width {
                assert_eq!(
                    text(ours.cell(row, col)),
                    text(lhdn.cell(row, col)),
                    "{name} row {row} column {col}"
                );
                let formula = |s: &Sheet| {
                    s.formulas
                        .get(row as usize - 1)
                        .and_then(|r| r.get(col))
                        .cloned()
                        .unwrap_or_default()
                };
                assert_eq!(
                    formula(&ours),
                    formula(&lhdn),
                    "{name} row {row} column {col} formula"
                );
            }
        }
    }
    // The two headers with LHDN's trailing space keep it.
    let documents = read_sheet(&out, "Documents");
    assert!(documents.rows[3].iter().any(|c| text(c) == "PaymentMode "));
    assert!(
        documents.rows[3]
            .iter()
            .any(|c| text(c) == "SupplierBankAccountNumber ")
    );

    // One Documents row per invoiced order, TotalPayableAmount = 实付款.
    let docs = documents.data_rows();
    assert_eq!(docs.len(), PAID.len());
    let number = documents.col("eInvoiceNumber");
    let payable = documents.col("TotalPayableAmount");
    for (row, (order, paid)) in docs.iter().zip(PAID) {
        assert_eq!(text(&row[number]), order);
        assert_eq!(decimal(&row[payable]), dec(paid), "order {order}");
        assert_eq!(text(&row[documents.col("eInvoiceTypeCode")]), "11");
        assert_eq!(text(&row[documents.col("eInvoiceVersion")]), "1.1");
        assert_eq!(text(&row[documents.col("CurrencyCode")]), "CNY");
        assert_eq!(
            decimal(&row[documents.col("CurrencyExchangeRate")]),
            dec("0.6097")
        );
        assert_eq!(text(&row[documents.col("Buyer.TIN")]), "C1234567890");
        assert_eq!(text(&row[documents.col("Buyer.Address.State")]), "14");
        // Codes are text cells, leading zeros kept.
        assert!(
            matches!(row[documents.col("Supplier.MSIC.Code")], Data::String(ref s) if s == "00000")
        );
        // IssuanceDateTime is an Excel date-time in UTC.
        match &row[documents.col("IssuanceDateTime")] {
            Data::DateTime(dt) => assert_eq!(
                dt.as_datetime()
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
                ISSUED_AT
            ),
            other => panic!("IssuanceDateTime is {other:?}"),
        }
    }

    // Lines, one LineItemsTaxes row each, one DocumentTotalTax per invoice.
    let lines = read_sheet(&out, "DocumentLineItems");
    let taxes = read_sheet(&out, "LineItemsTaxes");
    let total_tax = read_sheet(&out, "DocumentTotalTax");
    assert_eq!(
        lines.data_rows().len(),
        11,
        "15 export lines less 4 on orders not invoiced"
    );
    assert_eq!(taxes.data_rows().len(), 11);
    assert_eq!(total_tax.data_rows().len(), 6);
    for row in taxes.data_rows() {
        assert_eq!(text(&row[taxes.col("TaxType")]), "06");
        assert_eq!(decimal(&row[taxes.col("TaxAmount")]), dec("0"));
    }
    for row in lines.data_rows() {
        assert_eq!(text(&row[lines.col("Classification")]), "034");
        assert_eq!(text(&row[lines.col("CountryofOrigin")]), "CHN");
    }
}

fn rows_of<'a>(sheet: &'a Sheet, order: &str) -> Vec<&'a Vec<Data>> {
    let number = sheet.col("eInvoiceNumber");
    sheet
        .data_rows()
        .into_iter()
        .filter(|r| text(&r[number]) == order)
        .collect()
}

#[test]
fn maps_discounts_charges_quantities_prices_and_suppliers() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert_sample(dir.path(), &root().join(SAMPLE));
    let documents = read_sheet(&out, "Documents");
    let lines = read_sheet(&out, "DocumentLineItems");
    let charges = read_sheet(&out, "DocumentCharges");
    let discounts = read_sheet(&out, "DocumentDiscounts");

    // O2: discount −20.00, shipping 8.00, a 4-decimal unit price 0.1250 × 200.
    let o2 = "2420151234567540002";
    let o2_discounts = rows_of(&discounts, o2);
    assert_eq!(o2_discounts.len(), 1);
    assert_eq!(
        decimal(&o2_discounts[0][discounts.col("DiscountAmount")]),
        dec("20")
    );
    let o2_charges = rows_of(&charges, o2);
    assert_eq!(o2_charges.len(), 1);
    assert_eq!(
        text(&o2_charges[0][charges.col("ChargeDescription")]),
        "Shipping fee (运费)"
    );
    assert_eq!(
        decimal(&o2_charges[0][charges.col("ChargeAmount")]),
        dec("8")
    );
    let o2_lines = rows_of(&lines, o2);
    assert_eq!(o2_lines.len(), 3);
    assert_eq!(decimal(&o2_lines[2][lines.col("UnitPrice")]), dec("0.125"));
    assert_eq!(decimal(&o2_lines[2][lines.col("Subtotal")]), dec("25"));
    assert_eq!(
        text(&o2_lines[0][lines.col("UnitOfMeasurement")]),
        "H87",
        "条 → H87"
    );
    let doc = &rows_of(&documents, o2)[0];
    assert_eq!(decimal(&doc[documents.col("TotalNetAmount")]), dec("750"));
    assert_eq!(
        decimal(&doc[documents.col("TotalDiscountValue")]),
        dec("20")
    );
    assert_eq!(decimal(&doc[documents.col("TotalChargeAmount")]), dec("8"));
    assert_eq!(
        decimal(&doc[documents.col("TotalExcludingTax")]),
        dec("738")
    );

    // O3: zero shipping (no charge row), fractional quantity 25.5 米.
    let o3 = "2420221234567540003";
    assert!(rows_of(&charges, o3).is_empty());
    let o3_line = &rows_of(&lines, o3)[0];
    assert_eq!(decimal(&o3_line[lines.col("Quantity")]), dec("25.5"));
    assert_eq!(text(&o3_line[lines.col("UnitOfMeasurement")]), "MTR");
    assert_eq!(decimal(&o3_line[lines.col("Subtotal")]), dec("173.4"));

    // O6: a price increase of 5.00 is a charge beside shipping.
    let o6_charges = rows_of(&charges, "2420281234567540006");
    let descriptions: Vec<String> = o6_charges
        .iter()
        .map(|r| text(&r[charges.col("ChargeDescription")]))
        .collect();
    assert_eq!(
        descriptions,
        ["Shipping fee (运费)", "Price increase (涨价)"]
    );
    assert_eq!(
        text(&rows_of(&lines, "2420281234567540006")[0][lines.col("UnitOfMeasurement")]),
        "SET"
    );

    // O1's seller is in the directory; O2's has only its phone there and takes LHDN's
    // foreign-supplier defaults for the rest.
    let o1 = &rows_of(&documents, "2420101234567540001")[0];
    assert_eq!(
        text(&o1[documents.col("Supplier.Address.CityName")]),
        "Yiwu"
    );
    assert_eq!(
        text(&o1[documents.col("Supplier.ContactNumber")]),
        "+8657985550101"
    );
    assert!(text(&o1[documents.col("Supplier.Name")]).starts_with("Yiwu Shili"));
    assert_eq!(
        text(&doc[documents.col("Supplier.Name")]),
        "深圳市样本电子科技有限公司"
    );
    for (header, value) in [
        ("Supplier.TIN", "EI00000000030"),
        ("Supplier.IDType", "BRN"),
        ("Supplier.IDNo", "NA"),
        ("Supplier.SST.No", "NA"),
        ("Supplier.TTX.No", "NA"),
        ("Supplier.MSIC.Code", "00000"),
        ("Supplier.BusinessActivityDescription", "NA"),
        ("Supplier.Address.AddressLine0", "NA"),
        // After NA, only the state and country (LHDN's template comment).
        ("Supplier.Address.CityName", ""),
        ("Supplier.Address.State", "17"),
        ("Supplier.Address.CountryCode", "CHN"),
        ("Supplier.ContactNumber", "+8675585550202"),
    ] {
        assert_eq!(text(&doc[documents.col(header)]), value, "{header}");
    }
}

#[test]
fn reports_status_classes_and_missing_supplier_details() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&root().join(SAMPLE)], &out, &["--json"]).success();
    let report = json(&assert.get_output().stdout);
    let summary = &report["summary"];
    assert_eq!(summary["orders"], 10);
    assert_eq!(summary["invoiced"], 6);
    assert_eq!(summary["held"], 2);
    assert_eq!(summary["skipped"], 2);
    assert_eq!(summary["invoices"], 6);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["total_cny"], "1967.50");
    assert_eq!(summary["outputs"][0], out.display().to_string());
    let findings = report["findings"].as_array().unwrap();
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules.iter().filter(|r| **r == "order.held").count(), 2);
    assert_eq!(rules.iter().filter(|r| **r == "order.skipped").count(), 2);
    // One warning per seller lacking an address (S2 and S4), naming the export row.
    let missing: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["rule"] == "supplier.details-missing")
        .collect();
    assert_eq!(missing.len(), 2);
    assert_eq!(missing[0]["value"], "szyangbendz");
    assert_eq!(missing[0]["row"], 4);
    assert_eq!(missing[0]["sheet"], "sheet1");
    let held: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["rule"] == "order.held")
        .collect();
    assert_eq!(held[0]["row"], 12);
    assert_eq!(held[0]["column"], "订单状态");
    assert_eq!(held[0]["value"], "退款中");
    // Not shipped yet: held until it is.
    assert_eq!(held[1]["value"], "等待卖家发货");
    assert!(
        held[1]["message"]
            .as_str()
            .unwrap()
            .contains("invoice once shipped")
    );
}

#[test]
fn every_export_variant_gives_the_same_invoices() {
    let dir = tempfile::tempdir().unwrap();
    let reference = invoice_data(&convert_sample(dir.path(), &root().join(SAMPLE)));
    for variant in [
        "inline-strings-false-dimension.xlsx",
        "orders.xls",
        "unmerged-text-amounts-date-cells.xlsx",
    ] {
        let sub = dir.path().join(variant.replace('.', "-"));
        std::fs::create_dir(&sub).unwrap();
        let out = convert_sample(&sub, &data(variant));
        assert_eq!(invoice_data(&out), reference, "{variant}");
    }
}

#[test]
fn same_inputs_give_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.xlsx");
    let b = dir.path().join("b.xlsx");
    convert(&[&root().join(SAMPLE)], &a, &[]).success();
    convert(&[&root().join(SAMPLE)], &b, &[]).success();
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn an_order_that_does_not_reconcile_is_an_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&data("does-not-reconcile.xlsx")], &out, &["--json"]).code(1);
    assert!(!out.exists(), "no output on errors");
    let report = json(&assert.get_output().stdout);
    let errors: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0];
    assert_eq!(error["rule"], "order.does-not-reconcile");
    assert_eq!(error["invoice"], "2420101234567540001");
    assert_eq!(error["row"], 2);
    assert_eq!(error["column"], "实付款(元)");
    assert_eq!(error["value"], "590");
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with("does-not-reconcile.xlsx")
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("2420101234567540001")
    );
    assert_eq!(report["summary"]["outputs"].as_array().unwrap().len(), 0);

    // --skip-invalid writes the five good invoices and still exits 1.
    let assert = convert(
        &[&data("does-not-reconcile.xlsx")],
        &out,
        &["--json", "--skip-invalid"],
    )
    .code(1);
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["summary"]["invoices"], 5);
    assert_eq!(read_sheet(&out, "Documents").data_rows().len(), 5);
}

#[test]
fn an_order_number_stored_as_a_number_and_an_unknown_status_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&data("order-number-as-number.xlsx")], &out, &["--json"]).code(1);
    assert!(!out.exists());
    let report = json(&assert.get_output().stdout);
    let findings = report["findings"].as_array().unwrap();
    let id = findings
        .iter()
        .find(|f| f["rule"] == "export.order-number-not-text")
        .expect("order number finding");
    assert_eq!(id["row"], 2);
    assert_eq!(id["column"], "订单编号");
    let status = findings
        .iter()
        .find(|f| f["rule"] == "order.unknown-status")
        .expect("status finding");
    assert_eq!(status["row"], 7);
    assert_eq!(status["value"], "已冻结");
}

#[test]
fn missing_columns_are_named_with_the_closest_header() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&data("missing-columns.xlsx")], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("missing-columns.xlsx"), "{stderr}");
    assert!(stderr.contains("实付款(元)"), "{stderr}");
    assert!(
        stderr.contains("数量 (closest header found: 数目, column T)"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_file_that_is_not_a_spreadsheet_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&data("not-a-spreadsheet.xlsx")], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("not-a-spreadsheet.xlsx: not a spreadsheet"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn an_existing_output_is_never_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    std::fs::write(&out, b"keep me").unwrap();
    let assert = convert(&[&root().join(SAMPLE)], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    convert(&[&root().join(SAMPLE)], &out, &["--force"]).success();
    assert_eq!(read_sheet(&out, "Documents").data_rows().len(), 6);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left");
}

#[test]
fn splits_into_numbered_workbooks_keeping_each_invoice_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    convert(&[&root().join(SAMPLE)], &out, &["--max-per-file", "3"]).success();
    assert!(!out.exists());
    assert!(!dir.path().join("e-003.xlsx").exists());
    let mut seen = Vec::new();
    for (name, expected) in [("e-001.xlsx", 3), ("e-002.xlsx", 3)] {
        let part = dir.path().join(name);
        let documents = read_sheet(&part, "Documents");
        let numbers: Vec<String> = documents
            .data_rows()
            .iter()
            .map(|r| text(&r[documents.col("eInvoiceNumber")]))
            .collect();
        assert_eq!(numbers.len(), expected, "{name}");
        for sheet in [
            "DocumentLineItems",
            "LineItemsTaxes",
            "DocumentTotalTax",
            "DocumentCharges",
        ] {
            let rows = read_sheet(&part, sheet);
            for row in rows.data_rows() {
                let number = text(&row[rows.col("eInvoiceNumber")]);
                assert!(
                    numbers.contains(&number),
                    "{name} {sheet} has {number} of another workbook"
                );
            }
        }
        selfbill().arg("check").arg(&part).assert().success();
        seen.extend(numbers);
    }
    seen.sort();
    let mut expected: Vec<String> = PAID.iter().map(|(o, _)| o.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn check_passes_what_convert_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert_sample(dir.path(), &root().join(SAMPLE));
    let assert = selfbill()
        .args(["check", "--json"])
        .arg(&out)
        .assert()
        .success();
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["summary"]["errors"], 0);
    assert_eq!(report["summary"]["invoices"], 6);
}

#[test]
fn writes_csv_per_sheet_that_check_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("csv");
    convert(&[&root().join(SAMPLE)], &out, &["--format", "csv"]).success();
    let documents = std::fs::read(out.join("Documents.csv")).unwrap();
    assert!(documents.starts_with(b"\xEF\xBB\xBFeInvoiceNumber,eInvoiceTypeCode,"));
    let text = String::from_utf8(documents).unwrap();
    assert!(text.contains("PaymentMode ,SupplierBankAccountNumber ,"));
    assert_eq!(text.lines().count(), 7, "header + 6 invoices");
    assert!(out.join("DocumentLineItems.csv").exists());
    assert!(
        !out.join("DocumentReferences.csv").exists(),
        "only sheets with data"
    );
    selfbill().arg("check").arg(&out).assert().success();
}

#[test]
fn customs_references_and_incoterms_reach_the_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let customs = dir.path().join("customs.csv");
    std::fs::write(
        &customs,
        "order_no,customs_ref\n2420101234567540001,\"K1-2024-000123,K1-2024-000124\"\n2421181234567540010,K1-2024-000999\n",
    )
    .unwrap();
    let config = dir.path().join("selfbill.toml");
    let toml = std::fs::read_to_string(root().join("fixtures/selfbill.toml")).unwrap();
    std::fs::write(
        &config,
        toml.replace(
            "currency = \"CNY\"",
            "currency = \"CNY\"\nincoterms = \"EXW\"",
        ),
    )
    .unwrap();
    let out = dir.path().join("e.xlsx");
    selfbill()
        .args(["convert", SAMPLE, "--rate", "0.6097", "--customs"])
        .arg(&customs)
        .args(["--suppliers", "fixtures/suppliers.csv"])
        .arg("--config")
        .arg(&config)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let forms = read_sheet(&out, "ReferenceNumberCustomsForms");
    let rows: Vec<Vec<String>> = forms
        .data_rows()
        .iter()
        .map(|r| r[1..4].iter().map(text).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["1", "2420101234567540001", "K1-2024-000123,K1-2024-000124"],
            ["2", "2421181234567540010", "K1-2024-000999"],
        ]
    );
    let documents = read_sheet(&out, "Documents");
    for row in documents.data_rows() {
        assert_eq!(text(&row[documents.col("Incoterms")]), "EXW");
    }
    selfbill().arg("check").arg(&out).assert().success();
}

#[test]
fn the_text_report_lists_each_invoice_with_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&root().join(SAMPLE)], &out, &[]).success();
    let table = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(table.contains("rate (MYR per CNY)"), "{table}");
    let o1 = table
        .lines()
        .find(|l| l.contains("2420101234567540001") && l.contains("589.00"))
        .expect("a row for O1");
    assert!(o1.contains("0.6097") && o1.contains("359.11"), "{o1}");
}

#[test]
fn skip_invalid_leaves_the_summary_as_it_is() {
    // No seller has a phone, so every invoice has an error: without
    // --skip-invalid nothing is written, with it nothing valid is left to
    // write. Either way the run read and invoiced the same orders.
    let dir = tempfile::tempdir().unwrap();
    let suppliers = dir.path().join("suppliers.csv");
    std::fs::write(&suppliers, "member_id,name,phone\n").unwrap();
    let run = |extra: &[&str]| {
        let out = dir.path().join("e.xlsx");
        let args: Vec<&str> = ["--json"].iter().chain(extra).copied().collect();
        let assert =
            convert_with_suppliers(&[&root().join(SAMPLE)], &out, &suppliers, &args).code(1);
        assert!(!out.exists());
        json(&assert.get_output().stdout)["summary"].clone()
    };
    let plain = run(&[]);
    let skipping = run(&["--skip-invalid"]);
    assert_eq!(plain["invoiced"], 6);
    assert_eq!(plain["total_cny"], "1967.50");
    assert_eq!(plain["invoices"], 0);
    assert_eq!(skipping, plain);
}

#[test]
fn totals_of_nothing_are_written_with_cents() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&data("header-only.xlsx")], &out, &["--json"]).success();
    let summary = json(&assert.get_output().stdout)["summary"].clone();
    assert_eq!(summary["total_cny"], "0.00");
    assert_eq!(summary["total_myr"], "0.00");
}

#[test]
fn an_output_name_without_an_extension_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("einvoices-nov");
    let assert = convert(&[&root().join(SAMPLE)], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("einvoices-nov.xlsx") && stderr.contains("--format csv"),
        "{stderr}"
    );
    assert!(!out.exists(), "no folder of CSVs");
    // An existing folder, or --format csv, still means CSV.
    convert(&[&root().join(SAMPLE)], &out, &["--format", "csv"]).success();
    assert!(out.join("Documents.csv").exists());
    convert(&[&root().join(SAMPLE)], &out, &["--force"]).success();
}

/// With --skip-invalid, a workbook of a split output whose only invoice has
/// an error is not written, and the workbooks after it are numbered without
/// a gap.
#[test]
fn skip_invalid_numbers_the_workbooks_written_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    // szyangbendz (the second order's seller) has no phone.
    let suppliers = dir.path().join("suppliers.csv");
    let directory = std::fs::read_to_string(root().join("fixtures/suppliers.csv")).unwrap();
    std::fs::write(
        &suppliers,
        directory.replace("szyangbendz,,,,,,,+8675585550202", "szyangbendz,,,,,,,"),
    )
    .unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert_with_suppliers(
        &[&root().join(SAMPLE)],
        &out,
        &suppliers,
        &["--json", "--skip-invalid", "--max-per-file", "1"],
    )
    .code(1);
    let report = json(&assert.get_output().stdout);
    let invoices = report["invoices"].as_array().unwrap();
    let written: Vec<(&str, &str)> = invoices
        .iter()
        .map(|i| {
            (
                i["invoice"].as_str().unwrap(),
                i["output"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(written.len(), 5, "{written:?}");
    assert!(!written.iter().any(|(number, _)| number.ends_with("0002")));
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".xlsx"))
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        [
            "e-001.xlsx",
            "e-002.xlsx",
            "e-003.xlsx",
            "e-004.xlsx",
            "e-005.xlsx"
        ]
    );
    for (number, output) in written {
        let documents = read_sheet(Path::new(output), "Documents");
        let rows = documents.data_rows();
        assert_eq!(rows.len(), 1, "{output}");
        assert_eq!(text(&rows[0][documents.col("eInvoiceNumber")]), number);
    }
    // e-002 holds the third order's invoice.
    let second = read_sheet(&dir.path().join("e-002.xlsx"), "Documents");
    assert!(text(&second.data_rows()[0][second.col("eInvoiceNumber")]).ends_with("0003"));
}
