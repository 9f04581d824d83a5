//! `selfbill init`: a commented starter config and an empty supplier directory.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

use crate::config::SUPPLIER_HEADERS;
use crate::write::write_atomic;

/// The starter `selfbill.toml`: the buyer to fill in, every optional key with its default.
pub const STARTER_CONFIG: &str = r#"# selfbill configuration. Fill in [buyer]: until its examples are replaced by
# your company's details, selfbill refuses to convert. Every other key is
# optional and shows its default. Docs: README.md, docs/mapping.md.

[buyer]                       # your company: the issuer of the self-billed e-invoice
name = "Your Company Sdn Bhd"
tin = "C0000000000"           # your TIN from MyTax (C…, IG…)
id_type = "BRN"               # NRIC | BRN | PASSPORT | ARMY
id_no = "000000000000"        # your SSM registration number (12 digits)
# sst_no = "NA"               # "NA" (the default) when not SST-registered; an
                              # SST-registered company must write its SST number here
# email = "accounts@example.my"
phone = "+60300000000"        # digits with an optional leading +, 8-20 characters
address = ["Address line 1"]  # 1 to 3 lines
postcode = "00000"
city = "Kuala Lumpur"
state = "14"                  # LHDN state code: `selfbill codes state`
country = "MYS"
# einvoice_from = "2026-01-01" # when e-invoicing became mandatory for you: goods
                              # cleared before it need no self-billed e-invoice

[invoice]
number = "{order_no}"         # eInvoiceNumber pattern; must contain {order_no}
classification = "034"        # Self-billed - Importation of goods
tax_type = "06"               # Not Applicable
currency = "CNY"
# rate = 0.6097               # MYR per 1 CNY, when no --rate is given
# incoterms = "EXW"

[units]                       # 1688 unit text -> LHDN unit code, added to the defaults:
# "箱" = "XCT"                # 个 件 只 条 -> H87, 套 -> SET, 米 -> MTR, 盒 -> XBX,
                              # 双 -> PR, 包 -> XPK, 千克 公斤 -> KGM

[statuses]                    # override the default status policy
# invoice = ["交易成功", "已收货", "等待买家确认收货", "已发货", "卖家已发货"]
# hold = ["退款中", "等待卖家发货", "买家已付款"]   # refund under way; not yet shipped
# skip = ["交易关闭", "等待买家付款"]

[register]                    # what each run invoiced and held, kept for the next run
# path = "selfbill.db"        # the register (SQLite), beside this file; convert
                              # --no-register for one-off runs
# refunds_as = "refund"       # orders refunded after invoicing: "refund" note (14)
                              # or "credit" note (12)
"#;

/// Writes `selfbill.toml` and `suppliers.csv` into `dir`, creating it when
/// missing; refuses if either file exists.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.exists() && !dir.is_dir() {
        bail!("{}: is a file, not a folder", dir.display());
    }
    let config = dir.join("selfbill.toml");
    let suppliers = dir.join("suppliers.csv");
    for path in [&config, &suppliers] {
        if path.exists() {
            bail!(
                "{}: already exists; selfbill init never overwrites (nothing was written)",
                path.display()
            );
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    write_atomic(&config, STARTER_CONFIG.as_bytes(), false)
        .with_context(|| format!("{}: cannot write", config.display()))?;
    let header = format!("{}\n", SUPPLIER_HEADERS.join(","));
    write_atomic(&suppliers, header.as_bytes(), false)
        .with_context(|| format!("{}: cannot write", suppliers.display()))?;
    Ok(vec![config, suppliers])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bookkeeper's values for `selfbill init`'s examples, by key.
    const FILLED: [(&str, &str, &str); 6] = [
        ("name", "Your Company Sdn Bhd", "Contoh Niaga Sdn Bhd"),
        ("tin", "\"C0000000000\"", "\"C1234567890\""),
        ("id_no", "\"000000000000\"", "\"202001012345\""),
        ("phone", "+60300000000", "+60312345678"),
        ("address", "Address line 1", "No. 1, Jalan Contoh"),
        ("postcode", "\"00000\"", "\"50450\""),
    ];

    /// The starter config with every example but `except` filled in.
    fn filled(except: &str) -> String {
        FILLED
            .iter()
            .filter(|(key, _, _)| *key != except)
            .fold(STARTER_CONFIG.to_string(), |text, (_, example, real)| {
                text.replace(example, real)
            })
    }

    #[test]
    fn the_starter_config_is_refused_until_filled_in() {
        let err = crate::config::Config::parse(STARTER_CONFIG)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[buyer] name = \"Your Company Sdn Bhd\"")
                && err.contains("selfbill init"),
            "{err}"
        );
        // Every example is refused on its own, naming its key and value.
        for (key, placeholder) in crate::config::INIT_PLACEHOLDERS {
            assert!(FILLED.iter().any(|(k, _, _)| *k == key), "{key}");
            let err = crate::config::Config::parse(&filled(key))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("[buyer] {key} = \"{placeholder}\"")),
                "{key}: {err}"
            );
        }
        let config = crate::config::Config::parse(&filled("")).unwrap();
        assert_eq!(config.buyer.sst_no, "NA");
        assert_eq!(config.buyer.einvoice_from, None);
        assert_eq!(config.invoice.number, "{order_no}");
        assert_eq!(config.invoice.classification, "034");
        assert!(config.units.is_empty());
        assert_eq!(config.register.path, None);
        assert!(STARTER_CONFIG.contains("[register]"));
        assert!(STARTER_CONFIG.contains("SST-registered company must write its SST number"));
    }
}
