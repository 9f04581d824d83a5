//! Output sets: after a run the files on disk under the output's name are
//! exactly what that run wrote; inputs are never written; failures leave
//! the earlier set as it was and say so, in JSON too.

use crate::common::*;
use crate::money::{TestOrder, write_export};
use std::path::Path;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn invoice_numbers(path: &Path) -> Vec<String> {
    let documents = read_sheet(path, "Documents");
    documents
        .data_rows()
        .iter()
        .map(|r| text(&r[documents.col("eInvoiceNumber")]))
        .collect()
}

#[test]
fn force_replaces_the_whole_set_and_reports_what_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let sample = root().join(SAMPLE);
    convert(&[&sample], &out, &["--max-per-file", "2"]).success();
    assert_eq!(
        names(dir.path()),
        ["e-001.xlsx", "e-002.xlsx", "e-003.xlsx"]
    );

    // Without --force any existing part stops the run, even for a one-file output.
    let assert = convert(&[&sample], &out, &["--max-per-file", "100"]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("e-001.xlsx: already exists") && stderr.contains("--force"),
        "{stderr}"
    );

    let assert = convert(
        &[&sample],
        &out,
        &["--max-per-file", "4", "--force", "--json"],
    )
    .success();
    let report = json(&assert.get_output().stdout);
    assert_eq!(names(dir.path()), ["e-001.xlsx", "e-002.xlsx"]);
    let removed: Vec<String> = report["summary"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        removed,
        [dir.path().join("e-003.xlsx").display().to_string()]
    );
    // Each invoice is in exactly one file.
    let mut all = invoice_numbers(&dir.path().join("e-001.xlsx"));
    all.extend(invoice_numbers(&dir.path().join("e-002.xlsx")));
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!((count, all.len()), (6, 6));
}

#[test]
fn a_csv_folder_keeps_no_sheet_of_an_earlier_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("csv");
    convert(&[&root().join(SAMPLE)], &out, &["--format", "csv"]).success();
    assert!(out.join("DocumentDiscounts.csv").exists());
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();

    let export = dir.path().join("one.csv");
    write_export(
        &export,
        &[TestOrder {
            no: "9100",
            goods: "10",
            shipping: "0",
            adjustment: "0",
            paid: "10",
            lines: vec![("10".into(), "1".into())],
        }],
    );
    convert(&[&export], &out, &["--format", "csv"]).code(2);
    let assert = convert(&[&export], &out, &["--format", "csv", "--force", "--json"]).success();
    let report = json(&assert.get_output().stdout);
    assert!(
        report["summary"]["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with("DocumentDiscounts.csv")),
        "{report}"
    );
    assert_eq!(
        names(&out),
        [
            "DocumentLineItems.csv",
            "DocumentTotalTax.csv",
            "Documents.csv",
            "LineItemsTaxes.csv",
            "notes.txt"
        ]
    );
    let assert = selfbill()
        .args(["check", "--json"])
        .arg(&out)
        .assert()
        .success();
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    assert_eq!(report["summary"]["invoices"], 1);
}

#[test]
fn an_error_that_stops_the_run_is_json_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    std::fs::write(&out, b"keep me").unwrap();
    let assert = convert(&[&root().join(SAMPLE)], &out, &["--json"]).code(2);
    let report = json(&assert.get_output().stdout);
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("already exists"), "{message}");
    assert_eq!(report["error"]["exit_code"], 2);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

#[test]
fn inputs_are_never_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let suppliers = dir.path().join("suppliers.csv");
    std::fs::copy(root().join("fixtures/suppliers.csv"), &suppliers).unwrap();
    let before = std::fs::read(&suppliers).unwrap();
    let config = dir.path().join("selfbill.toml");
    std::fs::copy(root().join("fixtures/selfbill.toml"), &config).unwrap();
    for output in [&suppliers, &config] {
        let assert = selfbill()
            .arg("convert")
            .arg(root().join(SAMPLE))
            .arg("-o")
            .arg(output)
            .args(["--format", "xlsx", "--force", "--rate", "0.6097"])
            .arg("--config")
            .arg(&config)
            .arg("--suppliers")
            .arg(&suppliers)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(stderr.contains("is an input"), "{stderr}");
    }
    assert_eq!(std::fs::read(&suppliers).unwrap(), before);
    assert_eq!(
        std::fs::read(&config).unwrap(),
        std::fs::read(root().join("fixtures/selfbill.toml")).unwrap()
    );
}

#[cfg(unix)]
#[test]
fn a_dangling_link_at_the_output_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    std::os::unix::fs::symlink(dir.path().join("gone/e.xlsx"), &out).unwrap();
    let assert = convert(&[&root().join(SAMPLE)], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("is a symbolic link to") && stderr.contains("which does not exist"),
        "{stderr}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn temporary_files_of_a_killed_run_are_removed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    // Process 0 is never a selfbill run: its files are a dead run's.
    let stray = dir.path().join(".selfbill-0-Ab12Cd.tmp");
    std::fs::write(&stray, b"half a workbook").unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&root().join(SAMPLE)], &out, &["--json"]).success();
    let report = json(&assert.get_output().stdout);
    assert!(!stray.exists());
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "output.interrupted-run"),
        "{report}"
    );
    assert_eq!(names(dir.path()), ["e.xlsx"]);
}

/// A full disk, on a small tmpfs (Linux, as root; skipped elsewhere): the
/// run stops with exit 2, says so in JSON, and leaves the old set as it was.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_leaves_the_old_set_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=100k", "tmpfs"])
        .arg(&mount)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount);
    std::fs::write(mount.join("e-001.xlsx"), b"old part").unwrap();
    std::fs::write(mount.join("e-002.xlsx"), b"old part").unwrap();
    let out = mount.join("e.xlsx");
    let assert = convert(
        &[&root().join(SAMPLE)],
        &out,
        &["--max-per-file", "1", "--force", "--json"],
    )
    .code(2);
    let report = json(&assert.get_output().stdout);
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("disk is full"), "{message}");
    assert!(message.contains("nothing was written"), "{message}");
    assert_eq!(names(&mount), ["e-001.xlsx", "e-002.xlsx"]);
    assert_eq!(
        std::fs::read(mount.join("e-001.xlsx")).unwrap(),
        b"old part"
    );
}

/// CSV output that Excel opens: text that would be a formula starts with
/// `'`; numbers stay numbers; `check` reads the original text back.
#[test]
fn csv_output_neutralises_formulas_and_check_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("hostile.csv");
    let header = "订单编号,卖家公司名,卖家会员名,货品总价(元),运费(元),涨价或折扣(元),实付款(元),订单状态,订单付款时间,货品标题,单价(元),数量,单位,型号,订单创建时间";
    let rows = [
        "9200,\"=HYPERLINK(\"\"http://x\"\",\"\"click\"\")\",evil1,2,0,0,2,交易成功,2024-10-10 09:17:05,+1+1,1,2,个,,2024-10-10 09:17:05",
        "9201,@SUM(A1),evil2,3,0,0,3,交易成功,2024-10-10 09:17:05,\"=cmd|' /C calc'!A0\",3,1,个,,2024-10-10 09:17:05",
        "9202,-2+3,evil3,4,0,0,4,交易成功,2024-10-10 09:17:05,\"\t=1+1\",4,1,个,,2024-10-10 09:17:05",
    ];
    std::fs::write(&export, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    let suppliers = dir.path().join("suppliers.csv");
    let mut directory = String::from(
        "member_id,name,tin,id_type,id_no,sst_no,email,phone,address0,address1,address2,postcode,city,state,country\n",
    );
    for member in ["evil1", "evil2", "evil3"] {
        directory.push_str(&format!(
            "{member},,,,,,,+8657985550101,Road 1,,,,City,,CHN\n"
        ));
    }
    std::fs::write(&suppliers, directory).unwrap();
    let out = dir.path().join("csv");
    selfbill()
        .arg("convert")
        .arg(&export)
        .arg("-o")
        .arg(&out)
        .args([
            "--config",
            "fixtures/selfbill.toml",
            "--rate",
            "0.6097",
            "--no-register",
        ])
        .args(["--format", "csv", "--issued-at", ISSUED_AT, "--suppliers"])
        .arg(&suppliers)
        .assert()
        .success();

    let documents = std::fs::read_to_string(out.join("Documents.csv")).unwrap();
    let lines = std::fs::read_to_string(out.join("DocumentLineItems.csv")).unwrap();
    for text in [&documents, &lines] {
        for field in text.lines().flat_map(|l| l.split(',')) {
            let field = field.trim_start_matches('"');
            assert!(
                !field.starts_with(['=', '+', '@', '\t', '\r']),
                "a formula cell: {field:?}"
            );
        }
    }
    assert!(documents.contains("\"'=HYPERLINK("), "{documents}");
    assert!(documents.contains("'@SUM(A1)"), "{documents}");
    assert!(lines.contains("'+1+1"), "{lines}");
    // Amounts are numbers, not quoted text.
    assert!(lines.contains(",1,2,H87,2.00,"), "{lines}");

    // check reads the neutralised cells back as the original text.
    let assert = selfbill()
        .args(["check", "--json"])
        .arg(&out)
        .assert()
        .success();
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    // The cells read back as the original text, as check sees them.
    let read = selfbill::read::workbook::read_batch(&out).unwrap();
    let texts: Vec<String> = read
        .batch
        .sheets
        .iter()
        .flat_map(|sheet| &sheet.rows)
        .flat_map(|row| row.cells.iter().map(|c| c.as_text().into_owned()))
        .collect();
    for original in [
        "=HYPERLINK(\"http://x\",\"click\")",
        "@SUM(A1)",
        "-2+3",
        "+1+1",
        "=cmd|' /C calc'!A0",
        "=1+1",
    ] {
        assert!(
            texts.iter().any(|t| t == original),
            "{original:?} not read back"
        );
    }
    assert!(!texts.iter().any(|t| t.starts_with("'=")));
}

#[test]
fn suppliers_csv_gets_no_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("hostile.csv");
    let header = "订单编号,卖家公司名,卖家会员名,货品总价(元),运费(元),涨价或折扣(元),实付款(元),订单状态,订单付款时间,货品标题,单价(元),数量,单位,型号,订单创建时间";
    std::fs::write(
        &export,
        format!("{header}\n9300,=1+1,@evil,2,0,0,2,交易成功,2024-10-10 09:17:05,杯,1,2,个,,2024-10-10 09:17:05\n"),
    )
    .unwrap();
    let suppliers = dir.path().join("suppliers.csv");
    selfbill()
        .arg("suppliers")
        .arg(&export)
        .arg("--suppliers")
        .arg(&suppliers)
        .assert()
        .success();
    let text = std::fs::read_to_string(&suppliers).unwrap();
    assert!(text.contains("'@evil,'=1+1,"), "{text}");
    // The bookkeeper fills in the seller's phone and address.
    let filled = text.replace(
        "'@evil,'=1+1,,,,,,,,,,,,,",
        "'@evil,'=1+1,,,,,,+8657985550101,Road 1,,,,City,,CHN",
    );
    std::fs::write(&suppliers, filled).unwrap();
    // convert reads the seller back as it was named.
    let out = dir.path().join("e.xlsx");
    selfbill()
        .arg("convert")
        .arg(&export)
        .arg("-o")
        .arg(&out)
        .args([
            "--config",
            "fixtures/selfbill.toml",
            "--rate",
            "0.6097",
            "--no-register",
        ])
        .arg("--suppliers")
        .arg(&suppliers)
        .assert()
        .success();
    let documents = read_sheet(&out, "Documents");
    let name = text_of(&documents, "Supplier.Name");
    assert_eq!(name, "=1+1");
}

/// `selfbill suppliers` on a suppliers.csv that is a symbolic link: the
/// rows are added to the file the link points to, and the link stays.
#[cfg(unix)]
#[test]
fn suppliers_through_a_link_update_the_linked_file_and_keep_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("books");
    std::fs::create_dir(&books).unwrap();
    let real = books.join("suppliers.csv");
    let fixture = std::fs::read_to_string(root().join("fixtures/suppliers.csv")).unwrap();
    let first_two: String = fixture.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&real, &first_two).unwrap();
    let link = dir.path().join("suppliers.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    selfbill()
        .arg("suppliers")
        .arg(root().join(SAMPLE))
        .arg("--suppliers")
        .arg(&link)
        .assert()
        .success();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.starts_with(&first_two), "{text}");
    assert!(text.contains("\nszyangbendz,"), "{text}");
}

/// A GBK suppliers.csv (as Excel saves CSV on a Chinese Windows) gets its
/// new rows in GBK too: the whole file still decodes as GBK, and convert
/// reads the sellers' names back as they were.
#[test]
fn suppliers_appends_to_a_gbk_directory_in_gbk() {
    let dir = tempfile::tempdir().unwrap();
    let suppliers = dir.path().join("suppliers.csv");
    let fixture = std::fs::read_to_string(root().join("fixtures/suppliers.csv")).unwrap();
    let existing: String = fixture
        .lines()
        .take(2)
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .replace(
            "Yiwu Shili Daily Necessities Co. Ltd (义乌市示例日用品有限公司)",
            "义乌市示例日用品有限公司",
        );
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&existing);
    assert!(!unmappable);
    std::fs::write(&suppliers, &gbk).unwrap();
    selfbill()
        .arg("suppliers")
        .arg(root().join(SAMPLE))
        .arg("--suppliers")
        .arg(&suppliers)
        .assert()
        .success();
    let bytes = std::fs::read(&suppliers).unwrap();
    assert!(bytes.starts_with(&gbk));
    let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(&bytes);
    assert!(!had_errors, "not GBK throughout: {bytes:?}");
    assert!(
        text.contains("\r\nszyangbendz,深圳市样本电子科技有限公司,"),
        "{text}"
    );
}

fn text_of(sheet: &Sheet, header: &str) -> String {
    text(&sheet.data_rows()[0][sheet.col(header)])
}
