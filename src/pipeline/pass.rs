//! One pass over the exports, every stage at once: a thread reads orders,
//! this one compares each with the register and maps it as it comes, and
//! workers lay out, check and build each output part as soon as it is full.
//! An order is freed once mapped, an invoice once its part is built: what a
//! run holds is a part or two, and a few facts per order.

use anyhow::{Result, anyhow};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::ConvertOptions;
use super::gather::Checked;
use super::parts::{self, INVOICES_PER_BATCH, PartBuilder, PartPlan, Pending, Rendered};
use super::written::{SharedLines, spool_dir, spool_error};
use crate::finding::{Finding, Findings, InvoicesInError};
use crate::map::{self, Copies, Copy, MapContext, Mapper, RateSource};
use crate::model::{Invoice, Order};
use crate::money::payable_in_myr;
use crate::read::export;
use crate::register::Register;
use crate::register::reconcile::{Settings, Triage};
use crate::write::OutputSet;
use crate::write::template::TemplatePackage;

/// Orders sent from the reading thread at a time.
const ORDERS_PER_MESSAGE: usize = 64;

/// Threads building output parts: part `i` is built by builder `i % BUILDERS`.
const BUILDERS: usize = 2;

/// What the mapping sends a builder.
enum ToBuilder {
    /// A batch of a part's invoices, in order.
    Invoices { part: usize, invoices: Vec<Pending> },
    /// The part has all its invoices.
    Close { part: usize },
}

/// What the stages share for a pass.
pub struct Context<'a> {
    pub options: &'a ConvertOptions,
    pub map: MapContext<'a>,
    pub set: &'a OutputSet,
    pub template: Option<&'a TemplatePackage>,
    pub register: Option<&'a Register>,
    pub settings: Settings<'a>,
}

/// What an earlier pass learned that a pass must know from its first
/// order: copies that differ, and (for `--skip-invalid`) invoices with
/// errors found only after their part was built.
#[derive(Debug, Default)]
pub struct Known {
    /// Order numbers whose copies differ: their copies are gathered and
    /// judged together once all are read.
    pub conflicted: HashSet<String>,
    /// Invoice and order numbers with errors.
    pub bad: InvoicesInError,
}

/// What a pass made, in the stages' order.
pub struct Outcome {
    /// Each export's findings, then the customs file's.
    pub read: Vec<Finding>,
    /// Copies of one order.
    pub copies: Findings,
    pub mapping: Findings,
    pub triage: Triage,
    /// What the register made of the orders: of the `--reissue` orders not
    /// read first, then of each order as it came (most on disk); the
    /// triage's own list holds only what came after the pass.
    pub register_first: Vec<Finding>,
    pub register: Findings,
    /// Rates of a rates file outside the plausible band.
    pub rates: Vec<Finding>,
    /// The parts, in order…
    pub rendered: Vec<Rendered>,
    /// …and their findings.
    pub checked: Findings,
    /// Orders in the exports, readable or not; distinct order numbers read.
    pub orders_seen: usize,
    pub orders_read: usize,
    pub distinct: usize,
    pub held: usize,
    pub skipped: usize,
    /// Invoices made (not notes), and their totals, whether or not written.
    pub invoiced: usize,
    pub notes: usize,
    pub total_cny: Decimal,
    pub total_myr: Decimal,
    /// Order numbers whose copies were found to differ after the first
    /// copy had gone on: the pass must be run again knowing them.
    pub late_conflicts: HashSet<String>,
}

/// Runs a pass.
pub fn run(cx: &Context<'_>, known: &Known) -> Result<Outcome> {
    let checked = Checked::new(spool_dir(&cx.options.output));
    let mut outcome = stream(cx, known, &checked)?;
    outcome.checked = checked.finish().map_err(|e| spool_error(&e))?;
    Ok(outcome)
}

fn stream(cx: &Context<'_>, known: &Known, checked: &Checked) -> Result<Outcome> {
    std::thread::scope(|scope| {
        let (order_tx, orders) = sync_channel::<Vec<Order>>(8);
        let options = cx.options;
        let reader = scope.spawn(move || read_all(options, order_tx));

        let (set, template) = (cx.set, cx.template);
        let mut to_builders = Vec::new();
        let builders: Vec<_> = (0..BUILDERS)
            .map(|_| {
                // A builder that stops drops its receiver: sending to it then
                // fails instead of waiting.
                let (to_builder, batches) = sync_channel::<ToBuilder>(2);
                to_builders.push(to_builder);
                scope.spawn(move || build_parts(options, set, template, checked, batches))
            })
            .collect();

        let mut stream = Stream::new(cx, known, to_builders);
        let streamed = stream.take_all(orders);
        let streamed = streamed.and_then(|()| stream.finish_reading());
        // No more parts, whatever happened: the builders finish what they have.
        stream.builders.clear();
        let Stream {
            copies,
            mapper_counts,
            triage,
            mut collected,
            late_conflicts,
            ..
        } = stream;

        let mut rendered = Vec::new();
        let mut build_error = None;
        for builder in builders {
            match builder.join() {
                Ok(Ok(parts)) => rendered.extend(parts),
                Ok(Err(error)) => build_error = build_error.or(Some(error)),
                Err(_) => {
                    build_error = build_error.or(Some(anyhow!("building the outputs failed")))
                }
            }
        }
        let exports = reader
            .join()
            .unwrap_or_else(|_| Err(anyhow!("reading the exports failed")));
        let exports = first_cause(exports, build_error, streamed)?;
        rendered.sort_by_key(|r| r.index);

        let mut read = Vec::new();
        let mut orders_seen = 0;
        for export in exports {
            orders_seen += export.orders_seen;
            read.extend(export.findings);
        }
        if let Some(customs) = &options.customs {
            // The first error of the order numbers' spill file, if any.
            let failed = std::cell::RefCell::new(None);
            read.extend(customs.unknown_orders(|order| {
                copies.contains(order).unwrap_or_else(|error| {
                    failed.borrow_mut().get_or_insert(error);
                    true
                })
            }));
            if let Some(error) = failed.into_inner() {
                return Err(spool_error(&error));
            }
        }
        collected.read = read;
        let (held, skipped) = mapper_counts;
        Ok(Outcome {
            read: collected.read,
            copies: collected.all_copies,
            mapping: collected.all_mapping,
            triage,
            register_first: collected.register_first,
            register: collected.all_register,
            rates: collected.rates,
            rendered,
            // Once every part is built.
            checked: Findings::default(),
            orders_seen,
            orders_read: collected.orders_read,
            distinct: copies.len(),
            held,
            skipped,
            invoiced: collected.invoiced,
            notes: collected.notes,
            total_cny: collected.total_cny,
            total_myr: collected.total_myr,
            late_conflicts,
        })
    })
}

/// The reading thread was stopped because convert stopped on an error of
/// its own (which is the one to report).
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("convert stopped before the exports were read")
    }
}

impl std::error::Error for Stopped {}

/// What a pass reports when its threads stop on errors: a file that cannot
/// be read, then a part that cannot be built, then what the stream stopped
/// on; the reading thread's being stopped is only a consequence.
fn first_cause<T>(
    read: Result<T>,
    build: Option<anyhow::Error>,
    streamed: Result<()>,
) -> Result<T> {
    match read {
        Err(error) if !error.is::<Stopped>() => Err(error),
        read => {
            if let Some(error) = build {
                return Err(error);
            }
            streamed?;
            read
        }
    }
}

/// The reading thread: every export's orders, a message at a time.
fn read_all(
    options: &ConvertOptions,
    orders: SyncSender<Vec<Order>>,
) -> Result<Vec<export::Export>> {
    let mut exports = Vec::new();
    let stopped = || anyhow::Error::new(Stopped);
    for path in &options.exports {
        let mut batch = Vec::with_capacity(ORDERS_PER_MESSAGE);
        let export = export::stream_export(path, options.encoding, &mut |order| {
            batch.push(order);
            if batch.len() == ORDERS_PER_MESSAGE {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(ORDERS_PER_MESSAGE));
                orders.send(full).map_err(|_| stopped())?;
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            orders.send(batch).map_err(|_| stopped())?;
        }
        exports.push(export);
    }
    Ok(exports)
}

/// A building thread: the batches of its parts, until there are no more,
/// or one fails.
fn build_parts(
    options: &ConvertOptions,
    set: &OutputSet,
    template: Option<&TemplatePackage>,
    checked: &Checked,
    batches: Receiver<ToBuilder>,
) -> Result<Vec<Rendered>> {
    let mut rendered = Vec::new();
    // One file for what this builder's parts write of their invoices.
    let lines = SharedLines::new(spool_dir(&options.output));
    let mut open: Option<PartBuilder> = None;
    for message in batches {
        match message {
            ToBuilder::Invoices { part, invoices } => {
                let builder = match &mut open {
                    Some(builder) if builder.index() == part => builder,
                    _ => open.insert(PartBuilder::new(options, set, template, &lines, part)),
                };
                builder.add(invoices)?;
            }
            ToBuilder::Close { part } => {
                if let Some(builder) = open.take_if(|b| b.index() == part) {
                    let mut part = builder.finish()?;
                    let findings = std::mem::take(&mut part.findings);
                    checked
                        .add(part.index, findings)
                        .map_err(|e| spool_error(&e))?;
                    rendered.push(part);
                }
            }
        }
    }
    Ok(rendered)
}

/// What the stream gathers besides the parts.
#[derive(Default)]
struct Collected {
    read: Vec<Finding>,
    /// An order's findings, as they are made…
    copies: Vec<Finding>,
    mapping: Vec<Finding>,
    /// …and all of them, most on disk.
    all_copies: Findings,
    all_mapping: Findings,
    /// The register's findings of the `--reissue` orders not read, said
    /// before those of the orders read (`all_register`).
    register_first: Vec<Finding>,
    all_register: Findings,
    rates: Vec<Finding>,
    orders_read: usize,
    invoiced: usize,
    notes: usize,
    total_cny: Decimal,
    total_myr: Decimal,
}

/// The orders' way through the register and the mapping, into parts.
struct Stream<'c, 'a> {
    cx: &'c Context<'a>,
    known: &'c Known,
    copies: Copies,
    mapper: Mapper<'c, 'a>,
    /// (held, skipped), once the mapper is done.
    mapper_counts: (usize, usize),
    triage: Triage,
    plan: PartPlan,
    /// The current part's invoices not yet sent to its builder.
    batch: Vec<Pending>,
    builders: Vec<SyncSender<ToBuilder>>,
    /// Copies of orders known to differ, judged together after reading.
    held_back: HashMap<String, Vec<Order>>,
    held_back_order: Vec<String>,
    /// Rates (with their dates) already judged for plausibility.
    rates_seen: HashSet<(Decimal, Option<NaiveDate>)>,
    collected: Collected,
    late_conflicts: HashSet<String>,
}

impl<'c, 'a> Stream<'c, 'a> {
    fn new(cx: &'c Context<'a>, known: &'c Known, builders: Vec<SyncSender<ToBuilder>>) -> Self {
        Stream {
            cx,
            known,
            copies: Copies::spilling_in(spool_dir(&cx.options.output)),
            mapper: Mapper::spilling_in(&cx.map, spool_dir(&cx.options.output)),
            mapper_counts: (0, 0),
            triage: Triage::default(),
            plan: PartPlan::for_output(cx.options),
            batch: Vec::new(),
            builders,
            held_back: HashMap::new(),
            held_back_order: Vec::new(),
            rates_seen: HashSet::new(),
            collected: Collected {
                all_copies: Findings::spooled_in(spool_dir(&cx.options.output)),
                all_mapping: Findings::spooled_in(spool_dir(&cx.options.output)),
                all_register: Findings::spooled_in(spool_dir(&cx.options.output)),
                ..Collected::default()
            },
            late_conflicts: HashSet::new(),
        }
    }

    fn take_all(&mut self, orders: Receiver<Vec<Order>>) -> Result<()> {
        if let Some(register) = self.cx.register {
            self.triage = Triage::open(register)?;
        }
        for batch in orders {
            for order in batch {
                self.take(order)?;
            }
        }
        Ok(())
    }

    fn take(&mut self, order: Order) -> Result<()> {
        let taken = self.take_one(order);
        self.keep_findings()?;
        taken
    }

    /// The findings made so far join the pass's, which keep most on disk.
    fn keep_findings(&mut self) -> Result<()> {
        let collected = &mut self.collected;
        collected
            .all_copies
            .extend(collected.copies.drain(..))
            .and_then(|()| collected.all_mapping.extend(collected.mapping.drain(..)))
            .and_then(|()| {
                collected
                    .all_register
                    .extend(self.triage.findings.drain(..))
            })
            .map_err(|e| spool_error(&e))
    }

    fn take_one(&mut self, order: Order) -> Result<()> {
        self.collected.orders_read += 1;
        if self.known.conflicted.contains(&order.order_no) {
            match self.held_back.get_mut(&order.order_no) {
                Some(copies) => copies.push(order),
                None => {
                    // Noted as seen; what the copies say is said once all are read.
                    self.copies
                        .see(&order, &mut Vec::new())
                        .and_then(|_| self.copies.routed(&order.order_no, false))
                        .map_err(|e| spool_error(&e))?;
                    self.held_back_order.push(order.order_no.clone());
                    self.held_back.insert(order.order_no.clone(), vec![order]);
                }
            }
            return Ok(());
        }
        let copy = self.copies.see(&order, &mut self.collected.copies);
        match copy.map_err(|e| spool_error(&e))? {
            Copy::First => {}
            Copy::Same => return Ok(()),
            Copy::Differs => {
                self.late_conflicts.insert(order.order_no);
                return Ok(());
            }
        }
        let order_no = order.order_no.clone();
        let routed = self.judge(vec![order])?;
        self.copies
            .routed(&order_no, !routed.is_empty())
            .map_err(|e| spool_error(&e))?;
        for order in routed {
            self.map(order)?;
        }
        self.triage.processed(&order_no);
        Ok(())
    }

    /// The register's verdict on an order's copies: those that go on to mapping.
    fn judge(&mut self, copies: Vec<Order>) -> Result<Vec<Order>> {
        match self.cx.register {
            Some(register) => self.triage.judge_group(register, copies, &self.cx.settings),
            None => Ok(copies),
        }
    }

    fn map(&mut self, order: Order) -> Result<()> {
        let before = self.collected.mapping.len();
        let mapped = self.mapper.map(&order, &mut self.collected.mapping);
        let Some(mut invoice) = mapped.map_err(|e| spool_error(&e))? else {
            return Ok(());
        };
        drop(order);
        if let Some(number) = self.triage.reissue_number(&invoice.order_no) {
            invoice.number = number.to_string();
        }
        let bad = InvoicesInError::of(&self.collected.mapping[before..])
            .names(&invoice.number, &invoice.order_no)
            || self.known_bad(&invoice);
        self.collected.invoiced += 1;
        self.collected.total_cny += invoice.total_cny;
        self.collected.total_myr += payable_in_myr(invoice.totals.payable, invoice.exchange_rate);
        if let RateSource::ByDate(_) = self.cx.map.rates
            && self.rates_seen.insert((invoice.rate, invoice.rate_date))
        {
            self.collected.rates.extend(super::implausible_rate(
                invoice.rate,
                invoice.rate_date,
                None,
            ));
        }
        self.dispatch(invoice, bad)
    }

    fn known_bad(&self, invoice: &Invoice) -> bool {
        self.known.bad.names(&invoice.number, &invoice.order_no)
    }

    /// Puts an invoice in its part; its batch goes to the part's builder
    /// once full, and a part to which no more invoices come is closed.
    fn dispatch(&mut self, invoice: Invoice, bad: bool) -> Result<()> {
        let counts = crate::layout::row_counts(std::slice::from_ref(&invoice));
        let previous = self.plan.current();
        let new_part = self
            .plan
            .place(&counts)
            .map_err(|too_big| parts::too_big(self.cx.options, &invoice.number, too_big))?;
        if new_part && let Some(previous) = previous {
            self.close(previous)?;
        }
        let document = self.cx.register.map(|_| self.triage.document(&invoice));
        self.batch.push(Pending {
            invoice,
            bad,
            document,
        });
        if self.batch.len() == INVOICES_PER_BATCH
            && let Some(part) = self.plan.current()
        {
            self.send_batch(part)?;
        }
        Ok(())
    }

    /// Sends the waiting invoices (of `part`) to the part's builder.
    fn send_batch(&mut self, part: usize) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let invoices = std::mem::take(&mut self.batch);
        self.send(part, ToBuilder::Invoices { part, invoices })
    }

    /// Closes a part: its last invoices, and word that no more come.
    fn close(&mut self, part: usize) -> Result<()> {
        self.send_batch(part)?;
        self.send(part, ToBuilder::Close { part })
    }

    fn send(&self, part: usize, message: ToBuilder) -> Result<()> {
        let builder = self
            .builders
            .get(part % BUILDERS)
            .ok_or_else(|| anyhow!("no builder for part {part}"))?;
        // A builder that stopped says why when it is joined.
        builder
            .send(message)
            .map_err(|_| anyhow!("building the outputs stopped"))
    }

    /// Once every order is read: the orders known to differ, the notes,
    /// and the last part.
    fn finish_reading(&mut self) -> Result<()> {
        for order_no in std::mem::take(&mut self.held_back_order) {
            let copies = self.held_back.remove(&order_no).unwrap_or_default();
            let routed = self.judge(copies)?;
            self.copies
                .routed(&order_no, !routed.is_empty())
                .map_err(|e| spool_error(&e))?;
            let kept = map::dedupe(&routed, &mut self.collected.copies);
            let mut routed: Vec<Option<Order>> = routed.into_iter().map(Some).collect();
            for index in kept {
                if let Some(order) = routed[index].take() {
                    self.map(order)?;
                }
            }
            self.triage.processed(&order_no);
        }
        if self.cx.register.is_some() {
            self.keep_findings()?;
            // The `--reissue` orders read (a few, named on the command line).
            let mut read = HashSet::new();
            for order_no in self.cx.settings.reissue.iter() {
                if self
                    .copies
                    .contains(order_no)
                    .map_err(|e| spool_error(&e))?
                {
                    read.insert(order_no.as_str());
                }
            }
            self.triage
                .reissues_absent(&self.cx.settings, |order_no| read.contains(order_no));
            // Said before what the register made of each order.
            self.collected.register_first = std::mem::take(&mut self.triage.findings);
        }
        let notes = std::mem::take(&mut self.triage.notes);
        self.collected.notes = notes.len();
        for note in notes {
            let bad = self.known_bad(&note);
            self.dispatch(note, bad)?;
        }
        if let Some(last) = self.plan.current() {
            self.close(last)?;
        }
        self.mapper_counts = (self.mapper.held, self.mapper.skipped);
        self.keep_findings()?;
        let collected = &mut self.collected;
        collected
            .all_copies
            .seal()
            .and_then(|()| collected.all_mapping.seal())
            .and_then(|()| collected.all_register.seal())
            .map_err(|e| spool_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_reports_the_error_that_stopped_it_not_its_consequences() {
        let cause = |r: Result<u8>| r.unwrap_err().to_string();
        let stopped = || Err(anyhow::Error::new(Stopped));
        // Mapping stopped (an order no sheet holds): the reader was stopped by it.
        assert_eq!(
            cause(first_cause(stopped(), None, Err(anyhow!("too big")))),
            "too big"
        );
        // A part could not be written: the stream's failing send follows from it.
        assert_eq!(
            cause(first_cause(
                stopped(),
                Some(anyhow!("disk full")),
                Err(anyhow!("building the outputs stopped"))
            )),
            "disk full"
        );
        // A damaged export comes first, whatever followed.
        assert_eq!(
            cause(first_cause(
                Err(anyhow!("damaged")),
                Some(anyhow!("disk full")),
                Ok(())
            )),
            "damaged"
        );
        assert_eq!(first_cause(Ok(7), None, Ok(())).unwrap(), 7);
    }
}
