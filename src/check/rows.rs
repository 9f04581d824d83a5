//! Rules across the cells of one row: the state and TIN rules that depend on
//! the party's country and the document type, and the tax row's "mandatory
//! where applicable" columns (LHDN's validations of 2025-2026).

use std::borrow::Cow;

use super::{Engine, code_text};
use crate::batch::{DataRow, sheets, template};
use crate::check::formats::GENERAL_TINS;
use crate::rules;

/// LHDN's general TIN of the general public: the buyer of a consolidated
/// e-invoice, the supplier of a consolidated self-billed one (SG Appendix 1).
const GENERAL_PUBLIC_TIN: &str = "EI00000000010";
/// LHDN's general TIN of a foreign supplier (SG Appendix 1).
const FOREIGN_SUPPLIER_TIN: &str = "EI00000000030";
/// State code "Not Applicable".
const STATE_NOT_APPLICABLE: &str = "17";
/// Self-billed invoice, credit, debit and refund notes.
const SELF_BILLED_TYPES: [&str; 4] = ["11", "12", "13", "14"];

/// The parties of a Documents row: their TIN, address state and address
/// country headers.
const PARTIES: [(&str, &str, &str); 3] = [
    (
        "Supplier.TIN",
        "Supplier.Address.State",
        "Supplier.Address.CountryCode",
    ),
    (
        "Buyer.TIN",
        "Buyer.Address.State",
        "Buyer.Address.CountryCode",
    ),
    (
        "ShippingRecipientTIN",
        "ShippingRecipientAddress.Address.State",
        "ShippingRecipientAddress.Address.CountryCode",
    ),
];

fn text<'r>(row: &'r DataRow, sheet: usize, header: &str) -> Cow<'r, str> {
    template().sheets[sheet]
        .column(header)
        .map(|c| code_text(row.get(c)))
        .unwrap_or_default()
}

/// An address given as LHDN's template comment allows when it is unknown:
/// `NA` in AddressLine0, "and then all other address fields would not be
/// provided except for the state field". Its city and country may be empty.
pub(super) fn address_not_given(sheet: usize, row: &DataRow, column: usize) -> bool {
    if sheet != sheets::DOCUMENTS {
        return false;
    }
    let header = template().sheets[sheet].headers[column].trim();
    let Some(prefix) = header
        .strip_suffix(".Address.CityName")
        .or_else(|| header.strip_suffix(".Address.CountryCode"))
    else {
        return false;
    };
    text(row, sheet, &format!("{prefix}.Address.AddressLine0")) == "NA"
}

pub(super) fn check_row(engine: &mut Engine<'_>, sheet: usize, row: &DataRow, missing: &[usize]) {
    match sheet {
        sheets::DOCUMENTS => document_row(engine, row),
        sheets::LINE_TAXES => tax_row(engine, row, missing),
        _ => {}
    }
}

fn document_row(engine: &mut Engine<'_>, row: &DataRow) {
    let sheet = sheets::DOCUMENTS;
    let schema = &template().sheets[sheet];
    let col = |header: &str| schema.column(header);
    let get = |header: &str| text(row, sheet, header);
    let consolidated = PARTIES
        .iter()
        .any(|(tin, ..)| get(tin) == GENERAL_PUBLIC_TIN);

    // State 17 only for consolidated e-invoices in Malaysia or addresses
    // outside it (RN 30 Apr 2026).
    for (_, state, country) in PARTIES {
        if !consolidated && get(country) == "MYS" && get(state) == STATE_NOT_APPLICABLE {
            engine.report(
                &rules::CODE_STATE_17_IN_MALAYSIA,
                sheet,
                row,
                col(state),
                format!(
                    "{state} is 17 (not applicable) on a Malaysian address, and the invoice is not consolidated"
                ),
                "Write the state's own code, 01 to 16 (`selfbill codes state`); 17 is for consolidated invoices and addresses outside Malaysia",
            );
        }
    }

    let type_code = get("eInvoiceTypeCode");
    let buyer_tin = get("Buyer.TIN");
    if SELF_BILLED_TYPES.contains(&type_code.as_ref()) && GENERAL_TINS.contains(&buyer_tin.as_ref())
    {
        engine.report(
            &rules::TIN_GENERAL_BUYER_SELF_BILLED,
            sheet,
            row,
            col("Buyer.TIN"),
            format!(
                "Buyer.TIN {buyer_tin} is a general TIN, on a self-billed document (type {type_code}), whose buyer is its issuer"
            ),
            "Write the issuing company's own TIN; general TINs stand for parties without one (SG Appendix 1)",
        );
    }

    if get("Supplier.TIN") == FOREIGN_SUPPLIER_TIN && get("Supplier.Address.CountryCode") == "MYS" {
        engine.report(
            &rules::TIN_FOREIGN_SUPPLIER_IN_MALAYSIA,
            sheet,
            row,
            col("Supplier.TIN"),
            format!(
                "Supplier.TIN {FOREIGN_SUPPLIER_TIN} is the general TIN of a foreign supplier, but the supplier's address is in Malaysia (MYS)"
            ),
            "Give the Malaysian supplier's own TIN, or correct the country of a foreign supplier's address",
        );
    }
}

/// TaxRate (or PerUnitAmount with its BaseUnitMeasure) and TaxableAmount
/// for every tax type but E (template row-3 comments, LineItemsTaxes).
fn tax_row(engine: &mut Engine<'_>, row: &DataRow, missing: &[usize]) {
    let sheet = sheets::LINE_TAXES;
    let schema = &template().sheets[sheet];
    let present = |header: &str| {
        schema
            .column(header)
            .filter(|c| !missing.contains(c))
            .map(|c| (c, !row.get(c).is_empty()))
    };
    let tax_type = text(row, sheet, "TaxType");
    if tax_type.is_empty() || tax_type == "E" {
        return;
    }
    let per_unit = present("PerUnitAmount");
    let has_per_unit = per_unit.is_some_and(|(_, filled)| filled);
    if let Some((rate, false)) = present("TaxRate")
        && !has_per_unit
    {
        engine.report(
            &rules::TAX_RATE_MISSING,
            sheet,
            row,
            Some(rate),
            format!("tax type {tax_type} has neither TaxRate nor PerUnitAmount"),
            "Write the TaxRate (0 for tax type 06 with no tax)",
        );
    }
    if has_per_unit && let Some((base, false)) = present("BaseUnitMeasure") {
        engine.report(
            &rules::TAX_BASE_UNIT_MISSING,
            sheet,
            row,
            Some(base),
            "PerUnitAmount is given without the BaseUnitMeasure it is charged on".into(),
            "Give the number of base units the per-unit tax applies to",
        );
    }
    if let Some((taxable, false)) = present("TaxableAmount") {
        engine.report(
            &rules::TAX_TAXABLE_AMOUNT_MISSING,
            sheet,
            row,
            Some(taxable),
            format!("tax type {tax_type} has no TaxableAmount"),
            "Write the amount the tax applies to: the line's TotalExcludingTax",
        );
    }
}

/// The rules of LHDN's 2025-2026 validations, each at its cell.
#[cfg(test)]
mod tests {
    use super::super::tests::{assert_fires, fired, set};
    use crate::batch::{Batch, Cell, DataRow, sheets, template};
    use crate::rules::Severity;
    use crate::rules::{self, Rule};
    use crate::testing::{batch, now};

    fn text(value: &str) -> Cell {
        Cell::text(value)
    }

    fn documents(changes: &[(&str, &str)]) -> Batch {
        let mut b = batch();
        for (header, value) in changes {
            set(&mut b, sheets::DOCUMENTS, 0, header, text(value));
        }
        b
    }

    fn rules_fired(b: &Batch) -> Vec<&'static str> {
        fired(b).iter().map(|(rule, ..)| rule.id).collect()
    }

    fn severity_of(b: &Batch, rule: &Rule) -> Severity {
        crate::check::check_batch(b, now())
            .into_iter()
            .find(|f| f.rule == rule)
            .map(|f| f.severity)
            .unwrap_or_else(|| panic!("{} not fired", rule.id))
    }

    /// Appends a row to a sheet, with the given cells.
    fn push(b: &mut Batch, sheet: usize, cells: &[(&str, Cell)]) {
        let schema = &template().sheets[sheet];
        let mut row = DataRow {
            row: 6 + b.sheets[sheet].rows.len() as u32,
            cells: vec![Cell::Empty; schema.headers.len()],
            origin: None,
        };
        for (header, cell) in cells {
            row.cells[schema.column(header).unwrap()] = cell.clone();
        }
        b.sheets[sheet].rows.push(row);
    }

    #[test]
    fn the_four_versions_are_accepted_and_1_2_points_to_svdp() {
        for version in ["1.0", "1.1", "SVDP 1.2", "SVDP 1.3"] {
            assert_eq!(
                fired(&documents(&[("eInvoiceVersion", version)])),
                [],
                "{version}"
            );
        }
        for version in ["1.2", "SVDP 1.4"] {
            let b = documents(&[("eInvoiceVersion", version)]);
            assert_fires(&b, &rules::CODE_UNKNOWN, "Documents", 6, "eInvoiceVersion");
            assert_eq!(rules_fired(&b), ["code.unknown"], "{version}");
        }
        let findings = crate::check::check_batch(&documents(&[("eInvoiceVersion", "1.2")]), now());
        assert!(
            findings[0].hint.contains("SVDP 1.2"),
            "{}",
            findings[0].hint
        );
    }

    #[test]
    fn postcodes_of_up_to_5_digits_pass_and_4_digits_warn() {
        let b = documents(&[("Buyer.Address.PostalZone", "1000")]);
        assert_fires(
            &b,
            &rules::FORMAT_POSTCODE_SHORT,
            "Documents",
            6,
            "Buyer.Address.PostalZone",
        );
        assert_eq!(rules_fired(&b), ["format.postcode-short"]);
        assert_eq!(
            severity_of(&b, &rules::FORMAT_POSTCODE_SHORT),
            Severity::Warning
        );
        let message = &crate::check::check_batch(&b, now())[0].message;
        assert!(message.contains("a leading zero lost?"), "{message}");
        let b = documents(&[("Buyer.Address.PostalZone", "5045A")]);
        assert_fires(
            &b,
            &rules::FORMAT_POSTCODE,
            "Documents",
            6,
            "Buyer.Address.PostalZone",
        );
    }

    #[test]
    fn unknown_units_and_bad_dates_are_warnings() {
        let mut b = batch();
        set(
            &mut b,
            sheets::LINE_ITEMS,
            0,
            "UnitOfMeasurement",
            text("RO"),
        );
        assert_fires(
            &b,
            &rules::CODE_UNKNOWN_UNIT,
            "DocumentLineItems",
            6,
            "UnitOfMeasurement",
        );
        assert_eq!(
            severity_of(&b, &rules::CODE_UNKNOWN_UNIT),
            Severity::Warning
        );
        set(
            &mut b,
            sheets::LINE_ITEMS,
            0,
            "UnitOfMeasurement",
            text("XRO"),
        );
        assert_eq!(fired(&b), []);
        for header in [
            "BillingPeriod.StartDate",
            "BillingPeriod.EndDate",
            "PrePaymentDate",
        ] {
            let b = documents(&[(header, "N/A")]);
            assert_fires(&b, &rules::FORMAT_DATE, "Documents", 6, header);
            assert_eq!(severity_of(&b, &rules::FORMAT_DATE), Severity::Warning);
        }
    }

    #[test]
    fn state_17_only_abroad_or_on_consolidated_invoices() {
        let b = documents(&[("Buyer.Address.State", "17")]);
        assert_fires(
            &b,
            &rules::CODE_STATE_17_IN_MALAYSIA,
            "Documents",
            6,
            "Buyer.Address.State",
        );
        let b = documents(&[
            ("Supplier.Address.CountryCode", "MYS"),
            ("Supplier.Address.State", "17"),
            ("Supplier.TIN", "C2584563200"),
        ]);
        assert_fires(
            &b,
            &rules::CODE_STATE_17_IN_MALAYSIA,
            "Documents",
            6,
            "Supplier.Address.State",
        );
        // A consolidated invoice's general-public party; an address abroad.
        let b = documents(&[
            ("eInvoiceTypeCode", "01"),
            ("Buyer.TIN", "EI00000000010"),
            ("Buyer.Address.State", "17"),
        ]);
        assert!(!rules_fired(&b).contains(&"code.state-17-in-malaysia"));
        let b = documents(&[("Supplier.Address.State", "17")]);
        assert_eq!(fired(&b), []);
    }

    #[test]
    fn general_tins_where_lhdn_does_not_take_them() {
        for type_code in ["11", "12", "13", "14"] {
            let b = documents(&[
                ("eInvoiceTypeCode", type_code),
                ("Buyer.TIN", "EI00000000020"),
            ]);
            assert_fires(
                &b,
                &rules::TIN_GENERAL_BUYER_SELF_BILLED,
                "Documents",
                6,
                "Buyer.TIN",
            );
        }
        let b = documents(&[("eInvoiceTypeCode", "01"), ("Buyer.TIN", "EI00000000020")]);
        assert!(!rules_fired(&b).contains(&"tin.general-buyer-self-billed"));
        let b = documents(&[
            ("Supplier.Address.CountryCode", "MYS"),
            ("Supplier.Address.State", "14"),
            ("Supplier.Address.PostalZone", "50450"),
        ]);
        assert_fires(
            &b,
            &rules::TIN_FOREIGN_SUPPLIER_IN_MALAYSIA,
            "Documents",
            6,
            "Supplier.TIN",
        );
        assert_eq!(rules_fired(&b), ["tin.foreign-supplier-in-malaysia"]);
    }

    #[test]
    fn exchange_rates_above_0_and_plausible() {
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "CurrencyExchangeRate",
            Cell::Number(0.into()),
        );
        assert_fires(
            &b,
            &rules::CURRENCY_RATE_ZERO,
            "Documents",
            6,
            "CurrencyExchangeRate",
        );
        // CNY per MYR instead of MYR per CNY.
        let mut b = batch();
        set(
            &mut b,
            sheets::DOCUMENTS,
            0,
            "CurrencyExchangeRate",
            text("1.6401"),
        );
        assert_fires(
            &b,
            &rules::CURRENCY_RATE_IMPLAUSIBLE,
            "Documents",
            6,
            "CurrencyExchangeRate",
        );
        assert_eq!(
            severity_of(&b, &rules::CURRENCY_RATE_IMPLAUSIBLE),
            Severity::Warning
        );
        let message = &crate::check::check_batch(&b, now())[0].message;
        assert!(message.contains("0.3 to 1.2"), "{message}");
        // BNM quotes JPY per 100 units.
        let b = documents(&[("CurrencyCode", "JPY"), ("CurrencyExchangeRate", "2.95")]);
        assert_fires(
            &b,
            &rules::CURRENCY_RATE_IMPLAUSIBLE,
            "Documents",
            6,
            "CurrencyExchangeRate",
        );
    }

    #[test]
    fn id_numbers_by_type() {
        let b = documents(&[("Buyer.IDType", "NRIC"), ("Buyer.IDNo", "770625-01-5324")]);
        assert_fires(&b, &rules::FORMAT_ID_NUMBER, "Documents", 6, "Buyer.IDNo");
        let b = documents(&[
            ("Supplier.IDType", "PASSPORT"),
            ("Supplier.IDNo", "E1234567890123"),
        ]);
        assert_fires(
            &b,
            &rules::FORMAT_ID_NUMBER,
            "Documents",
            6,
            "Supplier.IDNo",
        );
        let b = documents(&[("Buyer.IDType", "NRIC"), ("Buyer.IDNo", "770625015324")]);
        assert_eq!(fired(&b), []);
    }

    #[test]
    fn special_characters_in_incoterms_tariffs_exemptions_and_customs_refs() {
        let b = documents(&[("Incoterms", "C&F")]);
        assert_fires(&b, &rules::FORMAT_INCOTERMS, "Documents", 6, "Incoterms");
        let b = documents(&[("ReferenceNumberCustomsFormNo2", "E1, E2")]);
        assert_fires(
            &b,
            &rules::FORMAT_CUSTOMS_REF,
            "Documents",
            6,
            "ReferenceNumberCustomsFormNo2",
        );
        let mut b = batch();
        set(
            &mut b,
            sheets::LINE_ITEMS,
            1,
            "ProductTariffCode",
            text("9617-00"),
        );
        assert_fires(
            &b,
            &rules::FORMAT_TARIFF_CODE,
            "DocumentLineItems",
            7,
            "ProductTariffCode",
        );
        let mut b = batch();
        set(
            &mut b,
            sheets::LINE_TAXES,
            0,
            "DetailsTaxExemption",
            text("Ref: A/B"),
        );
        assert_fires(
            &b,
            &rules::FORMAT_EXEMPTION_DETAILS,
            "LineItemsTaxes",
            6,
            "DetailsTaxExemption",
        );
        let mut b = batch();
        push(
            &mut b,
            sheets::CUSTOMS_FORMS,
            &[
                ("SerialNo", Cell::Number(1.into())),
                ("eInvoiceNumber", text("SB-1")),
                (
                    "ReferenceNumberofCustomsFormNo1or9",
                    text("E12345678912, E23456789123"),
                ),
            ],
        );
        assert_fires(
            &b,
            &rules::FORMAT_CUSTOMS_REF,
            "ReferenceNumberCustomsForms",
            6,
            "ReferenceNumberofCustomsFormNo1or9",
        );
        assert_eq!(rules_fired(&b), ["format.customs-ref"]);
    }

    #[test]
    fn tax_rows_need_a_rate_or_per_unit_amount_and_a_taxable_amount() {
        let mut b = batch();
        set(&mut b, sheets::LINE_TAXES, 0, "TaxRate", Cell::Empty);
        set(&mut b, sheets::LINE_TAXES, 1, "TaxableAmount", Cell::Empty);
        assert_fires(&b, &rules::TAX_RATE_MISSING, "LineItemsTaxes", 6, "TaxRate");
        assert_fires(
            &b,
            &rules::TAX_TAXABLE_AMOUNT_MISSING,
            "LineItemsTaxes",
            7,
            "TaxableAmount",
        );
        // A per-unit amount stands for the rate, with its base unit.
        let mut b = batch();
        set(&mut b, sheets::LINE_TAXES, 0, "TaxRate", Cell::Empty);
        set(
            &mut b,
            sheets::LINE_TAXES,
            0,
            "PerUnitAmount",
            Cell::Number(0.into()),
        );
        assert_fires(
            &b,
            &rules::TAX_BASE_UNIT_MISSING,
            "LineItemsTaxes",
            6,
            "BaseUnitMeasure",
        );
        assert_eq!(rules_fired(&b), ["tax.base-unit-missing"]);
        set(
            &mut b,
            sheets::LINE_TAXES,
            0,
            "BaseUnitMeasure",
            Cell::Number(1.into()),
        );
        assert_eq!(fired(&b), []);
        // Tax type E takes neither.
        let mut b = batch();
        for row in 0..2 {
            set(&mut b, sheets::LINE_TAXES, row, "TaxType", text("E"));
            set(&mut b, sheets::LINE_TAXES, row, "TaxRate", Cell::Empty);
            set(
                &mut b,
                sheets::LINE_TAXES,
                row,
                "TaxableAmount",
                Cell::Empty,
            );
            set(
                &mut b,
                sheets::LINE_TAXES,
                row,
                "DetailsTaxExemption",
                text("Exempted (item 1)"),
            );
        }
        set(&mut b, sheets::DOCUMENT_TOTAL_TAX, 0, "TaxType", text("E"));
        assert_eq!(fired(&b), []);
    }

    #[test]
    fn notes_name_their_original_by_a_26_character_uuid() {
        let b = documents(&[("eInvoiceTypeCode", "12")]);
        assert_fires(
            &b,
            &rules::REF_ORIGINAL_MISSING,
            "Documents",
            6,
            "eInvoiceTypeCode",
        );
        let mut b = documents(&[("eInvoiceTypeCode", "14")]);
        push(
            &mut b,
            sheets::DOCUMENT_REFERENCES,
            &[
                ("SerialNo", Cell::Number(1.into())),
                ("eInvoiceNumber", text("SB-1")),
                ("OriginaleInvoiceNumber", text("SB-0")),
                (
                    "OriginaleInvoiceReferenceNumberUUID",
                    text("F9D425P6DS7D8IU9QWE0RTY1U"),
                ),
            ],
        );
        assert_fires(
            &b,
            &rules::FORMAT_UUID,
            "DocumentReferences",
            6,
            "OriginaleInvoiceReferenceNumberUUID",
        );
        assert_eq!(rules_fired(&b), ["format.uuid"]);
        set(
            &mut b,
            sheets::DOCUMENT_REFERENCES,
            0,
            "OriginaleInvoiceReferenceNumberUUID",
            text("NA"),
        );
        assert_eq!(fired(&b), []);
    }

    #[test]
    fn invoice_numbers_over_50_characters() {
        let long = "SB-".to_string() + &"1".repeat(48);
        let mut b = batch();
        for sheet in [sheets::DOCUMENTS, sheets::LINE_ITEMS, sheets::LINE_TAXES] {
            for row in 0..b.sheets[sheet].rows.len() {
                set(&mut b, sheet, row, "eInvoiceNumber", text(&long));
            }
        }
        for sheet in [sheets::DOCUMENT_TOTAL_TAX, sheets::DOCUMENT_CHARGES] {
            set(&mut b, sheet, 0, "eInvoiceNumber", text(&long));
        }
        assert_fires(&b, &rules::FIELD_TOO_LONG, "Documents", 6, "eInvoiceNumber");
    }

    #[test]
    fn an_unknown_address_is_na_and_its_state() {
        let b = documents(&[
            ("Supplier.Address.AddressLine0", "NA"),
            ("Supplier.Address.CityName", ""),
            ("Supplier.Address.CountryCode", ""),
            ("Supplier.Address.PostalZone", ""),
        ]);
        assert_eq!(fired(&b), []);
        let b = documents(&[("Supplier.Address.CityName", "")]);
        assert_fires(
            &b,
            &rules::FIELD_MANDATORY,
            "Documents",
            6,
            "Supplier.Address.CityName",
        );
    }

    #[test]
    fn a_missing_optional_column_is_an_info() {
        let documents = &template().sheets[sheets::DOCUMENTS];
        let rule = |header| {
            super::super::missing_header_rule(documents, documents.column(header).unwrap())
        };
        assert_eq!(rule("Supplier.TIN"), &rules::STRUCTURE_MISSING_HEADER);
        assert_eq!(rule("Incoterms"), &rules::STRUCTURE_MISSING_OPTIONAL_HEADER);
        assert_eq!(
            rules::STRUCTURE_MISSING_OPTIONAL_HEADER.severity,
            Severity::Info
        );
    }
}
