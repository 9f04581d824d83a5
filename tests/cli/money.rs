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

fn convert_with(export: &Path, out: &Path, config: &Path) -> Assert {
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

/// A line of 0.01 CNY that is 0.0047 MYR at 0.47 (0.0045 × 3) beside lines
/// of hundreds of millions: the invoice is written, adds up to 实付款 × rate,
/// and no amount is called too large.
#[test]
fn myr_lines_below_half_a_cent_beside_large_ones_are_invoiced() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.csv");
    // 0.01 + 210158422.65 + 36.59 = 210158459.25
    write_export(
        &export,
        &[TestOrder {
            no: "9010",
            goods: "210158459.25",
            shipping: "107.42",
            adjustment: "-177001.90",
            paid: "209981564.77",
            lines: lines(&[("0.0045", "3"), ("44934.45", "4677"), ("0.0052", "7036")]),
        }],
    );
    let out = dir.path().join("myr.xlsx");
    let config = config_in(dir.path(), "MYR");
    let assert = selfbill()
        .arg("convert")
        .arg(&export)
        .arg("-o")
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .args(["--suppliers", "fixtures/suppliers.csv", "--no-register"])
        .args(["--rate", "0.47", "--issued-at", ISSUED_AT, "--json"])
        .assert()
        .success();
    let report = json(&assert.get_output().stdout);
    assert!(errors(&report).is_empty(), "{report}");
    let documents = read_sheet(&out, "Documents");
    let row = &documents.data_rows()[0];
    // 209981564.77 × 0.47 = 98691335.4419 → 98691335.44
    assert_eq!(
        decimal(&row[documents.col("TotalPayableAmount")]),
        dec("98691335.44")
    );
    let items = read_sheet(&out, "DocumentLineItems");
    let subtotals: Vec<_> = items
        .data_rows()
        .iter()
        .map(|r| decimal(&r[items.col("Subtotal")]))
        .collect();
    assert_eq!(
        subtotals[0],
        dec("0.01"),
        "0.0021 MYR × 3, not a price cut to fit 0.00"
    );
    for row in items.data_rows() {
        assert!(!decimal(&row[items.col("UnitPrice")]).is_zero());
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
                no: "9013",
                goods: "5",
                shipping: "0",
                adjustment: "0",
                paid: "5",
                lines: lines(&[("2", "-1"), ("7", "1")]),
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
        ("order.negative-amount", "9013", "数量"),
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

/// 80,000 lines of 999,999,999,999 × 999,999,999,999: their sum is beyond
/// what a decimal holds. An error naming the order, never a panic.
#[test]
fn a_sum_beyond_any_decimal_is_an_error_naming_the_order_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.csv");
    let big = ("999999999999".to_string(), "999999999999".to_string());
    write_export(
        &export,
        &[TestOrder {
            no: "9008",
            goods: "999999999999",
            shipping: "0",
            adjustment: "0",
            paid: "999999999999",
            lines: vec![big; 80_000],
        }],
    );
    let out = dir.path().join("e.xlsx");
    let assert = convert_with(&export, &out, &config_in(dir.path(), "CNY")).code(1);
    let errors = errors(&json(&assert.get_output().stdout));
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e["rule"] == "order.amount-too-large" && e["invoice"] == "9008"),
        "{:?}",
        &errors[..1]
    );
    assert!(!out.exists());
}

/// A 货品标题 made only of control characters: convert refuses the order at
/// that cell, as `check` would refuse the empty description it leaves; the
/// rest of the export is written with --skip-invalid and checks clean.
#[test]
fn a_title_of_control_characters_is_refused_by_convert_as_check_would() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.csv");
    write_export(
        &export,
        &[
            TestOrder {
                no: "9011",
                goods: "2",
                shipping: "0",
                adjustment: "0",
                paid: "2",
                lines: lines(&[("1", "2")]),
            },
            TestOrder {
                no: "9012",
                goods: "2",
                shipping: "0",
                adjustment: "0",
                paid: "2",
                lines: lines(&[("1", "2")]),
            },
        ],
    );
    let text = std::fs::read_to_string(&export).unwrap();
    let text = text.replacen("商品 0", "\u{1}\u{2}\u{7f}", 1);
    std::fs::write(&export, text).unwrap();
    let out = dir.path().join("e.xlsx");
    let config = config_in(dir.path(), "CNY");
    let assert = convert_with(&export, &out, &config).code(1);
    let errors = errors(&json(&assert.get_output().stdout));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["rule"], "export.bad-cell");
    assert_eq!(errors[0]["invoice"], "9011");
    assert_eq!(errors[0]["column"], "货品标题");
    assert!(!out.exists());
    selfbill()
        .arg("convert")
        .arg(&export)
        .arg("-o")
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .args(["--suppliers", "fixtures/suppliers.csv", "--no-register"])
        .args([
            "--rate",
            "0.6097",
            "--issued-at",
            ISSUED_AT,
            "--skip-invalid",
        ])
        .assert()
        .code(1);
    let assert = selfbill().args(["check", "--json"]).arg(&out).assert();
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    assert_eq!(report["summary"]["invoices"], 1, "{report}");
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

/// The acceptance property: for any orders (many lines; tiny and huge
/// prices; large quantities; CNY and MYR), every invoice satisfies
/// Σ line totals − discounts + charges + rounding = payable = 实付款 (× rate
/// in MYR) to the cent, every line's UnitPrice × Quantity gives its total,
/// no price is written as zero, and `check` finds no error.
/// `PROPTEST_CASES=2000 cargo test --release --test cli money::` runs longer.
mod properties {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use selfbill::config::{Config, SupplierDirectory, SupplierEntry};
    use selfbill::map::{MapContext, RateSource, map_orders};
    use selfbill::model::{Invoice, Location, Order, OrderLine};
    use selfbill::money::cents;

    /// One generated order: `(单价, 数量)` lines, 运费, 涨价或折扣 as a
    /// discount in percent of the goods (negative) or an increase in cents.
    #[derive(Debug, Clone)]
    pub struct Generated {
        pub lines: Vec<(Decimal, Decimal)>,
        pub shipping: Decimal,
        pub adjustment: i64,
    }

    impl Generated {
        pub fn goods(&self) -> Decimal {
            cents(self.lines.iter().map(|(p, q)| p * q).sum())
        }

        pub fn adjustment(&self) -> Decimal {
            if self.adjustment < 0 {
                -cents(self.goods() * Decimal::new(-self.adjustment, 2))
            } else {
                Decimal::new(self.adjustment, 2)
            }
        }

        /// 实付款 as 1688 states it: goods (Σ 单价 × 数量, rounded once) + 运费 + 涨价或折扣.
        pub fn paid(&self) -> Decimal {
            self.goods() + self.shipping + self.adjustment()
        }
    }

    /// Sub-cent prices (5 decimals below 1, 4 decimals below a cent), prices
    /// to the fen up to 100,000, and whole prices up to 1,000,000.
    fn price() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (1i64..100_000).prop_map(|n| Decimal::new(n, 5)),
            (1i64..100).prop_map(|n| Decimal::new(n, 4)),
            (1i64..10_000_000).prop_map(|n| Decimal::new(n, 4)),
            (1i64..10_000_000).prop_map(|n| Decimal::new(n, 2)),
            (1i64..1_000_000).prop_map(Decimal::from),
        ]
    }

    /// MYR per CNY across the band selfbill accepts without a warning.
    fn rate() -> impl Strategy<Value = Decimal> {
        (3_000i64..15_000).prop_map(|n| Decimal::new(n, 4))
    }

    fn quantity() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (1i64..20).prop_map(Decimal::from),
            (1i64..10_000_000).prop_map(Decimal::from),
            (1i64..1000).prop_map(|n| Decimal::new(n, 1)),
        ]
    }

    pub fn order() -> impl Strategy<Value = Generated> {
        let line = (price(), quantity()).prop_filter("a line under 1,000,000,000", |(p, q)| {
            p * q <= Decimal::from(1_000_000_000)
        });
        (
            proptest::collection::vec(line, 1..80),
            (0i64..20_000).prop_map(|n| Decimal::new(n, 2)),
            prop_oneof![(-50i64..0), (0i64..5_000)],
        )
            .prop_map(|(lines, shipping, adjustment)| Generated {
                lines,
                shipping,
                adjustment,
            })
    }

    fn config(currency: &str) -> Config {
        let toml = std::fs::read_to_string(root().join("fixtures/selfbill.toml")).unwrap();
        Config::parse(&toml.replace("currency = \"CNY\"", &format!("currency = \"{currency}\"")))
            .unwrap()
    }

    fn model_order(no: usize, generated: &Generated) -> Order {
        Order {
            order_no: format!("{}", 9_000_000 + no),
            seller_company: "义乌市示例日用品有限公司".into(),
            seller_member: "yiwushili2019".into(),
            goods_total: generated.goods(),
            shipping: generated.shipping,
            adjustment: generated.adjustment(),
            paid: generated.paid(),
            status: "交易成功".into(),
            paid_at: Some(now()),
            lines: generated
                .lines
                .iter()
                .enumerate()
                .map(|(i, (price, quantity))| OrderLine {
                    title: format!("商品 {i}"),
                    model: String::new(),
                    unit_price: *price,
                    quantity: *quantity,
                    unit: "个".into(),
                    row: 2 + i as u32,
                })
                .collect(),
            source: Location::new("export.csv", None, Some(2)),
        }
    }

    fn now() -> chrono::NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    }

    /// The invariants of one invoice against the order it came from.
    pub fn assert_adds_up(invoice: &Invoice, paid: Decimal, rate: Decimal, myr: bool) {
        let t = &invoice.totals;
        let lines: Decimal = invoice.lines.iter().map(|l| l.total_excluding_tax).sum();
        let charges: Decimal = invoice.charges.iter().map(|c| c.amount).sum();
        let discounts: Decimal = invoice.discounts.iter().map(|d| d.amount).sum();
        assert_eq!(
            lines - discounts + charges + t.rounding,
            t.payable,
            "{}",
            invoice.number
        );
        let expected = if myr {
            cents(cents(paid) * rate)
        } else {
            cents(paid)
        };
        assert_eq!(t.payable, expected, "{}: payable", invoice.number);
        for line in &invoice.lines {
            assert_eq!(
                cents(line.unit_price * line.quantity),
                line.subtotal,
                "{} line {}",
                invoice.number,
                line.id
            );
            assert!(
                !line.unit_price.is_zero(),
                "{} line {}: UnitPrice 0",
                invoice.number,
                line.id
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::fuzz::cases(48), ..ProptestConfig::default() })]

        #[test]
        fn every_invoice_adds_up_to_what_was_paid_and_passes_check(
            orders in proptest::collection::vec(order(), 1..6),
            myr in any::<bool>(),
            rate in rate(),
        ) {
            let config = config(if myr { "MYR" } else { "CNY" });
            let mut suppliers = SupplierDirectory::default();
            suppliers.push(SupplierEntry {
                member_id: "yiwushili2019".into(),
                phone: "+8657985550101".into(),
                address0: "No. 88 Example Road".into(),
                city: "Yiwu".into(),
                ..SupplierEntry::default()
            });
            let model: Vec<Order> = orders.iter().enumerate().map(|(i, g)| model_order(i, g)).collect();
            let mapped = map_orders(
                &model,
                &MapContext {
                    config: &config,
                    suppliers: &suppliers,
                    rates: RateSource::Fixed(rate),
                    issued_at: now(),
                    customs: None,
                    svdp: false,
                },
            );
            let errors: Vec<_> = mapped.findings.iter().filter(|f| f.is_error()).collect();
            prop_assert!(errors.is_empty(), "{errors:?}");
            prop_assert_eq!(mapped.invoices.len(), orders.len());
            for (invoice, generated) in mapped.invoices.iter().zip(&orders) {
                assert_adds_up(invoice, generated.paid(), rate, myr);
            }
            let batch = selfbill::layout::lay_out("props.xlsx", &mapped.invoices);
            let errors: Vec<_> = selfbill::check::check_batch(&batch, now())
                .into_iter()
                .filter(|f| f.is_error())
                .collect();
            prop_assert!(errors.is_empty(), "{errors:?}");
        }
    }

    proptest! {
        // Each case runs the binary twice: CI-sized.
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

        #[test]
        fn written_workbooks_add_up_and_check_clean(
            orders in proptest::collection::vec(order(), 1..4),
            myr in any::<bool>(),
            rate in rate(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let export = dir.path().join("orders.csv");
            let goods: Vec<String> = orders.iter().map(|g| g.goods().to_string()).collect();
            let shipping: Vec<String> = orders.iter().map(|g| g.shipping.to_string()).collect();
            let adjustment: Vec<String> = orders.iter().map(|g| g.adjustment().to_string()).collect();
            let paid: Vec<String> = orders.iter().map(|g| g.paid().to_string()).collect();
            let numbers: Vec<String> = (0..orders.len()).map(|i| format!("{}", 9_100_000 + i)).collect();
            let test_orders: Vec<TestOrder<'_>> = orders
                .iter()
                .enumerate()
                .map(|(i, g)| TestOrder {
                    no: &numbers[i],
                    goods: &goods[i],
                    shipping: &shipping[i],
                    adjustment: &adjustment[i],
                    paid: &paid[i],
                    lines: g.lines.iter().map(|(p, q)| (p.to_string(), q.to_string())).collect(),
                })
                .collect();
            write_export(&export, &test_orders);
            let out = dir.path().join("e.xlsx");
            let config = config_in(dir.path(), if myr { "MYR" } else { "CNY" });
            selfbill()
                .arg("convert")
                .arg(&export)
                .arg("-o")
                .arg(&out)
                .arg("--config")
                .arg(&config)
                .args(["--suppliers", "fixtures/suppliers.csv", "--no-register"])
                .args(["--rate", &rate.to_string(), "--issued-at", ISSUED_AT])
                .assert()
                .success();
            // What the workbook says, read back.
            let documents = read_sheet(&out, "Documents");
            let items = read_sheet(&out, "DocumentLineItems");
            let charges = read_sheet(&out, "DocumentCharges");
            let discounts = read_sheet(&out, "DocumentDiscounts");
            let sum = |sheet: &Sheet, number: &str, header: &str| -> Decimal {
                sheet
                    .data_rows()
                    .iter()
                    .filter(|r| text(&r[sheet.col("eInvoiceNumber")]) == number)
                    .map(|r| decimal(&r[sheet.col(header)]))
                    .sum()
            };
            let rows = documents.data_rows();
            prop_assert_eq!(rows.len(), orders.len());
            for (row, (number, paid)) in rows.iter().zip(numbers.iter().zip(&paid)) {
                prop_assert_eq!(&text(&row[documents.col("eInvoiceNumber")]), number);
                let cell = |header: &str| match &row[documents.col(header)] {
                    calamine::Data::Empty => Decimal::ZERO,
                    other => decimal(other),
                };
                let payable = cell("TotalPayableAmount");
                let total = sum(&items, number, "TotalExcludingTax") - sum(&discounts, number, "DiscountAmount")
                    + sum(&charges, number, "ChargeAmount")
                    + cell("TotalRoundingAmount");
                prop_assert_eq!(total, payable, "{}", number);
                let paid: Decimal = paid.parse().unwrap();
                let expected = if myr { cents(paid * rate) } else { paid };
                prop_assert_eq!(payable, expected, "{}", number);
            }
            for row in items.data_rows() {
                let price = decimal(&row[items.col("UnitPrice")]);
                let quantity = decimal(&row[items.col("Quantity")]);
                prop_assert!(!price.is_zero());
                prop_assert_eq!(cents(price * quantity), decimal(&row[items.col("Subtotal")]));
            }
            let assert = selfbill().args(["check", "--json"]).arg(&out).assert();
            let report = json(&assert.get_output().stdout);
            prop_assert_eq!(&report["summary"]["errors"], 0, "{}", report);
        }
    }
}
