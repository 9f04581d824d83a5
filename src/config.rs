//! `selfbill.toml` (the buyer and invoice settings) and `suppliers.csv` (the
//! directory of 1688 sellers), with errors that name the key and what is
//! expected.

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The whole config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub buyer: Buyer,
    #[serde(default)]
    pub invoice: InvoiceSettings,
    /// 1688 unit text → LHDN unit code, added to the defaults.
    #[serde(default)]
    pub units: BTreeMap<String, String>,
    #[serde(default)]
    pub statuses: StatusOverrides,
    /// Path of the supplier directory, relative to the config file.
    #[serde(default)]
    pub suppliers: Option<PathBuf>,
    #[serde(default)]
    pub output: OutputSettings,
    #[serde(default)]
    pub register: RegisterSettings,
}

/// `[output]`: how workbooks are written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSettings {
    /// LHDN's batch-upload template to fill (e.g. the newest one downloaded
    /// from the MyInvois Portal), relative to the config file; the embedded
    /// public copy when absent.
    #[serde(default)]
    pub template: Option<PathBuf>,
}

/// `[register]`: where the register is, and how refunds after invoicing are documented.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterSettings {
    /// The register file, relative to the config file [default: selfbill.db beside it].
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub refunds_as: RefundsAs,
}

/// The note written when an invoiced order is refunded: a self-billed
/// refund note (14, money returned: the default) or credit note (12).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundsAs {
    #[default]
    Refund,
    Credit,
}

/// Your company: the issuer of the self-billed e-invoice, the buyer on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buyer {
    pub name: String,
    pub tin: String,
    pub id_type: String,
    pub id_no: String,
    /// `NA` unless SST-registered.
    #[serde(default = "not_applicable")]
    pub sst_no: String,
    #[serde(default)]
    pub email: Option<String>,
    pub phone: String,
    pub address: Vec<String>,
    pub postcode: String,
    pub city: String,
    pub state: String,
    pub country: String,
    /// The date e-invoicing became mandatory for the buyer: goods cleared
    /// before it need no self-billed e-invoice (LHDN FAQ 108).
    #[serde(default, deserialize_with = "optional_date")]
    pub einvoice_from: Option<NaiveDate>,
}

fn not_applicable() -> String {
    "NA".into()
}

/// A date as `"YYYY-MM-DD"` text or a TOML date.
fn optional_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    let text = match toml::Value::deserialize(deserializer)? {
        toml::Value::String(text) => text,
        toml::Value::Datetime(date) => date.to_string(),
        other => other.to_string(),
    };
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "einvoice_from = {text:?}: expected the date e-invoicing became mandatory for \
                 you, as \"YYYY-MM-DD\" (e.g. \"2026-01-01\")"
            ))
        })
}

/// The values `selfbill init` writes into `[buyer]`, by key: refused, so an
/// untouched starter config never produces invoices.
pub const INIT_PLACEHOLDERS: [(&str, &str); 6] = [
    ("name", "Your Company Sdn Bhd"),
    ("tin", "C0000000000"),
    ("id_no", "000000000000"),
    ("phone", "+60300000000"),
    ("address", "Address line 1"),
    ("postcode", "00000"),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvoiceSettings {
    pub number: String,
    pub classification: String,
    pub tax_type: String,
    pub currency: String,
    pub rate: Option<Decimal>,
    pub incoterms: Option<String>,
}

impl Default for InvoiceSettings {
    fn default() -> Self {
        InvoiceSettings {
            number: "{order_no}".into(),
            classification: "034".into(),
            tax_type: "06".into(),
            currency: "CNY".into(),
            rate: None,
            incoterms: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusOverrides {
    pub invoice: Option<Vec<String>>,
    pub hold: Option<Vec<String>>,
    pub skip: Option<Vec<String>>,
}

/// What to do with an order, by its 1688 status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    Invoice,
    Hold,
    Skip,
}

pub const DEFAULT_INVOICE_STATUSES: [&str; 5] = [
    "交易成功",
    "已收货",
    "等待买家确认收货",
    "已发货",
    "卖家已发货",
];
/// Held by default: a refund under way, and orders not yet shipped (nothing
/// shipped or cleared: the invoice follows customs clearance).
pub const DEFAULT_HOLD_STATUSES: [&str; 3] = ["退款中", "等待卖家发货", "买家已付款"];
/// The statuses of orders paid for but not yet shipped.
pub const UNSHIPPED_STATUSES: [&str; 2] = ["等待卖家发货", "买家已付款"];
pub const DEFAULT_SKIP_STATUSES: [&str; 2] = ["交易关闭", "等待买家付款"];

/// 1688 unit text → LHDN unit code.
pub const DEFAULT_UNITS: [(&str, &str); 12] = [
    ("个", "H87"),
    ("件", "H87"),
    ("只", "H87"),
    ("条", "H87"),
    ("套", "SET"),
    ("米", "MTR"),
    ("盒", "XBX"),
    ("双", "PR"),
    ("包", "XPK"),
    ("千克", "KGM"),
    ("公斤", "KGM"),
    ("kg", "KGM"),
];

/// `[invoice] rate` as written: TOML reads `6.097e-1` as a float like any
/// other, so the notation is looked up in the text.
fn refuse_scientific_rate(text: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct Raw {
        invoice: Option<RawInvoice>,
    }
    #[derive(Deserialize)]
    struct RawInvoice {
        rate: Option<toml::Spanned<toml::Value>>,
    }
    let Ok(Raw {
        invoice: Some(RawInvoice { rate: Some(rate) }),
    }) = toml::from_str::<Raw>(text)
    else {
        return Ok(());
    };
    let written = text.get(rate.span()).unwrap_or_default().trim();
    if crate::money::is_scientific(written.trim_matches('"')) {
        let line = text[..rate.span().start].matches('\n').count() + 1;
        bail!(
            "line {line}: [invoice] rate = {written}: scientific notation is refused (as LHDN \
             refuses it); write the rate as a plain decimal, MYR per 1 CNY, such as 0.6097"
        );
    }
    Ok(())
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let bytes = crate::read::file::read_input(
            path,
            "config",
            crate::read::file::MAX_TEXT_BYTES,
        )
        .with_context(|| {
            format!(
                "{}: config cannot be read; create one with `selfbill init` or pass --config FILE",
                path.display()
            )
        })?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{}: config is not UTF-8 text", path.display()))?;
        Self::parse(&text).with_context(|| format!("{}: bad config", path.display()))
    }

    pub fn parse(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            // toml's message names the key; add the line, on one line.
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(line) => anyhow::anyhow!("line {line}: {}", e.message().trim()),
                None => anyhow::anyhow!("{}", e.message().trim()),
            }
        })?;
        refuse_scientific_rate(text)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        self.buyer.validate()?;
        let currency = self.invoice.currency.as_str();
        if currency != "CNY" && currency != "MYR" {
            bail!("[invoice] currency = {currency:?}; expected \"CNY\" or \"MYR\"");
        }
        if let Some(rate) = self.invoice.rate
            && (rate <= Decimal::ZERO || rate >= Decimal::from(10_000))
        {
            bail!(
                "[invoice] rate = {rate}; expected MYR per 1 CNY, a positive number such as 0.6097"
            );
        }
        if !self.invoice.number.contains("{order_no}") {
            bail!(
                "[invoice] number = {:?}; the pattern must contain {{order_no}} so that every \
                 invoice number is unique, e.g. \"SB-{{order_no}}\"",
                self.invoice.number
            );
        }
        Ok(())
    }

    /// The action for a status, or `None` when the policy does not know it.
    pub fn status_action(&self, status: &str) -> Option<StatusAction> {
        let listed = |custom: &Option<Vec<String>>, default: &[&str]| match custom {
            Some(list) => list.iter().any(|s| s == status),
            None => default.contains(&status),
        };
        if listed(&self.statuses.invoice, &DEFAULT_INVOICE_STATUSES) {
            Some(StatusAction::Invoice)
        } else if listed(&self.statuses.hold, &DEFAULT_HOLD_STATUSES) {
            Some(StatusAction::Hold)
        } else if listed(&self.statuses.skip, &DEFAULT_SKIP_STATUSES) {
            Some(StatusAction::Skip)
        } else {
            None
        }
    }

    /// The LHDN unit code for a 1688 unit text: the config's table first, then the defaults.
    pub fn unit_code(&self, unit: &str) -> Option<&str> {
        let unit = unit.trim();
        self.units.get(unit).map(String::as_str).or_else(|| {
            DEFAULT_UNITS
                .iter()
                .find(|(text, _)| *text == unit)
                .map(|(_, code)| *code)
        })
    }

    /// The invoice number for an order.
    pub fn invoice_number(&self, order_no: &str) -> String {
        self.invoice.number.replace("{order_no}", order_no)
    }
}

impl Buyer {
    /// Your company's details against LHDN's field rules, once, when the
    /// config loads: the error names the key and the value.
    fn validate(&self) -> Result<()> {
        use crate::check::formats;
        use crate::codes::{ID_TYPES, Table};
        if !(1..=3).contains(&self.address.len()) {
            bail!(
                "[buyer] address has {} lines; give 1 to 3 lines, e.g. address = [\"No. 1, Jalan Contoh\"]",
                self.address.len()
            );
        }
        for (key, value) in [
            ("name", &self.name),
            ("tin", &self.tin),
            ("id_no", &self.id_no),
            ("sst_no", &self.sst_no),
            ("phone", &self.phone),
            ("address", &self.address[0]),
            ("city", &self.city),
            ("state", &self.state),
            ("country", &self.country),
        ] {
            if value.trim().is_empty() {
                bail!(
                    "[buyer] {key} is empty; fill it in (sst_no = \"NA\" when not SST-registered)"
                );
            }
        }
        for (key, placeholder) in INIT_PLACEHOLDERS {
            let value = match key {
                "name" => &self.name,
                "tin" => &self.tin,
                "id_no" => &self.id_no,
                "phone" => &self.phone,
                "address" => &self.address[0],
                _ => &self.postcode,
            };
            if value.trim() == placeholder {
                bail!(
                    "[buyer] {key} = {value:?} is the example `selfbill init` wrote; fill in your \
                     company's own {key} (an untouched config never produces invoices)"
                );
            }
        }
        let bad = |key: &str, value: &str, why: String| -> Result<()> {
            bail!("[buyer] {key} = {value:?}: {why}")
        };
        for (key, value, max) in [("name", &self.name, 300), ("city", &self.city, 50)]
            .into_iter()
            .chain(self.address.iter().map(|line| ("address", line, 150)))
        {
            let len = value.chars().count();
            if len > max {
                bad(key, value, format!("{len} characters; LHDN allows {max}"))?;
            }
        }
        if formats::GENERAL_TINS.contains(&self.tin.as_str()) {
            bad(
                "tin",
                &self.tin,
                "a general TIN; the buyer of a self-billed e-invoice is its issuer, your company: \
                 write your own TIN from MyTax"
                    .into(),
            )?;
        }
        if let Err(why) = formats::tin(&self.tin) {
            bad("tin", &self.tin, why)?;
        }
        if !ID_TYPES.contains(&self.id_type.as_str()) {
            bad(
                "id_type",
                &self.id_type,
                "expected one of NRIC, BRN, PASSPORT, ARMY".into(),
            )?;
        }
        if let Err(why) = formats::id_number(&self.id_type, &self.id_no) {
            bad("id_no", &self.id_no, why)?;
        }
        if self.id_no.trim() == "NA" || self.id_no.chars().all(|c| c == '0') {
            bad(
                "id_no",
                &self.id_no,
                "give your company's registration number (BRN: the 12-digit SSM number)".into(),
            )?;
        }
        if let Err(why) = formats::sst(&self.sst_no) {
            bad("sst_no", &self.sst_no, why)?;
        }
        if let Some(email) = self.email.as_deref().filter(|e| !e.trim().is_empty())
            && let Err(why) = formats::email(email)
        {
            bad("email", email, why)?;
        }
        if self.phone.trim() == "NA" {
            bad(
                "phone",
                &self.phone,
                "NA is only for the buyer of a consolidated e-invoice; give your company's phone"
                    .into(),
            )?;
        }
        if let Err(why) = formats::phone(&self.phone) {
            bad("phone", &self.phone, why)?;
        }
        if !Table::Country.contains(&self.country) {
            bad(
                "country",
                &self.country,
                "not in LHDN's country table; Malaysia is MYS".into(),
            )?;
        }
        if self.country == "MYS" {
            if let Err(why) = formats::malaysian_postcode(&self.postcode) {
                bad(
                    "postcode",
                    &self.postcode,
                    format!("{why}; give your 5-digit postcode"),
                )?;
            } else if self.postcode.len() != 5 {
                bad(
                    "postcode",
                    &self.postcode,
                    "Malaysian postcodes have 5 digits (a leading zero lost?)".into(),
                )?;
            }
            if !Table::State.contains(&self.state) || self.state == "17" {
                bad(
                    "state",
                    &self.state,
                    "expected your state's LHDN code, 01 to 16 (`selfbill codes state`); 17 is only \
                     for consolidated invoices and addresses outside Malaysia"
                        .into(),
                )?;
            }
        }
        Ok(())
    }
}

/// One seller in `suppliers.csv`; empty cells mean "use the default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct SupplierEntry {
    pub member_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tin: String,
    #[serde(default)]
    pub id_type: String,
    #[serde(default)]
    pub id_no: String,
    #[serde(default)]
    pub sst_no: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address0: String,
    #[serde(default)]
    pub address1: String,
    #[serde(default)]
    pub address2: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub country: String,
}

impl SupplierEntry {
    /// Every cell, for reading and writing them alike.
    fn cells_mut(&mut self) -> [&mut String; 15] {
        [
            &mut self.member_id,
            &mut self.name,
            &mut self.tin,
            &mut self.id_type,
            &mut self.id_no,
            &mut self.sst_no,
            &mut self.email,
            &mut self.phone,
            &mut self.address0,
            &mut self.address1,
            &mut self.address2,
            &mut self.postcode,
            &mut self.city,
            &mut self.state,
            &mut self.country,
        ]
    }

    /// The entry with each cell as `f` makes it.
    pub fn map_cells(mut self, f: impl Fn(&str) -> String) -> SupplierEntry {
        for cell in self.cells_mut() {
            *cell = f(cell);
        }
        self
    }
}

pub const SUPPLIER_HEADERS: [&str; 15] = [
    "member_id",
    "name",
    "tin",
    "id_type",
    "id_no",
    "sst_no",
    "email",
    "phone",
    "address0",
    "address1",
    "address2",
    "postcode",
    "city",
    "state",
    "country",
];

/// The supplier directory, keyed by 卖家会员名.
#[derive(Debug, Clone, Default)]
pub struct SupplierDirectory {
    pub entries: Vec<SupplierEntry>,
    by_member: HashMap<String, usize>,
}

impl SupplierDirectory {
    pub fn load(path: &Path) -> Result<SupplierDirectory> {
        let bytes = crate::read::file::read_input(
            path,
            "supplier directory",
            crate::read::file::MAX_TEXT_BYTES,
        )
        .with_context(|| {
            format!(
                "{}: supplier directory cannot be read; create it with `selfbill init` or pass --suppliers FILE",
                path.display()
            )
        })?;
        Self::parse(&bytes).with_context(|| format!("{}: bad supplier directory", path.display()))
    }

    pub fn parse(bytes: &[u8]) -> Result<SupplierDirectory> {
        let text = crate::read::text::decode_text(bytes);
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader.headers()?.clone();
        if !headers.iter().any(|h| h == "member_id") {
            bail!(
                "no member_id column; the header row must be {}",
                SUPPLIER_HEADERS.join(",")
            );
        }
        if let Some(unknown) = headers.iter().find(|h| !SUPPLIER_HEADERS.contains(h)) {
            bail!(
                "unknown column {unknown:?}; the columns are {}",
                SUPPLIER_HEADERS.join(",")
            );
        }
        let mut directory = SupplierDirectory::default();
        for (index, record) in reader.records().enumerate() {
            let line = index + 2;
            let record = record.with_context(|| format!("line {line}: cannot be read"))?;
            for (header, cell) in headers.iter().zip(record.iter()) {
                if let Some(chars) = crate::read::file::too_long_for_a_cell(cell) {
                    bail!(
                        "line {line}, column {header}: a cell of {chars} characters, starting {}; \
                         Excel holds at most {} characters in a cell and no invoice can carry it: \
                         shorten it",
                        crate::read::sheet::quote_start(cell.as_bytes()),
                        crate::read::file::MAX_CELL_CHARS
                    );
                }
            }
            let entry = record
                .deserialize::<SupplierEntry>(Some(&headers))
                .with_context(|| format!("line {line}: cannot be read"))?
                // A cell `selfbill suppliers` wrote as '=… (CSV injection) reads as written.
                .map_cells(|cell| crate::csv_safe::restore(cell).to_string());
            if entry.member_id.is_empty() {
                bail!("line {line}: member_id is empty; it is the seller's 卖家会员名");
            }
            if directory.by_member.contains_key(&entry.member_id) {
                bail!(
                    "line {line}: seller {:?} is listed twice; keep one row per seller",
                    entry.member_id
                );
            }
            directory.push(entry);
        }
        Ok(directory)
    }

    pub fn push(&mut self, entry: SupplierEntry) {
        self.by_member
            .insert(entry.member_id.clone(), self.entries.len());
        self.entries.push(entry);
    }

    pub fn get(&self, member_id: &str) -> Option<&SupplierEntry> {
        self.by_member.get(member_id).map(|&i| &self.entries[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[buyer]
name = "Contoh Niaga Sdn Bhd"
tin = "C1234567890"
id_type = "BRN"
id_no = "202001012345"
sst_no = "NA"
phone = "+60312345678"
address = ["No. 1, Jalan Contoh"]
postcode = "50450"
city = "Kuala Lumpur"
state = "14"
country = "MYS"
"#;

    #[test]
    fn defaults_follow_the_design() {
        let config = Config::parse(MINIMAL).unwrap();
        assert_eq!(config.invoice.number, "{order_no}");
        assert_eq!(config.invoice.classification, "034");
        assert_eq!(config.invoice.tax_type, "06");
        assert_eq!(config.invoice.currency, "CNY");
        assert_eq!(
            config.status_action("交易成功"),
            Some(StatusAction::Invoice)
        );
        // Paid for but not shipped: held until shipped.
        assert_eq!(config.status_action("买家已付款"), Some(StatusAction::Hold));
        assert_eq!(
            config.status_action("等待卖家发货"),
            Some(StatusAction::Hold)
        );
        assert_eq!(config.status_action("退款中"), Some(StatusAction::Hold));
        assert_eq!(config.status_action("交易关闭"), Some(StatusAction::Skip));
        assert_eq!(
            config.status_action("等待买家付款"),
            Some(StatusAction::Skip)
        );
        assert_eq!(config.status_action("外星状态"), None);
    }

    #[test]
    fn maps_units_with_config_first() {
        let text = format!("{MINIMAL}\n[units]\n\"箱\" = \"XCT\"\n\"个\" = \"C62\"\n");
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.unit_code("箱"), Some("XCT"));
        assert_eq!(config.unit_code("个"), Some("C62"));
        assert_eq!(config.unit_code("套"), Some("SET"));
        assert_eq!(config.unit_code("米"), Some("MTR"));
        assert_eq!(config.unit_code("盒"), Some("XBX"));
        assert_eq!(config.unit_code("双"), Some("PR"));
        assert_eq!(config.unit_code("包"), Some("XPK"));
        assert_eq!(config.unit_code("公斤"), Some("KGM"));
        assert_eq!(config.unit_code("条"), Some("H87"));
        assert_eq!(config.unit_code("卷"), None);
    }

    #[test]
    fn status_policy_can_be_overridden() {
        let text = format!(
            "{MINIMAL}\n[statuses]\nhold = [\"等待卖家发货\", \"退款中\"]\ninvoice = [\"交易成功\"]\n"
        );
        let config = Config::parse(&text).unwrap();
        assert_eq!(
            config.status_action("等待卖家发货"),
            Some(StatusAction::Hold)
        );
        assert_eq!(config.status_action("已收货"), None);
    }

    #[test]
    fn errors_name_the_key() {
        let err = Config::parse(&MINIMAL.replace("id_type = \"BRN\"", "id_type = \"SSM\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("id_type") && err.contains("SSM"), "{err}");
        let err = Config::parse(&MINIMAL.replace("tin = \"C1234567890\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tin"), "{err}");
        let err = Config::parse(&format!("{MINIMAL}colour = \"red\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 14: unknown field `colour`"), "{err}");
        let err = Config::parse(&format!("{MINIMAL}\n[invoice]\ncurrency = \"USD\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("USD"), "{err}");
        let err = Config::parse(&format!("{MINIMAL}\n[invoice]\nnumber = \"INV\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("{order_no}"), "{err}");
    }

    #[test]
    fn register_settings() {
        let config = Config::parse(MINIMAL).unwrap();
        assert_eq!(config.register.path, None);
        assert_eq!(config.register.refunds_as, RefundsAs::Refund);
        let text =
            format!("{MINIMAL}\n[register]\npath = \"books/r.db\"\nrefunds_as = \"credit\"\n");
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.register.path, Some(PathBuf::from("books/r.db")));
        assert_eq!(config.register.refunds_as, RefundsAs::Credit);
        let err = Config::parse(&format!("{MINIMAL}\n[register]\nrefunds_as = \"debit\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("debit") || err.contains("refunds_as"), "{err}");
    }

    #[test]
    fn your_company_is_checked_when_the_config_loads() {
        // sst_no defaults to NA; einvoice_from reads as text or a TOML date.
        let config = Config::parse(&MINIMAL.replace("sst_no = \"NA\"\n", "")).unwrap();
        assert_eq!(config.buyer.sst_no, "NA");
        let with_date = |value: &str| {
            MINIMAL.replace(
                "country = \"MYS\"",
                &format!("country = \"MYS\"\neinvoice_from = {value}"),
            )
        };
        let expected = NaiveDate::from_ymd_opt(2026, 1, 1);
        for value in ["\"2026-01-01\"", "2026-01-01"] {
            let config = Config::parse(&with_date(value)).unwrap();
            assert_eq!(config.buyer.einvoice_from, expected, "{value}");
        }
        let err = Config::parse(&with_date("\"1 Jan 2026\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("einvoice_from = \"1 Jan 2026\""), "{err}");

        // Each bad value: one error naming the key and the value.
        let cases = [
            (
                "tin = \"C1234567890\"",
                "tin = \"C01234567890\"",
                "[buyer] tin = \"C01234567890\"",
            ),
            (
                "tin = \"C1234567890\"",
                "tin = \"EI00000000010\"",
                "general TIN",
            ),
            ("state = \"14\"", "state = \"17\"", "[buyer] state = \"17\""),
            ("state = \"14\"", "state = \"99\"", "[buyer] state = \"99\""),
            (
                "phone = \"+60312345678\"",
                "phone = \"03-1234 5678\"",
                "[buyer] phone = \"03-1234 5678\"",
            ),
            (
                "phone = \"+60312345678\"",
                "phone = \"NA\"",
                "[buyer] phone = \"NA\"",
            ),
            (
                "id_no = \"202001012345\"",
                "id_no = \"NA\"",
                "[buyer] id_no = \"NA\"",
            ),
            (
                "id_type = \"BRN\"",
                "id_type = \"NRIC\"\nemail = \"x\"",
                "[buyer] email = \"x\"",
            ),
            (
                "id_type = \"BRN\"\nid_no = \"202001012345\"",
                "id_type = \"NRIC\"\nid_no = \"770625-01-5324\"",
                "[buyer] id_no = \"770625-01-5324\"",
            ),
            (
                "postcode = \"50450\"",
                "postcode = \"5045\"",
                "[buyer] postcode = \"5045\"",
            ),
            (
                "sst_no = \"NA\"",
                "sst_no = \"A01 2345\"",
                "[buyer] sst_no = \"A01 2345\"",
            ),
            (
                "country = \"MYS\"",
                "country = \"Malaysia\"",
                "[buyer] country = \"Malaysia\"",
            ),
        ];
        for (good, bad, expected) in cases {
            assert!(MINIMAL.contains(good), "{good}");
            let err = Config::parse(&MINIMAL.replace(good, bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }

    #[test]
    fn the_config_file_is_named_with_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("selfbill.toml");
        std::fs::write(&path, MINIMAL.replace("+60312345678", "+60300000000")).unwrap();
        let err = format!("{:#}", Config::load(&path).unwrap_err());
        assert!(
            err.contains("selfbill.toml") && err.contains("[buyer] phone = \"+60300000000\""),
            "{err}"
        );
    }

    #[test]
    fn reads_the_supplier_directory() {
        let csv = "member_id,name,tin,id_type,id_no,sst_no,email,phone,address0,address1,address2,postcode,city,state,country\n\
                   yiwushili2019,Yiwu Shili Daily Goods Co. Ltd,,,,,,+8657912345678,No. 8 Example Road,,,322000,Yiwu,Zhejiang,CHN\n";
        let directory = SupplierDirectory::parse(csv.as_bytes()).unwrap();
        let entry = directory.get("yiwushili2019").unwrap();
        assert_eq!(entry.city, "Yiwu");
        assert_eq!(entry.tin, "");
        assert!(directory.get("nobody").is_none());
        let dup = format!("{csv}yiwushili2019,,,,,,,,,,,,,,\n");
        assert!(
            SupplierDirectory::parse(dup.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
