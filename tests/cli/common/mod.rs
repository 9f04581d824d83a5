//! Helpers for the integration tests: run the real binary, read workbooks back.
#![allow(dead_code)]

mod run;

use calamine::{Data, Reader, open_workbook_auto};
pub use run::{Assert, Command, binary};
use std::path::{Path, PathBuf};

pub const SAMPLE: &str = "fixtures/orders-2024-10.xlsx";
pub const ISSUED_AT: &str = "2026-11-26T00:00:00Z";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(name: &str) -> PathBuf {
    root().join("tests/data").join(name)
}

pub fn selfbill() -> Command {
    let mut cmd = Command::selfbill();
    cmd.current_dir(root())
        .env_remove("SELFBILL_CONFIG")
        .env("NO_COLOR", "1");
    cmd
}

/// `selfbill convert EXPORT… -o OUT` with the fixture config, directory and
/// rate; without the register (tests run side by side), unless `extra` names one.
pub fn convert(exports: &[&Path], out: &Path, extra: &[&str]) -> Assert {
    convert_with_suppliers(exports, out, Path::new("fixtures/suppliers.csv"), extra)
}

/// As [`convert`], with another supplier directory.
pub fn convert_with_suppliers(
    exports: &[&Path],
    out: &Path,
    suppliers: &Path,
    extra: &[&str],
) -> Assert {
    let mut cmd = selfbill();
    cmd.arg("convert").args(exports).arg("-o").arg(out).args([
        "--config",
        "fixtures/selfbill.toml",
        "--suppliers",
    ]);
    cmd.arg(suppliers)
        .args(["--rate", "0.6097", "--issued-at", ISSUED_AT]);
    cmd.args(extra);
    if !extra.contains(&"--register") {
        cmd.arg("--no-register");
    }
    cmd.assert()
}

/// The 1688 export columns selfbill reads, in the order the tests' rows fill them.
pub const EXPORT_HEADER: [&str; 15] = [
    "订单编号",
    "卖家公司名",
    "卖家会员名",
    "货品总价(元)",
    "运费(元)",
    "涨价或折扣(元)",
    "实付款(元)",
    "订单状态",
    "订单付款时间",
    "货品标题",
    "单价(元)",
    "数量",
    "单位",
    "型号",
    "订单创建时间",
];

/// A JSON report's findings of one rule, in report order.
pub fn findings_of<'a>(report: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

pub fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(output)))
}

/// A sheet as rows of cells, indexed by absolute position (row 0 = Excel row 1).
pub struct Sheet {
    pub rows: Vec<Vec<Data>>,
    pub formulas: Vec<Vec<String>>,
}

impl Sheet {
    pub fn cell(&self, row: u32, col: usize) -> &Data {
        self.rows
            .get(row as usize - 1)
            .and_then(|r| r.get(col))
            .unwrap_or(&Data::Empty)
    }

    /// Data rows (Excel row 6 onwards) that are not blank.
    pub fn data_rows(&self) -> Vec<&Vec<Data>> {
        self.rows
            .iter()
            .skip(5)
            .filter(|r| r.iter().any(|c| !matches!(c, Data::Empty)))
            .collect()
    }

    /// Column index of a row-4 header (trimmed).
    pub fn col(&self, header: &str) -> usize {
        self.rows[3]
            .iter()
            .position(|c| c.to_string().trim() == header)
            .unwrap_or_else(|| panic!("no header {header}"))
    }
}

pub fn sheet_names(path: &Path) -> Vec<String> {
    open_workbook_auto(path)
        .expect("workbook opens")
        .sheet_names()
        .to_vec()
}

pub fn read_sheet(path: &Path, name: &str) -> Sheet {
    let mut workbook = open_workbook_auto(path).expect("workbook opens");
    let range = workbook.worksheet_range(name).expect("sheet reads");
    let formulas = workbook.worksheet_formula(name).expect("formulas read");
    let absolute = |start: Option<(u32, u32)>, end: Option<(u32, u32)>| {
        (start.unwrap_or((0, 0)), end.unwrap_or((0, 0)))
    };
    let ((_, _), (end_row, end_col)) = absolute(range.start(), range.end());
    let mut rows = Vec::new();
    for r in 0..=end_row {
        rows.push(
            (0..=end_col)
                .map(|c| range.get_value((r, c)).cloned().unwrap_or(Data::Empty))
                .collect(),
        );
    }
    let (_, (fend_row, fend_col)) = absolute(formulas.start(), formulas.end());
    let mut formula_rows = Vec::new();
    for r in 0..=fend_row {
        formula_rows.push(
            (0..=fend_col)
                .map(|c| formulas.get_value((r, c)).cloned().unwrap_or_default())
                .collect(),
        );
    }
    Sheet {
        rows,
        formulas: formula_rows,
    }
}

pub fn text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

pub fn number(cell: &Data) -> f64 {
    match cell {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

/// A number cell as a decimal (via its shortest text, as selfbill reads it).
pub fn decimal(cell: &Data) -> rust_decimal::Decimal {
    let text = match cell {
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::String(s) => s.clone(),
        other => panic!("not a number: {other:?}"),
    };
    text.parse()
        .unwrap_or_else(|_| panic!("not a decimal: {text}"))
}

pub fn dec(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap()
}

/// LHDN's sheets, in LHDN's order.
pub const SHEETS: [&str; 11] = [
    "Documents",
    "DocumentReferences",
    "DocumentLineItems",
    "LineItemsAddClassifications",
    "LineItemsTaxes",
    "DocumentTotalTax",
    "LineItemsDiscounts",
    "DocumentDiscounts",
    "LineItemsCharges",
    "DocumentCharges",
    "ReferenceNumberCustomsForms",
];

/// Every sheet's data rows as text, keyed by sheet: what "the same invoices" means.
pub fn invoice_data(path: &Path) -> std::collections::BTreeMap<String, Vec<Vec<String>>> {
    SHEETS
        .iter()
        .map(|name| {
            let sheet = read_sheet(path, name);
            let rows = sheet
                .data_rows()
                .iter()
                .map(|r| r.iter().map(text).collect())
                .collect();
            (name.to_string(), rows)
        })
        .collect()
}
