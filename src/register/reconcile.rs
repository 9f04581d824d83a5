//! What convert does with the register: before mapping, each order read is
//! compared with what the register knows of it; after writing, what was
//! written and held is recorded.
//!
//! - An order never invoiced goes on to the ordinary mapping.
//! - An order invoiced with the same content is not written again (info).
//! - An invoiced order that is now closed (交易关闭) or paid less (实付款)
//!   gets a self-billed refund note (14), or a credit note (12), for the
//!   difference, referencing the original by number and LHDN UUID.
//! - `--reissue ORDER` writes a `written` invoice again under its number.
//! - Held orders are recorded; those of earlier runs absent from this run's
//!   exports are reported each time, until they are settled.

use anyhow::Result;
use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};

use super::{Document, Hold, Kind, Register, RunRecord, State};
use crate::config::{Config, RefundsAs, StatusAction, SupplierDirectory};
use crate::finding::Finding;
use crate::map;
use crate::model::{DOCUMENT_VERSION, DocumentReference, Invoice, Line, Totals};
use crate::model::{Order, export_columns as col};
use crate::money::{cents, payable_in_myr};
use crate::rules;

/// The longest eInvoiceNumber LHDN accepts.
pub const MAX_NUMBER_CHARS: usize = 50;

/// A digest of what an order says: seller, lines and amounts (decimals
/// normalised, so 12.5 and 12.50 agree), not its status or where it was read.
///
/// The SHA-256, in lowercase hex, of each field followed by U+001F. Registers
/// on users' disks hold these digests: the text hashed must never change.
pub fn digest(order: &Order) -> String {
    // The text is built whole and hashed at once: a hash fed field by field
    // through `write!` spends more on the formatting than on hashing.
    let mut text = String::with_capacity(256);
    let field = |text: &mut String, value: &str| {
        text.push_str(value);
        text.push('\u{1f}');
    };
    let amount = |text: &mut String, value: Decimal| {
        crate::money::push_decimal(text, value.normalize());
        text.push('\u{1f}');
    };
    field(&mut text, &order.order_no);
    field(&mut text, &order.seller_member);
    amount(&mut text, order.goods_total);
    amount(&mut text, order.shipping);
    amount(&mut text, order.adjustment);
    amount(&mut text, order.paid);
    for line in &order.lines {
        field(&mut text, &line.title);
        field(&mut text, &line.model);
        amount(&mut text, line.unit_price);
        amount(&mut text, line.quantity);
        field(&mut text, &line.unit);
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(text.as_bytes()) {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

/// Everything the register step needs besides the orders.
pub struct Settings<'a> {
    pub config: &'a Config,
    pub suppliers: &'a SupplierDirectory,
    pub issued_at: NaiveDateTime,
    /// `--reissue`: order numbers.
    pub reissue: &'a [String],
}

/// What one order looked like in this run.
#[derive(Debug, Clone)]
struct Seen {
    digest: String,
    status: String,
    action: Option<StatusAction>,
    seller: String,
    paid: Decimal,
    export: String,
}

/// The register's verdict on this run's orders.
#[derive(Debug, Default)]
pub struct Triage {
    /// Orders for the ordinary mapping: new ones, reissues, and those whose
    /// copies disagree or whose status is unknown (mapping reports them).
    pub to_map: Vec<Order>,
    /// Notes to write (refund or credit), in order-number order of their originals.
    pub notes: Vec<Invoice>,
    pub findings: Vec<Finding>,
    /// Orders already invoiced and unchanged (or already refunded).
    pub already_invoiced: usize,
    /// Orders held earlier and absent from this run's exports.
    pub still_held: usize,
    /// Orders the register held this run (that mapping does not count).
    pub held: usize,
    /// order number → the number its reissued invoice keeps.
    reissue: HashMap<String, String>,
    seen: HashMap<String, Seen>,
    open_holds: HashMap<String, Hold>,
    /// Orders held by an earlier run that the register itself dealt with
    /// (already invoiced, notes): only these are asked about.
    handled: HashSet<String>,
}

impl Triage {
    /// Compares the orders with the register (whose lock the caller holds),
    /// all at once: the register's tests judge a run's orders so; convert
    /// gives them one order number at a time ([`Triage::judge_group`]).
    #[cfg(test)]
    pub fn new(register: &Register, orders: Vec<Order>, settings: &Settings<'_>) -> Result<Triage> {
        let mut triage = Triage::open(register)?;
        // Copies of one order, in the order first seen.
        let mut groups: Vec<Vec<Order>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for order in orders {
            match index.get(&order.order_no) {
                Some(&i) => groups[i].push(order),
                None => {
                    index.insert(order.order_no.clone(), groups.len());
                    groups.push(vec![order]);
                }
            }
        }
        triage.reissues_absent(settings, |order_no| index.contains_key(order_no));
        for copies in groups {
            let routed = triage.judge_group(register, copies, settings)?;
            triage.to_map.extend(routed);
        }
        Ok(triage)
    }

    /// A triage of orders to come, one order number at a time
    /// ([`Triage::judge_group`]), as they are read.
    pub fn open(register: &Register) -> Result<Triage> {
        Ok(Triage {
            open_holds: register
                .open_holds(None)?
                .into_iter()
                .map(|h| (h.order_no.clone(), h))
                .collect(),
            ..Triage::default()
        })
    }

    /// Errors for `--reissue` orders that are not in this run's exports
    /// (`read` says which order numbers are).
    pub fn reissues_absent(&mut self, settings: &Settings<'_>, read: impl Fn(&str) -> bool) {
        let mut absent: Vec<&String> = settings.reissue.iter().filter(|o| !read(o)).collect();
        absent.sort();
        absent.dedup();
        for order_no in absent {
            self.findings.push(
                Finding::new(
                    &rules::REGISTER_REISSUE_REFUSED,
                    format!("--reissue {order_no}: the order is not in this run's exports"),
                )
                .hint("Give the export that holds the order, or check the order number")
                .invoice(order_no.as_str())
                .value(order_no.as_str()),
            );
        }
    }

    /// Judges the copies of one order number (all of them: whether they
    /// agree decides what the register may do); returns those that go on to
    /// the ordinary mapping.
    pub fn judge_group(
        &mut self,
        register: &Register,
        copies: Vec<Order>,
        settings: &Settings<'_>,
    ) -> Result<Vec<Order>> {
        let before = self.to_map.len();
        let wanted = settings
            .reissue
            .iter()
            .any(|o| copies.first().is_some_and(|c| &c.order_no == o));
        self.judge(register, copies, settings, wanted)?;
        Ok(self.to_map.split_off(before))
    }

    fn judge(
        &mut self,
        register: &Register,
        copies: Vec<Order>,
        settings: &Settings<'_>,
        wanted: bool,
    ) -> Result<()> {
        let order = &copies[0];
        let order_no = order.order_no.clone();
        let first_digest = digest(order);
        let agree = copies
            .iter()
            .skip(1)
            .all(|c| c.status == order.status && digest(c) == first_digest);
        let action = settings.config.status_action(&order.status);
        if agree {
            self.seen.insert(
                order_no.clone(),
                Seen {
                    digest: first_digest.clone(),
                    status: order.status.clone(),
                    action,
                    seller: order.seller_member.clone(),
                    paid: cents(order.paid),
                    export: order.source.file.clone(),
                },
            );
        }
        let documents = register.documents_of(&order_no)?;
        let invoice = documents.iter().find(|d| d.kind == Kind::Invoice);
        let at = &order.source;

        if wanted {
            match invoice {
                None => {
                    let message =
                        format!("--reissue {order_no}: the order has no invoice in the register");
                    self.findings.push(
                        Finding::new(&rules::REGISTER_REISSUE_REFUSED, message)
                            .hint(
                                "Leave --reissue out: an order never invoiced is converted anyway",
                            )
                            .at(at)
                            .invoice(&order_no)
                            .value(&order_no),
                    );
                }
                Some(invoice) if invoice.state != State::Written => {
                    let message = format!(
                        "--reissue {order_no}: invoice {} is {} (UUID {}); a validated invoice \
                         is never reissued",
                        invoice.number,
                        invoice.state.as_str(),
                        invoice.uuid.as_deref().unwrap_or("-")
                    );
                    self.findings.push(
                        Finding::new(&rules::REGISTER_REISSUE_REFUSED, message)
                            .hint(
                                "A validated invoice is changed by a credit, debit or refund \
                                 note, or cancelled in the MyInvois portal within 72 hours of \
                                 validation",
                            )
                            .at(at)
                            .invoice(&invoice.number)
                            .value(&order_no),
                    );
                }
                Some(invoice) => {
                    self.reissue.insert(order_no, invoice.number.clone());
                    self.to_map.extend(copies);
                }
            }
            return Ok(());
        }
        let (Some(invoice), true, Some(action)) = (invoice, agree, action) else {
            self.to_map.extend(copies);
            return Ok(());
        };

        // An order the register has invoiced.
        let notes: Vec<&Document> = documents
            .iter()
            .filter(|d| d.original.as_deref() == Some(invoice.number.as_str()))
            .collect();
        let refunded: Decimal = notes.iter().map(|n| n.total_cny).sum();
        let remaining = invoice.total_cny - refunded;
        let latest = documents.last().unwrap_or(invoice);
        let when = |d: &Document| format!("{} on {}", d.output, d.issued_at.date());
        let invoiced = format!("invoiced as {} in {}", invoice.number, when(invoice));
        let target = match action {
            StatusAction::Hold => {
                self.held += 1;
                self.handle(&order_no);
                let message = format!(
                    "order {order_no}, {invoiced}, is {}; a refund note follows once the refund \
                     is settled",
                    order.status
                );
                self.findings.push(
                    Finding::new(&rules::ORDER_HELD, message)
                        .hint(
                            "Convert it again once the refund is settled: selfbill writes the \
                             note for what was refunded",
                        )
                        .at(at)
                        .column(col::STATUS)
                        .invoice(&invoice.number)
                        .value(&order.status),
                );
                return Ok(());
            }
            StatusAction::Skip => Decimal::ZERO,
            StatusAction::Invoice => cents(order.paid),
        };
        self.handle(&order_no);
        if target > remaining {
            let message = format!(
                "order {order_no} now shows 实付款 {target}, more than the {remaining} CNY {invoiced}"
            );
            self.findings.push(
                Finding::new(&rules::REGISTER_DEBIT_NOTE_NEEDED, message)
                    .at(at)
                    .column(col::PAID)
                    .invoice(&invoice.number)
                    .value(order.paid.to_string()),
            );
            return Ok(());
        }
        if target == remaining {
            self.already_invoiced += 1;
            let finding = if action == StatusAction::Invoice && latest.digest != first_digest {
                let message = format!(
                    "order {order_no} changed since it was {invoiced} (same 实付款 {target}); not \
                     written again"
                );
                Finding::new(&rules::REGISTER_ORDER_CHANGED, message)
            } else {
                let message = if notes.is_empty() {
                    format!(
                        "order {order_no} is already {invoiced} ({}); not written again",
                        invoice.state.as_str()
                    )
                } else {
                    format!(
                        "order {order_no} is already {invoiced}, and refunded by {} in {}; not \
                         written again",
                        latest.number,
                        when(latest)
                    )
                };
                Finding::new(&rules::REGISTER_ALREADY_INVOICED, message)
            };
            self.findings.push(finding.at(at).invoice(&invoice.number));
            return Ok(());
        }

        // Refunded after invoicing: a note for the difference.
        let amount = remaining - target;
        let refund = format!(
            "order {order_no} ({}) was refunded {amount} CNY after it was {invoiced}",
            order.status
        );
        let Some(uuid) = invoice.uuid.clone() else {
            let message = format!(
                "{refund}, but the register has no LHDN UUID for {}; the note must reference it",
                invoice.number
            );
            self.findings.push(
                Finding::new(&rules::REGISTER_UUID_MISSING, message)
                    .at(at)
                    .column(col::PAID)
                    .invoice(&invoice.number),
            );
            return Ok(());
        };
        let kind = match settings.config.register.refunds_as {
            RefundsAs::Refund => Kind::RefundNote,
            RefundsAs::Credit => Kind::CreditNote,
        };
        let number = format!("{}-R{}", invoice.number, notes.len() + 1);
        let length = number.chars().count();
        if length > MAX_NUMBER_CHARS {
            let message = format!(
                "the note for order {order_no} would be numbered {number}, {length} characters; \
                 LHDN allows {MAX_NUMBER_CHARS}"
            );
            self.findings.push(
                Finding::new(&rules::REGISTER_NOTE_NUMBER_TOO_LONG, message)
                    .at(at)
                    .invoice(&invoice.number)
                    .value(&number),
            );
            return Ok(());
        }
        let description = if action == StatusAction::Skip {
            format!(
                "{} for order {order_no} ({}): {amount} CNY",
                kind_words(kind),
                order.status
            )
        } else {
            format!(
                "{} for order {order_no}: 实付款 {remaining} → {target} CNY",
                kind_words(kind)
            )
        };
        let note = Note {
            order,
            original: invoice,
            number: &number,
            kind,
            amount,
            description,
            uuid,
        };
        self.notes.push(note.build(settings));
        let message = format!(
            "{refund}: {} {number} written",
            kind_words(kind).to_lowercase()
        );
        self.findings.push(
            Finding::new(&rules::REGISTER_NOTE_ISSUED, message)
                .at(at)
                .invoice(&number),
        );
        Ok(())
    }

    /// Notes that the register's invoice of `order_no` answers for it, where
    /// a hold of an earlier run asks ([`settles`]).
    fn handle(&mut self, order_no: &str) {
        if self.open_holds.contains_key(order_no) {
            self.handled.insert(order_no.to_string());
        }
    }

    /// Forgets what an order looked like once its invoice (if any) has its
    /// record ([`Triage::document`]), unless the run's end still needs it:
    /// a hold to record or follow up, or a note still to be written.
    pub fn processed(&mut self, order_no: &str) {
        let needed = self.seen.get(order_no).is_some_and(|seen| {
            seen.action == Some(StatusAction::Hold)
                || self.open_holds.contains_key(order_no)
                || self.notes.iter().any(|note| note.order_no == order_no)
        });
        if !needed {
            self.seen.remove(order_no);
        }
    }

    /// The number a reissued order's invoice keeps, when it is a reissue.
    pub fn reissue_number(&self, order_no: &str) -> Option<&str> {
        self.reissue.get(order_no).map(String::as_str)
    }

    /// Warnings for orders held earlier and absent from this run's exports,
    /// and infos for held orders now settled; `invoices` are those that will
    /// be written. Call once, when it is known what is written.
    #[cfg(test)]
    pub fn follow_up_holds(&mut self, invoices: &[Invoice]) {
        let invoiced: HashSet<&str> = invoices.iter().map(|i| i.order_no.as_str()).collect();
        self.follow_up_holds_of(&invoiced);
    }

    /// As [`Triage::follow_up_holds`], given the order numbers written (of
    /// which only those [`Triage::is_held_before`] matter).
    pub fn follow_up_holds_of(&mut self, invoiced: &HashSet<&str>) {
        let mut holds: Vec<&Hold> = self.open_holds.values().collect();
        holds.sort_by(|a, b| (a.held_at, &a.order_no).cmp(&(b.held_at, &b.order_no)));
        for hold in holds {
            let held = format!(
                "order {}, held in {} ({}, {})",
                hold.order_no,
                hold.month(),
                hold.status,
                hold.export
            );
            match self.seen.get(&hold.order_no) {
                None => {
                    self.still_held += 1;
                    let message =
                        format!("{held}, is not in this run's exports and is still not invoiced");
                    self.findings.push(
                        Finding::new(&rules::REGISTER_STILL_HELD, message)
                            .file(&hold.export)
                            .invoice(&hold.order_no)
                            .value(&hold.status),
                    );
                }
                Some(seen) if settles(seen, &hold.order_no, invoiced, &self.handled) => {
                    let message = format!("{held}, is now {}; its hold is closed", seen.status);
                    self.findings.push(
                        Finding::new(&rules::REGISTER_HOLD_SETTLED, message)
                            .file(&seen.export)
                            .invoice(&hold.order_no)
                            .value(&seen.status),
                    );
                }
                Some(_) => {}
            }
        }
    }

    /// What to record once the outputs are in place: `written` are the
    /// documents written, each with the output it went to.
    #[cfg(test)]
    pub fn record(
        &self,
        written: &[(&Invoice, &str)],
        issued_at: NaiveDateTime,
        exports: Vec<String>,
        outputs: Vec<String>,
    ) -> RunRecord {
        let invoiced: HashSet<&str> = written.iter().map(|(i, _)| i.order_no.as_str()).collect();
        let documents = written
            .iter()
            .map(|(invoice, output)| {
                let mut document = self.document(invoice);
                document.output = output.to_string();
                document
            })
            .collect();
        self.record_documents(documents, &invoiced, issued_at, exports, outputs)
    }

    /// The register's record of a written invoice or note; its `output` is
    /// left for the caller, who knows it once the outputs are named.
    pub fn document(&self, invoice: &Invoice) -> Document {
        let seen = self.seen.get(&invoice.order_no);
        Document {
            number: invoice.number.clone(),
            kind: kind_of(&invoice.type_code),
            type_code: invoice.type_code.to_string(),
            order_no: invoice.order_no.clone(),
            original: invoice.references.first().map(|r| r.number.clone()),
            seller: seen.map(|s| s.seller.clone()).unwrap_or_default(),
            currency: invoice.currency.to_string(),
            total: invoice.totals.payable,
            total_cny: invoice.total_cny,
            total_myr: payable_in_myr(invoice.totals.payable, invoice.exchange_rate),
            rate: invoice.rate,
            digest: seen.map(|s| s.digest.clone()).unwrap_or_default(),
            issued_at: invoice.issued_at,
            output: String::new(),
            state: State::Written,
            uuid: None,
        }
    }

    /// Whether the document is an invoice written again under its number
    /// (`--reissue`): recorded over its earlier record, not beside it.
    pub fn is_reissue(&self, document: &Document) -> bool {
        self.reissue.contains_key(&document.order_no) && document.kind == Kind::Invoice
    }

    /// Whether earlier runs hold orders.
    pub fn holds_before(&self) -> bool {
        !self.open_holds.is_empty()
    }

    /// Whether an order is held by an earlier run: what is written of it
    /// decides its hold ([`Triage::follow_up_holds_of`], [`Triage::record_documents`]
    /// ask only of these).
    pub fn is_held_before(&self, order_no: &str) -> bool {
        self.open_holds.contains_key(order_no)
    }

    /// What to record once the outputs are in place: the documents written
    /// (see [`Triage::document`]), and the order numbers they invoice.
    pub fn record_documents(
        &self,
        mut documents: Vec<Document>,
        invoiced: &HashSet<&str>,
        issued_at: NaiveDateTime,
        exports: Vec<String>,
        outputs: Vec<String>,
    ) -> RunRecord {
        let reissued = documents.extract_if(.., |d| self.is_reissue(d)).collect();
        let mut run = RunRecord {
            issued_at,
            exports,
            outputs,
            written: documents,
            reissued,
            ..RunRecord::default()
        };
        let mut seen: Vec<(&String, &Seen)> = self.seen.iter().collect();
        seen.sort_by(|a, b| a.0.cmp(b.0));
        for (order_no, s) in seen {
            match s.action {
                Some(StatusAction::Hold) => run.held.push(Hold {
                    order_no: order_no.clone(),
                    status: s.status.clone(),
                    seller: s.seller.clone(),
                    paid_cny: s.paid,
                    export: s.export.clone(),
                    held_at: issued_at,
                }),
                _ if self.open_holds.contains_key(order_no)
                    && settles(s, order_no, invoiced, &self.handled) =>
                {
                    run.settled.push((order_no.clone(), s.status.clone()));
                }
                _ => {}
            }
        }
        run
    }
}

fn kind_of(type_code: &str) -> Kind {
    match type_code {
        "14" => Kind::RefundNote,
        "12" => Kind::CreditNote,
        _ => Kind::Invoice,
    }
}

/// Whether a held order seen this run leaves the holds: invoiced now, closed
/// by the status policy, or dealt with by the register.
fn settles(
    seen: &Seen,
    order_no: &str,
    invoiced: &HashSet<&str>,
    handled: &HashSet<String>,
) -> bool {
    match seen.action {
        Some(StatusAction::Skip) => true,
        Some(StatusAction::Invoice) => invoiced.contains(order_no) || handled.contains(order_no),
        _ => false,
    }
}

fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::CreditNote => "Credit note",
        _ => "Refund note",
    }
}

/// A self-billed refund or credit note of one line for `amount` CNY, in the
/// original's currency and at its rate, referencing it.
struct Note<'a> {
    order: &'a Order,
    original: &'a Document,
    number: &'a str,
    kind: Kind,
    amount: Decimal,
    description: String,
    uuid: String,
}

impl Note<'_> {
    fn build(self, settings: &Settings<'_>) -> Invoice {
        let Note {
            order,
            original,
            number,
            kind,
            amount,
            description,
            uuid,
        } = self;
        let config = settings.config;
        let myr = original.currency == "MYR";
        let in_currency = if myr {
            cents(amount * original.rate)
        } else {
            amount
        };
        let line = Line {
            id: 1,
            classification: config.invoice.classification.clone(),
            description,
            unit_price: in_currency,
            quantity: Decimal::ONE,
            unit: None,
            subtotal: in_currency,
            total_excluding_tax: in_currency,
            tax_amount: Decimal::ZERO,
            country_of_origin: map::COUNTRY_CHINA.into(),
            source_row: order.source.row.unwrap_or_default(),
        };
        // One line of an amount read from the register: no sum to overflow.
        let totals =
            Totals::of(std::slice::from_ref(&line), &[], &[], Decimal::ZERO).unwrap_or_default();
        Invoice {
            number: number.to_string(),
            type_code: kind.type_code().into(),
            version: DOCUMENT_VERSION.into(),
            issued_at: settings.issued_at,
            currency: original.currency.clone().into(),
            exchange_rate: (!myr).then_some(original.rate),
            supplier: std::sync::Arc::new(map::supplier_party(
                order,
                settings.suppliers.get(&order.seller_member),
            )),
            buyer: std::sync::Arc::new(map::buyer_party(config)),
            lines: vec![line],
            charges: Vec::new(),
            discounts: Vec::new(),
            tax_type: config.invoice.tax_type.clone(),
            totals,
            incoterms: config.invoice.incoterms.clone(),
            customs_refs: None,
            rate: original.rate,
            rate_date: None,
            total_cny: amount,
            order_no: order.order_no.clone(),
            source: order.source.clone(),
            references: vec![DocumentReference {
                number: original.number.clone(),
                uuid,
            }],
        }
    }
}
