//! Exchange rates: MYR per unit of a currency, by date, from Bank Negara
//! Malaysia API responses saved as-is or from CSV `date,currency,rate`.
//! An order takes the rate of its payment date, or of the latest earlier
//! date in the table (weekends, public holidays); never a later one.

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;

use crate::money;

/// Rates by currency and date.
#[derive(Debug, Clone, Default)]
pub struct RateTable {
    by_currency: HashMap<String, BTreeMap<NaiveDate, Decimal>>,
    /// The files the rates came from, for the report.
    pub sources: Vec<String>,
}

/// A rate found for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub rate: Decimal,
    pub date: NaiveDate,
}

impl RateTable {
    /// Reads a BNM API response (month series, single day or all currencies)
    /// or a CSV `date,currency,rate`.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let shown = path.display().to_string();
        let bytes =
            crate::read::file::read_input(path, "rates file", crate::read::file::MAX_TEXT_BYTES)?;
        let text = crate::read::text::decode_text(&bytes);
        let entries = if text.trim_start().starts_with('{') {
            parse_bnm(&text)
                .with_context(|| format!("{shown}: not a BNM exchange-rate response"))?
        } else {
            parse_csv(&text).with_context(|| format!("{shown}: bad rates CSV"))?
        };
        if entries.is_empty() {
            bail!("{shown}: holds no rates");
        }
        for (currency, date, rate) in entries {
            self.by_currency
                .entry(currency)
                .or_default()
                .insert(date, rate);
        }
        self.sources.push(shown);
        Ok(())
    }

    pub fn has_currency(&self, currency: &str) -> bool {
        self.by_currency.contains_key(currency)
    }

    /// The rate on `date`, or on the latest earlier date available.
    pub fn on_or_before(&self, currency: &str, date: NaiveDate) -> Option<Rate> {
        self.by_currency
            .get(currency)?
            .range(..=date)
            .next_back()
            .map(|(date, rate)| Rate {
                rate: *rate,
                date: *date,
            })
    }

    /// The first and last dates held for a currency.
    pub fn span(&self, currency: &str) -> Option<(NaiveDate, NaiveDate)> {
        let dates = self.by_currency.get(currency)?;
        Some((*dates.keys().next()?, *dates.keys().next_back()?))
    }
}

/// MYR per unit of the currency, BNM's `middle_rate / unit`, to 4 places.
fn bnm_rate(middle: &Value, unit: &Value) -> Result<Decimal> {
    let number = |v: &Value, what: &str| -> Result<Decimal> {
        match v {
            Value::Number(n) => Decimal::from_str(&n.to_string())
                .or_else(|_| Decimal::from_scientific(&n.to_string()))
                .with_context(|| format!("{what} {n} is not a number")),
            Value::Null => bail!("{what} is null (was the request made without session=1200?)"),
            other => bail!("{what} {other} is not a number"),
        }
    };
    let middle = number(middle, "middle_rate")?;
    let unit = if unit.is_null() {
        Decimal::ONE
    } else {
        number(unit, "unit")?
    };
    if unit <= Decimal::ZERO || middle <= Decimal::ZERO || middle > money::MAX_AMOUNT {
        bail!("middle_rate {middle} per {unit} is not a usable rate");
    }
    Ok(money::round(middle / unit, 4))
}

type Entry = (String, NaiveDate, Decimal);

fn parse_bnm(text: &str) -> Result<Vec<Entry>> {
    let json: Value = serde_json::from_str(text)?;
    let data = json.get("data").context("no \"data\"")?;
    let currencies: Vec<&Value> = match data {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![data],
        _ => bail!("\"data\" is neither an object nor an array"),
    };
    let mut entries = Vec::new();
    for currency in currencies {
        let code = currency
            .get("currency_code")
            .and_then(Value::as_str)
            .context("a rate without currency_code")?
            .to_string();
        let unit = currency.get("unit").cloned().unwrap_or(Value::Null);
        let rates: Vec<&Value> = match currency.get("rate") {
            Some(Value::Array(rates)) => rates.iter().collect(),
            Some(rate @ Value::Object(_)) => vec![rate],
            _ => bail!("{code}: no \"rate\""),
        };
        for rate in rates {
            let date = rate
                .get("date")
                .and_then(Value::as_str)
                .context("a rate without date")?;
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .with_context(|| format!("{code}: date {date:?} is not yyyy-mm-dd"))?;
            let middle = rate.get("middle_rate").unwrap_or(&Value::Null);
            if code != "CNY" && middle.is_null() {
                // Some currencies (SDR) have no buying/selling; skip nulls of
                // currencies not asked for rather than refuse the file.
                continue;
            }
            let value = bnm_rate(middle, &unit).with_context(|| format!("{code} on {date}"))?;
            entries.push((code.clone(), date, value));
        }
    }
    Ok(entries)
}

fn parse_csv(text: &str) -> Result<Vec<Entry>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers()?.iter().map(str::to_lowercase).collect();
    if headers != ["date", "currency", "rate"] {
        bail!(
            "the header must be date,currency,rate (found {})",
            headers.join(",")
        );
    }
    let mut entries = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.with_context(|| format!("line {line}: cannot be read"))?;
        let date = NaiveDate::parse_from_str(&record[0], "%Y-%m-%d")
            .with_context(|| format!("line {line}: date {:?} is not yyyy-mm-dd", &record[0]))?;
        let rate = money::parse_amount(&record[2])
            .ok()
            .filter(|r| *r > Decimal::ZERO)
            .with_context(|| {
                format!(
                    "line {line}: rate {:?} is not a positive number",
                    &record[2]
                )
            })?;
        entries.push((record[1].to_uppercase(), date, money::round(rate, 4)));
    }
    Ok(entries)
}

/// BNM's public API, unless `SELFBILL_BNM_URL` points elsewhere (tests use a
/// local server).
pub const BNM_BASE_URL: &str = "https://api.bnm.gov.my/public";

/// Fetches BNM's month series for a currency and session, and returns the
/// response as BNM sent it, after checking it holds rates.
pub fn fetch_month(
    base_url: &str,
    currency: &str,
    year: i32,
    month: u32,
    session: &str,
) -> Result<Vec<u8>> {
    let url = format!(
        "{}/exchange-rate/{currency}/year/{year}/month/{month}?session={session}",
        base_url.trim_end_matches('/')
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&url)
        .header("Accept", "application/vnd.BNM.API.v1+json")
        .call()
        .with_context(|| format!("cannot reach {url} (offline?); try again, or save the response by hand and pass it with --rates"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_vec()
        .with_context(|| format!("{url}: the response was cut short; try again"))?;
    if status == 404 {
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "not found".into());
        bail!("BNM has no {currency} rates for {year}-{month:02} (session {session}): {message}");
    }
    if status != 200 {
        bail!("{url}: BNM answered HTTP {status}; try again later");
    }
    let text = String::from_utf8_lossy(&body);
    let entries =
        parse_bnm(&text).with_context(|| format!("{url}: not a BNM exchange-rate response"))?;
    if !entries.iter().any(|(c, _, _)| c == currency) {
        bail!("{url}: the response holds no {currency} rates");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn reads_bnm_month_series_and_falls_back_to_earlier_days() {
        let json = r#"{"data":{"currency_code":"CNY","unit":1,"rate":[
            {"date":"2026-10-08","buying_rate":0.6094,"selling_rate":0.61,"middle_rate":0.6097},
            {"date":"2026-10-09","buying_rate":0.6094,"selling_rate":0.61,"middle_rate":0.60989999999999999}]},
            "meta":{"quote":"rm","session":"1200"}}"#;
        let entries = parse_bnm(json).unwrap();
        assert_eq!(entries[1].2, Decimal::from_str("0.6099").unwrap());
        let mut table = RateTable::default();
        for (c, d, r) in entries {
            table.by_currency.entry(c).or_default().insert(d, r);
        }
        // Saturday 10th and Sunday 11th take Friday 9th; the 7th has none.
        assert_eq!(
            table.on_or_before("CNY", date("2026-10-11")).unwrap().date,
            date("2026-10-09")
        );
        assert_eq!(
            table
                .on_or_before("CNY", date("2026-10-08"))
                .unwrap()
                .rate
                .to_string(),
            "0.6097"
        );
        assert_eq!(table.on_or_before("CNY", date("2026-10-07")), None);
        assert_eq!(table.on_or_before("USD", date("2026-10-09")), None);
    }

    #[test]
    fn divides_by_unit_and_reads_all_currency_responses() {
        let json = r#"{"data":[{"currency_code":"JPY","unit":100,"rate":{"date":"2026-10-08","buying_rate":2.7,"selling_rate":2.71,"middle_rate":2.7055}},
                              {"currency_code":"SDR","unit":1,"rate":{"date":"2026-10-08","buying_rate":null,"selling_rate":null,"middle_rate":null}}]}"#;
        let entries = parse_bnm(json).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].2.to_string(), "0.0271");
    }

    #[test]
    fn a_null_middle_rate_for_cny_is_explained() {
        let json = r#"{"data":{"currency_code":"CNY","unit":1,"rate":{"date":"2026-10-08","buying_rate":0.6,"selling_rate":0.61,"middle_rate":null}}}"#;
        let err = format!("{:#}", parse_bnm(json).unwrap_err());
        assert!(err.contains("session=1200"), "{err}");
    }

    #[test]
    fn reads_csv_rates() {
        let entries = parse_csv("date,currency,rate\n2026-10-08,cny,0.60975\n").unwrap();
        assert_eq!(
            entries[0],
            (
                "CNY".into(),
                date("2026-10-08"),
                Decimal::from_str("0.6098").unwrap()
            )
        );
        assert!(parse_csv("day,ccy,value\n").is_err());
        assert!(
            parse_csv("date,currency,rate\n8/10/2026,CNY,0.6\n")
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
    }
}
