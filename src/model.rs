//! The model every stage shares, depending on nothing: the 1688 order as
//! read, and the self-billed e-invoice as selfbill builds it (typed,
//! decimal, one per order). `batch` lays invoices out in LHDN's sheets.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::fmt;

pub const DOCUMENT_TYPE_SELF_BILLED: &str = "11";
pub const DOCUMENT_TYPE_SELF_BILLED_CREDIT_NOTE: &str = "12";
pub const DOCUMENT_TYPE_SELF_BILLED_REFUND_NOTE: &str = "14";
pub const DOCUMENT_VERSION: &str = "1.1";
/// The version of an e-invoice disclosed late under LHDN's Special Voluntary
/// Disclosure Programme, without digital signature (SG §17.5).
pub const DOCUMENT_VERSION_SVDP: &str = "SVDP 1.2";

/// A customs concession under which an importation invoice may leave out the
/// Customs Form No.1/9 reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concession {
    /// Low-value goods declared under the electronic Pre-Alert Manifest (FAQ 83).
    EPam,
    /// Goods shipped in a shared container, less than container load (FAQ 84).
    Lcl,
}

impl Concession {
    /// `e-PAM` or `LCL`, in any case, with or without the dash.
    pub fn parse(text: &str) -> Option<Concession> {
        match text
            .trim()
            .to_ascii_uppercase()
            .replace(['-', ' '], "")
            .as_str()
        {
            "EPAM" => Some(Concession::EPam),
            "LCL" => Some(Concession::Lcl),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Concession::EPam => "e-PAM",
            Concession::Lcl => "LCL",
        }
    }
}

/// What the customs file says about one order's importation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Clearance {
    /// Customs Form No.1/9 numbers, in file order, without duplicates.
    pub refs: Vec<String>,
    /// The date customs cleared the goods (the earliest, over several rows).
    pub cleared_on: Option<NaiveDate>,
    pub concession: Option<Concession>,
    /// The customs file and the row the order is first on.
    pub source: Location,
}

impl Clearance {
    /// The references as LHDN wants them: comma-joined, no spaces.
    pub fn refs_joined(&self) -> Option<String> {
        (!self.refs.is_empty()).then(|| self.refs.join(","))
    }
}

/// One party: the supplier (the 1688 seller) or the buyer (your company).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Party {
    pub tin: String,
    pub name: String,
    pub id_type: String,
    pub id_no: String,
    pub sst_no: String,
    /// Supplier only.
    pub ttx_no: Option<String>,
    pub email: String,
    /// Supplier only.
    pub msic: Option<String>,
    /// Supplier only.
    pub business_activity: Option<String>,
    pub address: [String; 3],
    pub postcode: String,
    pub city: String,
    pub state: String,
    pub country: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1..n within the invoice.
    pub id: u32,
    pub classification: String,
    pub description: String,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub unit: Option<String>,
    /// UnitPrice × Quantity, rounded to cents.
    pub subtotal: Decimal,
    pub total_excluding_tax: Decimal,
    pub tax_amount: Decimal,
    pub country_of_origin: Cow<'static, str>,
    /// Export row the line came from.
    pub source_row: u32,
}

/// A document-level charge or discount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub description: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    pub net: Decimal,
    pub discount: Decimal,
    pub charge: Decimal,
    pub excluding_tax: Decimal,
    pub tax: Decimal,
    pub including_tax: Decimal,
    pub rounding: Decimal,
    pub payable: Decimal,
}

impl Totals {
    /// The document totals of these lines, charges and discounts, with no
    /// tax (tax types 06 and E) and the given rounding; `None` when a sum
    /// overflows.
    pub fn of(
        lines: &[Line],
        charges: &[Adjustment],
        discounts: &[Adjustment],
        rounding: Decimal,
    ) -> Option<Totals> {
        let net = checked_sum(lines.iter().map(|l| l.total_excluding_tax))?;
        let charge = checked_sum(charges.iter().map(|c| c.amount))?;
        let discount = checked_sum(discounts.iter().map(|d| d.amount))?;
        let excluding_tax = net.checked_sub(discount)?.checked_add(charge)?;
        Some(Totals {
            net,
            discount,
            charge,
            excluding_tax,
            tax: Decimal::ZERO,
            including_tax: excluding_tax,
            rounding,
            payable: excluding_tax.checked_add(rounding)?,
        })
    }
}

/// Σ of the amounts; `None` when the sum overflows.
pub fn checked_sum(mut amounts: impl Iterator<Item = Decimal>) -> Option<Decimal> {
    amounts.try_fold(Decimal::ZERO, |sum, amount| sum.checked_add(amount))
}

/// Appends `at` to whole seconds as `yyyy-MM-dd{between}HH:mm:ss`, by hand:
/// chrono's formatting costs more than the rest of a row. Appends nothing
/// and answers `false` where a year has other than four digits or the time
/// is a leap second, for chrono to write.
pub fn push_seconds(out: &mut String, at: NaiveDateTime, between: u8) -> bool {
    use chrono::{Datelike, Timelike};
    if !(0..=9999).contains(&at.year()) || at.nanosecond() >= 1_000_000_000 {
        return false;
    }
    let mut text = *b"0000-00-00 00:00:00";
    text[10] = between;
    let fields = [
        (0, 4, at.year() as u32),
        (5, 2, at.month()),
        (8, 2, at.day()),
        (11, 2, at.hour()),
        (14, 2, at.minute()),
        (17, 2, at.second()),
    ];
    for (start, width, mut n) in fields {
        for digit in text[start..start + width].iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    match std::str::from_utf8(&text) {
        Ok(text) => {
            out.push_str(text);
            true
        }
        Err(_) => false,
    }
}

/// `yyyy-MM-dd{between}HH:mm:ss`, as [`push_seconds`] writes it, read by
/// hand when it is a real date and time; `None` for anything else (a leap
/// second too), for chrono's formats to read.
pub fn parse_seconds(text: &[u8], between: u8) -> Option<NaiveDateTime> {
    let b: &[u8; 19] = text.try_into().ok()?;
    let separators = [(4, b'-'), (7, b'-'), (10, between), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(number(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5, 7)?, number(8, 10)?)?.and_hms_opt(
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub number: String,
    /// Constant strings (LHDN's codes) borrow: 40,000 invoices hold no copies.
    pub type_code: Cow<'static, str>,
    pub version: Cow<'static, str>,
    /// UTC, whole seconds.
    pub issued_at: NaiveDateTime,
    pub currency: Cow<'static, str>,
    /// MYR per 1 unit of `currency`; `None` for MYR invoices.
    pub exchange_rate: Option<Decimal>,
    /// Shared by every invoice of the seller (and of the run, for the buyer).
    pub supplier: std::sync::Arc<Party>,
    pub buyer: std::sync::Arc<Party>,
    pub lines: Vec<Line>,
    pub charges: Vec<Adjustment>,
    pub discounts: Vec<Adjustment>,
    pub tax_type: String,
    pub totals: Totals,
    pub incoterms: Option<String>,
    pub customs_refs: Option<String>,
    /// The MYR-per-CNY rate used (on the invoice for CNY; applied for MYR),
    /// and the date it is of when it came from a rates table.
    pub rate: Decimal,
    pub rate_date: Option<chrono::NaiveDate>,
    /// TotalPayableAmount in CNY (= 实付款), whatever the invoice currency.
    pub total_cny: Decimal,
    /// The 1688 order this invoice is for, and where it was read.
    pub order_no: String,
    pub source: Location,
    /// For a credit or refund note: the e-invoices it adjusts (DocumentReferences).
    pub references: Vec<DocumentReference>,
}

/// An e-invoice a note refers to: its eInvoiceNumber and LHDN's UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentReference {
    pub number: String,
    pub uuid: String,
}

/// Where something came from: a file, and within it a sheet and row when the
/// file is a spreadsheet (CSV files have no sheet).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    pub sheet: Option<String>,
    pub row: Option<u32>,
}

impl Location {
    pub fn new(file: impl Into<String>, sheet: Option<String>, row: Option<u32>) -> Self {
        Location {
            file: file.into(),
            sheet,
            row,
        }
    }

    pub fn with_row(&self, row: u32) -> Self {
        Location {
            file: self.file.clone(),
            sheet: self.sheet.clone(),
            row: Some(row),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(sheet) = &self.sheet {
            write!(f, ", sheet {sheet}")?;
        }
        if let Some(row) = self.row {
            write!(f, ", row {row}")?;
        }
        Ok(())
    }
}

/// Normalised names of the columns selfbill needs.
pub mod export_columns {
    pub const ORDER_NO: &str = "订单编号";
    pub const SELLER_COMPANY: &str = "卖家公司名";
    pub const SELLER_MEMBER: &str = "卖家会员名";
    pub const GOODS_TOTAL: &str = "货品总价(元)";
    pub const SHIPPING: &str = "运费(元)";
    pub const ADJUSTMENT: &str = "涨价或折扣(元)";
    pub const PAID: &str = "实付款(元)";
    pub const STATUS: &str = "订单状态";
    pub const PAID_AT: &str = "订单付款时间";
    pub const TITLE: &str = "货品标题";
    pub const UNIT_PRICE: &str = "单价(元)";
    pub const QUANTITY: &str = "数量";
    pub const UNIT: &str = "单位";
    pub const MODEL: &str = "型号";
    pub const CREATED_AT: &str = "订单创建时间";
}

/// One 1688 order, with its amounts exactly as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub order_no: String,
    pub seller_company: String,
    pub seller_member: String,
    pub goods_total: Decimal,
    pub shipping: Decimal,
    pub adjustment: Decimal,
    pub paid: Decimal,
    pub status: String,
    pub paid_at: Option<NaiveDateTime>,
    pub lines: Vec<OrderLine>,
    /// File, sheet and row of the order's first line.
    pub source: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub title: String,
    pub model: String,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub unit: String,
    pub row: u32,
}

#[cfg(test)]
mod tests {
    use super::{parse_seconds, push_seconds};
    use chrono::NaiveDate;

    /// Whole seconds in a four-digit year are written as chrono's `Display`
    /// writes them; anything else is left to chrono.
    #[test]
    fn whole_seconds_are_written_as_chrono_writes_them() {
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        for at in [
            ymd(2026, 10, 10).and_hms_opt(9, 17, 5).unwrap(),
            ymd(0, 1, 1).and_hms_opt(0, 0, 0).unwrap(),
            ymd(9999, 12, 31).and_hms_opt(23, 59, 59).unwrap(),
            ymd(2024, 2, 29).and_hms_opt(12, 0, 9).unwrap(),
        ] {
            let mut text = String::from("at ");
            assert!(push_seconds(&mut text, at, b' '));
            assert_eq!(text, format!("at {at}"));
            assert_eq!(parse_seconds(&text.as_bytes()[3..], b' '), Some(at));
            assert_eq!(parse_seconds(&text.as_bytes()[3..], b'T'), None);
        }
        for at in [
            ymd(10000, 1, 1).and_hms_opt(0, 0, 0).unwrap(),
            ymd(-1, 1, 1).and_hms_opt(0, 0, 0).unwrap(),
            ymd(2016, 12, 31)
                .and_hms_milli_opt(23, 59, 59, 1_500)
                .unwrap(),
        ] {
            let mut text = String::new();
            assert!(!push_seconds(&mut text, at, b' '));
            assert!(text.is_empty());
        }
        for text in [
            "2024-10-10 23:59:60",
            "2024-02-30 00:00:00",
            "2024-10-10 24:00:00",
            "2024-1-10 00:00:000",
        ] {
            assert_eq!(parse_seconds(text.as_bytes(), b' '), None, "{text}");
        }
    }
}
