//! Exports and other inputs as they really arrive: BOMs and zero-width
//! characters, duplicate and misspelt headers, stray cells, files that are
//! not files, parts that would unpack without bound.

use crate::common::*;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// One order of one line: 10 × `price`, paid 100.00.
fn export_row(order_no: &str, price: &str) -> Vec<String> {
    [
        order_no,
        "深圳市样本电子科技有限公司",
        "szyangbendz",
        "100.00",
        "0",
        "0",
        "100.00",
        "交易成功",
        "2024-10-10 09:17:05",
        "不锈钢保温杯",
        price,
        "10",
        "个",
        "",
        "2024-10-10 09:15:00",
    ]
    .map(str::to_string)
    .to_vec()
}

fn write_xlsx(path: &Path, header: &[&str], rows: &[Vec<String>]) {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            if !value.is_empty() {
                sheet.write_string(r as u32 + 1, c as u16, value).unwrap();
            }
        }
    }
    workbook.save(path).unwrap();
}

fn findings(output: &[u8]) -> Vec<serde_json::Value> {
    json(output)["findings"].as_array().unwrap().clone()
}

#[test]
fn csv_rows_are_the_lines_a_text_editor_shows() {
    // Excel writes CSV lines ending in \r\n; old Mac files end them in \r.
    for end in ["\r\n", "\n", "\r"] {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("orders.csv");
        let mut text = EXPORT_HEADER.join(",") + end;
        text += &export_row("2420101234567540001", "abc").join(",");
        text += end;
        text += end;
        text += &export_row("2420101234567540002", "xyz").join(",");
        text += end;
        std::fs::write(&export, text).unwrap();
        let out = dir.path().join("e.xlsx");
        let assert = convert(&[&export], &out, &["--json"]).code(1);
        let bad: Vec<(i64, String)> = findings(&assert.get_output().stdout)
            .iter()
            .filter(|f| f["rule"] == "export.bad-cell")
            .map(|f| {
                (
                    f["row"].as_i64().unwrap(),
                    f["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            bad,
            [(2, "abc".to_string()), (4, "xyz".to_string())],
            "{end:?}"
        );
    }
}

#[test]
fn a_bom_or_zero_width_space_changes_no_header_and_no_order_number() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.xlsx");
    let mut header = EXPORT_HEADER.to_vec();
    header[0] = "\u{feff}订单编号";
    header[6] = "实付款(元)\u{200b}";
    write_xlsx(
        &export,
        &header,
        &[export_row("2420101234567540001\u{200b}", "10.00")],
    );
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&export], &out, &["--json"]).code(0);
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["invoices"][0]["invoice"], "2420101234567540001");
}

#[test]
fn an_export_with_two_paid_columns_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.xlsx");
    let mut header = EXPORT_HEADER.to_vec();
    header.push("实付款（元）");
    let mut row = export_row("2420101234567540001", "10.00");
    row.push("90.00".into());
    write_xlsx(&export, &header, &[row]);
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&export], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("实付款(元) is in two columns, G"),
        "{stderr}"
    );
    assert!(stderr.contains(" and P "), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn a_misspelt_order_number_header_names_the_closest_header() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("orders.xlsx");
    let mut header = EXPORT_HEADER.to_vec();
    header[0] = "订单编码";
    let rows: Vec<Vec<String>> = (0..200)
        .map(|i| export_row(&format!("24201012345675{i:05}"), "10.00"))
        .collect();
    write_xlsx(&export, &header, &rows);
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&export], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("row 1: this looks like the header row but has no 订单编号"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the closest header is \"订单编码\" in column A"),
        "{stderr}"
    );
}

#[test]
fn a_stray_cell_far_from_the_data_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&data("stray-cell-far.xls")], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("stray-cell-far.xls, sheet sheet1"),
        "{stderr}"
    );
    assert!(stderr.contains("a stray cell at IV65536"), "{stderr}");
}

#[test]
fn a_stray_cell_in_a_column_not_read_is_no_order_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let plain = convert(&[&data("orders.xls")], &out, &["--json"]).code(0);
    let stray = convert(
        &[&data("stray-cell-unread-column.xls")],
        &dir.path().join("f.xlsx"),
        &["--json"],
    )
    .code(0);
    let (plain, stray) = (
        json(&plain.get_output().stdout),
        json(&stray.get_output().stdout),
    );
    assert_eq!(stray["summary"]["errors"], 0);
    for field in ["orders", "invoices", "total_cny"] {
        assert_eq!(stray["summary"][field], plain["summary"][field], "{field}");
    }
}

#[cfg(unix)]
#[test]
fn inputs_that_are_not_regular_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("orders.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let out = dir.path().join("e.xlsx");
    for input in [Path::new("/dev/zero"), fifo.as_path()] {
        let mut cmd = selfbill();
        cmd.timeout(Duration::from_secs(60))
            .arg("convert")
            .arg(input)
            .arg("-o")
            .arg(&out)
            .args(["--config", "fixtures/selfbill.toml", "--rate", "0.6097"]);
        let assert = cmd.assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(stderr.contains("is not a regular file"), "{stderr}");
        let mut cmd = selfbill();
        cmd.timeout(Duration::from_secs(60)).arg("check").arg(input);
        cmd.assert().code(2);
    }
    let mut cmd = selfbill();
    cmd.timeout(Duration::from_secs(60))
        .arg("convert")
        .arg(SAMPLE)
        .arg("-o")
        .arg(&out)
        .args(["--config", "/dev/zero", "--rate", "0.6097"]);
    cmd.assert().code(2);
}

/// A minimal xlsx whose sheet declares `declared` bytes unpacked (the
/// zip's directory says so; the part itself is small).
fn xlsx_declaring(path: &Path, declared: u32) {
    let sheet = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><worksheet \
         xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>\
         <row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>{}</t></is></c></row>{}</sheetData></worksheet>",
        EXPORT_HEADER[0],
        "<row/>".repeat(1000)
    );
    let mut bytes = minimal_xlsx(&sheet);
    declare_size(&mut bytes, "xl/worksheets/sheet1.xml", declared);
    std::fs::write(path, bytes).unwrap();
}

/// An xlsx of one sheet, `sheet1`, with the given sheet XML.
fn minimal_xlsx(sheet: &str) -> Vec<u8> {
    let parts = [
        (
            "[Content_Types].xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
             <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
             <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
             <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
             <Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>".to_string(),
        ),
        (
            "_rels/.rels",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
             <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>".to_string(),
        ),
        (
            "xl/workbook.xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
             xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>\
             <sheet name=\"sheet1\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>".to_string(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
             <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>".to_string(),
        ),
        ("xl/worksheets/sheet1.xml", sheet.to_string()),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in &parts {
        zip.start_file(*name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Declares the zip part `name` `declared` bytes unpacked, in its local and
/// central headers (the part itself stays as it is).
fn declare_size(bytes: &mut [u8], name: &str, declared: u32) {
    let name = name.as_bytes();
    let mut at = 0;
    while let Some(found) = bytes[at..]
        .windows(name.len())
        .position(|w| w == name)
        .map(|p| p + at)
    {
        let (signature, offset) = if found >= 30 && bytes[found - 30..found - 26] == *b"PK\x03\x04"
        {
            (found - 30, 22)
        } else if found >= 46 && bytes[found - 46..found - 42] == *b"PK\x01\x02" {
            (found - 46, 24)
        } else {
            at = found + 1;
            continue;
        };
        bytes[signature + offset..signature + offset + 4].copy_from_slice(&declared.to_le_bytes());
        at = found + 1;
    }
}

#[test]
fn a_part_that_would_unpack_past_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("bomb.xlsx");
    xlsx_declaring(&export, 550_000_000);
    let out = dir.path().join("e.xlsx");
    let assert = convert(&[&export], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("xl/worksheets/sheet1.xml would unpack to 525 MB"),
        "{stderr}"
    );
    assert!(stderr.contains("at most 256 MB"), "{stderr}");
    let assert = selfbill().arg("check").arg(&export).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("at most 256 MB"), "{stderr}");
}

#[test]
fn an_export_of_one_endless_line_is_refused_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let header = EXPORT_HEADER.join(",");
    let spaces = dir.path().join("spaces.csv");
    let mut text = format!("{header}\n").into_bytes();
    text.extend(std::iter::repeat_n(b' ', 20 << 20));
    std::fs::write(&spaces, text).unwrap();
    let assert = convert(&[&spaces], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("spaces.csv, line 2, column A: a cell of more than 32767 characters"),
        "{stderr}"
    );
    assert!(stderr.contains("starting \"     "), "{stderr}");
    assert!(!out.exists());
}

/// orders.xls with a DATEMODE record one byte short (the WINDOW1 record
/// before it takes the byte, so the rest stays in place): calamine 0.38
/// panics on it ("range end index 2 out of range for slice of length 1",
/// as reported upstream for other short BIFF records).
fn xls_with_short_datemode(path: &Path) {
    let mut bytes = std::fs::read(data("orders.xls")).unwrap();
    assert_eq!(bytes[736..740], [0x3D, 0, 18, 0], "WINDOW1");
    assert_eq!(bytes[758..764], [0x22, 0, 2, 0, 0, 0], "DATEMODE");
    bytes[738] = 19;
    bytes[758..764].copy_from_slice(&[0, 0x22, 0, 1, 0, 0]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_file_the_spreadsheet_reader_panics_on_is_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.xls");
    xls_with_short_datemode(&damaged);
    let out = dir.path().join("e.xlsx");
    let mut assertions = vec![convert(&[&damaged], &out, &[]).code(2)];
    assertions.push(selfbill().arg("check").arg(&damaged).assert().code(2));
    for assert in assertions {
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(
            stderr.contains("damaged.xls: a damaged file: the spreadsheet reader stopped on it"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!out.exists());
}

/// A Compound File (version 4, 4,096-byte sectors) holding `stream` as its
/// `Workbook` stream: what Excel's .xls files are.
fn compound_file(stream: &[u8]) -> Vec<u8> {
    const SECTOR: usize = 4096;
    const END: u32 = 0xFFFF_FFFE;
    const FREE: u32 = 0xFFFF_FFFF;
    let data_sectors = stream.len().div_ceil(SECTOR);
    let directory = data_sectors;
    let mut fat_sectors = 1;
    while data_sectors + 1 + fat_sectors > fat_sectors * SECTOR / 4 {
        fat_sectors += 1;
    }
    assert!(fat_sectors <= 109);
    let mut fat = vec![FREE; fat_sectors * SECTOR / 4];
    for (i, next) in fat.iter_mut().enumerate().take(data_sectors) {
        *next = if i + 1 < data_sectors {
            i as u32 + 1
        } else {
            END
        };
    }
    fat[directory] = END;
    for f in 0..fat_sectors {
        fat[directory + 1 + f] = 0xFFFF_FFFD;
    }
    let mut file = vec![0u8; SECTOR];
    let put = |file: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        file[at..at + bytes.len()].copy_from_slice(bytes)
    };
    put(
        &mut file,
        0,
        &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1],
    );
    put(&mut file, 0x18, &[0x3E, 0, 4, 0, 0xFE, 0xFF, 12, 0, 6, 0]);
    put(&mut file, 0x28, &1u32.to_le_bytes());
    put(&mut file, 0x2C, &(fat_sectors as u32).to_le_bytes());
    put(&mut file, 0x30, &(directory as u32).to_le_bytes());
    put(&mut file, 0x38, &4096u32.to_le_bytes());
    put(&mut file, 0x3C, &END.to_le_bytes());
    put(&mut file, 0x44, &END.to_le_bytes());
    for i in 0..109 {
        let id = if i < fat_sectors {
            (directory + 1 + i) as u32
        } else {
            FREE
        };
        put(&mut file, 0x4C + 4 * i, &id.to_le_bytes());
    }
    file.extend(stream);
    file.resize((data_sectors + 1) * SECTOR, 0);
    let mut entries = vec![0u8; SECTOR];
    for i in 0..SECTOR / 128 {
        for field in [68, 72, 76] {
            put(&mut entries, i * 128 + field, &FREE.to_le_bytes());
        }
    }
    for (i, name, kind, child, start, size) in [
        // calamine wants a start for the (empty) mini stream.
        (0, "Root Entry", 5u8, 1u32, 0u32, 0u64),
        (1, "Workbook", 2, FREE, 0, stream.len() as u64),
    ] {
        let at = i * 128;
        let units: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        put(&mut entries, at, &units);
        put(
            &mut entries,
            at + 64,
            &(units.len() as u16 + 2).to_le_bytes(),
        );
        put(&mut entries, at + 66, &[kind, 1]);
        put(&mut entries, at + 76, &child.to_le_bytes());
        put(&mut entries, at + 116, &start.to_le_bytes());
        put(&mut entries, at + 120, &size.to_le_bytes());
    }
    file.extend(entries);
    file.extend(fat.iter().flat_map(|id| id.to_le_bytes()));
    file
}

/// A BIFF8 workbook of one sheet whose shared-string table holds `strings`
/// empty strings (3 bytes each), in CONTINUE records as Excel splits them.
fn xls_with_empty_strings(path: &Path, strings: usize) {
    fn record(stream: &mut Vec<u8>, kind: u16, data: &[u8]) {
        stream.extend(kind.to_le_bytes());
        stream.extend((data.len() as u16).to_le_bytes());
        stream.extend(data);
    }
    let bof = |kind: u16| {
        let mut data = vec![0x00, 0x06];
        data.extend(kind.to_le_bytes());
        data.extend([0u8; 12]);
        data
    };
    let mut stream = Vec::new();
    record(&mut stream, 0x0809, &bof(0x0005));
    record(&mut stream, 0x0042, &1200u16.to_le_bytes());
    let sheet_at = stream.len() + 4;
    record(
        &mut stream,
        0x0085,
        &[0, 0, 0, 0, 0, 0, 6, 0, b'O', b'r', b'd', b'e', b'r', b's'],
    );
    // As Excel does: no string split between records.
    let first = strings.min(2738);
    let mut table = [
        (strings as u32).to_le_bytes(),
        (strings as u32).to_le_bytes(),
    ]
    .concat();
    table.extend([0u8; 3].repeat(first));
    record(&mut stream, 0x00FC, &table);
    for piece in [0u8; 3].repeat(strings - first).chunks(3 * 2741) {
        record(&mut stream, 0x003C, piece);
    }
    record(&mut stream, 0x000A, &[]);
    let sheet = stream.len() as u32;
    stream[sheet_at..sheet_at + 4].copy_from_slice(&sheet.to_le_bytes());
    record(&mut stream, 0x0809, &bof(0x0010));
    record(
        &mut stream,
        0x0200,
        &[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0],
    );
    record(&mut stream, 0x00FD, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    record(&mut stream, 0x000A, &[]);
    std::fs::write(path, compound_file(&stream)).unwrap();
}

#[test]
fn an_xls_shared_string_bomb_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("strings.xls");
    xls_with_empty_strings(&bomb, 2_100_000);
    let out = dir.path().join("e.xlsx");
    let mut assertions = vec![convert(&[&bomb], &out, &[]).code(2)];
    assertions.push(selfbill().arg("check").arg(&bomb).assert().code(2));
    for assert in assertions {
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(
            stderr.contains("strings.xls: its shared-string table holds 2000001 strings or more"),
            "{stderr}"
        );
        assert!(stderr.contains("save it as .xlsx"), "{stderr}");
    }
    // A table within the limit is read.
    let small = dir.path().join("small.xls");
    xls_with_empty_strings(&small, 100_000);
    let assert = selfbill().arg("check").arg(&small).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("no Documents sheet"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn a_template_is_read_within_the_limits_of_an_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let fifo = dir.path().join("template.xlsx");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let large = dir.path().join("large.xlsx");
    std::fs::File::create(&large)
        .unwrap()
        .set_len(20 << 20)
        .unwrap();
    let bomb = dir.path().join("bomb.xlsx");
    let mut bytes = std::fs::read(root().join("assets/lhdn-batch-upload-template.xlsx")).unwrap();
    declare_size(&mut bytes, "docProps/app.xml", 550_000_000);
    std::fs::write(&bomb, bytes).unwrap();
    for (template, expected) in [
        (Path::new("/dev/zero"), "is not a regular file"),
        (fifo.as_path(), "is not a regular file"),
        (
            large.as_path(),
            "the template is 20 MB; selfbill reads files of at most 16 MB",
        ),
        (
            bomb.as_path(),
            "bomb.xlsx: its part docProps/app.xml would unpack to 525 MB; selfbill reads \
             template parts of at most 64 MB",
        ),
    ] {
        let mut cmd = selfbill();
        cmd.timeout(Duration::from_secs(60))
            .arg("convert")
            .arg(SAMPLE)
            .arg("-o")
            .arg(&out)
            .args([
                "--config",
                "fixtures/selfbill.toml",
                "--rate",
                "0.6097",
                "--no-register",
            ])
            .arg("--template")
            .arg(template);
        let assert = cmd.assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(
            stderr.contains(expected),
            "{}: {stderr}",
            template.display()
        );
        assert!(!out.exists());
        // The same template named under [output] in the config.
        let config = dir.path().join("selfbill.toml");
        let mut text = std::fs::read_to_string(root().join("fixtures/selfbill.toml")).unwrap();
        text.push_str(&format!(
            "\n[output]\ntemplate = {:?}\n",
            template.display().to_string()
        ));
        std::fs::write(&config, text).unwrap();
        let mut cmd = selfbill();
        cmd.timeout(Duration::from_secs(60))
            .arg("convert")
            .arg(SAMPLE)
            .arg("-o")
            .arg(&out)
            .arg("--config")
            .arg(&config)
            .args([
                "--suppliers",
                "fixtures/suppliers.csv",
                "--rate",
                "0.6097",
                "--no-register",
            ]);
        let assert = cmd.assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(
            stderr.contains(expected),
            "config {}: {stderr}",
            template.display()
        );
        assert!(!out.exists());
    }
}

/// A sheet of inline-string rows (row 1 first).
fn sheet_of(rows: &[Vec<String>]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><worksheet \
         xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>",
    );
    for (r, row) in rows.iter().enumerate() {
        xml.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, value) in row.iter().enumerate() {
            if !value.is_empty() {
                let letter = char::from(b'A' + c as u8);
                xml.push_str(&format!(
                    "<c r=\"{letter}{}\" t=\"inlineStr\"><is><t>{value}</t></is></c>",
                    r + 1
                ));
            }
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// `path` with one part's text replaced (`from` → `to`), every other part
/// as it is.
fn with_part_replaced(path: &Path, part: &str, from: &str, to: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if name == part {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains(from), "{part} has no {from:?}");
            bytes = text.replace(from, to).into_bytes();
        }
        out.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn a_cell_longer_than_excel_holds_is_reported_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let long = "长".repeat(40_000);
    // An export.
    let export = dir.path().join("long.xlsx");
    let mut row = export_row("2420101234567540001", "10.00");
    row[9] = long.clone();
    let header: Vec<String> = EXPORT_HEADER.iter().map(|h| h.to_string()).collect();
    std::fs::write(&export, minimal_xlsx(&sheet_of(&[header, row]))).unwrap();
    let assert = convert(&[&export], &out, &[]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("long.xlsx, sheet sheet1, row 2, column J: a cell of 40000 characters"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("starting {:?}…", "长".repeat(40))),
        "{stderr}"
    );
    assert!(!out.exists());
    // A supplier directory.
    let suppliers = dir.path().join("suppliers.csv");
    let text = std::fs::read_to_string(root().join("fixtures/suppliers.csv")).unwrap();
    let text = text.replacen("No. 88 Example Road", &"x".repeat(40_000), 1);
    std::fs::write(&suppliers, text).unwrap();
    let mut cmd = selfbill();
    cmd.arg("convert").arg(SAMPLE).arg("-o").arg(&out).args([
        "--config",
        "fixtures/selfbill.toml",
        "--rate",
        "0.6097",
        "--no-register",
    ]);
    let assert = cmd.arg("--suppliers").arg(&suppliers).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("suppliers.csv: bad supplier directory: line 2, column address0: a cell of 40000 characters"),
        "{stderr}"
    );
    // A batch workbook given to check.
    let batch = dir.path().join("batch.xlsx");
    let bytes = with_part_replaced(
        &data("good-batch.xlsx"),
        "xl/worksheets/sheet3.xml",
        ">Stainless steel vacuum flask 500ml<",
        &format!(">{long}<"),
    );
    std::fs::write(&batch, bytes).unwrap();
    let assert = selfbill()
        .args(["check", "--json"])
        .arg(&batch)
        .assert()
        .code(1);
    let found: Vec<serde_json::Value> = findings(&assert.get_output().stdout)
        .into_iter()
        .filter(|f| f["rule"] == "cell.too-long")
        .collect();
    assert!(!found.is_empty());
    assert_eq!(found[0]["sheet"], "DocumentLineItems");
    assert_eq!(found[0]["column"], "DescriptionProductService");
    assert_eq!(found[0]["value"], format!("{:?}…", "长".repeat(40)));
    assert!(found[0]["row"].as_u64().unwrap() >= 6);
}
