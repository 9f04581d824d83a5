//! Decimal money helpers. Every amount is a `rust_decimal::Decimal` from the
//! first read to the last write; rounding is explicit, half away from zero.

use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// Rounds to `dp` decimal places, half away from zero (0.125 → 0.13, −0.125 → −0.13).
pub fn round(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds to cents.
pub fn cents(value: Decimal) -> Decimal {
    let mut rounded = round(value, 2);
    rounded.rescale(2);
    rounded
}

/// A document's payable amount in MYR: converted at its rate (MYR per unit
/// of its currency) and rounded to cents, or as it stands for an MYR one.
pub fn payable_in_myr(payable: Decimal, exchange_rate: Option<Decimal>) -> Decimal {
    match exchange_rate {
        Some(rate) => cents(payable * rate),
        None => payable,
    }
}

/// Rounds up (away from zero) to whole cents: 0.001 → 0.01.
pub fn up_to_cents(value: Decimal) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::AwayFromZero);
    rounded.rescale(2);
    rounded
}

/// Appends `value` exactly as its `Display` writes it (every digit of its
/// scale, a `-` for any negative value, zero included), without the
/// formatting machinery, which costs as much as a row's SQLite insert.
pub fn push_decimal(out: &mut String, value: Decimal) {
    const SIZE: usize = 40;
    let mut buffer = [b'0'; SIZE];
    let mut at = SIZE;
    let mut digit = |d: u8| {
        at -= 1;
        buffer[at] = b'0' + d;
    };
    let magnitude = value.mantissa().unsigned_abs();
    match u64::try_from(magnitude) {
        Ok(mut small) => {
            while small != 0 {
                digit((small % 10) as u8);
                small /= 10;
            }
        }
        Err(_) => {
            let mut large = magnitude;
            while large != 0 {
                digit((large % 10) as u8);
                large /= 10;
            }
        }
    }
    // At least the scale's digits: the buffer is zeros before them.
    let scale = value.scale() as usize;
    let at = at.min(SIZE - scale);
    let digits = std::str::from_utf8(&buffer[at..]).unwrap_or_default();
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    if value.is_sign_negative() {
        out.push('-');
    }
    out.push_str(if whole.is_empty() { "0" } else { whole });
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
}

/// Decimals of a UnitPrice that LHDN's template shows: its amounts are
/// formatted `0.00000`. LHDN publishes no limit (reference/myinvois.md).
pub const UNIT_PRICE_DECIMALS_SHOWN: u32 = 5;

/// The most decimals a converted UnitPrice is given: all that `Decimal` holds.
const MAX_UNIT_PRICE_DECIMALS: u32 = 28;

/// The unit price, in the currency a line total was converted to at `rate`,
/// that states that line total honestly: the price from `price × rate` (else
/// from `total ÷ quantity`) with the fewest decimals, at least 4, such that
/// UnitPrice × Quantity rounds to `total` to the cent; never zero when
/// `price` is not. `None` only when no such price fits in a decimal.
pub fn unit_price_for(
    price: Decimal,
    quantity: Decimal,
    total: Decimal,
    rate: Decimal,
) -> Option<Decimal> {
    let exact = price.checked_mul(rate)?;
    let per_unit = if quantity.is_zero() {
        exact
    } else {
        total.checked_div(quantity)?
    };
    (4..=MAX_UNIT_PRICE_DECIMALS).find_map(|dp| {
        [round(exact, dp), round(per_unit, dp)]
            .into_iter()
            .find(|candidate| {
                (price.is_zero() || !candidate.is_zero())
                    && candidate
                        .checked_mul(quantity)
                        .is_some_and(|product| cents(product) == total)
            })
            .map(|candidate| candidate.normalize())
    })
}

/// A line converted at `rate`, as `(UnitPrice, line total)`: the line total
/// is the CNY line total `total` × `rate`, to cents, and the unit price the
/// one [`unit_price_for`] finds for it. One case has no honest unit price: a
/// line whose converted total rounds to 0.00 although its own price does not
/// (0.0045 CNY × 3 = 0.01 CNY; × 0.47 = 0.0047, so 0.00 MYR; but the price
/// 0.002115 MYR × 3 = 0.006345 rounds to 0.01). Only a price cut to a
/// fraction of the real one gives 0.00, so such a line keeps its real price
/// and the total that price gives (0.01 MYR); the cent goes into
/// TotalRoundingAmount with the rest of the conversion rounding. `None`
/// only when an amount does not fit in a decimal.
pub fn converted_line(
    price: Decimal,
    quantity: Decimal,
    total: Decimal,
    rate: Decimal,
) -> Option<(Decimal, Decimal)> {
    let converted = cents(total.checked_mul(rate)?);
    if let Some(unit_price) = unit_price_for(price, quantity, converted, rate) {
        return Some((unit_price, converted));
    }
    let own = cents(price.checked_mul(rate)?.checked_mul(quantity)?);
    unit_price_for(price, quantity, own, rate).map(|unit_price| (unit_price, own))
}

/// Why a piece of text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    Empty,
    Scientific,
    NotANumber,
    TooLarge,
}

/// No 1688 order has an amount, price or quantity this large; bounding them
/// keeps every product and sum far inside `Decimal`'s range.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0); // 10^12

fn bounded(value: Decimal) -> Result<Decimal, AmountError> {
    if value.abs() > MAX_AMOUNT {
        Err(AmountError::TooLarge)
    } else {
        Ok(value)
    }
}

/// Parses an amount as a bookkeeper may have typed or exported it: `1,234.50`,
/// `¥12.50`, `￥12.50`, full-width digits `１２.５`, surrounding spaces.
/// Scientific notation (`1.2E+3`) is refused, as LHDN refuses it.
pub fn parse_amount(text: &str) -> Result<Decimal, AmountError> {
    let mut cleaned = String::with_capacity(text.len());
    for ch in text.trim().chars() {
        match ch {
            '¥' | '￥' | ',' | '，' | ' ' | '\u{3000}' => {}
            '０'..='９' => cleaned.push(char::from(b'0' + (ch as u32 - '０' as u32) as u8)),
            '．' => cleaned.push('.'),
            '－' | '−' => cleaned.push('-'),
            '＋' => cleaned.push('+'),
            _ => cleaned.push(ch),
        }
    }
    if cleaned.is_empty() {
        return Err(AmountError::Empty);
    }
    if is_scientific(&cleaned) {
        return Err(AmountError::Scientific);
    }
    let digits = cleaned.strip_prefix(['+', '-']).unwrap_or(&cleaned);
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        || digits.matches('.').count() > 1
        || digits == "."
    {
        return Err(AmountError::NotANumber);
    }
    Decimal::from_str(&cleaned)
        .map_err(|_| AmountError::NotANumber)
        .and_then(bounded)
}

/// `1.2E+3`, `5e-2`: a mantissa, an e, an exponent.
pub fn is_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let mantissa = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mantissa.chars().any(|c| c.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.chars().all(|c| c.is_ascii_digit())
}

/// The decimal a spreadsheet number cell stands for: its shortest round-trip
/// text (`0.125`, not `0.12500000000000000694`), parsed as a decimal.
/// No arithmetic is done on the float.
pub fn from_cell_number(value: f64) -> Option<Decimal> {
    if !value.is_finite() {
        return None;
    }
    if let Some(short) = short_decimal(value) {
        return bounded(short).ok();
    }
    // Rust's `Display` for f64 prints the shortest round-trip form and never
    // uses an exponent.
    Decimal::from_str(&value.to_string())
        .ok()
        .and_then(|d| bounded(d).ok())
}

/// The decimal `m / 10^s` (|m| < 10^15, `s` ≤ 15, the fewest places) that
/// reads back as `value`, found without formatting: what
/// [`from_cell_number`]'s shortest text parses to, the same digits and
/// scale, for nearly every number a sheet holds (`62.02`, `3`).
///
/// Why it is the same: a decimal of at most 15 significant digits is the
/// only one of them that reads back as its f64 (15 digits survive the
/// round trip), so the shortest text, no longer than it, has its value,
/// and its fewest places are the text's. `value · 10^s` is within 0.23 of
/// `m` when `m` exists (`m` < 10^15 is exact in an f64, its error at most
/// 2⁻⁵² of it), so rounding finds `m`; `m / 10^s`, both exact, rounds as
/// reading the decimal does, and checks it. Zero, whose sign is the text's
/// affair, and anything else are left to the text.
fn short_decimal(value: f64) -> Option<Decimal> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    if value == 0.0 {
        return None;
    }
    for (scale, power) in (0u32..).zip(POWERS) {
        let scaled = value * power;
        if scaled.abs() >= 1e15 {
            return None;
        }
        let mantissa = scaled.round();
        if mantissa / power == value {
            return Some(Decimal::new(mantissa as i64, scale));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn push_decimal_writes_what_display_writes(
            mantissa in -(1i128 << 96) + 1..(1i128 << 96),
            scale in 0u32..=28,
            small in -100_000i64..100_000,
            small_scale in 0u32..=6,
            negative_zero in any::<bool>(),
        ) {
            let mut zero = Decimal::new(0, small_scale);
            zero.set_sign_negative(negative_zero);
            for value in [
                Decimal::from_i128_with_scale(mantissa, scale),
                Decimal::new(small, small_scale),
                zero,
            ] {
                let mut text = String::from("x");
                push_decimal(&mut text, value);
                prop_assert_eq!(&text[1..], value.to_string());
            }
        }
    }

    /// What `from_cell_number` made before its shortcut: the shortest text.
    fn through_text(value: f64) -> Option<Decimal> {
        if !value.is_finite() {
            return None;
        }
        Decimal::from_str(&value.to_string())
            .ok()
            .and_then(|d| bounded(d).ok())
    }

    /// The same decimal, to its sign, scale and every bit.
    fn same(value: f64) -> Result<(), TestCaseError> {
        let (fast, slow) = (from_cell_number(value), through_text(value));
        prop_assert_eq!(
            fast.map(|d| d.serialize()),
            slow.map(|d| d.serialize()),
            "{}",
            value
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn a_cell_number_is_the_decimal_its_shortest_text_says(
            bits in any::<u64>(),
            mantissa in -999_999_999_999_999i64..=999_999_999_999_999,
            small in -10_000_000i64..10_000_000,
            scale in 0u32..=18,
        ) {
            same(f64::from_bits(bits))?;
            // What a sheet holds: a decimal of some places, read as f64.
            for m in [mantissa, small, mantissa / 1_000, small / 100] {
                let text = Decimal::new(m, scale).to_string();
                let value: f64 = text.parse().unwrap();
                same(value)?;
                same(-value)?;
                // Its neighbours, which no short decimal reads back as.
                same(f64::from_bits(value.to_bits() + 1))?;
                same(f64::from_bits(value.to_bits().saturating_sub(1)))?;
                same(value * 3.0)?;
                same(value / 7.0)?;
            }
        }
    }

    #[test]
    fn cell_numbers_at_the_shortcuts_edges() {
        for value in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.2,
            0.3,
            0.1 + 0.2,
            62.02,
            1e-15,
            1.5e-15,
            1e-16,
            123.456,
            999_999_999_999_999.0,
            1e15,
            1e15 + 1.0,
            99_999_999_999.99,
            1e12,
            1e12 + 0.01,
            -1e12,
            2f64.powi(53),
            0.125,
            1.0 / 3.0,
            2.0 / 3.0,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.000_001,
            0.1234567890123,
            12_345.678_901_234_5,
            4_503_599_627_370_496.5,
        ] {
            same(value).unwrap();
            same(-value).unwrap();
        }
        // The shortcut is what reads a sheet's amounts.
        assert_eq!(short_decimal(62.02), Some(d("62.02")));
        assert_eq!(short_decimal(5.0), Some(d("5")));
        assert_eq!(short_decimal(-0.25), Some(d("-0.25")));
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(cents(d("0.125")), d("0.13"));
        assert_eq!(cents(d("-0.125")), d("-0.13"));
        assert_eq!(cents(d("0.124")), d("0.12"));
        assert_eq!(cents(d("2.675")), d("2.68"));
        assert_eq!(cents(d("25")).to_string(), "25.00");
        assert_eq!(round(d("0.60975"), 4), d("0.6098"));
    }

    #[test]
    fn rounds_up_to_whole_cents() {
        assert_eq!(up_to_cents(d("0.001")), d("0.01"));
        assert_eq!(up_to_cents(d("0.015")), d("0.02"));
        assert_eq!(up_to_cents(d("0.02")), d("0.02"));
        assert_eq!(up_to_cents(d("0")).to_string(), "0.00");
    }

    #[test]
    fn converted_unit_prices_give_their_line_total_and_are_never_zero() {
        // 12.50 CNY × 40 at 0.6097: line 304.85 MYR; 7.6213 × 40 = 304.852.
        assert_eq!(
            unit_price_for(d("12.50"), d("40"), d("304.85"), d("0.6097")),
            Some(d("7.6213"))
        );
        // 0.0125 × 100,000: line 762.13 MYR needs 0.0076213, not 0.0076 (760.00).
        assert_eq!(
            unit_price_for(d("0.0125"), d("100000"), d("762.13"), d("0.6097")),
            Some(d("0.0076213"))
        );
        // 0.00004 × 10,000,000: line 243.88 MYR; never UnitPrice 0.
        assert_eq!(
            unit_price_for(d("0.00004"), d("10000000"), d("243.88"), d("0.6097")),
            Some(d("0.000024388"))
        );
        // A line worth less than half a cent keeps a price that is not zero.
        let price = unit_price_for(d("0.001"), d("1"), d("0.00"), d("0.6097")).unwrap();
        assert!(!price.is_zero());
        assert_eq!(cents(price), d("0.00"));
    }

    #[test]
    fn a_line_converted_to_zero_keeps_its_real_price_and_the_total_it_gives() {
        // 0.0045 CNY × 3 = 0.01 CNY; at 0.47 that is 0.0047 → 0.00 MYR, but no
        // honest price that is not zero gives 0.00: 0.0021 × 3 = 0.0063 → 0.01.
        assert_eq!(
            unit_price_for(d("0.0045"), d("3"), d("0.00"), d("0.47")),
            None
        );
        assert_eq!(
            converted_line(d("0.0045"), d("3"), d("0.01"), d("0.47")),
            Some((d("0.0021"), d("0.01")))
        );
        // 0.004 CNY × 1 = 0.00 CNY; at 1.25 the price is 0.005 MYR, half a cent: 0.01.
        assert_eq!(
            converted_line(d("0.004"), d("1"), d("0.00"), d("1.25")),
            Some((d("0.005"), d("0.01")))
        );
        // Otherwise the line total is the CNY line total × rate.
        assert_eq!(
            converted_line(d("0.0052"), d("7036"), d("36.59"), d("0.47")),
            Some((d("0.002444"), d("17.20")))
        );
        assert_eq!(
            converted_line(d("0.0001"), d("1"), d("0.00"), d("0.47")),
            Some((d("0.00005"), d("0.00")))
        );
        // Only a decimal overflow has no converted line.
        assert_eq!(
            converted_line(Decimal::MAX, d("2"), Decimal::MAX, d("1.5")),
            None
        );
    }

    #[test]
    fn parses_amounts_as_exported_or_typed() {
        assert_eq!(parse_amount("1,234.50"), Ok(d("1234.50")));
        assert_eq!(parse_amount(" ¥12.50 "), Ok(d("12.50")));
        assert_eq!(parse_amount("￥0.1250"), Ok(d("0.1250")));
        assert_eq!(parse_amount("１２.５"), Ok(d("12.5")));
        assert_eq!(parse_amount("-20.00"), Ok(d("-20.00")));
        assert_eq!(parse_amount("25.5"), Ok(d("25.5")));
    }

    #[test]
    fn the_bound_is_a_trillion() {
        assert_eq!(MAX_AMOUNT, d("1000000000000"));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
        assert_eq!(parse_amount("  "), Err(AmountError::Empty));
        assert_eq!(parse_amount("1.2E+3"), Err(AmountError::Scientific));
        assert_eq!(parse_amount("abc"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("twelve"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("-5e-2"), Err(AmountError::Scientific));
        assert_eq!(parse_amount("1.2.3"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("-"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("1000000000001"), Err(AmountError::TooLarge));
        assert_eq!(parse_amount("999999999999.99"), Ok(d("999999999999.99")));
    }

    #[test]
    fn number_cells_become_their_shortest_decimal() {
        assert_eq!(from_cell_number(0.125), Some(d("0.125")));
        assert_eq!(from_cell_number(0.1 + 0.2), Some(d("0.30000000000000004")));
        assert_eq!(from_cell_number(589.0), Some(d("589")));
        assert_eq!(from_cell_number(f64::NAN), None);
        assert_eq!(from_cell_number(1e300), None);
    }
}
