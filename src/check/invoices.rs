//! Rules across sheets: references, line and tax rows, duplicates, LHDN's
//! mathematical mappings (to the cent) and the self-billed scenario rules.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::{Engine, amount};
use crate::batch::{Cell, DataRow, sheets, template};
use crate::money::cents;
use crate::rules::{self, Rule};
use std::borrow::Cow;

/// Column indices by header.
struct Cols {
    sheet: usize,
}

const DOCS: Cols = Cols {
    sheet: sheets::DOCUMENTS,
};
const LINES: Cols = Cols {
    sheet: sheets::LINE_ITEMS,
};
const TOTAL_TAX: Cols = Cols {
    sheet: sheets::DOCUMENT_TOTAL_TAX,
};

impl Cols {
    fn of(&self, header: &str) -> usize {
        template().sheets[self.sheet]
            .column(header)
            .unwrap_or_else(|| panic!("{header} is a column of sheet {}", self.sheet))
    }
}

/// A cell's text, trimmed, borrowed from the batch where it can be.
fn text(row: &DataRow, column: usize) -> Text<'_> {
    match row.get(column) {
        Cell::Text(s) => Cow::Borrowed(crate::batch::trim(s)),
        other => Cow::Owned(other.as_text().trim().to_string()),
    }
}

type Text<'a> = Cow<'a, str>;

fn same_cents(a: Decimal, b: Decimal) -> bool {
    cents(a) == cents(b)
}

/// A line ID: a number (`1`, `1.0` and the text `"1"` are the same line), or
/// whatever text a file holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LineId<'a> {
    Whole(u64),
    Number(Decimal),
    Text(Text<'a>),
}

impl LineId<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, LineId::Text(t) if t.is_empty())
    }
}

impl std::fmt::Display for LineId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineId::Whole(n) => write!(f, "{n}"),
            LineId::Number(n) => write!(f, "{n}"),
            LineId::Text(t) => f.write_str(t),
        }
    }
}

/// Line key: (the invoice's index among the documents, line ID).
type LineKey<'a> = (u32, LineId<'a>);

fn line_id(row: &DataRow, column: usize) -> LineId<'_> {
    let number = |n: Decimal| match n.is_integer().then(|| n.to_u64()).flatten() {
        Some(whole) => LineId::Whole(whole),
        None => LineId::Number(n.normalize()),
    };
    match row.get(column) {
        Cell::Number(n) => number(*n),
        _ => {
            let text = text(row, column);
            match crate::money::parse_amount(&text) {
                Ok(n) => number(n),
                Err(_) => LineId::Text(text),
            }
        }
    }
}

/// The invoices and lines of a batch, indexed once: every cross-sheet rule
/// looks rows up here. An invoice is known by its index in `doc_rows`, a
/// line by its index in `line_rows`.
struct Index<'a> {
    documents: HashMap<Text<'a>, u32>,
    doc_rows: Vec<&'a DataRow>,
    lines: HashMap<LineKey<'a>, u32>,
    /// (invoice, line ID, row) of each line.
    line_rows: Vec<(u32, LineId<'a>, &'a DataRow)>,
    /// The line rows of each invoice.
    lines_of: Vec<Vec<&'a DataRow>>,
}

/// What the line-level child sheets add up to, per line and per invoice.
struct LineSums<'a> {
    /// Σ LineItemsTaxes TaxAmount per line; `None` when the line has no tax row.
    tax: Vec<Option<Decimal>>,
    /// Per invoice: (tax type, tax, taxable amount) in the order first seen.
    tax_by_type: Vec<Vec<(Text<'a>, Decimal, Decimal)>>,
    discounts: Vec<Decimal>,
    charges: Vec<Decimal>,
}

/// What the document-level child sheets add up to, per invoice.
struct DocumentSums<'a> {
    /// Σ DocumentDiscounts / DocumentCharges, `None` without rows.
    discounts: Vec<Option<Decimal>>,
    charges: Vec<Option<Decimal>>,
    total_tax_rows: Vec<Vec<&'a DataRow>>,
}

pub(super) fn check_invoices(engine: &mut Engine<'_>) {
    let mut index = index_documents(engine);
    index_lines(engine, &mut index);
    let line_sums = LineSums {
        tax: Vec::new(),
        tax_by_type: Vec::new(),
        discounts: line_adjustments(engine, sheets::LINE_DISCOUNTS, "DiscountAmount", &index),
        charges: line_adjustments(engine, sheets::LINE_CHARGES, "ChargeAmount", &index),
    };
    let line_sums = check_line_taxes(engine, &index, line_sums);
    check_additional_classifications(engine, &index);
    let document_sums = DocumentSums {
        discounts: document_adjustments(
            engine,
            sheets::DOCUMENT_DISCOUNTS,
            "DiscountAmount",
            &index,
        ),
        charges: document_adjustments(engine, sheets::DOCUMENT_CHARGES, "ChargeAmount", &index),
        total_tax_rows: index_total_tax(engine, &index),
    };
    check_customs_and_references(engine, &index);
    check_notes_name_their_originals(engine, &index);
    for line in 0..index.line_rows.len() {
        check_line(engine, &index, &line_sums, line);
    }
    for doc in 0..index.doc_rows.len() {
        check_document(engine, &index, &line_sums, &document_sums, doc);
    }
}

/// Documents: unique numbers.
fn index_documents<'a>(engine: &mut Engine<'a>) -> Index<'a> {
    let batch = engine.batch;
    let doc_number = DOCS.of("eInvoiceNumber");
    let mut documents: HashMap<Text<'a>, u32> = HashMap::default();
    let mut doc_rows: Vec<&DataRow> = Vec::new();
    for row in &batch.sheets[sheets::DOCUMENTS].rows {
        let number = text(row, doc_number);
        if number.is_empty() {
            continue;
        }
        if let Some(&first) = documents.get(&number) {
            let first_row = doc_rows[first as usize].row;
            engine.report(
                &rules::DUPLICATE_INVOICE_NUMBER,
                sheets::DOCUMENTS,
                row,
                Some(doc_number),
                format!("eInvoiceNumber {number} is already used on row {first_row}"),
                "Every document needs its own eInvoiceNumber",
            );
        } else {
            documents.insert(number, doc_rows.len() as u32);
            doc_rows.push(row);
        }
    }
    let invoices = doc_rows.len();
    Index {
        documents,
        doc_rows,
        lines: HashMap::default(),
        line_rows: Vec::new(),
        lines_of: vec![Vec::new(); invoices],
    }
}

/// Lines: each refers to a document, with an ID unique within it.
fn index_lines<'a>(engine: &mut Engine<'a>, index: &mut Index<'a>) {
    let batch = engine.batch;
    let (li_number, li_id) = (LINES.of("eInvoiceNumber"), LINES.of("ID"));
    for row in &batch.sheets[sheets::LINE_ITEMS].rows {
        let number = text(row, li_number);
        let Some(&doc) = index.documents.get(&number) else {
            if !number.is_empty() {
                unknown_invoice(engine, sheets::LINE_ITEMS, row, li_number, &number);
            }
            continue;
        };
        let key = (doc, line_id(row, li_id));
        if key.1.is_empty() {
            continue;
        }
        if let Some(&first) = index.lines.get(&key) {
            let first_row = index.line_rows[first as usize].2.row;
            engine.report(
                &rules::LINE_DUPLICATE_ID,
                sheets::LINE_ITEMS,
                row,
                Some(li_id),
                format!(
                    "line ID {} of invoice {number} is already used on row {first_row}",
                    key.1
                ),
                "Number the lines of each invoice 1, 2, 3, …",
            );
            continue;
        }
        index
            .lines
            .insert(key.clone(), index.line_rows.len() as u32);
        index.line_rows.push((doc, key.1, row));
        index.lines_of[doc as usize].push(row);
    }
}

/// LineItemsTaxes: tax types 06 and E carry no tax, E needs its exemption;
/// sums per line and per invoice and tax type.
fn check_line_taxes<'a>(
    engine: &mut Engine<'a>,
    index: &Index<'a>,
    mut sums: LineSums<'a>,
) -> LineSums<'a> {
    let batch = engine.batch;
    let tx = Cols {
        sheet: sheets::LINE_TAXES,
    };
    let (tx_number, tx_line, tx_type, tx_amount, tx_taxable, tx_exemption) = (
        tx.of("eInvoiceNumber"),
        tx.of("LineItem.ID"),
        tx.of("TaxType"),
        tx.of("TaxAmount"),
        tx.of("TaxableAmount"),
        tx.of("DetailsTaxExemption"),
    );
    sums.tax = vec![None; index.line_rows.len()];
    sums.tax_by_type = vec![Vec::new(); index.doc_rows.len()];
    for row in &batch.sheets[sheets::LINE_TAXES].rows {
        let Some(line) = line_reference(engine, sheets::LINE_TAXES, row, tx_number, tx_line, index)
        else {
            continue;
        };
        let tax_type = text(row, tx_type);
        let tax = amount(row.get(tx_amount)).unwrap_or_default();
        if (tax_type == "06" || tax_type == "E") && !tax.is_zero() {
            engine.report(
                &rules::TAX_NOT_ZERO,
                sheets::LINE_TAXES,
                row,
                Some(tx_amount),
                format!("tax type {tax_type} carries tax {tax}; it must be 0"),
                "Tax types 06 (not applicable) and E (exempt) have TaxAmount 0",
            );
        }
        if tax_type == "E" && row.get(tx_exemption).is_empty() {
            engine.report(
                &rules::TAX_EXEMPTION_MISSING,
                sheets::LINE_TAXES,
                row,
                Some(tx_exemption),
                "tax type E needs DetailsTaxExemption".into(),
                "Give the exemption reason (letters, digits and . - , ( ) only)",
            );
        }
        *sums.tax[line as usize].get_or_insert(Decimal::ZERO) += tax;
        let doc = index.line_rows[line as usize].0 as usize;
        let taxable = amount(row.get(tx_taxable)).unwrap_or_default();
        match sums.tax_by_type[doc]
            .iter_mut()
            .find(|(t, _, _)| *t == tax_type)
        {
            Some(entry) => {
                entry.1 += tax;
                entry.2 += taxable;
            }
            None => sums.tax_by_type[doc].push((tax_type, tax, taxable)),
        }
    }
    sums
}

/// LineItemsAddClassifications: rows refer to existing lines.
fn check_additional_classifications<'a>(engine: &mut Engine<'a>, index: &Index<'a>) {
    let batch = engine.batch;
    let ac = Cols {
        sheet: sheets::LINE_ADD_CLASSIFICATIONS,
    };
    let (number, line) = (ac.of("eInvoiceNumber"), ac.of("LineItem.ID"));
    for row in &batch.sheets[sheets::LINE_ADD_CLASSIFICATIONS].rows {
        line_reference(
            engine,
            sheets::LINE_ADD_CLASSIFICATIONS,
            row,
            number,
            line,
            index,
        );
    }
}

/// Customs forms and document references refer to existing documents;
/// references only on the types that take them.
fn check_customs_and_references<'a>(engine: &mut Engine<'a>, index: &Index<'a>) {
    let batch = engine.batch;
    for sheet in [sheets::CUSTOMS_FORMS, sheets::DOCUMENT_REFERENCES] {
        let column = Cols { sheet }.of("eInvoiceNumber");
        for row in &batch.sheets[sheet].rows {
            let number = text(row, column);
            if number.is_empty() {
                continue;
            }
            match index.documents.get(&number) {
                None => unknown_invoice(engine, sheet, row, column, &number),
                Some(&doc) if sheet == sheets::DOCUMENT_REFERENCES => {
                    let type_code = text(index.doc_rows[doc as usize], DOCS.of("eInvoiceTypeCode"));
                    if type_code == "01" || type_code == "11" {
                        engine.report(
                            &rules::INVOICE_REFERENCES_NOT_ALLOWED,
                            sheet,
                            row,
                            Some(column),
                            format!("invoice {number} is of type {type_code}; DocumentReferences are for credit, debit and refund notes"),
                            "Remove the row",
                        );
                    }
                }
                Some(_) => {}
            }
        }
    }
}

/// Credit, debit and refund notes (02-04, self-billed 12-14) name the
/// e-invoice they adjust on DocumentReferences: its number and UUID (SDK note
/// tables, "Original e-Invoice Reference Number"; FAQ 42-45).
fn check_notes_name_their_originals<'a>(engine: &mut Engine<'a>, index: &Index<'a>) {
    let column = Cols {
        sheet: sheets::DOCUMENT_REFERENCES,
    }
    .of("eInvoiceNumber");
    let mut referenced = vec![false; index.doc_rows.len()];
    for row in &engine.batch.sheets[sheets::DOCUMENT_REFERENCES].rows {
        if let Some(&doc) = index.documents.get(&text(row, column)) {
            referenced[doc as usize] = true;
        }
    }
    let type_col = DOCS.of("eInvoiceTypeCode");
    for (doc, row) in index.doc_rows.iter().enumerate() {
        let type_code = super::code_text(row.get(type_col));
        if referenced[doc] || !["02", "03", "04", "12", "13", "14"].contains(&type_code.as_ref()) {
            continue;
        }
        let number = text(row, DOCS.of("eInvoiceNumber"));
        engine.report(
            &rules::REF_ORIGINAL_MISSING,
            sheets::DOCUMENTS,
            row,
            Some(type_col),
            format!("{number} is a note (type {type_code}) with no DocumentReferences row naming the e-invoice it adjusts"),
            "Add a DocumentReferences row with OriginaleInvoiceNumber and OriginaleInvoiceReferenceNumberUUID (NA when the original predates e-invoicing)",
        );
    }
}

/// DocumentTotalTax rows of each invoice.
fn index_total_tax<'a>(engine: &mut Engine<'a>, index: &Index<'a>) -> Vec<Vec<&'a DataRow>> {
    let batch = engine.batch;
    let tt_number = TOTAL_TAX.of("eInvoiceNumber");
    let mut total_tax_rows: Vec<Vec<&DataRow>> = vec![Vec::new(); index.doc_rows.len()];
    for row in &batch.sheets[sheets::DOCUMENT_TOTAL_TAX].rows {
        let number = text(row, tt_number);
        if number.is_empty() {
            continue;
        }
        match index.documents.get(&number) {
            Some(&doc) => total_tax_rows[doc as usize].push(row),
            None => unknown_invoice(engine, sheets::DOCUMENT_TOTAL_TAX, row, tt_number, &number),
        }
    }
    total_tax_rows
}

/// One line: its taxes present and summed, its subtotal and line total, and
/// the self-billed import scenario.
fn check_line<'a>(engine: &mut Engine<'a>, index: &Index<'a>, sums: &LineSums<'a>, line: usize) {
    let (doc, id, row) = &index.line_rows[line];
    let (doc, row) = (*doc as usize, *row);
    let (li_id, li_price, li_quantity, li_subtotal, li_tax, li_total, li_class) = (
        LINES.of("ID"),
        LINES.of("UnitPrice"),
        LINES.of("Quantity"),
        LINES.of("Subtotal"),
        LINES.of("TotalTaxAmount"),
        LINES.of("TotalExcludingTax"),
        LINES.of("Classification"),
    );
    match sums.tax[line] {
        None => engine.report(
            &rules::LINE_MISSING_TAX,
            sheets::LINE_ITEMS,
            row,
            Some(li_id),
            format!(
                "line {id} of invoice {} has no LineItemsTaxes row",
                text(index.doc_rows[doc], DOCS.of("eInvoiceNumber"))
            ),
            "Add a LineItemsTaxes row for the line (TaxType 06 and TaxAmount 0 when no tax applies)",
        ),
        Some(tax) => {
            if let Some(stated) = amount(row.get(li_tax))
                && !same_cents(stated, tax)
            {
                engine.report(
                    &rules::MATH_LINE_TAX,
                    sheets::LINE_ITEMS,
                    row,
                    Some(li_tax),
                    format!("TotalTaxAmount {stated} ≠ {tax}, the sum of the line's LineItemsTaxes"),
                    "Make the line's tax equal the sum of its tax rows",
                );
            }
        }
    }
    if text(index.doc_rows[doc], DOCS.of("Supplier.TIN")) == "EI00000000030"
        && text(row, li_class) == "009"
    {
        engine.report(&rules::SCENARIO_IMPORT_CLASSIFIED_009,
            sheets::LINE_ITEMS,
            row,
            Some(li_class),
            "classification 009 is for e-commerce self-billing to sellers; goods imported from a foreign supplier are 034".into(),
            "Use classification 034 (Self-billed - Importation of goods)",
        );
    }
    let (Some(price), Some(subtotal)) = (amount(row.get(li_price)), amount(row.get(li_subtotal)))
    else {
        return;
    };
    let quantity = amount(row.get(li_quantity)).unwrap_or(Decimal::ONE);
    let expected = cents(price * quantity);
    if !same_cents(subtotal, expected) {
        engine.report(
            &rules::MATH_SUBTOTAL,
            sheets::LINE_ITEMS,
            row,
            Some(li_subtotal),
            format!("Subtotal {subtotal} ≠ UnitPrice {price} × Quantity {quantity} = {expected}"),
            "Subtotal is UnitPrice × Quantity, rounded to the cent",
        );
    }
    if let Some(total) = amount(row.get(li_total)) {
        let (discount, charge) = (sums.discounts[line], sums.charges[line]);
        let expected_total = subtotal - discount + charge;
        if !same_cents(total, expected_total) {
            engine.report(
                &rules::MATH_LINE_TOTAL,
                sheets::LINE_ITEMS,
                row,
                Some(li_total),
                format!("TotalExcludingTax {total} ≠ Subtotal {subtotal} − discounts {discount} + charges {charge} = {expected_total}"),
                "A line's TotalExcludingTax is its Subtotal less its discounts plus its charges",
            );
        }
    }
}

/// One document: it has lines, its currency fits its rate, its totals add
/// up, and its tax per type and in total match the lines.
fn check_document<'a>(
    engine: &mut Engine<'a>,
    index: &Index<'a>,
    line_sums: &LineSums<'a>,
    document_sums: &DocumentSums<'a>,
    doc: usize,
) {
    let row = index.doc_rows[doc];
    let doc_number = DOCS.of("eInvoiceNumber");
    let number = text(row, doc_number);
    let invoice_lines = &index.lines_of[doc];
    if invoice_lines.is_empty() {
        engine.report(
            &rules::INVOICE_NO_LINES,
            sheets::DOCUMENTS,
            row,
            Some(doc_number),
            format!("invoice {number} has no DocumentLineItems rows"),
            "Add the invoice's lines on DocumentLineItems",
        );
        return;
    }
    check_currency(engine, row);
    let li_total = LINES.of("TotalExcludingTax");
    let net: Decimal = invoice_lines
        .iter()
        .filter_map(|l| amount(l.get(li_total)))
        .sum();
    let totals = DocumentTotals { row };
    totals.compare(
        engine,
        &rules::MATH_NET,
        "TotalNetAmount",
        net,
        &|| "Σ line TotalExcludingTax".into(),
        "TotalNetAmount is the sum of the lines' TotalExcludingTax",
    );
    let discount = check_adjustment_total(
        engine,
        &totals,
        document_sums.discounts[doc],
        &rules::MATH_DISCOUNT,
        "TotalDiscountValue",
        "DocumentDiscounts",
    );
    let charge = check_adjustment_total(
        engine,
        &totals,
        document_sums.charges[doc],
        &rules::MATH_CHARGE,
        "TotalChargeAmount",
        "DocumentCharges",
    );
    let excluding = net - discount + charge;
    totals.compare(
        engine,
        &rules::MATH_EXCLUDING,
        "TotalExcludingTax",
        excluding,
        &|| format!("net {net} − discounts {discount} + charges {charge}"),
        "TotalExcludingTax = TotalNetAmount − TotalDiscountValue + TotalChargeAmount",
    );
    let tax = totals.get("TotalTaxAmount").unwrap_or_default();
    let stated_excluding = totals.get("TotalExcludingTax").unwrap_or(excluding);
    let including = stated_excluding + tax;
    totals.compare(
        engine,
        &rules::MATH_INCLUDING,
        "TotalIncludingTax",
        including,
        &|| format!("TotalExcludingTax {stated_excluding} + TotalTaxAmount {tax}"),
        "TotalIncludingTax = TotalExcludingTax + TotalTaxAmount",
    );
    let stated_including = totals.get("TotalIncludingTax").unwrap_or(including);
    let prepaid = totals.get("PrePaymentAmount").unwrap_or_default();
    let rounding = totals.get("TotalRoundingAmount").unwrap_or_default();
    totals.compare(
        engine,
        &rules::MATH_PAYABLE,
        "TotalPayableAmount",
        stated_including - prepaid + rounding,
        &|| {
            format!(
                "TotalIncludingTax {stated_including} − PrePaymentAmount {prepaid} + TotalRoundingAmount {rounding}"
            )
        },
        "TotalPayableAmount = TotalIncludingTax − PrePaymentAmount + TotalRoundingAmount",
    );
    check_tax_totals(
        engine,
        &totals,
        &line_sums.tax_by_type[doc],
        &document_sums.total_tax_rows[doc],
    );
}

/// TotalDiscountValue or TotalChargeAmount against its document-level rows;
/// returns the amount the document's arithmetic goes on with.
fn check_adjustment_total(
    engine: &mut Engine<'_>,
    totals: &DocumentTotals<'_>,
    rows_sum: Option<Decimal>,
    rule: &'static Rule,
    header: &str,
    sheet: &str,
) -> Decimal {
    match rows_sum {
        Some(sum) => {
            totals.compare(
                engine,
                rule,
                header,
                sum,
                &|| format!("Σ {sheet}"),
                &format!("{header} is the sum of the {sheet} rows"),
            );
            sum
        }
        None => {
            let stated = totals.get(header);
            if stated.is_some_and(|d| !d.is_zero()) {
                totals.compare(
                    engine,
                    rule,
                    header,
                    Decimal::ZERO,
                    &|| format!("Σ {sheet} (none)"),
                    &format!("Add the {sheet} rows the total is made of"),
                );
            }
            stated.unwrap_or_default()
        }
    }
}

/// DocumentTotalTax: each row equals the sum of its type's line taxes, each
/// type used has a row, and TotalTaxAmount is their sum.
fn check_tax_totals(
    engine: &mut Engine<'_>,
    totals: &DocumentTotals<'_>,
    by_type: &[(Text<'_>, Decimal, Decimal)],
    total_rows: &[&DataRow],
) {
    let (tt_type, tt_taxable, tt_amount) = (
        TOTAL_TAX.of("TaxType"),
        TOTAL_TAX.of("TotalTaxableAmount"),
        TOTAL_TAX.of("TotalTaxAmount"),
    );
    let mut seen_types = HashSet::default();
    let mut total_tax = Decimal::ZERO;
    for total_row in total_rows.iter().copied() {
        let tax_type = text(total_row, tt_type);
        seen_types.insert(tax_type.clone());
        let stated = amount(total_row.get(tt_amount)).unwrap_or_default();
        total_tax += stated;
        let Some((_, line_sum, taxable_sum)) = by_type.iter().find(|(t, _, _)| *t == tax_type)
        else {
            continue;
        };
        if !same_cents(stated, *line_sum) {
            engine.report(&rules::MATH_TAX_TYPE, sheets::DOCUMENT_TOTAL_TAX, total_row, Some(tt_amount), format!("TotalTaxAmount {stated} for tax type {tax_type} ≠ {line_sum}, the sum of its LineItemsTaxes"), "Make the document's tax per type the sum of the lines' tax of that type");
        }
        // Document-level charges and discounts carry the tax type when an
        // invoice uses only one, so its taxable amount may also be the
        // whole TotalExcludingTax.
        let whole_document = by_type.len() == 1
            && totals
                .get("TotalExcludingTax")
                .is_some_and(|t| same_cents(t, taxable_or_zero(total_row, tt_taxable)));
        if let Some(taxable) = amount(total_row.get(tt_taxable))
            && !taxable_sum.is_zero()
            && !same_cents(taxable, *taxable_sum)
            && !whole_document
        {
            engine.report(&rules::MATH_TAX_TYPE, sheets::DOCUMENT_TOTAL_TAX, total_row, Some(tt_taxable), format!("TotalTaxableAmount {taxable} for tax type {tax_type} ≠ {taxable_sum}, the sum of its lines' TaxableAmount (nor TotalExcludingTax)"), "Make the taxable amount per type the sum of the lines' taxable amounts");
        }
    }
    let number = text(totals.row, DOCS.of("eInvoiceNumber"));
    for (tax_type, _, _) in by_type {
        if !seen_types.contains(tax_type) {
            engine.report(&rules::INVOICE_MISSING_TOTAL_TAX, sheets::DOCUMENTS, totals.row, Some(DOCS.of("eInvoiceNumber")), format!("invoice {number} uses tax type {tax_type} on its lines but has no DocumentTotalTax row for it"), "Add a DocumentTotalTax row per tax type used");
        }
    }
    if !total_rows.is_empty() || !by_type.is_empty() {
        totals.compare(
            engine,
            &rules::MATH_TAX_TOTAL,
            "TotalTaxAmount",
            total_tax,
            &|| "Σ DocumentTotalTax".into(),
            "Documents TotalTaxAmount is the sum of the invoice's DocumentTotalTax rows",
        );
    }
}

/// A Documents row's stated totals.
struct DocumentTotals<'a> {
    row: &'a DataRow,
}

impl DocumentTotals<'_> {
    fn get(&self, header: &str) -> Option<Decimal> {
        amount(self.row.get(DOCS.of(header)))
    }

    /// Reports `header` when its stated value is not `expected` to the cent.
    /// `how` explains the expected value; it is only spelled out for a finding.
    fn compare(
        &self,
        engine: &mut Engine<'_>,
        rule: &'static Rule,
        header: &str,
        expected: Decimal,
        how: &dyn Fn() -> String,
        hint: &str,
    ) {
        if let Some(stated) = self.get(header)
            && !same_cents(stated, expected)
        {
            engine.report(
                rule,
                sheets::DOCUMENTS,
                self.row,
                Some(DOCS.of(header)),
                format!("{header} {stated} ≠ {} = {expected}", how()),
                hint,
            );
        }
    }
}

fn taxable_or_zero(row: &DataRow, column: usize) -> Decimal {
    amount(row.get(column)).unwrap_or_default()
}

/// A plausible band of MYR per 1 unit of a currency: wide (about half to
/// twice the rates of 2015-2026), to catch a rate typed upside down, per
/// 100 units as BNM quotes some currencies, or a digit off.
pub(crate) fn plausible_rate(currency: &str) -> Option<(Decimal, Decimal)> {
    let band = |low: &str, high: &str| -> Option<(Decimal, Decimal)> {
        Some((low.parse().ok()?, high.parse().ok()?))
    };
    match currency {
        "CNY" | "CNH" => band("0.3", "1.2"),
        "USD" => band("2.5", "7"),
        "EUR" => band("3", "8"),
        "GBP" => band("3.5", "9"),
        "SGD" => band("2", "5"),
        "HKD" => band("0.3", "1"),
        "AUD" => band("2", "5"),
        "JPY" => band("0.015", "0.07"),
        "THB" => band("0.07", "0.25"),
        "TWD" => band("0.08", "0.25"),
        "KRW" => band("0.002", "0.006"),
        "INR" => band("0.03", "0.1"),
        "IDR" => band("0.00015", "0.0006"),
        "VND" => band("0.0001", "0.0003"),
        _ => None,
    }
}

fn check_currency(engine: &mut Engine<'_>, row: &DataRow) {
    let currency = text(row, DOCS.of("CurrencyCode"));
    let rate_col = DOCS.of("CurrencyExchangeRate");
    let rate = row.get(rate_col);
    if currency == "MYR" && !rate.is_empty() {
        engine.report(
            &rules::CURRENCY_RATE_FOR_MYR,
            sheets::DOCUMENTS,
            row,
            Some(rate_col),
            "an MYR invoice must leave CurrencyExchangeRate empty".into(),
            "Empty the cell",
        );
    } else if !currency.is_empty() && currency != "MYR" && rate.is_empty() {
        engine.report(&rules::CURRENCY_RATE_MISSING, sheets::DOCUMENTS, row, Some(rate_col), format!("a {currency} invoice needs CurrencyExchangeRate (MYR per 1 {currency})"), "Fill in the exchange rate, e.g. BNM's middle rate of the day (selfbill convert --rate)");
    } else if currency != "MYR"
        && let Some(value) = amount(rate)
    {
        check_rate_value(engine, row, &currency, value);
    }
}

/// A foreign-currency rate above 0 (RN 1 and 9 Aug 2025: MYR per 1 unit),
/// and within a plausible band (a warning: any rate may be used, SG §13.4).
fn check_rate_value(engine: &mut Engine<'_>, row: &DataRow, currency: &str, value: Decimal) {
    let rate_col = DOCS.of("CurrencyExchangeRate");
    if value <= Decimal::ZERO {
        engine.report(
            &rules::CURRENCY_RATE_ZERO,
            sheets::DOCUMENTS,
            row,
            Some(rate_col),
            format!("CurrencyExchangeRate {value} is not a rate: MYR per 1 {currency} is above 0"),
            "Write the MYR value of 1 unit of the currency, e.g. 0.6097 for CNY",
        );
    } else if let Some((low, high)) = plausible_rate(currency)
        && !(low..=high).contains(&value)
    {
        engine.report(
            &rules::CURRENCY_RATE_IMPLAUSIBLE,
            sheets::DOCUMENTS,
            row,
            Some(rate_col),
            format!("CurrencyExchangeRate {value} MYR per 1 {currency} is outside the plausible band {low} to {high}"),
            &format!("Check the rate: MYR per 1 {currency} (not {currency} per MYR, nor per 100 {currency})"),
        );
    }
}

fn unknown_invoice(
    engine: &mut Engine<'_>,
    sheet: usize,
    row: &DataRow,
    column: usize,
    number: &str,
) {
    engine.report(
        &rules::REF_UNKNOWN_INVOICE,
        sheet,
        row,
        Some(column),
        format!("eInvoiceNumber {number} is not on the Documents sheet"),
        "Correct the number, or add the document on the Documents sheet",
    );
}

/// The line (index in `line_rows`) a row refers to, when both its invoice
/// and its line exist.
fn line_reference<'a>(
    engine: &mut Engine<'a>,
    sheet: usize,
    row: &'a DataRow,
    number_col: usize,
    line_col: usize,
    index: &Index<'a>,
) -> Option<u32> {
    let number = text(row, number_col);
    if number.is_empty() {
        return None;
    }
    let Some(&doc) = index.documents.get(&number) else {
        unknown_invoice(engine, sheet, row, number_col, &number);
        return None;
    };
    let key = (doc, line_id(row, line_col));
    if key.1.is_empty() {
        return None;
    }
    match index.lines.get(&key) {
        Some(&line) => Some(line),
        None => {
            engine.report(
                &rules::REF_UNKNOWN_LINE,
                sheet,
                row,
                Some(line_col),
                format!(
                    "line {} of invoice {number} is not on DocumentLineItems",
                    key.1
                ),
                "Correct the line ID, or add the line on DocumentLineItems",
            );
            None
        }
    }
}

/// Per line, the sum of a line-level discount or charge sheet's amounts.
fn line_adjustments<'a>(
    engine: &mut Engine<'a>,
    sheet: usize,
    amount_header: &str,
    index: &Index<'a>,
) -> Vec<Decimal> {
    let cols = Cols { sheet };
    let (number, line, value) = (
        cols.of("eInvoiceNumber"),
        cols.of("LineItem.ID"),
        cols.of(amount_header),
    );
    let mut sums = vec![Decimal::ZERO; index.line_rows.len()];
    let batch = engine.batch;
    for row in &batch.sheets[sheet].rows {
        if let Some(line) = line_reference(engine, sheet, row, number, line, index) {
            sums[line as usize] += amount(row.get(value)).unwrap_or_default();
        }
    }
    sums
}

/// Per invoice, the sum of a document-level discount or charge sheet's
/// amounts, or `None` when it has no row there.
fn document_adjustments<'a>(
    engine: &mut Engine<'a>,
    sheet: usize,
    amount_header: &str,
    index: &Index<'a>,
) -> Vec<Option<Decimal>> {
    let cols = Cols { sheet };
    let (number, value) = (cols.of("eInvoiceNumber"), cols.of(amount_header));
    let mut sums = vec![None; index.doc_rows.len()];
    let batch = engine.batch;
    for row in &batch.sheets[sheet].rows {
        let invoice = text(row, number);
        if invoice.is_empty() {
            continue;
        }
        match index.documents.get(&invoice) {
            Some(&doc) => {
                *sums[doc as usize].get_or_insert(Decimal::ZERO) +=
                    amount(row.get(value)).unwrap_or_default();
            }
            None => unknown_invoice(engine, sheet, row, number, &invoice),
        }
    }
    sums
}
