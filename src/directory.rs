//! `selfbill suppliers`: adds the sellers seen in exports to the supplier
//! directory, leaving the rows already there exactly as they are.

use anyhow::Result;

use crate::config::{SUPPLIER_HEADERS, SupplierDirectory, SupplierEntry};
use crate::model::Order;

/// What adding sellers did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The directory file's new content.
    pub bytes: Vec<u8>,
    /// Sellers added, in the order first seen.
    pub added: Vec<String>,
    /// Sellers (old and new) still without an address or a phone.
    pub lacking_details: Vec<String>,
}

/// Appends a row (member_id and name; the rest blank) for every seller in
/// `orders` that `existing` lacks. The existing bytes are kept as they are.
pub fn add_sellers(existing: Option<&[u8]>, orders: &[Order]) -> Result<Added> {
    let directory = match existing {
        Some(bytes) => SupplierDirectory::parse(bytes)?,
        None => SupplierDirectory::default(),
    };
    let mut bytes = match existing {
        Some(bytes) => bytes.to_vec(),
        None => format!("{}\n", SUPPLIER_HEADERS.join(",")).into_bytes(),
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    let mut added: Vec<String> = Vec::new();
    let mut new_rows = Vec::new();
    for order in orders {
        let member = order.seller_member.trim();
        if member.is_empty() || directory.get(member).is_some() || added.iter().any(|a| a == member)
        {
            continue;
        }
        added.push(member.to_string());
        new_rows.push(SupplierEntry {
            member_id: member.to_string(),
            name: order.seller_company.trim().to_string(),
            ..SupplierEntry::default()
        });
    }
    {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut bytes);
        for row in &new_rows {
            writer.serialize(row)?;
        }
        writer.flush()?;
    }
    let lacking_details = directory
        .entries
        .iter()
        .chain(&new_rows)
        .filter(|e| e.address0.trim().is_empty() || e.phone.trim().is_empty())
        .map(|e| e.member_id.clone())
        .collect();
    Ok(Added {
        bytes,
        added,
        lacking_details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Location;

    fn order(member: &str, company: &str) -> Order {
        Order {
            order_no: "1".into(),
            seller_company: company.into(),
            seller_member: member.into(),
            goods_total: Default::default(),
            shipping: Default::default(),
            adjustment: Default::default(),
            paid: Default::default(),
            status: "交易成功".into(),
            paid_at: None,
            lines: Vec::new(),
            source: Location::default(),
        }
    }

    #[test]
    fn adds_new_sellers_after_the_existing_rows() {
        let existing = "member_id,name,tin,id_type,id_no,sst_no,email,phone,address0,address1,address2,postcode,city,state,country\r\n\
                        old1,\"Old, Ltd\",,,,,,+8612345678,Road 1,,,,City,,CHN\r\n";
        let orders = [
            order("new1", "新公司"),
            order("old1", "x"),
            order("new1", "新公司"),
            order("new2", ""),
        ];
        let result = add_sellers(Some(existing.as_bytes()), &orders).unwrap();
        let text = String::from_utf8(result.bytes).unwrap();
        assert!(text.starts_with(existing), "existing rows untouched");
        assert_eq!(result.added, ["new1", "new2"]);
        assert_eq!(result.lacking_details, ["new1", "new2"]);
        assert!(
            text.ends_with("new1,新公司,,,,,,,,,,,,,\nnew2,,,,,,,,,,,,,,\n"),
            "{text}"
        );
        // Running it again adds nothing.
        let again = add_sellers(Some(text.as_bytes()), &orders).unwrap();
        assert!(again.added.is_empty());
        assert_eq!(again.bytes, text.as_bytes());
    }

    #[test]
    fn creates_the_directory_when_there_is_none() {
        let result = add_sellers(None, &[order("a", "A Co")]).unwrap();
        let text = String::from_utf8(result.bytes).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("member_id,name,"));
    }
}
