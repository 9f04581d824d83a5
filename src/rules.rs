//! The rule catalogue: every finding selfbill reports names one of these
//! rules. Each rule is a typed constant with a stable id, a severity, a
//! one-line summary and a default hint; `docs/rules.md` lists the same rules
//! (a test holds the two equal). Code emits rules by constant, never by id.

use serde::Serialize;
use std::fmt;

/// How serious a finding is. Errors stop a conversion (exit 1); warnings and
/// infos are reported and the run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// One rule: what it checks and how serious a breach is.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Stable id, `area.name`; tools and tests rely on it.
    pub id: &'static str,
    pub severity: Severity,
    /// What the rule checks, in one line.
    pub summary: &'static str,
    /// What to do about a finding, when the finding has nothing more specific.
    pub hint: &'static str,
}

impl Rule {
    /// The catalogued rule with this id.
    pub fn by_id(id: &str) -> Option<&'static Rule> {
        ALL.iter().copied().find(|rule| rule.id == id)
    }
}

macro_rules! rules {
    ($($(#[$doc:meta])* $name:ident = $id:literal, $severity:ident, $summary:literal, $hint:literal;)+) => {
        $(
            $(#[$doc])*
            pub const $name: Rule = Rule {
                id: $id,
                severity: Severity::$severity,
                summary: $summary,
                hint: $hint,
            };
        )+
        /// Every rule, in the order `docs/rules.md` lists them.
        pub const ALL: &[&Rule] = &[$(&$name),+];
    };
}

rules! {
    // Reading and mapping a 1688 export.
    EXPORT_ORPHAN_LINE = "export.orphan-line", Error, "a line with no 订单编号 and no order above it",
        "Export the orders again from 1688 without deleting rows";
    EXPORT_BAD_CELL = "export.bad-cell", Error, "an export cell that cannot be read (amount, date, empty title or status)",
        "Correct the cell in the export, or export the orders again from 1688";
    EXPORT_ORDER_NUMBER_NOT_TEXT = "export.order-number-not-text", Error, "an order number stored as a number",
        "Export again from 1688, or format the column as Text before typing order numbers";
    ORDER_UNKNOWN_STATUS = "order.unknown-status", Error, "a status the status policy does not know",
        "Add the status to invoice, hold or skip under [statuses] in selfbill.toml";
    ORDER_HELD = "order.held", Warning, "an order held by the status policy (退款中; 等待卖家发货 and 买家已付款 until shipped)",
        "Convert the order again once the refund settles, or once it has shipped";
    ORDER_SKIPPED = "order.skipped", Info, "an order skipped by the status policy (交易关闭, 等待买家付款)",
        "Closed and unpaid orders need no e-invoice";
    ORDER_DUPLICATE_IDENTICAL = "order.duplicate-identical", Info, "an order seen twice with the same content",
        "Overlapping exports are fine: the order is taken once";
    ORDER_DUPLICATE_DIFFERS = "order.duplicate-differs", Error, "an order seen twice with different content",
        "Use the newer export only, or remove the order from one of them";
    ORDER_DUPLICATE_INVOICE_NUMBER = "order.duplicate-invoice-number", Error, "two orders given the same invoice number",
        "Put {order_no} into [invoice] number in selfbill.toml";
    ORDER_DOES_NOT_RECONCILE = "order.does-not-reconcile", Error, "an order whose total does not equal 实付款 beyond the rounding its amounts produce",
        "Check the order on 1688; correct the export or leave the order out";
    ORDER_ROUNDING = "order.rounding", Info, "line (and MYR conversion) rounding put into TotalRoundingAmount",
        "Nothing to do: LHDN's TotalRoundingAmount is there for this";
    LINE_DESCRIPTION_CUT = "line.description-cut", Warning, "a description cut to 300 characters",
        "Shorten the title if the cut loses something that matters";
    LINE_UNKNOWN_UNIT = "line.unknown-unit", Warning, "a 1688 unit with no LHDN unit code",
        "Map the unit under [units] in selfbill.toml; `selfbill codes unit QUERY` finds LHDN's code";
    SUPPLIER_DETAILS_MISSING = "supplier.details-missing", Warning, "a seller without an address in the directory; NA, state 17, CHN written",
        "Add the seller's address to suppliers.csv; it is on the seller's 1688 page under 联系方式";
    CONVERT_NOTHING_TO_WRITE = "convert.nothing-to-write", Info, "no invoices to write",
        "Nothing is written when there is nothing to invoice";
    RATE_MISSING = "rate.missing", Error, "no exchange rate for an order's payment date",
        "Add rates that cover the payment dates: `selfbill rates fetch --month YYYY-MM --currency CNY`";
    // The template convert fills (`--template`).
    TEMPLATE_UNKNOWN_COLUMN = "template.unknown-column", Info, "a template column or sheet selfbill does not fill, left empty",
        "Nothing to do, unless your invoices need it: fill it in Excel";
    // Money: amounts an invoice may carry, reconciliation, MYR conversion.
    ORDER_NEGATIVE_AMOUNT = "order.negative-amount", Error, "a negative 单价, 数量, 货品总价, 运费 or 实付款",
        "Correct the export; a refund after the sale is a refund note, not a negative invoice";
    ORDER_DISCOUNT_EXCEEDS_GOODS = "order.discount-exceeds-goods", Error, "a discount (涨价或折扣 < 0) larger than goods and shipping",
        "Check the order on 1688 and correct 涨价或折扣; an invoice cannot be negative";
    ORDER_GOODS_TOTAL_DIFFERS = "order.goods-total-differs", Error, "货品总价 ≠ Σ 单价 × 数量 beyond the lines' own rounding",
        "Check the order on 1688 and correct the export; this order is not converted";
    ORDER_AMOUNT_TOO_LARGE = "order.amount-too-large", Error, "a line or invoice total beyond 1,000,000,000,000",
        "Check 单价 and 数量 of the order in the export";
    LINE_UNIT_PRICE_PRECISION = "line.unit-price-precision", Warning, "a UnitPrice that needs more than 5 decimals to give its line total",
        "The price is written in full; if LHDN refuses it, invoice the goods per larger unit (e.g. per 1000 pieces)";
    // Rates and issue times a run is given.
    RATE_IMPLAUSIBLE = "rate.implausible", Warning, "an MYR-per-CNY rate outside 0.3–1.5",
        "Check the rate: MYR per 1 CNY is about 0.6; CNY per MYR (about 1.6) is the wrong way round";
    // Output sets.
    OUTPUT_INTERRUPTED_RUN = "output.interrupted-run", Warning, "files an interrupted earlier run left beside the output: completed or removed",
        "Nothing to do when the message says the set is complete; otherwise check the folder";
    // LHDN's rules, for check and convert.
    STRUCTURE_MISSING_SHEET = "structure.missing-sheet", Error, "a sheet of LHDN's template is missing",
        "Start from LHDN's batch-upload template and keep all of its sheets";
    STRUCTURE_MISSING_HEADER = "structure.missing-header", Error, "a row-4 header of LHDN's template is missing",
        "Row 4 holds LHDN's header names; restore the header as the template spells it";
    STRUCTURE_UNKNOWN_HEADER = "structure.unknown-header", Warning, "a row-4 header LHDN's template does not have",
        "LHDN's portal ignores or rejects columns it does not know; remove the column or check its spelling";
    // The shape of a batch-upload workbook, as check reads it (src/read/workbook.rs).
    STRUCTURE_UNEXPECTED_SHEET = "structure.unexpected-sheet", Error, "a sheet that is not one of LHDN's template sheets",
        "Delete the sheet, or keep it in another workbook";
    STRUCTURE_DUPLICATE_SHEET = "structure.duplicate-sheet", Error, "two sheets that read as the same LHDN sheet",
        "Keep one sheet of each of LHDN's names";
    STRUCTURE_SHEET_NAME = "structure.sheet-name", Error, "one of LHDN's sheets named with other spaces or letter case",
        "Rename the sheet to LHDN's name, exactly";
    STRUCTURE_SHEET_ORDER = "structure.sheet-order", Warning, "LHDN's sheets in an order neither copy of the template has",
        "Put the sheets back in the order of LHDN's template";
    STRUCTURE_DUPLICATE_HEADER = "structure.duplicate-header", Error, "a row-4 header given to two columns",
        "Keep one column of each header: delete or rename the other";
    STRUCTURE_HIDDEN_ROW = "structure.hidden-row", Error, "a hidden row with data",
        "Unhide the row (select the rows around it, right-click, Unhide) and check what it holds, or delete it";
    STRUCTURE_SAMPLE_ROW_EDITED = "structure.sample-row-edited", Error, "LHDN's sample row 5 edited",
        "Put the data from row 6 down and restore LHDN's sample in row 5";
    CELL_FORMULA = "cell.formula", Error, "a formula in a data row",
        "Replace the formula by its value (Copy, then Paste Special → Values); LHDN's template has no formulas in data rows";
    // Hostile input: cells no spreadsheet can hold.
    CELL_TOO_LONG = "cell.too-long", Error, "a text longer than the 32,767 characters an Excel cell holds",
        "Shorten the text where it comes from: Excel cannot hold it, and selfbill never writes it";
    FIELD_MANDATORY = "field.mandatory", Error, "a mandatory cell is empty",
        "Fill in the cell; LHDN's row 1 marks it Mandatory";
    FIELD_TOO_LONG = "field.too-long", Error, "text longer than row 2 allows (characters)",
        "Shorten the text to the length in row 2 of the template";
    AMOUNT_NOT_A_NUMBER = "amount.not-a-number", Error, "an amount or number column holds text",
        "Type the amount as a plain number, e.g. 1234.50";
    AMOUNT_SCIENTIFIC = "amount.scientific", Error, "an amount in scientific notation",
        "Format the cell as a number with decimals, not Scientific";
    FORMAT_TIN = "format.tin", Error, "a TIN that breaks LHDN's TIN rules",
        "Look the TIN up in MyTax or use LHDN's general TIN (EI00000000030 for a foreign supplier)";
    FORMAT_PHONE = "format.phone", Error, "a phone number that is not 8-20 digits with an optional leading +",
        "Write 8 to 20 digits with an optional leading +, no spaces, e.g. +60312345678";
    FORMAT_EMAIL = "format.email", Error, "an e-mail that is not one valid address",
        "Write one e-mail address, e.g. accounts@example.com";
    FORMAT_POSTCODE = "format.postcode", Error, "a Malaysian postcode that is not at most 5 digits",
        "Write the Malaysian postcode as its 5 digits, as text so a leading zero is kept";
    FORMAT_SST = "format.sst", Error, "an SST registration number in the wrong form",
        "Write NA when not SST-registered, else the SST number (two at most, separated by ;)";
    FORMAT_TTX = "format.ttx", Error, "a tourism tax registration number in the wrong form",
        "Write NA when not registered for tourism tax";
    FORMAT_DATE = "format.date", Warning, "a date that is not yyyy-mm-dd (enforcement postponed by LHDN)",
        "Write the date as yyyy-mm-dd";
    FORMAT_ISSUANCE_DATETIME = "format.issuance-datetime", Error, "IssuanceDateTime not a UTC yyyy-MM-ddTHH:mm:ssZ",
        "Write the time in UTC as yyyy-MM-ddTHH:mm:ssZ";
    ISSUANCE_TOO_OLD = "issuance.too-old", Warning, "IssuanceDateTime more than 72 hours ago",
        "LHDN refuses documents issued more than 72 hours before submission; issue again with a current time";
    ISSUANCE_FUTURE = "issuance.future", Warning, "IssuanceDateTime in the future",
        "Convert Malaysian time (UTC+8) to UTC before writing it";
    CODE_UNKNOWN = "code.unknown", Error, "a code not in LHDN's code table",
        "Look the code up with `selfbill codes TABLE QUERY`";
    CODE_LEADING_ZERO_LOST = "code.leading-zero-lost", Error, "a code that lost its leading zeros",
        "Format the column as Text and type the code with its leading zeros";
    CODE_STATE_WITHDRAWN = "code.state-withdrawn", Error, "state code 00, withdrawn by LHDN",
        "LHDN withdrew state code 00; use the state's own code, or 17 outside Malaysia";
    REF_UNKNOWN_INVOICE = "ref.unknown-invoice", Error, "a row for an eInvoiceNumber not in Documents",
        "Every row must name an eInvoiceNumber that is in the Documents sheet";
    REF_UNKNOWN_LINE = "ref.unknown-line", Error, "a row for a line ID not in DocumentLineItems",
        "Every row must name a line ID of its invoice in DocumentLineItems";
    LINE_DUPLICATE_ID = "line.duplicate-id", Error, "a line ID used twice in one invoice",
        "Number the lines of one invoice 1, 2, 3, … without repeats";
    LINE_MISSING_TAX = "line.missing-tax", Error, "a line without a LineItemsTaxes row",
        "Add a LineItemsTaxes row for the line (TaxType 06 when no tax applies)";
    INVOICE_NO_LINES = "invoice.no-lines", Error, "an invoice without lines",
        "Add the invoice's lines to DocumentLineItems";
    INVOICE_MISSING_TOTAL_TAX = "invoice.missing-total-tax", Error, "a tax type used on lines without its DocumentTotalTax row",
        "Add a DocumentTotalTax row for each tax type the lines use";
    INVOICE_REFERENCES_NOT_ALLOWED = "invoice.references-not-allowed", Error, "DocumentReferences rows for an invoice or self-billed invoice",
        "DocumentReferences are for credit, debit and refund notes; remove the rows";
    DUPLICATE_INVOICE_NUMBER = "duplicate.invoice-number", Error, "an eInvoiceNumber used twice in Documents",
        "Give every document its own eInvoiceNumber";
    MATH_SUBTOTAL = "math.subtotal", Error, "Subtotal ≠ UnitPrice × Quantity",
        "Subtotal is UnitPrice × Quantity rounded to 2 places";
    MATH_LINE_TOTAL = "math.line-total", Error, "line TotalExcludingTax ≠ Subtotal − discounts + charges",
        "TotalExcludingTax is Subtotal − discounts + charges of the line";
    MATH_LINE_TAX = "math.line-tax", Error, "line TotalTaxAmount ≠ its LineItemsTaxes amounts",
        "The line's TotalTaxAmount is the sum of its LineItemsTaxes rows";
    MATH_NET = "math.net", Error, "TotalNetAmount ≠ Σ line totals",
        "TotalNetAmount is the sum of the lines' TotalExcludingTax";
    MATH_DISCOUNT = "math.discount", Error, "TotalDiscountValue ≠ Σ DocumentDiscounts",
        "TotalDiscountValue is the sum of the DocumentDiscounts rows";
    MATH_CHARGE = "math.charge", Error, "TotalChargeAmount ≠ Σ DocumentCharges",
        "TotalChargeAmount is the sum of the DocumentCharges rows";
    MATH_EXCLUDING = "math.excluding", Error, "TotalExcludingTax ≠ net − discounts + charges",
        "TotalExcludingTax is TotalNetAmount − TotalDiscountValue + TotalChargeAmount";
    MATH_INCLUDING = "math.including", Error, "TotalIncludingTax ≠ TotalExcludingTax + TotalTaxAmount",
        "TotalIncludingTax is TotalExcludingTax + TotalTaxAmount";
    MATH_PAYABLE = "math.payable", Error, "TotalPayableAmount ≠ TotalIncludingTax − prepayment + rounding",
        "TotalPayableAmount is TotalIncludingTax − PrePaymentAmount + TotalRoundingAmount";
    MATH_TAX_TYPE = "math.tax-type", Error, "DocumentTotalTax of a type ≠ Σ its LineItemsTaxes",
        "A DocumentTotalTax row holds the sum of its tax type's LineItemsTaxes rows";
    MATH_TAX_TOTAL = "math.tax-total", Error, "Documents TotalTaxAmount ≠ Σ DocumentTotalTax",
        "TotalTaxAmount is the sum of the DocumentTotalTax rows";
    TAX_NOT_ZERO = "tax.not-zero", Error, "tax type 06 or E with a tax amount other than 0",
        "Tax types 06 and E carry no tax: write 0";
    TAX_EXEMPTION_MISSING = "tax.exemption-missing", Error, "tax type E without DetailsTaxExemption",
        "Describe the exemption in DetailsTaxExemption";
    CURRENCY_RATE_MISSING = "currency.rate-missing", Error, "a non-MYR invoice without CurrencyExchangeRate",
        "Give the MYR rate of the currency in CurrencyExchangeRate";
    CURRENCY_RATE_FOR_MYR = "currency.rate-for-myr", Error, "an MYR invoice with a CurrencyExchangeRate",
        "Leave CurrencyExchangeRate empty for MYR invoices";
    SCENARIO_IMPORT_CLASSIFIED_009 = "scenario.import-classified-009", Warning, "an import from a foreign supplier classified 009",
        "Imports from a foreign supplier are self-billed with classification 034";
    // The register: convert and `selfbill register uuids`.
    REGISTER_ALREADY_INVOICED = "register.already-invoiced", Info, "an order already invoiced, unchanged: not written again",
        "Nothing to do";
    REGISTER_ORDER_CHANGED = "register.order-changed", Warning, "an invoiced order whose lines changed but not its amount",
        "If that workbook was never uploaded, `--reissue ORDER` writes the invoice anew under its number; otherwise nothing to do";
    REGISTER_STILL_HELD = "register.still-held", Warning, "an order held in an earlier run and absent from this run's exports",
        "Find the order on 1688 (我的订单, search its number); once the refund is settled, export it and convert it with this month's export (a closed order needs no invoice)";
    REGISTER_HOLD_SETTLED = "register.hold-settled", Info, "an order held in an earlier run that is now invoiced or closed",
        "Nothing to do";
    REGISTER_NOTE_ISSUED = "register.note-issued", Info, "a refund or credit note written for an order refunded after invoicing",
        "Upload it with this run's invoices";
    REGISTER_UUID_MISSING = "register.uuid-missing", Error, "a note is needed but the original invoice's UUID is not recorded",
        "Download the list of submitted documents from the MyInvois portal (Internal ID and UUID columns) and run `selfbill register uuids FILE`, then convert again";
    REGISTER_DEBIT_NOTE_NEEDED = "register.debit-note-needed", Error, "实付款 higher than what was invoiced",
        "An increase after invoicing needs a self-billed debit note (type 13), which selfbill does not write: issue it in the MyInvois portal";
    REGISTER_NOTE_NUMBER_TOO_LONG = "register.note-number-too-long", Error, "a note number longer than 50 characters",
        "Issue this note in the MyInvois portal, and use a shorter [invoice] number pattern for new invoices";
    REGISTER_REISSUE_REFUSED = "register.reissue-refused", Error, "--reissue for an order that cannot be reissued",
        "Reissue only `written` invoices of orders in this run's exports";
    REGISTER_UUID_UNKNOWN_INVOICE = "register.uuid-unknown-invoice", Error, "a UUID for an invoice number the register does not have",
        "Remove the rows of documents selfbill did not write, or check the number (and that this is the right register)";
    REGISTER_UUID_MALFORMED = "register.uuid-malformed", Error, "a UUID that is not 26 letters and digits",
        "Copy the UUID from the MyInvois portal again";
    REGISTER_UUID_CONFLICT = "register.uuid-conflict", Error, "a UUID that contradicts one recorded or given",
        "Check the file against the MyInvois portal; a recorded UUID is never replaced";
    REGISTER_UUID_NOT_VALID = "register.uuid-not-valid", Warning, "a document LHDN lists as not valid: no UUID recorded",
        "Only valid documents count as validated; correct and submit the document again";
    // Customs clearance, deadlines, SVDP and seller contacts (convert).
    CUSTOMS_MISSING = "customs.missing", Warning, "an importation (034) invoice with no customs reference and no concession",
        "Give the order's Customs Form No.1/9 number, or its concession (e-PAM, LCL), in the --customs file";
    CUSTOMS_UNKNOWN_ORDER = "customs.unknown-order", Warning, "a customs file row for an order no export contains",
        "Check the order number, or convert the export that holds the order";
    DEADLINE_PASSED = "deadline.passed", Error, "an import invoice issued after the end of the second month after customs clearance",
        "Disclose it under LHDN's SVDP with --svdp (SVDP 1.2, until 31 Dec 2027)";
    DEADLINE_AT_RISK = "deadline.at-risk", Warning, "clearance date unknown, and late if customs cleared the goods when they were paid for",
        "Add the clearance date (cleared_on) to the --customs file";
    DEADLINE_SVDP = "deadline.svdp", Warning, "a late invoice written as version SVDP 1.2, a voluntary disclosure",
        "Upload it with LHDN's newest template during the SVDP (7 Jul 2026 – 31 Dec 2027)";
    ORDER_BEFORE_EINVOICING = "order.before-einvoicing", Info, "an order cleared (or paid) before [buyer] einvoice_from: no self-billed e-invoice needed",
        "Nothing to do: goods cleared before your e-invoicing start date need none";
    SUPPLIER_PHONE_MISSING = "supplier.phone-missing", Error, "a seller without a phone number (NA is only for a consolidated invoice's buyer)",
        "Add the seller's phone to suppliers.csv; it is on the seller's 1688 page under 联系方式";
    // LHDN's validations of 2025-2026 (check and convert).
    CODE_STATE_17_IN_MALAYSIA = "code.state-17-in-malaysia", Error, "state 17 (not applicable) on a Malaysian address of a non-consolidated invoice",
        "Use the address's own state code 01-16; 17 is for consolidated invoices and addresses outside Malaysia";
    CODE_UNKNOWN_UNIT = "code.unknown-unit", Warning, "a unit of measurement not in LHDN's unit table (enforcement postponed by LHDN)",
        "Look the unit up with `selfbill codes unit QUERY`";
    TIN_GENERAL_BUYER_SELF_BILLED = "tin.general-buyer-self-billed", Error, "a general TIN as Buyer.TIN of a self-billed document (types 11-14)",
        "The buyer of a self-billed document is its issuer: write your company's own TIN";
    TIN_FOREIGN_SUPPLIER_IN_MALAYSIA = "tin.foreign-supplier-in-malaysia", Error, "EI00000000030 (foreign supplier) on a supplier with a Malaysian address",
        "Give the Malaysian supplier's own TIN, or its real foreign address";
    CURRENCY_RATE_ZERO = "currency.rate-zero", Error, "a CurrencyExchangeRate of 0 or below",
        "Write the MYR value of 1 unit of the currency, e.g. 0.6097 for CNY";
    CURRENCY_RATE_IMPLAUSIBLE = "currency.rate-implausible", Warning, "a CurrencyExchangeRate outside a plausible band for its currency",
        "Check the rate: MYR per 1 unit of the currency, not the other way round";
    FORMAT_ID_NUMBER = "format.id-number", Error, "an ID number longer than its type allows (NRIC, PASSPORT, ARMY 12; BRN 20)",
        "Check the ID type and number";
    FORMAT_INCOTERMS = "format.incoterms", Error, "Incoterms with special characters",
        "Write the three-letter Incoterm, e.g. EXW, FOB, CIF";
    FORMAT_TARIFF_CODE = "format.tariff-code", Error, "a ProductTariffCode with special characters other than .",
        "Write the HS code with digits and dots only, e.g. 9617.00.1000";
    FORMAT_EXEMPTION_DETAILS = "format.exemption-details", Error, "DetailsTaxExemption with special characters other than . - , ( )",
        "Use letters, digits, spaces and . - , ( ) only";
    FORMAT_CUSTOMS_REF = "format.customs-ref", Error, "a customs form reference with a space",
        "Join several references with commas and no spaces, e.g. E12345678912,E23456789123";
    FORMAT_POSTCODE_SHORT = "format.postcode-short", Warning, "a Malaysian postcode of fewer than 5 digits: a leading zero lost?",
        "Format the column as Text and write the postcode's 5 digits, e.g. 01000";
    FORMAT_UUID = "format.uuid", Error, "an original e-invoice UUID that is not 26 letters and digits",
        "Copy the UUID LHDN gave the original e-invoice (26 characters), or NA when it predates e-invoicing";
    TAX_RATE_MISSING = "tax.rate-missing", Error, "a LineItemsTaxes row of a type other than E with neither TaxRate nor PerUnitAmount",
        "Write the TaxRate (0 for tax type 06)";
    TAX_TAXABLE_AMOUNT_MISSING = "tax.taxable-amount-missing", Error, "a LineItemsTaxes row of a type other than E without TaxableAmount",
        "Write the line's taxable amount (its TotalExcludingTax)";
    TAX_BASE_UNIT_MISSING = "tax.base-unit-missing", Error, "a PerUnitAmount without its BaseUnitMeasure",
        "Give the base unit the per-unit tax is charged on";
    REF_ORIGINAL_MISSING = "ref.original-missing", Error, "a credit, debit or refund note (02-04, 12-14) without a DocumentReferences row",
        "Add a DocumentReferences row with the original e-invoice's number and UUID";
    STRUCTURE_MISSING_OPTIONAL_HEADER = "structure.missing-optional-header", Info, "an optional row-4 header of LHDN's template is missing",
        "Nothing to do unless you need the column; LHDN's template has it";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/rules.md` and the catalogue list the same rules, with the same
    /// severities, in both directions.
    #[test]
    fn the_docs_list_exactly_the_catalogue() {
        let docs = include_str!("../docs/rules.md");
        let documented: Vec<(&str, &str)> = docs
            .lines()
            .filter_map(|line| {
                let mut cells = line.split('|').map(str::trim).skip(1);
                let id = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                Some((id, cells.next()?))
            })
            .collect();
        for rule in ALL {
            let severity = rule.severity.to_string();
            assert!(
                documented.contains(&(rule.id, severity.as_str())),
                "docs/rules.md lacks `{}` as {severity}",
                rule.id
            );
        }
        for (id, severity) in &documented {
            let rule = Rule::by_id(id)
                .unwrap_or_else(|| panic!("docs/rules.md lists `{id}`, which no rule has"));
            assert_eq!(rule.severity.to_string(), *severity, "{id}");
        }
        assert_eq!(documented.len(), ALL.len(), "each rule is listed once");
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len(), "two rules share an id");
        for id in ids {
            assert!(
                id.split_once('.')
                    .is_some_and(|(area, name)| !area.is_empty()
                        && !name.is_empty()
                        && id.chars().all(|c| c.is_ascii_lowercase()
                            || c.is_ascii_digit()
                            || c == '.'
                            || c == '-')),
                "{id}"
            );
        }
    }
}
