//! Money end to end: what convert writes adds up to 实付款 (× rate in MYR), to
//! the cent, and what does not add up, or cannot be invoiced, is an error.

use crate::common::*;
use std::path::{Path, PathBuf};

const HEADER: &str = "订单编号,卖家公司名,卖家会员名,货品总价(元),运费(元),涨价或折扣(元),实付款(元),订单状态,订单付款时间,货品标题,单价(元),数量,单位,型号,订单创建时间";
const PAID_AT: &str = "2024-10-10 09:17:05";

/// One order of a test export: its order-level amounts and `(单价, 数量)` lines.
pub struct TestOrder<'a> {
    pub no: &'a str,
    pub goods: &'a str,
    pub shipping: &'a str,
    pub adjustment: &'a str,
    pub paid: &'a str,
    pub lines: Vec<(String, String)>,
}

/// A 1688 export as CSV with these orders, one line per row.
pub fn write_export(path: &Path, orders: &[TestOrder<'_>]) {
    let mut text = format!("{HEADER}\n");
    for order in orders {
        for (i, (price, quantity)) in order.lines.iter().enumerate() {
            if i == 0 {
                text.push_str(&format!(
                    "{},义乌市示例日用品有限公司,yiwushili2019,{},{},{},{},交易成功,{PAID_AT},",
                    order.no, order.goods, order.shipping, order.adjustment, order.paid
                ));
            } else {
                text.push_str(",,,,,,,,,");
            }
            text.push_str(&format!("商品 {i},{price},{quantity},个,,{PAID_AT}\n"));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn lines(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(p, q)| (p.to_string(), q.to_string()))
        .collect()
}

/// A copy of the fixture config with `[invoice] currency` set.
pub fn config_in(dir: &Path, currency: &str) -> PathBuf {
    let path = dir.join(format!("selfbill-{currency}.toml"));
    let toml = std::fs::read_to_string(root().join("fixtures/selfbill.toml")).unwrap();
    std::fs::write(
        &path,
        toml.replace("currency = \"CNY\"", &format!("currency = \"{currency}\"")),
    )
    .unwrap();
    path
}

fn convert_with(export: &Path, out: &Path, config: &Path) -> assert_cmd::assert::Assert {
    selfbill()
        .arg("convert")
        .arg(export)
        .arg("-o")
        .arg(out)
        .arg("--config")
        .arg(config)
        .args(["--suppliers", "fixtures/suppliers.csv"])
        .args(["--rate", "0.6097", "--issued-at", ISSUED_AT, "--json"])
        .assert()
}

fn errors(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .cloned()
        .collect()
}

#[test]
fn myr_invoices_equal_paid_times_rate_and_never_price_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.csv");
    write_export(
        &export,
        &[
            TestOrder {
                no: "9001",
                goods: "400",
                shipping: "0",
                adjustment: "0",
                paid: "400",
                lines: lines(&[("0.00004", "10000000")]),
            },
            TestOrder {
                no: "9002",
                goods: "1250",
                shipping: "0",
                adjustment: "0",
                paid: "1250",
                lines: lines(&[("0.0125", "100000")]),
            },
        ],
    );
    let out = dir.path().join("myr.xlsx");
    let assert = convert_with(&export, &out, &config_in(dir.path(), "MYR")).success();
    let report = json(&assert.get_output().stdout);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "line.unit-price-precision"),
        "{report}"
    );
    let documents = read_sheet(&out, "Documents");
    let payable: Vec<_> = documents
        .data_rows()
        .iter()
        .map(|r| decimal(&r[documents.col("TotalPayableAmount")]))
        .collect();
    // 400 × 0.6097 = 243.88; 1250 × 0.6097 = 762.125 → 762.13.
    assert_eq!(payable, [dec("243.88"), dec("762.13")]);
    let items = read_sheet(&out, "DocumentLineItems");
    for row in items.data_rows() {
        let price = decimal(&row[items.col("UnitPrice")]);
        assert!(!price.is_zero(), "UnitPrice 0 written");
    }
    selfbill().arg("check").arg(&out).assert().success();
}

#[test]
fn a_shortfall_on_lines_without_rounding_is_an_error_not_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.csv");
    write_export(
        &export,
        &[TestOrder {
            no: "9003",
            goods: "500",
            shipping: "0",
            adjustment: "0",
            paid: "495",
            lines: vec![("1.00".into(), "1".into()); 500],
        }],
    );
    let out = dir.path().join("e.xlsx");
    let assert = convert_with(&export, &out, &config_in(dir.path(), "CNY")).code(1);
    let errors = errors(&json(&assert.get_output().stdout));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["rule"], "order.does-not-reconcile");
    assert_eq!(errors[0]["invoice"], "9003");
    assert!(!out.exists());
}

#[test]
fn negative_amounts_are_errors_naming_order_and_cell() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.csv");
    write_export(
        &export,
        &[
            TestOrder {
                no: "9004",
                goods: "5",
                shipping: "0",
                adjustment: "0",
                paid: "5",
                lines: lines(&[("-2", "1"), ("7", "1")]),
            },
            TestOrder {
                no: "9005",
                goods: "10",
                shipping: "0",
                adjustment: "-15",
                paid: "-5",
                lines: lines(&[("10", "1")]),
            },
            TestOrder {
                no: "9006",
                goods: "10",
                shipping: "-0.01",
                adjustment: "0",
                paid: "9.99",
                lines: lines(&[("10", "1")]),
            },
        ],
    );
    let out = dir.path().join("e.xlsx");
    let assert = convert_with(&export, &out, &config_in(dir.path(), "CNY")).code(1);
    let errors = errors(&json(&assert.get_output().stdout));
    let found: Vec<(String, String, String)> = errors
        .iter()
        .map(|e| {
            (
                e["rule"].as_str().unwrap().to_string(),
                e["invoice"].as_str().unwrap_or_default().to_string(),
                e["column"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for expected in [
        ("order.negative-amount", "9004", "单价(元)"),
        ("order.discount-exceeds-goods", "9005", "涨价或折扣(元)"),
        ("order.negative-amount", "9006", "运费(元)"),
    ] {
        assert!(
            found
                .iter()
                .any(|(r, i, c)| (r.as_str(), i.as_str(), c.as_str()) == expected),
            "{expected:?} not in {found:?}"
        );
    }
    assert!(!out.exists());
}

#[test]
fn amounts_no_invoice_can_carry_are_an_error_naming_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.csv");
    write_export(
        &export,
        &[TestOrder {
            no: "9007",
            goods: "999999999999",
            shipping: "0",
            adjustment: "0",
            paid: "999999999999",
            lines: vec![("999999999999".into(), "999999999999".into()); 3],
        }],
    );
    let out = dir.path().join("e.xlsx");
    let assert = convert_with(&export, &out, &config_in(dir.path(), "CNY")).code(1);
    let errors = errors(&json(&assert.get_output().stdout));
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e["rule"] == "order.amount-too-large" && e["invoice"] == "9007"),
        "{errors:?}"
    );
}

#[test]
fn goods_total_that_disagrees_with_the_lines_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.csv");
    write_export(
        &export,
        &[TestOrder {
            no: "9008",
            goods: "580",
            shipping: "15",
            adjustment: "0",
            paid: "589",
            lines: lines(&[("12.50", "40"), ("1.85", "40")]),
        }],
    );
    let out = dir.path().join("e.xlsx");
    let assert = convert_with(&export, &out, &config_in(dir.path(), "CNY")).code(1);
    let errors = errors(&json(&assert.get_output().stdout));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["rule"], "order.goods-total-differs");
    assert_eq!(errors[0]["column"], "货品总价(元)");
    assert_eq!(errors[0]["value"], "580");
}
