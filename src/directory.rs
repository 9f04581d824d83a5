//! `selfbill suppliers`: adds the sellers seen in exports to the supplier
//! directory, leaving the rows already there exactly as they are: the same
//! bytes, the same encoding (UTF-8 with or without BOM, or GBK as Excel on
//! Chinese Windows saves "CSV"), the same line endings. A directory reached
//! through a symbolic link is written where the link points.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

use crate::config::{SUPPLIER_HEADERS, SupplierDirectory, SupplierEntry};
use crate::csv_safe::neutralise;
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

/// How a directory file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEncoding {
    /// UTF-8 (with or without BOM): what `selfbill init` writes.
    Utf8,
    /// Not UTF-8: GBK (code page 936), which Excel on Chinese Windows writes
    /// for "CSV" (read as GB18030, its superset).
    Gbk,
}

impl FileEncoding {
    pub fn of(bytes: &[u8]) -> FileEncoding {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if std::str::from_utf8(bytes).is_ok() {
            FileEncoding::Utf8
        } else {
            FileEncoding::Gbk
        }
    }
}

/// Appends a row (member_id and name; the rest blank) for every seller in
/// `orders` that `existing` lacks. The existing bytes are kept as they are;
/// the new rows take the file's encoding and line endings. A name that
/// would start a formula in Excel gets a leading `'` ([`crate::csv_safe`]).
/// A name the file's GBK encoding cannot hold is an error: rather than mix
/// encodings, the file must be saved as UTF-8 first.
pub fn add_sellers(existing: Option<&[u8]>, orders: &[Order]) -> Result<Added> {
    let directory = match existing {
        Some(bytes) => SupplierDirectory::parse(bytes)?,
        None => SupplierDirectory::default(),
    };
    let encoding = existing.map_or(FileEncoding::Utf8, FileEncoding::of);
    let crlf = existing.is_some_and(|b| b.windows(2).any(|w| w == b"\r\n"));
    let newline: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut bytes = match existing {
        Some(bytes) => bytes.to_vec(),
        None => format!("{}\n", SUPPLIER_HEADERS.join(",")).into_bytes(),
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(newline);
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
    let mut text = Vec::new();
    {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .terminator(if crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .from_writer(&mut text);
        for row in &new_rows {
            writer.serialize(row.clone().map_cells(|cell| neutralise(cell).into_owned()))?;
        }
        writer.flush()?;
    }
    let text = String::from_utf8(text)?;
    match encoding {
        FileEncoding::Utf8 => bytes.extend_from_slice(text.as_bytes()),
        FileEncoding::Gbk => bytes.extend_from_slice(&in_gbk(&text, &new_rows)?),
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

/// New rows in GBK, or an error naming the first seller GBK cannot hold.
fn in_gbk(text: &str, rows: &[SupplierEntry]) -> Result<Vec<u8>> {
    let (encoded, _, unmappable) = encoding_rs::GBK.encode(text);
    if !unmappable {
        return Ok(encoded.into_owned());
    }
    let seller = rows
        .iter()
        .find(|row| {
            encoding_rs::GBK
                .encode(&format!("{}{}", row.member_id, row.name))
                .2
        })
        .map(|row| format!("{} ({})", row.member_id, row.name))
        .unwrap_or_default();
    bail!(
        "the directory is encoded in GBK (as Excel on Chinese Windows saves CSV), and seller \
         {seller} has characters GBK cannot hold; nothing was added. Save the file as \
         \"CSV UTF-8\" in Excel (or convert it to UTF-8) and run again"
    )
}

/// Writes the directory's new bytes atomically. When `path` is a symbolic
/// link, the file it points to is replaced (the link stays a link); a link
/// that points nowhere is an error. Returns the file written.
pub fn write_directory(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let target = match path.symlink_metadata() {
        Ok(meta) if meta.file_type().is_symlink() => {
            crate::write::set::refuse_dangling_link(path)?;
            path.canonicalize()
                .with_context(|| format!("{}: the link cannot be followed", path.display()))?
        }
        _ => path.to_path_buf(),
    };
    crate::write::write_atomic(&target, bytes, true)?;
    Ok(target)
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
            text.ends_with("new1,新公司,,,,,,,,,,,,,\r\nnew2,,,,,,,,,,,,,,\r\n"),
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

    #[test]
    fn a_gbk_directory_is_appended_in_gbk_with_its_line_endings() {
        let header = SUPPLIER_HEADERS.join(",");
        let existing_text = format!("{header}\r\nold1,旧公司,,,,,,,,,,,,,\r\n");
        let (existing, _, _) = encoding_rs::GBK.encode(&existing_text);
        assert!(std::str::from_utf8(&existing).is_err(), "a GBK file");
        let result = add_sellers(Some(&existing), &[order("new1", "新公司")]).unwrap();
        assert!(
            result.bytes.starts_with(&existing),
            "existing bytes untouched"
        );
        let (text, _, malformed) = encoding_rs::GBK.decode(&result.bytes);
        assert!(!malformed, "one encoding throughout");
        assert!(text.ends_with("new1,新公司,,,,,,,,,,,,,\r\n"), "{text}");
        let directory = SupplierDirectory::parse(&result.bytes).unwrap();
        assert_eq!(directory.get("new1").unwrap().name, "新公司");
        // A name GBK cannot hold is refused, and nothing is added.
        let err = add_sellers(Some(&existing), &[order("emoji", "笑😀公司")]).unwrap_err();
        assert!(err.to_string().contains("GBK cannot hold"), "{err}");
        assert!(err.to_string().contains("emoji"), "{err}");
    }

    #[test]
    fn names_that_would_be_formulas_are_neutralised_and_read_back() {
        let payload = "=HYPERLINK(\"http://x\",\"click\")";
        let result = add_sellers(None, &[order("@evil", payload)]).unwrap();
        let text = String::from_utf8(result.bytes.clone()).unwrap();
        assert!(text.contains("'@evil,\"'=HYPERLINK("), "{text}");
        let directory = SupplierDirectory::parse(&result.bytes).unwrap();
        assert_eq!(directory.get("@evil").unwrap().name, payload);
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_directory_is_written_where_the_link_points() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("suppliers.csv");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let written = write_directory(&link, b"new").unwrap();
        assert_eq!(written, real.canonicalize().unwrap());
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let dangling = dir.path().join("dangling.csv");
        std::os::unix::fs::symlink(dir.path().join("gone.csv"), &dangling).unwrap();
        let err = write_directory(&dangling, b"x").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
