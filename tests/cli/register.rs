//! The register across months: no order invoiced twice, holds followed up,
//! refunds after invoicing as refund notes; `register uuids | list |
//! export`; a corrupt register, two converts at once, a run killed.

use crate::common::*;
use calamine::Data;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

const O1: &str = "2420101234567540001";
const O2: &str = "2420151234567540002";
const O3: &str = "2420221234567540003";
const O7: &str = "2421021234567540007";
const O11: &str = "2411281234567540011";

/// A bookkeeper's folder: selfbill.toml and suppliers.csv (the fixtures'),
/// the register beside them by default.
struct Books {
    dir: tempfile::TempDir,
}

impl Books {
    fn new() -> Books {
        let dir = tempfile::tempdir().unwrap();
        for name in ["selfbill.toml", "suppliers.csv"] {
            std::fs::copy(root().join("fixtures").join(name), dir.path().join(name)).unwrap();
        }
        // These books invoice an order paid for but not shipped yet (等待卖家发货),
        // as `[statuses]` allows: the only hold is the refund under way (退款中).
        let config = dir.path().join("selfbill.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(
            "\n[statuses]\ninvoice = [\"交易成功\", \"已收货\", \"等待买家确认收货\", \"已发货\", \
             \"卖家已发货\", \"等待卖家发货\"]\n",
        );
        std::fs::write(&config, text).unwrap();
        Books { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `selfbill ARGS…` in the folder.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = selfbill();
        cmd.current_dir(self.dir.path()).args(args);
        cmd
    }

    fn convert_command(
        &self,
        export: &Path,
        out: &str,
        issued_at: &str,
        extra: &[&str],
    ) -> Command {
        let mut cmd = self.command(&["convert"]);
        cmd.arg(export)
            .args([
                "-o",
                out,
                "--rate",
                "0.6097",
                "--issued-at",
                issued_at,
                "--json",
            ])
            .args(extra);
        cmd
    }

    /// Converts and returns the exit code and the JSON report.
    fn convert(
        &self,
        export: &Path,
        out: &str,
        issued_at: &str,
        extra: &[&str],
    ) -> (i32, serde_json::Value) {
        let output = self
            .convert_command(export, out, issued_at, extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.stdout.is_empty(), "no report; stderr: {stderr}");
        (output.status.code().unwrap(), json(&output.stdout))
    }

    fn list(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let output = self
            .command(&["register", "list", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        json(&output.stdout).as_array().unwrap().clone()
    }

    /// The register's documents: number → (state, output).
    fn documents(&self) -> BTreeMap<String, (String, String)> {
        self.list(&[])
            .iter()
            .filter(|e| e["kind"] != "hold")
            .map(|e| {
                (
                    e["number"].as_str().unwrap().to_string(),
                    (
                        e["state"].as_str().unwrap().to_string(),
                        e["file"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect()
    }
}

/// The rules of the report's errors.
fn errors_of(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// The sample export's rows by order: its header, then each order's rows as text.
fn sample_orders() -> (Vec<String>, BTreeMap<String, Vec<Vec<String>>>) {
    let sheet = read_sheet(&root().join(SAMPLE), "sheet1");
    let header: Vec<String> = sheet.rows[0].iter().map(text).collect();
    let mut orders: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    let mut current = String::new();
    for row in &sheet.rows[1..] {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Data::Float(f) => f.to_string(),
                other => text(other),
            })
            .collect();
        if !cells[0].is_empty() {
            current = cells[0].clone();
        }
        orders.entry(current.clone()).or_default().push(cells);
    }
    (header, orders)
}

/// A CSV export of sample orders, each possibly with a new status, as a later
/// month's 1688 export would show them.
fn month_export(path: &Path, orders: &[(&str, Option<&str>)]) {
    let (header, sample) = sample_orders();
    let status = header.iter().position(|h| h == "订单状态").unwrap();
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(&header).unwrap();
    for (order, new_status) in orders {
        let (source, renumber) = match *order {
            // A November order: O10's goods under a new number.
            O11 => ("2421181234567540010", Some(O11)),
            other => (other, None),
        };
        for (i, row) in sample[source].iter().enumerate() {
            let mut row = row.clone();
            if i == 0 {
                if let Some(number) = renumber {
                    row[0] = number.to_string();
                }
                if let Some(new_status) = new_status {
                    row[status] = new_status.to_string();
                }
            }
            writer.write_record(&row).unwrap();
        }
    }
    writer.flush().unwrap();
}

/// A UUID for an invoice number: 26 letters and digits, as LHDN's.
fn uuid_for(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("LHDN{:0>22}", &digits[digits.len().saturating_sub(22)..])
}

#[test]
fn three_months_with_one_register() {
    let books = Books::new();
    let sample = root().join(SAMPLE);

    // October: 10 orders, 7 invoiced, 1 held (退款中), 2 skipped.
    let (code, report) = books.convert(
        &sample,
        "einvoices-2024-10.xlsx",
        "2024-10-31T10:00:00Z",
        &[],
    );
    assert_eq!(code, 0, "{report}");
    let summary = &report["summary"];
    assert_eq!(
        (
            &summary["orders"],
            &summary["invoiced"],
            &summary["held"],
            &summary["skipped"]
        ),
        (&10.into(), &7.into(), &1.into(), &2.into())
    );
    assert_eq!(summary["register"], "selfbill.db");
    assert!(
        books.path("selfbill.db").exists(),
        "the register is beside the config"
    );
    let documents = books.documents();
    assert_eq!(documents.len(), 7);
    assert!(
        documents
            .values()
            .all(|(state, file)| state == "written" && file == "einvoices-2024-10.xlsx")
    );
    let holds = books.list(&["--state", "held"]);
    assert_eq!(holds.len(), 1);
    assert_eq!(
        (&holds[0]["order"], &holds[0]["status"]),
        (&O7.into(), &"退款中".into())
    );

    // LHDN validated October's invoices; their UUIDs come from the portal's list.
    let mut uuids = String::from("Internal ID,UUID,Status\n");
    for number in documents.keys() {
        uuids.push_str(&format!("{number},{},Valid\n", uuid_for(number)));
    }
    std::fs::write(books.path("uuids-2024-10.csv"), uuids).unwrap();
    let output = books
        .command(&["register", "uuids", "uuids-2024-10.csv", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(json(&output.stdout)["summary"]["validated"], 7);
    assert!(
        books
            .documents()
            .values()
            .all(|(state, _)| state == "validated")
    );

    // November: O1 and O2 again unchanged, O3 closed after invoicing (交易关闭),
    // a new order; the held O7 is not in this export.
    let november = books.path("orders-2024-11.csv");
    month_export(
        &november,
        &[(O1, None), (O2, None), (O3, Some("交易关闭")), (O11, None)],
    );
    let (code, report) = books.convert(
        &november,
        "einvoices-2024-11.xlsx",
        "2024-11-30T10:00:00Z",
        &[],
    );
    assert_eq!(code, 0, "{report}");
    let summary = &report["summary"];
    assert_eq!(summary["orders"], 4);
    assert_eq!(summary["invoiced"], 1);
    assert_eq!(summary["already_invoiced"], 2);
    assert_eq!(summary["notes"], 1);
    assert_eq!(summary["still_held"], 1);
    let already = findings_of(&report, "register.already-invoiced");
    assert_eq!(already.len(), 2);
    let message = already[0]["message"].as_str().unwrap();
    assert!(
        message.contains("in einvoices-2024-10.xlsx on 2024-10-31"),
        "{message}"
    );
    let still_held = findings_of(&report, "register.still-held");
    assert_eq!(still_held.len(), 1);
    assert_eq!(still_held[0]["severity"], "warning");
    assert_eq!(still_held[0]["invoice"], O7);
    let message = still_held[0]["message"].as_str().unwrap();
    assert!(message.contains("held in 2024-10 (退款中"), "{message}");
    assert_eq!(findings_of(&report, "register.note-issued").len(), 1);

    // The workbook: the new invoice and the refund note, nothing duplicated.
    let out = books.path("einvoices-2024-11.xlsx");
    let docs = read_sheet(&out, "Documents");
    let (number, kind, total) = (
        docs.col("eInvoiceNumber"),
        docs.col("eInvoiceTypeCode"),
        docs.col("TotalPayableAmount"),
    );
    let rows: Vec<(String, String, rust_decimal::Decimal)> = docs
        .data_rows()
        .iter()
        .map(|r| (text(&r[number]), text(&r[kind]), decimal(&r[total])))
        .collect();
    let note = format!("{O3}-R1");
    assert_eq!(
        rows,
        [
            (O11.to_string(), "11".to_string(), dec("84.00")),
            (note.clone(), "14".to_string(), dec("170.00")),
        ]
    );
    let references = read_sheet(&out, "DocumentReferences");
    let cells: Vec<Vec<String>> = references
        .data_rows()
        .iter()
        .map(|r| {
            [
                "SerialNo",
                "eInvoiceNumber",
                "OriginaleInvoiceNumber",
                "OriginaleInvoiceReferenceNumberUUID",
            ]
            .iter()
            .map(|h| text(&r[references.col(h)]))
            .collect()
        })
        .collect();
    assert_eq!(
        cells,
        [vec![
            "1".to_string(),
            note.clone(),
            O3.to_string(),
            uuid_for(O3)
        ]]
    );
    let check = books
        .command(&["check", "einvoices-2024-11.xlsx", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let documents = books.documents();
    assert_eq!(documents[O3].0, "refunded");
    assert_eq!(documents[&note].0, "written");
    assert_eq!(documents.len(), 9);

    // December: O7 settled (交易成功) and invoiced once; O3 closed again gives nothing new.
    let december = books.path("orders-2024-12.csv");
    month_export(&december, &[(O7, Some("交易成功")), (O3, Some("交易关闭"))]);
    let (code, report) = books.convert(
        &december,
        "einvoices-2024-12.xlsx",
        "2024-12-31T10:00:00Z",
        &[],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["invoiced"], 1);
    assert_eq!(report["summary"]["still_held"], 0);
    assert_eq!(report["summary"]["notes"], 0);
    assert_eq!(findings_of(&report, "register.hold-settled").len(), 1);
    assert_eq!(findings_of(&report, "register.already-invoiced").len(), 1);
    let invoices: Vec<&str> = report["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invoice"].as_str().unwrap())
        .collect();
    assert_eq!(invoices, [O7]);
    assert!(books.list(&["--state", "held"]).is_empty());
    // The same export again: nothing is written twice.
    let (code, report) = books.convert(&december, "again.xlsx", "2024-12-31T11:00:00Z", &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["invoices"], 0);
    assert!(!books.path("again.xlsx").exists());
    let documents = books.documents();
    assert_eq!(documents.len(), 10);
    assert_eq!(documents.keys().filter(|n| n.starts_with(O7)).count(), 1);

    // List by month and state.
    let october = books.list(&["--month", "2024-10"]);
    assert_eq!(october.len(), 7, "7 invoices; the hold is closed");
    assert_eq!(books.list(&["--state", "refunded"]).len(), 1);
    assert_eq!(
        books
            .list(&["--month", "2024-12", "--state", "written"])
            .len(),
        1
    );
    let table = books.command(&["register", "list"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&note) && table.contains("refund-note"),
        "{table}"
    );

    // The accountant's workbook.
    register_export_reads_back(&books);
}

fn register_export_reads_back(books: &Books) {
    books
        .command(&["register", "export", "-o", "register.xlsx"])
        .assert()
        .success();
    let out = books.path("register.xlsx");
    assert_eq!(sheet_names(&out), ["Invoices", "Holds"]);
    let sheet = read_sheet(&out, "Invoices");
    let header: Vec<String> = sheet.rows[0].iter().map(text).collect();
    assert_eq!(header[1], "eInvoiceNumber");
    let myr = header
        .iter()
        .position(|h| h == "MYR (notes negative)")
        .unwrap();
    let totals: Vec<(String, String)> = sheet
        .rows
        .iter()
        .filter(|r| text(&r[0]).ends_with("total") || text(&r[0]) == "Total")
        .map(|r| (text(&r[0]), format!("{:.2}", number(&r[myr]))))
        .collect();
    // October 1263.60; November O11 51.21 less O3's note 103.65; December O7 170.72.
    assert_eq!(
        totals,
        [
            ("2024-10 total".to_string(), "1263.60".to_string()),
            ("2024-11 total".to_string(), "-52.44".to_string()),
            ("2024-12 total".to_string(), "170.72".to_string()),
            ("Total".to_string(), "1381.88".to_string()),
        ]
    );
    // Issue times are date cells; amounts numbers.
    let issued = header.iter().position(|h| h == "Issued (UTC)").unwrap();
    assert!(
        matches!(sheet.rows[1][issued], Data::DateTime(_)),
        "{:?}",
        sheet.rows[1][issued]
    );
    let note_row = sheet
        .rows
        .iter()
        .find(|r| text(&r[1]) == format!("{O3}-R1"))
        .unwrap();
    assert_eq!(number(&note_row[myr]), -103.65);
    assert_eq!(text(&note_row[2]), "14");
    // Frozen header, autofilter, number formats.
    let xml = zip_part(&out, "xl/worksheets/sheet1.xml");
    assert!(
        xml.contains("ySplit=\"1\"") && xml.contains("state=\"frozen\""),
        "frozen header"
    );
    assert!(xml.contains("<autoFilter ref=\"A1:O"), "autofilter");
    let styles = zip_part(&out, "xl/styles.xml");
    assert!(styles.contains("formatCode=\"#,##0.00\""), "{styles}");
    assert!(
        styles.contains("formatCode=\"yyyy\\-mm\\-dd\\ hh:mm:ss\"")
            || styles.contains("formatCode=\"yyyy-mm-dd hh:mm:ss\""),
        "{styles}"
    );
    // Deterministic: the same register gives the same bytes.
    books
        .command(&["register", "export", "-o", "register.xlsx", "--force"])
        .assert()
        .success();
    let first = std::fs::read(&out).unwrap();
    books
        .command(&["register", "export", "-o", "again.xlsx"])
        .assert()
        .success();
    assert_eq!(first, std::fs::read(books.path("again.xlsx")).unwrap());
    // Without --force an export is not replaced.
    books
        .command(&["register", "export", "-o", "register.xlsx"])
        .assert()
        .code(2);
}

fn zip_part(path: &Path, name: &str) -> String {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut part = archive.by_name(name).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut part, &mut text).unwrap();
    text
}

#[test]
fn a_refund_without_a_recorded_uuid_is_an_error_that_says_how_to_record_it() {
    let books = Books::new();
    let (code, _) = books.convert(
        &root().join(SAMPLE),
        "oct.xlsx",
        "2024-10-31T10:00:00Z",
        &[],
    );
    assert_eq!(code, 0);
    let november = books.path("nov.csv");
    month_export(&november, &[(O3, Some("交易关闭"))]);
    let (code, report) = books.convert(&november, "nov.xlsx", "2024-11-30T10:00:00Z", &[]);
    assert_eq!(code, 1);
    assert_eq!(errors_of(&report), ["register.uuid-missing"]);
    let hint = findings_of(&report, "register.uuid-missing")[0]["hint"]
        .as_str()
        .unwrap();
    assert!(hint.contains("selfbill register uuids FILE"), "{hint}");
    assert!(!books.path("nov.xlsx").exists());

    // A UUID file with a mistake records nothing; a correct one records it.
    std::fs::write(
        books.path("u.csv"),
        format!("eInvoiceNumber,UUID\n{O3},{}\n{O1},SHORT\n", uuid_for(O3)),
    )
    .unwrap();
    let output = books
        .command(&["register", "uuids", "u.csv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("register.uuid-malformed"));
    assert_eq!(books.documents()[O3].0, "written");
    std::fs::write(
        books.path("u.csv"),
        format!("eInvoiceNumber,UUID\n{O3},{}\n", uuid_for(O3)),
    )
    .unwrap();
    books
        .command(&["register", "uuids", "u.csv"])
        .assert()
        .success();
    let (code, report) = books.convert(&november, "nov.xlsx", "2024-11-30T10:00:00Z", &["--force"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["notes"], 1);

    // A credit note instead, when the config asks for it; a higher 实付款 asks for a debit note.
    let config = std::fs::read_to_string(books.path("selfbill.toml")).unwrap();
    std::fs::write(
        books.path("selfbill.toml"),
        format!("{config}\n[register]\nrefunds_as = \"credit\"\n"),
    )
    .unwrap();
    std::fs::write(
        books.path("u.csv"),
        format!("eInvoiceNumber,UUID\n{O1},{}\n", uuid_for(O1)),
    )
    .unwrap();
    books
        .command(&["register", "uuids", "u.csv"])
        .assert()
        .success();
    let december = books.path("dec.csv");
    month_export(&december, &[(O1, Some("交易关闭"))]);
    let (code, report) = books.convert(&december, "dec.xlsx", "2024-12-31T10:00:00Z", &[]);
    assert_eq!(code, 0, "{report}");
    let docs = read_sheet(&books.path("dec.xlsx"), "Documents");
    let row = &docs.data_rows()[0];
    assert_eq!(text(&row[docs.col("eInvoiceTypeCode")]), "12");
    assert_eq!(text(&row[docs.col("eInvoiceNumber")]), format!("{O1}-R1"));
    books.command(&["check", "dec.xlsx"]).assert().success();
}

#[test]
fn check_never_touches_the_register() {
    let books = Books::new();
    let (code, _) = books.convert(&root().join(SAMPLE), "oct.xlsx", ISSUED_AT, &[]);
    assert_eq!(code, 0);
    let register = books.path("selfbill.db");
    let before = (
        std::fs::read(&register).unwrap(),
        std::fs::metadata(&register).unwrap().modified().unwrap(),
    );
    books.command(&["check", "oct.xlsx"]).assert().success();
    let after = (
        std::fs::read(&register).unwrap(),
        std::fs::metadata(&register).unwrap().modified().unwrap(),
    );
    assert_eq!(before, after);
    let names: Vec<String> = std::fs::read_dir(books.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("selfbill.db"))
        .collect();
    assert_eq!(names, ["selfbill.db"], "no journal beside it");
}

#[test]
fn a_higher_payment_after_invoicing_asks_for_a_debit_note() {
    let books = Books::new();
    books.convert(
        &root().join(SAMPLE),
        "oct.xlsx",
        "2024-10-31T10:00:00Z",
        &[],
    );
    let november = books.path("nov.csv");
    month_export(&november, &[(O2, None)]);
    // 实付款 of O2 raised from 738 to 750.
    let text = std::fs::read_to_string(&november).unwrap();
    std::fs::write(&november, text.replacen(",738,", ",750,", 1)).unwrap();
    let (code, report) = books.convert(&november, "nov.xlsx", "2024-11-30T10:00:00Z", &[]);
    assert_eq!(code, 1);
    assert_eq!(errors_of(&report), ["register.debit-note-needed"]);
}

#[test]
fn reissue_writes_a_lost_workbook_again_but_never_a_validated_invoice() {
    let books = Books::new();
    let sample = root().join(SAMPLE);
    let (code, _) = books.convert(&sample, "oct.xlsx", "2024-10-31T10:00:00Z", &[]);
    assert_eq!(code, 0);
    let before = invoice_data(&books.path("oct.xlsx"));
    std::fs::remove_file(books.path("oct.xlsx")).unwrap();

    // Without --reissue nothing is written; with it, the invoices under the same numbers.
    let (code, report) = books.convert(&sample, "oct.xlsx", "2024-10-31T10:00:00Z", &[]);
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["invoices"], 0);
    assert!(!books.path("oct.xlsx").exists());
    let (code, report) = books.convert(
        &sample,
        "oct-again.xlsx",
        "2024-10-31T10:00:00Z",
        &["--reissue", O1, O2],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["invoices"], 2);
    assert_eq!(report["summary"]["already_invoiced"], 5);
    let again = invoice_data(&books.path("oct-again.xlsx"));
    let documents = &again["Documents"];
    assert_eq!(documents.len(), 2);
    assert!(
        documents
            .iter()
            .all(|row| before["Documents"].contains(row)),
        "the same invoices, byte for byte"
    );
    let registered = books.documents();
    assert_eq!(registered.len(), 7);
    assert_eq!(
        registered[O1],
        ("written".to_string(), "oct-again.xlsx".to_string())
    );
    assert_eq!(registered[O3].1, "oct.xlsx");

    // A validated invoice is never reissued.
    std::fs::write(
        books.path("u.csv"),
        format!("eInvoiceNumber,UUID\n{O1},{}\n", uuid_for(O1)),
    )
    .unwrap();
    books
        .command(&["register", "uuids", "u.csv"])
        .assert()
        .success();
    let (code, report) = books.convert(
        &sample,
        "x.xlsx",
        "2024-10-31T10:00:00Z",
        &["--reissue", O1],
    );
    assert_eq!(code, 1);
    assert_eq!(errors_of(&report), ["register.reissue-refused"]);
    assert!(!books.path("x.xlsx").exists());
    // --reissue needs the register.
    books
        .convert_command(
            &sample,
            "y.xlsx",
            "2024-10-31T10:00:00Z",
            &["--reissue", O1, "--no-register"],
        )
        .assert()
        .code(2);
}

#[test]
fn a_file_that_is_not_a_register_or_is_corrupt_stops_the_run_untouched() {
    let books = Books::new();
    let sample = root().join(SAMPLE);
    std::fs::write(books.path("notes.txt"), "not a register\n").unwrap();
    let output = books
        .convert_command(&sample, "e.xlsx", ISSUED_AT, &["--register", "notes.txt"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("notes.txt: not a selfbill register"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(books.path("notes.txt")).unwrap(),
        "not a register\n"
    );
    assert!(!books.path("e.xlsx").exists());

    // A register damaged on disk.
    let (code, _) = books.convert(&sample, "oct.xlsx", ISSUED_AT, &[]);
    assert_eq!(code, 0);
    let path = books.path("selfbill.db");
    let mut bytes = std::fs::read(&path).unwrap();
    for byte in bytes.iter_mut().skip(4096).take(4096) {
        *byte = 0x5A;
    }
    std::fs::write(&path, &bytes).unwrap();
    for args in [
        vec!["register", "list"],
        vec!["register", "export", "-o", "r.xlsx"],
    ] {
        let output = books.command(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("corrupt"), "{stderr}");
    }
    let output = books
        .convert_command(&sample, "e.xlsx", ISSUED_AT, &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the register is left as it was"
    );
    assert!(!books.path("e.xlsx").exists());
    assert!(!books.path("r.xlsx").exists());

    // --no-register runs all the same.
    let (code, report) = books.convert(&sample, "e.xlsx", ISSUED_AT, &["--no-register"]);
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["invoices"], 7);
    assert!(report["summary"].get("register").is_none());
}

/// `selfbill convert SAMPLE -o OUT --json` in the folder, as a process of its own.
fn convert_process(books: &Books, out: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary());
    cmd.current_dir(books.dir.path())
        .env_remove("SELFBILL_CONFIG")
        .env_remove("SELFBILL_TEST_PAUSE")
        .arg("convert")
        .arg(root().join(SAMPLE))
        .args([
            "-o",
            out,
            "--rate",
            "0.6097",
            "--issued-at",
            ISSUED_AT,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts a convert that stops with its outputs in place and its records
/// not committed, and waits until it is there.
fn start_paused(books: &Books, out: &str, marker: &Path) -> Child {
    start_paused_at("record", books, out, marker)
}

/// Starts a convert that stops at `stage` (see `pause_for_tests`), and
/// waits until it is there.
fn start_paused_at(stage: &str, books: &Books, out: &str, marker: &Path) -> Child {
    let mut child = convert_process(books, out)
        .env(
            "SELFBILL_TEST_PAUSE",
            format!("{stage}:{}", marker.display()),
        )
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        if marker.exists() {
            return child;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("convert ended before pausing: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("convert never paused");
}

#[test]
fn a_run_killed_before_recording_is_written_again_and_recorded_once() {
    let books = Books::new();
    let marker = books.path("paused");
    let mut child = start_paused(&books, "oct.xlsx", &marker);
    assert!(
        books.path("oct.xlsx").exists(),
        "outputs are in place before recording"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::fs::remove_file(&marker).unwrap();
    assert!(
        books.documents().is_empty(),
        "nothing recorded that was not committed"
    );

    let sample = root().join(SAMPLE);
    let (code, report) = books.convert(&sample, "oct.xlsx", ISSUED_AT, &["--force"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["invoices"], 7);
    let (code, report) = books.convert(&sample, "oct-2.xlsx", ISSUED_AT, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["invoices"], 0);
    assert_eq!(report["summary"]["already_invoiced"], 7);
    let documents = books.documents();
    assert_eq!(documents.len(), 7);
    assert!(documents.values().all(|(_, file)| file == "oct.xlsx"));
    assert_eq!(books.list(&["--state", "held"]).len(), 1);
}

#[test]
fn outputs_that_cannot_be_put_in_place_are_not_recorded() {
    let books = Books::new();
    let marker = books.path("paused");
    let child = start_paused_at("outputs", &books, "oct.xlsx", &marker);
    // Meanwhile, a file of the bookkeeper's own appears under the output's name.
    std::fs::write(books.path("oct.xlsx"), "kept").unwrap();
    std::fs::remove_file(&marker).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("oct.xlsx: already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(books.path("oct.xlsx")).unwrap(),
        "kept"
    );
    assert!(
        books.list(&[]).is_empty(),
        "nothing recorded of a run whose outputs are not in place"
    );

    let (code, report) = books.convert(&root().join(SAMPLE), "oct-2.xlsx", ISSUED_AT, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["invoices"], 7);
    assert_eq!(books.documents().len(), 7);
}

#[test]
fn two_converts_on_one_register_take_turns() {
    let books = Books::new();
    let marker = books.path("paused");
    // The first run holds the register, its outputs in place, not yet recorded.
    let first = start_paused(&books, "first.xlsx", &marker);
    let second = convert_process(&books, "second.xlsx").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::remove_file(&marker).unwrap();
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(json(&first.stdout)["summary"]["invoices"], 7);
    let second = json(&second.stdout);
    assert_eq!(
        second["summary"]["invoices"], 0,
        "the second run waited and saw the first's invoices"
    );
    assert_eq!(second["summary"]["already_invoiced"], 7);
    assert!(!books.path("second.xlsx").exists());
    let documents = books.documents();
    assert_eq!(documents.len(), 7);
    assert!(documents.values().all(|(_, file)| file == "first.xlsx"));
}

#[test]
fn register_commands_find_the_register_as_convert_does() {
    let books = Books::new();
    // No register yet: a clear error, and nothing is created.
    let output = books.command(&["register", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no register here yet"));
    assert!(!books.path("selfbill.db").exists());

    // [register] path, relative to the config file.
    std::fs::create_dir(books.path("books")).unwrap();
    let config = std::fs::read_to_string(books.path("selfbill.toml")).unwrap();
    std::fs::write(
        books.path("books/selfbill.toml"),
        format!("{config}\n[register]\npath = \"ledger/register.db\"\n"),
    )
    .unwrap();
    std::fs::create_dir(books.path("books/ledger")).unwrap();
    let (code, report) = books.convert(
        &root().join(SAMPLE),
        "e.xlsx",
        ISSUED_AT,
        &[
            "--config",
            "books/selfbill.toml",
            "--suppliers",
            "suppliers.csv",
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["register"], "books/ledger/register.db");
    let list = |args: &[&str]| {
        let output = books
            .command(&["register", "list", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        json(&output.stdout).as_array().unwrap().len()
    };
    assert_eq!(list(&["--config", "books/selfbill.toml"]), 8);
    assert_eq!(list(&["--register", "books/ledger/register.db"]), 8);
    let output = books
        .command(&["register", "list", "--json"])
        .env("SELFBILL_CONFIG", "books/selfbill.toml")
        .output()
        .unwrap();
    assert_eq!(json(&output.stdout).as_array().unwrap().len(), 8);
    // A bad month is refused.
    books
        .command(&[
            "register",
            "list",
            "--month",
            "October",
            "--config",
            "books/selfbill.toml",
        ])
        .assert()
        .code(2);
    // init says where the register will be, and its config shows the keys.
    let fresh = tempfile::tempdir().unwrap();
    let output = selfbill()
        .current_dir(fresh.path())
        .arg("init")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("selfbill.db"));
    let starter = std::fs::read_to_string(fresh.path().join("selfbill.toml")).unwrap();
    assert!(starter.contains("[register]") && starter.contains("refunds_as"));
    for command in ["uuids", "list", "export"] {
        let help = books
            .command(&["register", command, "--help"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("Example"),
            "{command}"
        );
    }
}
