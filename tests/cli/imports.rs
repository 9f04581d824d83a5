//! LHDN's 2026 rules for imports, end to end: a month of orders with a
//! customs file (deadlines, SVDP, concessions, unshipped orders, sellers
//! without a phone), `check` on LHDN's newer validations, and `selfbill init`
//! never producing invoices untouched.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

const HEADER: &str = "订单编号,卖家公司名,卖家会员名,货品总价(元),运费(元),涨价或折扣(元),实付款(元),订单状态,订单付款时间,货品标题,单价(元),数量,单位,型号,订单创建时间";

const LATE: &str = "2607201234567540001";
const EPAM: &str = "2610051234567540002";
const WITH_REFS: &str = "2610081234567540003";
const NOT_IN_CUSTOMS: &str = "2610201234567540004";
const UNSHIPPED: &str = "2610221234567540005";
const NO_PHONE: &str = "2610231234567540006";
const UNKNOWN: &str = "2699991234567549999";

/// October 2026's export: (order, seller, status, paid at), one line of 12.50 × 4 each.
const ORDERS: [(&str, &str, &str, &str); 6] = [
    (LATE, "yiwushili2019", "交易成功", "2026-07-20 10:00:00"),
    (EPAM, "yiwushili2019", "交易成功", "2026-10-05 10:00:00"),
    (WITH_REFS, "gzceshifz", "已收货", "2026-10-08 10:00:00"),
    (
        NOT_IN_CUSTOMS,
        "gzceshifz",
        "交易成功",
        "2026-10-20 10:00:00",
    ),
    (
        UNSHIPPED,
        "gzceshifz",
        "等待卖家发货",
        "2026-10-22 10:00:00",
    ),
    (NO_PHONE, "nophone2026", "交易成功", "2026-10-23 10:00:00"),
];

fn write_month(dir: &Path) {
    let mut export = format!("{HEADER}\n");
    for (order, seller, status, paid_at) in ORDERS {
        export.push_str(&format!(
            "{order},示例供应商,{seller},50.00,0,0,50.00,{status},{paid_at},不锈钢保温杯,12.50,4,个,,{paid_at}\n"
        ));
    }
    std::fs::write(dir.join("orders-2026-10.csv"), export).unwrap();
    // The directory: every seller with a phone but nophone2026.
    let suppliers = std::fs::read_to_string(root().join("fixtures/suppliers.csv")).unwrap();
    std::fs::write(
        dir.join("suppliers.csv"),
        format!("{suppliers}nophone2026,No Phone Trading,,,,,,,No. 1 Example Road,,,,Ningbo,Zhejiang,CHN\n"),
    )
    .unwrap();
    // The customs file, as a workbook: the late order's clearance date is a date cell.
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, h) in ["order_no", "customs_ref", "cleared_on", "concession"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 8, 10).unwrap();
    let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    sheet.write_string(1, 0, LATE).unwrap();
    sheet.write_string(1, 1, "E10000000001").unwrap();
    sheet
        .write_datetime_with_format(1, 2, &date, &format)
        .unwrap();
    let rows = [
        [EPAM, "", "2026-10-12", "e-PAM"],
        [WITH_REFS, "E20000000001, E20000000002", "2026-10-15", ""],
        [UNKNOWN, "E90000000009", "2026-10-16", ""],
        [UNSHIPPED, "", "", ""],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            if !value.is_empty() {
                sheet.write_string(r as u32 + 2, c as u16, *value).unwrap();
            }
        }
    }
    workbook.save(dir.join("customs.xlsx")).unwrap();
}

/// `selfbill convert` of the month in `dir`, with its customs file and
/// directory, and `selfbill.toml` there (else the fixture config).
fn convert_month(dir: &Path, out: &str, customs: &str, extra: &[&str]) -> std::process::Output {
    let local = dir.join("selfbill.toml");
    let config = if local.exists() {
        local
    } else {
        root().join("fixtures/selfbill.toml")
    };
    let mut cmd = selfbill();
    cmd.current_dir(dir)
        .args(["convert", "orders-2026-10.csv", "-o", out])
        .args(["--customs", customs, "--suppliers", "suppliers.csv"])
        .arg("--config")
        .arg(config)
        .args(["--rate", "0.6097", "--issued-at", ISSUED_AT, "--json"])
        .arg("--no-register")
        .args(extra);
    cmd.output().unwrap()
}

#[test]
fn a_month_of_imports_with_a_customs_file() {
    let dir = tempfile::tempdir().unwrap();
    write_month(dir.path());

    // Two errors stop the run: an order cleared three months ago, a seller without a phone.
    let output = convert_month(dir.path(), "e.xlsx", "customs.xlsx", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.path().join("e.xlsx").exists());
    let report = json(&output.stdout);
    let errors: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        ["deadline.passed", "supplier.phone-missing"],
        "{report:#}"
    );

    let late = &findings_of(&report, "deadline.passed")[0];
    assert_eq!(late["invoice"], LATE);
    assert_eq!(late["file"], "customs.xlsx");
    assert_eq!(late["row"], 2);
    assert_eq!(late["column"], "cleared_on");
    assert_eq!(late["value"], "2026-08-10");
    assert!(
        late["message"]
            .as_str()
            .unwrap()
            .contains("due by 2026-10-31")
    );
    assert!(late["hint"].as_str().unwrap().contains("--svdp"));

    let phone = &findings_of(&report, "supplier.phone-missing")[0];
    assert_eq!(phone["invoice"], NO_PHONE);
    assert_eq!(phone["value"], "nophone2026");
    assert_eq!(phone["row"], 7);
    assert!(phone["hint"].as_str().unwrap().contains("联系方式"));

    // The order with a concession needs no reference; the one missing from the file does.
    let missing = findings_of(&report, "customs.missing");
    let orders: Vec<&str> = missing
        .iter()
        .map(|f| f["invoice"].as_str().unwrap())
        .collect();
    assert_eq!(orders, [NOT_IN_CUSTOMS, NO_PHONE]);
    assert!(
        missing[0]["message"]
            .as_str()
            .unwrap()
            .contains("customs.xlsx")
    );
    let unknown = findings_of(&report, "customs.unknown-order");
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["value"], UNKNOWN);
    assert_eq!(unknown[0]["row"], 5);
    // Not shipped: held, whatever the customs file says.
    let held = findings_of(&report, "order.held");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["value"], "等待卖家发货");
    assert!(
        held[0]["message"]
            .as_str()
            .unwrap()
            .contains("invoice once shipped")
    );
    assert_eq!(report["summary"]["held"], 1);
    assert_eq!(report["summary"]["invoiced"], 5);

    // --svdp with the template selfbill carries: it cannot offer SVDP 1.2.
    let output = convert_month(dir.path(), "e.xlsx", "customs.xlsx", &["--svdp"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SVDP 1.2")
            && stderr.contains("MyInvois Portal")
            && stderr.contains("--template"),
        "{stderr}"
    );

    // The seller's phone found; --svdp with LHDN's newest template (a stand-in
    // offering SVDP 1.2): the late invoice, and only it, is written as SVDP 1.2.
    let suppliers = dir.path().join("suppliers.csv");
    let directory = std::fs::read_to_string(&suppliers).unwrap();
    std::fs::write(
        &suppliers,
        directory.replace(
            "No Phone Trading,,,,,,,",
            "No Phone Trading,,,,,,+8657487650000,",
        ),
    )
    .unwrap();
    let template = root().join("tests/data/lhdn-template-svdp.xlsx");
    let output = convert_month(
        dir.path(),
        "e.xlsx",
        "customs.xlsx",
        &["--svdp", "--template", template.to_str().unwrap()],
    );
    let report = json(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(findings_of(&report, "deadline.svdp").len(), 1);
    let out = dir.path().join("e.xlsx");
    let documents = read_sheet(&out, "Documents");
    let versions: Vec<(String, String)> = documents
        .data_rows()
        .iter()
        .map(|r| {
            (
                text(&r[documents.col("eInvoiceNumber")]),
                text(&r[documents.col("eInvoiceVersion")]),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (LATE.to_string(), "SVDP 1.2".to_string()),
            (EPAM.to_string(), "1.1".to_string()),
            (WITH_REFS.to_string(), "1.1".to_string()),
            (NOT_IN_CUSTOMS.to_string(), "1.1".to_string()),
            (NO_PHONE.to_string(), "1.1".to_string()),
        ]
    );
    // The references as LHDN wants them: comma-joined, no spaces.
    let forms = read_sheet(&out, "ReferenceNumberCustomsForms");
    let refs: Vec<(String, String)> = forms
        .data_rows()
        .iter()
        .map(|r| {
            (
                text(&r[forms.col("eInvoiceNumber")]),
                text(&r[forms.col("ReferenceNumberofCustomsFormNo1or9")]),
            )
        })
        .collect();
    assert_eq!(
        refs,
        [
            (LATE.to_string(), "E10000000001".to_string()),
            (
                WITH_REFS.to_string(),
                "E20000000001,E20000000002".to_string()
            ),
        ]
    );
    // check takes SVDP 1.2 as a version.
    let check = selfbill()
        .args(["check", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    let report = json(&check.stdout);
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");

    // The older two-column customs file still reads, as CSV.
    std::fs::write(
        dir.path().join("customs.csv"),
        format!("order_no,customs_ref\n{WITH_REFS},E20000000001\n"),
    )
    .unwrap();
    let output = convert_month(dir.path(), "old.xlsx", "customs.csv", &[]);
    let report = json(&output.stdout);
    // Without a clearance date the July order is only at risk.
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let at_risk = findings_of(&report, "deadline.at-risk");
    assert_eq!(at_risk.len(), 1);
    assert_eq!(at_risk[0]["invoice"], LATE);
    assert_eq!(at_risk[0]["column"], "订单付款时间");
}

#[test]
fn orders_cleared_before_einvoicing_started_need_no_invoice() {
    let dir = tempfile::tempdir().unwrap();
    write_month(dir.path());
    let config = dir.path().join("selfbill.toml");
    let text = std::fs::read_to_string(root().join("fixtures/selfbill.toml")).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "country = \"MYS\"",
            "country = \"MYS\"\neinvoice_from = \"2026-09-01\"",
        ),
    )
    .unwrap();
    let output = convert_month(dir.path(), "e.xlsx", "customs.xlsx", &[]);
    let report = json(&output.stdout);
    let before = findings_of(&report, "order.before-einvoicing");
    assert_eq!(before.len(), 1, "{report:#}");
    assert_eq!(before[0]["invoice"], LATE);
    assert_eq!(before[0]["severity"], "info");
    assert!(findings_of(&report, "deadline.passed").is_empty());
    assert_eq!(report["summary"]["skipped"], 1);
}

#[test]
fn check_reports_lhdns_newer_validations_at_their_cells() {
    let output = selfbill()
        .args(["check", "--json"])
        .arg(data("lhdn-2026-mistakes.xlsx"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output.stdout);
    let expected = [
        (
            "code.state-17-in-malaysia",
            "Documents",
            6,
            "Buyer.Address.State",
            "error",
        ),
        (
            "tin.general-buyer-self-billed",
            "Documents",
            7,
            "Buyer.TIN",
            "error",
        ),
        (
            "tin.foreign-supplier-in-malaysia",
            "Documents",
            8,
            "Supplier.TIN",
            "error",
        ),
        (
            "currency.rate-zero",
            "Documents",
            9,
            "CurrencyExchangeRate",
            "error",
        ),
        (
            "currency.rate-implausible",
            "Documents",
            10,
            "CurrencyExchangeRate",
            "warning",
        ),
        ("format.id-number", "Documents", 11, "Buyer.IDNo", "error"),
        ("format.incoterms", "Documents", 12, "Incoterms", "error"),
        ("field.too-long", "Documents", 13, "eInvoiceNumber", "error"),
        (
            "ref.original-missing",
            "Documents",
            14,
            "eInvoiceTypeCode",
            "error",
        ),
        (
            "format.uuid",
            "DocumentReferences",
            6,
            "OriginaleInvoiceReferenceNumberUUID",
            "error",
        ),
        (
            "format.tariff-code",
            "DocumentLineItems",
            16,
            "ProductTariffCode",
            "error",
        ),
        (
            "format.exemption-details",
            "LineItemsTaxes",
            17,
            "DetailsTaxExemption",
            "error",
        ),
        ("tax.rate-missing", "LineItemsTaxes", 18, "TaxRate", "error"),
        (
            "tax.taxable-amount-missing",
            "LineItemsTaxes",
            19,
            "TaxableAmount",
            "error",
        ),
        (
            "tax.base-unit-missing",
            "LineItemsTaxes",
            20,
            "BaseUnitMeasure",
            "error",
        ),
        (
            "format.customs-ref",
            "ReferenceNumberCustomsForms",
            6,
            "ReferenceNumberofCustomsFormNo1or9",
            "error",
        ),
    ];
    let findings = report["findings"].as_array().unwrap();
    for (rule, sheet, row, column, severity) in expected {
        assert!(
            findings.iter().any(|f| f["rule"] == rule
                && f["sheet"] == sheet
                && f["row"] == row
                && f["column"] == column
                && f["severity"] == severity),
            "missing {rule} at {sheet} row {row} {column}; found: {findings:#?}"
        );
    }
    // The band is named.
    let band = findings
        .iter()
        .find(|f| f["rule"] == "currency.rate-implausible")
        .unwrap();
    assert!(band["message"].as_str().unwrap().contains("0.3 to 1.2"));
    // Nothing else is an error: one planted mistake, one finding (the long
    // number is too long on each sheet that names it).
    let errors: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .filter(|f| f["rule"] != "field.too-long")
        .collect();
    assert_eq!(errors.len(), 14, "{errors:#?}");

    // The same invoices written correctly, in versions SVDP 1.2, SVDP 1.3, 1.0 and 1.1,
    // with 4-digit postcodes: no error, a warning for each postcode.
    let output = selfbill()
        .args(["check", "--json"])
        .arg(data("lhdn-2026-svdp.xlsx"))
        .output()
        .unwrap();
    let report = json(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["summary"]["errors"], 0);
    let short = findings_of(&report, "format.postcode-short");
    assert_eq!(short.len(), 4);
    assert!(
        short[0]["message"]
            .as_str()
            .unwrap()
            .contains("a leading zero lost?")
    );
}

#[test]
fn an_untouched_init_config_never_converts() {
    let dir = tempfile::tempdir().unwrap();
    selfbill()
        .current_dir(dir.path())
        .arg("init")
        .assert()
        .success();
    let output = selfbill()
        .current_dir(dir.path())
        .arg("convert")
        .arg(root().join(SAMPLE))
        .args(["-o", "e.xlsx", "--rate", "0.6097"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("selfbill.toml")
            && stderr.contains("[buyer] name = \"Your Company Sdn Bhd\""),
        "{stderr}"
    );
    assert!(!dir.path().join("e.xlsx").exists());
}

#[test]
fn a_missing_optional_column_is_an_info_and_a_missing_mandatory_one_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("csv");
    convert(&[&root().join(SAMPLE)], &out, &["--format", "csv"]).success();
    // Drop one optional column (Incoterms) and one mandatory column (Buyer.TIN).
    let path = out.join("Documents.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let drop: Vec<usize> = rows[0]
        .iter()
        .enumerate()
        .filter(|(_, h)| *h == "Incoterms" || *h == "Buyer.TIN")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(drop.len(), 2);
    let mut writer = csv::Writer::from_path(&path).unwrap();
    for row in &rows {
        let kept: Vec<&str> = row
            .iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, c)| c)
            .collect();
        writer.write_record(kept).unwrap();
    }
    writer.flush().unwrap();
    let output = selfbill()
        .args(["check", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    let report = json(&output.stdout);
    let of = |rule: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == rule)
            .unwrap_or_else(|| panic!("no {rule}: {report:#}"))
            .clone()
    };
    let optional = of("structure.missing-optional-header");
    assert_eq!(optional["severity"], "info");
    assert_eq!(
        (&optional["sheet"], &optional["row"], &optional["column"]),
        (&"Documents".into(), &1.into(), &"Incoterms".into())
    );
    let mandatory = of("structure.missing-header");
    assert_eq!(mandatory["severity"], "error");
    assert_eq!(mandatory["column"], "Buyer.TIN");
    assert_eq!(output.status.code(), Some(1));
}
