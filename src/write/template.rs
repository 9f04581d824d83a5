//! LHDN's batch-upload workbook as a package of zip parts: the embedded
//! public copy, or a template the user downloaded from the portal
//! (`--template`, `[output] template`).
//!
//! The package is read once per run. Each visible sheet that selfbill knows
//! is found by name; its columns by their row-4 headers (trimmed), so a
//! template that moves or inserts columns still fills correctly. What an
//! output changes is located here with an XML reader: the sheet's
//! `<dimension>`, the end of `<sheetData>` (data rows go there), the ranges
//! of its data validations and conditional formats, its table's range, and
//! the end of the styles' `<cellXfs>` (one data style per number format is
//! appended). Everything else is copied byte for byte.

use anyhow::{Context, Result, anyhow, bail};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};
use zip::ZipArchive;

use crate::batch::{ADDED_IN_NEWER_TEMPLATE, FIRST_DATA_ROW, HEADER_ROW, template as layout};
use crate::finding::Finding;
use crate::read::{file, xlsx};
use crate::rules;

/// LHDN's public template (the newer copy), embedded in the binary.
pub const EMBEDDED: &[u8] = include_bytes!("../../assets/lhdn-batch-upload-template.xlsx");

/// The last row Excel allows in a sheet.
pub const EXCEL_MAX_ROWS: usize = 1_048_576;

/// The most data rows a sheet of the template can take: rows 1–5 are LHDN's.
pub const MAX_DATA_ROWS: usize = EXCEL_MAX_ROWS - (FIRST_DATA_ROW as usize - 1);

/// LHDN's row-5 sample, kept as it is; data ranges start there.
const SAMPLE_ROW: u32 = FIRST_DATA_ROW - 1;

/// The largest part of a template read into memory (LHDN's largest is under 1 MB).
const MAX_PART_BYTES: u64 = file::MAX_TEMPLATE_PART_BYTES;

/// How far a template may unpack.
const TEMPLATE_LIMITS: xlsx::PackageLimits = xlsx::PackageLimits {
    part: file::MAX_TEMPLATE_PART_BYTES,
    total: file::MAX_TEMPLATE_UNPACKED_BYTES,
    what: "template",
    remedy: "(LHDN's template unpacks to under 1 MB); download the template again from the \
             MyInvois Portal (Batch Upload), or leave out --template",
};

/// Columns `convert` fills, by sheet: a template must have them (a column
/// LHDN added later may be missing from an older copy; it is left out).
pub const FILLED: &[(&str, &[&str])] = &[
    (
        "Documents",
        &[
            "eInvoiceNumber",
            "eInvoiceTypeCode",
            "eInvoiceVersion",
            "IssuanceDateTime",
            "CurrencyCode",
            "CurrencyExchangeRate",
            "Supplier.TIN",
            "Supplier.Name",
            "Supplier.IDType",
            "Supplier.IDNo",
            "Supplier.SST.No",
            "Supplier.TTX.No",
            "Supplier.Email",
            "Supplier.MSIC.Code",
            "Supplier.BusinessActivityDescription",
            "Supplier.Address.AddressLine0",
            "Supplier.Address.AddressLine1",
            "Supplier.Address.AddressLine2",
            "Supplier.Address.PostalZone",
            "Supplier.Address.CityName",
            "Supplier.Address.State",
            "Supplier.Address.CountryCode",
            "Supplier.ContactNumber",
            "Buyer.TIN",
            "Buyer.Name",
            "Buyer.IDType",
            "Buyer.IDNo",
            "Buyer.SST.No",
            "Buyer.Email",
            "Buyer.Address.AddressLine0",
            "Buyer.Address.AddressLine1",
            "Buyer.Address.AddressLine2",
            "Buyer.Address.PostalZone",
            "Buyer.Address.CityName",
            "Buyer.Address.State",
            "Buyer.Address.CountryCode",
            "Buyer.ContactNumber",
            "TotalExcludingTax",
            "TotalIncludingTax",
            "TotalPayableAmount",
            "TotalNetAmount",
            "TotalTaxAmount",
            "TotalDiscountValue",
            "TotalChargeAmount",
            "TotalRoundingAmount",
            "Incoterms",
        ],
    ),
    (
        "DocumentReferences",
        &[
            "SerialNo",
            "eInvoiceNumber",
            "OriginaleInvoiceNumber",
            "OriginaleInvoiceReferenceNumberUUID",
        ],
    ),
    (
        "DocumentLineItems",
        &[
            "eInvoiceNumber",
            "ID",
            "Classification",
            "DescriptionProductService",
            "UnitPrice",
            "Quantity",
            "UnitOfMeasurement",
            "Subtotal",
            "TotalTaxAmount",
            "TotalExcludingTax",
            "CountryofOrigin",
        ],
    ),
    (
        "LineItemsTaxes",
        &[
            "eInvoiceNumber",
            "LineItem.ID",
            "TaxType",
            "TaxRate",
            "TaxAmount",
            "TaxableAmount",
        ],
    ),
    (
        "DocumentTotalTax",
        &[
            "eInvoiceNumber",
            "TaxType",
            "TotalTaxableAmount",
            "TotalTaxAmount",
        ],
    ),
    (
        "DocumentDiscounts",
        &["eInvoiceNumber", "DiscountDescription", "DiscountAmount"],
    ),
    (
        "DocumentCharges",
        &["eInvoiceNumber", "ChargeDescription", "ChargeAmount"],
    ),
    (
        "ReferenceNumberCustomsForms",
        &[
            "SerialNo",
            "eInvoiceNumber",
            "ReferenceNumberofCustomsFormNo1or9",
        ],
    ),
];

/// A template, read and located once per run.
pub struct TemplatePackage {
    /// The file it came from, or "LHDN's template (embedded)".
    pub source: String,
    bytes: Cow<'static, [u8]>,
    /// Per layout sheet (see [`crate::batch::sheets`]); `None` when the
    /// template lacks the sheet.
    sheets: Vec<Option<TemplateSheet>>,
    /// Table parts to extend, by zip entry: (layout sheet, part).
    tables: HashMap<String, (usize, Located)>,
    /// `xl/styles.xml` with the data styles appended, when it needed any,
    /// compressed once as a one-entry zip: every workbook of a run copies
    /// it in as it is.
    styles: Option<(String, Vec<u8>)>,
    /// Table parts extended to a last row and compressed as one-entry zips,
    /// by (entry, last row): the workbooks of a split output mostly share
    /// their tables' last rows (every full workbook its Documents table's),
    /// and copy each in as it is.
    tables_zipped: Mutex<HashMap<(String, u32), ZippedPart>>,
    /// Compressors and buffers the run's workbooks reuse.
    pub(crate) reuse: super::xlsx::Reuse,
    /// The template's parts as zip copies them, made when first needed.
    assembly: std::sync::OnceLock<Option<super::xlsx::Assembly>>,
    /// Info findings about the template, reported once per run.
    pub notes: Vec<Finding>,
}

/// A part compressed as a one-entry zip, shared by the workbooks of a run.
pub(crate) type ZippedPart = Arc<Vec<u8>>;

/// The most compressed tables kept for a run (each well under 2 KB).
const MAX_TABLES_ZIPPED: usize = 4096;

/// A visible sheet of the template, located.
pub(crate) struct TemplateSheet {
    pub entry: String,
    pub located: Located,
    /// Per layout column: the template's column (0 = A), when it has it.
    pub columns: Vec<Option<u32>>,
    /// Per layout column: the cell style index of a data cell, if not the default.
    pub styles: Vec<Option<u32>>,
    /// Its data cells' markup, made once for every workbook of a run.
    pub markup: std::sync::OnceLock<std::sync::Arc<super::xlsx::SheetMarkup>>,
}

/// A part's XML cut where an output changes it.
pub(crate) struct Located {
    xml: String,
    pieces: Vec<Piece>,
}

enum Piece {
    /// Copied as it is.
    Text(Range<usize>),
    /// A list of ranges (an attribute's value, or an `<xm:sqref>`'s text),
    /// extended over the data rows; nothing else of its tag changes. Read
    /// once, for every workbook of a run.
    Ranges(Range<usize>, RangeList),
    /// Where data rows go (before `</sheetData>`).
    Rows,
}

impl Piece {
    fn ranges(xml: &str, span: Range<usize>) -> Piece {
        let list = RangeList::parse(&xml[span.clone()]);
        Piece::Ranges(span, list)
    }
}

/// A list of ranges, read: each range's text, and for a range that reaches
/// the sample row (or below) what it becomes before its last row.
struct RangeList(Vec<(String, Option<(String, u32)>)>);

impl RangeList {
    /// `F5:G5 I5:K5` → `F5:G` below to 5, `I5:K` below to 5.
    fn parse(sqref: &str) -> RangeList {
        RangeList(
            sqref
                .split_ascii_whitespace()
                .map(|range| {
                    let (first, second) = range.split_once(':').unwrap_or((range, range));
                    let stretch = match (cell_ref(first), cell_ref(second)) {
                        (Some((c1, r1)), Some((c2, r2))) if r2 >= SAMPLE_ROW => Some((
                            format!("{}{}:{}", column_letter(c1), r1.min(r2), column_letter(c2)),
                            r2,
                        )),
                        _ => None,
                    };
                    (range.to_string(), stretch)
                })
                .collect(),
        )
    }

    /// Writes the list with every range that ends above `last_row`
    /// stretched down to it; `false` (nothing written) when none does.
    fn stretch_into(&self, last_row: u32, out: &mut Vec<u8>) -> bool {
        let short = |stretch: &Option<(String, u32)>| matches!(stretch, Some((_, bottom)) if *bottom < last_row);
        if !self.0.iter().any(|(_, stretch)| short(stretch)) {
            return false;
        }
        let mut digits = [0; 10];
        for (at, (range, stretch)) in self.0.iter().enumerate() {
            if at > 0 {
                out.push(b' ');
            }
            match stretch {
                Some((start, _)) if short(stretch) => {
                    out.extend_from_slice(start.as_bytes());
                    out.extend_from_slice(super::xlsx::unsigned(last_row, &mut digits).as_bytes());
                }
                _ => out.extend_from_slice(range.as_bytes()),
            }
        }
        true
    }
}

impl TemplatePackage {
    /// LHDN's public template, as embedded.
    pub fn embedded() -> Result<TemplatePackage> {
        TemplatePackage::parse(
            "LHDN's template (embedded)".to_string(),
            Cow::Borrowed(EMBEDDED),
        )
    }

    /// A template file the user gave: a regular file within
    /// [`file::MAX_TEMPLATE_BYTES`], each part declared to unpack within
    /// [`file::MAX_TEMPLATE_PART_BYTES`], all within
    /// [`file::MAX_TEMPLATE_UNPACKED_BYTES`].
    pub fn from_file(path: &Path) -> Result<TemplatePackage> {
        let source = path.display().to_string();
        let bytes = file::read_input(path, "template", file::MAX_TEMPLATE_BYTES)?;
        if bytes.starts_with(b"PK\x03\x04") {
            xlsx::check_package_within(path, &bytes, &TEMPLATE_LIMITS)?;
        }
        crate::read::guard(path, || TemplatePackage::parse(source, Cow::Owned(bytes)))
    }

    fn parse(source: String, bytes: Cow<'static, [u8]>) -> Result<TemplatePackage> {
        let not_a_template = |what: &str| {
            anyhow!(
                "{source}: not LHDN's batch-upload template: {what}; download the template again \
                 from the MyInvois Portal (Batch Upload), or leave out --template to use the one \
                 selfbill carries"
            )
        };
        let mut zip = ZipArchive::new(Cursor::new(&bytes[..]))
            .map_err(|_| not_a_template("it is not an xlsx workbook"))?;
        let workbook_xml = read_part(&mut zip, "xl/workbook.xml")
            .map_err(|_| not_a_template("it has no xl/workbook.xml"))?;
        let rels = read_part(&mut zip, "xl/_rels/workbook.xml.rels")
            .map(|xml| relationships(&xml, "xl/"))
            .map_err(|_| not_a_template("it has no workbook relationships"))?
            .with_context(|| format!("{source}: xl/_rels/workbook.xml.rels"))?;
        let sheets =
            workbook_sheets(&workbook_xml).with_context(|| format!("{source}: xl/workbook.xml"))?;
        let shared = match rels.iter().find(|r| r.kind.ends_with("/sharedStrings")) {
            Some(rel) => shared_strings(&read_part(&mut zip, &rel.target)?)
                .with_context(|| format!("{source}: {}", rel.target))?,
            None => Vec::new(),
        };
        let styles_entry = rels
            .iter()
            .find(|r| r.kind.ends_with("/styles"))
            .map(|r| r.target.clone());
        let mut styles = match &styles_entry {
            Some(entry) => Some(
                Styles::parse(read_part(&mut zip, entry)?)
                    .with_context(|| format!("{source}: {entry}"))?,
            ),
            None => None,
        };

        let schema = layout();
        let mut found: Vec<Option<TemplateSheet>> = schema.sheets.iter().map(|_| None).collect();
        let mut tables = HashMap::new();
        let mut notes = Vec::new();
        for sheet in sheets.iter().filter(|s| s.visible) {
            let Some(index) = schema
                .sheets
                .iter()
                .position(|s| s.name == sheet.name.trim())
            else {
                notes.push(
                    Finding::new(
                        &rules::TEMPLATE_UNKNOWN_COLUMN,
                        "selfbill does not fill this sheet of the template; it is kept as the \
                         template has it",
                    )
                    .hint("Nothing to do, unless your invoices need that sheet: fill it in Excel")
                    .file(&source)
                    .sheet(&sheet.name),
                );
                continue;
            };
            if found[index].is_some() {
                continue;
            }
            let Some(rel) = rels.iter().find(|r| r.id == sheet.rel_id) else {
                return Err(not_a_template(&format!(
                    "sheet {} has no part in the workbook",
                    sheet.name
                )));
            };
            let entry = rel.target.clone();
            let xml = read_part(&mut zip, &entry)
                .map_err(|_| not_a_template(&format!("sheet {}'s part is missing", sheet.name)))?;
            let parsed = parse_sheet(xml, &shared)
                .with_context(|| format!("{source}: sheet {} ({entry})", sheet.name))?;
            let layout_sheet = &schema.sheets[index];
            let mut columns = Vec::with_capacity(layout_sheet.headers.len());
            let mut styles_of = Vec::with_capacity(layout_sheet.headers.len());
            for header in &layout_sheet.headers {
                let column = parsed
                    .headers
                    .iter()
                    .find(|(_, h)| h.trim() == header.trim())
                    .map(|(c, _)| *c);
                let style = column
                    .and_then(|c| parsed.sample_styles.get(&c).copied())
                    .and_then(|s| styles.as_mut().and_then(|st| st.data_style(s)));
                columns.push(column);
                styles_of.push(style);
            }
            for (column, header) in &parsed.headers {
                if layout_sheet.column(header).is_none() {
                    notes.push(
                        Finding::new(
                            &rules::TEMPLATE_UNKNOWN_COLUMN,
                            format!(
                                "selfbill does not know the template's column {:?} (column {}); \
                                 it is left empty",
                                header.trim(),
                                column_letter(*column)
                            ),
                        )
                        .hint(
                            "Nothing to do, unless your invoices need that column: fill it in Excel",
                        )
                        .file(&source)
                        .sheet(&layout_sheet.name)
                        .row(HEADER_ROW)
                        .column(header.trim())
                        .value(header.as_str()),
                    );
                }
            }
            // The sheet's tables.
            let rels_entry = sheet_rels_entry(&entry);
            if let Ok(xml) = read_part(&mut zip, &rels_entry) {
                let base = entry.rsplit_once('/').map_or("", |(dir, _)| dir);
                for rel in relationships(&xml, &format!("{base}/"))
                    .with_context(|| format!("{source}: {rels_entry}"))?
                {
                    if rel.kind.ends_with("/table") {
                        let xml = read_part(&mut zip, &rel.target)
                            .with_context(|| format!("{source}: {}", rel.target))?;
                        let located = locate_table(xml)
                            .with_context(|| format!("{source}: {}", rel.target))?;
                        tables.insert(rel.target.clone(), (index, located));
                    }
                }
            }
            found[index] = Some(TemplateSheet {
                entry,
                located: parsed.located,
                columns,
                styles: styles_of,
                markup: Default::default(),
            });
        }
        if found[crate::batch::sheets::DOCUMENTS].is_none() {
            return Err(not_a_template(&format!(
                "it has no visible Documents sheet (sheets: {})",
                sheets
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        // Every column convert fills must be there.
        for (sheet_name, headers) in FILLED {
            let index = schema
                .sheets
                .iter()
                .position(|s| s.name == *sheet_name)
                .expect("FILLED names sheets of the layout");
            let Some(sheet) = &found[index] else {
                bail!(
                    "{source}: the template has no sheet {sheet_name}, which selfbill fills; use \
                     LHDN's batch-upload template as downloaded from the MyInvois Portal"
                );
            };
            for header in *headers {
                let column = schema.sheets[index].column(header);
                if column.and_then(|c| sheet.columns[c]).is_some() {
                    continue;
                }
                if ADDED_IN_NEWER_TEMPLATE.contains(&(sheet_name, header)) {
                    notes.push(
                        Finding::new(
                            &rules::TEMPLATE_UNKNOWN_COLUMN,
                            format!(
                                "the template has no column {header} (LHDN added it in a newer \
                                 template); its values are left out"
                            ),
                        )
                        .hint("Nothing to do; a newer template from the MyInvois Portal has it")
                        .file(&source)
                        .sheet(*sheet_name)
                        .row(HEADER_ROW)
                        .column(*header),
                    );
                    continue;
                }
                bail!(
                    "{source}: sheet {sheet_name} of the template has no column {header:?} in row \
                     {HEADER_ROW}, which selfbill fills; use LHDN's batch-upload template as \
                     downloaded from the MyInvois Portal, with its row-4 headers as they are"
                );
            }
        }
        let styles = match (styles_entry, styles) {
            (Some(entry), Some(styles)) if !styles.added.is_empty() => {
                let zipped = super::xlsx::one_entry_zip(&entry, &styles.render()?)?;
                Some((entry, zipped))
            }
            _ => None,
        };
        Ok(TemplatePackage {
            source,
            bytes,
            sheets: found,
            tables,
            styles,
            tables_zipped: Mutex::default(),
            reuse: super::xlsx::Reuse::default(),
            assembly: std::sync::OnceLock::new(),
            notes,
        })
    }

    /// The template's parts as zip copies them into a workbook (`None` when
    /// zip writes them in a form [`super::xlsx::Assembly`] does not cut).
    pub(crate) fn assembly(&self) -> Option<&super::xlsx::Assembly> {
        self.assembly
            .get_or_init(|| super::xlsx::Assembly::of(&self.bytes).ok().flatten())
            .as_ref()
    }

    /// The template's zip bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn sheet(&self, index: usize) -> Option<&TemplateSheet> {
        self.sheets.get(index).and_then(Option::as_ref)
    }

    /// A table part to extend: the layout sheet it belongs to, and the part.
    pub(crate) fn table(&self, entry: &str) -> Option<&(usize, Located)> {
        self.tables.get(entry)
    }

    /// The table part `entry` (`table`, as [`TemplatePackage::table`]
    /// gives it) with its ranges extended to `last_row`, compressed as a
    /// one-entry zip: made once per run for each last row.
    pub(crate) fn table_zipped(
        &self,
        entry: &str,
        table: &Located,
        last_row: u32,
    ) -> Result<ZippedPart> {
        let cache = || self.tables_zipped.lock().unwrap_or_else(|e| e.into_inner());
        let key = (entry.to_string(), last_row);
        if let Some(zipped) = cache().get(&key) {
            return Ok(Arc::clone(zipped));
        }
        let whole = table.whole(last_row)?;
        let zipped = Arc::new(self.reuse.one_entry_zip(entry, &[&whole])?);
        let mut cached = cache();
        if cached.len() < MAX_TABLES_ZIPPED {
            cached.insert(key, Arc::clone(&zipped));
        }
        Ok(zipped)
    }

    /// `xl/styles.xml` with the data styles appended, compressed as a
    /// one-entry zip.
    pub(crate) fn styles_zipped(&self) -> Option<(&str, &[u8])> {
        self.styles
            .as_ref()
            .map(|(entry, zipped)| (entry.as_str(), zipped.as_slice()))
    }

    /// The template's column of a layout column, as a letter.
    pub fn column_letter(&self, sheet: usize, column: usize) -> Option<String> {
        self.sheet(sheet)
            .and_then(|s| s.columns.get(column).copied().flatten())
            .map(column_letter)
    }
}

impl Located {
    /// The part up to where rows go, with ranges extended to `last_row`.
    pub fn head(&self, last_row: u32, out: &mut Vec<u8>) -> Result<()> {
        let rows = self
            .pieces
            .iter()
            .position(|p| matches!(p, Piece::Rows))
            .unwrap_or(self.pieces.len());
        self.render(&self.pieces[..rows], last_row, out)
    }

    /// The part after the rows.
    pub fn tail(&self, last_row: u32, out: &mut Vec<u8>) -> Result<()> {
        let rows = self
            .pieces
            .iter()
            .position(|p| matches!(p, Piece::Rows))
            .map_or(self.pieces.len(), |i| i + 1);
        self.render(&self.pieces[rows..], last_row, out)
    }

    /// The whole part (a table), ranges extended to `last_row`.
    pub fn whole(&self, last_row: u32) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.xml.len() + 64);
        self.render(&self.pieces, last_row, &mut out)?;
        Ok(out)
    }

    fn render(&self, pieces: &[Piece], last_row: u32, out: &mut Vec<u8>) -> Result<()> {
        for piece in pieces {
            match piece {
                Piece::Text(span) => out.extend_from_slice(&self.xml.as_bytes()[span.clone()]),
                Piece::Rows => {}
                Piece::Ranges(span, list) => {
                    if !list.stretch_into(last_row, out) {
                        out.extend_from_slice(&self.xml.as_bytes()[span.clone()]);
                    }
                }
            }
        }
        Ok(())
    }
}

/// `B5` → `B5:B{last}`, `F5:G5 I5:K5` → `F5:G{last} I5:K{last}`: every
/// range that reaches the sample row (or below) is stretched down to
/// `last_row`; ranges above it are kept. `None` when nothing changes.
pub fn extend_ranges(sqref: &str, last_row: u32) -> Option<String> {
    let mut out = Vec::new();
    RangeList::parse(sqref)
        .stretch_into(last_row, &mut out)
        .then(|| String::from_utf8_lossy(&out).into_owned())
}

/// `AB12` → (27, 12); `$` signs are allowed.
fn cell_ref(text: &str) -> Option<(u32, u32)> {
    let text = text.replace('$', "");
    let split = text.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = text.split_at(split);
    if letters.is_empty() || !letters.chars().all(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let mut column = 0u32;
    for c in letters.chars() {
        column = column
            .checked_mul(26)?
            .checked_add(c as u32 - 'A' as u32 + 1)?;
    }
    Some((column - 1, digits.parse().ok()?))
}

/// 0 → A, 1 → B, … 26 → AA.
pub fn column_letter(index: u32) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

fn read_part(zip: &mut ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<String> {
    let file = zip.by_name(name)?;
    if file.size() > MAX_PART_BYTES {
        bail!("{name}: part larger than {} MB", MAX_PART_BYTES >> 20);
    }
    let mut text = String::new();
    file.take(MAX_PART_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

fn sheet_rels_entry(entry: &str) -> String {
    match entry.rsplit_once('/') {
        Some((dir, file)) => format!("{dir}/_rels/{file}.rels"),
        None => format!("_rels/{entry}.rels"),
    }
}

struct Relationship {
    id: String,
    kind: String,
    /// The zip entry it points to.
    target: String,
}

/// A relationships part; targets resolved against `base` (the folder of
/// the part they belong to, with a trailing slash).
fn relationships(xml: &str, base: &str) -> Result<Vec<Relationship>> {
    let mut reader = Reader::from_str(xml);
    let mut found = Vec::new();
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                let id = attribute(&e, "Id")?.unwrap_or_default();
                let kind = attribute(&e, "Type")?.unwrap_or_default();
                let mode = attribute(&e, "TargetMode")?;
                let target = attribute(&e, "Target")?.unwrap_or_default();
                if mode.as_deref() == Some("External") {
                    continue;
                }
                found.push(Relationship {
                    id,
                    kind,
                    target: resolve(base, &target),
                });
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(found)
}

/// `xl/worksheets/` + `../tables/table1.xml` → `xl/tables/table1.xml`;
/// `/xl/…` is from the package root.
fn resolve(base: &str, target: &str) -> String {
    let joined = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_string(),
        None => format!("{base}{target}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

fn attribute(tag: &BytesStart<'_>, name: &str) -> Result<Option<String>> {
    for attr in tag.attributes() {
        let attr = attr?;
        if attr.key.as_ref() == name {
            return Ok(Some(
                attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

struct WorkbookSheet {
    name: String,
    rel_id: String,
    visible: bool,
}

fn workbook_sheets(xml: &str) -> Result<Vec<WorkbookSheet>> {
    let mut reader = Reader::from_str(xml);
    let mut sheets = Vec::new();
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                let name = attribute(&e, "name")?.unwrap_or_default();
                let state = attribute(&e, "state")?;
                // The relationship id is `r:id`, in the relationships namespace.
                let mut rel_id = String::new();
                for attr in e.attributes() {
                    let attr = attr?;
                    if attr.key.local_name().as_ref() == "id" && attr.key.prefix().is_some() {
                        rel_id = attr
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                            .into_owned();
                    }
                }
                sheets.push(WorkbookSheet {
                    name,
                    rel_id,
                    visible: state.is_none_or(|s| s == "visible"),
                });
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(sheets)
}

/// The shared strings, as plain text (rich-text runs joined, phonetic runs left out).
fn shared_strings(xml: &str) -> Result<Vec<String>> {
    let mut reader = Reader::from_str(xml);
    let mut strings = Vec::new();
    let mut current: Option<String> = None;
    let mut in_text = false;
    let mut in_phonetic = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) => match e.local_name().as_ref() {
                "si" => current = Some(String::new()),
                "t" => in_text = true,
                "rPh" => in_phonetic = true,
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == "si" => strings.push(String::new()),
            Event::End(e) => match e.local_name().as_ref() {
                "si" => strings.push(current.take().unwrap_or_default()),
                "t" => in_text = false,
                "rPh" => in_phonetic = false,
                _ => {}
            },
            Event::Text(t) if in_text && !in_phonetic => {
                if let Some(s) = current.as_mut() {
                    s.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) if in_text && !in_phonetic => {
                if let Some(s) = current.as_mut() {
                    s.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if in_text && !in_phonetic => {
                if let Some(s) = current.as_mut() {
                    s.push(resolve_entity(&r)?);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(strings)
}

fn resolve_entity(r: &quick_xml::events::BytesRef<'_>) -> Result<char> {
    if let Some(c) = r.resolve_char_ref()? {
        return Ok(c);
    }
    Ok(match r.xml10_content().as_ref() {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        other => bail!("unknown entity &{other};"),
    })
}

/// What a sheet's XML holds for the writer.
struct ParsedSheet {
    located: Located,
    /// Row-4 headers from column B: (column, text).
    headers: Vec<(u32, String)>,
    /// Row-5 cell styles by column.
    sample_styles: HashMap<u32, u32>,
}

/// Cuts a sheet's XML where an output changes it, and reads its row-4
/// headers and row-5 styles.
fn parse_sheet(xml: String, shared: &[String]) -> Result<ParsedSheet> {
    let mut pieces = Vec::new();
    let mut headers = Vec::new();
    let mut sample_styles = HashMap::new();
    let mut copied = 0;
    let mut row: Option<u32> = None;
    let mut rows_seen = 0u32;
    // The header cell being read: column, type, text.
    let mut cell: Option<(u32, Option<String>, String)> = None;
    let mut capture = false;
    let mut in_sqref = false;
    let mut after_sample: Option<usize> = None;
    let mut saw_rows = false;
    let mut reader = Reader::from_str(&xml);
    loop {
        let start = reader.buffer_position() as usize;
        let event = reader.read_event()?;
        let end = reader.buffer_position() as usize;
        let cut = |pieces: &mut Vec<Piece>, copied: &mut usize, span: Range<usize>| {
            if *copied < span.start {
                pieces.push(Piece::Text(*copied..span.start));
            }
            *copied = span.end;
            pieces.push(Piece::ranges(&xml, span));
        };
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.local_name().as_ref() {
                    "dimension" => {
                        if let Some(span) = value_span(&xml, e, "ref")? {
                            cut(&mut pieces, &mut copied, span);
                        }
                    }
                    "sheetData" if empty => {
                        bail!("the sheet has no rows; row {HEADER_ROW} must hold LHDN's headers")
                    }
                    "row" => {
                        rows_seen += 1;
                        let r = match attribute(e, "r")? {
                            Some(r) => r.parse().context("a row number")?,
                            None => rows_seen,
                        };
                        rows_seen = r;
                        if r > SAMPLE_ROW && after_sample.is_none() {
                            after_sample = Some(start);
                        }
                        row = Some(r);
                        if empty {
                            row = None;
                        }
                    }
                    "c" if matches!(row, Some(r) if r == HEADER_ROW || r == SAMPLE_ROW) => {
                        let reference = attribute(e, "r")?.unwrap_or_default();
                        let Some((column, _)) = cell_ref(&reference) else {
                            bail!("row {} has a cell without a reference", row.unwrap_or(0));
                        };
                        if row == Some(SAMPLE_ROW) {
                            if let Some(style) = attribute(e, "s")? {
                                sample_styles.insert(column, style.parse().context("a style")?);
                            }
                        } else if column > 0 && !empty {
                            cell = Some((column, attribute(e, "t")?, String::new()));
                        }
                    }
                    "v" | "is" | "f" if row.is_some_and(|r| r > SAMPLE_ROW) => {
                        bail!(
                            "row {} holds data; give the template as downloaded, with nothing \
                             below LHDN's sample row {SAMPLE_ROW}",
                            row.unwrap_or(0)
                        );
                    }
                    "t" | "v" if cell.is_some() && !empty => capture = true,
                    "rPh" => capture = false,
                    "conditionalFormatting" | "dataValidation" => {
                        if let Some(span) = value_span(&xml, e, "sqref")? {
                            cut(&mut pieces, &mut copied, span);
                        }
                    }
                    "sqref" if !empty => in_sqref = true,
                    _ => {}
                }
            }
            Event::Text(t) => {
                if in_sqref {
                    cut(&mut pieces, &mut copied, start..end);
                } else if capture && let Some((_, _, text)) = cell.as_mut() {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) if capture => {
                if let Some((_, _, text)) = cell.as_mut() {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if capture => {
                if let Some((_, _, text)) = cell.as_mut() {
                    text.push(resolve_entity(r)?);
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "sheetData" => {
                    saw_rows = true;
                    // Rows below the sample row (formatted but empty) give way to the data.
                    let rows_start = after_sample.unwrap_or(start);
                    if copied < rows_start {
                        pieces.push(Piece::Text(copied..rows_start));
                    }
                    pieces.push(Piece::Rows);
                    copied = start;
                }
                "row" => row = None,
                "t" | "v" => capture = false,
                "c" => {
                    if let Some((column, kind, text)) = cell.take() {
                        let text = match kind.as_deref() {
                            Some("s") => text
                                .trim()
                                .parse::<usize>()
                                .ok()
                                .and_then(|i| shared.get(i))
                                .cloned()
                                .unwrap_or_default(),
                            _ => text,
                        };
                        if !text.trim().is_empty() {
                            headers.push((column, text));
                        }
                    }
                }
                "sqref" => in_sqref = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_rows {
        bail!("the sheet has no sheetData");
    }
    if copied < xml.len() {
        pieces.push(Piece::Text(copied..xml.len()));
    }
    if headers.is_empty() {
        bail!("row {HEADER_ROW} has no headers");
    }
    Ok(ParsedSheet {
        located: Located { xml, pieces },
        headers,
        sample_styles,
    })
}

/// Where the value of attribute `key` lies in `xml`, which `tag` was read
/// from; `None` when the tag has no such attribute.
fn value_span(xml: &str, tag: &BytesStart<'_>, key: &str) -> Result<Option<Range<usize>>> {
    for attr in tag.attributes() {
        let attr = attr?;
        if attr.key.as_ref() != key {
            continue;
        }
        // The raw value is a slice of the part's text: its place is known.
        let Cow::Borrowed(value) = attr.value else {
            bail!("attribute {key} is not where it was read");
        };
        let at = (value.as_ptr() as usize)
            .checked_sub(xml.as_ptr() as usize)
            .filter(|at| at + value.len() <= xml.len())
            .ok_or_else(|| anyhow!("attribute {key} is not where it was read"))?;
        return Ok(Some(at..at + value.len()));
    }
    Ok(None)
}

/// A table part: its `ref` and its autofilter's `ref` are extended.
fn locate_table(xml: String) -> Result<Located> {
    let mut pieces = Vec::new();
    let mut copied = 0;
    let mut reader = Reader::from_str(&xml);
    loop {
        let event = reader.read_event()?;

        match &event {
            Event::Start(e) | Event::Empty(e)
                if matches!(e.local_name().as_ref(), "table" | "autoFilter") =>
            {
                if let Some(span) = value_span(&xml, e, "ref")? {
                    if copied < span.start {
                        pieces.push(Piece::Text(copied..span.start));
                    }
                    copied = span.end;
                    pieces.push(Piece::ranges(&xml, span));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if copied < xml.len() {
        pieces.push(Piece::Text(copied..xml.len()));
    }
    Ok(Located { xml, pieces })
}

/// The template's styles: the number format of each cell style, and the
/// data styles appended for the outputs.
struct Styles {
    xml: String,
    /// numFmtId of each `cellXfs` entry.
    formats: Vec<u32>,
    /// The `<cellXfs>` start tag, and where its end tag starts.
    cell_xfs: Option<(Range<usize>, usize)>,
    /// Number formats given a data style, in order; style index = formats.len() + position.
    added: Vec<u32>,
}

impl Styles {
    fn parse(xml: String) -> Result<Styles> {
        let mut formats = Vec::new();
        let mut cell_xfs = None;
        let mut open: Option<Range<usize>> = None;
        let mut depth_in_xfs = 0usize;
        let mut reader = Reader::from_str(&xml);
        loop {
            let start = reader.buffer_position() as usize;
            let event = reader.read_event()?;
            let end = reader.buffer_position() as usize;
            match &event {
                Event::Start(e) if e.local_name().as_ref() == "cellXfs" => {
                    open = Some(start..end);
                }
                Event::Start(e) | Event::Empty(e) if open.is_some() => {
                    if depth_in_xfs == 0 && e.local_name().as_ref() == "xf" {
                        let id = attribute(e, "numFmtId")?
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        formats.push(id);
                    }
                    if matches!(event, Event::Start(_)) {
                        depth_in_xfs += 1;
                    }
                }
                Event::End(e) if open.is_some() => {
                    if e.local_name().as_ref() == "cellXfs" && depth_in_xfs == 0 {
                        cell_xfs = open.take().map(|tag| (tag, start));
                    } else {
                        depth_in_xfs = depth_in_xfs.saturating_sub(1);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(Styles {
            xml,
            formats,
            cell_xfs,
            added: Vec::new(),
        })
    }

    /// The style of a data cell under a sample cell of style `sample`: its
    /// number format, nothing else (no fill, font or border). `None` for
    /// the General format (the default style).
    fn data_style(&mut self, sample: u32) -> Option<u32> {
        self.cell_xfs.as_ref()?;
        let format = *self.formats.get(sample as usize)?;
        if format == 0 {
            return None;
        }
        let position = match self.added.iter().position(|f| *f == format) {
            Some(p) => p,
            None => {
                self.added.push(format);
                self.added.len() - 1
            }
        };
        Some((self.formats.len() + position) as u32)
    }

    /// The styles part with the data styles appended to `<cellXfs>`.
    fn render(&self) -> Result<Vec<u8>> {
        let Some((tag, close)) = &self.cell_xfs else {
            return Ok(self.xml.clone().into_bytes());
        };
        let mut out = Vec::with_capacity(self.xml.len() + self.added.len() * 96);
        out.extend_from_slice(&self.xml.as_bytes()[..tag.start]);
        let mut reader = Reader::from_str(&self.xml[tag.clone()]);
        let Event::Start(open) = reader.read_event()? else {
            bail!("cellXfs is not a start tag");
        };
        let count = (self.formats.len() + self.added.len()).to_string();
        let mut new_tag = BytesStart::new(open.name().as_ref().to_string());
        let mut has_count = false;
        for attr in open.attributes() {
            let attr = attr?;
            if attr.key.as_ref() == "count" {
                has_count = true;
                new_tag.push_attribute(("count", count.as_str()));
            } else {
                new_tag.push_attribute(attr);
            }
        }
        if !has_count {
            new_tag.push_attribute(("count", count.as_str()));
        }
        let prefix = open
            .name()
            .prefix()
            .map(|p| format!("{}:", p.as_ref()))
            .unwrap_or_default();
        let mut writer = quick_xml::Writer::new(&mut out);
        writer.write_event(Event::Start(new_tag))?;
        out.extend_from_slice(&self.xml.as_bytes()[tag.end..*close]);
        let mut writer = quick_xml::Writer::new(&mut out);
        for format in &self.added {
            let format = format.to_string();
            let xf = BytesStart::new(format!("{prefix}xf")).with_attributes([
                ("numFmtId", format.as_str()),
                ("fontId", "0"),
                ("fillId", "0"),
                ("borderId", "0"),
                ("xfId", "0"),
                ("applyNumberFormat", "1"),
            ]);
            writer.write_event(Event::Empty(xf))?;
        }
        out.extend_from_slice(&self.xml.as_bytes()[*close..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How ranges were stretched before lists were read once per run: the
    /// text each range list becomes is the same.
    fn stretched_as_before(sqref: &str, last_row: u32) -> Option<String> {
        let mut changed = false;
        let extended: Vec<String> = sqref
            .split_ascii_whitespace()
            .map(|range| {
                let (first, second) = range.split_once(':').unwrap_or((range, range));
                match (cell_ref(first), cell_ref(second)) {
                    (Some((c1, r1)), Some((c2, r2))) if r2 >= SAMPLE_ROW && r2 < last_row => {
                        changed = true;
                        format!(
                            "{}{}:{}{}",
                            column_letter(c1),
                            r1.min(r2),
                            column_letter(c2),
                            last_row
                        )
                    }
                    _ => range.to_string(),
                }
            })
            .collect();
        changed.then(|| extended.join(" "))
    }

    #[test]
    fn a_range_list_read_once_stretches_as_each_list_did() {
        let pieces = [
            "B5",
            "F5:G5",
            "$I$5:$K$5",
            "A1:B3",
            "B4:M5",
            "C6:C9",
            "BW5",
            "B5:B1048576",
            "b5",
            "5",
            "B",
            "AA7:AB2",
            "",
            ":",
            "B5:",
            "XFD5",
        ];
        let mut state = 11u64;
        for _ in 0..3000 {
            let mut sqref = String::new();
            for _ in 0..=(state % 4) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                sqref.push_str(pieces[(state >> 33) as usize % pieces.len()]);
                sqref.push_str(["", " ", "  ", "\t", "\n "][(state >> 20) as usize % 5]);
            }
            let last_row = [5, 6, 9, 104, 1_048_576][(state >> 40) as usize % 5];
            assert_eq!(
                extend_ranges(&sqref, last_row),
                stretched_as_before(&sqref, last_row),
                "{sqref:?} to row {last_row}"
            );
        }
    }

    #[test]
    fn ranges_reaching_the_sample_row_stretch_over_the_data() {
        assert_eq!(extend_ranges("B5", 9).as_deref(), Some("B5:B9"));
        assert_eq!(
            extend_ranges("F5:G5 I5:K5", 9).as_deref(),
            Some("F5:G9 I5:K9")
        );
        assert_eq!(extend_ranges("B4:M5", 120).as_deref(), Some("B4:M120"));
        assert_eq!(extend_ranges("A1:BW5", 6).as_deref(), Some("A1:BW6"));
        // Above the sample row, or already long enough: unchanged.
        assert_eq!(extend_ranges("A1:B3", 9), None);
        assert_eq!(extend_ranges("B5:B1048576", 9), None);
        assert_eq!(extend_ranges("B5", 5), None);
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(74), "BW");
        assert_eq!(cell_ref("BW5"), Some((74, 5)));
        assert_eq!(cell_ref("$B$5"), Some((1, 5)));
        assert_eq!(
            resolve("xl/worksheets/", "../tables/table3.xml"),
            "xl/tables/table3.xml"
        );
        assert_eq!(
            resolve("xl/", "/xl/worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
    }

    #[test]
    fn the_embedded_template_has_every_column_convert_fills() {
        let package = TemplatePackage::embedded().unwrap();
        assert!(package.notes.is_empty(), "{:?}", package.notes);
        for (index, sheet) in layout().sheets.iter().enumerate() {
            let located = package.sheet(index).expect("every sheet is there");
            for (column, header) in sheet.headers.iter().enumerate() {
                assert_eq!(
                    located.columns[column],
                    Some(column as u32 + 1),
                    "{} {header}",
                    sheet.name
                );
            }
        }
        for (sheet, headers) in FILLED {
            let schema = layout().sheets.iter().find(|s| s.name == *sheet).unwrap();
            for header in *headers {
                assert!(schema.column(header).is_some(), "{sheet} {header}");
            }
        }
    }

    #[test]
    fn convert_fills_only_the_columns_it_declares() {
        let batch = crate::testing::batch();
        for (schema, data) in layout().sheets.iter().zip(&batch.sheets) {
            let declared = FILLED
                .iter()
                .find(|(s, _)| *s == schema.name)
                .map(|(_, h)| *h)
                .unwrap_or(&[]);
            for row in &data.rows {
                for (column, cell) in row.cells.iter().enumerate() {
                    if !cell.is_empty() {
                        let header = schema.headers[column].trim();
                        assert!(declared.contains(&header), "{} {header}", schema.name);
                    }
                }
            }
        }
    }

    #[test]
    fn the_older_template_is_read_by_its_headers() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/lhdn-template-2024-10.xlsx"
        ))
        .unwrap();
        let package = TemplatePackage::parse("old.xlsx".into(), Cow::Owned(bytes)).unwrap();
        let taxes = crate::batch::sheets::LINE_TAXES;
        let schema = &layout().sheets[taxes];
        let taxable = schema.column("TaxableAmount").unwrap();
        assert_eq!(package.sheet(taxes).unwrap().columns[taxable], None);
        assert!(
            package
                .notes
                .iter()
                .any(|n| n.message.contains("TaxableAmount")),
            "{:?}",
            package.notes
        );
        // The 2024 copy orders its sheets differently; columns come from row 4.
        let customs = crate::batch::sheets::CUSTOMS_FORMS;
        let serial = layout().sheets[customs].column("SerialNo").unwrap();
        assert_eq!(package.sheet(customs).unwrap().columns[serial], Some(1));
    }
}
