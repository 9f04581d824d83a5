//! The customs file (`convert --customs FILE`, CSV or XLSX): per 1688 order,
//! its Customs Form No.1/9 references, the date customs cleared the goods,
//! and a concession that lets the invoice go without a reference.
//!
//! `order_no,customs_ref,cleared_on,concession`: the header row names the
//! columns; `cleared_on` and `concession` may be left out (the older
//! `order_no,customs_ref` files read as they are). An order may take several
//! rows (several shipments): its references are joined, and the earliest
//! clearance date counts, since LHDN's deadline runs from the first clearance
//! when the supplier's invoice came first (FAQ 73(a)).

use anyhow::{Result, bail};
use calamine::Data;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::path::Path;

use super::grid::{self, Grid};
use super::sheet;
use crate::finding::Finding;
use crate::model::Location;
use crate::model::{Clearance, Concession};
use crate::rules;

/// The columns, as the header row spells them.
pub mod col {
    pub const ORDER_NO: &str = "order_no";
    pub const CUSTOMS_REF: &str = "customs_ref";
    pub const CLEARED_ON: &str = "cleared_on";
    pub const CONCESSION: &str = "concession";
}

const COLUMNS: [&str; 4] = [
    col::ORDER_NO,
    col::CUSTOMS_REF,
    col::CLEARED_ON,
    col::CONCESSION,
];

/// LHDN's limit for one invoice's references, joined (template row 2; SDK).
pub const MAX_REFS_CHARS: usize = 1000;

/// A customs file, read: each order's clearance.
#[derive(Debug, Clone, Default)]
pub struct Customs {
    pub file: String,
    /// Order number → clearance, for every order the file names.
    pub orders: HashMap<String, Clearance>,
    /// Order numbers in the order the file first names them.
    order_list: Vec<String>,
}

impl Customs {
    /// Customs information built directly, in file order.
    pub fn new(file: impl Into<String>, orders: Vec<(String, Clearance)>) -> Customs {
        Customs {
            file: file.into(),
            order_list: orders.iter().map(|(order, _)| order.clone()).collect(),
            orders: orders.into_iter().collect(),
        }
    }

    pub fn get(&self, order_no: &str) -> Option<&Clearance> {
        self.orders.get(order_no)
    }

    /// A warning for each order of the file that `is_known` does not know
    /// (no export read contains it), at its row.
    pub fn unknown_orders(&self, is_known: impl Fn(&str) -> bool) -> Vec<Finding> {
        self.order_list
            .iter()
            .filter(|order| !is_known(order))
            .map(|order| {
                Finding::new(
                    &rules::CUSTOMS_UNKNOWN_ORDER,
                    format!("order {order} is in the customs file but in none of the exports read"),
                )
                .hint(
                    "Check the order number against 1688, or also convert the export that holds \
                     the order; the row is not used",
                )
                .at(&self.orders[order].source)
                .column(col::ORDER_NO)
                .value(order)
            })
            .collect()
    }
}

/// Reads a customs file: CSV (UTF-8 or GB18030) or the first sheet of a workbook.
pub fn read_customs(path: &Path) -> Result<Customs> {
    let grid = sheet::open_first_sheet(path, &|_, _| Ok(None), None)?;
    parse_customs(&grid)
}

/// Parses a customs file already opened as a grid.
pub fn parse_customs(grid: &Grid) -> Result<Customs> {
    let where_ = match &grid.sheet {
        Some(sheet) => format!("{}, sheet {sheet}", grid.file),
        None => grid.file.clone(),
    };
    let expected = format!(
        "the first row must name the columns: {} (cleared_on and concession may be left out)",
        COLUMNS.join(",")
    );
    let mut rows = grid
        .rows
        .iter()
        .filter(|r| !r.cells.iter().all(grid::is_blank));
    let Some(header) = rows.next() else {
        bail!("{where_}: the customs file is empty; {expected}");
    };
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (position, cell) in header.cells.iter().enumerate() {
        let name = grid::cell_text(cell).trim().to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        match COLUMNS.iter().find(|c| **c == name) {
            Some(column) => {
                index.insert(*column, position);
            }
            None => bail!(
                "{where_}: row {}: unknown column {name:?}; {expected}",
                header.number
            ),
        }
    }
    for required in [col::ORDER_NO, col::CUSTOMS_REF] {
        if !index.contains_key(required) {
            bail!(
                "{where_}: row {}: no {required} column; {expected}",
                header.number
            );
        }
    }

    let location = Location::new(grid.file.clone(), grid.sheet.clone(), None);
    let mut customs = Customs {
        file: grid.file.clone(),
        ..Customs::default()
    };
    for row in rows {
        let cell = |column: &str| -> &Data {
            index
                .get(column)
                .and_then(|&i| row.cells.get(i))
                .unwrap_or(&Data::Empty)
        };
        let at = |column: &str, value: &str| {
            format!(
                "{where_}: row {}, column {column}, value {value:?}",
                row.number
            )
        };
        let order_no = match cell(col::ORDER_NO) {
            Data::Float(_) | Data::Int(_) => bail!(
                "{}: the order number is stored as a number, which loses digits; format the \
                 column as Text and type the order numbers again (or copy them from the export)",
                at(col::ORDER_NO, &grid::cell_text(cell(col::ORDER_NO)))
            ),
            other => grid::cell_text(other),
        };
        if order_no.is_empty() {
            bail!(
                "{where_}: row {}, column {}: no order number; every row names the 1688 order \
                 (订单编号) it is for",
                row.number,
                col::ORDER_NO
            );
        }
        let refs_text = grid::cell_text(cell(col::CUSTOMS_REF));
        let mut refs = Vec::new();
        for reference in refs_text
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            if reference.contains(char::is_whitespace) {
                bail!(
                    "{}: the reference {reference:?} holds a space; LHDN takes Customs Form \
                     numbers without spaces, several joined by commas (E12345678912,E23456789123)",
                    at(col::CUSTOMS_REF, &refs_text)
                );
            }
            refs.push(reference.to_string());
        }
        let cleared_on = match cell(col::CLEARED_ON) {
            c if grid::is_blank(c) => None,
            c => Some(clearance_date(c).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: not a date; write the customs clearance date as yyyy-mm-dd, e.g. 2026-10-14",
                    at(col::CLEARED_ON, &grid::cell_text(c))
                )
            })?),
        };
        let concession_text = grid::cell_text(cell(col::CONCESSION));
        let concession = if concession_text.is_empty() {
            None
        } else {
            Some(Concession::parse(&concession_text).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: not a concession LHDN grants; leave it empty, or write e-PAM (low-value \
                     goods declared under e-PAM, FAQ 83) or LCL (shared-container shipment, FAQ 84)",
                    at(col::CONCESSION, &concession_text)
                )
            })?)
        };

        let entry = customs.orders.entry(order_no.clone()).or_insert_with(|| {
            customs.order_list.push(order_no.clone());
            Clearance {
                source: location.with_row(row.number),
                ..Clearance::default()
            }
        });
        for reference in refs {
            if !entry.refs.contains(&reference) {
                entry.refs.push(reference);
            }
        }
        if let Some(date) = cleared_on {
            entry.cleared_on = Some(entry.cleared_on.map_or(date, |d| d.min(date)));
        }
        match (entry.concession, concession) {
            (Some(first), Some(this)) if first != this => bail!(
                "{}: order {order_no} already has the concession {} on row {}; an order has one",
                at(col::CONCESSION, &concession_text),
                first.as_str(),
                entry.source.row.unwrap_or_default()
            ),
            (None, Some(this)) => entry.concession = Some(this),
            _ => {}
        }
        let joined = entry.refs.join(",").chars().count();
        if joined > MAX_REFS_CHARS {
            bail!(
                "{}: order {order_no}'s references come to {joined} characters joined; LHDN \
                 allows {MAX_REFS_CHARS}",
                at(col::CUSTOMS_REF, &refs_text)
            );
        }
    }
    Ok(customs)
}

/// A clearance date: a date cell, an Excel serial, or text such as
/// `2026-10-14` or `2026/10/14` (a time of day is ignored).
fn clearance_date(cell: &Data) -> Option<NaiveDate> {
    grid::cell_datetime(cell).ok().map(|d| d.date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::grid::GridRow;

    fn grid(lines: &[&[&str]]) -> Grid {
        Grid {
            file: "customs.csv".into(),
            sheet: None,
            rows: lines
                .iter()
                .enumerate()
                .map(|(i, cells)| GridRow {
                    number: i as u32 + 1,
                    cells: cells
                        .iter()
                        .map(|c| {
                            if c.is_empty() {
                                Data::Empty
                            } else {
                                Data::String(c.to_string())
                            }
                        })
                        .collect(),
                    ..GridRow::default()
                })
                .collect(),
            ragged: Vec::new(),
        }
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn reads_the_older_two_column_form() {
        let customs = parse_customs(&grid(&[
            &["order_no", "customs_ref"],
            &["1", "K1-1, K1-2"],
            &["2", "K1-9"],
            &["1", "K1-3"],
        ]))
        .unwrap();
        let one = customs.get("1").unwrap();
        assert_eq!(one.refs_joined().as_deref(), Some("K1-1,K1-2,K1-3"));
        assert_eq!(one.source.row, Some(2));
        assert_eq!(one.cleared_on, None);
        assert_eq!(customs.get("2").unwrap().refs, ["K1-9"]);
    }

    #[test]
    fn reads_clearance_dates_and_concessions() {
        let customs = parse_customs(&grid(&[
            &["Order_No", "customs_ref", "cleared_on", "concession"],
            &["1", "E1,E2", "2026-10-14", ""],
            &["1", "E3", "2026/09/30", ""],
            &["2", "", "2026-10-01", "e-PAM"],
            &["3", "", "", "lcl"],
        ]))
        .unwrap();
        let one = customs.get("1").unwrap();
        assert_eq!(one.refs, ["E1", "E2", "E3"]);
        // Several shipments: the first clearance counts.
        assert_eq!(one.cleared_on, Some(date("2026-09-30")));
        assert_eq!(customs.get("2").unwrap().concession, Some(Concession::EPam));
        assert_eq!(customs.get("2").unwrap().refs_joined(), None);
        assert_eq!(customs.get("3").unwrap().concession, Some(Concession::Lcl));
    }

    #[test]
    fn date_cells_are_dates() {
        let mut g = grid(&[&["order_no", "customs_ref", "cleared_on"], &["1", "E1", ""]]);
        // 2026-10-14 as an Excel serial.
        g.rows[1].cells[2] = Data::Float(46309.0);
        let customs = parse_customs(&g).unwrap();
        assert_eq!(
            customs.get("1").unwrap().cleared_on,
            Some(date("2026-10-14"))
        );
    }

    #[test]
    fn refuses_what_it_cannot_take_naming_the_cell() {
        let cases: [(&[&[&str]], &[&str]); 7] = [
            (
                &[&["order_no", "customs_ref"], &["1", "E1 234"]],
                &["row 2", "column customs_ref", "space"],
            ),
            (
                &[
                    &["order_no", "customs_ref", "cleared_on"],
                    &["1", "E1", "soon"],
                ],
                &["row 2", "column cleared_on", "\"soon\"", "yyyy-mm-dd"],
            ),
            (
                &[
                    &["order_no", "customs_ref", "concession"],
                    &["1", "", "DDP"],
                ],
                &["row 2", "column concession", "\"DDP\"", "e-PAM", "LCL"],
            ),
            (
                &[&["order_no", "customs_ref", "cleared_at"]],
                &["row 1", "unknown column \"cleared_at\""],
            ),
            (&[&["order_no", "cleared_on"]], &["no customs_ref column"]),
            (&[], &["empty"]),
            (
                &[
                    &["order_no", "customs_ref", "concession"],
                    &["1", "", "LCL"],
                    &["1", "", "e-PAM"],
                ],
                &["row 3", "already has the concession LCL on row 2"],
            ),
        ];
        for (lines, expected) in cases {
            let err = parse_customs(&grid(lines)).unwrap_err().to_string();
            assert!(err.starts_with("customs.csv"), "{err}");
            for part in expected {
                assert!(err.contains(part), "{part:?} not in {err}");
            }
        }
        let long: Vec<String> = (0..100).map(|i| format!("E{i:09}")).collect();
        let long = long.join(",");
        let err = parse_customs(&grid(&[&["order_no", "customs_ref"], &["1", &long]]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1099 characters") && err.contains("1000"),
            "{err}"
        );
        let mut g = grid(&[&["order_no", "customs_ref"], &["", "E1"]]);
        g.rows[1].cells[0] = Data::Float(2.42010123456754e18);
        let err = parse_customs(&g).unwrap_err().to_string();
        assert!(err.contains("stored as a number"), "{err}");
    }

    #[test]
    fn names_orders_no_export_contains() {
        let customs = parse_customs(&grid(&[
            &["order_no", "customs_ref"],
            &["1", "E1"],
            &["404", "E2"],
        ]))
        .unwrap();
        let findings = customs.unknown_orders(|order| order == "1");
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(finding.rule, &rules::CUSTOMS_UNKNOWN_ORDER);
        assert_eq!(finding.value.as_deref(), Some("404"));
        assert_eq!(finding.row, Some(3));
        assert_eq!(finding.column.as_deref(), Some("order_no"));
        assert_eq!(finding.file.as_deref(), Some("customs.csv"));
    }
}
