//! Small builders for unit tests: an order, the config, a mapped batch.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::str::FromStr;

use crate::batch::Batch;
use crate::config::{Config, SupplierDirectory};
use crate::map::{MapContext, Mapped, RateSource, map_orders};
use crate::model::Location;
use crate::model::{Order, OrderLine};

pub fn d(text: &str) -> Decimal {
    Decimal::from_str(text).expect("a decimal")
}

pub fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 26)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a date")
}

pub fn config() -> Config {
    Config::parse(include_str!("../fixtures/selfbill.toml")).expect("the fixture config parses")
}

/// An order with lines `(unit price, quantity, unit)`, paid as given.
pub fn order(
    no: &str,
    lines: &[(&str, &str, &str)],
    shipping: &str,
    adjustment: &str,
    paid: &str,
) -> Order {
    // 货品总价 as 1688 states it: Σ 单价 × 数量, to cents.
    let goods_total = crate::model::checked_sum(
        lines
            .iter()
            .map(|(p, q, _)| d(p).checked_mul(d(q)).unwrap_or_default()),
    )
    .map(crate::money::cents)
    .unwrap_or_default();
    Order {
        order_no: no.into(),
        seller_company: "义乌市示例日用品有限公司".into(),
        seller_member: "yiwushili2019".into(),
        goods_total,
        shipping: d(shipping),
        adjustment: d(adjustment),
        paid: d(paid),
        status: "交易成功".into(),
        paid_at: Some(now()),
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, (price, quantity, unit))| OrderLine {
                title: format!("商品 {i}"),
                model: String::new(),
                unit_price: d(price),
                quantity: d(quantity),
                unit: (*unit).into(),
                row: 2 + i as u32,
            })
            .collect(),
        source: Location::new("export.xlsx", Some("sheet1".into()), Some(2)),
    }
}

/// The supplier directory of `fixtures/suppliers.csv`: the test orders'
/// seller (yiwushili2019) is in it with its address and phone.
pub fn suppliers() -> SupplierDirectory {
    SupplierDirectory::parse(include_bytes!("../fixtures/suppliers.csv"))
        .expect("the fixture directory parses")
}

pub fn map(orders: &[Order], config: &Config) -> Mapped {
    map_with(orders, config, &suppliers())
}

/// Maps with the given supplier directory.
pub fn map_with(orders: &[Order], config: &Config, suppliers: &SupplierDirectory) -> Mapped {
    map_at(orders, config, suppliers, d("0.6097"))
}

/// Maps at a fixed MYR-per-CNY rate.
pub fn map_at(
    orders: &[Order],
    config: &Config,
    suppliers: &SupplierDirectory,
    rate: Decimal,
) -> Mapped {
    map_orders(
        orders,
        &MapContext {
            config,
            suppliers,
            rates: RateSource::Fixed(rate),
            issued_at: now(),
            customs: None,
            svdp: false,
        },
    )
}

/// The batch of one ordinary two-line order (12.50 × 40 个, 1.85 × 40 个, shipping 15, 实付款 589).
pub fn batch() -> Batch {
    let mapped = map(
        &[order(
            "SB-1",
            &[("12.50", "40", "个"), ("1.85", "40", "个")],
            "15",
            "0",
            "589",
        )],
        &config(),
    );
    crate::layout::lay_out("test.xlsx", &mapped.invoices)
}
