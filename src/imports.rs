//! LHDN's rules for self-billed e-invoices on imported goods that depend on
//! customs clearance: the deadline (end of the second month after the month
//! of clearance, SG §10.4.8, FAQ 72), goods cleared before the buyer's
//! e-invoicing start (FAQ 108), the customs form reference (mandatory where
//! applicable, FAQ 72-74, 83, 84, 86), and the Special Voluntary Disclosure
//! Programme for late invoices (SG §17).

use anyhow::{Context, Result, bail};
use calamine::Reader;
use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime};

use crate::finding::Finding;
use crate::model::{Clearance, DOCUMENT_VERSION, DOCUMENT_VERSION_SVDP};
use crate::model::{Order, export_columns as col};
use crate::read::customs;
use crate::rules;

/// The SVDP runs from 7 Jul 2026 to 31 Dec 2027 (SG §17.1; RN 8 Jul 2026).
pub const SVDP_FIRST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2026, 7, 7) {
    Some(date) => date,
    None => NaiveDate::MIN,
};
pub const SVDP_LAST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2027, 12, 31) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

/// Classification `034`, "Self-billed - Importation of goods".
pub const IMPORTATION_OF_GOODS: &str = "034";

/// The last day a self-billed e-invoice for goods cleared on `cleared` may
/// be issued: the end of the second month after the month of clearance.
pub fn due_by(cleared: NaiveDate) -> NaiveDate {
    let first_of_month = cleared.with_day(1).unwrap_or(cleared);
    first_of_month
        .checked_add_months(Months::new(3))
        .and_then(|d| d.pred_opt())
        .unwrap_or(NaiveDate::MAX)
}

/// The earliest clearance date an invoice issued on `issued` is still in
/// time for: the first day of the second month before the month of issue.
pub fn in_time_from(issued: NaiveDate) -> NaiveDate {
    let first_of_month = issued.with_day(1).unwrap_or(issued);
    first_of_month
        .checked_sub_months(Months::new(2))
        .unwrap_or(NaiveDate::MIN)
}

/// The calendar date in Malaysia (UTC+8) of a UTC date-time: LHDN's months
/// and deadlines are Malaysian.
pub fn malaysian_date(utc: NaiveDateTime) -> NaiveDate {
    (utc + Duration::hours(8)).date()
}

/// Whether an invoice issued on this (Malaysian) date may be disclosed under the SVDP.
pub fn svdp_open_on(date: NaiveDate) -> bool {
    (SVDP_FIRST_DAY..=SVDP_LAST_DAY).contains(&date)
}

/// Whether a batch-upload template (xlsx bytes) offers a document version:
/// LHDN's template lists them on its hidden `DocumentTypeVersion` sheet,
/// codes in column A under a header row.
pub fn template_offers_version(bytes: &[u8], version: &str) -> Result<bool> {
    let mut workbook = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
        .context("not a readable workbook")?;
    let Ok(range) = workbook.worksheet_range("DocumentTypeVersion") else {
        return Ok(false);
    };
    Ok(range
        .rows()
        .filter_map(|row| row.first())
        .any(|cell| cell.to_string().trim() == version))
}

/// Where LHDN's newest batch-upload template comes from.
pub const NEWEST_TEMPLATE: &str = "LHDN's newest batch-upload template, which offers SVDP 1.2, is \
     downloaded from the MyInvois Portal (Batch Upload, behind your login; LHDN's release note of \
     8 Jul 2026 asks batch-upload users to use it)";

/// Refuses `--svdp` where its invoices could not be uploaded: issued outside
/// the SVDP, or, for a workbook, into a template whose DocumentTypeVersion
/// list does not offer SVDP 1.2. `template` is the template to fill, by
/// name and bytes, or `None` for the public copy selfbill embeds (which
/// offers 1.0 and 1.1 only).
pub fn check_svdp(
    issued_at: NaiveDateTime,
    workbook: bool,
    template: Option<(&str, &[u8])>,
) -> Result<()> {
    let issued = malaysian_date(issued_at);
    if !svdp_open_on(issued) {
        bail!(
            "--svdp: LHDN's Special Voluntary Disclosure Programme runs from {SVDP_FIRST_DAY} to \
             {SVDP_LAST_DAY} (SG §17.1); these invoices would be issued on {issued}"
        );
    }
    if !workbook {
        return Ok(());
    }
    match template {
        None => bail!(
            "--svdp writes late invoices as version {DOCUMENT_VERSION_SVDP}, which the public \
             template selfbill embeds does not offer (it has 1.0 and 1.1). {NEWEST_TEMPLATE}: \
             download it and pass it with --template FILE"
        ),
        Some((name, bytes)) => {
            let offers = template_offers_version(bytes, DOCUMENT_VERSION_SVDP)
                .with_context(|| format!("{name}: cannot read the template's versions"))?;
            if !offers {
                bail!(
                    "{name}: the template's DocumentTypeVersion list does not offer \
                     {DOCUMENT_VERSION_SVDP}, which --svdp writes. {NEWEST_TEMPLATE}"
                );
            }
            Ok(())
        }
    }
}

/// What the importation rules make of an order about to be invoiced.
#[derive(Debug)]
pub enum Timing {
    /// Cleared (or, clearance unknown, paid) before the buyer's e-invoicing
    /// start date: no self-billed e-invoice is needed (FAQ 108).
    NotNeeded(Finding),
    /// To be invoiced, with this eInvoiceVersion, and a finding when the
    /// invoice is late or may be.
    Due {
        version: &'static str,
        finding: Option<Finding>,
    },
}

/// What judging an order's timing needs besides the order.
#[derive(Debug, Clone, Copy)]
pub struct TimingContext {
    /// IssuanceDateTime, UTC.
    pub issued_at: NaiveDateTime,
    /// `[buyer] einvoice_from`: when e-invoicing became mandatory for the buyer.
    pub einvoice_from: Option<NaiveDate>,
    /// `--svdp`: write late invoices as SVDP 1.2.
    pub svdp: bool,
}

/// Judges an order's invoice against LHDN's deadline for imported goods.
/// The clearance date comes from the customs file; without one, the payment
/// date stands in as the earliest the goods can have been cleared.
pub fn timing(
    order: &Order,
    clearance: Option<&Clearance>,
    number: &str,
    ctx: TimingContext,
) -> Timing {
    let cleared_on = clearance.and_then(|c| c.cleared_on);
    let paid_on = order.paid_at.map(|p| p.date());
    let issued = malaysian_date(ctx.issued_at);
    let due = |finding: Option<Finding>| Timing::Due {
        version: DOCUMENT_VERSION,
        finding,
    };
    // Located at the customs file row when the date came from there, else
    // at the order's 订单付款时间 cell.
    let at_clearance = |finding: Finding| match clearance.filter(|c| c.cleared_on.is_some()) {
        Some(c) => finding
            .at(&c.source)
            .column(customs::col::CLEARED_ON)
            .invoice(number),
        None => finding
            .at(&order.source)
            .column(col::PAID_AT)
            .invoice(number),
    };

    if let Some(start) = ctx.einvoice_from {
        let before = match (cleared_on, paid_on) {
            (Some(cleared), _) if cleared < start => Some(("cleared", cleared)),
            (None, Some(paid)) if paid < start => Some(("paid", paid)),
            _ => None,
        };
        if let Some((what, date)) = before {
            return Timing::NotNeeded(
                at_clearance(Finding::new(
                    &rules::ORDER_BEFORE_EINVOICING,
                    format!(
                        "order {} was {what} on {date}, before e-invoicing became mandatory for \
                         you ({start}, [buyer] einvoice_from); no self-billed e-invoice is needed",
                        order.order_no
                    ),
                ))
                .hint("Nothing to do (LHDN FAQ 108); the order is not invoiced")
                .value(date.to_string()),
            );
        }
    }

    match (cleared_on, paid_on) {
        (Some(cleared), _) => {
            let deadline = due_by(cleared);
            if issued <= deadline {
                return due(None);
            }
            if ctx.svdp {
                return Timing::Due {
                    version: DOCUMENT_VERSION_SVDP,
                    finding: Some(
                        at_clearance(Finding::new(
                            &rules::DEADLINE_SVDP,
                            format!(
                                "order {} was cleared on {cleared}; its self-billed e-invoice was \
                                 due by {deadline} and is written as version {DOCUMENT_VERSION_SVDP}, \
                                 a voluntary disclosure",
                                order.order_no
                            ),
                        ))
                        .hint(format!(
                            "Upload it with LHDN's newest batch-upload template before the SVDP \
                             ends on {SVDP_LAST_DAY} (SG §17)"
                        ))
                        .value(cleared.to_string()),
                    ),
                };
            }
            due(Some(
                at_clearance(Finding::new(
                    &rules::DEADLINE_PASSED,
                    format!(
                        "order {} was cleared by customs on {cleared}: its self-billed e-invoice was \
                         due by {deadline} (end of the second month after clearance), and is \
                         issued on {issued}",
                        order.order_no
                    ),
                ))
                .hint(format!(
                    "Disclose it under LHDN's Special Voluntary Disclosure Programme (SG §17, until \
                     {SVDP_LAST_DAY}): convert again with --svdp and LHDN's newest template \
                     (--template FILE), which write it as version {DOCUMENT_VERSION_SVDP}"
                ))
                .value(cleared.to_string()),
            ))
        }
        (None, Some(paid)) => {
            let deadline = due_by(paid);
            if issued <= deadline {
                return due(None);
            }
            due(Some(
                at_clearance(Finding::new(
                    &rules::DEADLINE_AT_RISK,
                    format!(
                        "order {} was paid on {paid} and its clearance date is unknown: cleared \
                         before {}, it is late (due by the end of the second month after clearance)",
                        order.order_no,
                        in_time_from(issued)
                    ),
                ))
                .hint(
                    "Give the clearance date (cleared_on) in the --customs file: a late invoice \
                     is an error, which --svdp discloses under LHDN's SVDP",
                )
                .value(paid.to_string()),
            ))
        }
        (None, None) => due(None),
    }
}

/// `customs.missing` for an importation invoice (classification 034) whose
/// order has no customs form reference and no concession.
pub fn customs_missing(
    order: &Order,
    clearance: Option<&Clearance>,
    classification: &str,
    number: &str,
    customs_file: Option<&str>,
) -> Option<Finding> {
    if classification != IMPORTATION_OF_GOODS
        || clearance.is_some_and(|c| !c.refs.is_empty() || c.concession.is_some())
    {
        return None;
    }
    let message = match (clearance, customs_file) {
        (Some(_), _) => format!(
            "order {} has neither a Customs Form No.1/9 reference nor a concession in the \
             customs file",
            order.order_no
        ),
        (None, Some(file)) => format!(
            "order {} is not in the customs file {file}, so its invoice has no Customs Form \
             No.1/9 reference",
            order.order_no
        ),
        (None, None) => format!(
            "order {} has no Customs Form No.1/9 reference: no --customs file was given",
            order.order_no
        ),
    };
    let finding = Finding::new(&rules::CUSTOMS_MISSING, message);
    let finding = match clearance {
        Some(c) => finding.at(&c.source).column(customs::col::CUSTOMS_REF),
        None => finding.at(&order.source).column(col::ORDER_NO),
    };
    Some(
        finding
            .hint(
                "LHDN requires it where applicable (FAQ 72-74, 86): give the order a row \
                 order_no,customs_ref,cleared_on,concession in the --customs file, with concession \
                 e-PAM (FAQ 83) or LCL (FAQ 84) when one of those applies instead",
            )
            .invoice(number)
            .value(&order.order_no),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Concession, Location};
    use crate::testing::order;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn clearance(cleared: Option<&str>) -> Clearance {
        Clearance {
            refs: vec!["E1".into()],
            cleared_on: cleared.map(date),
            concession: None,
            source: Location::new("customs.csv", None, Some(3)),
        }
    }

    fn ctx(issued: &str) -> TimingContext {
        TimingContext {
            issued_at: at(issued),
            einvoice_from: None,
            svdp: false,
        }
    }

    #[test]
    fn the_deadline_is_the_end_of_the_second_month_after_clearance() {
        // LHDN's own example (FAQ 109): cleared in August 2024, due by 31 October 2024.
        assert_eq!(due_by(date("2024-08-01")), date("2024-10-31"));
        assert_eq!(due_by(date("2024-08-31")), date("2024-10-31"));
        assert_eq!(due_by(date("2026-12-15")), date("2027-02-28"));
        assert_eq!(due_by(date("2027-12-01")), date("2028-02-29"));
        assert_eq!(in_time_from(date("2026-11-26")), date("2026-09-01"));
        assert_eq!(in_time_from(date("2027-01-02")), date("2026-11-01"));
        // 31 Oct 2024 20:00 UTC is already 1 Nov in Malaysia.
        assert_eq!(
            malaysian_date(at("2024-10-31 15:59:59")),
            date("2024-10-31")
        );
        assert_eq!(
            malaysian_date(at("2024-10-31 16:00:00")),
            date("2024-11-01")
        );
        assert!(!svdp_open_on(date("2026-07-06")));
        assert!(svdp_open_on(date("2026-07-07")));
        assert!(svdp_open_on(date("2027-12-31")));
        assert!(!svdp_open_on(date("2028-01-01")));
    }

    #[test]
    fn an_invoice_past_its_deadline_is_an_error_at_the_clearance_date() {
        let o = order("1", &[("1", "1", "个")], "0", "0", "1");
        let c = clearance(Some("2026-08-31"));
        // Issued 31 Oct in Malaysia: in time.
        let Timing::Due { version, finding } =
            timing(&o, Some(&c), "SB-1", ctx("2026-10-31 15:00:00"))
        else {
            panic!("due")
        };
        assert_eq!((version, finding), ("1.1", None));
        // 1 Nov in Malaysia: late.
        let Timing::Due { version, finding } =
            timing(&o, Some(&c), "SB-1", ctx("2026-10-31 16:00:00"))
        else {
            panic!("due")
        };
        assert_eq!(version, "1.1");
        let finding = finding.expect("a finding");
        assert_eq!(finding.rule, &rules::DEADLINE_PASSED);
        assert!(
            finding.message.contains("due by 2026-10-31"),
            "{}",
            finding.message
        );
        assert!(finding.hint.contains("--svdp"), "{}", finding.hint);
        assert_eq!(finding.file.as_deref(), Some("customs.csv"));
        assert_eq!(finding.row, Some(3));
        assert_eq!(finding.column.as_deref(), Some("cleared_on"));
        assert_eq!(finding.invoice.as_deref(), Some("SB-1"));
        assert_eq!(finding.value.as_deref(), Some("2026-08-31"));
    }

    #[test]
    fn svdp_writes_late_invoices_only_as_svdp_1_2() {
        let o = order("1", &[("1", "1", "个")], "0", "0", "1");
        let svdp = TimingContext {
            svdp: true,
            ..ctx("2026-11-26 00:00:00")
        };
        let Timing::Due { version, finding } =
            timing(&o, Some(&clearance(Some("2026-08-01"))), "SB-1", svdp)
        else {
            panic!("due")
        };
        assert_eq!(version, "SVDP 1.2");
        assert_eq!(finding.unwrap().rule, &rules::DEADLINE_SVDP);
        let Timing::Due { version, finding } =
            timing(&o, Some(&clearance(Some("2026-09-01"))), "SB-1", svdp)
        else {
            panic!("due")
        };
        assert_eq!((version, finding), ("1.1", None));
        // Late only by the payment date: at risk, never SVDP.
        let mut paid_in_july = o.clone();
        paid_in_july.paid_at = Some(at("2026-07-01 10:00:00"));
        let Timing::Due { version, finding } = timing(&paid_in_july, None, "SB-1", svdp) else {
            panic!("due")
        };
        assert_eq!(version, "1.1");
        assert_eq!(finding.unwrap().rule, &rules::DEADLINE_AT_RISK);
    }

    #[test]
    fn without_a_clearance_date_the_payment_date_warns_at_its_cell() {
        // testing::order is paid on 2026-11-26.
        let o = order("1", &[("1", "1", "个")], "0", "0", "1");
        let Timing::Due { finding, .. } = timing(&o, None, "SB-1", ctx("2027-01-31 00:00:00"))
        else {
            panic!("due")
        };
        assert_eq!(finding, None);
        let Timing::Due { finding, .. } = timing(&o, None, "SB-1", ctx("2027-02-01 00:00:00"))
        else {
            panic!("due")
        };
        let finding = finding.expect("at risk");
        assert_eq!(finding.rule, &rules::DEADLINE_AT_RISK);
        assert_eq!(finding.column.as_deref(), Some("订单付款时间"));
        assert_eq!(finding.row, Some(2));
        assert!(
            finding.message.contains("before 2026-12-01"),
            "{}",
            finding.message
        );
        // A customs row without a date is no clearance date either.
        let Timing::Due { finding, .. } = timing(
            &o,
            Some(&clearance(None)),
            "SB-1",
            ctx("2027-02-01 00:00:00"),
        ) else {
            panic!("due")
        };
        assert_eq!(finding.unwrap().rule, &rules::DEADLINE_AT_RISK);
    }

    #[test]
    fn goods_cleared_or_paid_before_einvoicing_started_need_no_invoice() {
        let o = order("1", &[("1", "1", "个")], "0", "0", "1");
        let from = TimingContext {
            einvoice_from: Some(date("2026-12-01")),
            ..ctx("2027-06-01 00:00:00")
        };
        // Paid 2026-11-26, clearance unknown.
        let Timing::NotNeeded(finding) = timing(&o, None, "SB-1", from) else {
            panic!("not needed")
        };
        assert_eq!(finding.rule, &rules::ORDER_BEFORE_EINVOICING);
        assert_eq!(finding.value.as_deref(), Some("2026-11-26"));
        // Cleared after the start: due, whatever the payment date.
        let c = clearance(Some("2026-12-01"));
        assert!(matches!(
            timing(&o, Some(&c), "SB-1", from),
            Timing::Due { .. }
        ));
        let c = clearance(Some("2026-11-30"));
        let Timing::NotNeeded(finding) = timing(&o, Some(&c), "SB-1", from) else {
            panic!("not needed")
        };
        assert_eq!(finding.column.as_deref(), Some("cleared_on"));
    }

    #[test]
    fn customs_references_are_missing_unless_given_or_excused() {
        let o = order("1", &[("1", "1", "个")], "0", "0", "1");
        let none = customs_missing(&o, None, "034", "SB-1", None).expect("missing");
        assert_eq!(none.rule, &rules::CUSTOMS_MISSING);
        assert!(
            none.message.contains("no --customs file"),
            "{}",
            none.message
        );
        let not_in = customs_missing(&o, None, "034", "SB-1", Some("c.csv")).unwrap();
        assert!(not_in.message.contains("not in the customs file c.csv"));
        assert_eq!(not_in.column.as_deref(), Some("订单编号"));
        let mut c = clearance(None);
        assert_eq!(
            customs_missing(&o, Some(&c), "034", "SB-1", Some("c.csv")),
            None
        );
        c.refs.clear();
        let empty = customs_missing(&o, Some(&c), "034", "SB-1", Some("c.csv")).unwrap();
        assert_eq!(empty.row, Some(3));
        assert_eq!(empty.column.as_deref(), Some("customs_ref"));
        c.concession = Some(Concession::Lcl);
        assert_eq!(
            customs_missing(&o, Some(&c), "034", "SB-1", Some("c.csv")),
            None
        );
        // Not an importation of goods: no customs form applies.
        assert_eq!(customs_missing(&o, None, "035", "SB-1", None), None);
    }

    #[test]
    fn reads_the_versions_a_template_offers() {
        let lhdn = include_bytes!("../assets/lhdn-batch-upload-template.xlsx");
        assert!(template_offers_version(lhdn, "1.1").unwrap());
        assert!(!template_offers_version(lhdn, "SVDP 1.2").unwrap());
        assert!(template_offers_version(b"not a workbook", "1.1").is_err());
        let svdp = include_bytes!("../tests/data/lhdn-template-svdp.xlsx");
        assert!(template_offers_version(svdp, "SVDP 1.2").unwrap());
    }

    #[test]
    fn svdp_needs_the_programme_open_and_a_template_that_offers_it() {
        let lhdn = include_bytes!("../assets/lhdn-batch-upload-template.xlsx");
        let svdp = include_bytes!("../tests/data/lhdn-template-svdp.xlsx");
        let during = at("2026-11-26 00:00:00");
        let err = check_svdp(during, true, None).unwrap_err().to_string();
        assert!(
            err.contains("MyInvois Portal") && err.contains("--template"),
            "{err}"
        );
        let err = check_svdp(during, true, Some(("old.xlsx", lhdn)))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("old.xlsx") && err.contains("SVDP 1.2"),
            "{err}"
        );
        check_svdp(during, true, Some(("new.xlsx", svdp))).unwrap();
        // CSV output fills no template.
        check_svdp(during, false, None).unwrap();
        let after = at("2027-12-31 16:00:00");
        let err = check_svdp(after, true, Some(("new.xlsx", svdp)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2027-12-31") && err.contains("2028-01-01"),
            "{err}"
        );
    }
}
