//! Reading a 1688 buyer order export (我的订单 → 导出) into orders.
//!
//! One row per order line; order-level cells only on an order's first row
//! (continuation rows have a blank 订单编号, and in the xlsx the order cells
//! are merged over the order's rows). Columns are found by name, never by
//! position, after normalising the header text.

use anyhow::{Result, bail};
use calamine::Data;
use rust_decimal::Decimal;
use std::cell::Cell;
use std::path::Path;

use super::grid::{self, CellProblem, Grid, GridRow};
use super::sheet::{self, ColumnPlan};
use super::text::{self, TextEncoding};
use crate::finding::Finding;
use crate::model::{Location, Order, OrderLine, export_columns as col};
use crate::rules::{self, Rule};

const REQUIRED: [&str; 13] = [
    col::ORDER_NO,
    col::SELLER_COMPANY,
    col::SELLER_MEMBER,
    col::GOODS_TOTAL,
    col::SHIPPING,
    col::ADJUSTMENT,
    col::PAID,
    col::STATUS,
    col::PAID_AT,
    col::TITLE,
    col::UNIT_PRICE,
    col::QUANTITY,
    col::UNIT,
];

/// How far down the header row may be (title rows above it are tolerated).
const HEADER_SEARCH_ROWS: usize = 10;

/// What reading an export gives: the orders that could be read, and findings
/// for the rows that could not (those orders are left out).
#[derive(Debug, Default)]
pub struct Export {
    pub file: String,
    pub orders: Vec<Order>,
    pub findings: Vec<Finding>,
    /// Orders seen, readable or not.
    pub orders_seen: usize,
}

/// The columns read, in the order of their slots in the rows kept.
const READ: [&str; 15] = [
    col::ORDER_NO,
    col::SELLER_COMPANY,
    col::SELLER_MEMBER,
    col::GOODS_TOTAL,
    col::SHIPPING,
    col::ADJUSTMENT,
    col::PAID,
    col::STATUS,
    col::PAID_AT,
    col::TITLE,
    col::UNIT_PRICE,
    col::QUANTITY,
    col::UNIT,
    col::MODEL,
    col::CREATED_AT,
];

/// Stop reading an export after this many problems: it is not a 1688
/// export, and listing more helps nobody.
const MAX_PROBLEMS: usize = 10_000;

/// Header text as 1688 (and Excel re-saves) may spell it, reduced to one form:
/// trimmed, invisible characters (BOM, zero-width) dropped, full-width （）：
/// made half-width, spaces dropped.
pub fn normalise_header(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !text::is_invisible(*c))
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            '：' => ':',
            other => other,
        })
        .collect()
}

/// Reads the first sheet of an export file (xlsx, xls or CSV) into its
/// orders. See [`stream_export`].
pub fn read_export(path: &Path, encoding: Option<TextEncoding>) -> Result<Export> {
    let mut orders = Vec::new();
    let mut export = stream_export(path, encoding, &mut |order| {
        orders.push(order);
        Ok(())
    })?;
    export.orders = orders;
    Ok(export)
}

/// Reads the first sheet of an export file (xlsx, xls or CSV), giving each
/// order to `sink` as soon as its last line is read. Once the header is
/// among the first rows, only the columns read are kept, and each row
/// becomes part of an order as it is read: no grid of the sheet is held, and
/// no order once it is given. The export returned has no orders: they went
/// to `sink`. An error from `sink` stops the reading.
pub fn stream_export(
    path: &Path,
    encoding: Option<TextEncoding>,
    sink: &mut dyn FnMut(Order) -> Result<()>,
) -> Result<Export> {
    let header: Cell<Option<Header>> = Cell::new(None);
    let plan = |where_: &str, rows: &[GridRow]| -> Result<Option<ColumnPlan>> {
        let Some(found) = find_header(rows, where_)? else {
            return Ok(None);
        };
        let columns = map_columns(&found, where_)?;
        header.set(Some(Header {
            row: found.row,
            width: found.names.len(),
        }));
        Ok(Some(ColumnPlan {
            columns,
            width: found.names.len(),
        }))
    };
    let mut parser: Option<ExportParser> = None;
    // The parser, made at the first row after the header, takes the sink.
    let mut sink = Some(sink);
    let mut parse = |place: &Location, row: GridRow| -> Result<()> {
        let parser = match (&mut parser, sink.take()) {
            (Some(parser), _) => parser,
            (None, Some(sink)) => parser.insert(ExportParser::new(place, header.get(), sink)),
            (None, None) => bail!("{place}: the export's rows were read twice"),
        };
        parser.row(&row)
    };
    let read = sheet::read_first_sheet(path, &plan, encoding, &mut parse);
    let (grid, parsed) = match read {
        Ok(grid) => (grid, Ok(())),
        // A parse error still leaves the sheet's shape to judge by.
        Err(sheet::ReadError::Rows { grid, error }) => (grid, Err(error)),
        Err(sheet::ReadError::Sheet(error)) => return Err(error),
    };
    let where_ = grid_place(&grid);
    let Some(header) = header.take() else {
        if grid.is_empty() {
            bail!(
                "{where_}: the sheet is empty; export the orders again from 1688 (我的订单 → 导出)"
            );
        }
        return Err(no_header(&grid.rows, &where_));
    };
    // A CSV row with cells past the header's last column was not saved as
    // one table: its cells cannot be trusted to sit under their headers.
    if grid.sheet.is_none() && !grid.ragged.is_empty() {
        let ragged = &grid.ragged;
        let shown: Vec<String> = ragged.iter().take(10).map(u32::to_string).collect();
        bail!(
            "{where_}: line{} {}{} {} more cells than the header (line {}, {} columns); \
             the file is damaged or was not saved as one table: save the export again as CSV from Excel",
            if ragged.len() > 1 { "s" } else { "" },
            shown.join(", "),
            if ragged.len() > 10 { " …" } else { "" },
            if ragged.len() > 1 { "have" } else { "has" },
            header.row,
            header.width
        );
    }
    parsed?;
    Ok(match parser {
        Some(parser) => parser.finish()?,
        None => Export {
            file: grid.file,
            ..Export::default()
        },
    })
}

fn grid_place(grid: &Grid) -> String {
    match &grid.sheet {
        Some(sheet) => format!("{}, sheet {sheet}", grid.file),
        None => grid.file.clone(),
    }
}

/// Where the header is, as planned: its row, and how many cells it has.
#[derive(Debug, Clone, Copy)]
struct Header {
    row: u32,
    width: usize,
}

/// The kept cells of a row, by the names in [`READ`].
struct Columns;

impl Columns {
    fn get<'a>(&self, row: &'a [Data], name: &str) -> &'a Data {
        READ.iter()
            .position(|n| *n == name)
            .and_then(|i| row.get(i))
            .unwrap_or(&Data::Empty)
    }
}

/// Orders made of an export's rows as they are read, the header planned:
/// the rows hold the columns of [`READ`], in that order.
struct ExportParser<'s> {
    /// The header's row; rows up to it are not orders.
    header_row: u32,
    location: Location,
    where_: String,
    export: Export,
    current: Option<OrderBuilder>,
    /// Where each order read goes.
    sink: &'s mut dyn FnMut(Order) -> Result<()>,
}

impl<'s> ExportParser<'s> {
    fn new(
        place: &Location,
        header: Option<Header>,
        sink: &'s mut dyn FnMut(Order) -> Result<()>,
    ) -> ExportParser<'s> {
        ExportParser {
            header_row: header.map_or(0, |h| h.row),
            location: Location::new(place.file.clone(), place.sheet.clone(), None),
            // "file, sheet S": the place has no row.
            where_: place.to_string(),
            export: Export {
                file: place.file.clone(),
                ..Export::default()
            },
            current: None,
            sink,
        }
    }

    fn row(&mut self, grid_row: &GridRow) -> Result<()> {
        let (row, cells) = (grid_row.number, grid_row.cells.as_slice());
        // Only the columns read count: a row with cells elsewhere only is
        // not an order line.
        if row <= self.header_row || cells.iter().all(grid::is_blank) {
            return Ok(());
        }
        let columns = Columns;
        let at = self.location.with_row(row);
        let order_cell = columns.get(cells, col::ORDER_NO);
        if grid::is_blank(order_cell) {
            match self.current.as_mut() {
                Some(order) => order.add_line(&columns, cells, &at),
                None => self.export.findings.push(
                    Finding::new(
                        &rules::EXPORT_ORPHAN_LINE,
                        "a line with no 订单编号 and no order above it",
                    )
                    .hint(
                        "Each continuation line belongs to the order above it; \
                         check that the first rows were not deleted or sorted away",
                    )
                    .at(&at)
                    .column(col::ORDER_NO),
                ),
            }
        } else {
            if let Some(order) = self.current.take() {
                self.give(order)?;
            }
            self.current = Some(OrderBuilder::start(&columns, cells, &at));
        }
        if self.export.findings.len() > MAX_PROBLEMS {
            let first = &self.export.findings[0];
            bail!(
                "{}: more than {MAX_PROBLEMS} cells cannot be read by row {row}; this does \
                 not look like a 1688 buyer export (the first: row {}, column {}: {}); export the \
                 orders again from 1688 (我的订单 → 导出)",
                self.where_,
                first.row.unwrap_or_default(),
                first.column.as_deref().unwrap_or("-"),
                first.message
            );
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Export> {
        if let Some(order) = self.current.take() {
            self.give(order)?;
        }
        Ok(self.export)
    }

    /// Counts a finished order and gives it to the sink, unless a cell of
    /// it could not be read (its findings say which).
    fn give(&mut self, builder: OrderBuilder) -> Result<()> {
        self.export.orders_seen += 1;
        let readable = !builder.findings.iter().any(Finding::is_error);
        self.export.findings.extend(builder.findings);
        if readable {
            let mut order = builder.order;
            order.lines.shrink_to_fit();
            (self.sink)(order)?;
        }
        Ok(())
    }
}

/// A header row: its number and its cells, normalised.
struct FoundHeader {
    row: u32,
    names: Vec<String>,
}

fn header_names(row: &GridRow) -> Vec<String> {
    row.cells
        .iter()
        .map(|c| normalise_header(&grid::cell_text(c)))
        .collect()
}

/// The header among the first rows: `None` while it may still come, an
/// error once [`HEADER_SEARCH_ROWS`] rows have none, or when the file is
/// the seller's report.
fn find_header(rows: &[GridRow], where_: &str) -> Result<Option<FoundHeader>> {
    for row in rows.iter().take(HEADER_SEARCH_ROWS) {
        let names = header_names(row);
        if names.iter().any(|h| h == col::ORDER_NO) {
            return Ok(Some(FoundHeader {
                row: row.number,
                names,
            }));
        }
        if names.iter().any(|h| h == "订单号")
            && names
                .iter()
                .any(|h| h == "买家公司名称" || h.starts_with("商家改价"))
        {
            bail!(
                "{where_}, row {}: this is the 1688 seller (卖家) order report, not the buyer \
                 export; download the buyer export from 我的订单 → 导出 on 1688",
                row.number
            );
        }
    }
    if rows.len() >= HEADER_SEARCH_ROWS {
        return Err(no_header(rows, where_));
    }
    Ok(None)
}

/// No header in the first rows: say so, and name the row that looks most
/// like one, with the header nearest to 订单编号.
fn no_header(rows: &[GridRow], where_: &str) -> anyhow::Error {
    let likely = rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .map(|row| {
            let names = header_names(row);
            let known = READ
                .iter()
                .filter(|n| names.iter().any(|h| h == *n))
                .count();
            (known, row.number, names)
        })
        .filter(|(known, _, _)| *known > 0)
        .max_by_key(|(known, number, _)| (*known, std::cmp::Reverse(*number)));
    match likely {
        Some((_, number, names)) => {
            let near = match closest(col::ORDER_NO, &names) {
                Some((near, c)) => format!(
                    "; the closest header is {near:?} in column {}",
                    grid::column_letters(c)
                ),
                None => String::new(),
            };
            anyhow::anyhow!(
                "{where_}, row {number}: this looks like the header row but has no 订单编号 \
                 column{near}; rename the column to 订单编号, or export the orders again from \
                 1688 (我的订单 → 导出)"
            )
        }
        None => anyhow::anyhow!(
            "{where_}: no header row with 订单编号 in the first {HEADER_SEARCH_ROWS} rows; this \
             does not look like a 1688 buyer order export (我的订单 → 导出)"
        ),
    }
}

/// The file column of each column read, in the order of [`READ`]; an error
/// naming what is missing (with the closest header) or given twice.
fn map_columns(header: &FoundHeader, where_: &str) -> Result<Vec<Option<usize>>> {
    let headers = &header.names;
    let mut columns = Vec::with_capacity(READ.len());
    let mut missing = Vec::new();
    for name in READ {
        // A header without its (元) suffix is the same column.
        let bare = name.trim_end_matches("(元)");
        let found: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| *h == name || *h == bare)
            .map(|(i, _)| i)
            .collect();
        if let [first, second, ..] = found.as_slice() {
            bail!(
                "{where_}, header row {}: {name} is in two columns, {} ({:?}) and {} ({:?}); \
                 selfbill cannot tell which one holds the amounts: delete or rename one of them",
                header.row,
                grid::column_letters(*first),
                headers[*first],
                grid::column_letters(*second),
                headers[*second],
            );
        }
        if found.is_empty() && REQUIRED.contains(&name) {
            missing.push(name);
        }
        columns.push(found.first().copied());
    }
    if !missing.is_empty() {
        let described: Vec<String> = missing
            .iter()
            .map(|name| match closest(name, headers) {
                Some((near, c)) => format!(
                    "{name} (closest header found: {near}, column {})",
                    grid::column_letters(c)
                ),
                None => name.to_string(),
            })
            .collect();
        bail!(
            "{where_}, header row {}: missing column{} {}; export the orders again \
             from 1688 (我的订单 → 导出) with all columns",
            header.row,
            if missing.len() > 1 { "s" } else { "" },
            described.join(", ")
        );
    }
    Ok(columns)
}

/// The header nearest to `name` by edit distance, and its column, when it
/// is near enough to help.
fn closest<'a>(name: &str, headers: &'a [String]) -> Option<(&'a str, usize)> {
    headers
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty() && h.chars().count() <= 64)
        .map(|(c, h)| (edit_distance(name, h), h, c))
        .filter(|(d, _, _)| *d <= name.chars().count().max(2) / 2 + 1)
        .min_by_key(|(d, _, c)| (*d, *c))
        .map(|(_, h, c)| (h.as_str(), c))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

struct OrderBuilder {
    order: Order,
    findings: Vec<Finding>,
}

impl OrderBuilder {
    fn start(columns: &Columns, cells: &[Data], at: &Location) -> Self {
        let mut findings = Vec::new();
        let order_no = read_order_no(columns.get(cells, col::ORDER_NO), at, &mut findings);
        let mut amount = |name: &'static str| {
            read_amount(columns.get(cells, name), name, at, &order_no, &mut findings)
        };
        let goods_total = amount(col::GOODS_TOTAL);
        let shipping = amount(col::SHIPPING);
        let adjustment = amount(col::ADJUSTMENT);
        let paid = amount(col::PAID);
        let status = grid::cell_text(columns.get(cells, col::STATUS));
        if status.is_empty() {
            findings.push(cell_error(
                &rules::EXPORT_BAD_CELL,
                at,
                col::STATUS,
                "",
                &order_no,
                "订单状态 is empty",
                "Fill in the order status as 1688 shows it, or export again",
            ));
        }
        let paid_at = match grid::cell_datetime(columns.get(cells, col::PAID_AT)) {
            Ok(value) => Some(value),
            Err(CellProblem::Empty) => None,
            Err(_) => {
                let shown = grid::cell_text(columns.get(cells, col::PAID_AT));
                findings.push(cell_error(
                    &rules::EXPORT_BAD_CELL,
                    at,
                    col::PAID_AT,
                    &shown,
                    &order_no,
                    &format!("订单付款时间 {shown:?} is not a date"),
                    "Use yyyy-mm-dd hh:mm:ss, a date cell, or leave it blank for unpaid orders",
                ));
                None
            }
        };
        let mut builder = OrderBuilder {
            order: Order {
                seller_company: grid::cell_text(columns.get(cells, col::SELLER_COMPANY)),
                seller_member: grid::cell_text(columns.get(cells, col::SELLER_MEMBER)),
                goods_total,
                shipping,
                adjustment,
                paid,
                status,
                paid_at,
                lines: Vec::new(),
                source: at.clone(),
                order_no,
            },
            findings,
        };
        builder.add_line(columns, cells, at);
        builder
    }

    fn add_line(&mut self, columns: &Columns, cells: &[Data], at: &Location) {
        let order_no = self.order.order_no.clone();
        let title = grid::cell_text(columns.get(cells, col::TITLE));
        if title.is_empty() {
            self.findings.push(cell_error(
                &rules::EXPORT_BAD_CELL,
                at,
                col::TITLE,
                "",
                &order_no,
                "货品标题 is empty",
                "Every order line needs its product title; export the order again",
            ));
        }
        let unit_price = read_amount(
            columns.get(cells, col::UNIT_PRICE),
            col::UNIT_PRICE,
            at,
            &order_no,
            &mut self.findings,
        );
        let quantity = read_amount(
            columns.get(cells, col::QUANTITY),
            col::QUANTITY,
            at,
            &order_no,
            &mut self.findings,
        );
        self.order.lines.push(OrderLine {
            title,
            model: grid::cell_text(columns.get(cells, col::MODEL)),
            unit_price,
            quantity,
            unit: grid::cell_text(columns.get(cells, col::UNIT)),
            row: at.row.unwrap_or_default(),
        });
    }
}

fn read_order_no(cell: &Data, at: &Location, findings: &mut Vec<Finding>) -> String {
    // A BOM or zero-width space copied along would make another invoice number.
    let text = text::strip_invisible(&grid::cell_text(cell))
        .trim()
        .to_string();
    let numeric = matches!(cell, Data::Float(_) | Data::Int(_));
    let scientific =
        text.contains(['e', 'E']) && text.chars().next().is_some_and(|c| c.is_ascii_digit());
    if numeric || scientific {
        findings.push(cell_error(
            &rules::EXPORT_ORDER_NUMBER_NOT_TEXT,
            at,
            col::ORDER_NO,
            &text,
            &text,
            &format!(
                "订单编号 {text:?} arrived as a number; 1688 order numbers have 18-19 digits and \
                 digits are lost once a spreadsheet stores them as numbers"
            ),
            "Use the export as downloaded from 1688, or format the 订单编号 column as Text before \
             saving; selfbill will not guess the lost digits",
        ));
    }
    text
}

fn read_amount(
    cell: &Data,
    column: &'static str,
    at: &Location,
    order_no: &str,
    findings: &mut Vec<Finding>,
) -> Decimal {
    match grid::cell_amount(cell) {
        Ok(value) => value,
        Err(problem) => {
            let shown = grid::cell_text(cell);
            let why = match problem {
                CellProblem::Empty => format!("{column} is empty"),
                CellProblem::Scientific => {
                    format!("{column} {shown:?} is in scientific notation")
                }
                CellProblem::TooLarge => {
                    format!("{column} {shown:?} is implausibly large (over 1,000,000,000,000)")
                }
                _ => format!("{column} {shown:?} is not a number"),
            };
            findings.push(cell_error(
                &rules::EXPORT_BAD_CELL,
                at,
                column,
                &shown,
                order_no,
                &why,
                "Enter the amount as a plain number such as 1234.50 (¥ and thousands commas are fine)",
            ));
            Decimal::ZERO
        }
    }
}

fn cell_error(
    rule: &'static Rule,
    at: &Location,
    column: &str,
    value: &str,
    order_no: &str,
    why: &str,
    hint: &str,
) -> Finding {
    let mut finding = Finding::new(rule, why)
        .hint(hint.to_string())
        .at(at)
        .column(column)
        .value(value);
    if !order_no.is_empty() {
        finding = finding.invoice(order_no);
    }
    finding
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_header_variants() {
        assert_eq!(normalise_header(" 实付款（元） "), "实付款(元)");
        assert_eq!(normalise_header("货品 总价(元)"), "货品总价(元)");
        assert_eq!(normalise_header("发票：购货单位名称"), "发票:购货单位名称");
    }

    #[test]
    fn suggests_the_closest_header() {
        let headers = vec!["订单编码".to_string(), "实付款(元)".to_string()];
        assert_eq!(closest("订单编号", &headers), Some(("订单编码", 0)));
        assert_eq!(closest("货品标题", &headers), None);
    }
}
