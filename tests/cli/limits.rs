//! What convert refuses before any work, and what it only warns about once:
//! issue times no e-invoice can have, rates in scientific notation or out of
//! any plausible band.

use crate::common::*;

fn stderr_of(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).to_string()
}

fn convert_now(out: &std::path::Path, extra: &[&str]) -> Assert {
    let mut cmd = selfbill();
    cmd.env("SELFBILL_NOW", "2026-11-26T00:00:00Z")
        .arg("convert")
        .arg(root().join(SAMPLE))
        .arg("-o")
        .arg(out)
        .args([
            "--config",
            "fixtures/selfbill.toml",
            "--suppliers",
            "fixtures/suppliers.csv",
            "--no-register",
        ])
        .args(extra);
    cmd.assert()
}

#[test]
fn issue_times_excel_cannot_show_or_no_e_invoice_has_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    for issued in [
        "9999-12-31T23:59:59-12:00",
        "1900-01-01T00:00:00Z",
        "2023-12-31T23:59:59Z",
        "2030-01-01T00:00:00Z",
    ] {
        let assert = convert_now(&out, &["--rate", "0.6097", "--issued-at", issued]).code(2);
        let stderr = stderr_of(&assert);
        assert!(stderr.contains("--issued-at"), "{issued}: {stderr}");
        assert!(!stderr.contains("Date range"), "{issued}: {stderr}");
        assert!(!out.exists());
    }
}

#[test]
fn an_issue_time_lhdn_will_reject_is_one_warning_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert_now(
        &out,
        &[
            "--rate",
            "0.6097",
            "--issued-at",
            "2026-10-01T00:00:00Z",
            "--json",
        ],
    )
    .success();
    let report = json(&assert.get_output().stdout);
    let old: Vec<&serde_json::Value> = findings_of(&report, "issuance.too-old");
    assert_eq!(old.len(), 1, "{old:?}");
    let message = old[0]["message"].as_str().unwrap();
    assert!(
        message.contains("--issued-at") && message.contains("reject"),
        "{message}"
    );
    assert!(
        out.exists(),
        "still written: pipelines reproduce files with --issued-at"
    );
}

#[test]
fn rates_in_scientific_notation_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    let assert = convert_now(&out, &["--rate", "1e3"]).code(2);
    let stderr = stderr_of(&assert);
    assert!(
        stderr.contains("--rate \"1e3\"") && stderr.contains("scientific"),
        "{stderr}"
    );
    // In the config too.
    let config = dir.path().join("selfbill.toml");
    let toml = std::fs::read_to_string(root().join("fixtures/selfbill.toml")).unwrap();
    std::fs::write(
        &config,
        toml.replace("currency = \"CNY\"", "currency = \"CNY\"\nrate = 6.097e-1"),
    )
    .unwrap();
    let assert = selfbill()
        .arg("convert")
        .arg(root().join(SAMPLE))
        .arg("-o")
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .args(["--suppliers", "fixtures/suppliers.csv", "--no-register"])
        .assert()
        .code(2);
    let stderr = stderr_of(&assert);
    assert!(stderr.contains("scientific"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn a_rate_outside_the_plausible_band_is_a_warning_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.xlsx");
    // CNY per MYR typed for MYR per CNY.
    let assert = convert_now(
        &out,
        &[
            "--rate",
            "1.6401",
            "--issued-at",
            "2026-11-26T00:00:00Z",
            "--json",
        ],
    )
    .success();
    let report = json(&assert.get_output().stdout);
    let warnings: Vec<&serde_json::Value> = findings_of(&report, "rate.implausible");
    assert_eq!(warnings.len(), 1, "{report}");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("1.6401") && message.contains("0.3") && message.contains("1.5"),
        "{message}"
    );
    // A rates file with a day out of band warns too, naming the date.
    let rates = dir.path().join("rates.csv");
    std::fs::write(
        &rates,
        "date,currency,rate\n2024-10-01,CNY,0.6097\n2024-10-20,CNY,60.97\n",
    )
    .unwrap();
    let out = dir.path().join("f.xlsx");
    let assert = {
        let mut cmd = selfbill();
        cmd.env("SELFBILL_NOW", "2026-11-26T00:00:00Z")
            .arg("convert")
            .arg(root().join(SAMPLE))
            .arg("-o")
            .arg(&out)
            .args([
                "--config",
                "fixtures/selfbill.toml",
                "--suppliers",
                "fixtures/suppliers.csv",
            ])
            .args([
                "--no-register",
                "--issued-at",
                "2026-11-26T00:00:00Z",
                "--json",
                "--rates",
            ])
            .arg(&rates);
        cmd.assert().success()
    };
    let report = json(&assert.get_output().stdout);
    let warnings: Vec<&serde_json::Value> = findings_of(&report, "rate.implausible");
    assert_eq!(warnings.len(), 1, "{report}");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("2024-10-20"),
        "{report}"
    );
}
