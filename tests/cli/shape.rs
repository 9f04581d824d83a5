//! `check` sees a workbook as the portal would take it, not only as its
//! cells read: extra, doubled or reordered sheets, doubled headers, hidden
//! rows, formulas, an edited sample row. Each case edits LHDN's workbook
//! (`good-batch.xlsx`, which passes) in one way.

use crate::common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The parts of an xlsx file, by name, in order.
fn parts(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut part = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            part.read_to_end(&mut bytes).unwrap();
            (part.name().unwrap().to_string(), bytes)
        })
        .collect()
}

fn write_parts(path: &Path, parts: &[(String, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in parts {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// `good-batch.xlsx` with its parts changed by `edit` (which may add parts).
fn edited(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) -> PathBuf {
    let mut all = parts(&data("good-batch.xlsx"));
    edit(&mut all);
    let path = dir.join("edited.xlsx");
    write_parts(&path, &all);
    path
}

fn text_of<'a>(parts: &'a mut [(String, Vec<u8>)], name: &str) -> &'a mut Vec<u8> {
    &mut parts
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no part {name}"))
        .1
}

/// Replaces the first `from` in a part by `to`.
fn replace(parts: &mut [(String, Vec<u8>)], name: &str, from: &str, to: &str) {
    let bytes = text_of(parts, name);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains(from), "{name} has no {from}");
    *bytes = text.replacen(from, to, 1).into_bytes();
}

/// The XML of cell `reference` in a sheet part, as written.
fn cell_xml(parts: &mut [(String, Vec<u8>)], name: &str, reference: &str) -> String {
    let text = String::from_utf8(text_of(parts, name).clone()).unwrap();
    let start = text
        .find(&format!("<c r=\"{reference}\""))
        .unwrap_or_else(|| panic!("{name} has no {reference}"));
    let rest = &text[start..];
    let open_end = rest.find('>').unwrap();
    let end = if rest[..open_end].ends_with('/') {
        open_end + 1
    } else {
        rest.find("</c>").unwrap() + 4
    };
    rest[..end].to_string()
}

/// A sheet added to the workbook, `first` or last, with the XML of `like`.
fn add_sheet(parts: &mut Vec<(String, Vec<u8>)>, name: &str, like: &str, first: bool) {
    let xml = text_of(parts, like).clone();
    parts.push(("xl/worksheets/sheet99.xml".into(), xml));
    replace(
        parts,
        "xl/_rels/workbook.xml.rels",
        "</Relationships>",
        "<Relationship Id=\"rId99\" \
         Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" \
         Target=\"worksheets/sheet99.xml\"/></Relationships>",
    );
    replace(
        parts,
        "[Content_Types].xml",
        "</Types>",
        "<Override PartName=\"/xl/worksheets/sheet99.xml\" \
         ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>",
    );
    let sheet =
        format!("<sheet name=\"{name}\" sheetId=\"99\" state=\"visible\" r:id=\"rId99\" />");
    if first {
        replace(
            parts,
            "xl/workbook.xml",
            "<sheets>",
            &format!("<sheets>{sheet}"),
        );
    } else {
        replace(
            parts,
            "xl/workbook.xml",
            "</sheets>",
            &format!("{sheet}</sheets>"),
        );
    }
}

/// `check --json` on a file: its findings.
fn check(path: &Path) -> Vec<serde_json::Value> {
    let output = selfbill()
        .arg("check")
        .arg(path)
        .arg("--json")
        .output()
        .unwrap();
    json(&output.stdout)["findings"].as_array().unwrap().clone()
}

fn with_rule<'a>(findings: &'a [serde_json::Value], rule: &str) -> Vec<&'a serde_json::Value> {
    findings.iter().filter(|f| f["rule"] == rule).collect()
}

const LINES: &str = "xl/worksheets/sheet3.xml";
const DOCUMENTS: &str = "xl/worksheets/sheet1.xml";

#[test]
fn lhdns_own_workbooks_have_no_shape_findings() {
    for path in [
        data("good-batch.xlsx"),
        data("lhdn-template-2024-10.xlsx"),
        root().join("assets/lhdn-batch-upload-template.xlsx"),
    ] {
        let findings = check(&path);
        let shape: Vec<_> = findings
            .iter()
            .filter(|f| {
                let rule = f["rule"].as_str().unwrap();
                rule.starts_with("structure.") || rule == "cell.formula"
            })
            .collect();
        assert!(shape.is_empty(), "{}: {shape:?}", path.display());
    }
}

#[test]
fn a_formula_in_a_data_row_is_reported_with_its_formula() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited(dir.path(), |parts| {
        let cell = cell_xml(parts, LINES, "F6");
        replace(
            parts,
            LINES,
            &cell,
            "<c r=\"F6\"><f>WEBSERVICE(\"http://x.example/price\")</f><v>12.5</v></c>",
        );
    });
    let findings = check(&path);
    let formulas = with_rule(&findings, "cell.formula");
    assert_eq!(formulas.len(), 1, "{findings:?}");
    assert_eq!(formulas[0]["sheet"], "DocumentLineItems");
    assert_eq!(formulas[0]["row"], 6);
    assert_eq!(formulas[0]["column"], "UnitPrice");
    assert_eq!(
        formulas[0]["value"],
        "=WEBSERVICE(\"http://x.example/price\")"
    );
}

#[test]
fn a_header_given_to_two_columns_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited(dir.path(), |parts| {
        let row4_end = {
            let text = String::from_utf8(text_of(parts, LINES).clone()).unwrap();
            let start = text.find("<row r=\"4\"").unwrap();
            let end = start + text[start..].find("</row>").unwrap();
            text[start..end + 6].to_string()
        };
        let doubled = row4_end.replace(
            "</row>",
            "<c r=\"Z4\" t=\"inlineStr\"><is><t>UnitPrice</t></is></c></row>",
        );
        replace(parts, LINES, &row4_end, &doubled);
        let f6 = cell_xml(parts, LINES, "F6");
        let row6_end = {
            let text = String::from_utf8(text_of(parts, LINES).clone()).unwrap();
            let start = text.find(&f6).unwrap();
            let end = start + text[start..].find("</row>").unwrap();
            text[start..end + 6].to_string()
        };
        let conflicting = row6_end.replace("</row>", "<c r=\"Z6\"><v>999</v></c></row>");
        replace(parts, LINES, &row6_end, &conflicting);
    });
    let findings = check(&path);
    let doubled = with_rule(&findings, "structure.duplicate-header");
    assert_eq!(doubled.len(), 1, "{findings:?}");
    assert_eq!(doubled[0]["sheet"], "DocumentLineItems");
    assert_eq!(doubled[0]["row"], 4);
    assert_eq!(doubled[0]["column"], "UnitPrice");
    assert_eq!(doubled[0]["value"], "Z");
}

#[test]
fn a_sheet_that_is_not_lhdns_placed_first_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited(dir.path(), |parts| add_sheet(parts, "Notes", LINES, true));
    let findings = check(&path);
    let extra = with_rule(&findings, "structure.unexpected-sheet");
    assert_eq!(extra.len(), 1, "{findings:?}");
    assert_eq!(extra[0]["sheet"], "Notes");
}

#[test]
fn sheets_out_of_lhdns_order_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let documents = "<sheet name=\"Documents\" sheetId=\"1\" state=\"visible\" r:id=\"rId1\" />";
    let path = edited(dir.path(), |parts| {
        replace(parts, "xl/workbook.xml", documents, "");
        replace(
            parts,
            "xl/workbook.xml",
            "<sheet name=\"DocumentLineItems\"",
            &format!("{documents}<sheet name=\"DocumentLineItems\""),
        );
    });
    let findings = check(&path);
    assert_eq!(
        with_rule(&findings, "structure.sheet-order").len(),
        1,
        "{findings:?}"
    );
}

#[test]
fn a_hidden_data_row_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited(dir.path(), |parts| {
        replace(parts, LINES, "<row r=\"7\"", "<row r=\"7\" hidden=\"1\"");
    });
    let findings = check(&path);
    let hidden = with_rule(&findings, "structure.hidden-row");
    assert_eq!(hidden.len(), 1, "{findings:?}");
    assert_eq!(hidden[0]["sheet"], "DocumentLineItems");
    assert_eq!(hidden[0]["row"], 7);
}

#[test]
fn data_typed_into_the_sample_row_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited(dir.path(), |parts| {
        replace(parts, DOCUMENTS, "SAMPLE-INV-911405506596", "SB-2026-0001");
    });
    let findings = check(&path);
    let sample = with_rule(&findings, "structure.sample-row-edited");
    assert_eq!(sample.len(), 1, "{findings:?}");
    assert_eq!(sample[0]["sheet"], "Documents");
    assert_eq!(sample[0]["row"], 5);
    assert_eq!(sample[0]["column"], "eInvoiceNumber");
    assert_eq!(sample[0]["value"], "SB-2026-0001");
}

#[test]
fn a_second_documents_sheet_named_with_a_space_is_reported_and_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited(dir.path(), |parts| {
        add_sheet(parts, " Documents", DOCUMENTS, true);
        // The impostor's data: an unknown currency, which check would report
        // if it read this sheet.
        let text = String::from_utf8(text_of(parts, "xl/worksheets/sheet99.xml").clone()).unwrap();
        let row6 = text.find("<row r=\"6\"").unwrap();
        let currency = text[row6..]
            .find(">MYR<")
            .or_else(|| text[row6..].find(">CNY<"));
        if let Some(at) = currency {
            let at = row6 + at;
            let mut changed = text.clone();
            changed.replace_range(at..at + 5, ">XXX<");
            *text_of(parts, "xl/worksheets/sheet99.xml") = changed.into_bytes();
        }
    });
    let findings = check(&path);
    let doubled = with_rule(&findings, "structure.duplicate-sheet");
    assert_eq!(doubled.len(), 1, "{findings:?}");
    assert_eq!(doubled[0]["sheet"], " Documents");
    assert!(
        with_rule(&findings, "code.unknown").is_empty(),
        "the real Documents sheet is the one checked: {findings:?}"
    );
}
