//! Map: 1688 orders + config + supplier directory + rate → self-billed
//! e-invoices (type 11), one per order, following the product design.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, StatusAction, SupplierDirectory, SupplierEntry, UNSHIPPED_STATUSES};
use crate::finding::Finding;
use crate::imports::{self, Timing, TimingContext};
use crate::model::Location;
use crate::model::{
    Adjustment, DOCUMENT_TYPE_SELF_BILLED, DOCUMENT_VERSION, Invoice, Line, Party, Totals,
};
use crate::model::{Order, OrderLine, export_columns as col};
use crate::money::{self, MAX_AMOUNT, cents};
use crate::rates::RateTable;
use crate::read::customs::Customs;
use crate::rules;

/// LHDN's general TIN for a foreign supplier without a Malaysian TIN.
pub const FOREIGN_SUPPLIER_TIN: &str = "EI00000000030";
pub const NOT_APPLICABLE: &str = "NA";
pub const MSIC_NOT_APPLICABLE: &str = "00000";
/// State code "Not Applicable", for addresses outside Malaysia.
pub const STATE_NOT_APPLICABLE: &str = "17";
pub const COUNTRY_CHINA: &str = "CHN";
pub const MAX_DESCRIPTION_CHARS: usize = 300;

mod bounded;
use bounded::{BoundedMap, Stored};

/// The order numbers, and the invoice numbers, convert keeps in memory to
/// find a later copy of an order or a number taken twice; past them, the
/// older ones wait on disk (about 75 bytes an order in memory, so at most
/// about 13 MB for the two).
pub const ORDERS_IN_MEMORY: usize = 100_000;

/// [`ORDERS_IN_MEMORY`], or for the tests a smaller number from
/// `SELFBILL_TEST_ORDER_CAP`, so that a small export goes past it.
fn orders_in_memory() -> usize {
    std::env::var("SELFBILL_TEST_ORDER_CAP")
        .ok()
        .and_then(|cap| cap.parse().ok())
        .filter(|&cap| cap > 0)
        .unwrap_or(ORDERS_IN_MEMORY)
}

/// Everything mapping needs besides the orders.
pub struct MapContext<'a> {
    pub config: &'a Config,
    pub suppliers: &'a SupplierDirectory,
    /// Where each order's MYR-per-CNY rate comes from.
    pub rates: RateSource<'a>,
    pub issued_at: NaiveDateTime,
    /// The `--customs` file: each order's references, clearance date and concession.
    pub customs: Option<&'a Customs>,
    /// `--svdp`: invoices past their deadline are written as SVDP 1.2.
    pub svdp: bool,
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
    let mut mapper = Mapper::new(ctx);
    for index in dedupe(orders, &mut mapped.findings) {
        // A mapper without a folder to spill to keeps its numbers in
        // memory, which cannot fail.
        if let Ok(Some(invoice)) = mapper.map(&orders[index], &mut mapped.findings) {
            mapped.invoices.push(invoice);
        }
    }
    mapped.orders = mapper.orders;
    mapped.held = mapper.held;
    mapped.skipped = mapper.skipped;
    mapped
}

/// Maps orders one at a time, as they are read, remembering what a run
/// must: the parties made so far and the invoice numbers taken. Nothing of
/// an order is kept once it is mapped.
pub struct Mapper<'c, 'a> {
    ctx: &'c MapContext<'a>,
    parties: Parties,
    /// Invoice number → where the order that took it was read.
    numbers: BoundedMap<Number, Spot>,
    places: Places,
    /// Orders mapped, and of them those held and those skipped.
    pub orders: usize,
    pub held: usize,
    pub skipped: usize,
}

impl<'c, 'a> Mapper<'c, 'a> {
    pub fn new(ctx: &'c MapContext<'a>) -> Self {
        Mapper {
            ctx,
            parties: Parties::new(ctx.config),
            numbers: BoundedMap::in_memory(),
            places: Places::default(),
            orders: 0,
            held: 0,
            skipped: 0,
        }
    }

    /// A mapper that keeps at most [`ORDERS_IN_MEMORY`] invoice numbers in
    /// memory, the rest in a temporary file in `dir`.
    pub fn spilling_in(ctx: &'c MapContext<'a>, dir: &Path) -> Self {
        Mapper::spilling_past(ctx, orders_in_memory(), dir)
    }

    fn spilling_past(ctx: &'c MapContext<'a>, cap: usize, dir: &Path) -> Self {
        Mapper {
            numbers: BoundedMap::spilling(cap, dir),
            ..Mapper::new(ctx)
        }
    }

    /// The order's invoice, when it gets one; what mapping finds goes to
    /// `findings`. An error is the spill file's (a full disk).
    pub fn map(
        &mut self,
        order: &Order,
        findings: &mut Vec<Finding>,
    ) -> io::Result<Option<Invoice>> {
        self.orders += 1;
        let at = &order.source;
        // Orders the policy does not invoice get one finding at their 订单状态 cell.
        let not_invoiced = match self.ctx.config.status_action(&order.status) {
            Some(StatusAction::Invoice) => None,
            Some(StatusAction::Hold) => {
                self.held += 1;
                Some(held(order))
            }
            Some(StatusAction::Skip) => {
                self.skipped += 1;
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
            findings.push(
                finding
                    .at(at)
                    .column(col::STATUS)
                    .invoice(&order.order_no)
                    .value(&order.status),
            );
            return Ok(None);
        }
        let number = self.ctx.config.invoice_number(&order.order_no);
        if let Some(first) = self.numbers.get(&Number::of(&number))? {
            let first = self.places.location(first);
            findings.push(
                Finding::new(
                    &rules::ORDER_DUPLICATE_INVOICE_NUMBER,
                    format!("invoice number {number} is already used by the order at {first}"),
                )
                .hint("Make [invoice] number produce a different number for every order")
                .at(at)
                .invoice(&number),
            );
            return Ok(None);
        }
        let clearance = self.ctx.customs.and_then(|c| c.get(&order.order_no));
        let (version, late) = match imports::timing(
            order,
            clearance,
            &number,
            TimingContext {
                issued_at: self.ctx.issued_at,
                einvoice_from: self.ctx.config.buyer.einvoice_from,
                svdp: self.ctx.svdp,
            },
        ) {
            Timing::NotNeeded(finding) => {
                self.skipped += 1;
                findings.push(finding);
                return Ok(None);
            }
            Timing::Due { version, finding } => (version, finding),
        };
        let Some(mut invoice) =
            map_order(order, number.clone(), self.ctx, &mut self.parties, findings)
        else {
            return Ok(None);
        };
        invoice.version = version.into();
        findings.extend(late);
        findings.extend(imports::customs_missing(
            order,
            clearance,
            &self.ctx.config.invoice.classification,
            &number,
            self.ctx.customs.map(|c| c.file.as_str()),
        ));
        let spot = self.places.spot(at);
        self.numbers.insert_new(Number::of(&number), spot)?;
        Ok(Some(invoice))
    }
}

/// Where an order was read, without a copy of the file and sheet names per
/// order: a month's orders share a few places.
#[derive(Debug, Clone, Copy)]
struct Spot {
    place: u32,
    row: Option<u32>,
}

impl Stored for Spot {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.place.to_le_bytes());
        if let Some(row) = self.row {
            out.extend_from_slice(&row.to_le_bytes());
        }
    }

    fn take(bytes: &[u8]) -> Option<Spot> {
        let (place, row) = bytes.split_first_chunk::<4>()?;
        let row = match row.len() {
            0 => None,
            _ => Some(u32::from_le_bytes(row.try_into().ok()?)),
        };
        Some(Spot {
            place: u32::from_le_bytes(*place),
            row,
        })
    }
}

/// The distinct files and sheets orders were read from.
#[derive(Debug, Default)]
struct Places(Vec<Location>);

impl Places {
    fn spot(&mut self, at: &Location) -> Spot {
        let same = |p: &Location| p.file == at.file && p.sheet == at.sheet;
        let place = match self.0.iter().rposition(same) {
            Some(place) => place,
            None => {
                self.0
                    .push(Location::new(at.file.clone(), at.sheet.clone(), None));
                self.0.len() - 1
            }
        };
        Spot {
            place: place as u32,
            row: at.row,
        }
    }

    fn location(&self, spot: Spot) -> Location {
        let mut at = self.0[spot.place as usize].clone();
        at.row = spot.row;
        at
    }
}

/// What [`Copies::see`] makes of an order read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    /// The first copy of its order number: it goes on.
    First,
    /// A later copy, the same as the first: taken once.
    Same,
    /// A later copy that differs from the first.
    Differs,
}

/// The copies of each order number seen so far, as orders stream in: the
/// first copy goes on; a later one is compared with it by [`copy_key`], as
/// [`same_order`] compares two held copies, so no copy is held.
#[derive(Debug, Default)]
pub struct Copies {
    first: BoundedMap<Number, FirstCopy>,
    places: Places,
}

#[derive(Debug, Clone)]
struct FirstCopy {
    /// The first half of [`copy_key`]'s digest.
    key: [u8; 16],
    at: Spot,
    /// Whether the copies went on to mapping (a later copy is reported only then).
    mapped: bool,
    /// Whether a differing copy was reported (once per order).
    differs_reported: bool,
}

impl Copies {
    /// Copies that keep at most [`ORDERS_IN_MEMORY`] order numbers in
    /// memory, the rest in a temporary file in `dir`.
    pub fn spilling_in(dir: &Path) -> Copies {
        Copies {
            first: BoundedMap::spilling(orders_in_memory(), dir),
            places: Places::default(),
        }
    }

    /// Compares the order with its order number's first copy. A later copy
    /// the same as the first gets an info (when the first went on to
    /// mapping); one that differs gets an error, once, unless the
    /// caller already knew of it. An error is the spill file's (a full disk).
    pub fn see(&mut self, order: &Order, findings: &mut Vec<Finding>) -> io::Result<Copy> {
        let key = half(copy_key(order));
        let number = Number::of(&order.order_no);
        let Some(first) = self.first.get(&number)? else {
            let at = self.places.spot(&order.source);
            self.first.insert_new(
                number,
                FirstCopy {
                    key,
                    at,
                    mapped: true,
                    differs_reported: false,
                },
            )?;
            return Ok(Copy::First);
        };
        let first_at = self.places.location(first.at);
        if first.key == key {
            if first.mapped {
                findings.push(identical_copy(order, &first_at));
            }
            return Ok(Copy::Same);
        }
        if first.mapped && !first.differs_reported {
            self.first
                .update(&number, |first| first.differs_reported = true)?;
            findings.push(differing_copy(order, &first_at));
        }
        Ok(Copy::Differs)
    }

    /// Records whether the order number's copies went on to mapping.
    pub fn routed(&mut self, order_no: &str, mapped: bool) -> io::Result<()> {
        self.first
            .update(&Number::of(order_no), |first| first.mapped = mapped)?;
        Ok(())
    }

    /// Whether an order number was seen.
    pub fn contains(&self, order_no: &str) -> io::Result<bool> {
        self.first.contains(&Number::of(order_no))
    }

    /// Order numbers seen.
    pub fn len(&self) -> usize {
        self.first.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }
}

/// An order or invoice number as a key of what a run remembers per order:
/// up to 19 digits (1688's order numbers have 19) held in the key itself,
/// other text as it is. A month of orders then costs no text per order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Number {
    Digits { len: u8, value: u64 },
    Text(Box<str>),
}

/// On disk, in the order of [`Number`]'s `Ord`: a 1688 month's order
/// numbers then go to disk as they would be appended.
impl Stored for Number {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Number::Digits { len, value } => {
                out.extend_from_slice(&[0, *len]);
                out.extend_from_slice(&value.to_be_bytes());
            }
            Number::Text(text) => {
                out.push(1);
                out.extend_from_slice(text.as_bytes());
            }
        }
    }

    fn take(bytes: &[u8]) -> Option<Number> {
        match bytes.split_first()? {
            (0, rest) => {
                let (len, value) = rest.split_first()?;
                Some(Number::Digits {
                    len: *len,
                    value: u64::from_be_bytes(value.try_into().ok()?),
                })
            }
            (1, text) => Some(Number::Text(std::str::from_utf8(text).ok()?.into())),
            _ => None,
        }
    }
}

/// On disk: the digest's half, the flags, then where it was read.
impl Stored for FirstCopy {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key);
        out.push(u8::from(self.mapped) | u8::from(self.differs_reported) << 1);
        self.at.put(out);
    }

    fn take(bytes: &[u8]) -> Option<FirstCopy> {
        let (key, rest) = bytes.split_first_chunk::<16>()?;
        let (flags, at) = rest.split_first()?;
        Some(FirstCopy {
            key: *key,
            at: Spot::take(at)?,
            mapped: flags & 1 != 0,
            differs_reported: flags & 2 != 0,
        })
    }
}

impl Number {
    fn of(text: &str) -> Number {
        if (1..=19).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit())
            && let Ok(value) = text.parse::<u64>()
        {
            return Number::Digits {
                len: text.len() as u8,
                value,
            };
        }
        Number::Text(text.into())
    }
}

/// The first half of a digest: 128 bits tell copies apart as surely.
fn half(digest: [u8; 32]) -> [u8; 16] {
    let mut half = [0; 16];
    half.copy_from_slice(&digest[..16]);
    half
}

/// A digest of everything two copies of an order must agree on: all but
/// where each was read (decimals normalised, so 12.5 and 12.50 agree).
fn copy_key(order: &Order) -> [u8; 32] {
    use chrono::Timelike as _;
    use sha2::{Digest as _, Sha256};
    // The fields, each after its length, hashed at once: a hash fed field
    // by field spends more copying them into its block than hashing.
    let mut bytes = Vec::with_capacity(512);
    let field = |bytes: &mut Vec<u8>, value: &[u8]| {
        bytes.extend_from_slice(&(value.len() as u64).to_le_bytes());
        bytes.extend_from_slice(value);
    };
    let mut text = String::new();
    let amount = |bytes: &mut Vec<u8>, text: &mut String, d: Decimal| {
        text.clear();
        crate::money::push_decimal(text, d.normalize());
        field(bytes, text.as_bytes());
    };
    field(&mut bytes, order.order_no.as_bytes());
    field(&mut bytes, order.seller_company.as_bytes());
    field(&mut bytes, order.seller_member.as_bytes());
    for value in [
        order.goods_total,
        order.shipping,
        order.adjustment,
        order.paid,
    ] {
        amount(&mut bytes, &mut text, value);
    }
    field(&mut bytes, order.status.as_bytes());
    text.clear();
    if let Some(at) = order.paid_at {
        // As `Display` writes it: to whole seconds unless there is more.
        if at.nanosecond() != 0 || !crate::model::push_seconds(&mut text, at, b' ') {
            text = at.to_string();
        }
    }
    field(&mut bytes, text.as_bytes());
    field(&mut bytes, &(order.lines.len() as u64).to_le_bytes());
    for line in &order.lines {
        field(&mut bytes, line.title.as_bytes());
        field(&mut bytes, line.model.as_bytes());
        amount(&mut bytes, &mut text, line.unit_price);
        amount(&mut bytes, &mut text, line.quantity);
        field(&mut bytes, line.unit.as_bytes());
    }
    Sha256::digest(&bytes).into()
}

fn identical_copy(order: &Order, first: &Location) -> Finding {
    Finding::new(
        &rules::ORDER_DUPLICATE_IDENTICAL,
        format!(
            "order {} also appears at {first}; taken once",
            order.order_no
        ),
    )
    .hint("Nothing to do: overlapping exports are fine")
    .at(&order.source)
    .invoice(&order.order_no)
}

fn differing_copy(order: &Order, first: &Location) -> Finding {
    Finding::new(
        &rules::ORDER_DUPLICATE_DIFFERS,
        format!("order {} differs from its copy at {first}", order.order_no),
    )
    .hint("Keep only the newest export of this order, or correct the copy that is wrong")
    .at(&order.source)
    .column(col::ORDER_NO)
    .invoice(&order.order_no)
}

/// The warning for an order the status policy holds: a refund under way, or
/// goods not shipped yet (the invoice follows customs clearance).
fn held(order: &Order) -> Finding {
    if UNSHIPPED_STATUSES.contains(&order.status.as_str()) {
        Finding::new(
            &rules::ORDER_HELD,
            format!(
                "order {} is {}: nothing shipped or cleared by customs yet; invoice once shipped",
                order.order_no, order.status
            ),
        )
        .hint(
            "Convert it again once it has shipped (its deadline runs from customs clearance), \
             or list the status under [statuses] invoice in selfbill.toml to invoice it now",
        )
    } else {
        Finding::new(
            &rules::ORDER_HELD,
            format!(
                "order {} is {}; not invoiced this run",
                order.order_no, order.status
            ),
        )
        .hint("Convert it again once the refund is settled; invoice what was finally paid")
    }
}

/// Orders seen more than once (the same order in two exports, or twice in
/// one) are taken once when the copies agree; differing copies are an error
/// and neither copy is used.
pub fn dedupe(orders: &[Order], findings: &mut Vec<Finding>) -> Vec<usize> {
    // Order number → (index in `kept`, the first copy).
    let mut first_seen: HashMap<&str, (usize, &Order)> = HashMap::new();
    let mut kept: Vec<Option<usize>> = Vec::new();
    for (at, order) in orders.iter().enumerate() {
        match first_seen.get(order.order_no.as_str()) {
            None => {
                first_seen.insert(&order.order_no, (kept.len(), order));
                kept.push(Some(at));
            }
            Some(&(index, first)) => {
                if same_order(first, order) {
                    findings.push(identical_copy(order, &first.source));
                } else if kept[index].is_some() {
                    kept[index] = None;
                    findings.push(differing_copy(order, &first.source));
                }
            }
        }
    }
    kept.into_iter().flatten().collect()
}

/// Whether two copies of an order say the same: everything but where each
/// was read (decimals compared by value).
fn same_order(a: &Order, b: &Order) -> bool {
    copy_key(a) == copy_key(b)
}

fn map_order(
    order: &Order,
    number: String,
    ctx: &MapContext<'_>,
    parties: &mut Parties,
    findings: &mut Vec<Finding>,
) -> Option<Invoice> {
    let config = ctx.config;
    let (rate, rate_date) = order_rate(order, &number, ctx, findings)?;
    // Only this order's findings are looked at: counting the whole run's
    // for every order made a month of orders quadratic.
    let before = findings.len();
    refuse_negative_amounts(order, &number, findings);
    let lines = order_lines(order, &number, config, findings);
    let (charges, discounts) = adjustments(order);
    let totals = lines
        .as_ref()
        .and_then(|lines| reconcile(order, &number, lines, &charges, &discounts, findings));
    if findings[before..].iter().any(Finding::is_error) {
        return None;
    }
    let (lines, totals) = (lines?, totals?);
    let total_cny = totals.payable;
    let document = if config.invoice.currency == "MYR" {
        in_myr(order, &number, lines, charges, discounts, rate, findings)?
    } else {
        if !totals.rounding.is_zero() {
            let why = format!(
                "line rounding so the total equals 实付款 {}",
                totals.payable
            );
            findings.push(rounding_info(order, &number, totals.rounding, why));
        }
        Amounts {
            currency: "CNY".into(),
            exchange_rate: Some(rate),
            lines,
            charges,
            discounts,
            totals,
        }
    };
    precision_warnings(order, &number, &document, findings);
    let supplier = supplier(order, &number, ctx, parties, findings);
    Some(Invoice {
        number,
        type_code: DOCUMENT_TYPE_SELF_BILLED.into(),
        version: DOCUMENT_VERSION.into(),
        issued_at: ctx.issued_at,
        currency: document.currency,
        exchange_rate: document.exchange_rate,
        supplier,
        buyer: Arc::clone(&parties.buyer),
        lines: document.lines,
        charges: document.charges,
        discounts: document.discounts,
        tax_type: config.invoice.tax_type.clone(),
        totals: document.totals,
        incoterms: config.invoice.incoterms.clone(),
        customs_refs: ctx
            .customs
            .and_then(|c| c.get(&order.order_no))
            .and_then(|c| c.refs_joined()),
        rate,
        rate_date,
        total_cny,
        order_no: order.order_no.clone(),
        source: order.source.clone(),
        references: Vec::new(),
    })
}

/// An invoice's amounts in its currency.
struct Amounts {
    currency: Cow<'static, str>,
    exchange_rate: Option<Decimal>,
    lines: Vec<Line>,
    charges: Vec<Adjustment>,
    discounts: Vec<Adjustment>,
    totals: Totals,
}

/// A self-billed invoice carries no negative amount: reductions after the
/// sale are credit or refund notes (document types 12 and 14), and LHDN's
/// rules allow no negative price, quantity, charge or payable amount on an
/// invoice (reference/myinvois.md, Amount consistency). Each negative cell is
/// an error at the cell; a discount larger than goods plus shipping too.
fn refuse_negative_amounts(order: &Order, number: &str, findings: &mut Vec<Finding>) {
    let at = &order.source;
    let negative = |column: &str, value: Decimal, what: &str| {
        Finding::new(
            &rules::ORDER_NEGATIVE_AMOUNT,
            format!(
                "order {}: {what} {value} is negative; a self-billed invoice has no negative amounts",
                order.order_no
            ),
        )
        .hint(
            "Correct the export; a refund after the sale is a refund note, not a negative invoice",
        )
        .column(column)
        .invoice(number)
        .value(value.to_string())
    };
    for (index, line) in order.lines.iter().enumerate() {
        let line_at = at.with_row(line.row);
        let what = format!("line {} ", index + 1);
        if line.unit_price < Decimal::ZERO {
            findings.push(
                negative(col::UNIT_PRICE, line.unit_price, &format!("{what}单价")).at(&line_at),
            );
        }
        if line.quantity < Decimal::ZERO {
            findings
                .push(negative(col::QUANTITY, line.quantity, &format!("{what}数量")).at(&line_at));
        }
    }
    for (column, value, what) in [
        (col::GOODS_TOTAL, order.goods_total, "货品总价"),
        (col::SHIPPING, order.shipping, "运费"),
    ] {
        if value < Decimal::ZERO {
            findings.push(negative(column, value, what).at(at));
        }
    }
    let before_discount = order.goods_total.max(Decimal::ZERO) + order.shipping.max(Decimal::ZERO);
    if order.adjustment < Decimal::ZERO && -order.adjustment > before_discount {
        findings.push(
            Finding::new(
                &rules::ORDER_DISCOUNT_EXCEEDS_GOODS,
                format!(
                    "order {}: the discount {} is larger than goods and shipping {before_discount}",
                    order.order_no, order.adjustment
                ),
            )
            .at(at)
            .column(col::ADJUSTMENT)
            .invoice(number)
            .value(order.adjustment.to_string()),
        );
    } else if order.paid < Decimal::ZERO {
        findings.push(negative(col::PAID, order.paid, "实付款").at(at));
    }
}

/// The invoice lines in CNY: description, unit, UnitPrice as exported,
/// Subtotal = UnitPrice × Quantity to cents. `None` (with findings) when a
/// title is empty once cleaned or a line total is beyond what selfbill writes.
fn order_lines(
    order: &Order,
    number: &str,
    config: &Config,
    findings: &mut Vec<Finding>,
) -> Option<Vec<Line>> {
    let mut lines = Vec::with_capacity(order.lines.len());
    let mut complete = true;
    for (index, source) in order.lines.iter().enumerate() {
        let line_at = order.source.with_row(source.row);
        let description = description(order, number, index, findings);
        let unit = line_unit(source, number, &line_at, config, findings);
        let subtotal = source
            .unit_price
            .checked_mul(source.quantity)
            .map(cents)
            .filter(|total| total.abs() <= MAX_AMOUNT);
        if subtotal.is_none() {
            let what = format!(
                "line {} total (单价 {} × 数量 {})",
                index + 1,
                source.unit_price,
                source.quantity
            );
            findings.push(
                too_large(order, number, &what)
                    .at(&line_at)
                    .column(col::UNIT_PRICE),
            );
        }
        let (Some(description), Some(subtotal)) = (description, subtotal) else {
            complete = false;
            continue;
        };
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
    complete.then_some(lines)
}

/// 货品标题 plus 型号 (when not already in the title), cleaned of control
/// characters as the writer would drop them, cut to 300 characters. `None`
/// (an error at the title cell) when nothing printable is left, so that
/// `convert` refuses what `check` would find empty in the written file.
fn description(
    order: &Order,
    number: &str,
    index: usize,
    findings: &mut Vec<Finding>,
) -> Option<String> {
    let source = &order.lines[index];
    let line_at = order.source.with_row(source.row);
    let title = clean_text(&source.title);
    let model = clean_text(&source.model);
    if title.is_empty() {
        findings.push(
            Finding::new(
                &rules::EXPORT_BAD_CELL,
                format!(
                    "货品标题 of order {} line {} has no printable characters ({:?})",
                    order.order_no,
                    index + 1,
                    source.title
                ),
            )
            .hint("Every order line needs its product title; export the order again")
            .at(&line_at)
            .column(col::TITLE)
            .invoice(number)
            .value(&source.title),
        );
        return None;
    }
    let mut description = title;
    if !model.is_empty() && !description.contains(&model) {
        description.push(' ');
        description.push_str(&model);
    }
    let length = description.chars().count();
    if length > MAX_DESCRIPTION_CHARS {
        findings.push(
            Finding::new(
                &rules::LINE_DESCRIPTION_CUT,
                format!(
                    "the description of order {} line {} has {length} characters; cut to {MAX_DESCRIPTION_CHARS}",
                    order.order_no,
                    index + 1,
                ),
            )
            .hint("LHDN allows 300 characters; shorten 货品标题 or 型号 if the cut text matters")
            .at(&line_at)
            .column(col::TITLE)
            .invoice(number),
        );
        description = description.chars().take(MAX_DESCRIPTION_CHARS).collect();
        description.truncate(description.trim_end().len());
    }
    Some(description)
}

/// Text as it can stand in an LHDN cell: tab, CR and LF become spaces; other
/// control characters, zero-width characters and the non-characters U+FFFE
/// and U+FFFF (which an xlsx cannot hold) are dropped; the ends are trimmed.
pub fn clean_text(text: &str) -> String {
    let changes = |c: char| {
        matches!(
            c,
            '\u{200B}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{2060}'
                | '\u{FEFF}'
                | '\u{FFFE}'
                | '\u{FFFF}'
        ) || c.is_control()
    };
    // Nearly every text is clean already: only trimmed.
    if !text.chars().any(changes) {
        return text.trim().to_string();
    }
    let cleaned: String = text
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => None,
            '\u{FFFE}' | '\u{FFFF}' => None,
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    cleaned.trim().to_string()
}

/// The line's LHDN unit code; an unknown unit is a warning and no code.
fn line_unit(
    source: &OrderLine,
    number: &str,
    line_at: &Location,
    config: &Config,
    findings: &mut Vec<Finding>,
) -> Option<String> {
    let unit = config.unit_code(&source.unit).map(str::to_owned);
    if unit.is_none() && !source.unit.is_empty() {
        findings.push(
            Finding::new(
                &rules::LINE_UNKNOWN_UNIT,
                format!(
                    "unit {:?} has no LHDN unit code; UnitOfMeasurement left empty",
                    source.unit
                ),
            )
            .hint(format!(
                "Add it under [units] in selfbill.toml, e.g. \"{}\" = \"H87\" (find codes with `selfbill codes unit`)",
                source.unit
            ))
            .at(line_at)
            .column(col::UNIT)
            .invoice(number)
            .value(&source.unit),
        );
    }
    unit
}

/// 运费 and a price increase as DocumentCharges, a discount as a
/// DocumentDiscounts row, each to cents. (Negative 运费 is refused earlier.)
fn adjustments(order: &Order) -> (Vec<Adjustment>, Vec<Adjustment>) {
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
    (charges, discounts)
}

/// The CNY totals, with TotalRoundingAmount = 实付款 − (lines − discount +
/// charges). Rounding is accepted only up to what the rounded amounts
/// themselves produce: Σ |round(单价 × 数量) − 单价 × 数量| over the lines
/// (and the rounding of 运费, 涨价或折扣 and 实付款 when they have more than
/// 2 decimals), in whole cents. 货品总价 must equal Σ line totals to the
/// lines' own rounding. Anything more is an error naming the cell.
fn reconcile(
    order: &Order,
    number: &str,
    lines: &[Line],
    charges: &[Adjustment],
    discounts: &[Adjustment],
    findings: &mut Vec<Finding>,
) -> Option<Totals> {
    let at = &order.source;
    let unrounded = |exact: Decimal| (cents(exact) - exact).abs();
    let line_rounding = order
        .lines
        .iter()
        .try_fold(Decimal::ZERO, |sum, line| {
            sum.checked_add(unrounded(line.unit_price.checked_mul(line.quantity)?))
        })
        .map(money::up_to_cents);
    let Some(line_rounding) = line_rounding else {
        findings.push(
            too_large(order, number, "Σ 单价 × 数量")
                .at(at)
                .column(col::GOODS_TOTAL),
        );
        return None;
    };
    let Some(totals) = Totals::of(lines, charges, discounts, Decimal::ZERO)
        .filter(|t| t.excluding_tax.abs() <= MAX_AMOUNT && t.net.abs() <= MAX_AMOUNT)
    else {
        findings.push(
            too_large(order, number, "the invoice total")
                .at(at)
                .column(col::PAID),
        );
        return None;
    };
    let tolerance = money::up_to_cents(
        line_rounding
            + unrounded(order.shipping)
            + unrounded(order.adjustment)
            + unrounded(order.paid),
    );
    let goods = cents(order.goods_total);
    let mut reconciles = true;
    if (goods - totals.net).abs() > line_rounding {
        reconciles = false;
        findings.push(
            Finding::new(
                &rules::ORDER_GOODS_TOTAL_DIFFERS,
                format!(
                    "order {}: 货品总价 is {}, but its lines (单价 × 数量, to cents) add up to {} \
                     (their rounding allows {line_rounding})",
                    order.order_no, order.goods_total, totals.net
                ),
            )
            .hint("Check the order on 1688 and correct the export; this order is not converted")
            .at(at)
            .column(col::GOODS_TOTAL)
            .invoice(number)
            .value(order.goods_total.to_string()),
        );
    }
    let paid = cents(order.paid);
    let difference = paid - totals.excluding_tax;
    if difference.abs() > tolerance {
        reconciles = false;
        findings.push(
            Finding::new(
                &rules::ORDER_DOES_NOT_RECONCILE,
                format!(
                    "order {} does not add up: lines {} − discount {} + charges {} = {}, but 实付款 is {} \
                     (货品总价 {}, 运费 {}, 涨价或折扣 {}; the lines' rounding allows {tolerance})",
                    order.order_no,
                    totals.net,
                    totals.discount,
                    totals.charge,
                    totals.excluding_tax,
                    order.paid,
                    order.goods_total,
                    order.shipping,
                    order.adjustment
                ),
            )
            .hint(
                "Check the order on 1688 (coupons, partial refunds) and correct the export; \
                 this order is not converted",
            )
            .at(at)
            .column(col::PAID)
            .invoice(number)
            .value(order.paid.to_string()),
        );
    }
    if !reconciles {
        return None;
    }
    Totals::of(lines, charges, discounts, difference)
}

/// An info: this much rounding went into TotalRoundingAmount.
fn rounding_info(order: &Order, number: &str, rounding: Decimal, why: String) -> Finding {
    Finding::new(
        &rules::ORDER_ROUNDING,
        format!(
            "order {}: {rounding} of {why} goes into TotalRoundingAmount",
            order.order_no
        ),
    )
    .hint("Nothing to do")
    .at(&order.source)
    .column(col::PAID)
    .invoice(number)
    .value(rounding.to_string())
}

/// An amount beyond [`MAX_AMOUNT`], the largest selfbill writes (and reads
/// back exactly): an error naming the order.
fn too_large(order: &Order, number: &str, what: &str) -> Finding {
    Finding::new(
        &rules::ORDER_AMOUNT_TOO_LARGE,
        format!(
            "order {}: {what} is beyond {MAX_AMOUNT}, the largest amount an invoice can carry here",
            order.order_no
        ),
    )
    .hint("Check 单价 and 数量 of the order in the export; no 1688 order comes near this")
    .invoice(number)
}

/// The parties of a run's invoices, made once: the buyer, and each seller
/// as a supplier (every invoice of a seller shares one).
struct Parties {
    buyer: Arc<Party>,
    /// By 卖家会员名, then 卖家公司名, which the supplier is made from.
    suppliers: HashMap<String, Vec<(String, Arc<Party>)>>,
    /// Sellers already warned about an unknown address.
    warned_sellers: HashSet<String>,
}

impl Parties {
    fn new(config: &Config) -> Parties {
        Parties {
            buyer: Arc::new(buyer_party(config)),
            suppliers: HashMap::new(),
            warned_sellers: HashSet::new(),
        }
    }
}

/// The seller as the invoice's supplier, with the findings on its contact
/// details.
fn supplier(
    order: &Order,
    number: &str,
    ctx: &MapContext<'_>,
    parties: &mut Parties,
    findings: &mut Vec<Finding>,
) -> Arc<Party> {
    let known = parties
        .suppliers
        .get(&order.seller_member)
        .and_then(|companies| {
            companies
                .iter()
                .find(|(company, _)| *company == order.seller_company)
        })
        .map(|(_, supplier)| Arc::clone(supplier));
    let supplier = known.unwrap_or_else(|| {
        let supplier = Arc::new(supplier_party(
            order,
            ctx.suppliers.get(&order.seller_member),
        ));
        parties
            .suppliers
            .entry(order.seller_member.clone())
            .or_default()
            .push((order.seller_company.clone(), Arc::clone(&supplier)));
        supplier
    });
    findings.extend(supplier_contacts(
        order,
        &supplier,
        number,
        &mut parties.warned_sellers,
    ));
    supplier
}

/// The seller's contact details: no phone is an error on every invoice (LHDN
/// takes 8-20 characters; NA only for a consolidated invoice's buyer), an
/// unknown address a warning once per seller.
fn supplier_contacts(
    order: &Order,
    supplier: &Party,
    number: &str,
    warned_sellers: &mut HashSet<String>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let member = &order.seller_member;
    if supplier.phone == NOT_APPLICABLE {
        findings.push(
            Finding::new(
                &rules::SUPPLIER_PHONE_MISSING,
                format!(
                    "seller {member} ({}) has no phone number in the supplier directory, and LHDN \
                     needs the supplier's contact number",
                    supplier.name
                ),
            )
            .hint(format!(
                "Fill in phone for {member} in suppliers.csv (`selfbill suppliers` adds the row): \
                 the number is on the seller's 1688 page under 联系方式, written with its country \
                 code and no spaces, e.g. +8657985550101"
            ))
            .at(&order.source)
            .column(col::SELLER_MEMBER)
            .invoice(number)
            .value(member),
        );
    }
    if supplier.address[0] == NOT_APPLICABLE && warned_sellers.insert(member.clone()) {
        findings.push(
            Finding::new(
                &rules::SUPPLIER_DETAILS_MISSING,
                format!(
                    "seller {member} ({}) has no address in the supplier directory; written as \
                     LHDN's template asks: NA, state {}, country {}",
                    supplier.name, supplier.state, supplier.country
                ),
            )
            .hint(format!(
                "Fill in the address of {member} in suppliers.csv (`selfbill suppliers` adds the \
                 row); the seller's address is on its 1688 page under 联系方式"
            ))
            .at(&order.source)
            .column(col::SELLER_MEMBER)
            .value(member),
        );
    }
    findings
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

/// The invoice in MYR, each amount converted once at its own level: a line
/// total is its CNY line total × rate, to cents (unless that is 0.00 while
/// the line's own MYR price gives a cent: see [`money::converted_line`]); a charge or discount its
/// CNY amount × rate; the document totals are sums of those; and
/// TotalRoundingAmount takes whatever cents remain between them and
/// 实付款 × rate, so TotalPayableAmount is 实付款 × rate to the cent.
/// UnitPrice is the MYR price with as many decimals as UnitPrice × Quantity
/// needs to give the line total (at least 4, never zero for a price that is
/// not zero). The order was reconciled in CNY before this.
fn in_myr(
    order: &Order,
    number: &str,
    lines: Vec<Line>,
    charges: Vec<Adjustment>,
    discounts: Vec<Adjustment>,
    rate: Decimal,
    findings: &mut Vec<Finding>,
) -> Option<Amounts> {
    let at = &order.source;
    let convert = |amount: Decimal| amount.checked_mul(rate).map(cents);
    let overflow = |findings: &mut Vec<Finding>| {
        findings.push(
            too_large(order, number, &format!("the invoice in MYR at rate {rate}"))
                .at(at)
                .column(col::PAID),
        );
        None
    };
    let mut converted = Vec::with_capacity(lines.len());
    for line in lines {
        let Some((unit_price, total)) = money::converted_line(
            line.unit_price,
            line.quantity,
            line.total_excluding_tax,
            rate,
        ) else {
            return overflow(findings);
        };
        converted.push(Line {
            unit_price,
            subtotal: total,
            total_excluding_tax: total,
            ..line
        });
    }
    let convert_all = |items: Vec<Adjustment>| -> Option<Vec<Adjustment>> {
        items
            .into_iter()
            .map(|a| {
                Some(Adjustment {
                    amount: convert(a.amount)?,
                    ..a
                })
            })
            .collect()
    };
    let (Some(charges), Some(discounts)) = (convert_all(charges), convert_all(discounts)) else {
        return overflow(findings);
    };
    let (Some(payable), Some(sums)) = (
        convert(cents(order.paid)),
        Totals::of(&converted, &charges, &discounts, Decimal::ZERO),
    ) else {
        return overflow(findings);
    };
    if [
        payable,
        sums.net,
        sums.charge,
        sums.discount,
        sums.excluding_tax,
    ]
    .iter()
    .any(|amount| amount.abs() > MAX_AMOUNT)
    {
        return overflow(findings);
    }
    let rounding = payable - sums.excluding_tax;
    if !rounding.is_zero() {
        let why = format!(
            "line and conversion rounding (MYR) so the total equals 实付款 {} × {rate} = {payable} MYR",
            cents(order.paid)
        );
        findings.push(rounding_info(order, number, rounding, why));
    }
    let totals = Totals::of(&converted, &charges, &discounts, rounding)?;
    Some(Amounts {
        currency: "MYR".into(),
        exchange_rate: None,
        lines: converted,
        charges,
        discounts,
        totals,
    })
}

/// A warning for each UnitPrice with more decimals than LHDN's template
/// shows (its amounts are formatted to 5 places; LHDN publishes no limit).
fn precision_warnings(order: &Order, number: &str, amounts: &Amounts, findings: &mut Vec<Finding>) {
    for line in &amounts.lines {
        let price = line.unit_price.normalize();
        if price.scale() <= money::UNIT_PRICE_DECIMALS_SHOWN {
            continue;
        }
        findings.push(
            Finding::new(
                &rules::LINE_UNIT_PRICE_PRECISION,
                format!(
                    "order {} line {}: UnitPrice {price} {} needs {} decimals for UnitPrice × \
                     Quantity to give the line total {}; it is written in full, never rounded to zero",
                    order.order_no,
                    line.id,
                    amounts.currency,
                    price.scale(),
                    line.subtotal
                ),
            )
            .at(&order.source.with_row(line.source_row))
            .column(col::UNIT_PRICE)
            .invoice(number)
            .value(price.to_string()),
        );
    }
}

/// The supplier: the directory's values where given, else LHDN's
/// foreign-supplier conventions. An unknown address is written as LHDN's
/// template comment asks: `NA` as line 0 and, of the other address fields,
/// only the state (`17` unless given) and the country (`CHN` unless given).
pub fn supplier_party(order: &Order, entry: Option<&SupplierEntry>) -> Party {
    let empty = SupplierEntry::default();
    let entry = entry.unwrap_or(&empty);
    let or = |value: &str, fallback: &str| {
        let value = clean_text(value);
        if value.is_empty() {
            clean_text(fallback)
        } else {
            value
        }
    };
    let company = if order.seller_company.is_empty() {
        &order.seller_member
    } else {
        &order.seller_company
    };
    let known_address = !clean_text(&entry.address0).is_empty();
    let if_known = |value: &str, fallback: &str| {
        if known_address {
            or(value, fallback)
        } else {
            String::new()
        }
    };
    Party {
        tin: or(&entry.tin, FOREIGN_SUPPLIER_TIN),
        name: or(&entry.name, company),
        id_type: or(&entry.id_type, "BRN"),
        id_no: or(&entry.id_no, NOT_APPLICABLE),
        sst_no: or(&entry.sst_no, NOT_APPLICABLE),
        ttx_no: Some(NOT_APPLICABLE.into()),
        email: clean_text(&entry.email),
        msic: Some(MSIC_NOT_APPLICABLE.into()),
        business_activity: Some(NOT_APPLICABLE.into()),
        address: [
            or(&entry.address0, NOT_APPLICABLE),
            if_known(&entry.address1, ""),
            if_known(&entry.address2, ""),
        ],
        postcode: if_known(&entry.postcode, ""),
        city: if_known(&entry.city, NOT_APPLICABLE),
        state: or(&entry.state, STATE_NOT_APPLICABLE),
        country: or(&entry.country, COUNTRY_CHINA),
        phone: or(&entry.phone, NOT_APPLICABLE),
    }
}

pub fn buyer_party(config: &Config) -> Party {
    let buyer = &config.buyer;
    let line = |i: usize| clean_text(buyer.address.get(i).map_or("", String::as_str));
    Party {
        tin: clean_text(&buyer.tin),
        name: clean_text(&buyer.name),
        id_type: clean_text(&buyer.id_type),
        id_no: clean_text(&buyer.id_no),
        sst_no: clean_text(&buyer.sst_no),
        ttx_no: None,
        email: clean_text(buyer.email.as_deref().unwrap_or_default()),
        msic: None,
        business_activity: None,
        address: [line(0), line(1), line(2)],
        postcode: clean_text(&buyer.postcode),
        city: clean_text(&buyer.city),
        state: clean_text(&buyer.state),
        country: clean_text(&buyer.country),
        phone: clean_text(&buyer.phone),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::SupplierDirectory;
    use crate::rules;
    use crate::testing::{config, d, map, map_at, map_with, order, suppliers};

    /// A copy's digest is the SHA-256 of each field after its length, the
    /// amounts normalized: the same as hashing them field by field.
    #[test]
    fn a_copy_digest_hashes_each_field_after_its_length() {
        use sha2::{Digest as _, Sha256};
        let mut a = order(
            "2410000000000000001",
            &[("1.50", "2", "个"), ("0.0125", "100000", "件")],
            "-3.00",
            "0",
            "1250.50",
        );
        a.lines[0].title = "标题 with \u{1} and more".to_string();
        a.paid_at = None;
        let b = order("2", &[], "0", "0", "0");
        // Times chrono writes with a fraction, a sign or a leap second.
        let day = chrono::NaiveDate::from_ymd_opt(2026, 10, 10).unwrap();
        let mut c = order("3", &[("1", "1", "个")], "0", "0", "1");
        c.paid_at = Some(day.and_hms_milli_opt(9, 17, 5, 250).unwrap());
        let mut e = c.clone();
        e.paid_at = Some(day.and_hms_milli_opt(23, 59, 59, 1_000).unwrap());
        let mut f = c.clone();
        f.paid_at = chrono::NaiveDate::from_ymd_opt(12026, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5);
        assert!(
            b.paid_at
                .is_some_and(|t| t.and_utc().timestamp_subsec_nanos() == 0)
        );
        for order in [&a, &b, &c, &e, &f] {
            let mut hash = Sha256::new();
            let mut field = |value: &[u8]| {
                hash.update((value.len() as u64).to_le_bytes());
                hash.update(value);
            };
            let amount = |d: rust_decimal::Decimal| d.normalize().to_string();
            field(order.order_no.as_bytes());
            field(order.seller_company.as_bytes());
            field(order.seller_member.as_bytes());
            for value in [
                order.goods_total,
                order.shipping,
                order.adjustment,
                order.paid,
            ] {
                field(amount(value).as_bytes());
            }
            field(order.status.as_bytes());
            field(
                order
                    .paid_at
                    .map(|t| t.to_string())
                    .unwrap_or_default()
                    .as_bytes(),
            );
            field(&(order.lines.len() as u64).to_le_bytes());
            for line in &order.lines {
                field(line.title.as_bytes());
                field(line.model.as_bytes());
                field(amount(line.unit_price).as_bytes());
                field(amount(line.quantity).as_bytes());
                field(line.unit.as_bytes());
            }
            let expected: [u8; 32] = hash.finalize().into();
            assert_eq!(super::copy_key(order), expected);
        }
    }

    #[test]
    fn order_numbers_are_kept_compact_and_apart() {
        use super::Number;
        let digits = Number::of("2410000000000000001");
        assert!(matches!(digits, Number::Digits { len: 19, .. }));
        // Leading zeros, more digits than fit, and other text stay apart.
        assert_ne!(Number::of("0123"), Number::of("123"));
        assert!(matches!(
            Number::of("24100000000000000011"),
            Number::Text(_)
        ));
        assert!(matches!(Number::of("INV-1"), Number::Text(_)));
        assert!(matches!(Number::of(""), Number::Text(_)));
        assert_eq!(Number::of("2410000000000000001"), digits);
        assert!(std::mem::size_of::<Number>() <= 24);
    }

    /// An invoice number taken before the cap is found taken past it, with
    /// where its first order was read, as with every number in memory.
    #[test]
    fn invoice_numbers_past_the_memory_cap_are_found_taken() {
        use super::{MapContext, Mapper, RateSource};
        let (config, suppliers) = (config(), suppliers());
        let ctx = MapContext {
            config: &config,
            suppliers: &suppliers,
            rates: RateSource::Fixed(d("0.6097")),
            issued_at: crate::testing::now(),
            customs: None,
            svdp: false,
        };
        let orders: Vec<_> = (0..30u32)
            .map(|i| {
                let mut order = order(
                    &format!("SB-{i}"),
                    &[("12.50", "40", "个")],
                    "0",
                    "0",
                    "500",
                );
                order.source.row = Some(2 + i);
                order
            })
            .collect();
        let run = |mut mapper: Mapper| {
            let mut findings = Vec::new();
            let mut numbers = Vec::new();
            // Every order, then the first ten again: their numbers are taken.
            for order in orders.iter().chain(&orders[..10]) {
                if let Some(invoice) = mapper.map(order, &mut findings).unwrap() {
                    numbers.push(invoice.number);
                }
            }
            (numbers, findings)
        };
        let dir = tempfile::tempdir().unwrap();
        let (numbers, findings) = run(Mapper::spilling_past(&ctx, 4, dir.path()));
        assert_eq!((numbers, findings.clone()), run(Mapper::new(&ctx)));
        let taken: Vec<_> = findings
            .iter()
            .filter(|f| f.rule.id == "order.duplicate-invoice-number")
            .collect();
        assert_eq!(taken.len(), 10);
        assert!(
            taken[0]
                .message
                .contains("export.xlsx, sheet sheet1, row 2"),
            "{}",
            taken[0].message
        );
    }

    #[test]
    fn numbers_and_first_copies_read_back_as_written() {
        use super::{FirstCopy, Number, Spot, Stored};
        for text in [
            "2410000000000000001",
            "0123",
            "INV-1",
            "",
            "24100000000000000011",
        ] {
            let number = Number::of(text);
            let mut bytes = Vec::new();
            number.put(&mut bytes);
            assert_eq!(Number::take(&bytes), Some(number));
        }
        // On disk in the order of the keys in memory.
        let mut numbers: Vec<_> = ["9", "10", "010", "A", "2410000000000000001", "B"]
            .map(Number::of)
            .to_vec();
        numbers.sort();
        let bytes: Vec<Vec<u8>> = numbers
            .iter()
            .map(|n| {
                let mut out = Vec::new();
                n.put(&mut out);
                out
            })
            .collect();
        assert!(bytes.is_sorted());
        for (row, mapped, differs_reported) in [(None, true, false), (Some(7), false, true)] {
            let first = FirstCopy {
                key: [3; 16],
                at: Spot { place: 2, row },
                mapped,
                differs_reported,
            };
            let mut bytes = Vec::new();
            first.put(&mut bytes);
            let back = FirstCopy::take(&bytes).unwrap();
            assert_eq!(
                (
                    back.key,
                    back.at.place,
                    back.at.row,
                    back.mapped,
                    back.differs_reported
                ),
                ([3; 16], 2, row, mapped, differs_reported)
            );
        }
    }

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
        assert_eq!(rules(&mapped), ["order.rounding", "customs.missing"]);
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
                "customs.missing"
            ]
        );
    }

    #[test]
    fn sellers_not_in_the_directory_take_lhdns_foreign_supplier_values() {
        let mapped = map_with(
            &[
                order("1", &[("1", "1", "个")], "0", "0", "1"),
                order("2", &[("1", "1", "个")], "0", "0", "1"),
            ],
            &config(),
            &SupplierDirectory::default(),
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
        // The address as LHDN's template comment asks: after NA, only the state (and country).
        assert_eq!(supplier.city, "");
        assert_eq!(supplier.postcode, "");
        // No phone: an error on each invoice; no address: one warning per seller.
        assert_eq!(
            rules(&mapped),
            [
                "supplier.phone-missing",
                "supplier.details-missing",
                "customs.missing",
                "supplier.phone-missing",
                "customs.missing"
            ]
        );
    }

    #[test]
    fn unshipped_orders_are_held_until_shipped() {
        let mut unshipped = order("1", &[("1", "1", "个")], "0", "0", "1");
        unshipped.status = "等待卖家发货".into();
        let mut paid = order("2", &[("1", "1", "个")], "0", "0", "1");
        paid.status = "买家已付款".into();
        let mapped = map(&[unshipped, paid], &config());
        assert!(mapped.invoices.is_empty());
        assert_eq!(mapped.held, 2);
        assert_eq!(rules(&mapped), ["order.held", "order.held"]);
        let finding = &mapped.findings[0];
        assert!(
            finding.message.contains("invoice once shipped"),
            "{}",
            finding.message
        );
        assert_eq!(finding.column.as_deref(), Some("订单状态"));
        assert_eq!(finding.value.as_deref(), Some("等待卖家发货"));
    }

    #[test]
    fn a_seller_without_a_phone_is_an_error_on_each_invoice_at_its_export_row() {
        let directory = SupplierDirectory::parse(
            "member_id,name,phone,address0,city,state\n\
             yiwushili2019,Yiwu Shili,,,Yiwu,Zhejiang\n"
                .as_bytes(),
        )
        .unwrap();
        let mapped = map_with(
            &[order("1", &[("1", "1", "个")], "0", "0", "1")],
            &config(),
            &directory,
        );
        let phone = &mapped.findings[0];
        assert_eq!(phone.rule, &rules::SUPPLIER_PHONE_MISSING);
        assert!(phone.hint.contains("suppliers.csv") && phone.hint.contains("联系方式"));
        assert_eq!(phone.row, Some(2));
        assert_eq!(phone.column.as_deref(), Some("卖家会员名"));
        assert_eq!(phone.invoice.as_deref(), Some("1"));
        assert_eq!(phone.value.as_deref(), Some("yiwushili2019"));
        // No address line: NA, the directory's state, nothing else.
        let supplier = &mapped.invoices[0].supplier;
        assert_eq!(supplier.address[0], "NA");
        assert_eq!(supplier.city, "");
        assert_eq!(supplier.state, "Zhejiang");
        assert_eq!(supplier.country, "CHN");
        assert_eq!(mapped.findings[1].rule, &rules::SUPPLIER_DETAILS_MISSING);
    }

    #[test]
    fn customs_clearance_sets_references_deadline_and_version() {
        use crate::model::{Clearance, Concession, Location};
        use crate::read::customs::Customs;
        let date = |t: &str| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap();
        let at = |row| Location::new("customs.csv", None, Some(row));
        let customs = Customs::new(
            "customs.csv",
            vec![
                (
                    "late".into(),
                    Clearance {
                        refs: vec!["E1".into(), "E2".into()],
                        cleared_on: Some(date("2026-08-14")),
                        concession: None,
                        source: at(2),
                    },
                ),
                (
                    "in-time".into(),
                    Clearance {
                        refs: Vec::new(),
                        cleared_on: Some(date("2026-10-02")),
                        concession: Some(Concession::EPam),
                        source: at(3),
                    },
                ),
                (
                    "before".into(),
                    Clearance {
                        cleared_on: Some(date("2025-12-31")),
                        source: at(4),
                        ..Clearance::default()
                    },
                ),
            ],
        );
        let mut config = config();
        config.buyer.einvoice_from = Some(date("2026-01-01"));
        let orders = [
            order("late", &[("1", "1", "个")], "0", "0", "1"),
            order("in-time", &[("1", "1", "个")], "0", "0", "1"),
            order("before", &[("1", "1", "个")], "0", "0", "1"),
        ];
        let suppliers = crate::testing::suppliers();
        let run = |svdp| {
            super::map_orders(
                &orders,
                &super::MapContext {
                    config: &config,
                    suppliers: &suppliers,
                    rates: super::RateSource::Fixed(d("0.6097")),
                    issued_at: crate::testing::now(),
                    customs: Some(&customs),
                    svdp,
                },
            )
        };
        let mapped = run(false);
        assert_eq!(
            rules(&mapped),
            ["deadline.passed", "order.before-einvoicing"]
        );
        assert_eq!(mapped.skipped, 1);
        assert_eq!(mapped.invoices.len(), 2);
        let late = &mapped.invoices[0];
        assert_eq!(late.customs_refs.as_deref(), Some("E1,E2"));
        assert_eq!(late.version, "1.1");
        assert_eq!(mapped.findings[0].invoice.as_deref(), Some("late"));
        // A concession excuses the reference.
        assert_eq!(mapped.invoices[1].customs_refs, None);
        let mapped = run(true);
        assert_eq!(rules(&mapped), ["deadline.svdp", "order.before-einvoicing"]);
        assert_eq!(mapped.invoices[0].version, "SVDP 1.2");
        assert_eq!(mapped.invoices[1].version, "1.1");
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

    fn myr() -> crate::config::Config {
        let mut config = config();
        config.invoice.currency = "MYR".into();
        config
    }

    /// Σ line totals − discounts + charges + rounding = payable.
    fn adds_up(invoice: &crate::model::Invoice) -> bool {
        let t = &invoice.totals;
        let lines: rust_decimal::Decimal =
            invoice.lines.iter().map(|l| l.total_excluding_tax).sum();
        let charges: rust_decimal::Decimal = invoice.charges.iter().map(|c| c.amount).sum();
        let discounts: rust_decimal::Decimal = invoice.discounts.iter().map(|c| c.amount).sum();
        lines - discounts + charges + t.rounding == t.payable
            && invoice
                .lines
                .iter()
                .all(|l| crate::money::cents(l.unit_price * l.quantity) == l.subtotal)
    }

    #[test]
    fn myr_invoices_equal_what_was_paid_times_the_rate() {
        // 0.0125 × 100,000 = 1250 CNY → 762.13 MYR (not 760.00 from a price cut to 0.0076).
        let mapped = map(
            &[order("1", &[("0.0125", "100000", "个")], "0", "0", "1250")],
            &myr(),
        );
        let invoice = &mapped.invoices[0];
        assert_eq!(invoice.totals.payable, d("762.13"));
        assert_eq!(invoice.lines[0].subtotal, d("762.13"));
        assert_eq!(invoice.lines[0].unit_price, d("0.0076213"));
        assert!(adds_up(invoice));
        assert!(rules(&mapped).contains(&"line.unit-price-precision"));
        // 0.00004 × 10,000,000 = 400 CNY → 243.88 MYR; the unit price is never 0.
        let mapped = map(
            &[order(
                "2",
                &[("0.00004", "10000000", "个")],
                "0",
                "0",
                "400",
            )],
            &myr(),
        );
        let invoice = &mapped.invoices[0];
        assert_eq!(invoice.totals.payable, d("243.88"));
        assert_eq!(invoice.lines[0].unit_price, d("0.000024388"));
        assert!(adds_up(invoice));
    }

    #[test]
    fn many_line_myr_invoices_do_not_drift_from_paid_times_rate() {
        for count in [40, 73, 100] {
            let lines: Vec<(String, String)> = (0..count)
                .map(|i| {
                    (
                        format!("{}.{:02}", 1 + i % 7, (i * 37) % 100),
                        format!("{}", 1 + i % 13),
                    )
                })
                .collect();
            let borrowed: Vec<(&str, &str, &str)> = lines
                .iter()
                .map(|(p, q)| (p.as_str(), q.as_str(), "个"))
                .collect();
            let goods: rust_decimal::Decimal = borrowed.iter().map(|(p, q, _)| d(p) * d(q)).sum();
            let paid = goods + d("12.34");
            let mapped = map(
                &[order("1", &borrowed, "12.34", "0", &paid.to_string())],
                &myr(),
            );
            let invoice = &mapped.invoices[0];
            assert_eq!(
                invoice.totals.payable,
                crate::money::cents(paid * d("0.6097")),
                "{count} lines"
            );
            assert!(adds_up(invoice), "{count} lines");
        }
    }

    #[test]
    fn only_the_rounding_the_lines_produce_is_tolerated() {
        // 500 lines of 1.00 × 1 have no rounding: 495.00 paid is 5.00 short, an error.
        let lines = vec![("1.00", "1", "个"); 500];
        let mut short = order("1", &lines, "0", "0", "495");
        short.goods_total = d("500");
        let mapped = map(&[short], &config());
        assert!(mapped.invoices.is_empty());
        assert_eq!(rules(&mapped), ["order.does-not-reconcile"]);
        // A negative 运费 is an error at its cell, never a cent of rounding.
        let mapped = map(
            &[order("2", &[("10", "1", "个")], "-0.01", "0", "9.99")],
            &config(),
        );
        assert!(mapped.invoices.is_empty());
        let finding = &mapped.findings[0];
        assert_eq!(finding.rule.id, "order.negative-amount");
        assert_eq!(finding.column.as_deref(), Some("运费(元)"));
        assert_eq!(finding.value.as_deref(), Some("-0.01"));
    }

    #[test]
    fn goods_total_is_compared_with_the_lines() {
        let mut o = order("1", &[("12.50", "40", "个")], "0", "0", "500");
        o.goods_total = d("520");
        let mapped = map(&[o], &config());
        assert!(mapped.invoices.is_empty());
        assert_eq!(rules(&mapped), ["order.goods-total-differs"]);
        assert_eq!(mapped.findings[0].column.as_deref(), Some("货品总价(元)"));
    }

    #[test]
    fn negative_prices_quantities_and_oversized_discounts_are_errors_at_their_cells() {
        let mapped = map(
            &[
                order("1", &[("-2", "1", "个"), ("7", "1", "个")], "0", "0", "5"),
                order("2", &[("2", "-1", "个"), ("7", "1", "个")], "0", "0", "5"),
                order("3", &[("10", "1", "个")], "0", "-15", "-5"),
            ],
            &config(),
        );
        assert!(mapped.invoices.is_empty());
        let found: Vec<(&str, Option<&str>, Option<u32>)> = mapped
            .findings
            .iter()
            .filter(|f| f.is_error())
            .map(|f| (f.rule.id, f.column.as_deref(), f.row))
            .collect();
        assert!(
            found.contains(&("order.negative-amount", Some("单价(元)"), Some(2))),
            "{found:?}"
        );
        assert!(
            found.contains(&("order.negative-amount", Some("数量"), Some(2))),
            "{found:?}"
        );
        assert!(
            found.contains(&(
                "order.discount-exceeds-goods",
                Some("涨价或折扣(元)"),
                Some(2)
            )),
            "{found:?}"
        );
        assert!(mapped.findings.iter().all(|f| f.invoice.is_some()));
    }

    #[test]
    fn amounts_beyond_what_an_invoice_carries_are_errors_not_panics() {
        let big = ("999999999999", "999999999999", "个");
        let mapped = map(
            &[order("1", &[big, big, big], "0", "0", "999999999999")],
            &config(),
        );
        assert!(mapped.invoices.is_empty());
        assert!(
            rules(&mapped)
                .iter()
                .all(|r| *r == "order.amount-too-large"),
            "{:?}",
            rules(&mapped)
        );
        // Beyond what a decimal holds at all (only a library caller can build this).
        let huge = ("9000000000000000", "90000000000000", "个");
        let mapped = map(&[order("2", &[huge; 3], "0", "0", "1")], &myr());
        assert!(mapped.invoices.is_empty());
        assert!(rules(&mapped).contains(&"order.amount-too-large"));
    }

    #[test]
    fn a_title_of_control_characters_only_is_an_error_when_converting() {
        let mut o = order("1", &[("1", "2", "个")], "0", "0", "2");
        o.lines[0].title = "\u{1}\u{2}\u{7f}\t".into();
        let mapped = map(&[o], &config());
        assert!(mapped.invoices.is_empty());
        assert_eq!(rules(&mapped), ["export.bad-cell"]);
        assert_eq!(mapped.findings[0].column.as_deref(), Some("货品标题"));
        // Control characters inside a title go; the rest stays.
        let mut o = order("2", &[("1", "2", "个")], "0", "0", "2");
        o.lines[0].title = "保温杯\u{0}\u{1b} 500ml\r\n".into();
        let mapped = map(&[o], &config());
        assert_eq!(mapped.invoices[0].lines[0].description, "保温杯 500ml");
    }

    /// An order of about 1.97e9 CNY mixing sub-cent unit prices (0.0052 × 7036)
    /// with large ones converts at 0.47 to about 8.4e8 MYR, well inside what an
    /// invoice carries: no `order.amount-too-large`.
    #[test]
    fn large_myr_orders_with_sub_cent_prices_convert() {
        let lines = [
            ("193.25", "7", "个"),
            ("910.98", "7", "个"),
            ("74.182", "8114", "个"),
            ("826.183", "2513", "个"),
            ("0.0068", "9", "个"),
            ("843.508", "3162", "个"),
            ("219.52", "429", "个"),
            ("0.0052", "7036", "个"),
            ("44934.45", "4677", "个"),
            ("0.0093", "8867", "个"),
            ("606.532", "5", "个"),
            ("80043.36", "1", "个"),
            ("42509.72", "7733", "个"),
            ("64.137", "2340", "个"),
            ("0.0045", "3", "个"),
            ("0.0036", "47", "个"),
            ("0.0067", "8", "个"),
            ("89762.27", "6", "个"),
            ("0.0067", "8", "个"),
            ("0.0038", "3", "个"),
            ("97678.77", "6", "个"),
            ("92.95", "8025", "个"),
            ("333.25", "3", "个"),
            ("22160.67", "3", "个"),
            ("0.0061", "4", "个"),
            ("106.82", "8615", "个"),
            ("230.966", "9", "个"),
            ("829.591", "4488", "个"),
            ("440.458", "4", "个"),
            ("489.01", "7787", "个"),
            ("93583.84", "4", "个"),
            ("711.18", "6", "个"),
            ("714.419", "1702", "个"),
            ("663.094", "1018", "个"),
            ("971.78", "3", "个"),
            ("874.68", "5", "个"),
            ("576.839", "8478", "个"),
            ("19506.16", "4", "个"),
            ("0.0058", "5", "个"),
            ("978.887", "7347", "个"),
            ("0.0014", "9", "个"),
            ("89.26", "8", "个"),
            ("60.19", "5547", "个"),
            ("67213.42", "3708", "个"),
            ("495.302", "7", "个"),
            ("0.0047", "3487", "个"),
            ("614.753", "2", "个"),
            ("2901.79", "4", "个"),
            ("598.95", "5784", "个"),
            ("96585.31", "8279", "个"),
            ("79204.64", "4351", "个"),
        ];
        let mut o = order(
            "2420101234567500002",
            &lines,
            "107.42",
            "-177001991.90",
            "1789686914.41",
        );
        // 货品总价 as the generator stated it: Σ of the lines' totals to cents.
        o.goods_total = d("1966688798.89");
        let mapped = map_at(&[o], &myr(), &suppliers(), d("0.47"));
        assert!(
            !rules(&mapped).contains(&"order.amount-too-large"),
            "{:#?}",
            mapped.findings
        );
        let invoice = &mapped.invoices[0];
        assert_eq!(
            invoice.totals.payable,
            crate::money::cents(d("1789686914.41") * d("0.47"))
        );
        assert!(adds_up(invoice));
        assert!(invoice.lines.iter().all(|l| !l.unit_price.is_zero()));
    }
}
