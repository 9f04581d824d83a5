//! `selfbill.toml` (the buyer and invoice settings) and `suppliers.csv` (the
//! directory of 1688 sellers), with errors that name the key and what is
//! expected.

use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use serde::Deserialize;
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
    pub sst_no: String,
    #[serde(default)]
    pub email: Option<String>,
    pub phone: String,
    pub address: Vec<String>,
    pub postcode: String,
    pub city: String,
    pub state: String,
    pub country: String,
}

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

pub const DEFAULT_INVOICE_STATUSES: [&str; 7] = [
    "交易成功",
    "已收货",
    "等待买家确认收货",
    "已发货",
    "卖家已发货",
    "等待卖家发货",
    "买家已付款",
];
pub const DEFAULT_HOLD_STATUSES: [&str; 1] = ["退款中"];
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

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "{}: config cannot be read; create one with `selfbill init` or pass --config FILE",
                path.display()
            )
        })?;
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
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let buyer = &self.buyer;
        if !(1..=3).contains(&buyer.address.len()) {
            bail!(
                "[buyer] address has {} lines; give 1 to 3 lines, e.g. address = [\"No. 1, Jalan Contoh\"]",
                buyer.address.len()
            );
        }
        if !["NRIC", "BRN", "PASSPORT", "ARMY"].contains(&buyer.id_type.as_str()) {
            bail!(
                "[buyer] id_type = {:?}; expected one of NRIC, BRN, PASSPORT, ARMY",
                buyer.id_type
            );
        }
        for (key, value) in [
            ("name", &buyer.name),
            ("tin", &buyer.tin),
            ("id_no", &buyer.id_no),
            ("sst_no", &buyer.sst_no),
            ("phone", &buyer.phone),
            ("city", &buyer.city),
            ("state", &buyer.state),
            ("country", &buyer.country),
        ] {
            if value.trim().is_empty() {
                bail!(
                    "[buyer] {key} is empty; fill it in (sst_no = \"NA\" when not SST-registered)"
                );
            }
        }
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
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "{}: supplier directory cannot be read; create it with `selfbill init` or pass --suppliers FILE",
                path.display()
            )
        })?;
        Self::parse(&bytes).with_context(|| format!("{}: bad supplier directory", path.display()))
    }

    pub fn parse(bytes: &[u8]) -> Result<SupplierDirectory> {
        let text = crate::read::sheet::decode_text(bytes);
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
        for (index, record) in reader.deserialize::<SupplierEntry>().enumerate() {
            let line = index + 2;
            let entry = record.with_context(|| format!("line {line}: cannot be read"))?;
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
        assert_eq!(
            config.status_action("买家已付款"),
            Some(StatusAction::Invoice)
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
