//! Check: LHDN's rules over a batch (read from a workbook, or built by
//! `convert`). One engine for both; each rule has a stable id, a severity and
//! a hint, catalogued in [`crate::rules`] and `docs/rules.md`.

pub mod formats;
mod invoices;
mod rows;

use chrono::{Duration, NaiveDateTime};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::sync::OnceLock;

use crate::batch::{Batch, Cell, DataRow, SheetTemplate, sheets, template};
use crate::codes::{ID_TYPES, Table, VERSIONS};
use crate::finding::Finding;
use crate::money::{self, AmountError};
use crate::read::file::{MAX_CELL_CHARS, too_long_for_a_cell};
use crate::rules::{self, Rule};

/// What a column holds, for the field rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Code(Table),
    IdType,
    Version,
    Tin,
    Phone,
    Email,
    Sst,
    Ttx,
    Date,
    IssuanceDateTime,
    /// A state code for Malaysia, a name or 17 elsewhere; the country is in `country`.
    State {
        country: &'static str,
    },
    Postcode {
        country: &'static str,
    },
    /// An ID number; its type is in `id_type`.
    IdNumber {
        id_type: &'static str,
    },
    Incoterms,
    TariffCode,
    ExemptionDetails,
    CustomsRefs,
    Uuid,
}

fn column_kind(sheet: usize, header: &str, length_or_type: &str) -> Kind {
    let header = header.trim();
    if matches!(length_or_type, "Decimal" | "Number" | "15/Decimal") {
        return Kind::Number;
    }
    let party_country = |prefix: &str| -> &'static str {
        match prefix {
            "Supplier" => "Supplier.Address.CountryCode",
            "Buyer" => "Buyer.Address.CountryCode",
            _ => "ShippingRecipientAddress.Address.CountryCode",
        }
    };
    let prefix = header.split('.').next().unwrap_or("");
    match (sheet, header) {
        (sheets::DOCUMENTS, "eInvoiceTypeCode") => Kind::Code(Table::Type),
        (sheets::DOCUMENTS, "eInvoiceVersion") => Kind::Version,
        (sheets::DOCUMENTS, "IssuanceDateTime") => Kind::IssuanceDateTime,
        (sheets::DOCUMENTS, "CurrencyCode") => Kind::Code(Table::Currency),
        (sheets::DOCUMENTS, "Supplier.MSIC.Code") => Kind::Code(Table::Msic),
        (sheets::DOCUMENTS, "PaymentMode") => Kind::Code(Table::Payment),
        (
            sheets::DOCUMENTS,
            "BillingPeriod.StartDate" | "BillingPeriod.EndDate" | "PrePaymentDate",
        ) => Kind::Date,
        (sheets::DOCUMENTS, "Supplier.TIN" | "Buyer.TIN" | "ShippingRecipientTIN") => Kind::Tin,
        (sheets::DOCUMENTS, "Supplier.ContactNumber" | "Buyer.ContactNumber") => Kind::Phone,
        (sheets::DOCUMENTS, "Supplier.Email" | "Buyer.Email") => Kind::Email,
        (sheets::DOCUMENTS, "Supplier.SST.No" | "Buyer.SST.No") => Kind::Sst,
        (sheets::DOCUMENTS, "Supplier.TTX.No") => Kind::Ttx,
        (
            sheets::DOCUMENTS,
            "Supplier.IDType" | "Buyer.IDType" | "ShippingRecipientRegistrationNumber.Type",
        ) => Kind::IdType,
        (sheets::DOCUMENTS, h) if h.ends_with("Address.CountryCode") => Kind::Code(Table::Country),
        (sheets::DOCUMENTS, h) if h.ends_with("Address.State") => Kind::State {
            country: party_country(prefix),
        },
        (sheets::DOCUMENTS, h) if h.ends_with("Address.PostalZone") => Kind::Postcode {
            country: party_country(prefix),
        },
        (sheets::DOCUMENTS, "Supplier.IDNo") => Kind::IdNumber {
            id_type: "Supplier.IDType",
        },
        (sheets::DOCUMENTS, "Buyer.IDNo") => Kind::IdNumber {
            id_type: "Buyer.IDType",
        },
        (sheets::DOCUMENTS, "ShippingRecipientRegistrationNumber.Number") => Kind::IdNumber {
            id_type: "ShippingRecipientRegistrationNumber.Type",
        },
        (sheets::DOCUMENTS, "Incoterms") => Kind::Incoterms,
        (sheets::DOCUMENTS, "ReferenceNumberCustomsFormNo2")
        | (sheets::CUSTOMS_FORMS, "ReferenceNumberofCustomsFormNo1or9") => Kind::CustomsRefs,
        (sheets::LINE_ITEMS, "ProductTariffCode") => Kind::TariffCode,
        (sheets::LINE_TAXES | sheets::DOCUMENT_TOTAL_TAX, "DetailsTaxExemption") => {
            Kind::ExemptionDetails
        }
        (sheets::DOCUMENT_REFERENCES, "OriginaleInvoiceReferenceNumberUUID") => Kind::Uuid,
        (sheets::LINE_ITEMS, "Classification") => Kind::Code(Table::Classification),
        (sheets::LINE_ITEMS, "UnitOfMeasurement") => Kind::Code(Table::Unit),
        (sheets::LINE_ITEMS, "CountryofOrigin") => Kind::Code(Table::Country),
        (sheets::LINE_ADD_CLASSIFICATIONS, "ClassificationCode") => {
            Kind::Code(Table::Classification)
        }
        (sheets::LINE_TAXES | sheets::DOCUMENT_TOTAL_TAX, "TaxType") => Kind::Code(Table::Tax),
        _ => Kind::Text,
    }
}

fn is_mandatory(requirement: &str) -> bool {
    matches!(requirement, "Mandatory" | "Mandatory for every row added")
}

/// The rule for a template column a file lacks: an error when LHDN's row 1
/// marks it Mandatory, an info otherwise (the column may stay empty anyway).
pub fn missing_header_rule(schema: &SheetTemplate, index: usize) -> &'static Rule {
    if is_mandatory(schema.requirement(index)) {
        &rules::STRUCTURE_MISSING_HEADER
    } else {
        &rules::STRUCTURE_MISSING_OPTIONAL_HEADER
    }
}

/// A column as the field rules see it: what it holds, whether LHDN's row 1
/// says it must be filled, its row-2 maximum length and its trimmed header.
type FieldColumn = (Kind, bool, Option<usize>, &'static str);

/// Per sheet, per column, made once.
fn field_columns() -> &'static [Vec<FieldColumn>] {
    static COLUMNS: OnceLock<Vec<Vec<FieldColumn>>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        template()
            .sheets
            .iter()
            .enumerate()
            .map(|(sheet, schema)| {
                (0..schema.headers.len())
                    .map(|i| {
                        (
                            column_kind(sheet, &schema.headers[i], schema.length_or_type(i)),
                            is_mandatory(schema.requirement(i)),
                            schema.max_length(i),
                            schema.headers[i].trim(),
                        )
                    })
                    .collect()
            })
            .collect()
    })
}

/// Checks a batch. `now` is the moment IssuanceDateTime is judged against.
pub fn check_batch(batch: &Batch, now: NaiveDateTime) -> Vec<Finding> {
    check_with(batch, now, |count, task| {
        crate::parallel::map_indexed(count, task)
    })
}

/// Checks a batch on this thread alone: for convert, whose other threads
/// are busy reading and mapping while a part's batch is checked.
pub fn check_batch_here(batch: &Batch, now: NaiveDateTime) -> Vec<Finding> {
    check_with(batch, now, |count, task| (0..count).map(task).collect())
}

/// Checks a batch, its tasks run by `run` (task `i` of `count`, results in
/// task order).
fn check_with(
    batch: &Batch,
    now: NaiveDateTime,
    run: impl FnOnce(usize, &(dyn Fn(usize) -> Vec<Finding> + Sync)) -> Vec<Vec<Finding>>,
) -> Vec<Finding> {
    // Field rules look at one row at a time: split every sheet into slices
    // of rows and check them on all cores.
    const ROWS_PER_TASK: usize = 4096;
    let mut tasks = Vec::new();
    for (sheet, data) in batch.sheets.iter().enumerate() {
        for start in (0..data.rows.len()).step_by(ROWS_PER_TASK) {
            tasks.push((sheet, start..(start + ROWS_PER_TASK).min(data.rows.len())));
        }
    }
    // Task 0 is the cross-sheet rules, the longest, so it starts first; the
    // field rules share the other cores. Findings keep the order fields, then
    // cross-sheet.
    let mut findings = run(tasks.len() + 1, &|i| {
        let mut engine = Engine {
            batch,
            findings: Vec::new(),
        };
        match i.checked_sub(1).map(|task| &tasks[task]) {
            None => invoices::check_invoices(&mut engine),
            Some((sheet, rows)) => engine.check_fields(*sheet, rows.clone(), now),
        }
        engine.findings
    });
    let cross = findings.remove(0);
    let mut all = findings.concat();
    all.extend(cross);
    all
}

pub(crate) struct Engine<'a> {
    pub batch: &'a Batch,
    pub findings: Vec<Finding>,
}

impl<'a> Engine<'a> {
    /// A finding at a cell of the batch; its severity is the rule's.
    pub fn report(
        &mut self,
        rule: &'static Rule,
        sheet: usize,
        row: &DataRow,
        column: Option<usize>,
        message: String,
        hint: &str,
    ) {
        let schema = &template().sheets[sheet];
        let invoice_col = schema.column("eInvoiceNumber");
        let mut finding = Finding::new(rule, message)
            .hint(hint.to_string())
            .file(&self.batch.file)
            .sheet(&schema.name)
            .row(row.row);
        if let Some(column) = column {
            let header = schema.headers[column].trim();
            finding = finding.column(header);
            let value = row.get(column).as_text();
            if !value.is_empty() {
                finding = finding.value(value);
            }
        }
        if let Some(invoice) = invoice_col
            .map(|c| row.get(c).as_text())
            .filter(|s| !s.is_empty())
        {
            finding = finding.invoice(invoice);
        }
        self.findings.push(finding);
    }

    fn check_fields(&mut self, sheet: usize, rows: std::ops::Range<usize>, now: NaiveDateTime) {
        let data = &self.batch.sheets[sheet];
        let columns = &field_columns()[sheet];
        for row in &data.rows[rows] {
            for (column, &(kind, mandatory, max_length, header)) in columns.iter().enumerate() {
                let cell = row.get(column);
                if cell.is_empty() {
                    if mandatory
                        && !data.missing_columns.contains(&column)
                        && !rows::address_not_given(sheet, row, column)
                    {
                        self.report(
                            &rules::FIELD_MANDATORY,
                            sheet,
                            row,
                            Some(column),
                            format!("{header} is mandatory and empty"),
                            "Fill in the cell; LHDN rejects the document without it",
                        );
                    }
                    continue;
                }
                // A number in a number column is all the field rules ask of it.
                if kind == Kind::Number && matches!(cell, Cell::Number(_)) {
                    continue;
                }
                let text = cell.as_text();
                if let Some(chars) = too_long_for_a_cell(&text) {
                    self.report(
                        &rules::CELL_TOO_LONG,
                        sheet,
                        row,
                        Some(column),
                        format!(
                            "{header} holds {chars} characters, starting {}; an Excel cell \
                             holds at most {MAX_CELL_CHARS}",
                            crate::read::sheet::quote_start(text.as_bytes())
                        ),
                        rules::CELL_TOO_LONG.hint,
                    );
                    if let Some(finding) = self.findings.last_mut() {
                        finding.value = Some(crate::read::sheet::quote_start(text.as_bytes()));
                    }
                    continue;
                }
                let at = CellAt {
                    sheet,
                    row,
                    column,
                    header,
                    cell,
                    text: crate::batch::trim(&text),
                };
                self.check_cell(at, (kind, max_length), now);
            }
            rows::check_row(self, sheet, row, &data.missing_columns);
        }
    }

    /// The field rules of one non-empty cell.
    fn check_cell(
        &mut self,
        at: CellAt<'_>,
        (kind, max_length): (Kind, Option<usize>),
        now: NaiveDateTime,
    ) {
        let violation = too_long(&at, kind, max_length).or_else(|| match kind {
            Kind::Text => None,
            Kind::Number => not_a_number(&at),
            Kind::Code(table) => self.unknown_code(&at, table),
            Kind::IdType => (!ID_TYPES.contains(&at.text)).then(|| {
                Violation::new(
                    &rules::CODE_UNKNOWN,
                    format!("{} {:?} is not an ID type", at.header, at.text),
                    "Use NRIC, BRN, PASSPORT or ARMY",
                )
            }),
            Kind::Version => unknown_version(&at),
            Kind::Tin => formats::tin(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_TIN, why, "Look the TIN up in MyTax or MyInvois; a foreign supplier without one takes EI00000000030")
            }),
            // LHDN takes NA only for a consolidated invoice's buyer: a seller's
            // contact number must be real, as convert demands of the directory.
            Kind::Phone if at.text == "NA" && at.header == "Supplier.ContactNumber" => {
                Some(Violation::new(
                    &rules::SUPPLIER_PHONE_MISSING,
                    "Supplier.ContactNumber is NA; LHDN takes NA only for the buyer of a consolidated e-invoice, so the seller's real number is needed".to_string(),
                    "Fill in the seller's phone with its country code, e.g. +8657985550101 (on the seller's 1688 page under 联系方式)",
                ))
            }
            Kind::Phone => formats::phone(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_PHONE, why, "Write it as +60312345678: digits only, optional leading +, 8 to 20 characters")
            }),
            Kind::Email => formats::email(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_EMAIL, why, "Give one address such as accounts@contoh.my, or leave the cell empty")
            }),
            Kind::Sst => formats::sst(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_SST, why, "Write NA when not SST-registered")
            }),
            Kind::Ttx => formats::ttx(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_TTX, why, "Write NA when not registered for tourism tax")
            }),
            Kind::Date => not_a_date(&at),
            Kind::IssuanceDateTime => issuance_outside_window(&at, now),
            Kind::State { country } => {
                let state = code_text(at.cell);
                if state == "00" || state == "0" {
                    Some(Violation::new(
                        &rules::CODE_STATE_WITHDRAWN,
                        format!("{} 00 was withdrawn by LHDN (13 Jun 2025)", at.header),
                        "Use the state code 01-16, or 17 for an address outside Malaysia",
                    ))
                } else if self.sibling_text(at.sheet, at.row, country) == "MYS" {
                    self.unknown_code(&at, Table::State)
                } else {
                    None
                }
            }
            Kind::Postcode { country } => {
                if self.sibling_text(at.sheet, at.row, country) == "MYS" {
                    malaysian_postcode(&at)
                } else {
                    None
                }
            }
            Kind::IdNumber { id_type } => {
                let id_type = self.sibling_text(at.sheet, at.row, id_type);
                formats::id_number(&id_type, at.text).err().map(|why| {
                    Violation::new(&rules::FORMAT_ID_NUMBER, why, "NRIC, passport and army numbers have at most 12 characters (no dashes), BRN at most 20")
                })
            }
            Kind::Incoterms => formats::incoterms(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_INCOTERMS, why, "Write the Incoterm's three letters, e.g. EXW, FOB, CIF")
            }),
            Kind::TariffCode => formats::tariff_code(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_TARIFF_CODE, why, "Write the HS code with digits and dots only, e.g. 9617.00.1000")
            }),
            Kind::ExemptionDetails => formats::exemption_details(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_EXEMPTION_DETAILS, why, "Use letters, digits, spaces and . - , ( ) only")
            }),
            Kind::CustomsRefs => formats::customs_refs(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_CUSTOMS_REF, why, "Join several references with commas and no spaces, e.g. E12345678912,E23456789123")
            }),
            Kind::Uuid => formats::uuid(at.text).err().map(|why| {
                Violation::new(&rules::FORMAT_UUID, why, "Copy the UUID LHDN gave the original e-invoice (26 characters), or NA when it predates e-invoicing")
            }),
        });
        if let Some(v) = violation {
            self.report(
                v.rule,
                at.sheet,
                at.row,
                Some(at.column),
                v.message,
                &v.hint,
            );
        }
    }

    fn sibling_text<'r>(&self, sheet: usize, row: &'r DataRow, header: &str) -> Cow<'r, str> {
        let Some(column) = template().sheets[sheet].column(header) else {
            return Cow::Borrowed("");
        };
        match row.get(column).as_text() {
            Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
            Cow::Owned(text) => Cow::Owned(text.trim().to_string()),
        }
    }

    /// A code that is not in its LHDN table, or that lost its leading zeros.
    fn unknown_code(&self, at: &CellAt<'_>, table: Table) -> Option<Violation> {
        let code = code_text(at.cell);
        let code = code.as_ref();
        if table.contains(code) {
            return None;
        }
        if code.chars().all(|c| c.is_ascii_digit())
            && let Some(padded) = (code.len() + 1..=5)
                .map(|width| format!("{code:0>width$}"))
                .find(|p| table.contains(p))
        {
            return Some(Violation::new(
                &rules::CODE_LEADING_ZERO_LOST,
                format!(
                    "{} {code} lost its leading zero: LHDN's code is {padded}",
                    at.header
                ),
                format!("Format the column as Text and enter {padded}"),
            ));
        }
        if at.sheet == sheets::DOCUMENTS && table == Table::State && code == "00" {
            return None;
        }
        if table == Table::Unit {
            return Some(Violation::new(
                &rules::CODE_UNKNOWN_UNIT,
                format!("{} {code:?} is not in LHDN's unit code table", at.header),
                "Find the unit's code with `selfbill codes unit WORDS`; LHDN has postponed enforcing the table, and may reject the code later",
            ));
        }
        Some(Violation::new(
            &rules::CODE_UNKNOWN,
            format!(
                "{} {code:?} is not in LHDN's {} code table",
                at.header,
                table.name()
            ),
            format!(
                "Find the right code with `selfbill codes {} WORDS`",
                table.name()
            ),
        ))
    }
}

/// One non-empty cell being checked, and where it is.
struct CellAt<'a> {
    sheet: usize,
    row: &'a DataRow,
    column: usize,
    /// The row-4 header, trimmed.
    header: &'a str,
    cell: &'a Cell,
    /// The cell as text, trimmed.
    text: &'a str,
}

/// A broken field rule, before it is located and reported.
struct Violation {
    rule: &'static Rule,
    message: String,
    hint: String,
}

impl Violation {
    fn new(rule: &'static Rule, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Violation {
            rule,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Text longer than row 2 allows (the length of a TIN, a version or a UUID
/// is its own rule's business: `SVDP 1.2` is longer than row 2's 5).
fn too_long(at: &CellAt<'_>, kind: Kind, max_length: Option<usize>) -> Option<Violation> {
    let max = max_length?;
    // No more characters than bytes: most texts need no counting.
    if at.text.len() <= max {
        return None;
    }
    let len = at.text.chars().count();
    let own_rule = matches!(kind, Kind::Tin | Kind::Version | Kind::Uuid);
    (matches!(at.cell, Cell::Text(_)) && len > max && !own_rule).then(|| {
        Violation::new(
            &rules::FIELD_TOO_LONG,
            format!("{} has {len} characters; LHDN allows {max}", at.header),
            "Shorten the text",
        )
    })
}

/// Text or a date in an amount or number column.
fn not_a_number(at: &CellAt<'_>) -> Option<Violation> {
    let header = at.header;
    match at.cell {
        Cell::Text(raw) => match money::parse_amount(raw) {
            Ok(_) => None,
            Err(AmountError::Scientific) => Some(Violation::new(
                &rules::AMOUNT_SCIENTIFIC,
                format!("{header} {raw:?} is in scientific notation, which LHDN rejects"),
                "Write the number in full, e.g. 1200.50",
            )),
            Err(AmountError::TooLarge) => Some(Violation::new(
                &rules::AMOUNT_NOT_A_NUMBER,
                format!("{header} {raw:?} is implausibly large (over 1,000,000,000,000)"),
                "Check the amount; a digit or a decimal point may be wrong",
            )),
            Err(_) => Some(Violation::new(
                &rules::AMOUNT_NOT_A_NUMBER,
                format!("{header} {raw:?} is not a number"),
                "Enter a plain number such as 1200.50",
            )),
        },
        Cell::DateTime(_) => Some(Violation::new(
            &rules::AMOUNT_NOT_A_NUMBER,
            format!("{header} holds a date, not a number"),
            "Enter a plain number",
        )),
        _ => None,
    }
}

fn unknown_version(at: &CellAt<'_>) -> Option<Violation> {
    let version = match at.cell {
        Cell::Number(n) if n.scale() == 0 => format!("{n}.0"),
        _ => at.text.to_string(),
    };
    (!VERSIONS.contains(&version.as_str())).then(|| {
        let hint = if version.ends_with("1.2") || version.ends_with("1.3") {
            "Versions 1.2 and 1.3 exist only as SVDP 1.2 (unsigned) and SVDP 1.3 (signed), for \
             voluntary disclosures; otherwise write 1.1 (or 1.0) as text"
        } else {
            "Write 1.1 (or 1.0) as text; SVDP 1.2 or SVDP 1.3 only for a voluntary disclosure"
        };
        Violation::new(
            &rules::CODE_UNKNOWN,
            format!(
                "eInvoiceVersion {:?} is not a document version (1.0, 1.1, SVDP 1.2, SVDP 1.3)",
                at.text
            ),
            hint,
        )
    })
}

/// A Malaysian postcode: at most 5 digits (LHDN), and fewer than 5 most
/// likely lost a leading zero.
fn malaysian_postcode(at: &CellAt<'_>) -> Option<Violation> {
    let text = at.text;
    if let Err(why) = formats::malaysian_postcode(text) {
        return Some(Violation::new(
            &rules::FORMAT_POSTCODE,
            why,
            "Malaysian postcodes have 5 digits, e.g. 50450",
        ));
    }
    formats::postcode_lost_zero(text).then(|| {
        Violation::new(
            &rules::FORMAT_POSTCODE_SHORT,
            format!(
                "{} {text:?} has {} digits; Malaysian postcodes have 5: a leading zero lost?",
                at.header,
                text.len()
            ),
            format!("Format the column as Text and write the postcode with its leading zero ({text:0>5}?)"),
        )
    })
}

fn not_a_date(at: &CellAt<'_>) -> Option<Violation> {
    let ok = matches!(at.cell, Cell::DateTime(_))
        || chrono::NaiveDate::parse_from_str(at.text, "%Y-%m-%d").is_ok() && at.text.len() == 10;
    (!ok).then(|| {
        Violation::new(
            &rules::FORMAT_DATE,
            format!("{} {:?} is not a date yyyy-mm-dd", at.header, at.text),
            "Write the date as 2026-10-31",
        )
    })
}

/// IssuanceDateTime: UTC, and within LHDN's window around `now`.
fn issuance_outside_window(at: &CellAt<'_>, now: NaiveDateTime) -> Option<Violation> {
    let text = at.text;
    let issued = match at.cell {
        Cell::DateTime(d) => Some(*d),
        _ => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ").ok(),
    };
    let stamp = crate::batch::utc_stamp;
    match issued {
        None => Some(Violation::new(
            &rules::FORMAT_ISSUANCE_DATETIME,
            format!("IssuanceDateTime {text:?} is not yyyy-MM-ddTHH:mm:ssZ in UTC"),
            "Write the UTC date and time, e.g. 2026-11-26T01:30:00Z, or an Excel date-time in UTC",
        )),
        Some(issued) if issued < now - Duration::hours(72) => Some(Violation::new(
            &rules::ISSUANCE_TOO_OLD,
            format!(
                "IssuanceDateTime {} is more than 72 hours before now ({} UTC)",
                stamp(issued),
                now.format("%Y-%m-%d %H:%M")
            ),
            "LHDN rejects documents issued more than 72 hours before submission; convert again just before uploading",
        )),
        Some(issued) if issued > now + Duration::minutes(5) => Some(Violation::new(
            &rules::ISSUANCE_FUTURE,
            format!(
                "IssuanceDateTime {} is in the future (now {} UTC)",
                stamp(issued),
                now.format("%Y-%m-%d %H:%M")
            ),
            "Use UTC, not Malaysian time (UTC+8)",
        )),
        Some(_) => None,
    }
}

/// A code cell as text: numbers without decimals (`34`, not `34.0`).
fn code_text(cell: &Cell) -> Cow<'_, str> {
    match cell {
        Cell::Number(n) => Cow::Owned(n.normalize().to_string()),
        Cell::Text(text) => Cow::Borrowed(crate::batch::trim(text)),
        other => Cow::Owned(other.as_text().trim().to_string()),
    }
}

/// A cell as an amount, when it is one.
pub(crate) fn amount(cell: &Cell) -> Option<Decimal> {
    match cell {
        Cell::Number(n) => Some(*n),
        Cell::Text(t) => money::parse_amount(t).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::batch::{Cell, DataRow, sheets};
    use crate::testing::{batch, d, now};

    pub(super) fn set(batch: &mut Batch, sheet: usize, row: usize, header: &str, cell: Cell) {
        let column = template().sheets[sheet].column(header).expect("a header");
        batch.sheets[sheet].rows[row].cells[column] = cell;
    }

    fn text(value: &str) -> Cell {
        Cell::text(value)
    }

    /// The findings as (rule, sheet, row, column).
    pub(super) fn fired(batch: &Batch) -> Vec<(&'static Rule, String, u32, String)> {
        check_batch(batch, now())
            .into_iter()
            .map(|f| {
                (
                    f.rule,
                    f.sheet.unwrap_or_default(),
                    f.row.unwrap_or_default(),
                    f.column.unwrap_or_default(),
                )
            })
            .collect()
    }

    pub(super) fn assert_fires(batch: &Batch, rule: &Rule, sheet: &str, row: u32, column: &str) {
        let fired = fired(batch);
        assert!(
            fired
                .iter()
                .any(|(r, s, w, c)| *r == rule && s == sheet && *w == row && c == column),
            "{} at {sheet} row {row} {column} not in {fired:?}",
            rule.id
        );
    }

    #[test]
    fn a_mapped_invoice_passes() {
        assert_eq!(fired(&batch()), []);
    }

    #[test]
    fn a_seller_phone_of_na_is_missing_but_a_buyer_may_have_it() {
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "Supplier.ContactNumber",
            text("NA"),
        );
        assert_fires(
            &b,
            &rules::SUPPLIER_PHONE_MISSING,
            "Documents",
            6,
            "Supplier.ContactNumber",
        );
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "Buyer.ContactNumber",
            text("NA"),
        );
        assert_eq!(fired(&b), []);
    }

    #[test]
    fn field_rules() {
        let cases: [(&str, Cell, &Rule); 12] = [
            ("Supplier.Name", Cell::Empty, &rules::FIELD_MANDATORY),
            ("Supplier.TIN", text("C123456789"), &rules::FORMAT_TIN),
            (
                "Buyer.ContactNumber",
                text("03-1234 5678"),
                &rules::FORMAT_PHONE,
            ),
            ("Buyer.Email", text("a@b"), &rules::FORMAT_EMAIL),
            (
                "Buyer.Address.PostalZone",
                text("504500"),
                &rules::FORMAT_POSTCODE,
            ),
            ("Buyer.SST.No", text("A;B;C"), &rules::FORMAT_SST),
            ("Supplier.TTX.No", text("TTX 1"), &rules::FORMAT_TTX),
            (
                "BillingPeriod.StartDate",
                text("31/10/2026"),
                &rules::FORMAT_DATE,
            ),
            (
                "IssuanceDateTime",
                text("2026-11-26 09:30"),
                &rules::FORMAT_ISSUANCE_DATETIME,
            ),
            ("CurrencyCode", text("RMB"), &rules::CODE_UNKNOWN),
            (
                "Buyer.Address.State",
                Cell::Number(d("1")),
                &rules::CODE_LEADING_ZERO_LOST,
            ),
            ("TotalNetAmount", text("5.74E+2"), &rules::AMOUNT_SCIENTIFIC),
        ];
        for (header, cell, rule) in cases {
            let mut b = batch();
            set(&mut b, sheets::DOCUMENTS, 0, header, cell);
            assert_fires(&b, rule, "Documents", 6, header);
        }
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "Supplier.Name",
            text(&"名".repeat(301)),
        );
        assert_fires(&b, &rules::FIELD_TOO_LONG, "Documents", 6, "Supplier.Name");
        // Characters are counted, not bytes: 300 of them in 900 bytes fit.
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "Supplier.Name",
            text(&"名".repeat(300)),
        );
        assert!(
            !fired(&b)
                .iter()
                .any(|(rule, ..)| *rule == &rules::FIELD_TOO_LONG),
            "{:?}",
            fired(&b)
        );
        let mut b = batch();
        set(&mut b, sheets::LINE_ITEMS, 1, "UnitPrice", text("twelve"));
        assert_fires(
            &b,
            &rules::AMOUNT_NOT_A_NUMBER,
            "DocumentLineItems",
            7,
            "UnitPrice",
        );
    }

    #[test]
    fn issuance_window() {
        let mut b = batch();
        let future = now() + Duration::hours(2);
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "IssuanceDateTime",
            Cell::DateTime(future),
        );
        assert_fires(
            &b,
            &rules::ISSUANCE_FUTURE,
            "Documents",
            6,
            "IssuanceDateTime",
        );
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "IssuanceDateTime",
            Cell::DateTime(now() - Duration::hours(73)),
        );
        assert_fires(
            &b,
            &rules::ISSUANCE_TOO_OLD,
            "Documents",
            6,
            "IssuanceDateTime",
        );
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "IssuanceDateTime",
            Cell::DateTime(now() - Duration::hours(71)),
        );
        assert_eq!(fired(&b), []);
    }

    #[test]
    fn state_00_and_states_abroad() {
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "Buyer.Address.State",
            text("00"),
        );
        assert_fires(
            &b,
            &rules::CODE_STATE_WITHDRAWN,
            "Documents",
            6,
            "Buyer.Address.State",
        );
        // Outside Malaysia a state name is fine.
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "Supplier.Address.State",
            text("Zhejiang"),
        );
        assert_eq!(fired(&b), []);
    }

    #[test]
    fn arithmetic_rules() {
        let cases: [(usize, usize, &str, &Rule, &str); 8] = [
            (
                sheets::LINE_ITEMS,
                0,
                "Subtotal",
                &rules::MATH_SUBTOTAL,
                "DocumentLineItems",
            ),
            (
                sheets::LINE_ITEMS,
                0,
                "TotalTaxAmount",
                &rules::MATH_LINE_TAX,
                "DocumentLineItems",
            ),
            (
                sheets::DOCUMENTS,
                0,
                "TotalNetAmount",
                &rules::MATH_NET,
                "Documents",
            ),
            (
                sheets::DOCUMENTS,
                0,
                "TotalChargeAmount",
                &rules::MATH_CHARGE,
                "Documents",
            ),
            (
                sheets::DOCUMENTS,
                0,
                "TotalExcludingTax",
                &rules::MATH_EXCLUDING,
                "Documents",
            ),
            (
                sheets::DOCUMENTS,
                0,
                "TotalIncludingTax",
                &rules::MATH_INCLUDING,
                "Documents",
            ),
            (
                sheets::DOCUMENTS,
                0,
                "TotalPayableAmount",
                &rules::MATH_PAYABLE,
                "Documents",
            ),
            (
                sheets::DOCUMENT_TOTAL_TAX,
                0,
                "TotalTaxAmount",
                &rules::MATH_TAX_TYPE,
                "DocumentTotalTax",
            ),
        ];
        for (sheet, row, header, rule, name) in cases {
            let mut b = batch();
            set(&mut b, sheet, row, header, Cell::Number(d("999.99")));
            assert_fires(&b, rule, name, 6 + row as u32, header);
        }
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "TotalDiscountValue",
            Cell::Number(d("3")),
        );
        assert_fires(
            &b,
            &rules::MATH_DISCOUNT,
            "Documents",
            6,
            "TotalDiscountValue",
        );
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "TotalTaxAmount",
            Cell::Number(d("1")),
        );
        assert_fires(&b, &rules::MATH_TAX_TOTAL, "Documents", 6, "TotalTaxAmount");
        // A cent of difference from rounding is no error: 12.50 × 40 stated as 500.004.
        let mut b = batch();
        set(
            &mut b,
            sheets::LINE_ITEMS,
            0,
            "Subtotal",
            Cell::Number(d("500.004")),
        );
        assert!(!fired(&b).iter().any(|f| f.0 == &rules::MATH_SUBTOTAL));
    }

    #[test]
    fn cross_sheet_rules() {
        let mut b = batch();
        set(&mut b, sheets::LINE_ITEMS, 1, "ID", Cell::Number(d("1")));
        assert_fires(&b, &rules::LINE_DUPLICATE_ID, "DocumentLineItems", 7, "ID");

        let mut b = batch();
        set(
            &mut b,
            sheets::LINE_TAXES,
            1,
            "LineItem.ID",
            Cell::Number(d("9")),
        );
        assert_fires(
            &b,
            &rules::REF_UNKNOWN_LINE,
            "LineItemsTaxes",
            7,
            "LineItem.ID",
        );
        assert_fires(&b, &rules::LINE_MISSING_TAX, "DocumentLineItems", 7, "ID");

        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENT_CHARGES,
            0,
            "eInvoiceNumber",
            text("SB-404"),
        );
        assert_fires(
            &b,
            &rules::REF_UNKNOWN_INVOICE,
            "DocumentCharges",
            6,
            "eInvoiceNumber",
        );

        let mut b = batch();
        b.sheets[sheets::DOCUMENT_TOTAL_TAX].rows.clear();
        assert_fires(
            &b,
            &rules::INVOICE_MISSING_TOTAL_TAX,
            "Documents",
            6,
            "eInvoiceNumber",
        );

        let mut b = batch();
        b.sheets[sheets::LINE_ITEMS].rows.clear();
        assert_fires(
            &b,
            &rules::INVOICE_NO_LINES,
            "Documents",
            6,
            "eInvoiceNumber",
        );

        let mut b = batch();
        let mut reference = DataRow {
            row: 6,
            cells: vec![Cell::Empty; template().sheets[sheets::DOCUMENT_REFERENCES].headers.len()],
            origin: None,
        };
        reference.cells[1] = text("SB-1");
        b.sheets[sheets::DOCUMENT_REFERENCES].rows.push(reference);
        assert_fires(
            &b,
            &rules::INVOICE_REFERENCES_NOT_ALLOWED,
            "DocumentReferences",
            6,
            "eInvoiceNumber",
        );

        let mut b = batch();
        let copy = b.sheets[sheets::DOCUMENTS].rows[0].clone();
        b.sheets[sheets::DOCUMENTS]
            .rows
            .push(DataRow { row: 7, ..copy });
        assert_fires(
            &b,
            &rules::DUPLICATE_INVOICE_NUMBER,
            "Documents",
            7,
            "eInvoiceNumber",
        );
    }

    #[test]
    fn line_ids_and_amounts_stored_as_text_are_accepted() {
        let mut b = batch();
        set(&mut b, sheets::LINE_TAXES, 0, "LineItem.ID", text("1"));
        set(&mut b, sheets::LINE_TAXES, 1, "LineItem.ID", text(" 2.0 "));
        set(&mut b, sheets::LINE_ITEMS, 0, "Subtotal", text("500.00"));
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "TotalPayableAmount",
            text("589.00"),
        );
        assert_eq!(fired(&b), []);
    }

    #[test]
    fn tax_currency_and_scenario_rules() {
        let mut b = batch();
        set(
            &mut b,
            sheets::LINE_TAXES,
            0,
            "TaxAmount",
            Cell::Number(d("5")),
        );
        assert_fires(&b, &rules::TAX_NOT_ZERO, "LineItemsTaxes", 6, "TaxAmount");

        let mut b = batch();
        for row in 0..2 {
            set(&mut b, sheets::LINE_TAXES, row, "TaxType", text("E"));
        }
        set(&mut b, sheets::DOCUMENT_TOTAL_TAX, 0, "TaxType", text("E"));
        assert_fires(
            &b,
            &rules::TAX_EXEMPTION_MISSING,
            "LineItemsTaxes",
            6,
            "DetailsTaxExemption",
        );

        let mut b = batch();
        set(&mut b, sheets::DOCUMENTS, 0, "CurrencyCode", text("MYR"));
        assert_fires(
            &b,
            &rules::CURRENCY_RATE_FOR_MYR,
            "Documents",
            6,
            "CurrencyExchangeRate",
        );
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "CurrencyExchangeRate",
            Cell::Empty,
        );
        assert_fires(
            &b,
            &rules::CURRENCY_RATE_MISSING,
            "Documents",
            6,
            "CurrencyExchangeRate",
        );

        let mut b = batch();
        set(&mut b, sheets::LINE_ITEMS, 0, "Classification", text("009"));
        assert_fires(
            &b,
            &rules::SCENARIO_IMPORT_CLASSIFIED_009,
            "DocumentLineItems",
            6,
            "Classification",
        );
    }

    #[test]
    fn findings_take_their_rules_severity() {
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "IssuanceDateTime",
            text("2020-01-01T00:00:00Z"),
        );
        let findings = check_batch(&b, now());
        let too_old = findings
            .iter()
            .find(|f| f.rule == &rules::ISSUANCE_TOO_OLD)
            .expect("an old issuance time is reported");
        assert_eq!(too_old.severity, crate::rules::Severity::Warning);
    }
}
