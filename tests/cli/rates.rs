//! Exchange rates by payment date from BNM files, `rates fetch`, and MYR invoices.

use crate::common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

const SYNTHETIC: &str = "tests/data/bnm/cny-2024-10-11-synthetic.json";

fn convert_with_rates(export: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> Assert {
    selfbill()
        .arg("convert")
        .arg(export)
        .arg("-o")
        .arg(out)
        .args([
            "--config",
            "fixtures/selfbill.toml",
            "--suppliers",
            "fixtures/suppliers.csv",
            "--issued-at",
            ISSUED_AT,
        ])
        .args(["--rates", SYNTHETIC, "--no-register"])
        .args(extra)
        .assert()
}

#[test]
fn each_order_takes_the_rate_of_its_payment_day_or_the_day_before() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert =
        convert_with_rates(&data("orders-paid-on-odd-days.xlsx"), &out, &["--json"]).code(1);
    assert!(!out.exists());
    let report = json(&assert.get_output().stdout);
    // Paid before the file's first date (2024-09-30): an error naming the order and the date.
    let missing = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "rate.missing")
        .expect("rate.missing");
    assert_eq!(missing["invoice"], "2420221234567540003");
    assert_eq!(missing["value"], "2024-09-30");
    assert_eq!(missing["row"], 7);
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("2024-10-01 to 2024-11-29")
    );

    // Written without that order, the others carry their rates and dates.
    let assert = convert_with_rates(
        &data("orders-paid-on-odd-days.xlsx"),
        &out,
        &["--json", "--skip-invalid"],
    )
    .code(1);
    let report = json(&assert.get_output().stdout);
    let invoices = report["invoices"].as_array().unwrap();
    let find = |order: &str| {
        invoices
            .iter()
            .find(|i| i["order"] == order)
            .unwrap()
            .clone()
    };
    // Saturday 12 October 2024 takes Friday the 11th.
    let saturday = find("2420101234567540001");
    assert_eq!(saturday["rate_date"], "2024-10-11");
    assert_eq!(saturday["rate"], "0.6106");
    // Thursday 31 October (Deepavali, no rate) takes Wednesday the 30th.
    let holiday = find("2420151234567540002");
    assert_eq!(holiday["rate_date"], "2024-10-30");
    assert_eq!(holiday["rate"], "0.6197");
    // A business day takes its own rate.
    assert_eq!(find("2421111234567540009")["rate_date"], "2024-11-11");
    assert!(
        report["summary"]["rate_source"]
            .as_str()
            .unwrap()
            .contains("cny-2024-10-11-synthetic.json")
    );

    // The workbook carries each invoice's rate.
    let documents = read_sheet(&out, "Documents");
    let row = documents
        .data_rows()
        .into_iter()
        .find(|r| text(&r[documents.col("eInvoiceNumber")]) == "2420101234567540001")
        .unwrap()
        .clone();
    assert_eq!(
        decimal(&row[documents.col("CurrencyExchangeRate")]),
        dec("0.6106")
    );
}

#[test]
fn a_rates_file_without_cny_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = selfbill()
        .args([
            "convert",
            SAMPLE,
            "--no-register",
            "--config",
            "fixtures/selfbill.toml",
            "--rates",
            "tests/data/bnm/api-USD-month-2026-09-session-1200.json",
            "-o",
        ])
        .arg(&out)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("no CNY rates"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn csv_rates_work_too() {
    let dir = tempfile::tempdir().unwrap();
    let rates = dir.path().join("rates.csv");
    std::fs::write(&rates, "date,currency,rate\n2024-10-01,CNY,0.61\n").unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = selfbill()
        .args([
            "convert",
            SAMPLE,
            "--no-register",
            "--config",
            "fixtures/selfbill.toml",
            "--suppliers",
            "fixtures/suppliers.csv",
            "--json",
            "--rates",
        ])
        .arg(&rates)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let report = json(&assert.get_output().stdout);
    assert!(
        report["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["rate"] == "0.61" && i["rate_date"] == "2024-10-01")
    );
}

#[test]
fn myr_invoices_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("myr.toml");
    let toml = std::fs::read_to_string(root().join("fixtures/selfbill.toml")).unwrap();
    std::fs::write(
        &config,
        toml.replace("currency = \"CNY\"", "currency = \"MYR\""),
    )
    .unwrap();
    let out = dir.path().join("myr.xlsx");
    let assert = selfbill()
        .args([
            "convert",
            SAMPLE,
            "--suppliers",
            "fixtures/suppliers.csv",
            "--json",
            "--rate",
            "0.6097",
            "--config",
        ])
        .arg(&config)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["summary"]["total_cny"], "1967.50");
    selfbill().arg("check").arg(&out).assert().success();
    let documents = read_sheet(&out, "Documents");
    let first = documents.data_rows()[0].clone();
    assert_eq!(text(&first[documents.col("CurrencyCode")]), "MYR");
    assert_eq!(text(&first[documents.col("CurrencyExchangeRate")]), "");
    // O1, each amount converted once: lines 500.00 → 304.85 and 74.00 → 45.12 (UnitPrice
    // 7.6213 and 1.1279, which × 40 give them), shipping 15.00 → 9.15; 实付款 589.00 → 359.11,
    // so TotalRoundingAmount −0.01.
    assert_eq!(
        decimal(&first[documents.col("TotalNetAmount")]),
        dec("349.97")
    );
    assert_eq!(
        decimal(&first[documents.col("TotalPayableAmount")]),
        dec("359.11")
    );
    assert_eq!(
        decimal(&first[documents.col("TotalRoundingAmount")]),
        dec("-0.01")
    );
    let lines = read_sheet(&out, "DocumentLineItems");
    assert_eq!(
        decimal(&lines.data_rows()[0][lines.col("UnitPrice")]),
        dec("7.6213")
    );
}

/// A one-connection-at-a-time HTTP server on 127.0.0.1 answering like BNM.
fn serve_bnm(body: Vec<u8>, requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                request.push_str(&line);
            }
            let accepted = request.contains("application/vnd.BNM.API.v1+json");
            let (status, payload) = if accepted
                && request.starts_with("GET /exchange-rate/CNY/year/2024/month/10?session=1200 ")
            {
                ("200 OK", body.clone())
            } else {
                (
                    "404 Not Found",
                    br#"{"message":"No records found.","code":404}"#.to_vec(),
                )
            };
            write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", payload.len()).unwrap();
            stream.write_all(&payload).unwrap();
            seen.push(request.lines().next().unwrap_or_default().to_string());
        }
        seen
    });
    (base, handle)
}

/// `selfbill rates fetch --month MONTH -o OUT` against the BNM API at `base`.
fn fetch(base: &str, month: &str, out: &std::path::Path) -> std::process::Output {
    selfbill()
        .env("SELFBILL_BNM_URL", base)
        .args(["rates", "fetch", "--month", month, "-o"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn rates_fetch_saves_bnms_response_as_is() {
    let recorded = std::fs::read(root().join(SYNTHETIC)).unwrap();
    let (base, server) = serve_bnm(recorded.clone(), 2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bnm.json");
    assert_eq!(fetch(&base, "2024-10", &out).status.code(), Some(0));
    assert_eq!(std::fs::read(&out).unwrap(), recorded);

    // BNM's 404 "No records found" is a clear error, and nothing is written.
    let missing = dir.path().join("none.json");
    let output = fetch(&base, "2030-01", &missing);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        stderr.contains("BNM has no CNY rates for 2030-01") && stderr.contains("No records found"),
        "{stderr}"
    );
    assert!(!missing.exists());
    let seen = server.join().unwrap();
    assert_eq!(
        seen[0],
        "GET /exchange-rate/CNY/year/2024/month/10?session=1200 HTTP/1.1"
    );
}

#[test]
fn rates_fetch_offline_is_a_clear_error() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bnm.json");
    let output = fetch(&format!("http://127.0.0.1:{port}"), "2024-10", &out);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        stderr.contains("cannot reach") && stderr.contains("offline"),
        "{stderr}"
    );
    assert!(!out.exists());
}
