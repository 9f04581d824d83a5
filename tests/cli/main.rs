//! The integration tests, one test binary: the real `selfbill` binary run on
//! real files, its outputs read back.

mod common;

mod check;
mod convert;
mod files;
mod fuzz;
mod imports;
mod inputs;
mod limits;
mod memory;
mod money;
mod outputs;
mod rates;
mod register;
mod shape;
mod snapshots;
mod template;
mod workflow;
