//! No panic on any input: property tests over generated cells, files and bytes,
//! through the export reader, the workbook reader and every later stage.
//! `PROPTEST_CASES=20000 cargo test --release --test cli fuzz::` runs a longer session.

use proptest::prelude::*;
use rust_decimal::Decimal;
use selfbill::batch::template;
use selfbill::config::{Config, SupplierDirectory};
use selfbill::map::{MapContext, RateSource, map_orders};
use std::path::Path;

fn cell_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("2420101234567540001".to_string()),
        Just("交易成功".to_string()),
        Just("退款中".to_string()),
        Just("交易关闭".to_string()),
        Just("个".to_string()),
        Just("¥1,234.50".to_string()),
        Just("-0.125".to_string()),
        Just("1.2E+3".to_string()),
        Just("99999999999999999999999999".to_string()),
        Just("2024-10-10 09:17:05".to_string()),
        Just("2024/2/30 25:61".to_string()),
        Just("034".to_string()),
        Just("EI00000000030".to_string()),
        "[0-9]{1,6}(\\.[0-9]{1,4})?",
        "\\PC{0,12}",
        any::<String>(),
    ]
}

fn config() -> Config {
    Config::parse(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/selfbill.toml"),
        )
        .unwrap(),
    )
    .unwrap()
}

/// Everything after reading: map, lay out, check, build the workbook.
fn run_pipeline(orders: &[selfbill::model::Order]) {
    let config = config();
    let suppliers = SupplierDirectory::default();
    let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mapped = map_orders(
        orders,
        &MapContext {
            config: &config,
            suppliers: &suppliers,
            rates: RateSource::Fixed(Decimal::new(6097, 4)),
            issued_at: now,
            customs: None,
            svdp: false,
        },
    );
    let batch = selfbill::layout::lay_out("fuzz.xlsx", &mapped.invoices);
    let _ = selfbill::check::check_batch(&batch, now);
    let template = selfbill::write::template::TemplatePackage::embedded().unwrap();
    selfbill::write::xlsx::workbook_bytes(&template, &batch).unwrap();
    let _ = selfbill::write::csv::sheet_files(&batch).unwrap();
}

fn grid() -> impl Strategy<Value = (Vec<String>, Vec<Vec<String>>)> {
    let header = proptest::sample::subsequence(crate::common::EXPORT_HEADER.to_vec(), 10..=15)
        .prop_map(|h| h.into_iter().map(str::to_string).collect::<Vec<_>>())
        .prop_shuffle();
    (
        header,
        proptest::collection::vec(proptest::collection::vec(cell_text(), 0..18), 0..14),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn any_csv_export_reads_without_panic((header, rows) in grid()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.csv");
        let mut writer = csv::Writer::from_path(&path).unwrap();
        writer.write_record(&header).unwrap();
        for row in &rows {
            let mut row = row.clone();
            row.resize(header.len(), String::new());
            writer.write_record(&row).unwrap();
        }
        writer.flush().unwrap();
        match selfbill::read::export::read_export(&path, None) {
            Ok(export) => run_pipeline(&export.orders),
            Err(error) => prop_assert!(!caught_panic(&error), "{error:#}"),
        }
    }

    #[test]
    fn any_xlsx_export_reads_without_panic((header, rows) in grid(), numbers in proptest::collection::vec(any::<f64>(), 0..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.xlsx");
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        for (c, h) in header.iter().enumerate() {
            sheet.write_string(0, c as u16, h).unwrap();
        }
        let mut numbers = numbers.into_iter().filter(|n| n.is_finite());
        for (r, row) in rows.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                let (r, c) = (r as u32 + 1, c as u16);
                match (c % 3, numbers.next()) {
                    (0, Some(n)) => { sheet.write_number(r, c, n).unwrap(); }
                    (1, _) if value.is_empty() => { sheet.write_boolean(r, c, true).unwrap(); }
                    _ => { sheet.write_string(r, c, value).unwrap(); }
                }
            }
        }
        workbook.save(&path).unwrap();
        match selfbill::read::export::read_export(&path, None) {
            Ok(export) => run_pipeline(&export.orders),
            Err(error) => prop_assert!(!caught_panic(&error), "{error:#}"),
        }
    }

    #[test]
    fn any_bytes_are_refused_or_read_without_panic(
        prefix in prop_oneof![Just(Vec::new()), Just(b"PK\x03\x04".to_vec()), Just(vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])],
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        extension in prop_oneof![Just("xlsx"), Just("xls"), Just("csv")],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("file.{extension}"));
        let mut content = prefix;
        content.extend(bytes);
        std::fs::write(&path, &content).unwrap();
        // Only the xlsx and xls libraries may panic (on damaged files, and
        // the reader's guard reports that); CSV is selfbill's own parsing.
        let container = content.starts_with(b"PK") || content.starts_with(&[0xD0, 0xCF]);
        match selfbill::read::export::read_export(&path, None) {
            Ok(export) => run_pipeline(&export.orders),
            Err(error) => prop_assert!(container || !caught_panic(&error), "{error:#}"),
        }
        match selfbill::read::workbook::read_batch(&path) {
            Ok(read) => {
                let now = chrono::Utc::now().naive_utc();
                let _ = selfbill::check::check_batch(&read.batch, now);
            }
            Err(error) => prop_assert!(container || !caught_panic(&error), "{error:#}"),
        }
    }

    #[test]
    fn any_batch_workbook_checks_without_panic(
        cells in proptest::collection::vec((0usize..11, 0usize..74, 5u32..12, cell_text(), any::<bool>()), 0..120),
        drop_header in proptest::option::of(0usize..74),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.xlsx");
        let mut workbook = rust_xlsxwriter::Workbook::new();
        for (index, schema) in template().sheets.iter().enumerate() {
            let sheet = workbook.add_worksheet();
            sheet.set_name(&schema.name).unwrap();
            for (c, header) in schema.headers.iter().enumerate() {
                if index == 0 && drop_header == Some(c) {
                    continue;
                }
                sheet.write_string(3, c as u16 + 1, header).unwrap();
            }
            for (s, c, r, value, as_number) in &cells {
                if *s != index || *c >= schema.headers.len() {
                    continue;
                }
                let number = value.parse::<f64>().ok().filter(|_| *as_number);
                match number {
                    Some(n) => { sheet.write_number(*r, *c as u16 + 1, n).unwrap(); }
                    None => { sheet.write_string(*r, *c as u16 + 1, value).unwrap(); }
                }
            }
        }
        workbook.save(&path).unwrap();
        let read = selfbill::read::workbook::read_batch(&path).unwrap();
        let now = chrono::Utc::now().naive_utc();
        let _ = selfbill::check::check_batch(&read.batch, now);
    }
}

/// A panic the reader's guard turned into an error (`selfbill::read::guard`):
/// in a file written by a spreadsheet library it is a bug, not damage.
fn caught_panic(error: &anyhow::Error) -> bool {
    format!("{error:#}").contains("a damaged file: the spreadsheet reader stopped on it")
}

/// Every non-empty cell of a sheet read by calamine, by (row, column).
fn calamine_cells(path: &Path, sheet: &str) -> Vec<(u32, usize, calamine::Data)> {
    use calamine::Reader;
    let mut workbook = calamine::open_workbook_auto(path).unwrap();
    let range = workbook.worksheet_range(sheet).unwrap();
    let (r0, c0) = range.start().unwrap_or((0, 0));
    let mut out = Vec::new();
    for (r, row) in range.rows().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !matches!(cell, calamine::Data::Empty) {
                out.push((r0 + r as u32 + 1, c0 as usize + c, cell.clone()));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// The streaming reader hands on every cell, in its row, as calamine's
    /// whole-sheet reader reads it.
    #[test]
    fn the_streaming_reader_agrees_with_calamine(
        cells in proptest::collection::vec((0u32..40, 0u16..30, cell_text(), 0u8..4), 0..150),
        inline in any::<bool>(),
        keep in proptest::collection::vec(0usize..30, 0..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cells.xlsx");
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
        // Inline strings in constant memory mode, as 1688 writes its exports;
        // else shared strings, as Excel saves.
        let sheet = if inline {
            workbook.add_worksheet_with_constant_memory().unwrap()
        } else {
            workbook.add_worksheet()
        };
        let mut cells = cells;
        if inline {
            // Constant memory mode writes rows in order only.
            cells.sort_by_key(|(r, ..)| *r);
        }
        for (r, c, text, kind) in &cells {
            match (kind, text.parse::<f64>()) {
                (0, Ok(n)) if n.is_finite() => { sheet.write_number(*r, *c, n).unwrap(); }
                (1, Ok(n)) if n.is_finite() && n >= 0.0 => { sheet.write_number_with_format(*r, *c, n, &date).unwrap(); }
                (2, _) => { sheet.write_boolean(*r, *c, text.len() % 2 == 0).unwrap(); }
                _ => { sheet.write_string(*r, *c, format!(" {text}&<>\"'\r\n\t\u{1}")).unwrap(); }
            }
        }
        workbook.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut book = selfbill::read::xlsx::open(&path, std::io::Cursor::new(&bytes)).unwrap();
        let mut sink = EveryCell::default();
        selfbill::read::xlsx::stream_sheet(&mut book, &path, "Sheet1", false, &mut sink)
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        prop_assert_eq!(&sink.cells, &calamine_cells(&path, "Sheet1"));
        // The export reader's own reading of the sheet's XML: every cell, and
        // the columns of a plan.
        let mut book = selfbill::read::sheet_xml::open(&path, std::io::Cursor::new(&bytes)).unwrap();
        let mut mine = EveryCell::default();
        book.stream_sheet(&path, "Sheet1", &mut mine)
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        prop_assert_eq!(&mine.cells, &sink.cells);
        let mut calamine_planned = Planned { keep: Some(&keep), rows: Vec::new() };
        let mut calamine_book = selfbill::read::xlsx::open(&path, std::io::Cursor::new(&bytes)).unwrap();
        selfbill::read::xlsx::stream_sheet(&mut calamine_book, &path, "Sheet1", false, &mut calamine_planned)
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        let mut planned = Planned { keep: Some(&keep), rows: Vec::new() };
        book.stream_sheet(&path, "Sheet1", &mut planned)
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        prop_assert_eq!(planned.rows, calamine_planned.rows);
    }
}

/// Keeps the columns of `keep`, in its order, with the rows' full shape.
struct Planned<'k> {
    keep: Option<&'k [usize]>,
    rows: Vec<selfbill::read::grid::GridRow>,
}

impl selfbill::read::grid::RowSink for Planned<'_> {
    fn slot(&self, col: usize) -> Option<usize> {
        self.keep
            .and_then(|keep| keep.iter().position(|c| *c == col))
    }

    fn row(&mut self, row: selfbill::read::grid::GridRow) -> anyhow::Result<()> {
        self.rows.push(row);
        Ok(())
    }
}

/// Every sheet of every workbook among the test files, fixtures and assets
/// reads alike through calamine and through the export reader's own reading
/// of the sheet XML: every row, its number, width and cells; a workbook one
/// refuses, the other refuses too.
#[test]
fn every_workbook_here_reads_alike_through_calamine_and_the_export_reader() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = ["tests/data", "fixtures", "assets"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "xlsx"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    let mut sheets = 0;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let theirs = selfbill::read::guard(path, || {
            use calamine::Reader;
            let mut book = selfbill::read::xlsx::open(path, std::io::Cursor::new(&bytes))?;
            let mut read = Vec::new();
            for name in book.sheet_names() {
                let mut every = EveryRow(Vec::new());
                selfbill::read::xlsx::stream_sheet(&mut book, path, &name, false, &mut every)?;
                read.push((name, every.0));
            }
            Ok(read)
        });
        let mine = selfbill::read::guard(path, || {
            let mut book = selfbill::read::sheet_xml::open(path, std::io::Cursor::new(&bytes))?;
            let mut read = Vec::new();
            for name in book.sheet_names() {
                let mut every = EveryRow(Vec::new());
                book.stream_sheet(path, &name, &mut every)?;
                read.push((name, every.0));
            }
            Ok(read)
        });
        match (mine, theirs) {
            (Ok(mine), Ok(theirs)) => {
                sheets += theirs.len();
                assert_eq!(mine, theirs, "{}", path.display());
            }
            (Err(_), Err(_)) => {}
            (mine, theirs) => panic!(
                "{}: the export reader: {:?}; calamine: {:?}",
                path.display(),
                mine.map(|_| ()),
                theirs.map(|_| ())
            ),
        }
    }
    assert!(sheets >= 40, "{sheets} sheets");
}

/// Keeps every row whole.
struct EveryRow(Vec<selfbill::read::grid::GridRow>);

impl selfbill::read::grid::RowSink for EveryRow {
    fn slot(&self, col: usize) -> Option<usize> {
        Some(col)
    }

    fn row(&mut self, row: selfbill::read::grid::GridRow) -> anyhow::Result<()> {
        self.0.push(row);
        Ok(())
    }
}

/// Keeps every cell, by (row, column).
#[derive(Default)]
struct EveryCell {
    cells: Vec<(u32, usize, calamine::Data)>,
}

impl selfbill::read::grid::RowSink for EveryCell {
    fn slot(&self, col: usize) -> Option<usize> {
        Some(col)
    }

    fn row(&mut self, row: selfbill::read::grid::GridRow) -> anyhow::Result<()> {
        for (c, cell) in row.cells.into_iter().enumerate() {
            if !matches!(cell, calamine::Data::Empty) {
                self.cells.push((row.number, c, cell));
            }
        }
        Ok(())
    }
}

/// Cases per property: `PROPTEST_CASES` when set (a longer session), else
/// the CI-sized `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}
