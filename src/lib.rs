//! selfbill turns 1688.com buyer order exports into LHDN MyInvois self-billed
//! e-invoices and checks batch-upload workbooks against LHDN's rules.
//!
//! Data flows one way: [`read`] (export → orders) → [`map`] (orders →
//! invoices) → [`layout`] (invoices → LHDN's sheets, a [`batch::Batch`]) →
//! [`check`] (batch → findings) → [`write`](mod@write) (batch → workbook / CSV) →
//! [`report`] (findings → text / JSON). [`model`] holds the types every stage
//! shares and depends on nothing; [`rules`] is the one rule catalogue;
//! [`pipeline`] runs the stages. The library never prints.

#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod batch;
pub mod check;
pub mod codes;
pub mod config;
pub mod csv_safe;
pub mod directory;
pub mod finding;
pub mod imports;
pub mod init;
pub mod layout;
pub mod map;
pub mod model;
pub mod money;
pub mod parallel;
pub mod pipeline;
pub mod rates;
pub mod read;
pub mod register;
pub mod report;
pub mod rules;
pub mod spool;
#[cfg(test)]
mod testing;
pub mod write;
