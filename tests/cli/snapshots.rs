//! What a person sees, pinned by snapshots: every command's `--help`,
//! `check`'s report on a faulty workbook as text and as JSON, a bad file's
//! error, `convert`'s report at 80 columns, and the README's quick start,
//! byte for byte.
//!
//! Each run is in a temporary folder holding the fixtures at their paths in
//! the repository, with an empty environment but for `NO_COLOR`, a fixed
//! clock (`SELFBILL_NOW`) and, where a width matters, `COLUMNS`.
//!
//! After a change of output, rewrite the snapshots (`tests/cli/snapshots/`)
//! and the README's pasted output, then read the diff:
//!
//! ```sh
//! INSTA_UPDATE=always cargo test --test cli snapshots
//! git diff tests/cli/snapshots README.md
//! ```

use crate::common::*;
use std::path::Path;
use std::process::Output;

/// The clock for every run: within 72 hours after the faulty workbook's
/// IssuanceDateTime, so that none is reported as too old.
const NOW: &str = "2026-11-21T00:00:00Z";

/// Files the runs read, copied to the same relative paths.
const FILES: [&str; 5] = [
    "fixtures/orders-2024-10.xlsx",
    "fixtures/selfbill.toml",
    "fixtures/suppliers.csv",
    "tests/data/faulty-batch.xlsx",
    "tests/data/missing-columns.xlsx",
];

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        for file in FILES {
            let to = dir.path().join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root().join(file), to).unwrap();
        }
        Sandbox { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `selfbill ARGS` in the sandbox; `columns` sets `COLUMNS`.
    fn run(&self, args: &[&str], columns: Option<usize>) -> Output {
        let mut cmd = Command::selfbill();
        cmd.current_dir(self.path())
            .env_clear()
            .env("NO_COLOR", "1")
            .env("SELFBILL_NOW", NOW)
            .args(args);
        if let Some(columns) = columns {
            cmd.env("COLUMNS", columns.to_string());
        }
        cmd.output().unwrap()
    }
}

/// The command, its exit status, stdout and stderr, as one text.
fn transcript(args: &[&str], output: &Output) -> String {
    format!(
        "$ selfbill {}\nexit status: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        args.join(" "),
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

fn snapshot(name: &str, args: &[&str], columns: Option<usize>) -> Output {
    let output = Sandbox::new().run(args, columns);
    insta::with_settings!({ omit_expression => true, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, transcript(args, &output));
    });
    output
}

/// The commands listed under `Commands:` in a help text, but `help`.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // `  name  what it does`; wrapped descriptions are indented further.
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_commands_help() {
    let sandbox = Sandbox::new();
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = Vec::new();
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let output = sandbox.run(&args, Some(80));
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let name = ["help"]
            .into_iter()
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        insta::with_settings!({ omit_expression => true, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name.as_str(), transcript(&args, &output));
        });
        for command in commands(&String::from_utf8_lossy(&output.stdout)) {
            let mut sub = path.clone();
            sub.push(command);
            pending.push(sub);
        }
        seen.push(name);
    }
    assert!(seen.len() >= 8, "{seen:?}");
}

#[test]
fn check_on_a_faulty_workbook_as_text() {
    let output = snapshot(
        "check-faulty",
        &["check", "tests/data/faulty-batch.xlsx"],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn check_on_a_faulty_workbook_as_json() {
    let args = ["check", "tests/data/faulty-batch.xlsx", "--json"];
    let output = Sandbox::new().run(&args, None);
    assert_eq!(output.status.code(), Some(1));
    json(&output.stdout);
    // One finding per line in the snapshot: a line break after each `},`
    // between two objects, nothing else changed.
    let mut shown = output.clone();
    shown.stdout = String::from_utf8(output.stdout)
        .unwrap()
        .replace("},{", "},\n{")
        .into_bytes();
    insta::with_settings!({ omit_expression => true, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("check-faulty-json", transcript(&args, &shown));
    });
}

#[test]
fn a_file_missing_columns_cannot_run() {
    let output = snapshot(
        "convert-missing-columns",
        &[
            "convert",
            "tests/data/missing-columns.xlsx",
            "--config",
            "fixtures/selfbill.toml",
            "--rate",
            "0.6097",
            "-o",
            "out.xlsx",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
}

/// Terminal columns of a line: CJK characters take two.
fn columns(line: &str) -> usize {
    line.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF => 2,
            0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

#[test]
fn convert_at_80_columns_breaks_no_rule_id_or_invoice_number() {
    let args = [
        "convert",
        SAMPLE,
        "--config",
        "fixtures/selfbill.toml",
        "--suppliers",
        "fixtures/suppliers.csv",
        "--rate",
        "0.6097",
        "--issued-at",
        NOW,
        "-o",
        "out.xlsx",
    ];
    let output = snapshot("convert-80-columns", &args, Some(80));
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    for line in text.lines() {
        assert!(columns(line) <= 80, "wider than 80 columns: {line}");
    }
    let sandbox = Sandbox::new();
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let report = json(&sandbox.run(&with_json, Some(80)).stdout);
    let findings = report["findings"].as_array().unwrap();
    let invoices = report["invoices"].as_array().unwrap();
    assert!(!findings.is_empty() && !invoices.is_empty());
    let whole = findings
        .iter()
        .flat_map(|f| [&f["rule"], &f["invoice"]])
        .chain(invoices.iter().map(|i| &i["invoice"]))
        .filter_map(|v| v.as_str());
    for word in whole {
        assert!(text.contains(word), "{word} is split across lines:\n{text}");
    }
}

/// The README's quick start: the `cargo run --release -- convert` line of its
/// first `sh` block, and the `text` block after it, which must be exactly
/// what that command prints (through a pipe, so no terminal width).
#[test]
fn the_readme_quick_start_prints_what_the_readme_shows() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find("## Quick start")
        .expect("a Quick start section");
    let sh = start + readme[start..].find("```sh\n").expect("an sh block") + 6;
    let sh_end = sh + readme[sh..].find("```").unwrap();
    let commands: Vec<&str> = readme[sh..sh_end].lines().collect();
    assert_eq!(
        commands.len(),
        2,
        "the quick start is two commands: {commands:?}"
    );
    assert_eq!(commands[1], "cargo test", "the second runs the tests");
    let command = readme[sh..sh_end]
        .lines()
        .find(|line| line.starts_with("cargo run --release -- convert "))
        .expect("a `cargo run --release -- convert` line in the quick start");
    let args: Vec<&str> = command
        .split('#')
        .next()
        .unwrap()
        .split_whitespace()
        .skip(4)
        .collect();
    let text = sh_end + readme[sh_end..].find("```text\n").expect("a text block") + 8;
    let text_end = text + readme[text..].find("```").unwrap();
    let pasted = &readme[text..text_end];

    let output = Sandbox::new().run(&args, None);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        transcript(&args, &output)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    if printed == pasted {
        return;
    }
    if std::env::var("INSTA_UPDATE").as_deref() == Ok("always") {
        let updated = format!("{}{printed}{}", &readme[..text], &readme[text_end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's quick-start output is not what `{command}` prints; \
         `INSTA_UPDATE=always cargo test --test cli snapshots` pastes the new output in.\n\
         --- README.md\n{pasted}--- printed\n{printed}"
    );
}
