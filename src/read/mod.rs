//! Read: files on disk → data. `export` reads 1688 buyer order exports into
//! orders; `workbook` reads LHDN batch-upload workbooks into a batch.

pub mod customs;
pub mod export;
pub mod sheet;
pub mod workbook;
pub mod xlsx;
