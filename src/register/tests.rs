use super::reconcile::{Settings, Triage, digest};
use super::*;
use crate::config::Config;
use crate::config::SupplierDirectory;
use crate::model::Invoice;
use crate::model::Order;
use crate::testing::{d, map, now, order};

/// The fixture config with invoice numbers `SB-{order_no}`.
fn config() -> Config {
    let text = include_str!("../../fixtures/selfbill.toml")
        .replace("number = \"{order_no}\"", "number = \"SB-{order_no}\"");
    Config::parse(&text).unwrap()
}

const WAIT: Duration = Duration::from_millis(50);

fn new_register(dir: &tempfile::TempDir) -> Register {
    Register::open(&dir.path().join("selfbill.db"), true, WAIT).unwrap()
}

fn paid(no: &str, amount: &str) -> Order {
    // One line of `amount` × 1, no shipping: 实付款 = amount.
    order(no, &[(amount, "1", "个")], "0", "0", amount)
}

fn with_status(mut order: Order, status: &str) -> Order {
    order.status = status.into();
    order
}

/// One run: triage, map what is left, "write" everything to `out`, record.
fn run(
    register: &mut Register,
    orders: Vec<Order>,
    reissue: &[&str],
    out: &str,
) -> (Triage, Vec<Invoice>) {
    let config = config();
    let suppliers = SupplierDirectory::default();
    let reissue: Vec<String> = reissue.iter().map(|s| s.to_string()).collect();
    register.lock().unwrap();
    let mut triage = Triage::new(
        register,
        orders,
        &Settings {
            config: &config,
            suppliers: &suppliers,
            issued_at: now(),
            reissue: &reissue,
        },
    )
    .unwrap();
    let mut invoices = map(&triage.to_map, &config).invoices;
    for invoice in &mut invoices {
        if let Some(number) = triage.reissue_number(&invoice.order_no) {
            invoice.number = number.to_string();
        }
    }
    invoices.append(&mut triage.notes);
    triage.follow_up_holds(&invoices);
    let written: Vec<(&Invoice, &str)> = invoices.iter().map(|i| (i, out)).collect();
    let record = triage.record(
        &written,
        now(),
        vec!["export.xlsx".into()],
        vec![out.into()],
    );
    register.record_run(&record).unwrap();
    (triage, invoices)
}

fn rules(triage: &Triage) -> Vec<&'static str> {
    triage.findings.iter().map(|f| f.rule.id).collect()
}

fn validate(register: &mut Register, number: &str, uuid: &str) {
    register
        .record_uuids(
            &[UuidEntry {
                number: number.into(),
                uuid: uuid.into(),
            }],
            "uuids.csv",
        )
        .unwrap();
}

const UUID_A: &str = "42S512YACQBRSRHYKBXBTGQG22";
const UUID_B: &str = "F9D425P6DS7D8IU2J7E3KQTH10";

#[test]
fn locates_the_register_as_the_design_says() {
    assert_eq!(
        locate(
            Some(Path::new("x.db")),
            Some(Path::new("books/selfbill.toml")),
            Some(Path::new("r.db"))
        ),
        PathBuf::from("x.db")
    );
    assert_eq!(
        locate(
            None,
            Some(Path::new("books/selfbill.toml")),
            Some(Path::new("r.db"))
        ),
        PathBuf::from("books/r.db")
    );
    assert_eq!(
        locate(
            None,
            Some(Path::new("books/selfbill.toml")),
            Some(Path::new("/abs/r.db"))
        ),
        PathBuf::from("/abs/r.db")
    );
    assert_eq!(
        locate(None, Some(Path::new("books/selfbill.toml")), None),
        PathBuf::from("books/selfbill.db")
    );
    assert_eq!(
        locate(None, Some(Path::new("selfbill.toml")), None),
        PathBuf::from("selfbill.db")
    );
    assert_eq!(locate(None, None, None), PathBuf::from("selfbill.db"));
}

#[test]
fn a_new_register_has_the_latest_schema_and_selfbills_id() {
    let dir = tempfile::tempdir().unwrap();
    let register = new_register(&dir);
    assert_eq!(schema::version(&register.conn).unwrap(), SCHEMA_VERSION);
    let id: i32 = register
        .conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, schema::APPLICATION_ID);
    drop(register);
    // No temporary files are left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["selfbill.db"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("selfbill.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "an ordinary file, like the workbooks");
    }
    // Opening without `create` finds it; a missing one is an error.
    Register::open(&dir.path().join("selfbill.db"), false, WAIT).unwrap();
    let err = Register::open(&dir.path().join("other.db"), false, WAIT).unwrap_err();
    assert!(err.to_string().contains("no register here yet"), "{err}");
    assert!(!dir.path().join("other.db").exists());
}

#[test]
fn migrations_upgrade_an_older_register_and_keep_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 1, "old.db").unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 1);
        conn.execute_batch(
            "INSERT INTO runs (id, started_at, issued_at, exports, outputs, version) \
             VALUES (1, '2024-11-01T00:00:00Z', '2024-11-01T00:00:00Z', 'oct.xlsx', 'e.xlsx', '0.1.0');
             INSERT INTO documents VALUES ('A1', 'invoice', '11', 'A1', NULL, 'seller', 'CNY', '10.00', \
             '10.00', '6.10', '0.6097', 'abc', '2024-11-01T00:00:00Z', 'e.xlsx', 1, 'written');",
        )
        .unwrap();
    }
    let mut register = Register::open(&path, false, WAIT).unwrap();
    assert_eq!(schema::version(&register.conn).unwrap(), SCHEMA_VERSION);
    let document = register.document("A1").unwrap().unwrap();
    assert_eq!(document.total_myr, d("6.10"));
    assert_eq!(document.state, State::Written);
    assert_eq!(document.uuid, None);
    // The columns the second migration added work.
    validate(&mut register, "A1", UUID_A);
    let document = register.document("A1").unwrap().unwrap();
    assert_eq!(document.state, State::Validated);
    assert_eq!(document.uuid.as_deref(), Some(UUID_A));
}

#[test]
fn a_register_from_a_newer_selfbill_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("selfbill.db");
    drop(new_register(&dir));
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Register::open(&path, true, WAIT).unwrap_err().to_string();
    assert!(err.contains("newer selfbill"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn files_that_are_not_registers_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "text.db",
            b"order,uuid\n1,2\n".to_vec(),
            "not an SQLite database",
        ),
        ("empty.db", Vec::new(), "empty file"),
        (
            "short.db",
            b"SQLite format 3\0".to_vec(),
            "not an SQLite database",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = Register::open(&path, true, WAIT).unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
        assert!(err.contains("nothing was changed"), "{name}: {err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}");
    }
    // Another program's SQLite database.
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    let err = Register::open(&other, true, WAIT).unwrap_err().to_string();
    assert!(err.contains("another program"), "{err}");
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

#[test]
fn a_corrupt_register_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("selfbill.db");
    let mut register = new_register(&dir);
    let orders: Vec<Order> = (1..=40)
        .map(|i| paid(&format!("{i:04}"), "10.00"))
        .collect();
    run(&mut register, orders, &[], "e.xlsx");
    drop(register);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 4096, "more than one page");
    // Scribble over the second page (a b-tree page) and beyond.
    for byte in bytes.iter_mut().skip(4096).take(2048) {
        *byte = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Register::open(&path, true, WAIT).unwrap_err().to_string();
    assert!(err.contains("corrupt"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_second_run_waits_for_the_lock_then_says_why_it_gave_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = new_register(&dir);
    first.lock().unwrap();
    let mut second = Register::open(&dir.path().join("selfbill.db"), true, WAIT).unwrap();
    // Reading is possible meanwhile; writing is not.
    assert!(second.documents(None).unwrap().is_empty());
    let err = second.lock().unwrap_err().to_string();
    assert!(err.contains("in use by another selfbill run"), "{err}");
    first.record_run(&RunRecord::default()).unwrap();
    second.lock().unwrap();
}

#[test]
fn dropping_a_locked_register_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    register.lock().unwrap();
    register
        .insert_run(&RunRecord::default(), &mut |_| Ok(()))
        .unwrap();
    drop(register);
    let register = new_register(&dir);
    let runs: i64 = register
        .conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 0);
}

#[test]
fn digests_ignore_where_and_how_amounts_were_written() {
    let a = paid("1", "12.50");
    let mut b = paid("1", "12.5");
    b.source = crate::model::Location::new("other.csv", None, Some(9));
    b.lines[0].row = 9;
    b.status = "交易关闭".into();
    assert_eq!(digest(&a), digest(&b));
    let mut c = paid("1", "12.50");
    c.lines[0].title.push('!');
    assert_ne!(digest(&a), digest(&c));
    assert_eq!(digest(&a).len(), 64);
}

/// The digest is the SHA-256 of each field followed by U+001F, the amounts
/// as their normalized `Display` writes them: held to that definition over
/// amounts of every scale and sign.
#[test]
fn digests_hash_each_field_then_a_unit_separator() {
    use sha2::{Digest as _, Sha256};
    let amounts = [
        "0",
        "-0.00",
        "12.50",
        "-3",
        "0.0000001",
        "79228162514264337593543950335",
    ];
    for (i, price) in amounts.iter().enumerate() {
        let quantity = amounts[(i + 1) % amounts.len()];
        let mut order = order(
            "77",
            &[(price, quantity, "件"), ("1", "2", "")],
            "5",
            price,
            "1.10",
        );
        order.lines[0].title = format!("title {i} \u{1f} ünï");
        order.lines[1].model = "型号".into();
        let mut text = String::new();
        for field in [&order.order_no, &order.seller_member] {
            text.push_str(field);
            text.push('\u{1f}');
        }
        for amount in [
            order.goods_total,
            order.shipping,
            order.adjustment,
            order.paid,
        ] {
            text.push_str(&format!("{}\u{1f}", amount.normalize()));
        }
        for line in &order.lines {
            text.push_str(&format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}",
                line.title,
                line.model,
                line.unit_price.normalize(),
                line.quantity.normalize(),
                line.unit
            ));
        }
        let expected: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest(&order), expected, "{order:?}");
    }
}

/// Registers on users' disks hold these digests: the same order must always
/// digest to the same text, or every order would look changed.
#[test]
fn digests_are_those_registers_already_hold() {
    let mut order = order(
        "3021",
        &[("12.50", "2", "个"), ("-0.010", "1.000", "")],
        "8",
        "-1.5",
        "33.49",
    );
    order.lines[1].title = "Ünïcode \u{1f} line".into();
    order.lines[1].model = "型号 A".into();
    assert_eq!(
        digest(&order),
        "07cd4c050ae920cf5ea84fb716d77f45cfda1c83c2341aaaf41add05f2230fc5"
    );
    assert_eq!(
        digest(&paid("1", "0.00")),
        "2f68dd1bd4fb38f372c1f94f5b480fab64e4aaed70c29485d0fb989fe2498a49"
    );
}

#[test]
fn an_order_is_invoiced_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    let (triage, written) = run(
        &mut register,
        vec![paid("1", "10.00"), paid("2", "20.00")],
        &[],
        "oct.xlsx",
    );
    assert_eq!(written.len(), 2);
    assert!(triage.findings.is_empty());
    let document = register.document("SB-1").unwrap().unwrap();
    assert_eq!(
        (
            document.kind,
            document.state,
            document.total_cny,
            document.total_myr,
            document.output.as_str()
        ),
        (
            Kind::Invoice,
            State::Written,
            d("10.00"),
            d("6.10"),
            "oct.xlsx"
        )
    );
    assert_eq!(document.digest, digest(&paid("1", "10.00")));
    assert_eq!(document.seller, "yiwushili2019");

    // The next month's export repeats order 1 and adds order 3.
    let (triage, written) = run(
        &mut register,
        vec![paid("1", "10.0"), paid("3", "30.00")],
        &[],
        "nov.xlsx",
    );
    assert_eq!(
        written
            .iter()
            .map(|i| i.number.as_str())
            .collect::<Vec<_>>(),
        ["SB-3"]
    );
    assert_eq!(rules(&triage), ["register.already-invoiced"]);
    assert_eq!(triage.already_invoiced, 1);
    let message = &triage.findings[0].message;
    assert!(
        message.contains("SB-1 in oct.xlsx on 2026-11-26"),
        "{message}"
    );
    assert_eq!(register.documents(None).unwrap().len(), 3);
}

#[test]
fn a_changed_order_with_the_same_amount_is_reported_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    run(&mut register, vec![paid("1", "10.00")], &[], "oct.xlsx");
    let mut changed = paid("1", "10.00");
    changed.lines[0].title = "另一个标题".into();
    let (triage, written) = run(&mut register, vec![changed], &[], "nov.xlsx");
    assert!(written.is_empty());
    assert_eq!(rules(&triage), ["register.order-changed"]);
}

#[test]
fn reissue_rewrites_a_written_invoice_under_its_number_and_never_a_validated_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    run(
        &mut register,
        vec![paid("1", "10.00"), paid("2", "20.00")],
        &[],
        "oct.xlsx",
    );
    let (triage, written) = run(
        &mut register,
        vec![paid("1", "10.00")],
        &["1"],
        "again.xlsx",
    );
    assert!(triage.findings.is_empty(), "{:?}", triage.findings);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].number, "SB-1");
    let document = register.document("SB-1").unwrap().unwrap();
    assert_eq!(
        (document.output.as_str(), document.state),
        ("again.xlsx", State::Written)
    );
    assert_eq!(register.documents(None).unwrap().len(), 2);

    validate(&mut register, "SB-2", UUID_A);
    let (triage, written) = run(
        &mut register,
        vec![paid("2", "20.00")],
        &["2", "9"],
        "x.xlsx",
    );
    assert!(written.is_empty());
    assert_eq!(
        rules(&triage),
        ["register.reissue-refused", "register.reissue-refused"]
    );
    assert!(
        triage.findings[0]
            .message
            .contains("not in this run's exports")
    );
    assert!(
        triage.findings[1].message.contains(UUID_A),
        "{}",
        triage.findings[1].message
    );
    assert_eq!(
        register.document("SB-2").unwrap().unwrap().output,
        "oct.xlsx"
    );
}

#[test]
fn a_refund_after_invoicing_needs_the_uuid_then_gives_a_refund_note() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    run(
        &mut register,
        vec![paid("1", "10.00"), paid("2", "20.00")],
        &[],
        "oct.xlsx",
    );

    // Order 1 closed, order 2 paid less: no UUIDs yet.
    let closed = with_status(paid("1", "10.00"), "交易关闭");
    let mut lower = paid("2", "20.00");
    lower.paid = d("15.00");
    let (triage, written) = run(
        &mut register,
        vec![closed.clone(), lower.clone()],
        &[],
        "nov.xlsx",
    );
    assert!(written.is_empty());
    assert_eq!(
        rules(&triage),
        ["register.uuid-missing", "register.uuid-missing"]
    );
    assert!(triage.findings[0].hint.contains("selfbill register uuids"));

    validate(&mut register, "SB-1", UUID_A);
    validate(&mut register, "SB-2", UUID_B);
    let (triage, notes) = run(
        &mut register,
        vec![closed.clone(), lower.clone()],
        &[],
        "nov.xlsx",
    );
    assert_eq!(
        rules(&triage),
        ["register.note-issued", "register.note-issued"]
    );
    let summary: Vec<(&str, &str, rust_decimal::Decimal, &str, &str)> = notes
        .iter()
        .map(|n| {
            (
                n.number.as_str(),
                &*n.type_code,
                n.totals.payable,
                n.references[0].number.as_str(),
                n.references[0].uuid.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("SB-1-R1", "14", d("10.00"), "SB-1", UUID_A),
            ("SB-2-R1", "14", d("5.00"), "SB-2", UUID_B)
        ]
    );
    assert_eq!(notes[0].exchange_rate, Some(d("0.6097")));
    assert_eq!(
        register.document("SB-1").unwrap().unwrap().state,
        State::Refunded
    );
    let note = register.document("SB-2-R1").unwrap().unwrap();
    assert_eq!(
        (note.kind, note.original.as_deref(), note.total_myr),
        (Kind::RefundNote, Some("SB-2"), d("3.05"))
    );

    // Seen again: nothing more. Then order 2 is closed too: the rest is refunded as R2.
    let (triage, written) = run(&mut register, vec![closed.clone(), lower], &[], "dec.xlsx");
    assert!(written.is_empty());
    assert_eq!(
        rules(&triage),
        ["register.already-invoiced", "register.already-invoiced"]
    );
    let (_, notes) = run(
        &mut register,
        vec![with_status(paid("2", "20.00"), "交易关闭")],
        &[],
        "jan.xlsx",
    );
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].number.as_str(), notes[0].totals.payable),
        ("SB-2-R2", d("15.00"))
    );
}

#[test]
fn a_higher_payment_after_invoicing_asks_for_a_debit_note() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    run(&mut register, vec![paid("1", "10.00")], &[], "oct.xlsx");
    let (triage, written) = run(&mut register, vec![paid("1", "12.00")], &[], "nov.xlsx");
    assert!(written.is_empty());
    assert_eq!(rules(&triage), ["register.debit-note-needed"]);
    assert!(triage.findings[0].hint.contains("debit note (type 13)"));
}

#[test]
fn holds_are_followed_up_until_settled() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    let held = with_status(paid("7", "28.00"), "退款中");
    let (triage, written) = run(
        &mut register,
        vec![paid("1", "10.00"), held.clone()],
        &[],
        "oct.xlsx",
    );
    assert_eq!(written.len(), 1);
    assert!(triage.findings.is_empty());
    let holds = register.open_holds(None).unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(
        (holds[0].order_no.as_str(), holds[0].status.as_str()),
        ("7", "退款中")
    );

    // Absent next month: a warning naming the month; still held the month after.
    let (triage, _) = run(&mut register, vec![paid("2", "20.00")], &[], "nov.xlsx");
    assert_eq!(rules(&triage), ["register.still-held"]);
    assert_eq!(triage.still_held, 1);
    assert!(
        triage.findings[0]
            .message
            .contains("held in 2026-11 (退款中, export.xlsx)"),
        "{}",
        triage.findings[0].message
    );
    // Seen again, still 退款中: no warning from the register, still one hold.
    let (triage, _) = run(&mut register, vec![held], &[], "dec.xlsx");
    assert!(triage.findings.is_empty());
    assert_eq!(register.open_holds(None).unwrap().len(), 1);
    // Settled: invoiced once, hold closed.
    let (triage, written) = run(&mut register, vec![paid("7", "28.00")], &[], "jan.xlsx");
    assert_eq!(written.len(), 1);
    assert_eq!(rules(&triage), ["register.hold-settled"]);
    assert!(register.open_holds(None).unwrap().is_empty());
    let (_, written) = run(&mut register, vec![paid("7", "28.00")], &[], "feb.xlsx");
    assert!(written.is_empty());
}

#[test]
fn uuids_are_recorded_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    run(
        &mut register,
        vec![paid("1", "10.00"), paid("2", "20.00"), paid("3", "30.00")],
        &[],
        "oct.xlsx",
    );
    validate(&mut register, "SB-3", UUID_B);
    let csv = dir.path().join("uuids.csv");
    let write = |text: &str| std::fs::write(&csv, text).unwrap();

    write(&format!(
        "Internal ID,UUID,Status\nSB-1,{},Valid\nSB-9,{UUID_B},Valid\nSB-2,TOO-SHORT,Valid\nSB-3,{UUID_A},Valid\nSB-2,{UUID_A},Invalid\n",
        UUID_A.to_lowercase()
    ));
    let plan = uuids::plan(&register, &csv).unwrap();
    let found: Vec<(&str, Option<u32>)> =
        plan.findings.iter().map(|f| (f.rule.id, f.row)).collect();
    assert_eq!(
        found,
        [
            ("register.uuid-unknown-invoice", Some(3)),
            ("register.uuid-malformed", Some(4)),
            ("register.uuid-conflict", Some(5)),
            ("register.uuid-not-valid", Some(6)),
        ]
    );
    assert!(plan.has_errors());
    assert_eq!(
        plan.entries,
        [UuidEntry {
            number: "SB-1".into(),
            uuid: UUID_A.into()
        }]
    );

    // A title row above the header; a UUID given to two numbers.
    write(&format!(
        "MyInvois documents\neInvoiceNumber,UUID\nSB-1,{UUID_A}\nSB-2,{UUID_A}\nSB-3,{UUID_B}\n"
    ));
    let plan = uuids::plan(&register, &csv).unwrap();
    assert_eq!(
        plan.findings.iter().map(|f| f.rule.id).collect::<Vec<_>>(),
        ["register.uuid-conflict"]
    );
    assert_eq!(plan.already, 1);

    write(&format!("eInvoiceNumber,UUID\nSB-1,{UUID_A}\n"));
    let plan = uuids::plan(&register, &csv).unwrap();
    assert!(!plan.has_errors());
    register.record_uuids(&plan.entries, "uuids.csv").unwrap();
    assert_eq!(
        register.document("SB-1").unwrap().unwrap().state,
        State::Validated
    );

    write("number,id\n1,2\n");
    let err = uuids::plan(&register, &csv).unwrap_err().to_string();
    assert!(err.contains("eInvoiceNumber or Internal ID"), "{err}");
}

#[test]
fn list_filters_by_month_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    run(
        &mut register,
        vec![
            paid("1", "10.00"),
            paid("2", "20.00"),
            with_status(paid("7", "28.00"), "退款中"),
        ],
        &[],
        "oct.xlsx",
    );
    validate(&mut register, "SB-1", UUID_A);
    let numbers = |state: Option<ListState>, month: Option<&str>| -> Vec<String> {
        register
            .list(month, state)
            .unwrap()
            .into_iter()
            .map(|e| e.number.unwrap_or(format!("hold {}", e.order)))
            .collect()
    };
    assert_eq!(numbers(None, None), ["SB-1", "SB-2", "hold 7"]);
    assert_eq!(numbers(Some(ListState::Validated), None), ["SB-1"]);
    assert_eq!(numbers(Some(ListState::Written), None), ["SB-2"]);
    assert_eq!(numbers(Some(ListState::Held), None), ["hold 7"]);
    assert!(numbers(Some(ListState::Refunded), None).is_empty());
    assert_eq!(numbers(None, Some("2026-11")).len(), 3);
    assert!(numbers(None, Some("2026-10")).is_empty());
    let table = list_table(&register.list(None, None).unwrap());
    assert!(
        table.contains("SB-1") && table.contains(UUID_A) && table.contains("退款中"),
        "{table}"
    );
}

#[test]
fn monthly_totals_count_notes_negative() {
    let at = |month: u32| {
        chrono::NaiveDate::from_ymd_opt(2024, month, 5)
            .unwrap()
            .and_hms_opt(1, 2, 3)
            .unwrap()
    };
    let document = |number: &str, kind: Kind, myr: &str, month: u32| Document {
        number: number.into(),
        kind,
        type_code: kind.type_code().into(),
        order_no: "1".into(),
        original: None,
        seller: "s".into(),
        currency: "CNY".into(),
        total: d("1"),
        total_cny: d("1"),
        total_myr: d(myr),
        rate: d("0.6"),
        digest: String::new(),
        issued_at: at(month),
        output: "o.xlsx".into(),
        state: State::Written,
        uuid: None,
    };
    let documents = [
        document("A", Kind::Invoice, "100.10", 10),
        document("B", Kind::Invoice, "50.00", 11),
        document("A-R1", Kind::RefundNote, "100.10", 11),
        document("C", Kind::Invoice, "0.05", 10),
    ];
    assert_eq!(
        export::monthly_totals(&documents),
        [
            ("2024-10".to_string(), 2, d("100.15")),
            ("2024-11".to_string(), 2, d("-50.10"))
        ]
    );
    let bytes = export::workbook_bytes(&documents, &[]).unwrap();
    assert_eq!(bytes, export::workbook_bytes(&documents, &[]).unwrap());
}

#[test]
fn notes_pass_the_rules_with_their_document_references_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    run(&mut register, vec![paid("1", "10.00")], &[], "oct.xlsx");
    validate(&mut register, "SB-1", UUID_A);
    let (_, notes) = run(
        &mut register,
        vec![with_status(paid("1", "10.00"), "交易关闭")],
        &[],
        "nov.xlsx",
    );
    // The test's directory has no phone for the seller, and LHDN takes NA
    // only for a consolidated invoice's buyer: check says so, as convert does.
    let batch = crate::layout::lay_out("nov.xlsx", &notes);
    let errors: Vec<&str> = crate::check::check_batch(&batch, now())
        .iter()
        .filter(|f| f.is_error())
        .map(|f| f.rule.id)
        .collect();
    assert_eq!(errors, [crate::rules::SUPPLIER_PHONE_MISSING.id]);
    let mut notes = notes;
    for note in &mut notes {
        std::sync::Arc::make_mut(&mut note.supplier).phone = "+8657985550101".into();
    }
    let batch = crate::layout::lay_out("nov.xlsx", &notes);
    let findings = crate::check::check_batch(&batch, now());
    assert!(findings.iter().all(|f| !f.is_error()), "{findings:#?}");
    let references = &batch.sheets[crate::batch::sheets::DOCUMENT_REFERENCES].rows;
    assert_eq!(references.len(), 1);
    let texts: Vec<String> = references[0]
        .cells
        .iter()
        .map(|c| c.as_text().into_owned())
        .collect();
    assert_eq!(texts, ["1", "SB-1-R1", "SB-1", UUID_A]);
}

/// Under a run's lock, once lookups are many, the order numbers are read:
/// each order still has its documents, oldest first.
#[test]
fn documents_of_orders_are_found_once_the_order_numbers_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    // Order 7 is refunded after validation.
    let orders: Vec<Order> = (0..100).map(|i| paid(&i.to_string(), "10.00")).collect();
    run(&mut register, orders, &[], "oct.xlsx");
    validate(&mut register, "SB-7", UUID_A);
    run(
        &mut register,
        vec![with_status(paid("7", "10.00"), "交易关闭")],
        &[],
        "nov.xlsx",
    );
    let asked: Vec<String> = (0..150).rev().chain([7]).map(|i| i.to_string()).collect();
    let documents = |register: &Register| -> Vec<Vec<Document>> {
        asked
            .iter()
            .map(|order_no| register.documents_of(order_no).unwrap())
            .collect()
    };
    let expected = documents(&register);
    assert_eq!(expected.iter().filter(|d| !d.is_empty()).count(), 101);
    let numbers: Vec<&str> = expected[150].iter().map(|d| d.number.as_str()).collect();
    assert_eq!(numbers, ["SB-7", "SB-7-R1"]);
    register.lock().unwrap();
    assert_eq!(documents(&register), expected);
    assert!(register.known.borrow().hashes.is_some());
}

/// The order numbers read under one run's lock do not hide the documents
/// that run records from the next.
#[test]
fn orders_recorded_after_their_numbers_were_read_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    run(&mut register, vec![paid("1", "10.00")], &[], "oct.xlsx");
    register.lock().unwrap();
    for order_no in 0..40 {
        register.documents_of(&order_no.to_string()).unwrap();
    }
    assert!(register.known.borrow().hashes.is_some());
    let (_, written) = run(&mut register, vec![paid("2", "20.00")], &[], "nov.xlsx");
    assert_eq!(written.len(), 1);
    let (triage, written) = run(
        &mut register,
        vec![paid("1", "10.00"), paid("2", "20.00")],
        &[],
        "dec.xlsx",
    );
    assert!(written.is_empty());
    assert_eq!(triage.already_invoiced, 2);
}

#[test]
fn times_are_written_and_read_as_chrono_does() {
    let chrono_text = |time: NaiveDateTime| time.format(TIME_FORMAT).to_string();
    let chrono_time = |text: &str| NaiveDateTime::parse_from_str(text, TIME_FORMAT).ok();
    let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    for time in [
        now(),
        date(999, 1, 2).and_hms_opt(3, 4, 5).unwrap(),
        date(2024, 2, 29).and_hms_opt(23, 59, 59).unwrap(),
        date(9999, 12, 31).and_hms_opt(23, 59, 59).unwrap(),
        date(12345, 6, 7).and_hms_opt(8, 9, 10).unwrap(),
        date(-44, 3, 15).and_hms_opt(12, 0, 0).unwrap(),
        date(2016, 12, 31)
            .and_hms_milli_opt(23, 59, 59, 1500)
            .unwrap(),
    ] {
        let text = format_time(time);
        assert_eq!(text, chrono_text(time));
        assert_eq!(parse_time(&text).ok(), chrono_time(&text), "{text}");
    }
    for text in [
        "2026-11-26T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-26T24:00:00Z",
        "2026-11-26T23:59:60Z",
        "2026-1-26T00:00:00Z",
        "2026-11-26T00:00:00",
        "2026-11-26 00:00:00Z",
        "2026-1x-26T00:00:00Z",
        "+2026-11-26T00:00:00Z",
        "",
    ] {
        assert_eq!(parse_time(text).ok(), chrono_time(text), "{text}");
    }
}

/// Documents are recorded many to a statement: a run is still recorded
/// whole, as written, or not at all, naming a document recorded before.
#[test]
fn a_run_of_many_documents_is_recorded_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut register = new_register(&dir);
    let invoice = |i: i64| Document {
        number: format!("D-{i}"),
        kind: Kind::Invoice,
        type_code: "11".into(),
        order_no: i.to_string(),
        original: None,
        seller: format!("seller {i}"),
        currency: "USD".into(),
        total: Decimal::new(i * 101, 2),
        total_cny: Decimal::new(i * 707, 2),
        total_myr: Decimal::new(i * 431, 2),
        rate: d("0.6097"),
        digest: format!("{i:064x}"),
        issued_at: now(),
        output: "oct.xlsx".into(),
        state: State::Written,
        uuid: None,
    };
    let record = |written: Vec<Document>| RunRecord {
        issued_at: now(),
        written,
        ..RunRecord::default()
    };
    register.record_run(&record(vec![invoice(60)])).unwrap();
    let error = register
        .record_run(&record((0..120).map(invoice).collect()))
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("document D-60 is already recorded"),
        "{error:#}"
    );
    assert_eq!(register.documents(None).unwrap(), [invoice(60)]);

    let mut written: Vec<Document> = (0..120).filter(|&i| i != 60).map(invoice).collect();
    written.push(Document {
        number: "D-60-R1".into(),
        kind: Kind::CreditNote,
        type_code: "12".into(),
        original: Some("D-60".into()),
        ..invoice(60)
    });
    register.record_run(&record(written.clone())).unwrap();
    let mut expected = written;
    expected.push(Document {
        state: State::Refunded,
        ..invoice(60)
    });
    expected.sort_by(|a, b| a.number.cmp(&b.number));
    assert_eq!(register.documents(None).unwrap(), expected);

    // The schema's checks hold for what comes after.
    let bogus = register.conn.execute(
        "UPDATE documents SET kind = 'receipt', state = 'lost' WHERE number = 'D-1'",
        [],
    );
    let error = bogus.unwrap_err().to_string();
    assert!(error.contains("CHECK constraint failed"), "{error}");
}
