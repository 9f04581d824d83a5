//! Map: 1688 orders + config + supplier directory + rate → self-billed
//! e-invoices (type 11), one per order, following the product design.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

use crate::config::{Config, StatusAction, SupplierDirectory, SupplierEntry};
use crate::finding::Finding;
use crate::model::Location;
use crate::model::{
    Adjustment, DOCUMENT_TYPE_SELF_BILLED, DOCUMENT_VERSION, Invoice, Line, Party, Totals,
};
use crate::model::{Order, export_columns as col};
use crate::money::cents;
use crate::rates::RateTable;
use crate::rules;

/// LHDN's general TIN for a foreign supplier without a Malaysian TIN.
pub const FOREIGN_SUPPLIER_TIN: &str = "EI00000000030";
pub const NOT_APPLICABLE: &str = "NA";
pub const MSIC_NOT_APPLICABLE: &str = "00000";
/// State code "Not Applicable", for addresses outside Malaysia.
pub const STATE_NOT_APPLICABLE: &str = "17";
pub const COUNTRY_CHINA: &str = "CHN";
pub const MAX_DESCRIPTION_CHARS: usize = 300;
/// The most a line's rounding may move the document total.
pub const ROUNDING_PER_LINE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Everything mapping needs besides the orders.
pub struct MapContext<'a> {
    pub config: &'a Config,
    pub suppliers: &'a SupplierDirectory,
    /// Where each order's MYR-per-CNY rate comes from.
    pub rates: RateSource<'a>,
    pub issued_at: NaiveDateTime,
    /// order number → customs form references.
    pub customs: &'a HashMap<String, String>,
}

/// One rate for every order (`--rate`, `[invoice] rate`), or a table by date (`--rates`).
#[derive(Debug, Clone, Copy)]
pub enum RateSource<'a> {
    Fixed(Decimal),
    ByDate(&'a RateTable),
}

/// What mapping gives: invoices for the orders that qualify, counts by
/// status class, and findings.
#[derive(Debug, Default)]
pub struct Mapped {
    pub invoices: Vec<Invoice>,
    pub orders: usize,
    pub held: usize,
    pub skipped: usize,
    pub findings: Vec<Finding>,
}

pub fn map_orders(orders: &[Order], ctx: &MapContext<'_>) -> Mapped {
    let mut mapped = Mapped::default();
    let mut warned_sellers = HashSet::new();
    let mut numbers: HashMap<String, Location> = HashMap::new();
    for order in dedupe(orders, &mut mapped.findings) {
        mapped.orders += 1;
        let at = &order.source;
        // Orders the policy does not invoice get one finding at their 订单状态 cell.
        let not_invoiced = match ctx.config.status_action(&order.status) {
            Some(StatusAction::Invoice) => None,
            Some(StatusAction::Hold) => {
                mapped.held += 1;
                Some(Finding::new(&rules::ORDER_HELD, format!(
                        "order {} is {}; not invoiced this run",
                        order.order_no, order.status
                    )).hint("Convert it again once the refund is settled; invoice what was finally paid"))
            }
            Some(StatusAction::Skip) => {
                mapped.skipped += 1;
                Some(
                    Finding::new(
                        &rules::ORDER_SKIPPED,
                        format!(
                            "order {} is {}; no e-invoice is needed",
                            order.order_no, order.status
                        ),
                    )
                    .hint("Nothing to do"),
                )
            }
            None => Some(
                Finding::new(
                    &rules::ORDER_UNKNOWN_STATUS,
                    format!(
                        "order {} has status {:?}, which the status policy does not know",
                        order.order_no, order.status
                    ),
                )
                .hint("Add the status to invoice, hold or skip under [statuses] in selfbill.toml"),
            ),
        };
        if let Some(finding) = not_invoiced {
            mapped.findings.push(
                finding
                    .at(at)
                    .column(col::STATUS)
                    .invoice(&order.order_no)
                    .value(&order.status),
            );
            continue;
        }
        let number = ctx.config.invoice_number(&order.order_no);
        if let Some(first) = numbers.get(&number) {
            mapped.findings.push(
                Finding::new(
                    &rules::ORDER_DUPLICATE_INVOICE_NUMBER,
                    format!("invoice number {number} is already used by the order at {first}"),
                )
                .hint("Make [invoice] number produce a different number for every order")
                .at(at)
                .invoice(&number),
            );
            continue;
        }
        if let Some(invoice) = map_order(
            order,
            number.clone(),
            ctx,
            &mut warned_sellers,
            &mut mapped.findings,
        ) {
            numbers.insert(number, at.clone());
            mapped.invoices.push(invoice);
        }
    }
    mapped
}

/// Orders seen more than once (the same order in two exports, or twice in
/// one) are taken once when the copies agree; differing copies are an error
/// and neither copy is used.
fn dedupe<'a>(orders: &'a [Order], findings: &mut Vec<Finding>) -> Vec<&'a Order> {
    // Order number → (index in `kept`, the first copy).
    let mut first_seen: HashMap<&str, (usize, &Order)> = HashMap::new();
    let mut kept: Vec<Option<&Order>> = Vec::new();
    for order in orders {
        match first_seen.get(order.order_no.as_str()) {
            None => {
                first_seen.insert(&order.order_no, (kept.len(), order));
                kept.push(Some(order));
            }
            Some(&(index, first)) => {
                if same_order(first, order) {
                    findings.push(
                        Finding::new(
                            &rules::ORDER_DUPLICATE_IDENTICAL,
                            format!(
                                "order {} also appears at {}; taken once",
                                order.order_no, first.source
                            ),
                        )
                        .hint("Nothing to do: overlapping exports are fine")
                        .at(&order.source)
                        .invoice(&order.order_no),
                    );
                } else if kept[index].is_some() {
                    kept[index] = None;
                    findings.push(
                        Finding::new(&rules::ORDER_DUPLICATE_DIFFERS, format!("order {} differs from its copy at {}", order.order_no, first.source)).hint("Keep only the newest export of this order, or correct the copy that is wrong")
                        .at(&order.source)
                        .column(col::ORDER_NO)
                        .invoice(&order.order_no),
                    );
                }
            }
        }
    }
    kept.into_iter().flatten().collect()
}

fn same_order(a: &Order, b: &Order) -> bool {
    let strip = |o: &Order| {
        let mut o = o.clone();
        o.source = Location::default();
        for line in &mut o.lines {
            line.row = 0;
        }
        o
    };
    strip(a) == strip(b)
}

fn map_order(
    order: &Order,
    number: String,
    ctx: &MapContext<'_>,
    warned_sellers: &mut HashSet<String>,
    findings: &mut Vec<Finding>,
) -> Option<Invoice> {
    let config = ctx.config;
    let at = &order.source;
    let (rate, rate_date) = order_rate(order, &number, ctx, findings)?;
    let mut lines = Vec::with_capacity(order.lines.len());
    for (index, source) in order.lines.iter().enumerate() {
        let line_at = at.with_row(source.row);
        let mut description = source.title.clone();
        if !source.model.is_empty() && !description.contains(&source.model) {
            description.push(' ');
            description.push_str(&source.model);
        }
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            findings.push(
                Finding::new(&rules::LINE_DESCRIPTION_CUT, format!(
                        "the description of order {} line {} has {} characters; cut to {MAX_DESCRIPTION_CHARS}",
                        order.order_no,
                        index + 1,
                        description.chars().count()
                    )).hint("LHDN allows 300 characters; shorten 货品标题 or 型号 if the cut text matters")
                .at(&line_at)
                .column(col::TITLE)
                .invoice(&number),
            );
            description = description.chars().take(MAX_DESCRIPTION_CHARS).collect();
        }
        let unit = config.unit_code(&source.unit).map(str::to_owned);
        if unit.is_none() && !source.unit.is_empty() {
            findings.push(
                Finding::new(&rules::LINE_UNKNOWN_UNIT, format!("unit {:?} has no LHDN unit code; UnitOfMeasurement left empty", source.unit)).hint(format!(
                        "Add it under [units] in selfbill.toml, e.g. \"{}\" = \"H87\" (find codes with `selfbill codes unit`)",
                        source.unit
                    ))
                .at(&line_at)
                .column(col::UNIT)
                .invoice(&number)
                .value(&source.unit),
            );
        }
        let subtotal = cents(source.unit_price * source.quantity);
        lines.push(Line {
            id: index as u32 + 1,
            classification: config.invoice.classification.clone(),
            description,
            unit_price: source.unit_price,
            quantity: source.quantity,
            unit,
            subtotal,
            total_excluding_tax: subtotal,
            tax_amount: Decimal::ZERO,
            country_of_origin: COUNTRY_CHINA.into(),
            source_row: source.row,
        });
    }

    let mut charges = Vec::new();
    let mut discounts = Vec::new();
    if order.shipping > Decimal::ZERO {
        charges.push(Adjustment {
            description: "Shipping fee (运费)".into(),
            amount: cents(order.shipping),
        });
    }
    if order.adjustment > Decimal::ZERO {
        charges.push(Adjustment {
            description: "Price increase (涨价)".into(),
            amount: cents(order.adjustment),
        });
    } else if order.adjustment < Decimal::ZERO {
        discounts.push(Adjustment {
            description: "Discount (折扣)".into(),
            amount: cents(-order.adjustment),
        });
    }

    let Totals {
        net,
        discount,
        charge,
        excluding_tax,
        ..
    } = Totals::of(&lines, &charges, &discounts, Decimal::ZERO);
    let paid = cents(order.paid);
    let difference = paid - excluding_tax;
    let tolerance = ROUNDING_PER_LINE * Decimal::from(lines.len() as u64);
    if difference.abs() > tolerance {
        let goods: Decimal = order.lines.iter().map(|l| l.unit_price * l.quantity).sum();
        findings.push(
            Finding::new(&rules::ORDER_DOES_NOT_RECONCILE, format!(
                    "order {} does not add up: lines {} − discount {} + charges {} = {}, but 实付款 is {} \
                     (货品总价 {}, Σ 单价×数量 {}, 运费 {}, 涨价或折扣 {})",
                    order.order_no,
                    net,
                    discount,
                    charge,
                    excluding_tax,
                    order.paid,
                    order.goods_total,
                    goods,
                    order.shipping,
                    order.adjustment
                )).hint("Check the order on 1688 (coupons, partial refunds) and correct the export; \
                 this order is not converted")
            .at(at)
            .column(col::PAID)
            .invoice(&number)
            .value(order.paid.to_string()),
        );
        return None;
    }
    if !difference.is_zero() {
        findings.push(
            Finding::new(&rules::ORDER_ROUNDING, format!(
                    "order {}: {difference} of line rounding goes into TotalRoundingAmount so the total equals 实付款 {paid}",
                    order.order_no
                )).hint("Nothing to do")
            .at(at)
            .column(col::PAID)
            .invoice(&number)
            .value(difference.to_string()),
        );
    }
    let totals = Totals::of(&lines, &charges, &discounts, difference);

    let entry = ctx.suppliers.get(&order.seller_member);
    let supplier = supplier_party(order, entry);
    let lacks_address = supplier.address[0] == NOT_APPLICABLE;
    let lacks_phone = supplier.phone == NOT_APPLICABLE;
    if (lacks_address || lacks_phone) && warned_sellers.insert(order.seller_member.clone()) {
        let missing = match (lacks_address, lacks_phone) {
            (true, true) => "address and phone",
            (true, false) => "address",
            _ => "phone",
        };
        findings.push(
            Finding::new(
                &rules::SUPPLIER_DETAILS_MISSING,
                format!(
                    "seller {} ({}) has no {missing} in the supplier directory; NA is used",
                    order.seller_member, supplier.name
                ),
            )
            .hint(format!(
                "Fill in {missing} for {} in suppliers.csv (`selfbill suppliers` adds the row); \
                     the seller's address is on its 1688 page under 联系方式",
                order.seller_member
            ))
            .at(at)
            .column(col::SELLER_MEMBER)
            .value(&order.seller_member),
        );
    }

    let total_cny = totals.payable;
    let (currency, exchange_rate, lines, charges, discounts, totals) = if config.invoice.currency
        == "MYR"
    {
        let (lines, charges, discounts, totals) = in_myr(lines, charges, discounts, &totals, rate);
        ("MYR".to_string(), None, lines, charges, discounts, totals)
    } else {
        (
            "CNY".to_string(),
            Some(rate),
            lines,
            charges,
            discounts,
            totals,
        )
    };
    Some(Invoice {
        number,
        type_code: DOCUMENT_TYPE_SELF_BILLED.into(),
        version: DOCUMENT_VERSION.into(),
        issued_at: ctx.issued_at,
        currency,
        exchange_rate,
        supplier,
        buyer: buyer_party(config),
        lines,
        charges,
        discounts,
        tax_type: config.invoice.tax_type.clone(),
        totals,
        incoterms: config.invoice.incoterms.clone(),
        customs_refs: ctx.customs.get(&order.order_no).cloned(),
        rate,
        rate_date,
        total_cny,
        order_no: order.order_no.clone(),
        source: order.source.clone(),
        references: Vec::new(),
    })
}

/// The order's MYR-per-CNY rate and, from a table, the date it is of.
fn order_rate(
    order: &Order,
    number: &str,
    ctx: &MapContext<'_>,
    findings: &mut Vec<Finding>,
) -> Option<(Decimal, Option<NaiveDate>)> {
    let table = match ctx.rates {
        RateSource::Fixed(rate) => return Some((rate, None)),
        RateSource::ByDate(table) => table,
    };
    let at = &order.source;
    let Some(paid_at) = order.paid_at else {
        findings.push(
            Finding::new(
                &rules::RATE_MISSING,
                format!(
                    "order {} has no 订单付款时间, so no date to take the exchange rate of",
                    order.order_no
                ),
            )
            .hint("Fill in the payment time, or convert this order with --rate")
            .at(at)
            .column(col::PAID_AT)
            .invoice(number),
        );
        return None;
    };
    let date = paid_at.date();
    match table.on_or_before("CNY", date) {
        Some(found) => Some((found.rate, Some(found.date))),
        None => {
            let span = match table.span("CNY") {
                Some((first, last)) => format!("the rates run from {first} to {last}"),
                None => "the rates hold no CNY".to_string(),
            };
            findings.push(
                Finding::new(&rules::RATE_MISSING, format!("order {} was paid on {date}; no CNY rate on or before that date ({span})", order.order_no)).hint("Add a rates file covering the date (selfbill rates fetch --month YYYY-MM), or pass --rate")
                .at(at)
                .column(col::PAID_AT)
                .invoice(number)
                .value(date.to_string()),
            );
            None
        }
    }
}

/// The invoice in MYR: unit prices converted to 4 places, line totals to
/// cents from them, charges and discounts to cents, document totals as sums.
/// The order was reconciled with 实付款 in CNY before this.
fn in_myr(
    lines: Vec<Line>,
    charges: Vec<Adjustment>,
    discounts: Vec<Adjustment>,
    totals: &Totals,
    rate: Decimal,
) -> (Vec<Line>, Vec<Adjustment>, Vec<Adjustment>, Totals) {
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|line| {
            let unit_price = crate::money::round(line.unit_price * rate, 4);
            let subtotal = cents(unit_price * line.quantity);
            Line {
                unit_price,
                subtotal,
                total_excluding_tax: subtotal,
                ..line
            }
        })
        .collect();
    let convert = |items: Vec<Adjustment>| -> Vec<Adjustment> {
        items
            .into_iter()
            .map(|a| Adjustment {
                amount: cents(a.amount * rate),
                ..a
            })
            .collect()
    };
    let (charges, discounts) = (convert(charges), convert(discounts));
    let totals = Totals::of(&lines, &charges, &discounts, cents(totals.rounding * rate));
    (lines, charges, discounts, totals)
}

/// The supplier: the directory's values where given, else LHDN's
/// foreign-supplier conventions.
pub fn supplier_party(order: &Order, entry: Option<&SupplierEntry>) -> Party {
    let empty = SupplierEntry::default();
    let entry = entry.unwrap_or(&empty);
    let or = |value: &str, fallback: &str| {
        if value.trim().is_empty() {
            fallback.to_string()
        } else {
            value.trim().to_string()
        }
    };
    let company = if order.seller_company.is_empty() {
        &order.seller_member
    } else {
        &order.seller_company
    };
    Party {
        tin: or(&entry.tin, FOREIGN_SUPPLIER_TIN),
        name: or(&entry.name, company),
        id_type: or(&entry.id_type, "BRN"),
        id_no: or(&entry.id_no, NOT_APPLICABLE),
        sst_no: or(&entry.sst_no, NOT_APPLICABLE),
        ttx_no: Some(NOT_APPLICABLE.into()),
        email: entry.email.trim().to_string(),
        msic: Some(MSIC_NOT_APPLICABLE.into()),
        business_activity: Some(NOT_APPLICABLE.into()),
        address: [
            or(&entry.address0, NOT_APPLICABLE),
            entry.address1.trim().to_string(),
            entry.address2.trim().to_string(),
        ],
        postcode: entry.postcode.trim().to_string(),
        city: or(&entry.city, NOT_APPLICABLE),
        state: or(&entry.state, STATE_NOT_APPLICABLE),
        country: or(&entry.country, COUNTRY_CHINA),
        phone: or(&entry.phone, NOT_APPLICABLE),
    }
}

pub fn buyer_party(config: &Config) -> Party {
    let buyer = &config.buyer;
    let line = |i: usize| buyer.address.get(i).cloned().unwrap_or_default();
    Party {
        tin: buyer.tin.clone(),
        name: buyer.name.clone(),
        id_type: buyer.id_type.clone(),
        id_no: buyer.id_no.clone(),
        sst_no: buyer.sst_no.clone(),
        ttx_no: None,
        email: buyer.email.clone().unwrap_or_default(),
        msic: None,
        business_activity: None,
        address: [line(0), line(1), line(2)],
        postcode: buyer.postcode.clone(),
        city: buyer.city.clone(),
        state: buyer.state.clone(),
        country: buyer.country.clone(),
        phone: buyer.phone.clone(),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{config, d, map, order};

    fn rules(mapped: &super::Mapped) -> Vec<&'static str> {
        mapped.findings.iter().map(|f| f.rule.id).collect()
    }

    #[test]
    fn totals_follow_the_order_and_equal_what_was_paid() {
        let mapped = map(
            &[order(
                "1",
                &[("12.50", "40", "个"), ("1.85", "40", "个")],
                "15",
                "-0.92",
                "588.08",
            )],
            &config(),
        );
        let invoice = &mapped.invoices[0];
        assert_eq!(invoice.totals.net, d("574.00"));
        assert_eq!(invoice.totals.charge, d("15.00"));
        assert_eq!(invoice.totals.discount, d("0.92"));
        assert_eq!(invoice.totals.excluding_tax, d("588.08"));
        assert_eq!(invoice.totals.payable, d("588.08"));
        assert_eq!(invoice.totals.rounding, d("0"));
        assert_eq!(invoice.charges[0].description, "Shipping fee (运费)");
        assert_eq!(invoice.discounts[0].description, "Discount (折扣)");
        assert_eq!(invoice.lines[0].unit.as_deref(), Some("H87"));
        assert_eq!(invoice.exchange_rate, Some(d("0.6097")));
    }

    #[test]
    fn line_rounding_within_a_cent_per_line_goes_into_the_rounding_amount() {
        // Three lines of 0.125 round to 0.13 each: 0.39 against 0.38 paid.
        let lines = [
            ("0.125", "1", "个"),
            ("0.125", "1", "个"),
            ("0.125", "1", "个"),
        ];
        let mapped = map(&[order("1", &lines, "0", "0", "0.38")], &config());
        let invoice = &mapped.invoices[0];
        assert_eq!(invoice.totals.rounding, d("-0.01"));
        assert_eq!(invoice.totals.payable, d("0.38"));
        assert_eq!(
            rules(&mapped),
            ["order.rounding", "supplier.details-missing"]
        );
        // Beyond a cent per line it is an error and no invoice.
        let mapped = map(&[order("2", &lines, "0", "0", "0.35")], &config());
        assert!(mapped.invoices.is_empty());
        assert_eq!(rules(&mapped), ["order.does-not-reconcile"]);
    }

    #[test]
    fn a_price_increase_is_a_charge_and_zero_shipping_is_none() {
        let mapped = map(
            &[order("1", &[("18.60", "10", "套")], "0", "5", "191")],
            &config(),
        );
        let invoice = &mapped.invoices[0];
        assert_eq!(invoice.charges.len(), 1);
        assert_eq!(invoice.charges[0].description, "Price increase (涨价)");
        assert!(invoice.discounts.is_empty());
        assert_eq!(invoice.lines[0].unit.as_deref(), Some("SET"));
    }

    #[test]
    fn long_descriptions_are_cut_and_unknown_units_left_empty() {
        let mut o = order("1", &[("1", "2", "卷")], "0", "0", "2");
        o.lines[0].title = "长".repeat(310);
        let mapped = map(&[o], &config());
        let line = &mapped.invoices[0].lines[0];
        assert_eq!(line.description.chars().count(), 300);
        assert_eq!(line.unit, None);
        assert_eq!(
            rules(&mapped),
            [
                "line.description-cut",
                "line.unknown-unit",
                "supplier.details-missing"
            ]
        );
    }

    #[test]
    fn sellers_not_in_the_directory_take_lhdns_foreign_supplier_values() {
        let mapped = map(
            &[
                order("1", &[("1", "1", "个")], "0", "0", "1"),
                order("2", &[("1", "1", "个")], "0", "0", "1"),
            ],
            &config(),
        );
        let supplier = &mapped.invoices[0].supplier;
        assert_eq!(supplier.tin, "EI00000000030");
        assert_eq!(supplier.name, "义乌市示例日用品有限公司");
        assert_eq!(
            (supplier.id_type.as_str(), supplier.id_no.as_str()),
            ("BRN", "NA")
        );
        assert_eq!(supplier.msic.as_deref(), Some("00000"));
        assert_eq!(
            (supplier.state.as_str(), supplier.country.as_str()),
            ("17", "CHN")
        );
        assert_eq!(
            (supplier.address[0].as_str(), supplier.phone.as_str()),
            ("NA", "NA")
        );
        // One warning per seller, not per order.
        assert_eq!(rules(&mapped), ["supplier.details-missing"]);
    }

    #[test]
    fn myr_invoices_convert_each_line_at_the_rate() {
        let mut config = config();
        config.invoice.currency = "MYR".into();
        let mapped = map(
            &[order("1", &[("12.50", "40", "个")], "15", "0", "515")],
            &config,
        );
        let invoice = &mapped.invoices[0];
        assert_eq!(invoice.currency, "MYR");
        assert_eq!(invoice.exchange_rate, None);
        assert_eq!(invoice.lines[0].unit_price, d("7.6213"));
        assert_eq!(invoice.lines[0].subtotal, d("304.85"));
        assert_eq!(invoice.charges[0].amount, d("9.15"));
        assert_eq!(invoice.totals.payable, d("314.00"));
        assert_eq!(invoice.total_cny, d("515.00"));
    }
}
