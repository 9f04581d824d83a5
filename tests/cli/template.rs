//! The workbook is LHDN's template with rows added: the output zip beside
//! the template zip, part for part; read back with calamine and openpyxl;
//! `--template` and `[output] template` fill another template.

use crate::common::*;
use calamine::{Data, Reader, SheetVisible, open_workbook_auto};
use quick_xml::Reader as XmlReader;
use quick_xml::events::Event;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const EMBEDDED: &str = "assets/lhdn-batch-upload-template.xlsx";
const OLDER: &str = "tests/data/lhdn-template-2024-10.xlsx";

/// Every part of a zip, decompressed.
fn parts(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let file = std::fs::File::open(path).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut parts = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        parts.insert(entry.name().unwrap().to_string(), bytes);
    }
    parts
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// Attribute values of every `element` tag in a part.
fn attributes(xml: &str, element: &str, attribute: &str) -> Vec<String> {
    let mut reader = XmlReader::from_str(xml);
    let mut found = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == element => {
                for attr in e.attributes() {
                    let attr = attr.unwrap();
                    if attr.key.as_ref() == attribute {
                        found.push(attr.value.into_owned());
                    }
                }
            }
            Event::Eof => return found,
            _ => {}
        }
    }
}

/// The visible sheets' parts and their table parts, from the workbook and
/// its relationships.
fn visible_parts(parts: &BTreeMap<String, Vec<u8>>) -> (Vec<String>, Vec<String>) {
    let workbook = text(&parts["xl/workbook.xml"]);
    let rels = text(&parts["xl/_rels/workbook.xml.rels"]);
    let ids = attributes(rels, "Relationship", "Id");
    let targets = attributes(rels, "Relationship", "Target");
    let states = {
        // `state` is optional: read the sheets one by one.
        let mut reader = XmlReader::from_str(workbook);
        let mut sheets = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                    let mut state = "visible".to_string();
                    let mut id = String::new();
                    for attr in e.attributes() {
                        let attr = attr.unwrap();
                        match attr.key.as_ref() {
                            "state" => state = attr.value.into_owned(),
                            "r:id" => id = attr.value.into_owned(),
                            _ => {}
                        }
                    }
                    sheets.push((id, state));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        sheets
    };
    let mut sheets = Vec::new();
    let mut tables = Vec::new();
    for (id, state) in states.iter().filter(|(_, s)| s == "visible") {
        let _ = state;
        let target = &targets[ids.iter().position(|i| i == id).unwrap()];
        let entry = target.trim_start_matches('/').replace("xl/xl/", "xl/");
        let entry = if entry.starts_with("xl/") {
            entry
        } else {
            format!("xl/{entry}")
        };
        let (dir, file) = entry.rsplit_once('/').unwrap();
        if let Some(rels) = parts.get(&format!("{dir}/_rels/{file}.rels")) {
            for target in attributes(text(rels), "Relationship", "Target") {
                if target.contains("tables/") {
                    let name = target.rsplit('/').next().unwrap();
                    tables.push(format!("xl/tables/{name}"));
                }
            }
        }
        sheets.push(entry);
    }
    (sheets, tables)
}

/// The XML of rows 1–5 of a sheet part.
fn template_rows(xml: &str) -> &str {
    let start = xml.find("<row r=\"1\"").expect("row 1");
    let six = xml.find("<row r=\"6\"");
    let end = six.unwrap_or_else(|| xml.find("</sheetData>").expect("sheetData"));
    &xml[start..end]
}

/// The output keeps every part of the template: byte for byte, except the
/// visible sheets (rows 1–5 identical, data rows added), their tables (only
/// the ranges grow) and the end of `<cellXfs>` in the styles (data styles
/// appended). Returns the number of data rows on each visible sheet.
fn assert_template_kept(out: &Path, template: &Path) -> Vec<usize> {
    let ours = parts(out);
    let lhdn = parts(template);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        lhdn.keys().collect::<Vec<_>>(),
        "the same parts, no part added or lost"
    );
    let (sheets, tables) = visible_parts(&lhdn);
    assert!(sheets.len() >= 11, "{sheets:?}");
    let mut data_rows = BTreeMap::new();
    for (name, theirs) in &lhdn {
        let mine = &ours[name];
        if sheets.contains(name) {
            let (mine, theirs) = (text(mine), text(theirs));
            assert_eq!(
                template_rows(mine),
                template_rows(theirs),
                "{name}: rows 1-5 are LHDN's XML"
            );
            // Before the rows: the same, but for the dimension.
            let head = |xml: &str| xml[..xml.find("<sheetData").unwrap()].to_string();
            let dimension = |xml: &str| attributes(xml, "dimension", "ref");
            let mut expected_head = head(theirs);
            if let (Some(a), Some(b)) = (dimension(theirs).first(), dimension(mine).first()) {
                expected_head =
                    expected_head.replacen(&format!("ref=\"{a}\""), &format!("ref=\"{b}\""), 1);
            }
            assert_eq!(
                head(mine),
                expected_head,
                "{name}: everything before the rows"
            );
            let rows = attributes(mine, "row", "r");
            let numbers: Vec<u32> = rows.iter().map(|r| r.parse().unwrap()).collect();
            let count = numbers.iter().filter(|r| **r >= 6).count();
            assert_eq!(
                numbers
                    .iter()
                    .filter(|r| **r >= 6)
                    .copied()
                    .collect::<Vec<_>>(),
                (6..6 + count as u32).collect::<Vec<_>>(),
                "{name}: data rows follow row 5 without gaps"
            );
            if count > 0 {
                let last = 5 + count;
                // Every range that reaches row 5 now reaches the last row.
                for sqref in attributes(mine, "dataValidation", "sqref")
                    .into_iter()
                    .chain(attributes(mine, "conditionalFormatting", "sqref"))
                {
                    for range in sqref.split_whitespace() {
                        assert!(
                            range.ends_with(&format!("{last}")),
                            "{name}: range {range} does not reach row {last}"
                        );
                    }
                }
                let theirs_validations = attributes(theirs, "dataValidation", "sqref").len();
                assert_eq!(
                    attributes(mine, "dataValidation", "sqref").len(),
                    theirs_validations,
                    "{name}: every validation kept"
                );
            } else {
                assert_eq!(mine, theirs, "{name}: a sheet without data is LHDN's");
            }
            data_rows.insert(name.clone(), count);
        } else if tables.contains(name) {
            // Only the ranges differ.
            let strip = |xml: &str| {
                let mut xml = xml.to_string();
                for value in attributes(&xml.clone(), "table", "ref")
                    .into_iter()
                    .chain(attributes(&xml.clone(), "autoFilter", "ref"))
                {
                    xml = xml.replace(&format!("ref=\"{value}\""), "ref=\"\"");
                }
                xml
            };
            assert_eq!(strip(text(mine)), strip(text(theirs)), "{name}");
        } else if name.ends_with("styles.xml") {
            let (mine, theirs) = (text(mine), text(theirs));
            let split = |xml: &str| {
                let at = xml.find("</cellXfs>").unwrap();
                (xml[..at].to_string(), xml[at..].to_string())
            };
            let (mine_head, mine_tail) = split(mine);
            let (theirs_head, theirs_tail) = split(theirs);
            assert_eq!(mine_tail, theirs_tail, "styles after <cellXfs> are LHDN's");
            let count = |xml: &str| attributes(xml, "cellXfs", "count")[0].clone();
            let mine_head = mine_head.replacen(
                &format!("<cellXfs count=\"{}\"", count(mine)),
                &format!("<cellXfs count=\"{}\"", count(theirs)),
                1,
            );
            assert!(
                mine_head.starts_with(&theirs_head),
                "LHDN's styles come first, unchanged"
            );
            let appended = &mine_head[theirs_head.len()..];
            let xfs = attributes(appended, "xf", "fillId");
            assert!(!xfs.is_empty(), "data styles are appended");
            assert!(xfs.iter().all(|f| f == "0"), "data cells have no fill");
            let total: usize = count(mine).parse().unwrap();
            let inside = &mine[mine.find("<cellXfs").unwrap()..mine.find("</cellXfs>").unwrap()];
            assert_eq!(
                total,
                inside.matches("<xf ").count(),
                "cellXfs count matches its entries"
            );
        } else {
            assert!(mine == theirs, "{name}: byte for byte LHDN's");
        }
    }
    sheets.iter().map(|s| data_rows[s]).collect()
}

fn convert_with(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("einvoices.xlsx");
    convert(&[&root().join(SAMPLE)], &out, extra).success();
    out
}

#[test]
fn every_part_of_lhdns_template_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert_with(dir.path(), &[]);
    let rows = assert_template_kept(&out, &root().join(EMBEDDED));
    // Each visible sheet has the rows calamine reads back, Documents and
    // lines among them.
    for (sheet, rows) in SHEETS.iter().zip(&rows) {
        assert_eq!(read_sheet(&out, sheet).data_rows().len(), *rows, "{sheet}");
    }
    assert!(rows[0] > 0 && rows[2] > rows[0], "{rows:?}");
}

#[test]
fn split_workbooks_each_keep_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    convert(&[&root().join(SAMPLE)], &out, &["--max-per-file", "3"]).success();
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    let mut documents = 0;
    for name in &names {
        let rows = assert_template_kept(name, &root().join(EMBEDDED));
        assert!((1..=3).contains(&rows[0]), "{rows:?}");
        documents += rows[0];
    }
    std::fs::create_dir(dir.path().join("whole")).unwrap();
    let whole = convert_with(&dir.path().join("whole"), &[]);
    assert_eq!(documents, read_sheet(&whole, "Documents").data_rows().len());
}

#[test]
fn calamine_reads_the_hidden_sheets_names_and_codes_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert_with(dir.path(), &[]);
    let ours = open_workbook_auto(&out).unwrap();
    let lhdn = open_workbook_auto(root().join(EMBEDDED)).unwrap();
    let hidden = |book: &calamine::Sheets<_>| -> Vec<String> {
        book.sheets_metadata()
            .iter()
            .filter(|s| s.visible != SheetVisible::Visible)
            .map(|s| s.name.clone())
            .collect()
    };
    assert_eq!(hidden(&ours).len(), 10);
    assert_eq!(hidden(&ours), hidden(&lhdn));
    assert_eq!(ours.defined_names(), lhdn.defined_names());
    assert!(
        ours.defined_names()
            .iter()
            .any(|(name, formula)| name == "UnitTypesList" && formula == "UnitTypes[Code]")
    );
    // Codes are strings, with their leading zeros.
    let lines = read_sheet(&out, "DocumentLineItems");
    for row in lines.data_rows() {
        assert!(matches!(&row[lines.col("Classification")], Data::String(s) if s == "034"));
    }
    let taxes = read_sheet(&out, "LineItemsTaxes");
    for row in taxes.data_rows() {
        assert!(matches!(&row[taxes.col("TaxType")], Data::String(s) if s == "06"));
    }
}

/// openpyxl's view of a workbook, or `None` (with a message) when python3
/// or openpyxl is missing.
fn openpyxl(path: &Path) -> Option<serde_json::Value> {
    let script = root().join("tests/cli/openpyxl_readback.py");
    let output = match std::process::Command::new("python3")
        .arg(&script)
        .arg(path)
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            eprintln!("SKIPPED: python3 is not installed; the openpyxl read-back did not run");
            return None;
        }
    };
    if output.status.code() == Some(3) {
        eprintln!(
            "SKIPPED: openpyxl is not installed (pip install openpyxl); the openpyxl read-back \
             did not run"
        );
        return None;
    }
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(json(&output.stdout))
}

/// `B5` or `B5:C5 E5` with every row-5 end moved to `last`.
fn stretched(sqref: &str, last: usize) -> String {
    sqref
        .split_whitespace()
        .map(|range| {
            let (first, second) = range.split_once(':').unwrap_or((range, range));
            let column = second.trim_end_matches(|c: char| c.is_ascii_digit());
            if second[column.len()..] == *"5" {
                format!("{first}:{column}{last}")
            } else {
                range.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_openpyxl_sees_the_template(out: &Path, template: &Path) {
    let (Some(ours), Some(lhdn)) = (openpyxl(out), openpyxl(template)) else {
        return;
    };
    assert_eq!(ours["sheets"], lhdn["sheets"], "sheets and their states");
    assert!(
        ours["sheets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s[1] == "hidden")
            .count()
            >= 10
    );
    assert_eq!(ours["defined_names"], lhdn["defined_names"]);
    assert_eq!(ours["local_names"], lhdn["local_names"]);
    assert!(!ours["defined_names"].as_array().unwrap().is_empty());
    for (sheet, theirs) in lhdn["visible"].as_object().unwrap() {
        let mine = &ours["visible"][sheet];
        assert_eq!(
            mine["widths"], theirs["widths"],
            "{sheet}: every column width"
        );
        assert_eq!(mine["headers"], theirs["headers"], "{sheet}: row-4 headers");
        let rows = mine["rows"].as_array().unwrap().len();
        if rows == 0 {
            assert_eq!(mine, theirs, "{sheet}");
            continue;
        }
        let last = 5 + rows;
        // Each validation of the template, stretched over the data rows.
        let expected: Vec<serde_json::Value> = theirs["validations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                serde_json::json!([
                    stretched(v[0].as_str().unwrap(), last),
                    v[1].clone(),
                    v[2].clone()
                ])
            })
            .collect();
        let mut expected = expected;
        expected.sort_by_key(|v| v.to_string());
        let mut actual = mine["validations"].as_array().unwrap().clone();
        actual.sort_by_key(|v| v.to_string());
        assert_eq!(actual, expected, "{sheet}: validations over the data rows");
        assert!(!actual.is_empty(), "{sheet}: LHDN's dropdowns and checks");
        for (a, b) in mine["conditional_formats"]
            .as_array()
            .unwrap()
            .iter()
            .zip(theirs["conditional_formats"].as_array().unwrap())
        {
            assert_eq!(a.as_str().unwrap(), stretched(b.as_str().unwrap(), last));
        }
        for (a, b) in mine["tables"]
            .as_array()
            .unwrap()
            .iter()
            .zip(theirs["tables"].as_array().unwrap())
        {
            assert_eq!(a[0], b[0]);
            assert_eq!(
                a[1].as_str().unwrap(),
                stretched(b[1].as_str().unwrap(), last),
                "{sheet}: the table covers the data"
            );
        }
        // Data cells: no fill; codes and numbers as LHDN's formats say.
        for row in mine["rows"].as_array().unwrap() {
            for cell in row.as_array().unwrap() {
                assert!(cell["fill"].is_null(), "{sheet}: {cell}");
            }
        }
    }
    let lines = &ours["visible"]["DocumentLineItems"]["rows"];
    let first = lines[0].as_array().unwrap();
    let classification = first.iter().find(|c| c["value"] == "034").unwrap();
    assert_eq!(classification["type"], "str", "codes are text");
    let documents = &ours["visible"]["Documents"]["rows"][0];
    let issued = documents
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "datetime")
        .expect("IssuanceDateTime is a date-time");
    assert_eq!(issued["format"], "yyyy\\-mm\\-dd\\Thh:mm:ss\\Z");
    let number = documents
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"] == "2420101234567540001")
        .unwrap();
    assert_eq!(number["type"], "str");
    assert_eq!(number["format"], "@", "the invoice number column is text");
}

#[test]
fn openpyxl_sees_lhdns_sheets_names_validations_and_widths() {
    let dir = tempfile::tempdir().unwrap();
    let out = convert_with(dir.path(), &[]);
    assert_openpyxl_sees_the_template(&out, &root().join(EMBEDDED));
}

#[test]
fn the_older_template_fills_and_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let older = root().join(OLDER);
    let out = dir.path().join("einvoices.xlsx");
    let output = convert(
        &[&root().join(SAMPLE)],
        &out,
        &["--template", older.to_str().unwrap(), "--json"],
    )
    .success();
    let report = json(&output.get_output().stdout);
    let notes: Vec<&serde_json::Value> = findings_of(&report, "template.unknown-column");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["column"], "TaxableAmount");
    assert_eq!(notes[0]["sheet"], "LineItemsTaxes");
    assert_eq!(notes[0]["severity"], "info");

    let rows = assert_template_kept(&out, &older);
    let read_back: usize = SHEETS
        .iter()
        .map(|s| read_sheet(&out, s).data_rows().len())
        .sum();
    assert_eq!(rows.iter().sum::<usize>(), read_back);
    // The older copy's own sheet order.
    assert_eq!(sheet_names(&out), sheet_names(&older));
    let taxes = read_sheet(&out, "LineItemsTaxes");
    assert_eq!(
        taxes.data_rows().len(),
        read_sheet(&out, "DocumentLineItems").data_rows().len()
    );
    assert!(!taxes.rows[3].iter().any(|h| text_of(h) == "TaxableAmount"));
    assert_openpyxl_sees_the_template(&out, &older);

    let check = selfbill()
        .args(["check", "--json"])
        .arg(&out)
        .assert()
        .success();
    let report = json(&check.get_output().stdout);
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    assert_eq!(
        report["summary"]["invoices"],
        read_sheet(&out, "Documents").data_rows().len()
    );
}

fn text_of(cell: &Data) -> String {
    crate::common::text(cell)
}

/// The embedded template with a sheet part changed by `edit`.
fn edited_template(dir: &Path, part: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let source = parts(&root().join(EMBEDDED));
    let path = dir.join("edited-template.xlsx");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let original = std::fs::File::open(root().join(EMBEDDED)).unwrap();
    let order: Vec<String> = zip::ZipArchive::new(original)
        .unwrap()
        .file_names()
        .map(|name| name.unwrap().to_string())
        .collect();
    for name in order {
        let mut bytes = source[&name].clone();
        if name == part {
            bytes = edit(String::from_utf8(bytes).unwrap()).into_bytes();
        }
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

#[test]
fn columns_are_found_by_their_row_4_headers() {
    let dir = tempfile::tempdir().unwrap();
    // DocumentLineItems with UnitPrice and Quantity swapped (F4, G4).
    let template = edited_template(dir.path(), "xl/worksheets/sheet3.xml", |xml| {
        xml.replace("<t>UnitPrice</t>", "<t>@@</t>")
            .replace("<t>Quantity</t>", "<t>UnitPrice</t>")
            .replace("<t>@@</t>", "<t>Quantity</t>")
    });
    let out = convert_with(dir.path(), &["--template", template.to_str().unwrap()]);
    let lines = read_sheet(&out, "DocumentLineItems");
    assert_eq!(lines.col("Quantity"), 5, "column F is headed Quantity now");
    let first = lines.data_rows()[0];
    assert_eq!(decimal(&first[lines.col("UnitPrice")]), dec("12.5"));
    assert_eq!(decimal(&first[lines.col("Quantity")]), dec("40"));
    selfbill().args(["check"]).arg(&out).assert().success();
}

#[test]
fn a_template_without_a_column_selfbill_fills_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let template = edited_template(dir.path(), "xl/worksheets/sheet1.xml", |xml| {
        xml.replace("<t>Supplier.TIN</t>", "<t>Supplier.TaxNumber</t>")
    });
    let out = dir.path().join("einvoices.xlsx");
    let output = convert(
        &[&root().join(SAMPLE)],
        &out,
        &["--template", template.to_str().unwrap()],
    )
    .code(2);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).to_string();
    assert!(stderr.contains("Supplier.TIN"), "{stderr}");
    assert!(stderr.contains("Documents"), "{stderr}");
    assert!(!out.exists());
    // Not a workbook at all.
    let output = convert(
        &[&root().join(SAMPLE)],
        &out,
        &[
            "--template",
            data("not-a-spreadsheet.xlsx").to_str().unwrap(),
        ],
    )
    .code(2);
    assert!(!String::from_utf8_lossy(&output.get_output().stderr).is_empty());
    assert!(!out.exists());
}

#[test]
fn a_column_selfbill_does_not_know_is_left_empty_with_one_info() {
    let dir = tempfile::tempdir().unwrap();
    let template = edited_template(dir.path(), "xl/worksheets/sheet3.xml", |xml| {
        xml.replace("<t>ProductTariffCode</t>", "<t>ProductTariffCode2027</t>")
    });
    let out = dir.path().join("e.xlsx");
    let output = convert(
        &[&root().join(SAMPLE)],
        &out,
        &[
            "--template",
            template.to_str().unwrap(),
            "--max-per-file",
            "2",
            "--json",
        ],
    )
    .success();
    let report = json(&output.get_output().stdout);
    let notes: Vec<&serde_json::Value> = findings_of(&report, "template.unknown-column");
    assert_eq!(
        notes.len(),
        1,
        "one finding per run, not per workbook: {notes:?}"
    );
    assert_eq!(notes[0]["sheet"], "DocumentLineItems");
    assert_eq!(notes[0]["column"], "ProductTariffCode2027");
    assert_eq!(notes[0]["row"], 4);
    let lines = read_sheet(&dir.path().join("e-001.xlsx"), "DocumentLineItems");
    let unknown = lines.col("ProductTariffCode2027");
    assert!(
        lines
            .data_rows()
            .iter()
            .all(|r| r.get(unknown).is_none_or(|c| *c == Data::Empty))
    );
}

#[test]
fn the_config_names_the_template_relative_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(root().join("fixtures/selfbill.toml")).unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(
        dir.path().join("conf/selfbill.toml"),
        format!("{config}\n[output]\ntemplate = \"portal-template.xlsx\"\n"),
    )
    .unwrap();
    std::fs::copy(
        root().join(OLDER),
        dir.path().join("conf/portal-template.xlsx"),
    )
    .unwrap();
    let out = dir.path().join("einvoices.xlsx");
    selfbill()
        .args(["convert", SAMPLE, "-o"])
        .arg(&out)
        .arg("--config")
        .arg(dir.path().join("conf/selfbill.toml"))
        .args(["--suppliers", "fixtures/suppliers.csv", "--rate", "0.6097"])
        .arg("--no-register")
        .args(["--issued-at", ISSUED_AT])
        .assert()
        .success();
    assert_template_kept(&out, &root().join(OLDER));
    // --template wins over the config.
    let out = dir.path().join("embedded.xlsx");
    selfbill()
        .args(["convert", SAMPLE, "-o"])
        .arg(&out)
        .arg("--config")
        .arg(dir.path().join("conf/selfbill.toml"))
        .args(["--suppliers", "fixtures/suppliers.csv", "--rate", "0.6097"])
        .arg("--no-register")
        .args(["--issued-at", ISSUED_AT, "--template", EMBEDDED])
        .assert()
        .success();
    assert_template_kept(&out, &root().join(EMBEDDED));
}
